//! Control requests to a running supervisor: status, start, stop,
//! restart, reload (in `reload`), poweroff and reboot.

use std::time::Instant;

use nix::unistd::Pid;
use serde_json::{Value, json};

use super::Supervisor;
use crate::app::{Event, State};
use crate::control::{self, Request};
use crate::log;
use crate::reaper::Status;
use crate::units;
use crate::vm::Power;

impl Supervisor {
    /// Answers one control request.
    pub fn handle(&mut self, req: Request, now: Instant) -> Value {
        let (name, event) = match req {
            Request::Status => return self.status(now),
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
            Request::Start(n) => (n, Event::Start),
            Request::Stop(n) => (n, Event::Stop),
            Request::Restart(n) => (n, Event::Restart),
        };
        if self.shutdown.is_some() {
            return control::error("tend is shutting down");
        }
        let chosen = self.select(&name);
        if chosen.is_empty() {
            let known: Vec<&str> = self.live().map(|i| self.slots[i].name()).collect();
            let known = known.join(", ");
            return control::error(&format!("no app named {name:?} (apps: {known})"));
        }
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

    /// The facts `tend status` shows, for every app.
    pub(super) fn status(&mut self, now: Instant) -> Value {
        self.adopt_orphans();
        self.snapshot = None;
        let shown: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].retired || !self.slots[i].app.is_down())
            .collect();
        let mut apps = Vec::with_capacity(shown.len());
        for i in shown {
            let main = self.slots[i].app.main_pid();
            let rss = self.tree_rss(i);
            let app = &self.slots[i].app;
            let uptime = match app.state {
                State::Running { since, .. } | State::Stopping { since, .. } => {
                    Some(now.saturating_duration_since(since).as_secs_f64())
                }
                _ => None,
            };
            let last_exit = app.last_exit.map(|(status, at)| {
                let ago = now.saturating_duration_since(at).as_secs_f64();
                match status {
                    Some(Status::Exited(code)) => json!({"code": code, "signal": null, "ago_s": ago}),
                    Some(Status::Signaled(sig)) => {
                        json!({"code": 128 + sig, "signal": units::signal_name(sig), "ago_s": ago})
                    }
                    None => json!({"code": null, "signal": null, "ago_s": ago, "error": "could not start"}),
                }
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
                "uptime_s": uptime,
                "restarts": app.restarts,
                "rss": rss,
                "last_exit": last_exit,
                "removed": self.slots[i].retired,
                "up": app.is_up(),
                "starts": self.slots[i].starts,
                "spawn_error": self.slots[i].spawn_error,
            }));
        }
        json!({"ok": true, "pid": std::process::id(), "apps": apps})
    }

    /// In VM mode, what the machine does once tend is done.
    pub fn power(&self) -> Power {
        self.power
    }
}
