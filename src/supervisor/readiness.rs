//! Readiness both ways: sd_notify messages from apps (READY=1, STATUS=,
//! WATCHDOG=1) and tend's own READY=1, STATUS= and STOPPING=1 to the
//! service manager above it.

use std::time::Instant;

use super::{Supervisor, order};
use crate::app::{Event, State};
use crate::log;
use crate::notify::NotifySocket;
use crate::procfs;
use crate::units;

impl Supervisor {
    /// Makes the notification socket once some app needs it.
    pub(super) fn open_notify(&mut self) {
        if self.notify.is_some() || !self.slots.iter().any(|s| s.app.spec.notify) {
            return;
        }
        match NotifySocket::bind() {
            Ok(sock) => self.notify = Some(sock),
            Err(e) => log::warn(&format!(
                "cannot create the sd_notify socket ({e}): apps with notify = true will never be ready"
            )),
        }
    }

    /// Reads sd_notify messages; each counts only for the app whose tree
    /// the sender belongs to, and only when that app has notify = true.
    pub fn read_notify(&mut self, now: Instant) {
        let Some(sock) = &self.notify else { return };
        for msg in sock.drain() {
            let Some(i) = self
                .app_of(msg.pid)
                .filter(|&i| self.slots[i].app.spec.notify)
            else {
                continue;
            };
            for (key, value) in msg.fields {
                match (key.as_str(), value.as_str()) {
                    ("READY", "1") => self.apply(i, Event::Ready, now),
                    ("STATUS", _) => self.apply(i, Event::Status { text: value }, now),
                    ("WATCHDOG", "1") => {
                        let slot = &mut self.slots[i];
                        slot.watchdog_due = slot.app.spec.watchdog.map(|w| now + w);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The running app whose tree `pid` is in: its main process, an
    /// adopted orphan, or a descendant of one (walking up the parents).
    pub(super) fn app_of(&self, pid: i32) -> Option<usize> {
        let mut p = pid;
        for _ in 0..64 {
            if let Some(&i) = self.mains.get(&p).or_else(|| self.orphans.get(&p)) {
                return Some(i);
            }
            p = procfs::read_stat(p)?.ppid;
            if p <= 1 {
                return None;
            }
        }
        None
    }

    /// Restarts apps whose watchdog ran out; apps not running have none.
    pub(super) fn run_watchdogs(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            if !matches!(slot.app.state, State::Running { .. }) {
                slot.watchdog_due = None;
                continue;
            }
            if let (Some(due), Some(w)) = (slot.watchdog_due, slot.app.spec.watchdog)
                && due <= now
            {
                slot.watchdog_due = None;
                let reason = format!(
                    "watchdog: no WATCHDOG=1 within {}",
                    units::format_duration(w)
                );
                self.apply(i, Event::Unhealthy { reason }, now);
            }
        }
    }

    /// Keeps a service manager above tend informed: READY=1 once every app
    /// that waits for nothing has been started, then a one-line STATUS=
    /// whenever the counts change.
    pub(super) fn tell_parent(&mut self) {
        let Some(parent) = &self.parent else { return };
        let count =
            |f: &dyn Fn(&crate::app::App) -> bool| self.slots.iter().filter(|s| f(&s.app)).count();
        let running = count(&|a| matches!(a.state, State::Running { .. }));
        let backoff = count(&|a| matches!(a.state, State::Backoff { .. }));
        let failed = count(&|a| a.state == State::Failed);
        let status = format!(
            "{} apps: {running} running, {backoff} restarting, {failed} failed",
            self.live().count()
        );
        let mut msg = String::new();
        if !self.parent_ready && self.shutdown.is_none() {
            let started = (0..self.slots.len()).all(|i| {
                self.slots[i].app.state != State::Waiting || !order::deps_up(&self.slots, i)
            });
            if started {
                self.parent_ready = true;
                msg.push_str("READY=1\n");
            }
        }
        if status != self.parent_status {
            msg.push_str(&format!("STATUS={status}\n"));
            self.parent_status = status;
        }
        if !msg.is_empty() {
            parent.send(&msg);
        }
    }
}
