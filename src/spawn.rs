//! Starting a child: everything (argv, the whole environment) is prepared
//! in the parent; between fork and exec the child only changes its session
//! or process group, takes the terminal's foreground when asked, resets
//! its signal state, switches ids, asks to die with tend when tend is not
//! PID 1 (PR_SET_PDEATHSIG), takes its sockets and points `environ` at its
//! environment (`ChildPlan`). No allocation, no logging there.
//!
//! std's `Command` forks and execs; in cgroup mode clone3 starts the child
//! inside its cgroup and `spawn_into` execs it the same way. Both return
//! only after the child has exec'd (exec errors come back through a
//! close-on-exec pipe), so once they return the child already leads its
//! own process group and signals can be sent to the whole group.

use std::ffi::CString;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

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

/// tend's own service-manager variables are for tend alone: an app that
/// speaks sd_notify talks to tend (when it has notify = true), never past it.
const HIDDEN: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

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
    if argv.is_empty() {
        return Err(error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty command",
        )));
    }
    if let Some(cwd) = launch.cwd {
        // Checked here so the error names the directory, not the command.
        if let Err(e) = std::fs::read_dir(cwd) {
            return Err(error(io::Error::new(
                e.kind(),
                format!("cwd {}: {e}", cwd.display()),
            )));
        }
    }
    // The whole environment is built here, for the child to point
    // `environ` at after the fork: LISTEN_PID must be the child's own pid,
    // known only there.
    let listen = (!launch.listen.is_empty()).then_some((launch.listen.len(), launch.listen_name));
    let env = ChildEnv::new(&HIDDEN, &launch.env, listen).map_err(error)?;
    let (envp, pid_at) = env.raw();
    // Taken before the fork: the child compares its parent with it.
    let tend_pid = std::process::id();
    let mut plan = ChildPlan {
        session: launch.session,
        creds: launch.creds.clone(),
        die_with_tend: launch.die_with_tend && tend_pid != 1,
        tend_pid,
        listen: launch.listen.clone(),
        envp,
        pid_at,
        join: None,
    };
    // The child moves its sockets onto fds 3, 4, ...: the pipe that brings
    // back an exec error (std's or spawn_into's) must not sit there, or it
    // would be overwritten and a failed exec would look like a quick exit.
    let _held = hold_low_fds(3 + launch.listen.len() as RawFd).map_err(error)?;
    let pid = match launch.cgroup {
        Some((dir, procs)) => match spawn_into(launch, &plan, dir) {
            Some(started) => started.map_err(error)?,
            None => {
                plan.join = Some(procs);
                spawn_forked(launch, plan).map_err(error)?
            }
        },
        None => spawn_forked(launch, plan).map_err(error)?,
    };
    drop(env);
    Ok(Pid::from_raw(pid as i32))
}

/// Starts `launch` with std's `Command` (fork, `plan` run before exec).
fn spawn_forked(launch: &Launch<'_>, plan: ChildPlan) -> io::Result<u32> {
    let (program, args) = launch
        .argv
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "empty command"))?;
    let mut command = Command::new(program);
    command.args(args);
    if let Some(cwd) = launch.cwd {
        command.current_dir(cwd);
    }
    if let Some((out, err)) = &launch.output {
        let dup = |fd: &OwnedFd| fd.try_clone().map(Stdio::from);
        command.stdout(dup(out)?).stderr(dup(err)?);
    }
    // SAFETY: `run` makes only async-signal-safe calls on data prepared
    // before the fork (see `ChildPlan::run`).
    unsafe { command.pre_exec(move || plan.run()) };
    // Dropping `Child` neither waits nor kills; the reaper collects it.
    Ok(command.spawn()?.id())
}

