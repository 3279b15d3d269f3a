//! The control protocol, both directions and nothing else: a client sends
//! one JSON object on one line (`{"cmd":"stop","name":"web"}`), tend
//! answers one JSON object on one line (`{"ok":true,...}` or
//! `{"ok":false,"error":"..."}`), one request per connection. Pure: no
//! sockets here. Every rejected request says what is wrong with it, and
//! whatever `parse_request` accepts round-trips through `request_line`.

use std::time::Duration;

use serde_json::{Value, json};

/// Longest request accepted, newline included.
pub const MAX_REQUEST: usize = 4096;
/// How long a client has to send its request and read the answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Status,
    Start(String),
    Stop(String),
    Restart(String),
    Reload,
    Poweroff,
    Reboot,
    /// `tend status NAME...`: the status of those apps only (never empty).
    StatusOf(Vec<String>),
    /// `tend signal SIGNAL NAME...|all`: `signal` to each named instance's
    /// main process, or with `tree` to its whole tree.
    Signal {
        names: Vec<String>,
        signal: libc::c_int,
        tree: bool,
    },
    /// `tend describe NAME`: definition, counters, last exits.
    Describe(String),
    /// `tend logs [-n N] [-f] [NAME...]`: the last `lines` lines of the
    /// named apps (none: every app whose lines pass through tend), then
    /// with `follow` new ones until the client hangs up.
    Logs {
        names: Vec<String>,
        lines: u64,
        follow: bool,
    },
}

/// The first key a request object gives twice, if any: a JSON map keeps
/// only the last of duplicate keys, so they are looked for on their own.
struct Duplicate;

impl<'de> serde::de::Visitor<'de> for Duplicate {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<serde::de::IgnoredAny>()?;
            if seen.contains(&key) {
                return Ok(Some(key));
            }
            seen.push(key);
        }
        Ok(None)
    }
}

/// The fields of a request object, typed by hand so that every error names
/// the field (serde's derive would also take a JSON array for the struct).
struct RawRequest {
    cmd: String,
    name: Option<String>,
    /// `status` and `signal`: several apps.
    names: Option<Vec<String>>,
    /// `signal`: a name (`SIGUSR2`) or number, as `units::parse_signal` reads it.
    signal: Option<String>,
    /// `signal`: the whole tree instead of the main process.
    tree: Option<bool>,
    /// `logs`: how many lines, and whether to follow.
    lines: Option<u64>,
    follow: Option<bool>,
}

