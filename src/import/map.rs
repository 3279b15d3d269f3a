//! A PM2 ecosystem, as the JSON value node or the .json file gave it,
//! mapped to init.toml text (DESIGN.md "Friendly config"). Pure: no files,
//! no processes; the CPU count for `instances: "max"` comes in as a number.
//!
//! Every key of an app ends as a key of init.toml, a note next to it when
//! PM2 meant something else, or a `# not mapped: KEY (why)` comment: no key
//! is dropped silently. The TOML is written by hand (strings, arrays and
//! inline tables are all it needs), not with toml's serializer, which would
//! cost the binary more than this file.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::units;

/// init.toml keys this tend does not accept yet: written as comments so
/// that the output passes `tend check`. Take a key out of this list once
/// tend has it (the test `not_yet_keys_are_still_unknown_to_tend` fails
/// as soon as tend accepts one of them).
pub const NOT_YET: &[&str] = &["cron_restart", "watch", "watch_ignore", "watch_delay"];

/// The init.toml and what it took to write it.
#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    pub apps: usize,
    /// `# not mapped` comments written.
    pub unmapped: usize,
}

/// Maps `eco` (`{apps: [...]}`, an array of apps, or one app) to init.toml
/// text; `source` names the file in the header, `cpus` is the CPU count
/// for `instances: "max"`. An error when there is no app to map.
pub fn to_toml(eco: &Value, source: &str, cpus: usize) -> Result<Imported, String> {
    let mut top = Vec::new();
    let apps: Vec<&Value> = match eco {
        Value::Array(list) => list.iter().collect(),
        Value::Object(obj) => match obj.get("apps") {
            Some(Value::Array(list)) => {
                top = obj.iter().filter(|(k, _)| *k != "apps").collect();
                list.iter().collect()
            }
            Some(one @ Value::Object(_)) => {
                top = obj.iter().filter(|(k, _)| *k != "apps").collect();
                vec![one]
            }
            Some(other) => return Err(format!("`apps` is {}, not a list of apps", kind(other))),
            None if obj.contains_key("script") => vec![eco],
            None => {
                return Err(
                    "no apps: expected { apps: [...] }, a list of apps, or one app \
                            with a `script`"
                        .into(),
                );
            }
        },
        other => {
            return Err(format!(
                "no apps: the file gives {}, expected {{ apps: [...] }} or a list of apps",
                kind(other)
            ));
        }
    };
    let mut out = String::new();
    wrap(
        &mut out,
        "#",
        &format!(
            "init.toml for tend, imported from {source} by `tend import`: check it \
             with `tend check FILE`. Comments say where PM2 did something else. Keys \
             not set take tend's defaults, not PM2's: min_uptime \"30s\" (PM2: 1s), \
             max_restarts 10 (PM2: 16), restart_delay \"1s\" (PM2: 0), stop_timeout \
             \"10s\" (PM2: 1.6s)."
        ),
    );
    let mut unmapped = 0;
    for (key, _) in &top {
        let why = match key.as_str() {
            "deploy" => "tend does not deploy",
            _ => "not an app",
        };
        writeln!(out, "# not mapped: {key} ({why})").ok();
        unmapped += 1;
    }
    let mut names = BTreeSet::new();
    let mut count = 0;
    for (i, app) in apps.iter().enumerate() {
        let Value::Object(obj) = app else {
            return Err(format!("apps[{i}] is {}, not an app", kind(app)));
        };
        let table = map_app(obj, &mut names, cpus);
        out.push('\n');
        out.push_str(&table.text);
        unmapped += table.unmapped;
        count += usize::from(table.mapped);
    }
    if count == 0 {
        return Err("no app to import: none has a `script`".into());
    }
    Ok(Imported {
        toml: out,
        apps: count,
        unmapped,
    })
}

/// One app's table as text.
struct Table {
    text: String,
    /// False when the app was skipped (no script): only comments.
    mapped: bool,
    unmapped: usize,
}

