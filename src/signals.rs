//! Every signal tend handles arrives through one self-pipe (signal-hook's
//! `SignalDelivery`), which the loop polls and drains before acting.
//!
//! PID 1 gets no default action for any signal, so tend registers a handler
//! for every catchable one it may have to forward. It never catches the
//! synchronous fault signals (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS): a fault
//! in tend must not loop in a handler. TTIN and TTOU are ignored so that tend
//! can hand the terminal to its child and take it back (tcsetpgrp(3)).

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::Pid;
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

/// Signals tend must never install a handler for.
const NEVER_CAUGHT: [libc::c_int; 11] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

/// Every signal tend catches: the standard ones it may forward, SIGCHLD, and
/// the real-time range that the C library leaves to applications.
pub fn caught() -> Vec<libc::c_int> {
    (1..libc::SIGRTMIN())
        .filter(|s| !NEVER_CAUGHT.contains(s) && *s < 32)
        .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
        .collect()
}

/// The self-pipe and the handlers behind it.
pub struct Signals {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
}

impl Signals {
    /// Ignores TTIN/TTOU, routes every caught signal into the pipe, then
    /// unblocks every signal (tend may have been started with some blocked).
    pub fn install() -> std::io::Result<Signals> {
        for sig in [libc::SIGTTIN, libc::SIGTTOU] {
            // SAFETY: SIG_IGN installs no code; nothing else owns these signals.
            unsafe { libc::signal(sig, libc::SIG_IGN) };
        }
        let (read, write) = UnixStream::pair()?;
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let delivery = SignalDelivery::with_pipe(read, write, SignalOnly, caught())?;
        // Unblock only now: a signal that was pending while blocked lands in
        // the pipe instead of meeting a default disposition.
        sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
        Ok(Signals { delivery })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.delivery.get_read().as_fd()
    }

    /// Every signal received since the last drain (each number once).
    pub fn drain(&mut self) -> Vec<libc::c_int> {
        self.delivery.pending().collect()
    }
}

/// Sends `sig` to the process group led by `pid`. Callers pass only a main
/// process they have not reaped yet, so neither its pid nor its group id can
/// have been recycled. Raw kill(2): nix's `Signal` enum cannot name the
/// real-time signals.
pub fn kill_group(pid: Pid, sig: libc::c_int) {
    // SAFETY: kill(2) with plain integers.
    if unsafe { libc::kill(-pid.as_raw(), sig) } == -1 {
        let e = Errno::last();
        if e != Errno::ESRCH {
            crate::log::warn(&format!(
                "sending {} to group {pid}: {e}",
                crate::units::signal_name(sig)
            ));
        }
    }
}

/// In a freshly forked child: default dispositions for every signal and an
/// empty mask, whatever tend inherited or installed. Async-signal-safe: only
/// rt_sigaction(2) and sigprocmask(2), no allocation.
///
/// The raw syscall, because glibc's sigaction refuses signals 32 and 33 (its
/// own); a parent may still have left them ignored, and an ignored signal
/// survives exec.
pub fn reset_for_child() {
    /// The kernel's `struct sigaction` on x86_64 and aarch64 (not glibc's).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: both calls are async-signal-safe; the pointers are to locals
    // that outlive the calls, and the size is that of the kernel's mask.
    unsafe {
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    std::mem::size_of::<u64>(),
                );
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caught_set_excludes_faults_and_includes_forwardables() {
        let set = caught();
        for s in NEVER_CAUGHT {
            assert!(!set.contains(&s), "{s} must not be caught");
        }
        for s in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGWINCH,
            libc::SIGCONT,
            libc::SIGCHLD,
            libc::SIGPWR,
            libc::SIGRTMIN() + 3,
            libc::SIGRTMAX(),
        ] {
            assert!(set.contains(&s), "{s} must be caught");
        }
        assert!(
            !set.contains(&32) && !set.contains(&33),
            "glibc-internal signals"
        );
    }
}
