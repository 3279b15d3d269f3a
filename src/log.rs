//! tend's own event lines on stderr, stable and greppable:
//! `tend[PID] LEVEL: message` or `tend[PID] LEVEL app=NAME: message`.
//!
//! With `log_format = "json"`, one object per line instead, with the stable
//! fields `ts` (Unix seconds), `level`, `pid`, `app`, `event` and `msg`.
//!
//! Lines are written whole, so lines from tend never interleave mid-way
//! with each other; write errors are ignored (a closed stderr must not stop
//! PID 1). While the supervisor loop runs, lines queue in a bounded sink
//! written without blocking (`nonblocking`), which the loop flushes when
//! stderr can take more: a stuck reader of tend's stderr must not stall
//! tend. When the queue is full, lines are dropped and counted, and the
//! count is reported once stderr drains.

use std::io::Write;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::output::Sink;

/// tend's stderr as a non-blocking sink, while the supervisor loop runs.
struct Queued {
    sink: Sink,
    dropped: u64,
}

static QUEUED: Mutex<Option<Queued>> = Mutex::new(None);

fn queued() -> MutexGuard<'static, Option<Queued>> {
    // One thread: a poisoned lock only means an earlier panic in a test.
    QUEUED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// From now on, event lines queue and are written without blocking.
pub fn nonblocking() {
    *queued() = Some(Queued {
        sink: Sink::new(2),
        dropped: 0,
    });
}

/// Back to direct writes, after trying for at most `limit` to write what
/// is queued (tend is about to exit or power off).
pub fn blocking(limit: Duration) {
    if let Some(mut q) = queued().take() {
        q.sink.drain(limit);
    }
}

/// The fd to poll for POLLOUT while lines wait. It stays open until
/// `blocking`.
pub fn poll_fd() -> Option<RawFd> {
    use std::os::fd::AsRawFd;
    queued()
        .as_ref()
        .and_then(|q| q.sink.poll_fd().map(|fd| fd.as_raw_fd()))
}

/// Writes what is queued, as far as stderr takes it without blocking.
pub fn flush() {
    if let Some(q) = queued().as_mut() {
        q.sink.flush();
        report_dropped(q);
    }
}

fn report_dropped(q: &mut Queued) {
    if q.dropped > 0 && !q.sink.full() {
        let note = format_line(
            Level::Warn,
            None,
            &format!("{} log lines dropped: nobody read stderr", q.dropped),
        );
        q.dropped = 0;
        q.sink.push_line(b"", note.trim_end().as_bytes());
    }
}

/// Writes one whole line (ending in a newline) to stderr.
fn write_line(line: &str) {
    let mut guard = queued();
    match guard.as_mut() {
        Some(q) if q.sink.full() => q.dropped += 1,
        Some(q) => {
            report_dropped(q);
            q.sink
                .push_line(b"", line.trim_end_matches('\n').as_bytes());
        }
        None => {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// How important an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn lower(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

static PID: AtomicU32 = AtomicU32::new(0);
static JSON: AtomicBool = AtomicBool::new(false);

/// Switches every later line to JSON (true) or text (false).
pub fn set_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

/// Caches tend's pid for the prefix; call once at start-up.
pub fn init() {
    PID.store(std::process::id(), Ordering::Relaxed);
}

/// Builds one event line (without writing it).
pub fn format_line(level: Level, app: Option<&str>, msg: &str) -> String {
    format_event(level, app, "", msg, JSON.load(Ordering::Relaxed))
}

fn format_event(level: Level, app: Option<&str>, event: &str, msg: &str, json: bool) -> String {
    let pid = PID.load(Ordering::Relaxed);
    if json {
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let mut line = format!(
            "{{\"ts\":{}.{:03},\"level\":\"{}\",\"pid\":{pid}",
            ts.as_secs(),
            ts.subsec_millis(),
            level.lower()
        );
        if let Some(app) = app {
            line.push_str(",\"app\":");
            push_json_str(&mut line, app);
        }
        if !event.is_empty() {
            line.push_str(",\"event\":");
            push_json_str(&mut line, event);
        }
        line.push_str(",\"msg\":");
        push_json_str(&mut line, msg);
        line.push_str("}\n");
        return line;
    }
    match app {
        Some(app) => format!("tend[{pid}] {} app={app}: {msg}\n", level.as_str()),
        None => format!("tend[{pid}] {}: {msg}\n", level.as_str()),
    }
}

/// Appends `text` as a JSON string literal.
fn push_json_str(out: &mut String, text: &str) {
    let mut quoted = Vec::with_capacity(text.len() + 2);
    json_str(&mut quoted, text.as_bytes());
    out.push_str(&String::from_utf8_lossy(&quoted));
}

/// `text` as a JSON string; bytes that are not UTF-8 become U+FFFD.
pub fn json_str(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    for chunk in text.utf8_chunks() {
        for &b in chunk.valid().as_bytes() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0..0x20 | 0x7f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[usize::from(b >> 4)]);
                    out.push(HEX[usize::from(b & 15)]);
                }
                _ => out.push(b),
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}

/// One event of an app: `event` is a stable name (started, exited, ...).
pub fn event(level: Level, app: &str, event: &str, msg: &str) {
    let line = format_event(level, Some(app), event, msg, JSON.load(Ordering::Relaxed));
    write_line(&line);
}

/// Writes one event line to stderr.
pub fn log(level: Level, app: Option<&str>, msg: &str) {
    let line = format_line(level, app, msg);
    write_line(&line);
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
        let line = format_event(Level::Info, Some("web"), "started", "say \"hi\"\n", true);
        assert!(line.starts_with("{\"ts\":"), "{line}");
        assert!(
            line.ends_with(",\"level\":\"info\",\"pid\":0,\"app\":\"web\",\"event\":\"started\",\"msg\":\"say \\\"hi\\\"\\n\"}\n")
                || line.contains("\"app\":\"web\",\"event\":\"started\",\"msg\":\"say \\\"hi\\\"\\n\"}"),
            "{line}"
        );
    }
}
