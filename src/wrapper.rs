//! Wrapper mode without supervisor flags: tini's and dumb-init's job. One
//! child in its own group; every caught signal is forwarded to that group;
//! every zombie is reaped; tend exits with the child's code once it is gone,
//! after a SIGTERM to whatever is left of the child's tree.
//!
//! The loop wakes only when a signal arrives: there is no timer at all.

use std::ffi::OsString;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use crate::error::Error;
use crate::log;
use crate::procfs;
use crate::reaper::{self, Status};
use crate::signals::{self, Signals};
use crate::spawn::{self, Session};

/// Runs `command` until it exits; returns the exit code tend should end with.
pub fn run(command: &[OsString]) -> Result<u8, Error> {
    // Signals first: one sent while the child is being started waits in
    // the signalfd and is forwarded once the child leads its own group.
    let mut signals = Signals::install().map_err(|source| Error::Setup {
        op: "opening the signalfd",
        source,
    })?;
    reaper::adopt_orphans();
    let session = spawn::session_for_stdin();
    // tini does this only with -p; tend always does when not PID 1, as for
    // the apps of a config (DESIGN "Operating").
    let launch = spawn::Launch {
        die_with_tend: true,
        ..spawn::Launch::new(command, session)
    };
    let child = spawn::spawn(&launch).map_err(Error::Spawn)?;

    let status = wait_forwarding(&mut signals, child, session);
    if session == Session::Foreground {
        spawn::reclaim_terminal();
    }
    stop_leftovers();
    // A status code fits in u8: exit codes are 0..=255, 128+N at most 192.
    Ok(u8::try_from(status.code()).unwrap_or(u8::MAX))
}

/// Forwards signals to `child`'s group and reaps until `child` has ended.
///
/// With the terminal handed to the child, job control goes through tend:
/// when Ctrl-Z stops the child, tend takes the terminal back and stops
/// itself, so the shell that started tend sees its job stopped; when the
/// shell continues tend (fg, bg), tend hands the terminal back (fg only)
/// and continues the child.
fn wait_forwarding(signals: &mut Signals, child: Pid, session: Session) -> Status {
    let job_control = session == Session::Foreground && std::process::id() != 1;
    loop {
        let mut fds = [PollFd::new(signals.fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => log::error(&format!("poll failed: {e}")),
        }
        for sig in signals.drain() {
            if sig == libc::SIGCONT && job_control && spawn::terminal_is_ours() {
                spawn::give_terminal(child);
            }
            if sig != libc::SIGCHLD {
                signals::kill_group(child, sig);
            }
        }
        let (mut ended, mut stopped) = (None, false);
        reaper::reap_all_and_stops(
            |pid, status| {
                if pid == child {
                    ended = Some(status);
                }
            },
            |pid, _| stopped |= pid == child,
        );
        if let Some(status) = ended {
            return status;
        }
        if stopped && job_control {
            spawn::reclaim_terminal();
            // SAFETY: raise(3) with a plain signal; tend stops here until
            // its shell sends SIGCONT, which the signalfd then reports.
            unsafe { libc::raise(libc::SIGSTOP) };
        }
    }
}

/// Sends SIGTERM, then SIGCONT (a stopped process acts on it only once
/// continued), to whatever is left of the child's tree once the child has
/// ended: its group's other members, and the processes that left the group
/// (setsid, setpgid). They are all below tend: every orphan of the tree
/// re-parented to tend (PID 1, or a subreaper) when its parent died, before
/// tend reaped the child. One pass, and no wait: tend exits with the
/// child's code at once; with nothing left this costs one small read.
fn stop_leftovers() {
    let roots = procfs::own_children();
    if roots.is_empty() {
        return;
    }
    let left = procfs::Snapshot::read().tree(&roots);
    for sig in [libc::SIGTERM, libc::SIGCONT] {
        for &p in &left {
            signals::signal_process(p, sig);
        }
    }
}
