//! The client side of the control socket: `tend status`, `start`, `stop`,
//! `restart` and `reload` each send one request to the running tend
//! (`ask`) and print its answer. Rendering is pure, so the table is
//! unit-tested without a server.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::protocol::{CLIENT_TIMEOUT, Request, request_line};
use crate::cli::CtlCommand;
use crate::config;
use crate::units::{format_elapsed, format_size};

/// Runs a client command; Ok(exit code) or an error line (exit 1).
pub fn run(
    command: CtlCommand,
    config_file: Option<PathBuf>,
    socket: Option<PathBuf>,
) -> Result<u8, String> {
    let configured = configured_socket(config_file);
    let path = super::socket_path(socket, configured);
    let req = match &command {
        CtlCommand::Status { names, .. } if names.is_empty() => Request::Status,
        CtlCommand::Status { names, .. } => Request::StatusOf(names.clone()),
        CtlCommand::Describe { name, .. } => Request::Describe(name.clone()),
        CtlCommand::Act(act) => return super::wait::run(&path, act),
        CtlCommand::Logs(req) => return logs(&path, req),
        CtlCommand::Send(req) => req.clone(),
    };
    let reply = ask(&path, &req)?;
    if reply["ok"] != Value::Bool(true) {
        let msg = reply["error"].as_str().unwrap_or("the request failed");
        return Err(msg.to_string());
    }
    match command {
        CtlCommand::Status {
            json: true, check, ..
        } => {
            println!("{reply}");
            Ok(if check && !not_running(&reply).is_empty() {
                1
            } else {
                0
            })
        }
        CtlCommand::Status {
            json: false,
            check: true,
            ..
        } => {
            let bad = not_running(&reply);
            if bad.is_empty() {
                println!("ok: every app is running");
                Ok(0)
            } else {
                println!("not running: {}", bad.join(", "));
                Ok(1)
            }
        }
        CtlCommand::Status { .. } => {
            print!("{}", table(&reply));
            Ok(0)
        }
        CtlCommand::Describe { json: true, .. } => {
            println!("{reply}");
            Ok(0)
        }
        CtlCommand::Describe { json: false, .. } => {
            print!("{}", describe_text(&reply));
            Ok(0)
        }
        CtlCommand::Send(Request::Reload) => {
            println!("{}", reply["message"].as_str().unwrap_or("reloaded"));
            Ok(0)
        }
        CtlCommand::Send(Request::Signal { .. }) => {
            print!("{}", signal_lines(&reply));
            Ok(if reply["all_sent"] == Value::Bool(true) {
                0
            } else {
                1
            })
        }
        CtlCommand::Send(_) | CtlCommand::Act(_) | CtlCommand::Logs(_) => Ok(0),
    }
}

/// Sends `req` to the tend listening on `path` and returns its answer.
/// Fails at once when nobody listens, and within the timeout when
/// the server does not answer.
pub fn ask(path: &Path, req: &Request) -> Result<Value, String> {
    let mut stream = send(path, req)?;
    let mut reply = Vec::new();
    read_line(&mut stream, &mut reply, path)?;
    serde_json::from_slice(&reply)
        .map_err(|e| format!("unreadable answer from {}: {e}", path.display()))
}

