//! Control requests to a running supervisor: status, start, stop,
//! restart, reload (in `reload`), poweroff and reboot.

use std::time::{Duration, Instant};

use nix::unistd::Pid;
use serde_json::{Value, json};

use super::Supervisor;
use super::slot::CpuSample;
use crate::app::{Event, State};
use crate::control::{self, Reply, Request};
use crate::log;
use crate::logs::Logs;
use crate::procfs;
use crate::reaper::Status;
use crate::units;
use crate::vm::Power;

impl Supervisor {
    /// Answers one control request.
    fn handle(&mut self, req: Request, now: Instant) -> Value {
        let (name, event) = match req {
            Request::Status => return self.status(None, now),
            Request::StatusOf(names) => {
                return match self.select_all(&names) {
                    Ok(chosen) => self.status(Some(&chosen), now),
                    Err(e) => control::error(&e),
                };
            }
            Request::Signal {
                names,
                signal,
                tree,
            } => return self.send_signal(&names, signal, tree),
            Request::Describe(name) => return self.describe(&name, now),
            Request::Reload => {
                return match self.reload(now) {
                    Ok(summary) => {
                        log::info(&format!("reload: {summary}"));
                        json!({"ok": true, "message": summary})
                    }
                    Err(e) => {
                        log::error(&format!("reload failed, nothing changed:\n{e}"));
                        control::error(&format!("reload failed, nothing changed:\n{e}"))
                    }
                };
            }
            Request::Poweroff | Request::Reboot if !self.opts.vm => {
                return control::error(
                    "this tend is not the init of a VM: nothing to power off or reboot",
                );
            }
            Request::Poweroff | Request::Reboot => {
                if self.shutdown.is_none() {
                    let (power, why) = match req {
                        Request::Reboot => (Power::Reboot, "reboot"),
                        _ => (Power::Off, "poweroff"),
                    };
                    self.power = power;
                    self.shutdown_asked(why, now);
                }
                return json!({"ok": true});
            }
            // Answered by `answer`, which hands the connection over.
            Request::Logs { .. } => return control::error("logs: not a one-line request"),
            Request::Start(n) => (n, Event::Start),
            Request::Stop(n) => (n, Event::Stop),
            Request::Restart(n) => (n, Event::Restart),
        };
        if self.shutdown.is_some() {
            return control::error("tend is shutting down");
        }
        let chosen = match self.select_all(&[name]) {
            Ok(chosen) => chosen,
            Err(e) => return control::error(&e),
        };
        let names: Vec<String> = chosen
            .iter()
            .map(|&i| self.slots[i].name().to_string())
            .collect();
        // Before acting: a waiting client tells the run it asked for from
        // the one that was there by this count (see control/wait.rs).
        let starts: serde_json::Map<String, Value> = chosen
            .iter()
            .map(|&i| {
                (
                    self.slots[i].name().to_string(),
                    json!(self.slots[i].starts),
                )
            })
            .collect();
        for i in chosen {
            self.apply(i, event.clone(), now);
        }
        json!({"ok": true, "apps": names, "starts": starts})
    }

