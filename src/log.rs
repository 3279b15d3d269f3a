//! tend's own event lines on stderr, stable and greppable:
//! `tend[PID] LEVEL: message` or `tend[PID] LEVEL app=NAME: message`.
//!
//! One `write(2)` per line, so lines from tend never interleave mid-way with
//! each other; write errors are ignored (a closed stderr must not stop PID 1).

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};

/// How important an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

static PID: AtomicU32 = AtomicU32::new(0);

/// Caches tend's pid for the prefix; call once at start-up.
pub fn init() {
    PID.store(std::process::id(), Ordering::Relaxed);
}

/// Builds one event line (without writing it), for tests and for `write_line`.
pub fn format_line(level: Level, app: Option<&str>, msg: &str) -> String {
    let pid = PID.load(Ordering::Relaxed);
    match app {
        Some(app) => format!("tend[{pid}] {} app={app}: {msg}\n", level.as_str()),
        None => format!("tend[{pid}] {}: {msg}\n", level.as_str()),
    }
}

/// Writes one event line to stderr.
pub fn log(level: Level, app: Option<&str>, msg: &str) {
    let line = format_line(level, app, msg);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// An informational event.
pub fn info(msg: &str) {
    log(Level::Info, None, msg);
}

/// Something went wrong but tend goes on.
pub fn warn(msg: &str) {
    log(Level::Warn, None, msg);
}

/// Something failed.
pub fn error(msg: &str) {
    log(Level::Error, None, msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shape() {
        let line = format_line(Level::Warn, Some("web.0"), "exited with code 3");
        assert!(line.starts_with("tend["), "{line}");
        assert!(
            line.ends_with("] WARN app=web.0: exited with code 3\n"),
            "{line}"
        );
        let line = format_line(Level::Error, None, "boom");
        assert!(line.ends_with("] ERROR: boom\n"), "{line}");
    }
}
