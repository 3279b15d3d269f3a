//! Everything that happens to an app's lines once they pass through tend
//! (DESIGN.md "Logs"), in one owner: tend's stdout and stderr for `prefix`
//! and `json` lines, each instance's log file (`file`) or in-memory tail,
//! and the `tend logs` clients that read them. The supervisor hands it each
//! ready pipe and each event line about an app; the loop polls its sinks
//! and followers.
//!
//! - `stamp`: the UTC time on each line.
//! - `file`: one instance's file and its rotation.
//! - `tail`: recent lines, from memory or from the files, merged in time.
//! - `follow`: the `tend logs` clients.

mod file;
mod follow;
pub mod stamp;
mod tail;

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::config::{AppSpec, LogMode};
use crate::log::json_str;
use crate::output::{LineSink, Pipe, Sink};
use crate::poll_set::{Owner, PollSet};

use file::LogFile;
use follow::{Follower, MAX_FOLLOWERS};
use stamp::Stamp;
use tail::Tail;

/// What tend keeps of one instance's lines.
#[derive(Default)]
struct AppLog {
    file: Option<LogFile>,
    tail: Option<Tail>,
    keep: u32,
}

/// tend's side of every app's output.
pub struct Logs {
    dir: PathBuf,
    /// tend's stdout and stderr, made when an app first needs them.
    sinks: Option<[Sink; 2]>,
    /// By slot index.
    apps: Vec<AppLog>,
    followers: Vec<Follower>,
    /// Answers whose connection the control server is handing over.
    pending: Vec<(u64, Vec<usize>, bool, Vec<u8>)>,
    next_follower: u64,
    /// One JSON line being built, kept for its allocation.
    scratch: Vec<u8>,
}

impl Logs {
    /// File logs go to `dir`, else to the default directory.
    pub fn new(dir: Option<PathBuf>) -> Logs {
        Logs {
            dir: dir_or_default(dir),
            sinks: None,
            apps: Vec::new(),
            followers: Vec::new(),
            pending: Vec::new(),
            next_follower: 0,
            scratch: Vec::new(),
        }
    }

    /// A reload's `[tend] log_dir`: files open there from their next start.
    pub fn set_dir(&mut self, dir: Option<PathBuf>) {
        self.dir = dir_or_default(dir);
    }

    /// Whether an app's output goes through tend at all.
    pub fn through_tend(spec: &AppSpec) -> bool {
        spec.log != LogMode::Inherit
    }

    /// Before slot `i` starts with pipes: its file (opened now, a failure
    /// warned about) or tail, and tend's sinks.
    pub fn prepare(&mut self, i: usize, spec: &AppSpec) {
        if self.sinks.is_none() && matches!(spec.log, LogMode::Prefix | LogMode::Json) {
            self.sinks = Some([
                Sink::new(libc::STDOUT_FILENO),
                Sink::new(libc::STDERR_FILENO),
            ]);
        }
        if self.apps.len() <= i {
            self.apps.resize_with(i + 1, AppLog::default);
        }
        let dir = &self.dir;
        let log = &mut self.apps[i];
        log.keep = spec.log_keep;
        if !spec.log_file {
            log.file = None;
            log.tail.get_or_insert_with(Tail::default);
            return;
        }
        log.tail = None;
        let path = file::path_in(dir, &spec.name);
        match &mut log.file {
            Some(f) if f.path() == path => f.limits(spec.log_max_size, spec.log_keep),
            file => {
                *file = Some(LogFile::new(
                    &spec.name,
                    dir,
                    spec.log_max_size,
                    spec.log_keep,
                ))
            }
        }
    }

    /// The file an app writes to (from its next start), if it has one.
    pub fn path_for(&self, spec: &AppSpec) -> Option<PathBuf> {
        spec.log_file.then(|| file::path_in(&self.dir, &spec.name))
    }

