//! The one reaper: `waitpid(-1, WNOHANG)` until nothing is left to collect.
//! Nothing else in tend waits for a child, so no exit status is ever stolen
//! from the code that needs it (a std `Child::wait` would race with this).

use nix::errno::Errno;
use nix::unistd::Pid;

/// Makes orphans come to tend: as PID 1 they do already; otherwise tend
/// becomes a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER).
pub fn adopt_orphans() {
    if std::process::id() != 1
        && let Err(e) = nix::sys::prctl::set_child_subreaper(true)
    {
        crate::log::warn(&format!(
            "cannot become a child subreaper, orphans will not be reaped: {e}"
        ));
    }
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signaled(libc::c_int),
}

impl Status {
    /// The shell's convention: the exit code, or 128+N for death by signal N.
    pub fn code(self) -> i32 {
        match self {
            Status::Exited(code) => code,
            Status::Signaled(sig) => 128 + sig,
        }
    }

    /// The signal it died of, as status and describe show it.
    pub fn signal_name(self) -> Option<String> {
        match self {
            Status::Exited(_) => None,
            Status::Signaled(sig) => Some(crate::units::signal_name(sig)),
        }
    }

    /// A clean exit: code 0.
    pub fn success(self) -> bool {
        self == Status::Exited(0)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Status::Exited(code) => write!(f, "exited with code {code}"),
            Status::Signaled(sig) => {
                write!(f, "killed by {}", crate::units::signal_name(*sig))
            }
        }
    }
}

/// Collects children that have ended, calling `on_exit` for each, up to
/// `limit` of them; also orphans re-parented to tend (as PID 1 or as a
/// subreaper). Returns true when it stopped at the limit: more may wait,
/// and the caller comes back after serving signals and clients (a fork
/// storm must not keep the loop in here). SIGCHLD does not come again for
/// children already dead, so the caller must not sleep before then.
pub fn reap_some(limit: usize, on_exit: impl FnMut(Pid, Status)) -> bool {
    reap(false, limit, on_exit, |_, _| {})
}

/// As `reap_all`, also reporting children stopped by a signal (WUNTRACED),
/// for job control in wrapper mode.
pub fn reap_all_and_stops(on_exit: impl FnMut(Pid, Status), on_stop: impl FnMut(Pid, libc::c_int)) {
    reap(true, usize::MAX, on_exit, on_stop);
}

fn reap(
    untraced: bool,
    limit: usize,
    mut on_exit: impl FnMut(Pid, Status),
    mut on_stop: impl FnMut(Pid, libc::c_int),
) -> bool {
    let flags = if untraced {
        libc::WNOHANG | libc::WUNTRACED
    } else {
        libc::WNOHANG
    };
    for _ in 0..limit {
        let mut raw: libc::c_int = 0;
        // Raw waitpid: nix's decoder rejects deaths by real-time signals
        // (EINVAL after the child is already reaped), losing the status.
        // SAFETY: `raw` is a valid out-pointer for the duration of the call.
        let pid = unsafe { libc::waitpid(-1, &mut raw, flags) };
        match pid {
            0 => return false,
            -1 => match Errno::last() {
                Errno::ECHILD => return false,
                Errno::EINTR => continue,
                e => {
                    crate::log::error(&format!("waitpid failed: {e}"));
                    return false;
                }
            },
            pid => {
                if let Some(status) = decode(raw) {
                    on_exit(Pid::from_raw(pid), status);
                } else if libc::WIFSTOPPED(raw) {
                    on_stop(Pid::from_raw(pid), libc::WSTOPSIG(raw));
                }
            }
        }
    }
    true
}

/// Decodes a wait status; `None` for stops and continues, which tend does
/// not ask for (no WUNTRACED) but skips if they come.
fn decode(raw: libc::c_int) -> Option<Status> {
    if libc::WIFEXITED(raw) {
        Some(Status::Exited(libc::WEXITSTATUS(raw)))
    } else if libc::WIFSIGNALED(raw) {
        Some(Status::Signaled(libc::WTERMSIG(raw)))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        assert_eq!(Status::Exited(3).code(), 3);
        assert_eq!(Status::Signaled(9).code(), 137);
        assert!(Status::Exited(0).success());
        assert!(!Status::Signaled(15).success());
        assert_eq!(Status::Signaled(15).to_string(), "killed by SIGTERM");
        assert_eq!(Status::Exited(1).to_string(), "exited with code 1");
        // 0x0300: exited with 3; 0x0025: killed by signal 37 (SIGRTMIN+3).
        assert_eq!(decode(0x0300), Some(Status::Exited(3)));
        assert_eq!(decode(0x0025), Some(Status::Signaled(37)));
        assert_eq!(decode(0x137f), None, "stopped by SIGSTOP");
    }
}
