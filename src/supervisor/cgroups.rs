//! The supervisor's side of cgroup mode (`crate::cgroup`): a cgroup made
//! for each run before its spawn, its memory.events polled, its end
//! removed once its last process is gone. The tree code asks here for a
//! run's members and its usage, and for the SIGKILL of a whole run.
//! In /proc mode (no hierarchy) every function here does nothing.

use std::os::fd::RawFd;
use std::time::Instant;

use nix::unistd::Pid;

use super::Supervisor;
use crate::app::{Event, State};
use crate::cgroup::{self, Group};
use crate::poll_set::{Owner, PollSet};
use crate::signals;

impl Supervisor {
    /// A new cgroup for slot `i`'s next run; its directory and cgroup.procs
    /// for the spawn, None in /proc mode.
    pub(super) fn run_cgroup(&mut self, i: usize) -> Result<Option<(RawFd, RawFd)>, String> {
        let Some(h) = &self.cgroups else {
            return Ok(None);
        };
        // Cgroups whose last process was still there when their run ended.
        let stale = std::mem::take(&mut self.stale_groups);
        self.stale_groups = stale.into_iter().filter_map(|g| g.remove().err()).collect();
        if let Some(g) = self.slots[i].cgroup.take()
            && let Err(g) = g.remove()
        {
            self.stale_groups.push(g);
        }
        let slot = &self.slots[i];
        let group = h.create(&slot.app.spec, slot.starts)?;
        let fds = group.fds();
        self.slots[i].cgroup = Some(group);
        Ok(Some(fds))
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

    /// Slot `i`'s memory.events changed (or its main process is about to
    /// be reported gone): an OOM kill is said and becomes the run's cause;
    /// a crossing of memory.high restarts the app once what it uses
    /// (memory.current less inactive file pages) is over max_memory.
    pub fn on_memory_event(&mut self, i: usize, now: Instant) {
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
        let over = match (seen.high > before.high, limit) {
            (true, Some(limit)) => g.usage().0.filter(|&used| used > limit),
            _ => None,
        };
        if seen.oom_kill > before.oom_kill {
            let kills = seen.oom_kill - before.oom_kill;
            self.apply(i, Event::OomKilled { kills }, now);
        }
        if let (Some(rss), State::Running { .. }) = (over, &self.slots[i].app.state) {
            self.apply(i, Event::MemoryOver { rss }, now);
        }
    }

    /// Whether memory limits are the kernel's to watch (no sampling).
    pub(super) fn memory_from_events(&self) -> bool {
        self.cgroups.as_ref().is_some_and(|h| h.memory)
    }

    /// `sig` to every process of slot `i`'s cgroup; SIGKILL in one write
    /// to cgroup.kill. False in /proc mode.
    pub(super) fn signal_cgroup(&self, i: usize, sig: libc::c_int) -> bool {
        let Some(g) = &self.slots[i].cgroup else {
            return false;
        };
        if sig == libc::SIGKILL && g.kill() {
            return true;
        }
        for pid in g.pids() {
            signals::signal_member(pid, sig, |p| g.holds(p));
        }
        true
    }

    /// Slot `i`'s memory (bytes) and CPU time (clock ticks) from its
    /// cgroup; None in /proc mode or without the memory controller.
    pub(super) fn cgroup_usage(&self, i: usize) -> Option<(u64, u64)> {
        let (memory, cpu_usec) = self.slots[i].cgroup.as_ref()?.usage();
        let ticks = cpu_usec.unwrap_or(0) * self.clock_ticks / 1_000_000;
        Some((memory?, ticks))
    }

    /// The slot whose current or replaced run's cgroup holds `pid`.
    pub(super) fn cgroup_owner(&self, pid: i32) -> Option<usize> {
        self.cgroups.as_ref()?;
        let dir = cgroup::member_of(pid)?;
        self.slots
            .iter()
            .position(|s| s.cgroup.as_ref().is_some_and(|g| g.dir() == dir))
            .or_else(|| {
                let (old, _) = self.old_groups.iter().find(|(_, g)| g.dir() == dir)?;
                self.retiring.get(old).copied()
            })
    }

    /// Slot `i` has no run (its tree is gone, or its spawn failed): its
    /// cgroup goes. Kept while a process is in it: between a spawn and
    /// its `Spawned` the slot is not running yet, but its child is.
    pub(super) fn release_cgroup(&mut self, i: usize) {
        if let Some(g) = self.slots[i].cgroup.take() {
            self.slots[i].cgroup = g.remove().err();
        }
    }

    /// A replacement detached slot `i`'s run of `pid`: its cgroup goes
    /// with it, and the new run gets one of its own.
    pub(super) fn detach_cgroup(&mut self, i: usize, pid: Pid) {
        if let Some(g) = self.slots[i].cgroup.take() {
            self.old_groups.insert(pid.as_raw(), g);
        }
    }

    /// `sig` (and SIGCONT) to every process of the replaced run of `pid`,
    /// also those that left its process group.
    pub(super) fn signal_old_cgroup(&self, pid: Pid, sig: libc::c_int) {
        if let Some(g) = self.old_groups.get(&pid.as_raw()) {
            let cont = !matches!(sig, libc::SIGKILL | libc::SIGCONT | libc::SIGSTOP);
            for member in g.pids() {
                signals::signal_member(member, sig, |p| g.holds(p));
                if cont {
                    signals::signal_member(member, libc::SIGCONT, |p| g.holds(p));
                }
            }
        }
    }

    /// SIGKILL to the whole of a replaced run; false without its cgroup.
    pub(super) fn kill_old_cgroup(&self, pid: Pid) -> bool {
        self.old_groups.get(&pid.as_raw()).is_some_and(Group::kill)
    }

    /// A replaced run's main process is gone: what is left of the run
    /// (asked to stop with it) is killed, and its cgroup goes once empty.
    pub(super) fn release_old_cgroup(&mut self, pid: Pid) {
        if let Some(g) = self.old_groups.remove(&pid.as_raw())
            && let Err(g) = g.remove()
        {
            g.kill();
            self.stale_groups.push(g);
        }
    }

    /// `"cgroup"` or `"procfs"`: where memory and trees come from.
    pub(super) fn accounting(&self) -> &'static str {
        match self.cgroups {
            Some(_) => "cgroup",
            None => "procfs",
        }
    }
}
