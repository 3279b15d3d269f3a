//! The supervisor's side of cgroup mode (`crate::cgroup`): a cgroup made
//! for each run before its spawn, its memory.events polled, its end
//! removed once its last process is gone. The tree code asks here for the
//! signals to a whole run and for its usage. A cgroup whose run has ended
//! but that still holds processes (what a replaced run left, or a cgroup
//! an app made below its own) is drained: stop_signal, SIGKILL after
//! stop_timeout, removed once empty.
//! In /proc mode (no hierarchy) every function here does nothing.

use std::os::fd::RawFd;
use std::path::Path;
use std::time::Instant;

use super::Supervisor;
use crate::app::{Event, State};
use crate::cgroup::{self, Group};
use crate::poll_set::{Owner, PollSet};

/// A cgroup whose run has ended while processes remain in it.
#[derive(Debug)]
pub(super) struct Draining {
    group: Group,
    /// When SIGKILL follows; None once sent.
    kill_at: Option<Instant>,
}

impl Supervisor {
    /// A new cgroup for slot `i`'s next run; its directory and cgroup.procs
    /// for the spawn, None in /proc mode.
    pub(super) fn run_cgroup(
        &mut self,
        i: usize,
        now: Instant,
    ) -> Result<Option<(RawFd, RawFd)>, String> {
        if self.cgroups.is_none() {
            return Ok(None);
        }
        if let Some(g) = self.slots[i].cgroup.take()
            && let Err(g) = g.remove()
        {
            self.drain(i, g, None, now);
        }
        let held = |dir: &Path| self.holds_cgroup(dir);
        let Some(h) = &self.cgroups else {
            return Ok(None);
        };
        let slot = &self.slots[i];
        let group = h.create(&slot.app.spec, slot.starts, held)?;
        let fds = group.fds();
        self.slots[i].cgroup = Some(group);
        Ok(fds)
    }

    /// Some cgroup of tend's (a run's, a replaced run's, a draining one)
    /// is `dir`.
    fn holds_cgroup(&self, dir: &Path) -> bool {
        let runs = self.slots.iter().filter_map(|s| s.cgroup.as_ref());
        let old = self.slots.iter().flat_map(|s| &s.outgoing);
        let draining = self.draining.iter().map(|d| &d.group);
        runs.chain(old.filter_map(|o| o.group.as_ref()))
            .chain(draining)
            .any(|g| g.dir() == dir)
    }

    /// Slot `i`'s spawn is over, started or not: its cgroup's spawn fds
    /// close.
    pub(super) fn cgroup_started(&mut self, i: usize) {
        if let Some(g) = self.slots[i].cgroup.as_mut() {
            g.started();
        }
    }

