//! Replacement of apps with `listen` (DESIGN.md "Sockets and restarts
//! without downtime"): a restart starts the new process first and stops the
//! old one only once the new one is up, one instance of an app at a time.
//!
//! The state machine decides that a restart is a replacement: it detaches
//! the running process (`Action::Detach`) and starts a new run at once.
//! From then on the old process is this file's: it is kept as the slot's
//! `outgoing` run, left alone while the new run comes up (ready or healthy
//! where the app says so, else after `SETTLE`), stopped
//! gracefully (stop_signal, SIGKILL after stop_timeout) once the new run is
//! up or has ended for good, and its end goes back to the state machine as
//! `Event::OldRunEnded`. While an instance of an app is being replaced, a
//! restart of another instance of it waits its turn (`deferred`).

use std::time::Instant;

use nix::unistd::Pid;

use super::Supervisor;
use super::slot::Slot;
use crate::app::{Cause, Event, State, Then};
use crate::cgroup::Group;
use crate::control::SETTLE;
use crate::log::Level;
use crate::reaper::Status;
use crate::signals::{kill_group, then_cont};

/// A detached run, on its way out.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) pid: Pid,
    since: Instant,
    cause: Cause,
    /// Once it has been asked to stop: when SIGKILL follows.
    kill_at: Option<Instant>,
    killed: bool,
    /// cgroup mode: the run's cgroup, which it keeps until it is gone.
    pub(super) group: Option<Group>,
}

impl Outgoing {
    /// `sig`, and SIGCONT after it (as for any stop: a stopped process
    /// acts on it only once continued), to the whole old run: its cgroup,
    /// else its process group.
    fn signal(&self, sig: libc::c_int) {
        match &self.group {
            Some(g) => g.stop(sig),
            None => {
                kill_group(self.pid, sig);
                if then_cont(sig) {
                    kill_group(self.pid, libc::SIGCONT);
                }
            }
        }
    }
}

impl Supervisor {
    /// The state machine detached slot `i`'s run of `pid`.
    pub(super) fn detach(&mut self, i: usize, pid: Pid, since: Instant, cause: Cause) {
        self.mains.remove(&pid.as_raw());
        self.retiring.insert(pid.as_raw(), i);
        // A run replaced before it came up joins the one it was to replace:
        // both stop once a new run is up. Its cgroup goes with it; the new
        // run gets one of its own.
        let group = self.slots[i].cgroup.take();
        self.slots[i].outgoing.push(Outgoing {
            pid,
            since,
            cause,
            kill_at: None,
            killed: false,
            group,
        });
    }

    /// The old pid of slot `i` while it is replaced, for `tend status`.
    pub(super) fn replacing(&self, i: usize) -> Option<Pid> {
        self.slots[i].outgoing.first().map(|o| o.pid)
    }

    /// Whether `event` for slot `i` must wait: it would replace the slot
    /// while another instance of its app is still being replaced. It is
    /// kept and applied once that replacement is over. (A restart of the
    /// instance being replaced goes on: its new run may never come up, and
    /// the old runs wait for the newest.)
    pub(super) fn defer(&mut self, i: usize, event: &Event, now: Instant) -> bool {
        if matches!(event, Event::Stop) {
            // A stop cancels a restart still waiting for its turn.
            self.slots[i].deferred = None;
        }
        let slot = &self.slots[i];
        if !slot.app.would_replace(event, now) {
            return false;
        }
        let app = &slot.app.spec.app;
        let busy = self
            .slots
            .iter()
            .enumerate()
            .any(|(j, s)| j != i && !s.outgoing.is_empty() && &s.app.spec.app == app);
        if busy && self.slots[i].deferred.is_none() {
            self.slots[i].deferred = Some(event.clone());
        }
        busy
    }

