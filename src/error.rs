//! The errors that end tend before or instead of its loop, and the exit code
//! each maps to (DESIGN.md, "Exit codes of tend"). Once the loop runs,
//! errors are logged and retried, never returned.

use std::io;
use std::path::PathBuf;

use crate::config::Problems;
use crate::spawn::SpawnError;

/// A failure that ends tend.
#[derive(Debug)]
pub enum Error {
    /// Bad command line: exit 2.
    Usage(String),
    /// No config file named, and none found where tend looks: exit 2.
    /// `synopsis`: tend was run with no arguments at all, and shows its
    /// commands after the message (tini and dumb-init print their usage).
    NoConfig { synopsis: bool },
    /// Bad config file, every problem in it: exit 2.
    Config(Problems),
    /// `tend import`: the ecosystem file cannot be read, evaluated or
    /// mapped (node missing included): exit 2, as for a config error.
    Import(String),
    /// A client command failed (no tend running, refused, bad name): exit 1.
    Ctl(String),
    /// A set-up step failed (the signalfd, ...): exit 1.
    Setup { op: &'static str, source: io::Error },
    /// Wrapper mode could not start its command: 127 or 126.
    Spawn(SpawnError),
    /// A tend that is not PID 1 found its control socket held by a live
    /// tend (`pid` when known): exit 2, before anything is started.
    SocketHeld { path: PathBuf, pid: Option<u32> },
}

impl Error {
    /// The exit code DESIGN.md gives for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_)
            | Error::NoConfig { .. }
            | Error::Config(_)
            | Error::Import(_)
            | Error::SocketHeld { .. } => 2,
            Error::Setup { .. } | Error::Ctl(_) => 1,
            Error::Spawn(e) => e.exit_code(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(msg) => f.write_str(msg),
            Error::NoConfig { .. } => f.write_str(
                "no config file: none given with -c or TEND_CONFIG, and neither ./init.toml \
                 nor /etc/tend/init.toml exists (to run one command: tend -- CMD)",
            ),
            Error::Config(p) => p.fmt(f),
            Error::Ctl(msg) | Error::Import(msg) => f.write_str(msg),
            Error::Setup { op, source } => write!(f, "{op}: {source}"),
            Error::Spawn(e) => e.fmt(f),
            Error::SocketHeld { path, pid } => {
                write!(f, "control socket {}: another tend", path.display())?;
                if let Some(pid) = pid {
                    write!(f, " (pid {pid})")?;
                }
                write!(
                    f,
                    " is listening on it; stop that one, or give this one a socket \
                     of its own with --socket PATH"
                )
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Usage(_)
            | Error::NoConfig { .. }
            | Error::Config(_)
            | Error::Ctl(_)
            | Error::Import(_)
            | Error::SocketHeld { .. } => None,
            Error::Setup { source, .. } => Some(source),
            Error::Spawn(e) => Some(&e.source),
        }
    }
}
