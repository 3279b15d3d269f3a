//! Wrapper mode without supervisor flags: tini's and dumb-init's job. One
//! child in its own group; every caught signal is forwarded to that group;
//! every zombie is reaped; tend exits with the child's code once it is gone.
//!
//! The loop wakes only when a signal arrives: there is no timer at all.

use std::ffi::OsString;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use crate::error::Error;
use crate::reaper::{self, Status};
use crate::signals::Signals;
use crate::spawn::{self, Session};
use crate::{log, units};

/// Runs `command` until it exits; returns the exit code tend should end with.
pub fn run(command: &[OsString]) -> Result<u8, Error> {
    // Handlers first: a signal sent while the child is being started waits
    // in the pipe and is forwarded once the child leads its own group.
    let mut signals = Signals::install().map_err(|source| Error::Setup {
        op: "installing signal handlers",
        source,
    })?;
    reaper::adopt_orphans();
    let session = spawn::session_for_stdin();
    let child = spawn::spawn(&spawn::Launch::new(command, session)).map_err(Error::Spawn)?;

    let status = wait_forwarding(&mut signals, child);
    if session == Session::Foreground {
        spawn::reclaim_terminal();
    }
    // A status code fits in u8: exit codes are 0..=255, 128+N at most 192.
    Ok(u8::try_from(status.code()).unwrap_or(u8::MAX))
}

/// Forwards signals to `child`'s group and reaps until `child` has ended.
fn wait_forwarding(signals: &mut Signals, child: Pid) -> Status {
    loop {
        let mut fds = [PollFd::new(signals.fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => log::error(&format!("poll failed: {e}")),
        }
        for sig in signals.drain() {
            if sig != libc::SIGCHLD {
                forward(child, sig);
            }
        }
        let mut ended = None;
        reaper::reap_all(|pid, status| {
            if pid == child {
                ended = Some(status);
            }
        });
        if let Some(status) = ended {
            return status;
        }
    }
}

/// Sends `sig` to the child's whole process group. The child is not reaped
/// yet, so its pid (and group id) cannot have been recycled. Raw kill(2):
/// nix's `Signal` enum cannot name the real-time signals.
fn forward(child: Pid, sig: libc::c_int) {
    // SAFETY: kill(2) with plain integers.
    if unsafe { libc::kill(-child.as_raw(), sig) } == -1 {
        let e = Errno::last();
        if e != Errno::ESRCH {
            log::warn(&format!(
                "forwarding {} to group {child}: {e}",
                units::signal_name(sig)
            ));
        }
    }
}
