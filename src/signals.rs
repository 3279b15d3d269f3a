//! Every signal tend can catch is blocked and read from one signalfd(2),
//! which the loop polls and drains before acting: no handlers, no
//! self-pipe. Setting up is one rt_sigprocmask and one signalfd4, and a
//! signal costs one read (tini waits in sigtimedwait(2) the same way).
//!
//! Blocked signals are never discarded, not even for PID 1 with a default
//! disposition, so every signal tend may have to forward waits in the
//! signalfd. That includes the fault signals (SEGV, BUS, FPE, ILL, ABRT,
//! TRAP, SYS), PIPE, TTIN and TTOU, because the kernel tells apart what
//! another process sent from what it raised for tend itself:
//! - a real fault in tend still ends it, at once: the kernel forces a
//!   fault's signal (force_sig_info_to_task: a blocked one is unblocked and
//!   reset to its default action, which then kills tend, also as PID 1, with
//!   no handler of tend's ever running). Only one sent with kill(2),
//!   sigqueue(3) or tgkill(2) (si_code SI_USER, SI_QUEUE, SI_TKILL, from
//!   another process) waits here, and it is forwarded like any other;
//! - tend's own write to a closed pipe raises a PIPE that comes from tend
//!   itself (SI_USER, si_pid tend's own): dropped, the write gets EPIPE;
//! - a blocked TTIN or TTOU counts as ignored for the terminal's checks, so
//!   tend can hand the terminal to its child and take it back
//!   (tcsetpgrp(3)) without being stopped.
//!
//! Masks are raw kernel masks and the calls raw system calls: the C
//! library's sigset_t helpers refuse the signals it keeps for itself (32 and
//! 33 in glibc, 32 to 34 in musl), and tend must block those too.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::procfs::{self, Proc};

/// Signals no process can block or handle.
const UNCATCHABLE: [libc::c_int; 2] = [libc::SIGKILL, libc::SIGSTOP];

/// The synchronous fault signals: the kernel raises them in tend for a
/// fault of its own, which must end tend as it would any program.
const FAULTS: [libc::c_int; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// Signals 32 and 33: glibc's own (thread cancellation, set*id). Blocked so
/// that nobody can kill tend with them, but never reported: forwarded to a
/// glibc program they would cancel its threads.
const LIBC_INTERNAL: [libc::c_int; 2] = [32, 33];

/// Every signal tend reports: the standard ones it may forward, SIGCHLD,
/// and the real-time range glibc programs use (SIGRTMIN = 34 to 64).
pub fn caught() -> Vec<libc::c_int> {
    (1..=crate::units::SIGRTMAX)
        .filter(|s| !UNCATCHABLE.contains(s) && !LIBC_INTERNAL.contains(s))
        .collect()
}

/// What tend does with one signal read from the signalfd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Act on it: forward it, shut down, reload, reap.
    Report,
    /// Nothing to do: a PIPE raised by tend's own write to a closed pipe
    /// (the write has returned EPIPE), or a TTIN or TTOU that concerns
    /// tend's own group (see `verdict`).
    Drop,
    /// A fault signal the kernel raised in tend without forcing it, or
    /// that tend sent itself: its default action, as if tend had never
    /// blocked it.
    Die,
}

