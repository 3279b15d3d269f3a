//! Every signal tend handles is blocked and read from one signalfd(2),
//! which the loop polls and drains before acting: no handlers, no
//! self-pipe. Setting up is one rt_sigprocmask and one signalfd4, and a
//! signal costs one read (tini waits in sigtimedwait(2) the same way).
//!
//! Blocked signals are never discarded, not even for PID 1 with a default
//! disposition, so every signal tend may have to forward waits in the
//! signalfd. tend never blocks the synchronous fault signals (SEGV, BUS,
//! FPE, ILL, ABRT, TRAP, SYS): a fault in tend must end it, not hang it.
//! TTIN and TTOU are ignored so that tend can hand the terminal to its child
//! and take it back (tcsetpgrp(3)), and PIPE so that a closed stderr costs
//! tend nothing but EPIPE.
//!
//! Masks are raw kernel masks and the calls raw system calls: the C
//! library's sigset_t helpers refuse the signals it keeps for itself (32 and
//! 33 in glibc, 32 to 34 in musl), and tend must block those too.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// Signals tend must never block or handle.
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

/// Signals 32 and 33: glibc's own (thread cancellation, set*id). Blocked so
/// that nobody can kill tend with them, but never reported: forwarded to a
/// glibc program they would cancel its threads.
const LIBC_INTERNAL: [libc::c_int; 2] = [32, 33];

/// Every signal tend reports: the standard ones it may forward, SIGCHLD,
/// and the real-time range glibc programs use (SIGRTMIN = 34 to 64).
pub fn caught() -> Vec<libc::c_int> {
    (1..=crate::units::SIGRTMAX)
        .filter(|s| !NEVER_CAUGHT.contains(s) && !LIBC_INTERNAL.contains(s))
        .collect()
}

/// The kernel's sigset for `signals`.
fn mask_of(signals: impl IntoIterator<Item = libc::c_int>) -> u64 {
    signals
        .into_iter()
        .fold(0, |mask, sig| mask | 1u64 << (sig - 1))
}

/// The signalfd every caught signal is read from.
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    /// Ignores TTIN/TTOU/PIPE, blocks every caught signal and opens the
    /// signalfd, then unblocks the rest (tend may have been started with
    /// some blocked). A signal already pending is read at the first drain.
    pub fn install() -> std::io::Result<Signals> {
        for sig in [libc::SIGTTIN, libc::SIGTTOU, libc::SIGPIPE] {
            // SAFETY: SIG_IGN installs no code; nothing else owns these signals.
            unsafe { libc::signal(sig, libc::SIG_IGN) };
        }
        // An inherited SIG_IGN on SIGCHLD makes the kernel reap children
        // itself, and tend would never learn how its apps ended.
        // SAFETY: SIG_DFL installs no code.
        unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
        let mask = mask_of(caught().into_iter().chain(LIBC_INTERNAL));
        sigprocmask(libc::SIG_SETMASK, mask)?;
        // SAFETY: signalfd4 with a pointer to a live u64 and its size.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_signalfd4,
                -1,
                &mask as *const u64,
                std::mem::size_of::<u64>(),
                libc::SFD_NONBLOCK | libc::SFD_CLOEXEC,
            )
        };
        if fd == -1 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: signalfd4 returned a new fd that nothing else owns; fds
        // fit in an int.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        Ok(Signals { fd })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Signals received since the last drain, each number once, in the
    /// order they were first read. Reads at most `MAX_BATCHES` batches: what
    /// is left waits for the next turn of the loop, so a storm cannot keep
    /// the loop from its other work.
    ///
    /// Real-time signals queue one entry per signal, and the kernel's
    /// signalfd read walks that queue, so a storm of interleaved real-time
    /// numbers drains in quadratic time (seconds for 80,000). Each number is
    /// forwarded once per drain anyway, so once one is read its queued
    /// copies are discarded at once (setting SIG_IGN discards pending
    /// signals, even blocked ones; POSIX requires it).
    pub fn drain(&mut self) -> Vec<libc::c_int> {
        const BATCH: usize = 16;
        const MAX_BATCHES: usize = 8;
        // SAFETY: signalfd_siginfo is plain integers; all-zero is valid.
        let mut buf: [libc::signalfd_siginfo; BATCH] = unsafe { std::mem::zeroed() };
        let (mut seen, mut out) = (0u64, Vec::new());
        for _ in 0..MAX_BATCHES {
            // SAFETY: reading into a local buffer of the size given.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    std::mem::size_of_val(&buf),
                )
            };
            if n <= 0 {
                match Errno::last() {
                    Errno::EINTR if n < 0 => continue,
                    Errno::EAGAIN => {}
                    e if n < 0 => crate::log::warn(&format!("reading signals: {e}")),
                    _ => {}
                }
                return out;
            }
            let count = n as usize / std::mem::size_of::<libc::signalfd_siginfo>();
            for info in &buf[..count] {
                let sig = info.ssi_signo as libc::c_int;
                if !(1..=crate::units::SIGRTMAX).contains(&sig) {
                    continue;
                }
                let bit = mask_of([sig]);
                if seen & bit != 0 {
                    continue;
                }
                seen |= bit;
                if sig >= 32 {
                    discard_pending(sig);
                }
                if !LIBC_INTERNAL.contains(&sig) {
                    out.push(sig);
                }
            }
            if count < BATCH {
                break;
            }
        }
        out
    }
}