impl Table {
    /// `key = value` (a TOML value's text), commented out for keys this
    /// tend does not accept yet.
    fn set(&mut self, key: &str, value: &str) {
        if NOT_YET.contains(&key) {
            writeln!(
                self.text,
                "# {key} = {value}  (not yet supported by this tend)"
            )
        } else {
            writeln!(self.text, "{key} = {value}")
        }
        .ok();
    }

    /// A comment, wrapped at 79 columns.
    fn note(&mut self, text: &str) {
        comment(&mut self.text, text);
    }

    /// `# not mapped: KEY (why)`.
    fn not_mapped(&mut self, key: &str, why: &str) {
        self.note(&format!("not mapped: {key} ({why})"));
        self.unmapped += 1;
    }
}

/// The keys `map_app` reads itself; every other key of an app is reported
/// by `unmapped_why`.
const MAPPED: &[&str] = &[
    "name",
    "script",
    "args",
    "interpreter",
    "interpreter_args",
    "node_args",
    "cwd",
    "uid",
    "gid",
    "env",
    "port",
    "autorestart",
    "stop_exit_codes",
    "restart_delay",
    "exp_backoff_restart_delay",
    "min_uptime",
    "max_restarts",
    "max_memory_restart",
    "kill_timeout",
    "instances",
    "exec_mode",
    "out_file",
    "error_file",
    "log_file",
    "merge_logs",
    "combine_logs",
    "cron_restart",
    "watch",
    "ignore_watch",
    "watch_delay",
];

fn map_app(obj: &Map<String, Value>, names: &mut BTreeSet<String>, cpus: usize) -> Table {
    let mut t = Table {
        text: String::new(),
        mapped: true,
        unmapped: 0,
    };
    let script = match obj.get("script") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        _ => {
            let name = obj.get("name").map(compact).unwrap_or_default();
            t.mapped = false;
            t.note(&format!(
                "skipped: the app {name} has no `script` (tend needs a command)"
            ));
            return t;
        }
    };
    // The name: PM2's, else the script's base name without its extension.
    let given = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Number(_)) => v.to_string(),
        _ => {
            let base = script.rsplit('/').next().unwrap_or(script);
            base.split('.').next().unwrap_or(base).to_string()
        }
    };
    let name = unique(sanitize(&given), names);
    writeln!(t.text, "[app.{name}]").ok();
    if name != given {
        t.note(&format!(
            "PM2's name {} is {name} here: app names are letters, digits, - and _{}",
            quote(&given),
            if sanitize(&given) != name {
                ", and another app has it"
            } else {
                ""
            }
        ));
    }

    map_command(obj, script, &mut t);

    if let Some(cwd) = obj.get("cwd") {
        match cwd {
            Value::String(s) => {
                t.set("cwd", &quote(s));
                if !s.starts_with('/') {
                    t.note(
                        "a relative cwd is relative to the directory tend runs in; \
                         PM2 took it from where pm2 ran: better make it absolute",
                    );
                }
            }
            other => t.not_mapped("cwd", &format!("{} is not a path", compact(other))),
        }
    }
    for (pm2, tend) in [("uid", "user"), ("gid", "group")] {
        match obj.get(pm2) {
            None => {}
            Some(Value::String(s)) => t.set(tend, &quote(s)),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= u32::MAX.into()) => {
                t.set(tend, &n.to_string())
            }
            Some(other) => t.not_mapped(pm2, &format!("{} is not a user", compact(other))),
        }
    }

    let env = map_env(obj, &mut t);

    map_restart(obj, &mut t);

    for (pm2, tend) in [
        ("max_restarts", "max_restarts"),
        ("max_memory_restart", "max_memory"),
        ("kill_timeout", "stop_timeout"),
    ] {
        let Some(v) = obj.get(pm2) else { continue };
        let mapped = match pm2 {
            "max_restarts" => v
                .as_u64()
                .filter(|n| *n <= u32::MAX.into())
                .map(|n| n.to_string())
                .ok_or("not a whole number"),
            "max_memory_restart" => size(v).map(|s| quote(&s)),
            _ => millis(v).map(|d| quote(&d)),
        };
        match mapped {
            Ok(text) => t.set(tend, &text),
            Err(why) => t.not_mapped(pm2, &format!("{}: {why}", compact(v))),
        }
    }

    map_instances(obj, cpus, &mut t);
    map_logs(obj, &name, &mut t);
    map_schedule(obj, &mut t);

    for (key, v) in obj {
        if MAPPED.contains(&key.as_str()) {
            continue;
        }
        if let Some(env_name) = key.strip_prefix("env_") {
            env_block(env_name, v, &mut t);
            continue;
        }
        t.not_mapped(key, unmapped_why(key));
    }
    if let Some(env) = env {
        writeln!(t.text, "\n[app.{name}.env]").ok();
        t.text.push_str(&env);
    }
    t
}