/// `tend logs`: the answer's first line says whether tend has lines to
/// give; the lines follow, copied to stdout as they come, until tend ends
/// the answer or (`-f`) the user interrupts. A closed stdout ends it too.
fn logs(path: &Path, req: &Request) -> Result<u8, String> {
    let mut stream = send(path, req)?;
    let mut data = Vec::new();
    let end = read_line(&mut stream, &mut data, path)?;
    let head: Value = serde_json::from_slice(&data[..end])
        .map_err(|e| format!("unreadable answer from {}: {e}", path.display()))?;
    if head["ok"] != Value::Bool(true) {
        return Err(head["error"]
            .as_str()
            .unwrap_or("the request failed")
            .into());
    }
    // The lines come as fast as tend reads them, or as slowly as the apps
    // write them: no timeout from here on.
    let _ = stream.set_read_timeout(None);
    let mut out = io::stdout().lock();
    let mut chunk = data.split_off(end);
    let mut buf = vec![0u8; 65536];
    loop {
        if out.write_all(&chunk).and_then(|()| out.flush()).is_err() {
            return Ok(0);
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(0),
            Ok(n) => chunk = buf[..n].to_vec(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => chunk.clear(),
            Err(e) => return Err(format!("reading from {}: {e}", path.display())),
        }
    }
}

/// Connects to the tend listening on `path` and sends `req`. Fails at
/// once when nobody listens.
fn send(path: &Path, req: &Request) -> Result<UnixStream, String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach a running tend at {}: {e} (is tend running? --socket or TEND_SOCKET choose the socket)",
            path.display()
        )
    })?;
    let timeout = Some(CLIENT_TIMEOUT + Duration::from_secs(3));
    let _ = stream.set_read_timeout(timeout);
    let _ = stream.set_write_timeout(timeout);
    stream
        .write_all(request_line(req).as_bytes())
        .map_err(|e| format!("sending the request to {}: {e}", path.display()))?;
    Ok(stream)
}

/// Reads into `data` until it holds a whole first line (or the answer
/// ends, or the timeout); returns where that line ends, newline included.
fn read_line(stream: &mut UnixStream, data: &mut Vec<u8>, path: &Path) -> Result<usize, String> {
    let mut buf = [0u8; 8192];
    loop {
        if let Some(nl) = data.iter().position(|&b| b == b'\n') {
            return Ok(nl + 1);
        }
        match stream.read(&mut buf) {
            Ok(0) => return Ok(data.len()),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("reading the answer from {}: {e}", path.display())),
        }
    }
}

/// `[tend] socket` of the config file, when one is found and valid; the
/// client must find the server without being told twice.
fn configured_socket(given: Option<PathBuf>) -> Option<PathBuf> {
    config::load(&config::find(given)?).ok()?.socket
}

/// Apps that should run but do not: `name (state)`. Running apps, apps
/// stopped on request and one-shot apps that ended cleanly are fine.
pub fn not_running(reply: &Value) -> Vec<String> {
    let Some(apps) = reply["apps"].as_array() else {
        return vec!["(no app list in the answer)".into()];
    };
    apps.iter()
        .filter(|a| {
            let state = a["state"].as_str().unwrap_or("");
            let healthy =
                (a["health"].is_null() || a["health"] == "healthy") && a["ready"] != false;
            let clean_end = state == "exited" && a["last_exit"]["code"] == 0;
            let removed = a["removed"] == Value::Bool(true);
            !((state == "running" && healthy) || state == "stopped" || clean_end || removed)
        })
        .map(|a| format!("{} ({})", a["name"].as_str().unwrap_or("?"), state_text(a)))
        .collect()
}

/// What `tend signal` did, one instance a line.
pub fn signal_lines(reply: &Value) -> String {
    let sig = reply["signal"].as_str().unwrap_or("the signal");
    let whom = if reply["tree"] == Value::Bool(true) {
        "the tree of pid"
    } else {
        "pid"
    };
    let mut out = String::new();
    for a in reply["apps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let name = a["name"].as_str().unwrap_or("?");
        match a["pid"].as_i64() {
            Some(pid) if a["sent"] == Value::Bool(true) => {
                out.push_str(&format!("{name}: {sig} sent to {whom} {pid}\n"))
            }
            _ => out.push_str(&format!(
                "{name}: not running ({}), nothing sent\n",
                a["state"].as_str().unwrap_or("?")
            )),
        }
    }
    out
}

