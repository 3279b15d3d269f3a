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
    /// `key = value` (a TOML value's text).
    fn set(&mut self, key: &str, value: &str) {
        writeln!(self.text, "{key} = {value}").ok();
    }

    /// A comment, wrapped at 79 columns.
    fn note(&mut self, text: &str) {
        comment(&mut self.text, text);
    }

    /// `# not mapped: KEY (VALUE: why)`.
    fn bad(&mut self, key: &str, v: &Value, why: &str) {
        self.not_mapped(key, &format!("{}: {why}", compact(v)));
    }

    /// `# not mapped: KEY (why)`.
    fn not_mapped(&mut self, key: &str, why: &str) {
        self.note(&format!("not mapped: {key} ({why})"));
        self.unmapped += 1;
    }
}

/// How a PM2 value becomes the value of a tend key.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    /// A user or group: a name or a number.
    Id,
    Count,
    Size,
    /// Milliseconds, or a duration string.
    Millis,
    /// As Millis, but more than 0.
    Uptime,
    /// A count, or "max", 0 or -N: counted from the CPUs.
    Instances,
    /// true, or paths.
    Watch,
    /// Names or globs, each matched against one path component: PM2's
    /// patterns with a `/` (chokidar globs over whole paths, regular
    /// expressions) have no such form, and leave the key unmapped.
    Ignore,
}

/// PM2's keys that become one tend key each, in init.toml's order.
const KEYS: &[(&str, &str, Kind)] = &[
    ("cwd", "cwd", Kind::Text),
    ("uid", "user", Kind::Id),
    ("gid", "group", Kind::Id),
    ("min_uptime", "min_uptime", Kind::Uptime),
    ("max_restarts", "max_restarts", Kind::Count),
    ("max_memory_restart", "max_memory", Kind::Size),
    ("kill_timeout", "stop_timeout", Kind::Millis),
    ("instances", "instances", Kind::Instances),
    ("cron_restart", "cron_restart", Kind::Text),
    ("watch", "watch", Kind::Watch),
    ("ignore_watch", "watch_ignore", Kind::Ignore),
    ("watch_delay", "watch_delay", Kind::Uptime),
];

/// The other keys `map_app` reads itself; every key in neither list gets
/// `# not mapped`, with the reason from `WHY`.
const OTHERS: &[&str] = &[
    "name",
    "script",
    "args",
    "interpreter",
    "interpreter_args",
    "node_args",
    "env",
    "port",
    "autorestart",
    "stop_exit_codes",
    "restart_delay",
    "exp_backoff_restart_delay",
    "exec_mode",
    "out_file",
    "error_file",
    "log_file",
    "merge_logs",
    "combine_logs",
];

/// PM2's interpreter for a script's extension (its interpreter.json; python3
/// where PM2 says python, which many systems no longer have).
const INTERPRETERS: &[(&str, &str)] = &[
    ("js", "node"),
    ("cjs", "node"),
    ("mjs", "node"),
    ("sh", "bash"),
    ("py", "python3"),
    ("rb", "ruby"),
    ("php", "php"),
    ("pl", "perl"),
    ("coffee", "coffee"),
];

/// Why a key has no place in init.toml; others: "no tend equivalent".
const WHY: &[(&str, &str)] = &[
    (
        "wait_ready",
        "tend's way: notify = true and the app sends READY=1 (systemd-notify \
         --ready), or a health check",
    ),
    (
        "listen_timeout",
        "tend's way: notify = true, or a health check",
    ),
    (
        "shutdown_with_message",
        "tend stops an app with stop_signal (default SIGTERM)",
    ),
    (
        "kill_retry_time",
        "tend sends SIGKILL once stop_timeout has passed",
    ),
    ("treekill", "tend always stops an app's whole process tree"),
    ("instance_var", "each instance gets TEND_INSTANCE=i"),
    ("increment_var", "derive it from TEND_INSTANCE"),
    (
        "log_date_format",
        "tend's log files stamp each line (UTC, milliseconds)",
    ),
    (
        "time",
        "tend's log files stamp each line; log_timestamps = true stamps prefix lines",
    ),
    ("pid_file", "tend status shows the pids"),
    ("namespace", "tend has no app groups"),
    ("filter_env", "apps inherit tend's whole environment"),
    ("source_map_support", "Node's flags go in the command"),
    ("vizion", "PM2's own feature"),
    ("pmx", "PM2's own feature"),
    ("automation", "PM2's own feature"),
    ("post_update", "PM2's own feature"),
];

const NOTE_ABSOLUTE: &str = "a relative cwd is relative to the directory tend runs in; PM2 \
     took it from where pm2 ran: better make it absolute";
const NOTE_CPUS: &str = "PM2 counted these instances from the CPUs (\"max\", 0 or -N): this \
     is the count on this machine; write the one for the machine that runs it";