/// script, args, interpreter, interpreter_args and node_args: one command
/// array, as PM2 would have run it.
fn map_command(obj: &Map<String, Value>, script: &str, t: &mut Table) {
    let interpreter = match obj.get("interpreter") {
        Some(Value::String(s)) if s == "none" => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        // PM2 picks one by the extension (its interpreter.json).
        _ => {
            let ext = script.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            let by_ext = match ext {
                "js" | "cjs" | "mjs" => Some("node"),
                "sh" => Some("bash"),
                "py" => Some("python3"),
                "rb" => Some("ruby"),
                "php" => Some("php"),
                "pl" => Some("perl"),
                "coffee" => Some("coffee"),
                _ => None,
            };
            by_ext.map(str::to_string)
        }
    };
    let mut command = Vec::new();
    if let Some(i) = &interpreter {
        command.push(i.clone());
    }
    for key in ["interpreter_args", "node_args"] {
        let Some(v) = obj.get(key) else { continue };
        match (words(v), &interpreter) {
            (Ok(w), Some(_)) => command.extend(w),
            (Ok(_), None) => t.not_mapped(key, "the script runs without an interpreter"),
            (Err(why), _) => t.not_mapped(key, &format!("{}: {why}", compact(v))),
        }
    }
    command.push(script.to_string());
    if let Some(v) = obj.get("args") {
        match words(v) {
            Ok(w) => command.extend(w),
            Err(why) => t.not_mapped("args", &format!("{}: {why}", compact(v))),
        }
    }
    let items: Vec<String> = command.iter().map(|w| quote(w)).collect();
    t.set("command", &format!("[{}]", items.join(", ")));
}

/// `env` (and PM2's `port`, which sets PORT): an inline table when short,
/// else the text of an `[app.NAME.env]` table for the end of the app.
fn map_env(obj: &Map<String, Value>, t: &mut Table) -> Option<String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    match obj.get("env") {
        None => {}
        Some(Value::Object(env)) => {
            for (k, v) in env {
                match env_value(v) {
                    Some(text) => pairs.push((k.clone(), text)),
                    None => t.not_mapped(
                        &format!("env.{k}"),
                        &format!("{} is not a string, number or boolean", compact(v)),
                    ),
                }
            }
        }
        Some(other) => t.not_mapped("env", &format!("{} is not a table", compact(other))),
    }
    if let Some(port) = obj.get("port") {
        match env_value(port) {
            Some(text) if !pairs.iter().any(|(k, _)| k == "PORT") => {
                pairs.push(("PORT".into(), text));
                t.note("PM2's port is PORT in env");
            }
            Some(_) => t.not_mapped("port", "env sets PORT already"),
            None => t.not_mapped("port", &format!("{} is not a port", compact(port))),
        }
    }
    if pairs.is_empty() {
        return None;
    }
    let lines: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{} = {v}", key(k)))
        .collect();
    let inline = format!("{{ {} }}", lines.join(", "));
    if pairs.len() <= 3 && inline.len() <= 70 {
        t.set("env", &inline);
        None
    } else {
        Some(lines.join("\n") + "\n")
    }
}

/// An env value as TOML: strings quoted, integers and booleans bare (tend
/// passes them as PM2 did: `3101`, `true`), other numbers quoted as JSON
/// writes them.
fn env_value(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(quote(s)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        Value::Number(n) => Some(quote(&n.to_string())),
        _ => None,
    }
}

