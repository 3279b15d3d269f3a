//! Starting a child: everything (argv, env) is prepared in the parent by
//! std's `Command`; between fork and exec the child only changes its session
//! or process group, takes the terminal's foreground when asked, resets
//! its signal state, switches ids and, when tend is not PID 1, asks to die
//! with tend (PR_SET_PDEATHSIG). No allocation, no logging there.
//!
//! `Command::spawn` returns only after the child has exec'd (std reports exec
//! errors through a close-on-exec pipe), so once it returns the child already
//! leads its own process group and signals can be sent to the whole group.

use std::ffi::CString;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::unistd::Pid;

use crate::ids::Creds;
use crate::signals;

/// Where the child's process group lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// A new session (setsid): the child has no controlling terminal.
    New,
    /// A new process group in tend's session that becomes the terminal's
    /// foreground group, so Ctrl-C, Ctrl-Z and job control reach it.
    Foreground,
}

/// Why a command could not be started.
#[derive(Debug)]
pub struct SpawnError {
    pub command: String,
    pub source: io::Error,
}

impl SpawnError {
    /// What a shell exits with for this failure: 127 not found, 126 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self.source.kind() {
            io::ErrorKind::NotFound => 127,
            _ => 126,
        }
    }
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot start {:?}: {}", self.command, self.source)
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Everything needed to start one process, prepared before the fork.
#[derive(Debug)]
pub struct Launch<'a> {
    pub argv: &'a [OsString],
    /// Variables added to (or replacing those of) tend's environment.
    pub env: Vec<(String, String)>,
    pub cwd: Option<&'a Path>,
    pub creds: Option<Creds>,
    pub session: Session,
    /// Pipes for stdout and stderr (prefixed logs); None: inherit tend's.
    pub output: Option<(OwnedFd, OwnedFd)>,
    /// SIGKILL the child when tend dies, if tend is not PID 1: an app's
    /// main process must not outlive a tend killed with SIGKILL, running
    /// unsupervised and holding its port (DESIGN "Operating"). As PID 1
    /// of a namespace tend's death takes the namespace down anyway.
    pub die_with_tend: bool,
    /// Listening sockets to hand over as fds 3, 4, ... with LISTEN_FDS,
    /// LISTEN_PID and LISTEN_FDNAMES (this name for each).
    pub listen: Vec<RawFd>,
    pub listen_name: &'a str,
    /// cgroup mode: the run's cgroup, as its directory and its
    /// cgroup.procs (see `spawn`).
    pub cgroup: Option<(RawFd, RawFd)>,
}