    /// memory.events of every run with a memory limit: the kernel marks it
    /// (POLLPRI) when a counter changes.
    pub(super) fn poll_cgroups<'a>(&'a self, set: &mut PollSet<'a>) {
        for (slot, s) in self.slots.iter().enumerate() {
            let spec = &s.app.spec;
            if spec.max_memory.is_none() && spec.memory_max.is_none() {
                continue;
            }
            if let Some(fd) = s.cgroup.as_ref().and_then(Group::events_fd) {
                set.priority(fd, Owner::Memory { slot });
            }
        }
    }

    /// Slot `i`'s memory.events changed: see `memory_events`.
    pub fn on_memory_event(&mut self, i: usize, now: Instant) {
        self.memory_events(i, true, now);
    }

    /// Reads slot `i`'s memory.events: an OOM kill is said (and becomes
    /// the run's cause); with `alive` (its main process is not reaped yet),
    /// a crossing of memory.high restarts the app once what it uses
    /// (memory.current less inactive file pages) is over max_memory.
    pub(super) fn memory_events(&mut self, i: usize, alive: bool, now: Instant) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let limit = slot.app.spec.max_memory;
        let Some(g) = slot.cgroup.as_mut() else {
            return;
        };
        // Read even when nothing follows: reading re-arms the poll.
        let Some(seen) = g.memory_events() else {
            return;
        };
        let before = std::mem::replace(&mut g.seen, seen);
        let over = match (alive && seen.high > before.high, limit) {
            (true, Some(limit)) => g.memory_over(limit),
            _ => None,
        };
        if seen.oom_kill > before.oom_kill {
            self.apply(i, Event::OomKilled, now);
        }
        if let (Some(rss), State::Running { pid, .. }) = (over, &self.slots[i].app.state) {
            let pid = *pid;
            self.apply(i, Event::MemoryOver { rss }, now);
            // Once it is being stopped, the kernel stops throttling it: a
            // graceful stop needs memory too (a handler, a flush), and
            // memory_max still caps it. A restart that waits its turn
            // leaves it throttled.
            let run = match &self.slots[i].app.state {
                State::Running { pid: p, .. } if *p == pid => None,
                State::Stopping { .. } => self.slots[i].cgroup.as_ref(),
                _ => self.slots[i]
                    .outgoing
                    .iter()
                    .find(|o| o.pid == pid)
                    .and_then(|o| o.group.as_ref()),
            };
            if let Some(g) = run {
                g.lift_high();
            }
        }
    }

    /// Whether memory limits are the kernel's to watch (no sampling).
    pub(super) fn memory_from_events(&self) -> bool {
        self.cgroups.as_ref().is_some_and(|h| h.memory)
    }

    /// `sig` to every process of slot `i`'s run, each once; SIGKILL to all
    /// at once. False in /proc mode.
    pub(super) fn signal_cgroup(&self, i: usize, sig: libc::c_int) -> bool {
        let Some(g) = &self.slots[i].cgroup else {
            return false;
        };
        g.signal(sig);
        true
    }

    /// Slot `i`'s memory (bytes) and CPU time (clock ticks) from its
    /// cgroup; None in /proc mode or without the memory controller.
    pub(super) fn cgroup_usage(&self, i: usize) -> Option<(u64, u64)> {
        let (memory, cpu_usec) = self.slots[i].cgroup.as_ref()?.usage();
        let ticks = cpu_usec.unwrap_or(0) * self.clock_ticks / 1_000_000;
        Some((memory?, ticks))
    }

    /// In cgroup mode, the slot whose current run's cgroup holds `pid`
    /// (Some(None): none does; a replaced run's leftovers are not the new
    /// run's); None in /proc mode.
    pub(super) fn cgroup_owner(&self, pid: i32) -> Option<Option<usize>> {
        self.cgroups.as_ref()?;
        let Some(dir) = cgroup::member_of(pid) else {
            return Some(None);
        };
        Some(
            self.slots
                .iter()
                .position(|s| s.cgroup.as_ref().is_some_and(|g| dir.starts_with(g.dir()))),
        )
    }

    /// Slot `i` has no run (its tree is gone, or its spawn failed): its
    /// cgroup goes, or is drained if a process is still in it. Not while
    /// a main process of the slot lives: between a spawn and its
    /// `Spawned` the slot is not running yet, but its child is.
    pub(super) fn release_cgroup(&mut self, i: usize, now: Instant) {
        if self.slots[i].cgroup.is_none() || self.mains.values().any(|&j| j == i) {
            return;
        }
        if let Some(g) = self.slots[i].cgroup.take() {
            self.release_group(i, g, None, now);
        }
    }

    /// A cgroup of slot `i` whose run is over: it goes, or what is left in
    /// it is drained (from `kill_at` on, if it was asked to stop).
    pub(super) fn release_group(
        &mut self,
        i: usize,
        g: Group,
        kill_at: Option<Instant>,
        now: Instant,
    ) {
        if let Err(g) = g.remove() {
            self.drain(i, g, kill_at, now);
        }
    }

    /// Stops what is left in `g`, a cgroup of slot `i` whose run is over:
    /// stop_signal now unless the run was asked to stop already (then
    /// `kill_at` is set), SIGKILL at `kill_at` or after stop_timeout.
    fn drain(&mut self, i: usize, g: Group, kill_at: Option<Instant>, now: Instant) {
        let spec = &self.slots[i].app.spec;
        let kill_at = kill_at.unwrap_or_else(|| {
            g.stop(spec.stop_signal);
            now + spec.stop_timeout
        });
        self.draining.push(Draining {
            group: g,
            kill_at: Some(kill_at),
        });
    }

    /// Draining cgroups: killed when due, removed once empty. A cgroup
    /// empties with an exit tend reaps (its last process is tend's child,
    /// or an orphan that re-parented to tend), so only a turn that reaped
    /// something, or one with a kill due, looks at them.
    pub(super) fn sweep_cgroups(&mut self, now: Instant) {
        let due = self.cgroups_deadline().is_some_and(|t| t <= now);
        if !std::mem::take(&mut self.reaped) && !due {
            return;
        }
        let draining = std::mem::take(&mut self.draining);
        for mut d in draining {
            if d.kill_at.is_some_and(|t| t <= now) {
                d.group.signal(libc::SIGKILL);
                d.kill_at = None;
            }
            if let Err(group) = d.group.remove() {
                self.draining.push(Draining { group, ..d });
            }
        }
    }

    /// When the next draining cgroup is due its SIGKILL.
    pub(super) fn cgroups_deadline(&self) -> Option<Instant> {
        self.draining.iter().filter_map(|d| d.kill_at).min()
    }

    /// `"cgroup"` or `"procfs"`: where memory and trees come from.
    pub(super) fn accounting(&self) -> &'static str {
        match self.cgroups {
            Some(_) => "cgroup",
            None => "procfs",
        }
    }
}
