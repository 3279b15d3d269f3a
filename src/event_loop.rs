//! The supervisor's loop. Each turn: build the poll set, every fd tagged
//! with its owner; block in poll(2) until an fd is ready or the earliest
//! deadline; hand each ready fd to its owner; reap; run what is due. With
//! no deadline (no backoff, no stop in progress, no memory limit, no health
//! check, no client) it sleeps until woken: an idle tend wakes up zero times.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use nix::errno::Errno;

use crate::control::Server;
use crate::log;
use crate::poll_set::{Owner, PollSet};
use crate::reaper;
use crate::signals::Signals;
use crate::supervisor::Supervisor;

/// Children reaped per turn at most: a fork storm must not keep the loop
/// from signals and clients.
const REAP_PER_TURN: usize = 256;

/// After a failed poll, how long tend waits on signals alone at most.
const FAILED_POLL_RETRY: Duration = Duration::from_secs(1);

/// Runs until the supervisor is done; returns tend's exit code.
pub fn run(sup: &mut Supervisor, signals: &mut Signals, mut server: Option<Server>) -> u8 {
    sup.tick(Instant::now());
    let mut reap_pending = false;
    loop {
        if let Some(code) = sup.finished() {
            sup.flush_output();
            return code;
        }
        let now = Instant::now();
        let deadline = match reap_pending {
            true => Some(now),
            false => sup
                .next_deadline()
                .into_iter()
                .chain(server.as_ref().and_then(|s| s.deadline(now)))
                .min(),
        };
        let set = poll_set(sup, signals, server.as_ref(), now);
        let ready = set
            .wait(deadline)
            .unwrap_or_else(|e| signals_only(signals, e, deadline));
        let now = Instant::now();
        for &owner in ready.iter().filter(|o| o.before_reaping()) {
            dispatch(owner, sup, signals, server.as_mut(), now);
        }
        reap_pending = reaper::reap_some(REAP_PER_TURN, |pid, st| sup.on_exit(pid, st, now));
        for &owner in ready.iter().filter(|o| !o.before_reaping()) {
            dispatch(owner, sup, signals, server.as_mut(), now);
        }
        if let Some(server) = &mut server {
            server.expire(now);
        }
        sup.tick(now);
    }
}

/// Hands a ready fd to its owner.
fn dispatch(
    owner: Owner,
    sup: &mut Supervisor,
    signals: &mut Signals,
    server: Option<&mut Server>,
    now: Instant,
) {
    match owner {
        Owner::Signals => signals
            .drain()
            .into_iter()
            .for_each(|s| sup.on_signal(s, now)),
        Owner::Control(fd) => {
            if let Some(server) = server {
                server.on_ready(fd, now, |req| sup.answer(req, now));
                for (token, stream) in server.take_handoffs() {
                    sup.logs.adopt(token, stream);
                }
            }
        }
        Owner::LogSink => log::flush(),
        Owner::Output { slot, pipe } => sup.pump_pipe(slot, pipe),
        Owner::Sink { stderr } => sup.logs.flush_sink(stderr),
        Owner::Follower(id) => sup.logs.on_follower(id),
        Owner::Probe { slot } => sup.step_probe(slot, now),
        Owner::Notify => sup.read_notify(now),
        Owner::Watch => sup.read_watch(now),
        Owner::Memory { slot } => sup.on_memory_event(slot, now),
    }
}

/// This turn's poll set: the signalfd, the supervisor's fds (pipes, sinks,
/// probes, notify, watch), the control socket and its clients, tend's log sink.
fn poll_set<'a>(
    sup: &'a Supervisor,
    signals: &'a Signals,
    server: Option<&'a Server>,
    now: Instant,
) -> PollSet<'a> {
    let mut set = PollSet::default();
    set.read(signals.fd(), Owner::Signals);
    sup.poll_fds(&mut set);
    for (fd, writing, which) in server.iter().flat_map(|s| s.poll_fds(now)) {
        set.read_or_write(fd, writing, Owner::Control(which));
    }
    if let Some(fd) = log::poll_fd() {
        // SAFETY: fd 2 or the log sink's own fd, open until log::blocking
        // at tend's exit, after the loop's last poll.
        set.write(unsafe { BorrowedFd::borrow_raw(fd) }, Owner::LogSink);
    }
    set
}

/// After poll(2) failed (ENOMEM, or more fds than RLIMIT_NOFILE allows):
/// wait on the signalfd alone rather than spin, until the deadline or for
/// a second at most (a passing failure must not leave pipes and clients
/// unserved until the next signal), and treat it as ready so the signals
/// are drained either way.
fn signals_only(signals: &Signals, e: Errno, deadline: Option<Instant>) -> Vec<Owner> {
    log::error(&format!(
        "poll failed: {e}; waiting for signals alone this turn"
    ));
    let mut set = PollSet::default();
    set.read(signals.fd(), Owner::Signals);
    let retry = Instant::now() + FAILED_POLL_RETRY;
    if let Err(e) = set.wait(Some(deadline.map_or(retry, |d| d.min(retry)))) {
        log::error(&format!("poll of the signalfd failed: {e}"));
    }
    vec![Owner::Signals]
}