impl<'a> Launch<'a> {
    /// `argv` with tend's environment, directory and ids.
    pub fn new(argv: &'a [OsString], session: Session) -> Launch<'a> {
        Launch {
            argv,
            env: Vec::new(),
            cwd: None,
            creds: None,
            session,
            output: None,
            die_with_tend: false,
            listen: Vec::new(),
            listen_name: "",
            cgroup: None,
        }
    }
}

/// Starts a process with inherited stdio in its own group; returns its pid.
pub fn spawn(launch: &Launch<'_>) -> Result<Pid, SpawnError> {
    let argv = launch.argv;
    let error = |source| SpawnError {
        command: argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source,
    };
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| error(io::Error::new(io::ErrorKind::InvalidInput, "empty command")))?;
    let mut command = Command::new(program);
    command.args(args);
    // tend's own service-manager variables are for tend alone: an app that
    // speaks sd_notify talks to tend (when it has notify = true), never past it.
    let hidden = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];
    // With sockets the environment is built here, for the child to point
    // `environ` at after the fork (std then leaves it alone): LISTEN_PID
    // must be the child's own pid, known only there.
    let mut listen_env = None;
    if launch.listen.is_empty() {
        for var in hidden {
            command.env_remove(var);
        }
        command.envs(launch.env.iter().map(|(k, v)| (k, v)));
    } else {
        let env = ListenEnv::new(
            &hidden,
            &launch.env,
            launch.listen.len(),
            launch.listen_name,
        )
        .map_err(error)?;
        listen_env = Some(env);
    }
    let listen_ptrs = listen_env.as_ref().map(ListenEnv::raw);
    let listen_fds = launch.listen.clone();
    if let Some(cwd) = launch.cwd {
        // Checked here so the error names the directory, not the command.
        if let Err(e) = std::fs::read_dir(cwd) {
            return Err(error(io::Error::new(
                e.kind(),
                format!("cwd {}: {e}", cwd.display()),
            )));
        }
        command.current_dir(cwd);
    }
    if let Some((out, err)) = &launch.output {
        let dup = |fd: &OwnedFd| fd.try_clone().map(Stdio::from).map_err(error);
        command.stdout(dup(out)?).stderr(dup(err)?);
    }
    let session = launch.session;
    let creds = launch.creds.clone();
    // Taken before the fork: the child compares its parent with it.
    let tend_pid = std::process::id();
    // The cgroup.procs the child writes itself into, where clone3 cannot
    // start it in its cgroup; -1: nothing to join.
    let join = Arc::new(AtomicI32::new(-1));
    let join_in_child = Arc::clone(&join);
    let die_with_tend = launch.die_with_tend && tend_pid != 1;
    // SAFETY: the closure runs between fork and exec and only makes
    // async-signal-safe calls (setsid, setpgid, tcsetpgrp, setgroups,
    // setgid, setuid, prctl, getppid, _exit, signal, sigprocmask) on data
    // prepared before the fork; io::Error::last_os_error does not allocate.
    unsafe {
        command.pre_exec(move || {
            // Block first: until exec, no handler of tend's may run here.
            signals::child_block_all();
            signals::reset_for_child();
            // First: after a change of user it could be forbidden.
            let fd = join_in_child.load(Ordering::Relaxed);
            if fd >= 0 {
                crate::cgroup::join(fd)?;
            }
            match session {
                Session::New => {
                    if libc::setsid() == -1 {
                        return Err(io::Error::last_os_error());
                    }
                }
                Session::Foreground => {
                    if libc::setpgid(0, 0) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                    // SIGTTOU is blocked here, so a background group may
                    // take the foreground (tcsetpgrp(3)). A failure only
                    // costs job control, not the start.
                    libc::tcsetpgrp(libc::STDIN_FILENO, libc::getpid());
                }
            }
            if let Some(c) = &creds
                && (libc::setgroups(c.groups.len(), c.groups.as_ptr()) == -1
                    || libc::setgid(c.gid) == -1
                    || libc::setuid(c.uid) == -1)
            {
                return Err(io::Error::last_os_error());
            }
            // After the id switch: a change of euid or egid clears the
            // parent-death signal (prctl(2)). It does not survive exec of
            // a set-user-ID or set-group-ID program either.
            if die_with_tend {
                if libc::prctl(
                    libc::PR_SET_PDEATHSIG,
                    libc::SIGKILL as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                    0 as libc::c_ulong,
                ) == -1
                {
                    return Err(io::Error::last_os_error());
                }
                // tend may have died between fork and prctl, and then the
                // signal never comes: the child is someone else's already.
                if libc::getppid() as u32 != tend_pid {
                    libc::_exit(1);
                }
            }
            if let Some((envp, pid_digits)) = listen_ptrs {
                take_listen_fds(&listen_fds)?;
                write_pid(pid_digits, libc::getpid());
                // SAFETY (of the caller's block): envp and its strings live
                // in the parent's memory, copied into this child by fork.
                environ = envp as *const *const libc::c_char;
            }
            signals::child_unblock_all();
            Ok(())
        });
    }
    let pid = match launch.cgroup {
        Some((dir, procs)) => match spawn_into(&mut command, dir) {
            Some(started) => started.map_err(error)?,
            None => {
                join.store(procs, Ordering::Relaxed);
                command.spawn().map_err(error)?.id()
            }
        },
        // Dropping `Child` neither waits nor kills; the reaper collects it.
        None => command.spawn().map_err(error)?.id(),
    };
    drop(listen_env);
    Ok(Pid::from_raw(pid as i32))
}