    /// The sinks with lines waiting (to write) and the followers.
    pub fn poll_fds<'a>(&'a self, set: &mut PollSet<'a>) {
        for (stderr, sink) in [false, true].into_iter().zip(self.sinks.iter().flatten()) {
            if let Some(fd) = sink.poll_fd() {
                set.write(fd, Owner::Sink { stderr });
            }
        }
        for f in &self.followers {
            let (fd, writing) = f.poll_fd();
            set.read_or_write(fd, writing, Owner::Follower(f.id));
        }
    }

    /// May `pipe` of an app be read now: its stdout form has room.
    pub fn may_read(&self, spec: &AppSpec, pipe: &Pipe) -> bool {
        self.console(spec.log, pipe.to_stderr)
            .and_then(|k| self.sinks.as_ref().map(|s| !s[k].full()))
            .unwrap_or(true)
    }

    /// Which sink an app's stream goes to on tend's output.
    fn console(&self, mode: LogMode, stderr: bool) -> Option<usize> {
        match mode {
            LogMode::Prefix => Some(usize::from(stderr)),
            LogMode::Json => Some(0),
            LogMode::Inherit | LogMode::Quiet => None,
        }
    }

    /// Moves what slot `i`'s pipe holds to where its lines go; false once
    /// the pipe is closed and empty.
    pub fn pump(&mut self, i: usize, spec: &AppSpec, pipe: &mut Pipe) -> bool {
        let mut route = self.route(i, spec, pipe.to_stderr);
        pipe.pump(&mut route)
    }

    /// Like `pump`, at tend's exit: until the pipe is empty for now or
    /// closed, or `until`.
    pub fn pump_to_end(
        &mut self,
        i: usize,
        spec: &AppSpec,
        pipe: &mut Pipe,
        until: Instant,
    ) -> bool {
        let mut route = self.route(i, spec, pipe.to_stderr);
        pipe.pump_to_end(&mut route, until)
    }

    fn route<'a>(&'a mut self, i: usize, spec: &'a AppSpec, stderr: bool) -> Route<'a> {
        if self.apps.len() <= i {
            self.apps.resize_with(i + 1, AppLog::default);
        }
        let console = self.console(spec.log, stderr);
        let log = &mut self.apps[i];
        Route {
            spec,
            tag: if stderr { "err" } else { "out" },
            stamp: stamp::now(),
            sink: console.and_then(|k| self.sinks.as_mut().map(|s| &mut s[k])),
            file: log.file.as_mut(),
            tail: log.tail.as_mut(),
            followers: &mut self.followers,
            slot: i,
            scratch: &mut self.scratch,
        }
    }

    /// One of tend's own event lines about slot `i` (started, exited...),
    /// for its file or tail and its followers.
    pub fn tend_line(&mut self, i: usize, name: &str, msg: &str) {
        let Some(log) = self.apps.get_mut(i) else {
            return;
        };
        let stamp = stamp::now();
        if let Some(f) = &mut log.file {
            f.push(&stamp, "tend", msg.as_bytes());
            f.flush();
        }
        if let Some(t) = &mut log.tail {
            t.push(&stamp, "tend", msg.as_bytes());
        }
        to_followers(&mut self.followers, i, name, &stamp, "tend", msg.as_bytes());
    }

    /// tend's stdout or stderr is writable again.
    pub fn flush_sink(&mut self, stderr: bool) {
        if let Some(sinks) = &mut self.sinks {
            sinks[usize::from(stderr)].flush();
        }
    }

    /// Before tend exits: writes what waits, for `limit` at most.
    pub fn drain(&mut self, limit: Duration) {
        for sink in self.sinks.iter_mut().flatten() {
            sink.drain(limit);
        }
        for log in &mut self.apps {
            if let Some(f) = &mut log.file {
                f.flush();
            }
        }
    }

    /// The last `n` lines of each app of `wanted` (slot, instance name,
    /// app name), merged in time order, as `NAME | STAMP TAG line` lines.
    pub fn recent(&self, wanted: &[(usize, &str, &str)], n: usize) -> Vec<u8> {
        let mut all = Vec::new();
        let mut apps: Vec<&str> = wanted.iter().map(|w| w.2).collect();
        apps.dedup();
        for app in apps {
            let mut lines = Vec::new();
            for &(i, _, _) in wanted.iter().filter(|w| w.2 == app) {
                let Some(log) = self.apps.get(i) else {
                    continue;
                };
                let recent = match (&log.file, &log.tail) {
                    (Some(f), _) => tail::last_in_files(f.path(), log.keep, n),
                    (None, Some(t)) => t.last(n),
                    (None, None) => Vec::new(),
                };
                lines.extend(recent.into_iter().map(|l| (i, l)));
            }
            let lines = tail::merge(lines);
            all.extend(lines.into_iter().rev().take(n).rev());
        }
        let mut out = Vec::new();
        for (i, line) in tail::merge(all) {
            let name = wanted.iter().find(|w| w.0 == i).map_or("?", |w| w.1);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b" | ");
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
        out
    }

    /// Room for one more `tend logs` client.
    pub fn may_follow(&self) -> Result<(), String> {
        match self.followers.len() + self.pending.len() < MAX_FOLLOWERS {
            true => Ok(()),
            false => Err(format!(
                "{MAX_FOLLOWERS} tend logs clients already; try again when one ends"
            )),
        }
    }

    /// A `tend logs` request answered: `answer` (its first line and the
    /// recent lines) is kept until its connection comes (`adopt`), then
    /// written, followed with `follow` by the new lines of `slots`.
    pub fn expect_follower(&mut self, slots: Vec<usize>, follow: bool, answer: Vec<u8>) -> u64 {
        self.next_follower += 1;
        self.pending
            .push((self.next_follower, slots, follow, answer));
        self.next_follower
    }

    /// The connection of the request `token` answered.
    pub fn adopt(&mut self, token: u64, stream: UnixStream) {
        let Some(k) = self.pending.iter().position(|p| p.0 == token) else {
            return;
        };
        let (id, slots, follow, answer) = self.pending.swap_remove(k);
        self.followers
            .push(Follower::new(id, stream, slots, follow, answer));
        self.followers.retain(|f| !f.done());
    }

    /// A follower's socket is ready.
    pub fn on_follower(&mut self, id: u64) {
        if let Some(f) = self.followers.iter_mut().find(|f| f.id == id) {
            f.on_ready();
        }
        self.followers.retain(|f| !f.done());
    }
}