/// Parses one request line: `{"cmd":"status"}`, `{"cmd":"stop","name":"web"}`.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| format!("invalid request: {e}"))?;
    let Value::Object(fields) = value else {
        return Err(format!(
            "invalid request: expected a JSON object like {{\"cmd\":\"status\"}}, got {}",
            kind_of(&value)
        ));
    };
    let mut raw = RawRequest {
        cmd: String::new(),
        name: None,
        names: None,
        signal: None,
        tree: None,
        lines: None,
        follow: None,
    };
    let mut cmd = None;
    for (key, v) in fields {
        let wrong = |want: &str, v: &Value| {
            format!(
                "invalid request: \"{key}\" must be {want}, got {}",
                kind_of(v)
            )
        };
        match (key.as_str(), v) {
            ("cmd", Value::String(text)) => cmd = Some(text),
            ("name", Value::String(text)) => raw.name = Some(text),
            ("name", Value::Null) => raw.name = None,
            ("signal", Value::String(text)) => raw.signal = Some(text),
            ("tree", Value::Bool(b)) => raw.tree = Some(b),
            ("follow", Value::Bool(b)) => raw.follow = Some(b),
            ("lines", Value::Number(n)) if n.as_u64().is_some() => raw.lines = n.as_u64(),
            ("names", Value::Array(items)) => {
                let mut names = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        Value::String(text) => names.push(text),
                        other => return Err(wrong("an array of strings", &other)),
                    }
                }
                raw.names = Some(names);
            }
            ("cmd" | "name" | "signal", other) => return Err(wrong("a string", &other)),
            ("tree" | "follow", other) => return Err(wrong("a boolean", &other)),
            ("lines", other) => return Err(wrong("a whole number", &other)),
            ("names", other) => return Err(wrong("an array of strings", &other)),
            _ => {
                return Err(format!(
                    "invalid request: unknown field {key:?} (expected \"cmd\", \"name\", \"names\", \"signal\", \"tree\", \"lines\" and \"follow\")"
                ));
            }
        }
    }
    raw.cmd = cmd.ok_or("invalid request: missing field \"cmd\"")?;
    let mut de = serde_json::Deserializer::from_slice(line);
    if let Ok(Some(key)) = serde::Deserializer::deserialize_map(&mut de, Duplicate) {
        return Err(format!("invalid request: duplicate field `{key}`"));
    }
    let name = || {
        raw.name
            .clone()
            .ok_or_else(|| format!("{} needs \"name\"", raw.cmd))
    };
    let no_name = |r: Request| match &raw.name {
        Some(_) => Err(format!("{} takes no \"name\"", raw.cmd)),
        None => Ok(r),
    };
    // Fields only some commands take.
    let takes = |field: &str, given: bool, cmds: &[&str]| match given
        && !cmds.contains(&raw.cmd.as_str())
    {
        true => Err(format!("{} takes no \"{field}\"", raw.cmd)),
        false => Ok(()),
    };
    takes("names", raw.names.is_some(), &["status", "signal", "logs"])?;
    takes("lines", raw.lines.is_some(), &["logs"])?;
    takes("follow", raw.follow.is_some(), &["logs"])?;
    takes("signal", raw.signal.is_some(), &["signal"])?;
    takes("tree", raw.tree.is_some(), &["signal"])?;
    match raw.cmd.as_str() {
        "status" => match raw.names.clone() {
            Some(names) if !names.is_empty() => no_name(Request::StatusOf(names)),
            _ => no_name(Request::Status),
        },
        "describe" => Ok(Request::Describe(name()?)),
        "signal" => {
            let names = match raw.names.clone() {
                Some(names) if !names.is_empty() => names,
                _ => return Err("signal needs \"names\"".into()),
            };
            let text = raw.signal.as_deref().ok_or("signal needs \"signal\"")?;
            let signal = crate::units::parse_signal(text)?;
            no_name(Request::Signal {
                names,
                signal,
                tree: raw.tree.unwrap_or(false),
            })
        }

        "logs" => no_name(Request::Logs {
            names: raw.names.clone().unwrap_or_default(),
            lines: raw.lines.unwrap_or(50),
            follow: raw.follow.unwrap_or(false),
        }),
        "reload" => no_name(Request::Reload),
        "poweroff" => no_name(Request::Poweroff),
        "reboot" => no_name(Request::Reboot),
        "start" => Ok(Request::Start(name()?)),
        "stop" => Ok(Request::Stop(name()?)),
        "restart" => Ok(Request::Restart(name()?)),
        other => Err(format!(
            "unknown command {other:?} (expected status, start, stop, restart, signal, describe, logs, reload, poweroff or reboot)"
        )),
    }
}

/// A JSON value's kind and, for scalars, the value: `a number (7)`.
fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// The request line a client sends.
pub fn request_line(req: &Request) -> String {
    let v = match req {
        Request::Status => json!({"cmd": "status"}),
        Request::Reload => json!({"cmd": "reload"}),
        Request::Poweroff => json!({"cmd": "poweroff"}),
        Request::Reboot => json!({"cmd": "reboot"}),
        Request::Start(n) => json!({"cmd": "start", "name": n}),
        Request::Stop(n) => json!({"cmd": "stop", "name": n}),
        Request::Restart(n) => json!({"cmd": "restart", "name": n}),
        Request::StatusOf(names) => json!({"cmd": "status", "names": names}),
        Request::Describe(n) => json!({"cmd": "describe", "name": n}),
        Request::Signal {
            names,
            signal,
            tree,
        } => json!({
            "cmd": "signal",
            "names": names,
            "signal": crate::units::signal_name(*signal),
            "tree": tree,
        }),
        Request::Logs {
            names,
            lines,
            follow,
        } => json!({"cmd": "logs", "names": names, "lines": lines, "follow": follow}),
    };
    format!("{v}\n")
}

/// What the supervisor answers a request with.
#[derive(Debug)]
pub enum Reply {
    /// One response line; the connection ends once it is written.
    Line(Value),
    /// The connection goes, unanswered, to whoever waits for it under this
    /// token (`tend logs`: the log followers).
    HandOff(u64),
}