    /// Indices of the apps not removed by a reload.
    pub(super) fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.slots.len()).filter(|&i| !self.slots[i].retired)
    }

    /// `NAME`: every instance of the app; `NAME.i`: that one.
    pub(super) fn select(&self, name: &str) -> Vec<usize> {
        self.live()
            .filter(|&i| self.slots[i].app.spec.app == name || self.slots[i].name() == name)
            .collect()
    }

    /// Every instance of each of `names` (`NAME`, `NAME.i`, or `all`), in
    /// slot order, each once; an unknown name is an error that names it.
    pub(super) fn select_all(&self, names: &[String]) -> Result<Vec<usize>, String> {
        let mut chosen = Vec::new();
        for name in names {
            let found = match name.as_str() {
                "all" => self.live().collect(),
                _ => self.select(name),
            };
            if found.is_empty() {
                let known: Vec<&str> = self.live().map(|i| self.slots[i].name()).collect();
                return Err(format!(
                    "no app named {name:?} (apps: {})",
                    known.join(", ")
                ));
            }
            chosen.extend(found);
        }
        chosen.sort_unstable();
        chosen.dedup();
        Ok(chosen)
    }

    /// `tend signal`: `sig` to the main process of each named instance
    /// (its whole tree with `tree`), only while that process is not reaped,
    /// so a recycled pid is never hit. Nothing is counted or restarted for
    /// it; an app that dies of it ends as any run does. Unknown names:
    /// nothing is sent. One entry per instance; ok only when every one
    /// was running.
    fn send_signal(&mut self, names: &[String], sig: libc::c_int, tree: bool) -> Value {
        let chosen = match self.select_all(names) {
            Ok(chosen) => chosen,
            Err(e) => return control::error(&e),
        };
        let signame = units::signal_name(sig);
        let mut all_sent = true;
        let mut apps = Vec::with_capacity(chosen.len());
        for i in chosen {
            let name = self.slots[i].name().to_string();
            let Some(pid) = self.slots[i].app.main_pid() else {
                all_sent = false;
                let state = self.slots[i].app.state_name();
                apps.push(json!({"name": name, "pid": null, "sent": false, "state": state}));
                continue;
            };
            let whom = if tree {
                self.signal_tree(i, sig);
                "the tree of pid"
            } else {
                // The main process is a child of tend not yet reaped: its
                // pid cannot have been recycled.
                // SAFETY: kill(2) with plain integers (libc's, not nix's:
                // nix has no name for the real-time signals).
                unsafe { libc::kill(pid.as_raw(), sig) };
                "pid"
            };
            let msg = format!("{signame} sent to {whom} {pid} (tend signal)");
            self.event(i, log::Level::Info, "signal", &msg);
            apps.push(json!({"name": name, "pid": pid.as_raw(), "sent": true}));
        }
        json!({"ok": true, "signal": signame, "tree": tree, "all_sent": all_sent, "apps": apps})
    }

    /// The facts `tend status` shows, for every app or for the slots `only`.
    pub(super) fn status(&mut self, only: Option<&[usize]>, now: Instant) -> Value {
        self.adopt_orphans();
        self.snapshot = None;
        let shown: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].retired || !self.slots[i].app.is_down())
            .filter(|i| only.is_none_or(|o| o.contains(i)))
            .collect();
        let mut apps = Vec::with_capacity(shown.len());
        for i in shown {
            let main = self.slots[i].app.main_pid();
            let usage = self.tree_usage(i);
            let rss = usage.map(|(bytes, _)| bytes);
            let run = match self.slots[i].app.state {
                State::Running { since, .. } | State::Stopping { since, .. } => Some(since),
                _ => None,
            };
            let (cpu, cpu_s) = match (usage, run) {
                (Some((_, ticks)), Some(run)) => {
                    let pct = self.cpu_since_last(i, run, ticks, now);
                    let hz = self.clock_ticks as f64;
                    (
                        Some(round(pct, 10.0)),
                        Some(round(ticks as f64 / hz, 100.0)),
                    )
                }
                _ => (None, None),
            };
            let app = &self.slots[i].app;
            let uptime = run.map(|since| now.saturating_duration_since(since).as_secs_f64());
            let last_exit = app.last_exit.map(|(status, at)| {
                let mut v = json!({
                    "code": status.map(Status::code),
                    "signal": status.and_then(Status::signal_name),
                    "ago_s": now.saturating_duration_since(at).as_secs_f64(),
                });
                if status.is_none() {
                    v["error"] = json!("could not start");
                }
                v
            });
            apps.push(json!({
                "name": app.spec.name,
                "app": app.spec.app,
                "instance": app.spec.instance,
                "state": app.state_name(),
                "health": app.health().filter(|_| main.is_some()).map(|h| h.name()),
                "ready": (app.spec.notify && main.is_some()).then_some(app.ready()),
                "status": app.notify_status().filter(|_| main.is_some()),
                "pid": main.map(Pid::as_raw),
                "replacing": self.replacing(i).map(Pid::as_raw),
                "uptime_s": uptime,
                "restarts": app.restarts,
                "cpu": cpu,
                "cpu_s": cpu_s,
                "rss": rss,
                "mem": rss,
                "last_exit": last_exit,
                "removed": self.slots[i].retired,
                "up": app.is_up(),
                "starts": self.slots[i].starts,
                "spawn_error": self.slots[i].spawn_error,
            }));
        }
        json!({"ok": true, "pid": std::process::id(), "accounting": self.accounting(), "apps": apps})
    }

    /// Percent of one core slot `i`'s tree used since the previous status
    /// sample of this run (or since the run began), `ticks` being its CPU
    /// time now; keeps this sample for the next time.
    fn cpu_since_last(&mut self, i: usize, run: Instant, ticks: u64, now: Instant) -> f64 {
        // Two samples, the newer taken at least CPU_BASELINE after the
        // older: a reading is over at least that long even when clients
        // poll status often (a waiting `tend restart`, a monitor).
        let [older, newer] = self.slots[i].cpu_samples;
        let of_run = |s: Option<CpuSample>| s.filter(|s| s.run == run);
        let newer_old_enough =
            of_run(newer).is_some_and(|s| now.saturating_duration_since(s.at) >= CPU_BASELINE);
        let base = match (of_run(older), of_run(newer)) {
            (_, Some(n)) if newer_old_enough => Some(n),
            (Some(o), _) => Some(o),
            (None, _) => None,
        };
        let (used, from) = base.map_or((ticks, run), |b| (ticks.saturating_sub(b.ticks), b.at));
        if of_run(newer).is_none() || newer_old_enough {
            let sample = CpuSample {
                run,
                ticks,
                at: now,
            };
            self.slots[i].cpu_samples = [of_run(newer), Some(sample)];
        }
        procfs::cpu_percent(used, self.clock_ticks, now.saturating_duration_since(from))
    }

    /// In VM mode, what the machine does once tend is done.
    pub fn power(&self) -> Power {
        self.power
    }
}