/// One read's lines of one pipe on their way.
struct Route<'a> {
    spec: &'a AppSpec,
    tag: &'static str,
    stamp: Stamp,
    sink: Option<&'a mut Sink>,
    file: Option<&'a mut LogFile>,
    tail: Option<&'a mut Tail>,
    followers: &'a mut Vec<Follower>,
    slot: usize,
    scratch: &'a mut Vec<u8>,
}

impl LineSink for Route<'_> {
    fn full(&self) -> bool {
        self.sink.as_ref().is_some_and(|s| s.full())
    }

    fn begin(&mut self) {
        self.stamp = stamp::now();
    }

    fn line(&mut self, line: &[u8]) {
        let name = self.spec.name.as_bytes();
        if let Some(sink) = &mut self.sink {
            match self.spec.log {
                LogMode::Json => {
                    json_line(self.scratch, &self.stamp, name, self.tag, line);
                    sink.push(&[self.scratch]);
                }
                _ if self.spec.log_timestamps => {
                    sink.push(&[name, b" | ", &self.stamp, b" ", line]);
                }
                _ => sink.push(&[name, b" | ", line]),
            }
        }
        if let Some(f) = &mut self.file {
            f.push(&self.stamp, self.tag, line);
        }
        if let Some(t) = &mut self.tail {
            t.push(&self.stamp, self.tag, line);
        }
        to_followers(
            self.followers,
            self.slot,
            &self.spec.name,
            &self.stamp,
            self.tag,
            line,
        );
    }

    fn end(&mut self) {
        if let Some(sink) = &mut self.sink {
            sink.flush();
        }
        if let Some(f) = &mut self.file {
            f.flush();
        }
        for f in self.followers.iter_mut().filter(|f| f.wants(self.slot)) {
            f.write();
        }
    }

    fn drain(&mut self, until: Instant) {
        if let Some(sink) = &mut self.sink {
            sink.drain(until.saturating_duration_since(Instant::now()));
        }
    }
}

fn to_followers(
    followers: &mut [Follower],
    i: usize,
    name: &str,
    stamp: &Stamp,
    tag: &str,
    line: &[u8],
) {
    for f in followers.iter_mut().filter(|f| f.wants(i)) {
        f.push(&[
            name.as_bytes(),
            b" | ",
            stamp,
            b" ",
            tag.as_bytes(),
            b" ",
            line,
        ]);
    }
}