/// `tend describe`: each instance as a block of `key  value` lines, then
/// its last exits, newest first.
pub fn describe_text(reply: &Value) -> String {
    let none = Vec::new();
    let mut out = String::new();
    for (k, a) in reply["apps"].as_array().unwrap_or(&none).iter().enumerate() {
        if k > 0 {
            out.push('\n');
        }
        let d = &a["definition"];
        let s = |v: &Value| v.as_str().unwrap_or("-").to_string();
        let list = |v: &Value, sep: &str| {
            let items: Vec<&str> = v
                .as_array()
                .unwrap_or(&none)
                .iter()
                .filter_map(Value::as_str)
                .collect();
            if items.is_empty() {
                "-".to_string()
            } else {
                items.join(sep)
            }
        };
        let mut state = state_text(a);
        if let Some(pid) = a["pid"].as_i64() {
            state.push_str(&format!(", pid {pid}"));
        }
        if let Some(up) = a["uptime_s"].as_f64() {
            state.push_str(&format!(", up {}", secs(up)));
        }
        if let Some(mem) = a["mem"].as_u64() {
            state.push_str(&format!(", mem {}", format_size(mem)));
        }
        if a["removed"] == Value::Bool(true) {
            state.push_str(" (removed by a reload)");
        }
        let mut user = s(&d["user"]);
        if let Some(g) = d["group"].as_str() {
            user.push_str(&format!(":{g}"));
        }
        let restart = format!(
            "{}; delay {} doubling up to {}; a run of {} is stable; failed after {} restarts in a row",
            s(&d["restart"]),
            s(&d["restart_delay"]),
            s(&d["max_restart_delay"]),
            s(&d["min_uptime"]),
            d["max_restarts"]
        );
        let health = match d["health"].as_object() {
            None => "-".to_string(),
            Some(h) => {
                let probe = &h["probe"];
                let what = if let Some(url) = probe["http"].as_str() {
                    format!("GET {url} ({})", s(&probe["address"]))
                } else if let Some(addr) = probe["tcp"].as_str() {
                    format!("tcp connect {addr}")
                } else {
                    format!("exec {}", list(&probe["exec"], " "))
                };
                format!(
                    "{what}, every {}, timeout {}, unhealthy after {} failures, start period {}",
                    s(&h["interval"]),
                    s(&h["timeout"]),
                    h["retries"],
                    s(&h["start_period"])
                )
            }
        };
        let notify = match (d["notify"].as_bool(), d["watchdog"].as_str()) {
            (Some(true), Some(w)) => format!("sd_notify, watchdog {w}"),
            (Some(true), None) => "sd_notify".to_string(),
            _ => "-".to_string(),
        };
        let watch = match d["watch"].as_object() {
            None => "-".to_string(),
            Some(w) => format!(
                "{}; restart after {} quiet",
                list(&w["paths"], ", "),
                s(&w["delay"])
            ),
        };
        let rows = [
            ("state", state),
            ("command", shell_words(&d["command"])),
            ("cwd", s(&d["cwd"])),
            ("user", user),
            ("env", list(&d["env_keys"], " ")),
            ("restart", restart),
            (
                "max_memory",
                d["max_memory"].as_str().unwrap_or("none").to_string(),
            ),
            (
                "stop",
                format!(
                    "{}, then SIGKILL after {}",
                    s(&d["stop_signal"]),
                    s(&d["stop_timeout"])
                ),
            ),
            ("health", health),
            ("notify", notify),
            ("after", list(&d["after"], ", ")),
            ("listen", list(&d["listen"], ", ")),
            ("watch", watch),
            (
                "log",
                match d["log_file"].as_str() {
                    Some(path) => format!("{} ({path})", s(&d["log"])),
                    None => s(&d["log"]),
                },
            ),
            (
                "restarts",
                format!("{} ({} in a row)", a["restarts"], a["restarts_in_a_row"]),
            ),
        ];
        out.push_str(&format!("{}\n", a["name"].as_str().unwrap_or("?")));
        for (key, value) in rows {
            out.push_str(&format!("  {key:<11} {value}\n"));
        }
        if let Some(cron) = d["cron_restart"].as_str() {
            let next = a["next_cron_restart"]
                .as_str()
                .map_or(String::new(), |n| format!(" (next {n})"));
            out.push_str(&format!("  {:<11} {cron}{next}\n", "cron"));
        }
        let limits: Vec<String> = ["memory_max", "cpu_max", "pids_max"]
            .iter()
            .filter(|k| !d[**k].is_null())
            .map(|k| {
                format!(
                    "{k} {}",
                    d[*k].as_str().map_or(d[*k].to_string(), String::from)
                )
            })
            .collect();
        if !limits.is_empty() {
            out.push_str(&format!("  {:<11} {}\n", "limits", limits.join(", ")));
        }
        if let Some(dir) = a["cgroup"].as_str() {
            out.push_str(&format!("  {:<11} {dir}\n", "cgroup"));
        }
        if a["next_start_changes"] == Value::Bool(true) {
            out.push_str(
                "  (a reload changed it: the definition above applies from its next start)\n",
            );
        }
        let checks = a["checks"].as_array().unwrap_or(&none);
        if !checks.is_empty() {
            out.push_str("  checks      (newest first)\n");
            for c in checks {
                let ago = c["ago_s"]
                    .as_f64()
                    .map_or("-".into(), |x| format!("{} ago", secs(x)));
                let verdict = match c["passed"].as_bool() {
                    Some(true) => "passed".to_string(),
                    _ => format!("failed: {}", s(&c["reason"])),
                };
                out.push_str(&format!("    {ago:<9} {verdict}\n"));
            }
        }
        let exits = a["exits"].as_array().unwrap_or(&none);
        if exits.is_empty() {
            out.push_str("  exits       none yet\n");
            continue;
        }
        out.push_str("  last exits  (newest first)\n");
        let rows: Vec<[String; 4]> = exits
            .iter()
            .map(|e| {
                let how = match (e["signal"].as_str(), e["code"].as_i64()) {
                    (Some(sig), _) => sig.to_string(),
                    (None, Some(code)) => format!("code {code}"),
                    (None, None) => "-".to_string(),
                };
                [
                    e["ago_s"]
                        .as_f64()
                        .map_or("-".into(), |x| format!("{} ago", secs(x))),
                    how,
                    e["run_s"]
                        .as_f64()
                        .map_or("-".into(), |x| format!("ran {}", secs(x))),
                    s(&e["cause"]),
                ]
            })
            .collect();
        let mut widths = [0usize; 3];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for [ago, how, ran, cause] in rows {
            let line = format!(
                "    {ago:<w0$}  {how:<w1$}  {ran:<w2$}  {cause}",
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2]
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// An argv as a shell would read it back: words with spaces or quotes
/// single-quoted.
fn shell_words(argv: &Value) -> String {
    let words: Vec<String> = argv
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
            if plain {
                w.to_string()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect();
    words.join(" ")
}

/// The status table, one app a line.
pub fn table(reply: &Value) -> String {
    let mut rows = vec![[
        "APP".to_string(),
        "STATE".into(),
        "PID".into(),
        "UPTIME".into(),
        "RESTARTS".into(),
        "CPU".into(),
        "MEM".into(),
        "LAST EXIT".into(),
    ]];
    for a in reply["apps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let dash = || "-".to_string();
        let last = &a["last_exit"];
        let last_exit = if last.is_null() {
            dash()
        } else {
            let ago = last["ago_s"]
                .as_f64()
                .map_or_else(dash, |s| format!("{} ago", secs(s)));
            match (last["signal"].as_str(), last["code"].as_i64()) {
                (Some(sig), _) => format!("{sig}, {ago}"),
                (None, Some(code)) => format!("code {code}, {ago}"),
                (None, None) => format!("could not start, {ago}"),
            }
        };
        rows.push([
            a["name"].as_str().unwrap_or("?").to_string(),
            state_text(a),
            match (a["replacing"].as_i64(), a["pid"].as_i64()) {
                // During a replacement: the old pid, then the new one.
                (Some(old), new) => format!("{old}>{}", new.map_or_else(dash, |p| p.to_string())),
                (None, pid) => pid.map_or_else(dash, |p| p.to_string()),
            },
            a["uptime_s"].as_f64().map_or_else(dash, secs),
            a["restarts"].as_u64().map_or_else(dash, |r| r.to_string()),
            a["cpu"].as_f64().map_or_else(dash, percent),
            // `mem`; `rss` from a tend older than the MEM column.
            a["mem"]
                .as_u64()
                .or_else(|| a["rss"].as_u64())
                .map_or_else(dash, format_size),
            last_exit,
        ]);
    }
    let mut widths = [0usize; 8];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (k, (cell, w)) in row.iter().zip(widths).enumerate() {
            if k == 7 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `running`; `running/healthy` when the app has a health check;
/// `running/starting` while an sd_notify app has not said READY=1.
pub(super) fn state_text(a: &Value) -> String {
    let state = a["state"].as_str().unwrap_or("?");
    match (a["health"].as_str(), a["ready"].as_bool()) {
        (Some(h), _) => format!("{state}/{h}"),
        (None, Some(false)) => format!("{state}/starting"),
        _ => state.to_string(),
    }
}

/// A CPU percentage: `0.4%`, `12%`, `197%`.
fn percent(p: f64) -> String {
    if p < 9.95 {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

/// Whole seconds: `45s`, `5m3s`, `2h10m`, `3d4h`.
fn secs(s: f64) -> String {
    format_elapsed(Duration::from_secs(s.max(0.0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply() -> Value {
        json!({"ok": true, "pid": 1, "apps": [
            {"name": "web.0", "app": "web", "instance": 0, "state": "running", "pid": 12,
             "uptime_s": 303.2, "restarts": 2, "cpu": 97.46, "cpu_s": 295.1, "rss": 1_300_000, "mem": 1_300_000, "last_exit": {"code": 137, "signal": "SIGKILL", "ago_s": 304.0}, "removed": false},
            {"name": "flaky", "app": "flaky", "instance": 0, "state": "backoff", "pid": null,
             "uptime_s": null, "restarts": 1, "rss": null, "last_exit": {"code": 1, "signal": null, "ago_s": 3.0}, "removed": false},
            {"name": "api", "app": "api", "instance": 0, "state": "running", "health": "unhealthy", "pid": 14,
             "uptime_s": 40.0, "restarts": 0, "cpu": 0.04, "cpu_s": 0.3, "rss": 2_097_152, "last_exit": null, "removed": false},
            {"name": "migrate", "app": "migrate", "instance": 0, "state": "exited", "pid": null,
             "uptime_s": null, "restarts": 0, "rss": null, "last_exit": {"code": 0, "signal": null, "ago_s": 9.0}, "removed": false},
            {"name": "ghost", "app": "ghost", "instance": 0, "state": "failed", "pid": null,
             "uptime_s": null, "restarts": 3, "rss": null, "last_exit": {"code": null, "signal": null, "ago_s": 7200.0}, "removed": false},
        ]})
    }

    #[test]
    fn status_table() {
        let want = "\
APP      STATE              PID  UPTIME  RESTARTS  CPU   MEM   LAST EXIT
web.0    running            12   5m3s    2         97%   1.2M  SIGKILL, 5m4s ago
flaky    backoff            -    -       1         -     -     code 1, 3s ago
api      running/unhealthy  14   40s     0         0.0%  2M    -
migrate  exited             -    -       0         -     -     code 0, 9s ago
ghost    failed             -    -       3         -     -     could not start, 2h0m ago
";
        assert_eq!(table(&reply()), want);
        assert_eq!(
            [percent(0.44), percent(9.96), percent(197.4)],
            ["0.4%", "10%", "197%"]
        );
    }

    #[test]
    fn signal_lines_say_what_was_sent_to_whom() {
        let reply = json!({"ok": true, "signal": "SIGUSR2", "tree": false, "all_sent": false, "apps": [
            {"name": "web.0", "pid": 12, "sent": true},
            {"name": "web.1", "pid": null, "sent": false, "state": "stopped"},
        ]});
        assert_eq!(
            signal_lines(&reply),
            "web.0: SIGUSR2 sent to pid 12\nweb.1: not running (stopped), nothing sent\n"
        );
    }

    #[test]
    fn describe_shows_the_definition_counters_and_exits() {
        let mut reply = json!({"ok": true, "apps": [{
            "name": "web.1", "app": "web", "instance": 1, "state": "running", "health": "healthy",
            "pid": 31, "uptime_s": 12.5, "mem": 3_145_728, "restarts": 2, "restarts_in_a_row": 1,
            "removed": false, "next_start_changes": false,
            "definition": {
                "command": ["node", "server.js"], "cwd": "/srv/web", "user": "node", "group": null,
                "env_keys": ["NODE_ENV", "PORT"], "restart": "always", "restart_delay": "3s",
                "max_restart_delay": "30s", "min_uptime": "30s", "max_restarts": 10,
                "max_memory": "256M", "stop_signal": "SIGTERM", "stop_timeout": "10s",
                "after": ["db"], "listen": ["tcp://0.0.0.0:8080"], "critical": false,
                "health": {"probe": {"http": "http://127.0.0.1:8080/health", "address": "127.0.0.1:8080"},
                           "interval": "10s", "timeout": "2s", "retries": 3, "start_period": "0s"},
                "notify": false, "watchdog": null, "log": "prefix"
            },
            "exits": [
                {"ago_s": 13.0, "code": 143, "signal": "SIGTERM", "run_s": 95.2, "cause": "memory"},
                {"ago_s": 130.0, "code": 1, "signal": null, "run_s": 0.4, "cause": "crash"}
            ],
            "checks": [
                {"ago_s": 2.0, "passed": true, "reason": null},
                {"ago_s": 12.0, "passed": false, "reason": "HTTP 503"}
            ]
        }]});
        // Apart: one json! this deep goes past the macro recursion limit.
        reply["apps"][0]["cgroup"] = json!("/sys/fs/cgroup/web.1");
        let definition = &mut reply["apps"][0]["definition"];
        definition["memory_max"] = json!("512M");
        definition["cpu_max"] = json!("50%");
        definition["pids_max"] = json!(64);
        reply["apps"][0]["definition"]["watch"] = json!(
            {"paths": ["/srv/web/src"], "ignore": ["node_modules", "*.log"], "delay": "500ms"}
        );
        let want = "\
web.1
  state       running/healthy, pid 31, up 12s, mem 3M
  command     node server.js
  cwd         /srv/web
  user        node
  env         NODE_ENV PORT
  restart     always; delay 3s doubling up to 30s; a run of 30s is stable; failed after 10 restarts in a row
  max_memory  256M
  stop        SIGTERM, then SIGKILL after 10s
  health      GET http://127.0.0.1:8080/health (127.0.0.1:8080), every 10s, timeout 2s, unhealthy after 3 failures, start period 0s
  notify      -
  after       db
  listen      tcp://0.0.0.0:8080
  watch       /srv/web/src; restart after 500ms quiet
  log         prefix
  restarts    2 (1 in a row)
  limits      memory_max 512M, cpu_max 50%, pids_max 64
  cgroup      /sys/fs/cgroup/web.1
  checks      (newest first)
    2s ago    passed
    12s ago   failed: HTTP 503
  last exits  (newest first)
    13s ago    SIGTERM  ran 1m35s  memory
    2m10s ago  code 1   ran 0s     crash
";
        assert_eq!(describe_text(&reply), want);
    }

    #[test]
    fn commands_are_shown_as_a_shell_reads_them() {
        assert_eq!(
            shell_words(&json!(["/bin/sh", "-c", "echo 'hi' $X", ""])),
            r#"/bin/sh -c 'echo '\''hi'\'' $X' ''"#
        );
    }

    #[test]
    fn check_names_what_is_not_running() {
        assert_eq!(
            not_running(&reply()),
            [
                "flaky (backoff)",
                "api (running/unhealthy)",
                "ghost (failed)"
            ]
        );
        assert!(not_running(&json!({"ok": true, "apps": []})).is_empty());
    }
}
