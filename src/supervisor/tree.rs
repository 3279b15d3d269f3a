//! An app's tree: its main process and every descendant, also those that
//! called setsid/setpgid, and orphans of the app that re-parented to tend.
//! Orphans are known by their session id (each app starts in a session of
//! its own) or, when they left it, by the TEND_APP variable every app
//! inherits. Signals to a tree, the memory of a tree, and the pidfd that
//! keeps a recycled pid from being hit live here.
//!
//! A tree is alive exactly while some child of tend belongs to it: when
//! any process dies its children re-parent to tend, so walking down from
//! tend's own children reaches every descendant.

use std::time::Instant;

use nix::unistd::Pid;

use super::Supervisor;
use crate::app::{Event, State};
use crate::procfs::{self, Proc, Snapshot};
use crate::signals::{kill_group, signal_process, then_cont};

impl Supervisor {
    /// The main pid (when alive) and the adopted orphans of slot `i`.
    pub(super) fn roots(&self, i: usize, main: Option<Pid>) -> Vec<i32> {
        main.map(Pid::as_raw)
            .into_iter()
            .chain(
                self.orphans
                    .iter()
                    .filter(|(_, j)| **j == i)
                    .map(|(p, _)| *p),
            )
            .collect()
    }

    /// Slot `i`'s tree has a process that re-parented to tend.
    pub(super) fn has_orphans(&self, i: usize) -> bool {
        self.orphans.values().any(|&j| j == i)
    }

    /// This turn's /proc pass, read at first use.
    pub(super) fn snapshot(&mut self) -> &Snapshot {
        self.snapshot.get_or_insert_with(Snapshot::read)
    }

    /// `roots` and all their descendants, from this turn's snapshot (read
    /// again when a root is newer than it).
    pub(super) fn members(&mut self, roots: &[i32]) -> Vec<Proc> {
        if roots.iter().any(|r| !self.snapshot().contains(*r)) {
            self.snapshot = None;
        }
        self.snapshot().tree(roots)
    }

    /// The memory (bytes) and CPU time (clock ticks) of slot `i`'s tree;
    /// None when it has no process.
    pub(super) fn tree_usage(&mut self, i: usize) -> Option<(u64, u64)> {
        let roots = self.roots(i, self.slots[i].app.main_pid());
        if roots.is_empty() {
            return None;
        }
        if let Some(usage) = self.cgroup_usage(i) {
            return Some(usage);
        }
        let members = self.members(&roots);
        let pages: u64 = members.iter().map(|p| p.rss_pages).sum();
        let ticks: u64 = members.iter().map(Proc::cpu_ticks).sum();
        Some((pages * self.page_size, ticks))
    }

    /// Sends `sig` to slot `i`'s group and to every member of its tree that
    /// left the group (setsid, setpgid, adopted orphans).
    pub(super) fn signal_tree(&mut self, i: usize, sig: libc::c_int) {
        // Without SIGCONT a SIGSTOPped app would wait out stop_timeout
        // and die by SIGKILL (`then_cont`).
        let signals: &[libc::c_int] = match then_cont(sig) {
            false => &[sig],
            true => &[sig, libc::SIGCONT],
        };
        // The cgroup holds the whole run, however its processes left the
        // group and the session: each of them gets each signal once.
        if signals.iter().all(|&sig| self.signal_cgroup(i, sig)) {
            return;
        }
        self.adopt_orphans();
        let main = self.slots[i].app.main_pid();
        let roots = self.roots(i, main);
        // The tree is read before anything is signalled: once the main
        // process dies, its children re-parent to tend and would no longer
        // be found below it. One snapshot serves every app of this turn: a
        // signal to one app does not move another app's processes.
        let members = self.members(&roots);
        for &sig in signals {
            if let Some(pid) = main {
                kill_group(pid, sig);
            }
            for p in &members {
                if main.is_none_or(|m| p.pgrp != m.as_raw()) {
                    signal_process(*p, sig);
                }
            }
        }
    }

    /// Attributes tend's children that are neither mains nor known orphans.
    /// An orphan of an app that is being stopped gets the stop too: it
    /// re-parented after the signals went out (its parent died of them).
    pub(super) fn adopt_orphans(&mut self) {
        for pid in procfs::own_children() {
            if self.mains.contains_key(&pid)
                || self.orphans.contains_key(&pid)
                || self.probe_pids.contains_key(&pid)
                || self.retiring.contains_key(&pid)
            {
                continue;
            }
            let Some(i) = self.owner_of(pid) else {
                continue;
            };
            self.orphans.insert(pid, i);
            let app = &self.slots[i].app;
            if let State::Stopping { killed, .. } = app.state {
                let sig = if killed {
                    libc::SIGKILL
                } else {
                    app.spec.stop_signal
                };
                for p in self.members(&[pid]) {
                    signal_process(p, sig);
                }
            }
        }
    }

    /// The slot a stray child of tend came from, if it can be told.
    fn owner_of(&self, pid: i32) -> Option<usize> {
        if let Some(owner) = self.cgroup_owner(pid) {
            return owner;
        }
        let stat = procfs::read_stat(pid)?;
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.session == Some(stat.session))
        {
            return Some(i);
        }
        let name = procfs::environ_var(pid, "TEND_APP")?;
        self.slots.iter().position(|s| s.name() == name)
    }

    /// Some running app has a memory limit: memory is sampled.
    pub(super) fn sampling_needed(&self) -> bool {
        !self.memory_from_events()
            && self.slots.iter().any(|s| {
                s.app.spec.max_memory.is_some() && matches!(s.app.state, State::Running { .. })
            })
    }

    /// One pass over /proc; each limited app's tree RSS against its limit.
    /// The cost grows with the number of processes, not processes × apps.
    pub(super) fn sample_memory(&mut self, now: Instant) {
        self.adopt_orphans();
        self.snapshot = Some(Snapshot::read());
        for i in 0..self.slots.len() {
            let app = &self.slots[i].app;
            let (Some(limit), State::Running { .. }) = (app.spec.max_memory, &app.state) else {
                continue;
            };
            if let Some((rss, _)) = self.tree_usage(i)
                && rss > limit
            {
                self.apply(i, Event::MemoryOver { rss }, now);
            }
        }
    }
}