/// rt_sigprocmask(2) with a raw kernel mask.
fn sigprocmask(how: libc::c_int, mask: u64) -> std::io::Result<()> {
    // SAFETY: a pointer to a live u64 and its size; no old mask wanted.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            &mask as *const u64,
            std::ptr::null_mut::<u64>(),
            std::mem::size_of::<u64>(),
        )
    };
    if r == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
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
/// The raw syscall, because the C library's sigaction refuses the signals
/// it keeps for itself; a parent may still have left them ignored, and an
/// ignored signal survives exec.
pub fn reset_for_child() {
    for sig in 1..=crate::units::SIGRTMAX {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            set_disposition(sig, libc::SIG_DFL);
        }
    }
}

/// The kernel's `struct sigaction` on x86_64 and aarch64 (not glibc's).
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// rt_sigaction(2) to SIG_DFL or SIG_IGN, with the kernel's numbering.
/// Async-signal-safe.
fn set_disposition(sig: libc::c_int, handler: libc::sighandler_t) {
    let action = KernelSigaction {
        handler,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: the pointer is to a local that outlives the call, and the
    // size is that of the kernel's mask.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &action as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            std::mem::size_of::<u64>(),
        );
    }
}

/// Drops every queued copy of the blocked signal `sig` (never SIGCHLD:
/// ignoring it would make the kernel reap tend's children).
fn discard_pending(sig: libc::c_int) {
    set_disposition(sig, libc::SIG_IGN);
    set_disposition(sig, libc::SIG_DFL);
}

/// In a freshly forked child: blocks every signal until `child_unblock_all`.
pub fn child_block_all() {
    // Async-signal-safe: one system call. Nothing to report in a child.
    let _ = sigprocmask(libc::SIG_SETMASK, u64::MAX);
}

/// In a freshly forked child, last before exec: the empty signal mask.
pub fn child_unblock_all() {
    let _ = sigprocmask(libc::SIG_SETMASK, 0);
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
            37,
            64,
        ] {
            assert!(set.contains(&s), "{s} must be caught");
        }
        assert!(
            !set.contains(&32) && !set.contains(&33),
            "glibc-internal signals"
        );
    }

    #[test]
    fn masks_use_kernel_numbering() {
        assert_eq!(mask_of([1]), 1);
        assert_eq!(mask_of([libc::SIGTERM, 64]), 1 << 14 | 1 << 63);
    }
}
