//! The supervisor's loop: block in poll(2) until a signal arrives or the
//! earliest deadline passes; then drain signals, reap, and run what is due.
//! With no deadline (no backoff, no stop in progress, no memory limit) it
//! sleeps until a signal: an idle tend wakes up zero times.

use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::log;
use crate::reaper;
use crate::signals::Signals;
use crate::supervisor::Supervisor;

/// Runs until the supervisor is done; returns tend's exit code.
pub fn run(sup: &mut Supervisor, signals: &mut Signals) -> u8 {
    sup.tick(Instant::now());
    loop {
        if let Some(code) = sup.finished() {
            return code;
        }
        let timeout = match sup.next_deadline() {
            None => PollTimeout::NONE,
            Some(at) => {
                // Round up: waking a little early would spin until the deadline.
                let wait = at.saturating_duration_since(Instant::now());
                let ms = wait.as_micros().div_ceil(1000);
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = [PollFd::new(signals.fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => log::error(&format!("poll failed: {e}")),
        }
        let now = Instant::now();
        for sig in signals.drain() {
            sup.on_signal(sig, now);
        }
        reaper::reap_all(|pid, status| sup.on_exit(pid, status, now));
        sup.tick(now);
    }
}
