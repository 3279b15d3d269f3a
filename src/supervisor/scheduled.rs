//! `cron_restart` (DESIGN.md "Scheduled and watched restarts"): each
//! instance with an expression has one deadline, the next matching minute
//! (`cron::Schedule::next_after` in the local zone, `tz`), kept both as an
//! `Instant` for the loop and as the Unix time it stands for. The loop
//! sleeps until it: an idle tend wakes once per restart, not every minute.
//!
//! The wall clock may move under a monotonic deadline (settimeofday, NTP
//! steps, a VM resumed): at the deadline the wall clock is read again, and
//! when the minute has not come yet the deadline is armed again for it.
//! A clock that jumped past several minutes fires once, late. A reload
//! arms every deadline again, with the zone read again.
//!
//! When due: a graceful restart (a replacement for an app with `listen`),
//! counted as a restart by hand is, that is nowhere, with cause `cron`;
//! only of a running instance: cron does not start an app that is
//! stopped, failed, or coming back by itself.

use std::time::{Duration, Instant, SystemTime};

use super::Supervisor;
use crate::app::{Cause, Event, State};
use crate::log::{self, Level};
use crate::tz::{self, Zone};

impl Supervisor {
    /// Restarts the instances whose minute has come and arms the
    /// deadlines not yet armed.
    pub(super) fn run_crons(&mut self, now: Instant) {
        for i in 0..self.slots.len() {
            if self.slots[i].cron_due.is_some_and(|(at, _)| at > now) {
                continue;
            }
            let slot = &self.slots[i];
            let spec = slot.pending.as_ref().unwrap_or(&slot.app.spec);
            // Cloned only when due (it is borrowed from the slot).
            let Some(schedule) = spec.cron.as_ref().filter(|_| !slot.retired).cloned() else {
                self.slots[i].cron_due = None;
                continue;
            };
            let wall = wall_clock();
            let zone = self.zone();
            let secs = i64::try_from(wall.as_secs()).unwrap_or(i64::MAX);
            let Some(next) = schedule.next_after(zone, secs) else {
                self.slots[i].cron_due = None;
                continue;
            };
            let when = tz::format_local(zone, next);
            match self.slots[i].cron_due {
                // Due, and the wall clock says so too.
                Some((_, minute)) if secs >= minute => {
                    let running = matches!(self.slots[i].app.state, State::Running { .. });
                    if running && self.shutdown.is_none() {
                        let msg = format!(
                            "cron_restart {:?}: restarting (next: {when})",
                            schedule.text
                        );
                        self.event(i, Level::Info, "cron", &msg);
                        self.slots[i].app.asked_by(Cause::Cron);
                        self.apply(i, Event::Restart, now);
                    }
                }
                // The wall clock went back: the minute is still to come.
                Some(_) => {}
                None => {
                    let msg = format!("cron_restart {:?}: next restart at {when}", schedule.text);
                    self.event(i, Level::Info, "cron", &msg);
                }
            }
            let wait = Duration::from_secs(next.unsigned_abs()).saturating_sub(wall);
            self.slots[i].cron_due = Some((now + wait, next));
        }
    }

    /// `tend describe`: when slot `i`'s next cron restart comes, in local time.
    pub(super) fn next_cron(&self, i: usize) -> Option<String> {
        let (_, minute) = self.slots[i].cron_due?;
        Some(tz::format_local(self.zone.as_ref()?, minute))
    }

    /// The local zone, read the first time it is needed.
    fn zone(&mut self) -> &Zone {
        self.zone.get_or_insert_with(|| {
            let (zone, warning) = Zone::local();
            if let Some(w) = warning {
                log::warn(&format!("cron_restart: {w}"));
            }
            zone
        })
    }
}

/// The wall clock as time since 1970 (zero before: a clock that wrong
/// only delays restarts until it is set).
fn wall_clock() -> Duration {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
}