/// The shortest window a CPU reading is taken over, when asked more often.
const CPU_BASELINE: Duration = Duration::from_secs(1);

/// `x` rounded to 1/`per`: `round(12.345, 10.0)` is 12.3.
fn round(x: f64, per: f64) -> f64 {
    (x * per).round() / per
}

impl Supervisor {
    /// Answers a control request; `tend logs` hands its connection to the
    /// log followers, everything else is one line.
    pub fn answer(&mut self, req: Request, now: Instant) -> Reply {
        let Request::Logs {
            names,
            lines,
            follow,
        } = req
        else {
            return Reply::Line(self.handle(req, now));
        };
        match self.logs_of(&names) {
            Ok(slots) => {
                let wanted: Vec<(usize, &str, &str)> = slots
                    .iter()
                    .map(|&i| (i, self.slots[i].name(), self.slots[i].app.spec.app.as_str()))
                    .collect();
                let n = usize::try_from(lines).unwrap_or(usize::MAX);
                let mut answer = b"{\"ok\":true}\n".to_vec();
                answer.extend(self.logs.recent(&wanted, n));
                Reply::HandOff(self.logs.expect_follower(slots, follow, answer))
            }
            Err(e) => Reply::Line(control::error(&e)),
        }
    }

    /// The instances `tend logs NAME...` reads: those named, each of
    /// which must pass its lines through tend, or with no names every one
    /// that does.
    fn logs_of(&self, names: &[String]) -> Result<Vec<usize>, String> {
        self.logs.may_follow()?;
        let through = |i: &usize| Logs::through_tend(&self.slots[*i].app.spec);
        if names.is_empty() {
            let all: Vec<usize> = self.live().filter(through).collect();
            if all.is_empty() {
                return Err("no app's output passes through tend: every app has log = \"inherit\" (its lines go straight to tend's stdout and stderr); set log = \"prefix\", \"json\" or \"file\" to keep them".into());
            }
            return Ok(all);
        }
        let chosen = self.select_all(names)?;
        if let Some(&i) = chosen.iter().find(|i| !through(i)) {
            let app = &self.slots[i].app.spec.app;
            return Err(format!(
                "{app} has log = \"inherit\": tend does not see its output (it goes straight to tend's stdout and stderr); set log = \"prefix\" or [\"prefix\", \"file\"] in [app.{app}] to keep its lines"
            ));
        }
        Ok(chosen)
    }
}
