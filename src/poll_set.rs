//! One turn's poll(2) set: every fd goes in with the owner it belongs to,
//! and `wait` answers with the owners whose fd is ready. The loop hands each
//! of them to that owner, so no two places have to agree on an order of
//! fds, and a new kind of fd is one new `Owner` variant.

use std::os::fd::BorrowedFd;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::control::ControlFd;

/// Who an fd in the poll set belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// The signalfd.
    Signals,
    /// The control socket's listener or one of its clients.
    Control(ControlFd),
    /// tend's own event lines waiting for stderr.
    LogSink,
    /// A pipe carrying an instance's stdout or stderr (any `log` but inherit).
    Output { slot: usize, pipe: u64 },
    /// tend's stdout (false) or stderr (true) with app lines waiting.
    Sink { stderr: bool },
    /// The tcp or http health probe in flight for an instance.
    Probe { slot: usize },
    /// The sd_notify socket.
    Notify,
    /// A `tend logs` client being written to or followed, by its id.
    Follower(u64),
    /// The inotify fd of every app's `watch`.
    Watch,
    /// The memory.events of an instance's cgroup.
    Memory { slot: usize },
}

impl Owner {
    /// Handled before the reaper: app output and sd_notify datagrams, so an
    /// app's last lines and last STATUS= come before its exit, and signals.
    /// After it: health probes and control clients, which judge and report
    /// the state the exits of this turn left (a probe refused because its
    /// app just died is not a failed check of a running app). File changes
    /// only move a deadline: either side would do. A cgroup's OOM kill
    /// comes before, to be the cause of the exit it made.
    pub fn before_reaping(self) -> bool {
        match self {
            Owner::Signals
            | Owner::LogSink
            | Owner::Output { .. }
            | Owner::Sink { .. }
            | Owner::Notify
            | Owner::Memory { .. } => true,
            Owner::Control(_) | Owner::Probe { .. } | Owner::Follower(_) | Owner::Watch => false,
        }
    }
}

/// The fds to wait on, each with its owner.
#[derive(Default)]
pub struct PollSet<'a> {
    fds: Vec<PollFd<'a>>,
    owners: Vec<Owner>,
}

impl<'a> PollSet<'a> {
    /// Waits for `fd` to be readable.
    pub fn read(&mut self, fd: BorrowedFd<'a>, owner: Owner) {
        self.add(fd, PollFlags::POLLIN, owner);
    }

    /// Waits for `fd` to be writable.
    pub fn write(&mut self, fd: BorrowedFd<'a>, owner: Owner) {
        self.add(fd, PollFlags::POLLOUT, owner);
    }

    /// Waits for `fd` to have an exceptional condition: a cgroup file
    /// (memory.events) the kernel changed.
    pub fn priority(&mut self, fd: BorrowedFd<'a>, owner: Owner) {
        self.add(fd, PollFlags::POLLPRI, owner);
    }

    /// Waits to write when `writing`, else to read.
    pub fn read_or_write(&mut self, fd: BorrowedFd<'a>, writing: bool, owner: Owner) {
        match writing {
            true => self.write(fd, owner),
            false => self.read(fd, owner),
        }
    }

    fn add(&mut self, fd: BorrowedFd<'a>, events: PollFlags, owner: Owner) {
        self.fds.push(PollFd::new(fd, events));
        self.owners.push(owner);
    }

    /// Blocks until some fd is ready or `deadline` passes (None: no
    /// deadline); returns the owners of the ready fds, in the order they
    /// were added. An error other than EINTR is returned as is, and the
    /// caller decides how to wait instead.
    pub fn wait(mut self, deadline: Option<Instant>) -> Result<Vec<Owner>, Errno> {
        match poll(&mut self.fds, timeout(deadline)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
        let ready = self
            .fds
            .iter()
            .zip(self.owners)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, owner)| owner)
            .collect();
        Ok(ready)
    }
}

/// The poll(2) timeout for `deadline`, rounded up to the next millisecond:
/// waking a little early would spin until the deadline.
pub fn timeout(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(at) => {
            let wait = at.saturating_duration_since(Instant::now());
            PollTimeout::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe().expect("pipe")
    }

    #[test]
    fn answers_with_the_owners_of_ready_fds_only() {
        let (r1, _w1) = pipe();
        let (r2, w2) = pipe();
        nix::unistd::write(&w2, b"x").expect("write");
        let mut set = PollSet::default();
        set.read(r1.as_fd(), Owner::Notify);
        set.read(r2.as_fd(), Owner::Output { slot: 3, pipe: 7 });
        set.write(w2.as_fd(), Owner::Sink { stderr: true });
        let ready = set.wait(Some(Instant::now())).expect("poll");
        assert_eq!(
            ready,
            [
                Owner::Output { slot: 3, pipe: 7 },
                Owner::Sink { stderr: true }
            ]
        );
    }

    #[test]
    fn a_past_deadline_returns_at_once_with_nothing_ready() {
        let (r, _w) = pipe();
        let mut set = PollSet::default();
        set.read(r.as_fd(), Owner::Signals);
        let before = Instant::now();
        assert_eq!(set.wait(Some(before)).expect("poll"), []);
        assert!(before.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn timeouts_round_up() {
        assert_eq!(timeout(None), PollTimeout::NONE);
        let soon = Instant::now() + std::time::Duration::from_micros(1500);
        let ms: i32 = timeout(Some(soon)).into();
        assert!((1..=2).contains(&ms), "{ms}");
    }
}