    /// After slot `i`'s state machine moved: once its new run is up, or has
    /// ended for good, or a shutdown has begun, the old runs are asked to stop.
    pub(super) fn step_replacement(&mut self, i: usize, now: Instant) {
        let slot = &self.slots[i];
        if slot.outgoing.iter().all(|o| o.kill_at.is_some()) {
            return;
        }
        // Up, down for good, or stopped by hand: the old run has served.
        let stopping = matches!(
            slot.app.state,
            State::Stopping {
                then: Then::Stay,
                ..
            }
        );
        let up = slot.app.is_up() && settled_at(slot).is_none_or(|t| t <= now);
        let done = up || slot.app.is_down() || stopping || self.shutdown.is_some();
        if !done {
            return;
        }
        let sig = slot.app.spec.stop_signal;
        let kill_at = now + slot.app.spec.stop_timeout;
        for k in 0..slot.outgoing.len() {
            let out = &mut self.slots[i].outgoing[k];
            if out.kill_at.is_some() {
                continue;
            }
            out.kill_at = Some(kill_at);
            out.signal(sig);
            let name = crate::units::signal_name(sig);
            let msg = format!("stopping the replaced pid {} with {name}", out.pid);
            self.event(i, Level::Info, "stopping_old", &msg);
        }
    }

    /// The earliest SIGKILL due to an old run, or moment a new run without
    /// a readiness signal counts as up.
    pub(super) fn replacement_deadline(&self) -> Option<Instant> {
        let kills = self
            .slots
            .iter()
            .flat_map(|s| &s.outgoing)
            .filter(|o| !o.killed)
            .filter_map(|o| o.kill_at);
        let settles = self
            .slots
            .iter()
            .filter(|s| s.outgoing.iter().any(|o| o.kill_at.is_none()))
            .filter_map(settled_at);
        kills.chain(settles).min()
    }

    /// SIGKILL to old runs whose stop_timeout is over.
    pub(super) fn kill_overdue_old_runs(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            for k in 0..self.slots[i].outgoing.len() {
                let out = &mut self.slots[i].outgoing[k];
                if out.killed || out.kill_at.is_none_or(|t| t > now) {
                    continue;
                }
                out.signal(libc::SIGKILL);
                out.killed = true;
                let msg = format!("the replaced pid {} is still there: SIGKILL", out.pid);
                self.event(i, Level::Warn, "killing_old", &msg);
            }
        }
    }

    /// An old run's main process was reaped: its end is recorded, and the
    /// next instance of the app waiting for its replacement goes.
    pub(super) fn old_run_exited(&mut self, i: usize, pid: Pid, status: Status, now: Instant) {
        let outgoing = &mut self.slots[i].outgoing;
        let Some(k) = outgoing.iter().position(|o| o.pid == pid) else {
            return;
        };
        let out = outgoing.remove(k);
        if let Some(g) = out.group {
            // What the run left (workers, daemons) is stopped with it.
            self.release_group(i, g, out.kill_at, now);
        }
        let event = Event::OldRunEnded {
            pid,
            status,
            since: out.since,
            cause: out.cause,
        };
        self.apply(i, event, now);
        if !self.slots[i].outgoing.is_empty() {
            return;
        }
        let app = self.slots[i].app.spec.app.clone();
        let next = (0..self.slots.len())
            .find(|&j| self.slots[j].deferred.is_some() && self.slots[j].app.spec.app == app);
        if let Some(j) = next
            && let Some(event) = self.slots[j].deferred.take()
            && self.shutdown.is_none()
        {
            self.apply(j, event, now);
        }
    }

    /// No old run is left (a shutdown waits for them).
    pub(super) fn no_old_runs(&self) -> bool {
        self.slots.iter().all(|s| s.outgoing.is_empty())
    }
}

/// When slot's new run counts as up, for an app without a readiness
/// signal (after `SETTLE`, as the waiting `tend restart` judges it:
/// "running" is true from the fork, long before the app listens); None
/// when it has one (then `is_up` says it all) or no run.
fn settled_at(slot: &Slot) -> Option<Instant> {
    let spec = &slot.app.spec;
    match slot.app.state {
        State::Running { since, .. } if !spec.notify && spec.health.is_none() => {
            Some(since + SETTLE)
        }
        _ => None,
    }
}
