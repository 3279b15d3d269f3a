//! Every signal tend handles arrives through one self-pipe (signal-hook's
//! `SignalDelivery`), which the loop polls and drains before acting.
//!
//! PID 1 gets no default action for any signal, so tend registers a handler
//! for every catchable one it may have to forward. It never catches the
//! synchronous fault signals (SEGV, BUS, FPE, ILL, ABRT, TRAP, SYS): a fault
//! in tend must not loop in a handler. TTIN and TTOU are ignored so that tend
//! can hand the terminal to its child and take it back (tcsetpgrp(3)), and
//! PIPE so that a closed stderr costs tend nothing but EPIPE.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::Pid;
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

/// Signals tend must never install a handler for.
const NEVER_CAUGHT: [libc::c_int; 12] = [
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
    // tend's own writes to a closed stdout or stderr raise SIGPIPE in tend;
    // forwarded, it would kill every app. Kept ignored: writes get EPIPE.
    libc::SIGPIPE,
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
    /// Ignores TTIN/TTOU/PIPE, routes every caught signal into the pipe, then
    /// unblocks every signal (tend may have been started with some blocked).
    pub fn install() -> std::io::Result<Signals> {
        for sig in [libc::SIGTTIN, libc::SIGTTOU, libc::SIGPIPE] {
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

/// In a freshly forked child: default dispositions for every signal,
/// whatever tend inherited or installed. Async-signal-safe: only
/// rt_sigaction(2), no allocation. Call with every signal blocked.
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
    // SAFETY: async-signal-safe; the pointer is to a local that outlives
    // the call, and the size is that of the kernel's mask.
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
    }
}

/// Sets the calling thread's signal mask to `how` every signal.
fn child_mask(block: bool) {
    // SAFETY: async-signal-safe calls on a local set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        if block {
            libc::sigfillset(&mut set);
        } else {
            libc::sigemptyset(&mut set);
        }
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// In a freshly forked child: blocks every signal until `child_unblock_all`.
pub fn child_block_all() {
    child_mask(true);
}

/// In a freshly forked child, last before exec: the empty signal mask.
pub fn child_unblock_all() {
    child_mask(false);
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