const NOTE_PORT: &str = "PM2's port is PORT in env";
const NOTE_EXIT_CODES: &str = "PM2's stop_exit_codes: tend's on-failure leaves the app down \
     after exit code 0 only, and restarts it after any other code (also those listed) \
     and after a death by a signal tend did not send";
const NOTE_BACKOFF: &str = "PM2's exp_backoff_restart_delay: tend always backs off, \
     doubling restart_delay after each unstable run (PM2: x1.5) up to max_restart_delay \
     (PM2's cap: 15s)";
const NOTE_DELAY: &str = "PM2 waited restart_delay before every restart; tend doubles it \
     after each unstable run, up to max_restart_delay (default 30s): set that to the \
     same value for PM2's fixed delay";
const NOTE_CLUSTER: &str = "exec_mode \"cluster\": PM2's instances shared one port. \
     tend's share sockets tend binds itself: add listen = [\"tcp://0.0.0.0:PORT\"] with \
     the app's port (tend cannot tell it from here) and have the app take fd 3 (Node: \
     server.listen({ fd: 3 })); see \"Zero-downtime restarts\"";
const NOTE_LOGS: &str = "tend writes one file per instance, stdout and stderr merged, \
     each line stamped and marked out or err: LOG_DIR/NAME.log (NAME.i.log with \
     instances), LOG_DIR being [tend] log_dir (default /var/log/tend as root, else \
     ~/.local/state/tend)";

fn map_app(obj: &Map<String, Value>, names: &mut BTreeSet<String>, cpus: usize) -> Table {
    let mut t = Table {
        text: String::new(),
        mapped: true,
        unmapped: 0,
    };
    let name_value = obj.get("name");
    let Some(script) = obj
        .get("script")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        t.mapped = false;
        let name = name_value.map(compact).unwrap_or_default();
        t.note(&format!("skipped: the app {name} has no `script`"));
        return t;
    };
    // The name: PM2's, else the script's base name without its extension.
    let given = match name_value {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Number(_)) => compact(v),
        _ => {
            let base = script.rsplit('/').next().unwrap_or(script);
            base.split('.').next().unwrap_or(base).to_string()
        }
    };
    let name = unique(sanitize(&given), names);
    writeln!(t.text, "[app.{name}]").ok();
    if name != given {
        t.note(&format!(
            "PM2's name {} is {name} here: app names are letters, digits, - and _ (and \
             one per app)",
            quote(&given)
        ));
    }

    map_command(obj, script, &mut t);
    map_keys(obj, &KEYS[..3], cpus, &mut t);
    let env = map_env(obj, &mut t);
    map_restart(obj, &mut t);

    map_keys(obj, &KEYS[3..], cpus, &mut t);
    match obj.get("exec_mode") {
        None => {}
        Some(Value::String(m)) if m.starts_with("fork") => {}
        Some(Value::String(m)) if m.starts_with("cluster") => t.note(NOTE_CLUSTER),
        Some(other) => t.bad("exec_mode", other, "neither fork nor cluster"),
    }
    map_logs(obj, &mut t);

    for (key, v) in obj {
        if OTHERS.contains(&key.as_str()) || KEYS.iter().any(|k| k.0 == key) {
            continue;
        }
        if let Some(env_name) = key.strip_prefix("env_") {
            env_block(env_name, v, &mut t);
            continue;
        }
        let why = WHY
            .iter()
            .find(|w| w.0 == key)
            .map_or("no tend equivalent", |w| w.1);
        t.not_mapped(key, why);
    }
    if let Some(env) = env {
        writeln!(t.text, "\n[app.{name}.env]").ok();
        t.text.push_str(&env);
    }
    t
}

/// The `keys` (from KEYS) that `obj` has, each as its tend key.
fn map_keys(obj: &Map<String, Value>, keys: &[(&str, &str, Kind)], cpus: usize, t: &mut Table) {
    let watching = !matches!(obj.get("watch"), None | Some(Value::Bool(false)));
    for &(pm2, tend, kind) in keys {
        let Some(v) = obj.get(pm2) else { continue };
        if tend.starts_with("watch_") && !watching {
            t.not_mapped(pm2, "watch is off");
            continue;
        }
        match convert(kind, v, cpus) {
            Ok(None) => {}
            Ok(Some(text)) => {
                t.set(tend, &text);
                let relative = pm2 == "cwd" && !text.starts_with("\"/");
                let counted = pm2 == "instances" && count(v).is_none_or(|n| n <= 0);
                if relative {
                    t.note(NOTE_ABSOLUTE);
                } else if counted {
                    t.note(NOTE_CPUS);
                }
            }
            Err(why) => t.bad(pm2, v, why),
        }
    }
}

