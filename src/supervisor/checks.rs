//! Driving health checks from the loop: starting due probes, moving those
//! in flight, timing out late ones, and acting on a change of health.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use super::{Supervisor, app_env};
use crate::app::{Event, State};
use crate::health::{Health, HealthSpec, Probe};
use crate::ids;
use crate::log::{self, Level};
use crate::probe::{InFlight, NetProbe, Outcome};
use crate::signals::kill_group;
use crate::spawn::{self, Launch, Session};
use crate::units;

impl Supervisor {
    /// The sockets of tcp and http probes in flight, for poll(2): each
    /// with true when it waits to write.
    pub fn probe_fds(&self) -> Vec<(BorrowedFd<'_>, bool)> {
        self.probes
            .iter()
            .filter_map(|p| match p {
                Some(InFlight::Net(n)) => Some(n.poll_fd()),
                _ => None,
            })
            .collect()
    }

    /// Starts due probes, moves those in flight, times out the late ones;
    /// an app that is not running has no probe.
    pub(super) fn run_health(&mut self, now: Instant) {
        for i in 0..self.apps.len() {
            let Some(spec) = self.apps[i].spec.health.clone() else {
                continue;
            };
            if !matches!(self.apps[i].state, State::Running { .. }) {
                self.cancel_probe(i);
                self.probe_due[i] = None;
                continue;
            }
            let outcome = match &mut self.probes[i] {
                Some(InFlight::Net(p)) => match p.step() {
                    Outcome::Pending if now >= p.deadline => Outcome::Failed("timed out".into()),
                    other => other,
                },
                Some(InFlight::Exec { deadline, .. }) if now >= *deadline => {
                    self.cancel_probe(i);
                    Outcome::Failed(format!(
                        "check command timed out after {}",
                        units::format_duration(spec.timeout)
                    ))
                }
                _ => Outcome::Pending,
            };
            match outcome {
                Outcome::Passed => self.probe_result(i, true, "", now),
                Outcome::Failed(reason) => {
                    self.cancel_probe(i);
                    self.probe_result(i, false, &reason, now);
                }
                Outcome::Pending => {}
            }
            if self.probes[i].is_none() && self.probe_due[i].is_some_and(|d| d <= now) {
                self.probe_due[i] = None;
                self.start_probe(i, &spec, now);
            }
        }
    }

    pub(super) fn start_probe(&mut self, i: usize, spec: &HealthSpec, now: Instant) {
        let deadline = now + spec.timeout;
        let started = match &spec.probe {
            Probe::Tcp(addr) => NetProbe::start(*addr, None, deadline).map(InFlight::Net),
            Probe::Http { addr, host, path } => {
                NetProbe::start(*addr, Some((host, path)), deadline).map(InFlight::Net)
            }
            Probe::Exec(argv) => {
                let app = &self.apps[i].spec;
                let creds = ids::resolve(app.user.as_ref(), app.group.as_ref());
                let launch = creds.map(|creds| Launch {
                    argv,
                    env: app_env(app, creds.as_ref()),
                    cwd: app.cwd.as_deref(),
                    creds,
                    session: Session::New,
                    // A check's output is noise in the apps' logs.
                    output: devnull_pair(),
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
            Ok(p) => self.probes[i] = Some(p),
            Err(reason) => self.probe_result(i, false, &reason, now),
        }
    }

    /// Drops the probe in flight; an exec probe's group is killed (its pid
    /// is not reaped yet, so the group id is still its own).
    pub(super) fn cancel_probe(&mut self, i: usize) {
        if let Some(InFlight::Exec { pid, .. }) = self.probes[i].take() {
            kill_group(pid, libc::SIGKILL);
        }
    }

    /// Records one probe result and acts on a change of health.
    pub(super) fn probe_result(&mut self, i: usize, passed: bool, reason: &str, now: Instant) {
        self.probes[i] = None;
        let Some(spec) = self.apps[i].spec.health.clone() else {
            return;
        };
        self.probe_due[i] = Some(now + spec.interval);
        let name = self.apps[i].spec.name.clone();
        let Some(tracker) = self.apps[i].health.as_mut() else {
            return;
        };
        let change = tracker.record(passed, now, &spec);
        if !passed && change.is_none() {
            log::event(
                Level::Warn,
                &name,
                "check_failed",
                &format!("health check failed: {reason}"),
            );
        }
        match change {
            Some(Health::Healthy) => log::event(Level::Info, &name, "healthy", "healthy"),
            Some(Health::Unhealthy) => {
                let reason = format!("{} failed checks in a row, last: {reason}", spec.retries);
                self.apply(i, Event::Unhealthy { reason }, now);
            }
            _ => {}
        }
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