/// Decides about signal `sig` whose siginfo says `code` (si_code) and
/// `sender` (si_pid, 0 when the sender is outside tend's PID namespace);
/// `own` is tend's pid. Only fault signals, PIPE, TTIN and TTOU depend on
/// who sent them: the others are reported whatever their origin (a WINCH
/// or an INT from the terminal comes from the kernel, and is the user's).
/// `terminal_ours` is asked only for TTIN and TTOU, which are forwarded
/// only while tend does not hold the terminal's foreground: then its child
/// holds it, or there is no terminal to speak of.
fn verdict(
    sig: libc::c_int,
    code: i32,
    sender: u32,
    own: u32,
    terminal_ours: impl Fn() -> bool,
) -> Verdict {
    let sent = matches!(code, libc::SI_USER | libc::SI_QUEUE | libc::SI_TKILL) && sender != own;
    match sig {
        _ if FAULTS.contains(&sig) => match sent {
            true => Verdict::Report,
            false => Verdict::Die,
        },
        libc::SIGPIPE if !sent => Verdict::Drop,
        libc::SIGTTIN | libc::SIGTTOU if !sent || terminal_ours() => Verdict::Drop,
        _ => Verdict::Report,
    }
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
    /// Blocks every catchable signal and opens the signalfd. A signal
    /// already pending is read at the first drain.
    pub fn install() -> std::io::Result<Signals> {
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
        let own = std::process::id();
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
                match verdict(sig, info.ssi_code, info.ssi_pid, own, || {
                    crate::spawn::terminal_is_ours()
                }) {
                    Verdict::Report => {}
                    Verdict::Drop => continue,
                    Verdict::Die => {
                        // Back here only as a PID 1 that the default
                        // action spares: nothing to forward.
                        die_of(sig, info.ssi_code);
                        continue;
                    }
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

/// Sends `sig` to one process seen in a snapshot, through a pidfd so that a
/// recycled pid is never hit: the pidfd pins the process, and its start time
/// proves it is the one the snapshot saw.
pub fn signal_process(p: Proc, sig: libc::c_int) {
    signal_member(p.pid, sig, |pid| {
        procfs::read_stat(pid).is_some_and(|now| now.start_time == p.start_time)
    });
}

/// Whether SIGCONT follows `sig` in a stop, as systemd does: a stopped
/// process acts on the stop signal only once continued. Not after a
/// stop-type signal: SIGCONT discards a pending one.
pub fn then_cont(sig: libc::c_int) -> bool {
    !matches!(
        sig,
        libc::SIGKILL
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU
    )
}

/// Sends `sig` to `pid` through a pidfd once `member(pid)` says it is one
/// of a run's (read after the pidfd pins the process: a pid recycled
/// before that fails the check, one recycled after it is not hit).
pub fn signal_member(pid: i32, sig: libc::c_int, member: impl Fn(i32) -> bool) {
    // SAFETY: pidfd_open takes plain integers and returns a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as libc::c_int;
    if fd < 0 {
        if Errno::last() == Errno::ENOSYS && member(pid) {
            // SAFETY: kill(2) with plain integers.
            unsafe { libc::kill(pid, sig) };
        }
        return;
    }
    if member(pid) {
        // SAFETY: fd is a valid pidfd; a null siginfo is allowed.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
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

/// Ends tend by fault signal `sig`, which the kernel raised (si_code
/// `code`) without forcing it, or tend sent itself: unblocked with its
/// default action and sent again, it kills tend as it would have had tend
/// never blocked it. Returns only where that default action spares tend,
/// as it spares a PID 1 (signal(7)): then tend goes on, as it would have.
fn die_of(sig: libc::c_int, code: i32) {
    let name = crate::units::signal_name(sig);
    crate::log::error(&format!(
        "{name} raised in tend itself (si_code {code}): ending with its default action"
    ));
    set_disposition(sig, libc::SIG_DFL);
    // SAFETY: kill(2) with plain integers; the signal waits, blocked.
    unsafe { libc::kill(libc::getpid(), sig) };
    // Delivered as the mask call returns, if it is to be at all.
    if let Err(e) = sigprocmask(libc::SIG_UNBLOCK, mask_of([sig])) {
        crate::log::error(&format!("unblocking {name}: {e}"));
    }
    if let Err(e) = sigprocmask(libc::SIG_BLOCK, mask_of([sig])) {
        crate::log::error(&format!("blocking {name} again: {e}"));
    }
    crate::log::warn(&format!("{name} ignored: tend is PID 1"));
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
    fn every_catchable_signal_is_caught_but_libc_internal_ones() {
        let set = caught();
        for s in UNCATCHABLE {
            assert!(!set.contains(&s), "{s} cannot be caught");
        }
        for s in FAULTS.into_iter().chain([
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGUSR1,
            libc::SIGWINCH,
            libc::SIGCONT,
            libc::SIGCHLD,
            libc::SIGPWR,
            libc::SIGPIPE,
            libc::SIGTTIN,
            libc::SIGTTOU,
            37,
            64,
        ]) {
            assert!(set.contains(&s), "{s} must be caught");
        }
        assert!(
            !set.contains(&32) && !set.contains(&33),
            "glibc-internal signals"
        );
    }

    #[test]
    fn who_sent_a_signal_decides_about_faults_pipe_and_terminal_stops() {
        use Verdict::{Die, Drop, Report};
        const OWN: u32 = 40;
        const OTHER: u32 = 7;
        // A sender in an ancestor PID namespace: si_pid 0.
        const OUTSIDE: u32 = 0;
        // si_code of a fault: SEGV_MAPERR, ILL_ILLOPC, FPE_INTDIV, BUS_ADRALN,
        // TRAP_BRKPT and SYS_SECCOMP are all 1.
        const FAULT: i32 = 1;
        const BUS_MCEERR_AO: i32 = 5;
        let mut cases = vec![];
        for sig in FAULTS {
            cases.extend([
                (sig, libc::SI_USER, OTHER, false, Report),
                (sig, libc::SI_QUEUE, OTHER, false, Report),
                (sig, libc::SI_TKILL, OTHER, false, Report),
                (sig, libc::SI_USER, OUTSIDE, false, Report),
                (sig, FAULT, OUTSIDE, false, Die),
                (sig, libc::SI_KERNEL, OUTSIDE, false, Die),
                // tend's own raise(3), abort(3), kill(getpid()).
                (sig, libc::SI_TKILL, OWN, false, Die),
                (sig, libc::SI_USER, OWN, false, Die),
            ]);
        }
        cases.extend([
            (libc::SIGBUS, BUS_MCEERR_AO, OUTSIDE, false, Die),
            // tend's write to a closed pipe: the kernel sends it as tend.
            (libc::SIGPIPE, libc::SI_USER, OWN, false, Drop),
            (libc::SIGPIPE, libc::SI_USER, OTHER, false, Report),
            (libc::SIGPIPE, libc::SI_QUEUE, OUTSIDE, false, Report),
            (libc::SIGPIPE, libc::SI_TKILL, OTHER, true, Report),
            (libc::SIGTTIN, libc::SI_USER, OTHER, false, Report),
            (libc::SIGTTOU, libc::SI_TKILL, OUTSIDE, false, Report),
            (libc::SIGTTIN, libc::SI_USER, OTHER, true, Drop),
            (libc::SIGTTOU, libc::SI_QUEUE, OTHER, true, Drop),
            // The terminal stopping a background group tend is in.
            (libc::SIGTTOU, libc::SI_KERNEL, OUTSIDE, false, Drop),
            (libc::SIGTTIN, libc::SI_KERNEL, OUTSIDE, true, Drop),
            // Whoever sends the others, they are the user's.
            (libc::SIGINT, libc::SI_KERNEL, OUTSIDE, true, Report),
            (libc::SIGWINCH, libc::SI_KERNEL, OUTSIDE, false, Report),
            (libc::SIGHUP, libc::SI_KERNEL, OUTSIDE, false, Report),
            (libc::SIGTERM, libc::SI_USER, OTHER, false, Report),
            (libc::SIGCHLD, libc::CLD_EXITED, OTHER, false, Report),
            (37, libc::SI_QUEUE, OUTSIDE, false, Report),
        ]);
        for (sig, code, sender, ours, want) in cases {
            let terminal_stop = sig == libc::SIGTTIN || sig == libc::SIGTTOU;
            let got = verdict(sig, code, sender, OWN, || {
                assert!(terminal_stop, "terminal asked about signal {sig}");
                ours
            });
            assert_eq!(
                got, want,
                "signal {sig}, si_code {code}, si_pid {sender}, terminal ours: {ours}"
            );
        }
    }

    #[test]
    fn masks_use_kernel_numbering() {
        assert_eq!(mask_of([1]), 1);
        assert_eq!(mask_of([libc::SIGTERM, 64]), 1 << 14 | 1 << 63);
    }

    /// Set for a run of `fault_after_install` in a process of its own.
    const FAULT_VAR: &str = "TEND_UNIT_TEST_FAULT";

    /// A fault the kernel raises in tend still kills it, by that signal,
    /// although every fault signal is blocked: the kernel forces it. Each
    /// fault runs in a new process of this test binary, which installs
    /// tend's signals and then faults; also as PID 1 of a PID namespace,
    /// where a signal's default action kills only when the kernel forces it.
    #[test]
    fn a_fault_in_tend_still_kills_it() {
        use std::os::unix::process::ExitStatusExt;
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().unwrap();
        let mut faults = vec![("segv", libc::SIGSEGV), ("bus", libc::SIGBUS)];
        if cfg!(target_arch = "x86_64") {
            faults.extend([
                ("ill", libc::SIGILL),
                ("trap", libc::SIGTRAP),
                ("fpe", libc::SIGFPE),
            ]);
        }
        faults.push(("abort", libc::SIGABRT));
        let pid1 = ["", "-r"].into_iter().find_map(|user| {
            let mut args = vec!["--pid", "--fork", "--mount-proc"];
            args.extend((!user.is_empty()).then_some(user));
            let ok = Command::new("unshare")
                .args(&args)
                .arg("true")
                .status()
                .is_ok_and(|s| s.success());
            ok.then_some(args)
        });
        if pid1.is_none() {
            eprintln!("as PID 1: skipped, unshare --pid cannot run here");
        }
        for (what, sig) in faults {
            let run = |prefix: &[&str]| {
                let mut cmd = match prefix.split_first() {
                    None => Command::new(&exe),
                    Some(_) => {
                        let mut c = Command::new("unshare");
                        c.args(prefix).arg(&exe);
                        c
                    }
                };
                cmd.args(["--exact", "signals::tests::fault_after_install"])
                    .args(["--test-threads=1", "--nocapture"])
                    .env(FAULT_VAR, what)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap()
            };
            let status = run(&[]);
            assert_eq!(status.signal(), Some(sig), "{what}: {status:?}");
            if let Some(prefix) = &pid1 {
                // unshare dies of its child's signal, or exits 128+N.
                let status = run(prefix);
                let died_of = status.signal().or(status.code().map(|c| c - 128)).unwrap();
                // abort(3) as PID 1: its SIGABRT is spared (not forced), then
                // musl crashes on purpose (a forced SEGV); as without tend's mask.
                let want = match sig {
                    libc::SIGABRT => &[libc::SIGABRT, libc::SIGSEGV][..],
                    _ => &[sig],
                };
                assert!(want.contains(&died_of), "{what} as PID 1: {status:?}");
            }
        }
    }

    /// Run by `a_fault_in_tend_still_kills_it` in a process of its own
    /// with `FAULT_VAR` set; passes at once otherwise.
    #[test]
    fn fault_after_install() {
        let Ok(what) = std::env::var(FAULT_VAR) else {
            return;
        };
        let _signals = Signals::install().unwrap();
        fault(&what);
        panic!("survived a fault: {what}");
    }

    /// Does on purpose what the kernel answers with a fault signal.
    fn fault(what: &str) {
        let page = |prot, flags, fd| {
            // SAFETY: a new mapping of one page; nothing else uses it.
            let p = unsafe { libc::mmap(std::ptr::null_mut(), 4096, prot, flags, fd, 0) };
            assert_ne!(p, libc::MAP_FAILED);
            p.cast::<u8>()
        };
        match what {
            "segv" => {
                let p = page(libc::PROT_NONE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1);
                // SAFETY: the page is mapped; reading it faults (PROT_NONE).
                unsafe { std::ptr::read_volatile(p) };
            }
            "bus" => {
                use std::os::fd::AsRawFd;
                let path = std::env::temp_dir().join(format!("tend-bus-{}", std::process::id()));
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .unwrap();
                let p = page(libc::PROT_READ, libc::MAP_SHARED, file.as_raw_fd());
                std::fs::remove_file(&path).unwrap();
                // SAFETY: the page is mapped; the file is empty, so reading
                // it faults (SIGBUS, mmap(2)).
                unsafe { std::ptr::read_volatile(p) };
            }
            "abort" => std::process::abort(),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: each instruction traps; nothing runs after it.
            "ill" => unsafe { std::arch::asm!("ud2") },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            "trap" => unsafe { std::arch::asm!("int3") },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above: a division by zero.
            "fpe" => unsafe {
                std::arch::asm!(
                    "div {zero:e}",
                    zero = in(reg) 0u32,
                    inout("eax") 1u32 => _,
                    inout("edx") 0u32 => _,
                )
            },
            other => panic!("unknown fault {other}"),
        }
    }
}