/// The TOML text of `v` for a key of `kind`; None: nothing to write.
fn convert(kind: Kind, v: &Value, cpus: usize) -> Result<Option<String>, &'static str> {
    let text = match (kind, v) {
        (Kind::Text, Value::String(s)) => quote(s),
        (Kind::Id, Value::String(s)) => quote(s),
        (Kind::Id | Kind::Count, Value::Number(n)) if n.as_u64().is_some_and(|n| n < 1 << 32) => {
            n.to_string()
        }
        (Kind::Size, _) => quote(&size(v)?),
        (Kind::Millis, _) => quote(&units::format_duration(millis(v)?)),
        (Kind::Uptime, _) => match millis(v)? {
            d if d.is_zero() => return Err("tend needs more than 0s"),
            d => quote(&units::format_duration(d)),
        },
        (Kind::Instances, _) => {
            let n = count(v).ok_or("not a number of instances")?;
            let cpus = i64::try_from(cpus).unwrap_or(1);
            // 0 and "max": every CPU; -N: all but N.
            let n = if n > 0 { n } else { (cpus + n).max(1) };
            n.min(u32::MAX.into()).to_string()
        }
        (Kind::Watch, Value::Bool(false)) => return Ok(None),
        (Kind::Watch, Value::Bool(true)) => "true".into(),
        (Kind::Watch, _) => array(&paths(v)?),
        (Kind::Ignore, _) => match paths(v)? {
            p if p.iter().all(|p| crate::watch::check_pattern(p).is_ok()) => array(&p),
            _ => return Err("a pattern with '/'"),
        },
        (Kind::Text, _) => return Err("not a string"),
        _ => return Err("not a whole number or a name"),
    };
    Ok(Some(text))
}

/// instances as a number: `"max"` is 0.
fn count(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s == "max" => Some(0),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// script, args, interpreter, interpreter_args and node_args: one command
/// array, as PM2 would have run it.
fn map_command(obj: &Map<String, Value>, script: &str, t: &mut Table) {
    let interpreter = match obj.get("interpreter").and_then(Value::as_str) {
        Some("none") => None,
        Some(i) if !i.is_empty() => Some(i),
        _ => {
            let ext = script.rsplit_once('.').map_or("", |(_, e)| e);
            INTERPRETERS.iter().find(|i| i.0 == ext).map(|i| i.1)
        }
    };
    let mut command: Vec<String> = interpreter.into_iter().map(str::to_string).collect();
    for key in ["interpreter_args", "node_args", "args"] {
        if key == "args" {
            command.push(script.to_string());
        }
        let Some(v) = obj.get(key) else { continue };
        match words(v) {
            Ok(_) if key != "args" && interpreter.is_none() => {
                t.not_mapped(key, "the script runs without an interpreter")
            }
            Ok(w) => command.extend(w),
            Err(why) => t.bad(key, v, why),
        }
    }
    t.set("command", &array(&command));
}

/// `env` (and PM2's `port`, which sets PORT): an inline table when short,
/// else the text of an `[app.NAME.env]` table for the end of the app.
fn map_env(obj: &Map<String, Value>, t: &mut Table) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    let empty = Map::new();
    let env = match obj.get("env") {
        None => &empty,
        Some(Value::Object(env)) => env,
        Some(other) => {
            t.bad("env", other, "not a table");
            &empty
        }
    };
    // PM2's port sets PORT.
    let mut port = None;
    if let Some(p) = obj.get("port") {
        if env.contains_key("PORT") {
            t.not_mapped("port", "env sets PORT already");
        } else if p.is_string() || p.is_u64() {
            port = Some(("PORT", p));
            t.note(NOTE_PORT);
        } else {
            t.bad("port", p, "not a port");
        }
    }
    for (k, v) in env.iter().map(|(k, v)| (k.as_str(), v)).chain(port) {
        let text = match v {
            Value::String(s) => quote(s),
            Value::Number(n) if n.is_f64() => quote(&n.to_string()),
            Value::Number(_) | Value::Bool(_) => compact(v),
            _ => {
                t.bad(&format!("env.{k}"), v, "not a string, number or boolean");
                continue;
            }
        };
        lines.push(format!("{} = {text}", key(k)));
    }
    if lines.is_empty() {
        return None;
    }
    let inline = format!("{{ {} }}", lines.join(", "));
    if lines.len() <= 3 && inline.len() <= 70 {
        t.set("env", &inline);
        None
    } else {
        Some(lines.join("\n") + "\n")
    }
}

