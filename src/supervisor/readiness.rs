//! Readiness both ways: sd_notify messages from apps (READY=1, STATUS=,
//! WATCHDOG=1) and tend's own READY=1, STATUS= and STOPPING=1 to the
//! service manager above it.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use super::Supervisor;
use crate::app::{App, Event, State};
use crate::log::{self, Level};
use crate::notify::NotifySocket;
use crate::procfs;
use crate::units;

impl Supervisor {
    /// Makes the notification socket once some app needs it.
    pub(super) fn open_notify(&mut self) {
        if self.notify.is_some() || !self.apps.iter().any(|a| a.spec.notify) {
            return;
        }
        match NotifySocket::bind() {
            Ok(sock) => self.notify = Some(sock),
            Err(e) => log::warn(&format!(
                "cannot create the sd_notify socket ({e}): apps with notify = true will never be ready"
            )),
        }
    }

    /// The notification socket's fd, for poll(2).
    pub fn notify_fd(&self) -> Option<BorrowedFd<'_>> {
        self.notify.as_ref().map(NotifySocket::fd)
    }

    /// Reads sd_notify messages; each counts only for the app whose tree
    /// the sender belongs to, and only when that app has notify = true.
    pub fn read_notify(&mut self, now: Instant) {
        let Some(sock) = &self.notify else { return };
        for msg in sock.drain() {
            let Some(i) = self.app_of(msg.pid).filter(|&i| self.apps[i].spec.notify) else {
                continue;
            };
            let name = self.apps[i].spec.name.clone();
            for (key, value) in msg.fields {
                match (key.as_str(), value.as_str()) {
                    ("READY", "1") if !self.apps[i].ready => {
                        self.apps[i].ready = true;
                        log::event(Level::Info, &name, "ready", "ready (READY=1)");
                    }
                    ("STATUS", text) => self.apps[i].notify_status = Some(text.to_string()),
                    ("WATCHDOG", "1") => {
                        self.watchdog_due[i] = self.apps[i].spec.watchdog.map(|w| now + w);
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
        for i in 0..self.apps.len() {
            if !matches!(self.apps[i].state, State::Running { .. }) {
                self.watchdog_due[i] = None;
                continue;
            }
            if let (Some(due), Some(w)) = (self.watchdog_due[i], self.apps[i].spec.watchdog)
                && due <= now
            {
                self.watchdog_due[i] = None;
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
        let count = |f: &dyn Fn(&App) -> bool| self.apps.iter().filter(|a| f(a)).count();
        let running = count(&|a| matches!(a.state, State::Running { .. }));
        let backoff = count(&|a| matches!(a.state, State::Backoff { .. }));
        let failed = count(&|a| a.state == State::Failed);
        let status = format!(
            "{} apps: {running} running, {backoff} restarting, {failed} failed",
            self.live().count()
        );
        let mut msg = String::new();
        if !self.parent_ready && self.shutdown.is_none() {
            let started = (0..self.apps.len())
                .all(|i| self.apps[i].state != State::Waiting || !self.deps_up(i));
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