/// clone3(2)'s arguments, up to `cgroup` (Linux 5.7).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Set once clone3 has said it cannot start children in a cgroup.
static NO_CLONE_INTO_CGROUP: AtomicBool = AtomicBool::new(false);

/// Starts `command` inside the cgroup `dir` from its first instruction
/// (clone3 with CLONE_INTO_CGROUP, as systemd does), then execs it as
/// `Command::spawn` would, its errors coming back the same way (errno
/// through a close-on-exec pipe). None where the kernel cannot (before
/// 5.7): the child then joins between fork and exec.
fn spawn_into(command: &mut Command, dir: RawFd) -> Option<io::Result<u32>> {
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return None;
    }
    let mut ends = [0 as RawFd; 2];
    // SAFETY: pipe2 fills the two fds, which are then ours.
    if unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Some(Err(io::Error::last_os_error()));
    }
    // SAFETY: fresh fds nobody else owns.
    let (reported, report) =
        unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: dir as u64,
        ..CloneArgs::default()
    };
    // SAFETY: clone3 without CLONE_VM and without a stack is fork(2) into
    // a cgroup. tend is single-threaded, so the child's copy of memory
    // holds no lock another thread took; it only execs (or reports why it
    // could not) and exits, never returning into tend.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match pid {
        -1 => {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // No clone3 (ENOSYS), or one that knows no `cgroup` (E2BIG)
                // or no CLONE_INTO_CGROUP (EINVAL).
                Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL) => {
                    NO_CLONE_INTO_CGROUP.store(true, Ordering::Relaxed);
                    None
                }
                // A seccomp profile that refuses clone3 (older container
                // runtimes): the write between fork and exec says whether
                // the cgroup itself is the problem.
                Some(libc::EPERM) => None,
                _ => Some(Err(e)),
            }
        }
        0 => {
            let e = command.exec();
            let code = e.raw_os_error().unwrap_or(libc::EINVAL).to_ne_bytes();
            // SAFETY: in the child: write(2) to the pipe, then _exit(2)
            // without running anything of tend's.
            unsafe {
                libc::write(report.as_raw_fd(), code.as_ptr().cast(), code.len());
                libc::_exit(127)
            }
        }
        pid => {
            drop(report);
            let mut code = [0u8; 4];
            let mut got = 0;
            while got < code.len() {
                match nix::unistd::read(&reported, &mut code[got..]) {
                    Ok(0) => break,
                    Ok(n) => got += n,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => break,
                }
            }
            if got < code.len() {
                // Exec'd: the pipe closed with nothing in it.
                return Some(Ok(pid as u32));
            }
            // It exits at once: reaped here, its status means nothing.
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid as i32), None);
            Some(Err(io::Error::from_raw_os_error(i32::from_ne_bytes(code))))
        }
    }
}

/// The session to use: `Foreground` when stdin is a terminal whose
/// foreground group is tend's own (so handing it over steals from no one).
pub fn session_for_stdin() -> Session {
    let stdin = std::io::stdin();
    match nix::unistd::tcgetpgrp(&stdin) {
        Ok(fg) if fg == nix::unistd::getpgrp() => Session::Foreground,
        _ => Session::New,
    }
}

/// True when tend's group holds the terminal's foreground (after `fg`).
pub fn terminal_is_ours() -> bool {
    let stdin = std::io::stdin();
    nix::unistd::tcgetpgrp(&stdin).is_ok_and(|fg| fg == nix::unistd::getpgrp())
}

/// Hands the terminal's foreground to the child's group.
pub fn give_terminal(child: Pid) {
    let stdin = std::io::stdin();
    let _ = nix::unistd::tcsetpgrp(&stdin, child);
}

/// Gives the terminal's foreground back to tend's group after the child that
/// held it has ended or stopped; errors only mean there is no terminal.
pub fn reclaim_terminal() {
    let stdin = std::io::stdin();
    let _ = nix::unistd::tcsetpgrp(&stdin, nix::unistd::getpgrp());
}

unsafe extern "C" {
    /// The C library's environment, which execvp passes on.
    static mut environ: *const *const libc::c_char;
}