/// `env_NAME`: values PM2 applies with `--env NAME`. tend has one env per
/// app: the block becomes a comment with its lines in dotenv form, ready
/// for an env_file.
fn env_block(env_name: &str, v: &Value, t: &mut Table) {
    let Value::Object(env) = v else {
        t.bad(&format!("env_{env_name}"), v, "not a table");
        return;
    };
    t.note(&format!(
        "env_{env_name}: what `pm2 start --env {env_name}` adds. tend has one env per \
         app: to use these, save the lines below as a dotenv file and add \
         env_file = \"{env_name}.env\" (relative to cwd), or merge them into env:"
    ));
    for (k, v) in env {
        let text = match v {
            Value::String(s) => dotenv_value(s),
            other => dotenv_value(&compact(other)),
        };
        writeln!(t.text, "{}", visible(&format!("#   {k}={text}"))).ok();
    }
}

/// A value for a dotenv line: bare when it is plain, else double-quoted
/// with the escapes tend's dotenv reads (`\n \t \" \\ \$`).
fn dotenv_value(s: &str) -> String {
    let plain = s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(c, '_' | '-' | '.' | '/' | ':' | '@' | ',' | '+' | '%' | '=')
    });
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

/// autorestart, stop_exit_codes, restart_delay, exp_backoff_restart_delay.
fn map_restart(obj: &Map<String, Value>, t: &mut Table) {
    let autorestart = obj.get("autorestart");
    let never = matches!(autorestart, Some(Value::Bool(false)));
    match autorestart {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => t.set("restart", "\"never\""),
        Some(other) => t.bad("autorestart", other, "not true or false"),
    }
    if let Some(v) = obj.get("stop_exit_codes") {
        let codes: Option<Vec<i64>> = match v {
            Value::Array(list) => list.iter().map(Value::as_i64).collect(),
            v => v.as_i64().map(|n| vec![n]),
        };
        match codes {
            None => t.bad("stop_exit_codes", v, "not a list of exit codes"),
            Some(_) if never => t.not_mapped("stop_exit_codes", "restart is \"never\" already"),
            Some(codes) if codes.contains(&0) => {
                t.set("restart", "\"on-failure\"");
                t.note(NOTE_EXIT_CODES);
            }
            Some(_) => t.not_mapped(
                "stop_exit_codes",
                "only exit code 0 leaves an app down, with restart = \"on-failure\"",
            ),
        }
    }
    let backoff = obj.get("exp_backoff_restart_delay");
    if let Some(v) = backoff {
        match millis(v) {
            Ok(d) => {
                t.set("restart_delay", &quote(&units::format_duration(d)));
                // PM2 grows the delay by 1.5 each time, up to 15s.
                let cap = d.max(std::time::Duration::from_secs(15));
                t.set("max_restart_delay", &quote(&units::format_duration(cap)));
                t.note(NOTE_BACKOFF);
            }
            Err(why) => t.bad("exp_backoff_restart_delay", v, why),
        }
    }
    if let Some(v) = obj.get("restart_delay") {
        match millis(v) {
            Ok(_) if backoff.is_some() => t.not_mapped(
                "restart_delay",
                "exp_backoff_restart_delay takes its place, as in PM2",
            ),
            Ok(d) => {
                t.set("restart_delay", &quote(&units::format_duration(d)));
                t.note(NOTE_DELAY);
            }
            Err(why) => t.bad("restart_delay", v, why),
        }
    }
}

/// out_file, error_file, log_file, merge_logs, combine_logs: log = "file".
fn map_logs(obj: &Map<String, Value>, t: &mut Table) {
    const KEYS: [&str; 5] = [
        "out_file",
        "error_file",
        "log_file",
        "merge_logs",
        "combine_logs",
    ];
    if !KEYS.iter().any(|k| obj.contains_key(*k)) {
        return;
    }
    t.set("log", "\"file\"");
    let mut pm2 = String::from("PM2 wrote to");
    for k in &KEYS[..3] {
        if let Some(Value::String(p)) = obj.get(*k) {
            write!(pm2, " {k} {}", quote(p)).ok();
        }
    }
    if pm2.len() > 12 {
        t.note(&pm2);
    }
    t.note(NOTE_LOGS);
}

/// PM2's milliseconds (a number, or a string of digits) or a duration
/// string tend reads (`"10s"`).
fn millis(v: &Value) -> Result<std::time::Duration, &'static str> {
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
fn paths(v: &Value) -> Result<Vec<String>, &'static str> {
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

/// A JSON value as one short line, for comments: a scalar as JSON
/// writes it (strings cut at 40 characters), a list or an object by kind.
/// By hand: serde_json's writer for `Value` would cost the binary more.
fn compact(v: &Value) -> String {
    match v {
        Value::String(s) if s.chars().count() > 40 => {
            let cut: String = s.chars().take(37).collect();
            quote(&(cut + "..."))
        }
        Value::String(s) => quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => kind(other).to_string(),
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
