//! Driving health checks: starting due probes, stepping tcp and http
//! probes when their socket is ready, taking exec probes' exits from the
//! reaper, timing out late ones. What a result means for the app is its
//! state machine's call (`Event::Probe`).

use std::time::Instant;

use nix::unistd::Pid;

use super::Supervisor;
use crate::app::{Event, State};
use crate::health::{HealthSpec, Probe};
use crate::ids;
use crate::probe::{InFlight, NetProbe, Outcome};
use crate::procfs::Proc;
use crate::reaper::Status;
use crate::signals::{kill_group, signal_process};
use crate::spawn::{self, Launch, Session};
use crate::units;

impl Supervisor {
    /// Starts due probes and times out late ones; an app that is not
    /// running has no probe.
    pub(super) fn run_health(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            // The spec is cloned only for a probe that starts: this runs
            // at every tick, for every app with a check.
            let Some(timeout) = self.slots[i].app.spec.health.as_ref().map(|h| h.timeout) else {
                continue;
            };
            if !matches!(self.slots[i].app.state, State::Running { .. }) {
                self.cancel_probe(i);
                self.slots[i].probe_due = None;
                continue;
            }
            let late = match &self.slots[i].probe {
                Some(InFlight::Net(p)) if now >= p.deadline => Some("timed out".to_string()),
                Some(InFlight::Exec { deadline, .. }) if now >= *deadline => Some(format!(
                    "check command timed out after {}",
                    units::format_duration(timeout)
                )),
                _ => None,
            };
            if let Some(reason) = late {
                self.cancel_probe(i);
                self.probe_result(i, false, &reason, now);
            }
            let slot = &mut self.slots[i];
            if slot.probe.is_none()
                && slot.probe_due.is_some_and(|d| d <= now)
                && let Some(spec) = slot.app.spec.health.clone()
            {
                slot.probe_due = None;
                self.start_probe(i, &spec, now);
            }
        }
    }

    /// Slot `i`'s tcp or http probe has its socket ready: moves it on.
    pub fn step_probe(&mut self, i: usize, now: Instant) {
        let Some(InFlight::Net(p)) = self.slots.get_mut(i).and_then(|s| s.probe.as_mut()) else {
            return;
        };
        match p.step() {
            Outcome::Pending => {}
            Outcome::Passed => self.probe_result(i, true, "", now),
            Outcome::Failed(reason) => {
                self.cancel_probe(i);
                self.probe_result(i, false, &reason, now);
            }
        }
    }

    /// An exec probe of slot `i` was reaped: what it left in its session
    /// goes with it, and its status is the result unless it was given up.
    pub(super) fn probe_exited(&mut self, i: usize, pid: Pid, status: Status, now: Instant) {
        let leftovers: Vec<Proc> = self
            .snapshot()
            .procs()
            .iter()
            .filter(|p| p.session == pid.as_raw())
            .copied()
            .collect();
        for p in leftovers {
            signal_process(p, libc::SIGKILL);
        }
        if matches!(self.slots[i].probe, Some(InFlight::Exec { pid: p, .. }) if p == pid) {
            let reason = format!("check command {status}");
            self.probe_result(i, status.success(), &reason, now);
        }
    }

    fn start_probe(&mut self, i: usize, spec: &HealthSpec, now: Instant) {
        let deadline = now + spec.timeout;
        let started = match &spec.probe {
            Probe::Tcp(addr) => NetProbe::start(*addr, None, deadline).map(InFlight::Net),
            Probe::Http { addr, host, path } => {
                NetProbe::start(*addr, Some((host, path)), deadline).map(InFlight::Net)
            }
            Probe::Exec(argv) => {
                let app = &self.slots[i].app.spec;
                let creds = ids::resolve(app.user.as_ref(), app.group.as_ref());
                let env = self.slots[i].env.clone();
                let launch = creds.map(|creds| Launch {
                    argv,
                    env,
                    cwd: app.cwd.as_deref(),
                    creds,
                    session: Session::New,
                    // A check's output is noise in the apps' logs.
                    output: devnull_pair(),
                    // A check is short and has its own deadline.
                    die_with_tend: false,
                    listen: Vec::new(),
                    listen_name: "",
                    cgroup: None,
                });
                match launch.and_then(|l| spawn::spawn(&l).map_err(|e| e.to_string())) {
                    Ok(pid) => {
                        self.probe_pids.insert(pid.as_raw(), i);
                        Ok(InFlight::Exec { pid, deadline })
                    }
                    Err(e) => Err(e),
                }
            }
        };
        match started {
            // A tcp probe may have connected already: poll finds its socket
            // writable at once and steps it.
            Ok(p) => self.slots[i].probe = Some(p),
            Err(reason) => self.probe_result(i, false, &reason, now),
        }
    }

    /// Drops the probe in flight; an exec probe's group is killed (its pid
    /// is not reaped yet, so the group id is still its own).
    pub(super) fn cancel_probe(&mut self, i: usize) {
        if let Some(InFlight::Exec { pid, .. }) = self.slots[i].probe.take() {
            kill_group(pid, libc::SIGKILL);
        }
    }

    /// Records one probe result: the next probe is due one interval on;
    /// the app's state machine judges the result.
    fn probe_result(&mut self, i: usize, passed: bool, reason: &str, now: Instant) {
        let slot = &mut self.slots[i];
        slot.probe = None;
        let Some(interval) = slot.app.spec.health.as_ref().map(|h| h.interval) else {
            return;
        };
        slot.probe_due = Some(now + interval);
        let reason = reason.to_string();
        self.apply(i, Event::Probe { passed, reason }, now);
    }
}

/// /dev/null for a child's stdout and stderr.
fn devnull_pair() -> Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    let open = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok()
            .map(std::os::fd::OwnedFd::from)
    };
    Some((open()?, open()?))
}
