//! The shutdown: how it begins (a signal, a critical app, poweroff), the
//! final phase as PID 1 (TERM, then KILL, to whatever is left once the apps
//! are down), and when tend is done and with which exit code. The order in
//! which apps stop is `order::may_stop`; the loop feeds the stops in
//! `Supervisor::reconcile`.

use std::time::{Duration, Instant};

use super::{Supervisor, order};
use crate::app::{Cause, Event};
use crate::log;
use crate::procfs;

/// How long processes left after the apps stopped get between SIGTERM and
/// SIGKILL, when tend is PID 1 and shuts down.
const FINAL_GRACE: Duration = Duration::from_secs(1);

/// The shutdown in progress.
#[derive(Debug, Clone, Copy)]
pub struct Shutdown {
    code: u8,
    /// The loop turn in which a signal asked for the shutdown; None while
    /// only a critical app did. A shutdown signal in a later turn kills.
    signal_turn: Option<u64>,
    /// As PID 1, after the apps: when leftovers get SIGKILL.
    final_kill_at: Option<Instant>,
    final_killed: bool,
}

impl Shutdown {
    /// When the final phase sends SIGKILL, while it has not yet.
    pub fn deadline(&self) -> Option<Instant> {
        self.final_kill_at.filter(|_| !self.final_killed)
    }
}

impl Supervisor {
    /// Begins a graceful shutdown that ends with `code` (unless an exit
    /// code from wrapper mode wins); a second call changes nothing.
    pub(super) fn begin_shutdown(&mut self, code: u8) {
        if self.shutdown.is_none() {
            if let Some(parent) = &self.parent {
                parent.send("STOPPING=1\n");
            }
            self.shutdown = Some(Shutdown {
                code,
                signal_turn: None,
                final_kill_at: None,
                final_killed: false,
            });
        }
    }

    /// `why` (a shutdown signal, poweroff, reboot) asks for a shutdown in
    /// this turn. The first ask is graceful, as is a second one drained in
    /// the same turn (TERM and QUIT together) or the first after a critical
    /// app began the shutdown; one in a later turn kills everything at once.
    pub(super) fn shutdown_asked(&mut self, why: &str, now: Instant) {
        let turn = self.turn;
        match self.shutdown.as_mut() {
            None => {
                log::info(&format!("{why}: stopping every app"));
                self.begin_shutdown(0);
                if let Some(s) = self.shutdown.as_mut() {
                    s.signal_turn = Some(turn);
                }
            }
            Some(s) if s.signal_turn.is_none_or(|t| t == turn) => {
                s.signal_turn = Some(turn);
            }
            Some(_) => {
                log::warn(&format!("{why} again: killing everything now"));
                for i in 0..self.slots.len() {
                    self.slots[i].stop_sent = true;
                    self.slots[i].app.asked_by(Cause::Shutdown);
                    self.apply(i, Event::Stop, now);
                    self.apply(i, Event::Kill, now);
                }
            }
        }
    }

    /// The exit code once tend is done, None while it goes on.
    pub fn finished(&self) -> Option<u8> {
        if !self.no_old_runs() {
            return None;
        }
        if let Some(s) = self.shutdown {
            let done = over(
                order::all_down(&self.slots),
                is_pid1(),
                s.final_kill_at.is_some(),
                || !procfs::own_children().is_empty(),
            );
            return done.then(|| self.last_code().unwrap_or(s.code));
        }
        let code = order::ended_code(&self.slots)?;
        Some(self.last_code().unwrap_or(code))
    }

    /// Wrapper mode with flags: the code of the child's last run (1 when it
    /// never ran).
    fn last_code(&self) -> Option<u8> {
        if !self.opts.exit_with_last_code {
            return None;
        }
        Some(self.slots.first().map_or(1, |s| s.app.last_code()))
    }

    /// As PID 1, once the apps are down: TERM to every leftover process,
    /// SIGKILL after a short grace. Not PID 1: leftovers are not ours.
    pub(super) fn final_phase(&mut self, now: Instant) {
        let Some(mut s) = self.shutdown else { return };
        if !is_pid1() || !order::all_down(&self.slots) || !self.no_old_runs() {
            return;
        }
        match s.final_kill_at {
            None => {
                if !procfs::own_children().is_empty() {
                    log::info("apps stopped; sending SIGTERM to the remaining processes");
                    // SAFETY: kill(2) with plain integers; -1 spares tend itself.
                    unsafe { libc::kill(-1, libc::SIGTERM) };
                }
                s.final_kill_at = Some(now + FINAL_GRACE);
            }
            Some(at) if !s.final_killed && now >= at => {
                if !procfs::own_children().is_empty() {
                    log::warn("processes left after the grace period; sending SIGKILL");
                    // SAFETY: as above.
                    unsafe { libc::kill(-1, libc::SIGKILL) };
                }
                s.final_killed = true;
            }
            Some(_) => {}
        }
        self.shutdown = Some(s);
    }
}

/// A shutdown is over once every app is down and, as PID 1, the final
/// phase has begun and no process is left (`leftovers` is read only then).
/// Not PID 1, what is left is not tend's to wait for.
fn over(apps_down: bool, pid1: bool, final_begun: bool, leftovers: impl FnOnce() -> bool) -> bool {
    apps_down && (!pid1 || (final_begun && !leftovers()))
}

pub(super) fn is_pid1() -> bool {
    std::process::id() == 1
}

#[cfg(test)]
mod tests {
    use super::over;

    #[test]
    fn when_a_shutdown_is_over() {
        // (apps down, PID 1, final phase begun, processes left) -> over
        let table = [
            ((false, false, false, false), false),
            ((true, false, false, false), true),
            ((true, false, false, true), true),
            ((false, true, true, false), false),
            ((true, true, false, false), false),
            ((true, true, true, true), false),
            ((true, true, true, false), true),
        ];
        for ((down, pid1, begun, left), want) in table {
            assert_eq!(
                over(down, pid1, begun, || left),
                want,
                "{down} {pid1} {begun} {left}"
            );
        }
        let mut asked = false;
        over(true, true, false, || {
            asked = true;
            true
        });
        assert!(!asked, "/proc is read only once the final phase has begun");
    }
}
