//! The supervisor's loop: block in poll(2) until a signal, a control
//! client, a health probe's socket or the earliest deadline; then drain
//! signals, reap, answer clients, and run what is due. With no deadline (no
//! backoff, no stop in progress, no memory limit, no health check, no
//! client) it sleeps until woken: an idle tend wakes up zero times.

use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::control::{ControlFd, Server};
use crate::log;
use crate::reaper;
use crate::signals::Signals;
use crate::supervisor::Supervisor;

/// Runs until the supervisor is done; returns tend's exit code.
pub fn run(sup: &mut Supervisor, signals: &mut Signals, mut server: Option<Server>) -> u8 {
    sup.tick(Instant::now());
    loop {
        if let Some(code) = sup.finished() {
            sup.flush_output();
            return code;
        }
        let deadline = sup
            .next_deadline()
            .into_iter()
            .chain(server.as_ref().and_then(|s| s.deadline(Instant::now())))
            .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                // Round up: waking a little early would spin until the deadline.
                let wait = at.saturating_duration_since(Instant::now());
                PollTimeout::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(signals.fd(), PollFlags::POLLIN)];
        let server_fds = server
            .as_ref()
            .map(|s| s.poll_fds(Instant::now()))
            .unwrap_or_default();
        let server_at = fds.len();
        let server_which: Vec<ControlFd> = server_fds.iter().map(|&(_, _, which)| which).collect();
        let server_fds = server_fds.into_iter().map(|(fd, writing, _)| (fd, writing));
        for (fd, writing) in server_fds.chain(sup.probe_fds()) {
            let events = if writing {
                PollFlags::POLLOUT
            } else {
                PollFlags::POLLIN
            };
            fds.push(PollFd::new(fd, events));
        }
        if let Some(fd) = log::poll_fd() {
            // SAFETY: fd 2 or the log sink's own fd, open for tend's life.
            let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            fds.push(PollFd::new(fd, PollFlags::POLLOUT));
        }
        let notify_at = fds.len();
        let has_notify = match sup.notify_fd() {
            Some(fd) => {
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
                true
            }
            None => false,
        };
        let outputs_at = fds.len();
        for (fd, writing) in sup.output_fds() {
            let events = if writing {
                PollFlags::POLLOUT
            } else {
                PollFlags::POLLIN
            };
            fds.push(PollFd::new(fd, events));
        }
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => log::error(&format!("poll failed: {e}")),
        }
        let ready: Vec<bool> = fds[outputs_at..]
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let notified = has_notify && fds[notify_at].revents().is_some_and(|r| !r.is_empty());
        let server_ready: Vec<ControlFd> = fds[server_at..]
            .iter()
            .zip(server_which)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, which)| which)
            .collect();
        drop(fds);
        let now = Instant::now();
        log::flush();
        for sig in signals.drain() {
            sup.on_signal(sig, now);
        }
        // Output before exits: an app's last lines come before its "exited".
        sup.pump_output(&ready);
        if notified {
            sup.read_notify(now);
        }
        reaper::reap_all(|pid, status| sup.on_exit(pid, status, now));
        if let Some(server) = &mut server {
            for which in server_ready {
                server.on_ready(which, now, |req| sup.handle(req, now));
            }
            server.expire(now);
        }
        sup.tick(now);
    }
}