/// What a child does between fork and exec, prepared before the fork: it
/// changes its session or process group, takes the terminal's foreground
/// when asked, resets its signal state, joins its cgroup (where clone3 did
/// not start it there), switches ids, asks to die with tend, takes its
/// sockets and points `environ` at its environment.
struct ChildPlan {
    session: Session,
    creds: Option<Creds>,
    die_with_tend: bool,
    tend_pid: u32,
    listen: Vec<RawFd>,
    /// The environment's array for `environ`, and where LISTEN_PID's
    /// digits go (0: no sockets), as addresses (a closure run after fork
    /// must be Send).
    envp: usize,
    pid_at: usize,
    /// The cgroup.procs to join: set where clone3 could not start the
    /// child in its cgroup.
    join: Option<RawFd>,
}

impl ChildPlan {
    /// In the child, between fork and exec. Only async-signal-safe calls
    /// (sigprocmask, rt_sigaction, write, setsid, setpgid, tcsetpgrp,
    /// setgroups, setgid, setuid, prctl, getppid, getpid, _exit, fcntl,
    /// dup2) on data prepared before the fork; io::Error::last_os_error
    /// does not allocate.
    fn run(&self) -> io::Result<()> {
        // Block first: until exec, no handler of tend's may run here.
        signals::child_block_all();
        signals::reset_for_child();
        // Before the change of user, which could forbid it.
        if let Some(fd) = self.join {
            crate::cgroup::join(fd)?;
        }
        // SAFETY: plain syscalls with plain arguments.
        unsafe {
            match self.session {
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
            if let Some(c) = &self.creds
                && (libc::setgroups(c.groups.len(), c.groups.as_ptr()) == -1
                    || libc::setgid(c.gid) == -1
                    || libc::setuid(c.uid) == -1)
            {
                return Err(io::Error::last_os_error());
            }
            // After the id switch: a change of euid or egid clears the
            // parent-death signal (prctl(2)). It does not survive exec of
            // a set-user-ID or set-group-ID program either.
            if self.die_with_tend {
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
                if libc::getppid() as u32 != self.tend_pid {
                    libc::_exit(1);
                }
            }
            if self.pid_at != 0 {
                take_listen_fds(&self.listen)?;
                write_pid(self.pid_at, libc::getpid());
            }
            // The array and its strings live in the parent's memory,
            // copied into this child by fork. std leaves `environ` alone
            // when Command's environment is not touched.
            environ = self.envp as *const *const libc::c_char;
        }
        signals::child_unblock_all();
        Ok(())
    }
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

/// Starts `launch` inside the cgroup `dir` from its first instruction
/// (clone3 with CLONE_INTO_CGROUP, as systemd does), then execs it as
/// `Command::spawn` would: output, directory, `plan`, execvp, its errors
/// coming back the same way (errno through a close-on-exec pipe). The
/// child allocates nothing: a raw clone leaves the C library's per-thread
/// data as the parent's. None where the kernel cannot (before 5.7): the
/// child then joins between fork and exec.
fn spawn_into(launch: &Launch<'_>, plan: &ChildPlan, dir: RawFd) -> Option<io::Result<u32>> {
    if NO_CLONE_INTO_CGROUP.load(Ordering::Relaxed) {
        return None;
    }
    let nul = |_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the command");
    let mut argv = Vec::with_capacity(launch.argv.len());
    for arg in launch.argv {
        match CString::new(arg.as_encoded_bytes()) {
            Ok(a) => argv.push(a),
            Err(e) => return Some(Err(nul(e))),
        }
    }
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let cwd = match launch
        .cwd
        .map(|c| CString::new(c.as_os_str().as_encoded_bytes()))
    {
        Some(Err(e)) => return Some(Err(nul(e))),
        Some(Ok(c)) => Some(c),
        None => None,
    };
    let output = launch
        .output
        .as_ref()
        .map(|(out, err)| (out.as_raw_fd(), err.as_raw_fd()));
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
            let e = exec_child(plan, &argv_ptrs, cwd.as_deref(), output);
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

/// The complete environment of a child, prepared before the fork; for a
/// child that gets sockets only the digits of LISTEN_PID are written after
/// it.
struct ChildEnv {
    vars: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
    /// Where LISTEN_PID's digits go, inside one of `vars`; null: no sockets.
    pid_at: *mut u8,
}

impl ChildEnv {
    /// tend's environment without `hidden`, with `env` over it, and with
    /// `listen`, the socket activation variables for `n` sockets named
    /// `name`.
    fn new(
        hidden: &[&str],
        env: &[(String, String)],
        listen: Option<(usize, &str)>,
    ) -> io::Result<ChildEnv> {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = std::env::vars_os()
            .map(|(k, v)| (k.into_vec(), v.into_vec()))
            .filter(|(k, _)| !hidden.iter().any(|h| h.as_bytes() == k.as_slice()))
            .collect();
        let (count, names) = match listen {
            Some((n, name)) => (n.to_string(), vec![name; n].join(":")),
            None => (String::new(), String::new()),
        };
        let activation = [
            ("LISTEN_FDS", count.as_str()),
            ("LISTEN_FDNAMES", names.as_str()),
        ];
        let activation = activation.into_iter().filter(|_| listen.is_some());
        let ours = env.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        for (k, v) in ours.chain(activation) {
            pairs.retain(|(old, _)| old.as_slice() != k.as_bytes());
            pairs.push((k.as_bytes().to_vec(), v.as_bytes().to_vec()));
        }
        if listen.is_some() {
            pairs.retain(|(k, _)| k.as_slice() != b"LISTEN_PID");
        }
        let invalid =
            |_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in the environment");
        let mut vars = Vec::with_capacity(pairs.len() + 1);
        for (mut k, v) in pairs {
            k.push(b'=');
            k.extend_from_slice(&v);
            vars.push(CString::new(k).map_err(invalid)?);
        }
        let mut pid_at = std::ptr::null_mut();
        if listen.is_some() {
            let mut pid = b"LISTEN_PID=".to_vec();
            pid.resize(pid.len() + PID_DIGITS - 1, b'0');
            vars.push(CString::new(pid).map_err(invalid)?);
            let last = vars.len() - 1;
            pid_at = vars[last]
                .as_ptr()
                .cast_mut()
                .cast::<u8>()
                .wrapping_add("LISTEN_PID=".len());
        }
        let mut ptrs: Vec<*const libc::c_char> = vars.iter().map(|v| v.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(ChildEnv { vars, ptrs, pid_at })
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

/// In a child of clone3: what `Command::spawn` does before exec (output
/// onto fds 1 and 2, the directory), then `plan`, then execvp. Returns
/// only on failure.
fn exec_child(
    plan: &ChildPlan,
    argv: &[*const libc::c_char],
    cwd: Option<&std::ffi::CStr>,
    output: Option<(RawFd, RawFd)>,
) -> io::Error {
    // SAFETY: dup2, chdir and execvp on fds and strings made before the
    // clone; dup2 clears close-on-exec on fds 1 and 2.
    unsafe {
        if let Some((out, err)) = output
            && (libc::dup2(out, 1) == -1 || libc::dup2(err, 2) == -1)
        {
            return io::Error::last_os_error();
        }
        if let Some(dir) = cwd
            && libc::chdir(dir.as_ptr()) == -1
        {
            return io::Error::last_os_error();
        }
        if let Err(e) = plan.run() {
            return e;
        }
        libc::execvp(argv[0], argv.as_ptr());
    }
    io::Error::last_os_error()
}

/// Fills every free fd below `below` with /dev/null (close-on-exec) until
/// the spawn returns, so that the fds it opens meanwhile land above.
fn hold_low_fds(below: RawFd) -> io::Result<Vec<OwnedFd>> {
    let mut held = Vec::new();
    // 0, 1 and 2 are always open: without sockets there is nothing to do.
    if below <= 3 {
        return Ok(held);
    }
    loop {
        let fd = OwnedFd::from(std::fs::File::open("/dev/null")?);
        if fd.as_raw_fd() >= below {
            return Ok(held);
        }
        held.push(fd);
    }
}