/// `env_NAME`: values PM2 applies with `--env NAME`. tend has one env per
/// app: the block becomes a comment with its lines in dotenv form, ready
/// for an env_file.
fn env_block(env_name: &str, v: &Value, t: &mut Table) {
    let Value::Object(env) = v else {
        t.not_mapped(
            &format!("env_{env_name}"),
            &format!("{} is not a table", compact(v)),
        );
        return;
    };
    t.note(&format!(
        "env_{env_name}: what `pm2 start --env {env_name}` adds. tend has one env per \
         app: to use these, save the lines below as a dotenv file and add \
         env_file = \"{env_name}.env\" (relative to cwd), or merge them into env:"
    ));
    for (k, v) in env {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null | Value::Array(_) | Value::Object(_) => compact(v),
            other => other.to_string(),
        };
        let line = format!("#   {k}={}", dotenv_value(&text));
        writeln!(t.text, "{}", visible(&line)).ok();
    }
}

/// A value for a dotenv line: bare when it is plain, else double-quoted
/// with the escapes tend's dotenv reads (`\n \t \" \\ \$`).
fn dotenv_value(s: &str) -> String {
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./:@,+%=".contains(c));
    if plain {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '"' | '\\' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// autorestart, stop_exit_codes, restart_delay, exp_backoff_restart_delay,
/// min_uptime.
fn map_restart(obj: &Map<String, Value>, t: &mut Table) {
    let never = obj.get("autorestart") == Some(&Value::Bool(false));
    match obj.get("autorestart") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => t.set("restart", "\"never\""),
        Some(other) => t.not_mapped(
            "autorestart",
            &format!("{} is not true or false", compact(other)),
        ),
    }
    if let Some(v) = obj.get("stop_exit_codes") {
        let codes: Option<Vec<i64>> = match v {
            Value::Number(n) => n.as_i64().map(|n| vec![n]),
            Value::Array(list) => list.iter().map(Value::as_i64).collect(),
            _ => None,
        };
        match codes {
            None => t.not_mapped(
                "stop_exit_codes",
                &format!("{} is not a list of exit codes", compact(v)),
            ),
            Some(_) if never => t.not_mapped("stop_exit_codes", "restart is \"never\" already"),
            Some(codes) if codes.contains(&0) => {
                t.set("restart", "\"on-failure\"");
                let others: Vec<String> = codes
                    .iter()
                    .filter(|c| **c != 0)
                    .map(i64::to_string)
                    .collect();
                let mut text = String::from(
                    "PM2's stop_exit_codes: an exit with code 0 is not restarted. tend's \
                     on-failure restarts after every other code and after a death by a \
                     signal tend did not send",
                );
                if !others.is_empty() {
                    write!(
                        text,
                        ", so also after {} (PM2 did not): tend cannot exempt other codes; \
                         have the app exit 0 when it should stay down",
                        others.join(", ")
                    )
                    .ok();
                }
                t.note(&text);
            }
            Some(_) => t.not_mapped(
                "stop_exit_codes",
                "tend exempts only exit code 0 from restarts, with restart = \
                 \"on-failure\": have the app exit 0 when it should stay down",
            ),
        }
    }
    let backoff = obj.get("exp_backoff_restart_delay");
    if let Some(v) = backoff {
        match millis_of(v) {
            Ok(ms) => {
                t.set("restart_delay", &quote(&units::format_duration(ms)));
                // PM2 grows the delay by 1.5 each time, up to 15s.
                let cap = ms.max(std::time::Duration::from_secs(15));
                t.set("max_restart_delay", &quote(&units::format_duration(cap)));
                t.note(
                    "PM2's exp_backoff_restart_delay: tend always backs off, doubling \
                     restart_delay after each unstable run (PM2: x1.5) up to \
                     max_restart_delay (PM2's cap: 15s)",
                );
            }
            Err(why) => t.not_mapped(
                "exp_backoff_restart_delay",
                &format!("{}: {why}", compact(v)),
            ),
        }
    }
    if let Some(v) = obj.get("restart_delay") {
        match millis(v) {
            Ok(_) if backoff.is_some() => t.not_mapped(
                "restart_delay",
                "exp_backoff_restart_delay takes its place, as in PM2",
            ),
            Ok(d) => {
                t.set("restart_delay", &quote(&d));
                t.note(&format!(
                    "PM2 waited restart_delay before every restart; tend doubles it after \
                     each unstable run, up to max_restart_delay (default 30s). PM2's fixed \
                     delay: max_restart_delay = \"{d}\""
                ));
            }
            Err(why) => t.not_mapped("restart_delay", &format!("{}: {why}", compact(v))),
        }
    }
    if let Some(v) = obj.get("min_uptime") {
        match millis_of(v) {
            Ok(d) if d.is_zero() => t.not_mapped(
                "min_uptime",
                "0: tend needs more than 0s, else a crash loop would never end",
            ),
            Ok(d) => t.set("min_uptime", &quote(&units::format_duration(d))),
            Err(why) => t.not_mapped("min_uptime", &format!("{}: {why}", compact(v))),
        }
    }
}

/// instances and exec_mode.
fn map_instances(obj: &Map<String, Value>, cpus: usize, t: &mut Table) {
    if let Some(v) = obj.get("instances") {
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) if s == "max" => Some(0),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let cpus = i64::try_from(cpus.max(1)).unwrap_or(1);
        match n {
            Some(n) if n > 0 && n <= i64::from(u32::MAX) => t.set("instances", &n.to_string()),
            Some(0) => {
                t.set("instances", &cpus.to_string());
                t.note(&format!(
                    "PM2's instances {}: one per CPU, {cpus} on this machine; \
                     write the count for the machine that runs it",
                    compact(v)
                ));
            }
            Some(n) if n < 0 => {
                let count = (cpus + n).max(1);
                t.set("instances", &count.to_string());
                t.note(&format!(
                    "PM2's instances {n}: all CPUs but {}, {count} on this machine; \
                     write the count for the machine that runs it",
                    -n
                ));
            }
            _ => t.not_mapped(
                "instances",
                &format!("{} is not a number of instances", compact(v)),
            ),
        }
    }
    match obj.get("exec_mode") {
        None => {}
        Some(Value::String(m)) if m == "fork" || m == "fork_mode" => {}
        Some(Value::String(m)) if m == "cluster" || m == "cluster_mode" => t.note(
            "exec_mode \"cluster\": PM2's instances shared one port. tend's share \
             sockets tend binds itself: add listen = [\"tcp://0.0.0.0:PORT\"] with the \
             app's port (tend cannot tell it from here) and have the app take fd 3 \
             (Node: server.listen({ fd: 3 })); see \"Zero-downtime restarts\"",
        ),
        Some(other) => t.not_mapped(
            "exec_mode",
            &format!("{} is neither fork nor cluster", compact(other)),
        ),
    }
}