/// `{"ts":"…","app":"web","stream":"stdout","msg":…}` into `out`: `msg` is
/// the line itself when it is a JSON object, else the line as a string.
fn json_line(out: &mut Vec<u8>, stamp: &Stamp, name: &[u8], tag: &str, line: &[u8]) {
    out.clear();
    out.extend_from_slice(b"{\"ts\":\"");
    out.extend_from_slice(stamp);
    out.extend_from_slice(b"\",\"app\":");
    json_str(out, name);
    out.extend_from_slice(match tag {
        "err" => b",\"stream\":\"stderr\",\"msg\":",
        _ => b",\"stream\":\"stdout\",\"msg\":",
    });
    let trimmed = line.trim_ascii();
    if trimmed.starts_with(b"{")
        && trimmed.ends_with(b"}")
        && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok()
    {
        out.extend_from_slice(trimmed);
    } else {
        json_str(out, line);
    }
    out.push(b'}');
}

/// `[tend] log_dir` when given, else `/var/log/tend` as root, else
/// `$XDG_STATE_HOME/tend`, else `~/.local/state/tend`.
pub fn dir_or_default(dir: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = dir {
        return dir;
    }
    // SAFETY: getuid has no memory effects.
    if unsafe { libc::getuid() } == 0 {
        return PathBuf::from("/var/log/tend");
    }
    let var = |k| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    match (var("XDG_STATE_HOME"), var("HOME")) {
        (Some(state), _) => state.join("tend"),
        (None, Some(home)) => home.join(".local/state/tend"),
        (None, None) => PathBuf::from("/tmp/tend-logs"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(line: &[u8], tag: &str) -> String {
        let mut out = Vec::new();
        json_line(&mut out, b"2026-12-02T19:00:00.123Z", b"web", tag, line);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn json_lines_embed_objects_and_quote_everything_else() {
        assert_eq!(
            json(b"hello \"you\"\t\x01", "out"),
            r#"{"ts":"2026-12-02T19:00:00.123Z","app":"web","stream":"stdout","msg":"hello \"you\"\t\u0001"}"#
        );
        assert_eq!(
            json(br#" {"level":"info","n":1} "#, "err"),
            r#"{"ts":"2026-12-02T19:00:00.123Z","app":"web","stream":"stderr","msg":{"level":"info","n":1}}"#
        );
        // Not an object, or not valid JSON: a string.
        assert!(json(b"[1,2]", "out").ends_with(r#""msg":"[1,2]"}"#));
        assert!(json(b"{oops}", "out").ends_with(r#""msg":"{oops}"}"#));
        assert!(json(b"caf\xc3\xa9 \xff", "out").ends_with("\"msg\":\"café \u{fffd}\"}"));
        for line in [b"{\"a\":\"}\"}".as_slice(), b"x\\y", b"\x7f"] {
            let v: serde_json::Value = serde_json::from_str(&json(line, "out")).unwrap();
            assert!(v.get("msg").is_some());
        }
    }

    #[test]
    fn recent_lines_merge_instances_and_cap_each_app() {
        let mut logs = Logs::new(Some(PathBuf::from("/nonexistent")));
        let mut spec = AppSpec::new("web.0", vec!["x".into()]);
        spec.app = "web".into();
        spec.log = LogMode::Prefix;
        logs.prepare(0, &spec);
        spec.name = "web.1".into();
        logs.prepare(1, &spec);
        let t = |ms: u32| stamp::format(1_796_238_000, ms);
        logs.apps[0].tail.as_mut().unwrap().push(&t(1), "out", b"a");
        logs.apps[1].tail.as_mut().unwrap().push(&t(2), "err", b"b");
        logs.apps[0]
            .tail
            .as_mut()
            .unwrap()
            .push(&t(3), "tend", b"c");
        let wanted = [(0, "web.0", "web"), (1, "web.1", "web")];
        let text = String::from_utf8(logs.recent(&wanted, 2)).unwrap();
        assert_eq!(
            text,
            "web.1 | 2026-12-02T19:00:00.002Z err b\nweb.0 | 2026-12-02T19:00:00.003Z tend c\n"
        );
    }
}
