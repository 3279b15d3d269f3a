//! `watch` in the supervisor: the watch set follows the live apps'
//! definitions (at start and after each reload), the inotify fd is read
//! when ready, and once an app's changes have been quiet for its
//! `watch_delay`, each of its running instances gets one graceful restart
//! (a replacement where it has `listen`), counted nowhere, cause `watch`.

use std::time::Instant;

use super::Supervisor;
use crate::app::{Cause, Event, State};
use crate::log::Level;
use crate::watch::WatchSpec;

impl Supervisor {
    /// Watches what the live apps ask, each app once, by its instance 0
    /// (its instances share one definition; every app has an instance 0),
    /// a reload's pending definition winning.
    pub(super) fn update_watches(&mut self) {
        let mut wanted: Vec<(String, WatchSpec)> = Vec::new();
        for i in self.live() {
            let slot = &self.slots[i];
            let spec = slot.pending.as_ref().unwrap_or(&slot.app.spec);
            if let (0, Some(w)) = (spec.instance, &spec.watch) {
                wanted.push((spec.app.clone(), w.clone()));
            }
        }
        self.watch.set(wanted);
    }

    /// The inotify fd is readable.
    pub fn read_watch(&mut self, now: Instant) {
        self.watch.read(now);
    }

    /// Restarts the running instances of each app whose changes are quiet
    /// now. Every due burst is taken, also during a shutdown (when it is
    /// dropped): a deadline left in the past would spin the loop.
    pub(super) fn run_watches(&mut self, now: Instant) {
        while let Some((app, burst)) = self.watch.take_due(now) {
            if self.shutdown.is_some() {
                continue;
            }
            let running: Vec<usize> = self
                .live()
                .filter(|&i| self.slots[i].app.spec.app == app)
                .filter(|&i| matches!(self.slots[i].app.state, State::Running { .. }))
                .collect();
            let first = burst.first.unwrap_or_else(|| "?".into());
            let msg = format!("watch: changes, the first {}: restarting", first.display());
            for i in running {
                self.event(i, Level::Info, "watch", &msg);
                self.slots[i].app.asked_by(Cause::Watch);
                self.apply(i, Event::Restart, now);
            }
        }
    }
}