/// out_file, error_file, log_file, merge_logs, combine_logs: log = "file".
fn map_logs(obj: &Map<String, Value>, name: &str, t: &mut Table) {
    const KEYS: [&str; 5] = [
        "out_file",
        "error_file",
        "log_file",
        "merge_logs",
        "combine_logs",
    ];
    let given: Vec<&str> = KEYS.into_iter().filter(|k| obj.contains_key(*k)).collect();
    if given.is_empty() {
        return;
    }
    t.set("log", "\"file\"");
    let paths: Vec<String> = KEYS[..3]
        .iter()
        .filter_map(|k| match obj.get(*k) {
            Some(Value::String(p)) => Some(format!("{k} {}", quote(p))),
            _ => None,
        })
        .collect();
    let pm2 = if paths.is_empty() {
        format!("PM2's {}", given.join(", "))
    } else {
        format!("PM2 wrote to {}", paths.join(", "))
    };
    t.note(&format!(
        "{pm2}. tend writes one file per instance, stdout and stderr merged, each \
         line stamped and marked out or err: LOG_DIR/{name}.log ({name}.0.log ... \
         with instances), LOG_DIR being [tend] log_dir (default /var/log/tend as \
         root, else ~/.local/state/tend)"
    ));
}

/// cron_restart, watch, ignore_watch, watch_delay.
fn map_schedule(obj: &Map<String, Value>, t: &mut Table) {
    match obj.get("cron_restart") {
        None => {}
        Some(Value::String(s)) => t.set("cron_restart", &quote(s)),
        Some(other) => t.not_mapped(
            "cron_restart",
            &format!("{} is not a cron expression", compact(other)),
        ),
    }
    let on = match obj.get("watch") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => {
            t.set("watch", "[\".\"]");
            true
        }
        Some(v) => match words_list(v) {
            Ok(paths) => {
                t.set("watch", &array(&paths));
                true
            }
            Err(why) => {
                t.not_mapped("watch", &format!("{}: {why}", compact(v)));
                false
            }
        },
    };
    if let Some(v) = obj.get("ignore_watch") {
        match words_list(v) {
            Ok(_) if !on => t.not_mapped("ignore_watch", "watch is off"),
            Ok(paths) => t.set("watch_ignore", &array(&paths)),
            Err(why) => t.not_mapped("ignore_watch", &format!("{}: {why}", compact(v))),
        }
    }
    if let Some(v) = obj.get("watch_delay") {
        match millis(v) {
            Ok(_) if !on => t.not_mapped("watch_delay", "watch is off"),
            Ok(d) => t.set("watch_delay", &quote(&d)),
            Err(why) => t.not_mapped("watch_delay", &format!("{}: {why}", compact(v))),
        }
    }
}

