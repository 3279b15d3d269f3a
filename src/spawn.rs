//! Starting a child: everything (argv, env) is prepared in the parent by
//! std's `Command`; between fork and exec the child only changes its session
//! or process group, takes the terminal's foreground when asked, resets
//! its signal state, switches ids and, when tend is not PID 1, asks to die
//! with tend (PR_SET_PDEATHSIG). No allocation, no logging there.
//!
//! `Command::spawn` returns only after the child has exec'd (std reports exec
//! errors through a close-on-exec pipe), so once it returns the child already
//! leads its own process group and signals can be sent to the whole group.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

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
    for var in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"] {
        command.env_remove(var);
    }
    command.envs(launch.env.iter().map(|(k, v)| (k, v)));
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
            signals::child_unblock_all();
            Ok(())
        });
    }
    let child = command.spawn().map_err(error)?;
    // Dropping `Child` neither waits nor kills; the reaper collects it.
    Ok(Pid::from_raw(child.id() as i32))
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