/// Room for a pid's digits after `LISTEN_PID=`, NUL included.
const PID_DIGITS: usize = 12;

/// The complete environment of a child that gets sockets, prepared before
/// the fork; only the digits of LISTEN_PID are written after it.
struct ListenEnv {
    vars: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
    /// Where LISTEN_PID's digits go, inside one of `vars`.
    pid_at: *mut u8,
}

impl ListenEnv {
    /// tend's environment without `hidden`, with `env` over it, and the
    /// socket activation variables for `n` sockets named `name`.
    fn new(
        hidden: &[&str],
        env: &[(String, String)],
        n: usize,
        name: &str,
    ) -> io::Result<ListenEnv> {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = std::env::vars_os()
            .map(|(k, v)| (k.into_vec(), v.into_vec()))
            .filter(|(k, _)| !hidden.iter().any(|h| h.as_bytes() == k.as_slice()))
            .collect();
        let (count, names) = (n.to_string(), vec![name; n].join(":"));
        let activation = [
            ("LISTEN_FDS", count.as_str()),
            ("LISTEN_FDNAMES", names.as_str()),
        ];
        let ours = env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in ours.chain(activation) {
            pairs.retain(|(old, _)| old.as_slice() != k.as_bytes());
            pairs.push((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        pairs.retain(|(k, _)| k.as_slice() != b"LISTEN_PID");
        let invalid =
            |_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the environment");
        let mut vars = Vec::with_capacity(pairs.len() + 1);
        for (mut k, v) in pairs {
            k.push(b'=');
            k.extend_from_slice(&v);
            vars.push(CString::new(k).map_err(invalid)?);
        }
        let mut pid = b"LISTEN_PID=".to_vec();
        pid.resize(pid.len() + PID_DIGITS - 1, b'0');
        vars.push(CString::new(pid).map_err(invalid)?);
        let last = vars.len() - 1;
        let pid_at = vars[last]
            .as_ptr()
            .cast_mut()
            .cast::<u8>()
            .wrapping_add("LISTEN_PID=".len());
        let mut ptrs: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(ListenEnv { vars, ptrs, pid_at })
    }

    /// What the child needs, as addresses (a closure run after fork must
    /// be Send): the array for `environ` and the digits' place.
    fn raw(&self) -> (usize, usize) {
        let _ = &self.vars;
        (self.ptrs.as_ptr() as usize, self.pid_at as usize)
    }
}

/// In the child: the pid's digits at `at`, NUL-terminated. No allocation.
fn write_pid(at: usize, pid: libc::pid_t) {
    let mut digits = [0u8; PID_DIGITS];
    let mut n = pid.max(0) as u32;
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 || len == PID_DIGITS - 1 {
            break;
        }
    }
    let at = at as *mut u8;
    for k in 0..len {
        // SAFETY: `at` points at PID_DIGITS writable bytes of a CString this
        // process owns (its copy of the parent's, after fork).
        unsafe { *at.add(k) = digits[len - 1 - k] };
    }
    // SAFETY: as above; len < PID_DIGITS.
    unsafe { *at.add(len) = 0 };
}

/// In the child: the sockets `fds` become 3, 4, ... without close-on-exec.
/// First moved above the range, so that no source is overwritten before
/// it is copied (and dup2 onto itself would keep close-on-exec).
fn take_listen_fds(fds: &[RawFd]) -> io::Result<()> {
    let top = 3 + fds.len() as RawFd;
    let mut high = [0 as RawFd; 64];
    if fds.len() > high.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "more than 64 sockets",
        ));
    }
    for (k, &fd) in fds.iter().enumerate() {
        // SAFETY: fcntl/dup2 on fds inherited from tend.
        let h = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, top) };
        if h < 0 {
            return Err(io::Error::last_os_error());
        }
        high[k] = h;
    }
    for (k, &h) in high[..fds.len()].iter().enumerate() {
        // SAFETY: as above; dup2 clears close-on-exec on the new fd.
        if unsafe { libc::dup2(h, 3 + k as RawFd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
