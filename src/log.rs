//! tend's own event lines on stderr, stable and greppable:
//! `tend[PID] LEVEL: message` or `tend[PID] LEVEL app=NAME: message`.
//!
//! With `log_format = "json"`, one object per line instead, with the stable
//! fields `ts` (Unix seconds), `level`, `pid`, `app`, `event` and `msg`.
//!
//! One `write(2)` per line, so lines from tend never interleave mid-way with
//! each other; write errors are ignored (a closed stderr must not stop PID 1).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

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
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// One event of an app: `event` is a stable name (started, exited, ...).
pub fn event(level: Level, app: &str, event: &str, msg: &str) {
    let line = format_event(level, Some(app), event, msg, JSON.load(Ordering::Relaxed));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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
        let line = format_event(Level::Info, Some("web"), "started", "say \"hi\"\n", true);
        assert!(line.starts_with("{\"ts\":"), "{line}");
        assert!(
            line.ends_with(",\"level\":\"info\",\"pid\":0,\"app\":\"web\",\"event\":\"started\",\"msg\":\"say \\\"hi\\\"\\n\"}\n")
                || line.contains("\"app\":\"web\",\"event\":\"started\",\"msg\":\"say \\\"hi\\\"\\n\"}"),
            "{line}"
        );
    }
}