/// Why an app key has no place in init.toml.
fn unmapped_why(key: &str) -> &'static str {
    match key {
        "wait_ready" | "listen_timeout" => {
            "tend's way: notify = true and the app sends READY=1 \
             (systemd-notify --ready), or a health check"
        }
        "shutdown_with_message" => "tend stops an app with stop_signal (default SIGTERM)",
        "kill_retry_time" => "tend sends SIGKILL once stop_timeout has passed",
        "treekill" => "tend always stops an app's whole process tree",
        "instance_var" => "each instance gets TEND_INSTANCE=i",
        "increment_var" => "no tend equivalent: derive it from TEND_INSTANCE",
        "log_date_format" | "time" => {
            "tend's log files stamp each line (UTC, milliseconds); \
             log_timestamps = true stamps prefix lines"
        }
        "pid_file" => "tend status shows the pids",
        "namespace" => "tend has no app groups",
        "watch_options" => "no tend equivalent",
        "filter_env" => "apps inherit tend's whole environment",
        "source_map_support" | "disable_source_map_support" => "Node's flags go in the command",
        "vizion" | "post_update" | "automation" | "pmx" | "autodump" | "force" | "windowsHide"
        | "disable_trace" | "trace" | "deep_monitoring" => "PM2's own feature",
        _ => "no tend equivalent",
    }
}

/// PM2's milliseconds (a number, or a string of digits) or a duration
/// string tend reads (`"10s"`), as tend's duration text.
fn millis(v: &Value) -> Result<String, &'static str> {
    millis_of(v).map(units::format_duration)
}

fn millis_of(v: &Value) -> Result<std::time::Duration, &'static str> {
    let ms = match v {
        Value::Number(n) => n.as_f64().ok_or("not a number")?,
        Value::String(s) if s.trim().bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
            s.trim().parse().map_err(|_| "not a number")?
        }
        Value::String(s) => {
            return units::parse_duration(s.trim())
                .map_err(|_| "not milliseconds nor a duration like \"10s\"");
        }
        _ => return Err("not milliseconds"),
    };
    if !(0.0..1e15).contains(&ms) {
        return Err("out of range");
    }
    Ok(std::time::Duration::from_millis(ms.round() as u64))
}