/// An error response.
pub fn error(msg: &str) -> Value {
    json!({"ok": false, "error": msg})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip() {
        for req in [
            Request::Status,
            Request::Reload,
            Request::Start("web".into()),
            Request::Stop("web.1".into()),
            Request::Restart("db".into()),
            Request::Poweroff,
            Request::Reboot,
            Request::StatusOf(vec!["web".into(), "db.1".into()]),
            Request::Describe("web.1".into()),
            Request::Logs {
                names: vec!["web".into()],
                lines: 7,
                follow: true,
            },
            Request::Logs {
                names: Vec::new(),
                lines: 50,
                follow: false,
            },
            Request::Signal {
                names: vec!["all".into()],
                signal: libc::SIGUSR2,
                tree: false,
            },
            Request::Signal {
                names: vec!["web".into()],
                signal: crate::units::SIGRTMIN + 3,
                tree: true,
            },
        ] {
            let line = request_line(&req);
            assert_eq!(parse_request(line.trim_end().as_bytes()), Ok(req));
        }
    }

    #[test]
    fn bad_requests_say_why() {
        let cases: [(&[u8], &str); 16] = [
            (b"{\"cmd\":\"describe\"}", "describe needs \"name\""),
            (
                b"{\"cmd\":\"signal\",\"names\":[\"web\"]}",
                "signal needs \"signal\"",
            ),
            (
                b"{\"cmd\":\"signal\",\"signal\":\"USR1\"}",
                "signal needs \"names\"",
            ),
            (
                b"{\"cmd\":\"signal\",\"signal\":\"NOPE\",\"names\":[\"web\"]}",
                "invalid signal \"NOPE\"",
            ),
            (
                b"{\"cmd\":\"stop\",\"name\":\"a\",\"tree\":true}",
                "stop takes no \"tree\"",
            ),
            (
                b"{\"cmd\":\"status\",\"names\":[1]}",
                "\"names\" must be an array of strings",
            ),
            (
                b"{\"cmd\":\"signal\",\"names\":[\"a\"],\"signal\":\"HUP\",\"name\":\"a\"}",
                "signal takes no \"name\"",
            ),
            (b"", "invalid request"),
            (b"not json", "invalid request"),
            (b"{\"cmd\":\"explode\"}", "unknown command \"explode\""),
            (b"{\"cmd\":\"stop\"}", "stop needs \"name\""),
            (
                b"{\"cmd\":\"status\",\"name\":\"x\"}",
                "status takes no \"name\"",
            ),
            (
                b"{\"cmd\":\"status\",\"extra\":1}",
                "unknown field \"extra\"",
            ),
            (b"{\"cmd\":5}", "\"cmd\" must be a string, got a number (5)"),
            (b"[\"stop\",\"db\"]", "expected a JSON object"),
            (b"{\"name\":\"db\"}", "missing field \"cmd\""),
        ];
        for (line, want) in cases {
            let err = parse_request(line).unwrap_err();
            assert!(
                err.contains(want),
                "{:?}: {err}",
                String::from_utf8_lossy(line)
            );
        }
    }

    /// Fuzz target: random bytes and mutated requests never panic, every
    /// rejection says why, and what is accepted round-trips through the
    /// client's own encoding.
    #[test]
    fn fuzz_requests() {
        let seeds: [&[u8]; 6] = [
            b"{\"cmd\":\"signal\",\"names\":[\"web\",\"all\"],\"signal\":\"USR2\",\"tree\":true}",
            b"{\"cmd\":\"stop\",\"name\":\"web\"}",
            b"{\"cmd\":\"status\"}",
            b"{}",
            b"{\"cmd\":\"restart\",\"name\":\"web.1\",\"x\":[1,{\"y\":null}]}",
            b"{\"cmd\":\"reload\",\"name\":null}",
        ];
        crate::fuzz::run("control-requests", 20_000, Duration::from_secs(1), |rng| {
            let mut line = seeds[rng.below(seeds.len())].to_vec();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(line.len() + 1);
                match rng.below(4) {
                    0 => line.insert(at, rng.next() as u8),
                    1 if at < line.len() => {
                        line.remove(at);
                    }
                    2 => {
                        let piece = rng.pick(&[
                            "\"cmd\"",
                            "\"name\"",
                            "\"status\"",
                            "\"start\"",
                            "\"poweroff\"",
                            "\\u0000",
                            "\\ud800",
                            "1e999",
                            "[[[[",
                            "}}",
                            "\u{feff}",
                            "\"é\"",
                        ]);
                        line.splice(at..at, piece.bytes());
                    }
                    _ => line.insert(at, b"{}[]\":,"[rng.below(7)]),
                }
            }
            match parse_request(&line) {
                Err(e) => assert!(!e.is_empty()),
                Ok(req) => assert_eq!(parse_request(request_line(&req).as_bytes()).ok(), Some(req)),
            }
        });
    }
}