/// max_memory_restart: bytes, or `"256M"`, as tend's size text.
fn size(v: &Value) -> Result<String, &'static str> {
    let bytes = match v {
        Value::Number(n) => n.as_u64().ok_or("not a whole number of bytes")?,
        Value::String(s) => match s.trim().parse::<u64>() {
            Ok(n) => n,
            Err(_) => units::parse_size(s.trim()).map_err(|_| "not a size like \"256M\"")?,
        },
        _ => return Err("not a size"),
    };
    if bytes == 0 {
        return Err("no limit");
    }
    let text = [(30, "G"), (20, "M"), (10, "K")]
        .into_iter()
        .find(|(shift, _)| bytes.is_multiple_of(1 << shift))
        .map(|(shift, unit)| format!("{}{unit}", bytes >> shift))
        .unwrap_or_else(|| format!("{bytes}B"));
    Ok(text)
}

/// args and interpreter args: an array (numbers as text), or a string
/// split into words as a shell would (quotes and backslashes, no
/// expansion).
fn words(v: &Value) -> Result<Vec<String>, &'static str> {
    match v {
        Value::String(s) => split_words(s),
        Value::Array(list) => list
            .iter()
            .map(|w| match w {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                _ => Err("an argument is not a string"),
            })
            .collect(),
        Value::Number(n) => Ok(vec![n.to_string()]),
        _ => Err("not a string or a list"),
    }
}

/// watch and ignore_watch: one path or a list.
fn words_list(v: &Value) -> Result<Vec<String>, &'static str> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(list) => list
            .iter()
            .map(|w| w.as_str().map(str::to_string).ok_or("not a list of paths"))
            .collect(),
        _ => Err("not a path or a list of paths"),
    }
}

/// Splits `s` into words: blanks separate, `'...'` is literal, `"..."`
/// keeps `\"` and `\\` escapes, a backslash outside quotes escapes the
/// next character.
fn split_words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut out = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => out.extend(word.take()),
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("an unclosed '"),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("an unclosed \""),
                        },
                        Some(c) => w.push(c),
                        None => return Err("an unclosed \""),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(word);
    Ok(out)
}

/// An app name tend accepts: each run of other characters becomes one
/// `-`, without one at either end; `app` when nothing is left.
fn sanitize(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "app".into()
    } else {
        out.into()
    }
}

/// `name`, or `name-2`, `name-3` ... when an earlier app has it.
fn unique(name: String, names: &mut BTreeSet<String>) -> String {
    let mut candidate = name.clone();
    let mut n = 2;
    while names.contains(&candidate) {
        candidate = format!("{name}-{n}");
        n += 1;
    }
    names.insert(candidate.clone());
    candidate
}

/// A TOML basic string: `"` and `\` escaped, control characters as
/// escapes (TOML allows none raw in a basic string).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                write!(out, "\\u{:04X}", u32::from(c)).ok();
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it may be, else quoted.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { k.to_string() } else { quote(k) }
}

/// A TOML array of strings.
fn array(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| quote(s)).collect();
    format!("[{}]", items.join(", "))
}

/// A JSON value as one short line, for comments.
fn compact(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 40 {
        let cut: String = text.chars().take(37).collect();
        format!("{cut}...")
    } else {
        text
    }
}

/// What a JSON value is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `# text`, wrapped at 79 columns, the lines after the first indented.
fn comment(out: &mut String, text: &str) {
    wrap(out, "#  ", text);
}

/// `# text`, wrapped at 79 columns, the lines after the first starting
/// with `next`. Newlines in `text` (from the file) never end the comment,
/// and other control characters, which TOML forbids in a comment, are
/// escaped.
fn wrap(out: &mut String, next: &str, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > 79 && line.len() > 4 {
            out.push_str(&line);
            out.push('\n');
            line = String::from(next);
        }
        line.push(' ');
        line.push_str(&visible(word));
    }
    out.push_str(&line);
    out.push('\n');
}

/// `s` with its control characters as `\u{..}` escapes.
fn visible(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\t' => "\t".to_string(),
            c if c.is_control() => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
#[path = "map_tests.rs"]
mod tests;
