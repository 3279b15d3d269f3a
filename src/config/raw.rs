//! The raw structs: init.toml as written, each table read key by key
//! from toml's spanned tree, an unknown key an error, not a silent
//! default. Values that need typing (durations, sizes, signals) stay
//! spanned strings here; `build` types them and names the place of each
//! bad one.
//!
//! Read by hand, not by serde's derive: the derived visitors, toml's serde
//! glue and their instances for each field type cost the binary about
//! 100 KB. The messages keep serde's words (`invalid type: integer `3`,
//! expected a string`, `unknown field ...`, expected one of ...`), which
//! `hints` reads and users may know; `Unexpected` prints the value the
//! way serde does.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::de::Unexpected;
use toml::Spanned;
use toml::de::{DeFloat, DeInteger, DeValue};

use super::Id;
use crate::units;

pub(super) type Value<'a> = Spanned<DeValue<'a>>;

/// A bad value: where, and what is wrong with it.
pub(super) struct Bad {
    pub(super) span: Range<usize>,
    pub(super) message: String,
}

type Res<T> = Result<T, Bad>;

#[derive(Debug, Default)]
pub(super) struct RawTend {
    pub(super) socket: Option<String>,
    pub(super) socket_group: Option<Id>,
    pub(super) vm: Option<bool>,
    pub(super) hostname: Option<String>,
    pub(super) root_rw: Option<bool>,
    pub(super) poll_interval: Option<Spanned<String>>,
    pub(super) log_format: Option<Spanned<String>>,
    pub(super) log_dir: Option<String>,
    pub(super) cgroups: Option<Spanned<String>>,
}

impl RawTend {
    /// The keys, in the order the unknown-key message lists them.
    pub(super) const FIELDS: &[&str] = &[
        "socket",
        "socket_group",
        "vm",
        "hostname",
        "root_rw",
        "poll_interval",
        "log_format",
        "log_dir",
        "cgroups",
    ];

    /// Reads one key; false when it is not one of `FIELDS`.
    pub(super) fn set(&mut self, key: &str, v: &Value<'_>) -> Res<bool> {
        match key {
            "socket" => self.socket = Some(string(v)?),
            "socket_group" => self.socket_group = Some(id(v)?),
            "vm" => self.vm = Some(boolean(v)?),
            "hostname" => self.hostname = Some(string(v)?),
            "root_rw" => self.root_rw = Some(boolean(v)?),
            "poll_interval" => self.poll_interval = Some(spanned(v, duration)?),
            "log_format" => self.log_format = Some(spanned(v, string)?),
            "log_dir" => self.log_dir = Some(string(v)?),
            "cgroups" => self.cgroups = Some(spanned(v, string)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct RawApp {
    pub(super) command: Option<Spanned<RawCommandBox>>,
    pub(super) cwd: Option<Spanned<String>>,
    /// Each value as TOML wrote it; `build` turns strings, numbers and
    /// booleans into text and names the place of an array or a table.
    pub(super) env: Option<BTreeMap<String, Spanned<EnvValue>>>,
    /// One path or a list of them.
    pub(super) env_file: Option<Spanned<RawPaths>>,
    pub(super) user: Option<Spanned<Id>>,
    pub(super) group: Option<Spanned<Id>>,
    pub(super) restart: Option<Spanned<String>>,
    pub(super) restart_delay: Option<Spanned<String>>,
    pub(super) max_restart_delay: Option<Spanned<String>>,
    pub(super) min_uptime: Option<Spanned<String>>,
    pub(super) max_restarts: Option<Spanned<u32>>,
    /// From before min_uptime: accepted whatever its value, ignored, and
    /// named by a warning (see `deprecated`).
    pub(super) restart_window: Option<Spanned<()>>,
    pub(super) max_memory: Option<Spanned<String>>,
    pub(super) memory_max: Option<Spanned<String>>,
    pub(super) cpu_max: Option<Spanned<String>>,
    pub(super) pids_max: Option<Spanned<u32>>,
    pub(super) stop_signal: Option<Spanned<String>>,
    pub(super) stop_timeout: Option<Spanned<String>>,
    pub(super) instances: Option<Spanned<u32>>,
    pub(super) after: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) listen: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) critical: Option<bool>,
    pub(super) health: Option<Spanned<RawHealth>>,
    /// One form or a list (`["prefix", "file"]`).
    pub(super) log: Option<Spanned<RawPaths>>,
    pub(super) log_timestamps: Option<bool>,
    pub(super) log_max_size: Option<Spanned<String>>,
    pub(super) log_keep: Option<u32>,
    pub(super) notify: Option<bool>,
    pub(super) watchdog: Option<Spanned<String>>,
    /// `true` (the app's directory), `false`, one path or a list.
    pub(super) watch: Option<Spanned<RawPaths>>,
    /// One pattern or a list.
    pub(super) watch_ignore: Option<Spanned<RawPaths>>,
    pub(super) watch_delay: Option<Spanned<String>>,
    /// Five cron fields, typed by `build`.
    pub(super) cron_restart: Option<Spanned<String>>,
}

impl RawApp {
    /// The keys, in the order the unknown-key message lists them.
    pub(super) const FIELDS: &[&str] = &[
        "command",
        "cwd",
        "env",
        "env_file",
        "user",
        "group",
        "restart",
        "restart_delay",
        "max_restart_delay",
        "min_uptime",
        "max_restarts",
        "restart_window",
        "max_memory",
        "memory_max",
        "cpu_max",
        "pids_max",
        "stop_signal",
        "stop_timeout",
        "instances",
        "after",
        "listen",
        "critical",
        "health",
        "log",
        "log_timestamps",
        "log_max_size",
        "log_keep",
        "notify",
        "watchdog",
        "watch",
        "watch_ignore",
        "watch_delay",
        "cron_restart",
    ];

    /// Reads one key; false when it is not one of `FIELDS`.
    pub(super) fn set(&mut self, key: &str, v: &Value<'_>) -> Res<bool> {
        match key {
            "command" => self.command = Some(spanned(v, command)?),
            "cwd" => self.cwd = Some(spanned(v, string)?),
            "env" => self.env = Some(env(v)?),
            "env_file" => self.env_file = Some(spanned(v, paths)?),
            "user" => self.user = Some(spanned(v, id)?),
            "group" => self.group = Some(spanned(v, id)?),
            "restart" => self.restart = Some(spanned(v, string)?),
            "restart_delay" => self.restart_delay = Some(spanned(v, duration)?),
            "max_restart_delay" => self.max_restart_delay = Some(spanned(v, duration)?),
            "min_uptime" => self.min_uptime = Some(spanned(v, duration)?),
            "max_restarts" => self.max_restarts = Some(spanned(v, uint)?),
            "restart_window" => self.restart_window = Some(spanned(v, ignore)?),
            "max_memory" => self.max_memory = Some(spanned(v, string)?),
            "memory_max" => self.memory_max = Some(spanned(v, string)?),
            "cpu_max" => self.cpu_max = Some(spanned(v, string)?),
            "pids_max" => self.pids_max = Some(spanned(v, uint)?),
            "stop_signal" => self.stop_signal = Some(spanned(v, string)?),
            "stop_timeout" => self.stop_timeout = Some(spanned(v, duration)?),
            "instances" => self.instances = Some(spanned(v, uint)?),
            "after" => self.after = Some(spanned(v, strings)?),
            "listen" => self.listen = Some(spanned(v, strings)?),
            "critical" => self.critical = Some(boolean(v)?),
            "health" => self.health = Some(spanned(v, health)?),
            "log" => self.log = Some(spanned(v, paths)?),
            "log_timestamps" => self.log_timestamps = Some(boolean(v)?),
            "log_max_size" => self.log_max_size = Some(spanned(v, string)?),
            "log_keep" => self.log_keep = Some(uint(v)?),
            "notify" => self.notify = Some(boolean(v)?),
            "watchdog" => self.watchdog = Some(spanned(v, duration)?),
            "watch" => self.watch = Some(spanned(v, paths)?),
            "watch_ignore" => self.watch_ignore = Some(spanned(v, paths)?),
            "watch_delay" => self.watch_delay = Some(spanned(v, duration)?),
            "cron_restart" => self.cron_restart = Some(spanned(v, string)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

#[derive(Debug, Default, Clone)]
pub(super) struct RawHealth {
    pub(super) command: Option<RawCommandBox>,
    pub(super) tcp: Option<Spanned<String>>,
    pub(super) http: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) retries: Option<u32>,
    pub(super) start_period: Option<Spanned<String>>,
}

impl RawHealth {
    /// The keys, in the order the unknown-key message lists them.
    const FIELDS: &[&str] = &[
        "command",
        "tcp",
        "http",
        "interval",
        "timeout",
        "retries",
        "start_period",
    ];

    /// Reads one key; false when it is not one of `FIELDS`.
    fn set(&mut self, key: &str, v: &Value<'_>) -> Res<bool> {
        match key {
            "command" => self.command = Some(command(v)?),
            "tcp" => self.tcp = Some(spanned(v, string)?),
            "http" => self.http = Some(spanned(v, string)?),
            "interval" => self.interval = Some(spanned(v, duration)?),
            "timeout" => self.timeout = Some(spanned(v, duration)?),
            "retries" => self.retries = Some(uint(v)?),
            "start_period" => self.start_period = Some(spanned(v, duration)?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `unknown field `KEY`, expected one of `A`, `B`, ...`, at `span`.
pub(super) fn unknown(span: Range<usize>, key: &str, fields: &[&str]) -> Bad {
    Bad {
        span,
        message: format!(
            "unknown field `{key}`, expected one of `{}`",
            fields.join("`, `")
        ),
    }
}

fn bad(v: &Value<'_>, message: String) -> Bad {
    Bad {
        span: v.span(),
        message,
    }
}

fn spanned<T>(v: &Value<'_>, read: fn(&Value<'_>) -> Res<T>) -> Res<Spanned<T>> {
    Ok(Spanned::new(v.span(), read(v)?))
}

/// A TOML integer in the first type it fits, as toml hands it to serde.
enum Int {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
}

fn int(v: &Value<'_>, i: &DeInteger<'_>) -> Res<Int> {
    let (s, radix) = (i.as_str(), i.radix());
    if let Ok(n) = i64::from_str_radix(s, radix) {
        Ok(Int::I64(n))
    } else if let Ok(n) = u64::from_str_radix(s, radix) {
        Ok(Int::U64(n))
    } else if let Ok(n) = i128::from_str_radix(s, radix) {
        Ok(Int::I128(n))
    } else if let Ok(n) = u128::from_str_radix(s, radix) {
        Ok(Int::U128(n))
    } else {
        Err(bad(v, "integer number overflowed".into()))
    }
}

fn float(v: &Value<'_>, f: &DeFloat<'_>) -> Res<f64> {
    match f.as_str().parse::<f64>() {
        Ok(x) if !x.is_infinite() || f.as_str().contains("inf") => Ok(x),
        _ => Err(bad(v, "floating-point number overflowed".into())),
    }
}

/// serde's `invalid type: VALUE, expected EXPECTED` for `v`.
fn invalid(v: &Value<'_>, expected: &str) -> Bad {
    let what = match v.get_ref() {
        DeValue::String(s) => Unexpected::Str(s).to_string(),
        DeValue::Integer(i) => match int(v, i) {
            Ok(Int::I64(n)) => Unexpected::Signed(n).to_string(),
            Ok(Int::U64(n)) => Unexpected::Unsigned(n).to_string(),
            Ok(Int::I128(n)) => format!("integer `{n}` as i128"),
            Ok(Int::U128(n)) => format!("integer `{n}` as u128"),
            Err(e) => return e,
        },
        DeValue::Float(f) => match float(v, f) {
            Ok(x) => Unexpected::Float(x).to_string(),
            Err(e) => return e,
        },
        DeValue::Boolean(b) => Unexpected::Bool(*b).to_string(),
        DeValue::Array(_) => Unexpected::Seq.to_string(),
        // toml hands a date to serde as a one-key map.
        DeValue::Table(_) | DeValue::Datetime(_) => Unexpected::Map.to_string(),
    };
    bad(v, format!("invalid type: {what}, expected {expected}"))
}

fn string(v: &Value<'_>) -> Res<String> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        _ => Err(invalid(v, "a string")),
    }
}

/// `after` and `listen`: an array of strings, each with its place.
fn strings(v: &Value<'_>) -> Res<Vec<Spanned<String>>> {
    match v.get_ref() {
        DeValue::Array(items) => items.iter().map(|i| spanned(i, string)).collect(),
        _ => Err(invalid(v, "a sequence")),
    }
}

fn boolean(v: &Value<'_>) -> Res<bool> {
    match v.get_ref() {
        DeValue::Boolean(b) => Ok(*b),
        _ => Err(invalid(v, "a boolean")),
    }
}

fn uint(v: &Value<'_>) -> Res<u32> {
    let DeValue::Integer(i) = v.get_ref() else {
        return Err(invalid(v, "u32"));
    };
    let what = match int(v, i)? {
        Int::I64(n) => match u32::try_from(n) {
            Ok(n) => return Ok(n),
            Err(_) => Unexpected::Signed(n).to_string(),
        },
        Int::U64(n) => Unexpected::Unsigned(n).to_string(),
        Int::I128(_) | Int::U128(_) => return Err(invalid(v, "u32")),
    };
    Err(bad(v, format!("invalid value: {what}, expected u32")))
}

/// A user or group: a name, or a number that fits a uid.
fn id(v: &Value<'_>) -> Res<Id> {
    let n = match v.get_ref() {
        DeValue::String(s) => return Ok(Id::Name(s.to_string())),
        DeValue::Integer(i) => match int(v, i)? {
            Int::I64(n) => i128::from(n),
            Int::U64(n) => i128::from(n),
            Int::I128(n) => n,
            Int::U128(_) => return Err(invalid(v, "a name or a number")),
        },
        _ => return Err(invalid(v, "a name or a number")),
    };
    u32::try_from(n).map(Id::Number).map_err(|_| {
        bad(
            v,
            format!("{n} is not a user or group id (0 to 4294967295)"),
        )
    })
}

/// A duration as written: a string, typed later by `build`. A bare integer
/// (PM2's `restart_delay: 3000`) is an error that says what to write
/// instead; any other type gets serde's "expected a string".
fn duration(v: &Value<'_>) -> Res<String> {
    match v.get_ref() {
        DeValue::String(s) => Ok(s.to_string()),
        DeValue::Integer(i) => match int(v, i)? {
            Int::I64(n) => Err(bad(v, units::bare_duration(i128::from(n)))),
            Int::U64(n) => Err(bad(v, units::bare_duration(i128::from(n)))),
            Int::I128(_) | Int::U128(_) => Err(invalid(v, "a string")),
        },
        _ => Err(invalid(v, "a string")),
    }
}

/// Any value, for a key that is read and ignored; only a number too large
/// for toml to read at all is an error.
fn ignore(v: &Value<'_>) -> Res<()> {
    match v.get_ref() {
        DeValue::Integer(i) => int(v, i).map(drop),
        DeValue::Float(f) => float(v, f).map(drop),
        DeValue::Array(items) => items.iter().try_for_each(ignore),
        DeValue::Table(t) => t.values().try_for_each(ignore),
        _ => Ok(()),
    }
}

/// A string, or an array of strings: the two forms of `command`, and of
/// `env_file`, `log`, `watch` and `watch_ignore`; or a boolean, which only
/// `watch` takes (the others refuse it). None for anything else: each
/// caller has its own message.
fn one_or_more(v: &Value<'_>) -> Option<RawPaths> {
    match v.get_ref() {
        DeValue::String(s) => Some(RawPaths(vec![s.to_string()], None)),
        DeValue::Boolean(b) => Some(RawPaths(Vec::new(), Some(*b))),
        DeValue::Array(items) => {
            let words = items.iter().map(|i| i.get_ref().as_str().map(String::from));
            Some(RawPaths(words.collect::<Option<_>>()?, None))
        }
        _ => None,
    }
}

/// `env_file`, `log`, `watch` and `watch_ignore`: one string or an array
/// of them; or a boolean, which only `watch` takes (`build` refuses it
/// elsewhere).
#[derive(Debug, Clone)]
pub(super) struct RawPaths(pub(super) Vec<String>, pub(super) Option<bool>);

fn paths(v: &Value<'_>) -> Res<RawPaths> {
    one_or_more(v).ok_or_else(|| bad(v, "expected a string or an array of strings".into()))
}

/// A `command` (the argv, and whether it is the shell form), with a
/// message that says what forms are accepted.
#[derive(Debug, Clone)]
pub(super) struct RawCommandBox(pub(super) Vec<String>, pub(super) bool);

fn command(v: &Value<'_>) -> Res<RawCommandBox> {
    match (one_or_more(v), v.get_ref()) {
        (Some(RawPaths(words, None)), DeValue::String(_)) => Ok(RawCommandBox(words, true)),
        (Some(RawPaths(words, None)), _) => Ok(RawCommandBox(words, false)),
        _ => Err(bad(
            v,
            "expected an array of strings (run directly) or a string (run by /bin/sh -c)".into(),
        )),
    }
}

/// A health table. serde's derive also took an array, its items the keys
/// in order, and a date, as a map with toml's private key: kept, so that
/// such a value gets the same message as before.
fn health(v: &Value<'_>) -> Res<RawHealth> {
    let mut h = RawHealth::default();
    match v.get_ref() {
        DeValue::Table(t) => {
            for (key, item) in t.iter() {
                if !h.set(key.get_ref(), item)? {
                    return Err(unknown(key.span(), key.get_ref(), RawHealth::FIELDS));
                }
            }
        }
        DeValue::Array(items) => {
            for (i, key) in RawHealth::FIELDS.iter().enumerate() {
                match items.get(i) {
                    Some(item) => _ = h.set(key, item)?,
                    // The derive's `#[serde(default)]` durations.
                    None if matches!(*key, "interval" | "timeout" | "start_period") => {}
                    None => {
                        return Err(bad(
                            v,
                            format!(
                                "invalid length {i}, expected struct RawHealth with 7 elements"
                            ),
                        ));
                    }
                }
            }
        }
        DeValue::Datetime(_) => {
            let key = "$__toml_private_datetime";
            return Err(unknown(v.span(), key, RawHealth::FIELDS));
        }
        _ => return Err(invalid(v, "struct RawHealth")),
    }
    Ok(h)
}

/// `env`: a table of names to values.
fn env(v: &Value<'_>) -> Res<BTreeMap<String, Spanned<EnvValue>>> {
    match v.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, item)| Ok((k.get_ref().to_string(), spanned(item, env_value)?)))
            .collect(),
        // toml hands a date to serde as a one-key map, whose value is the
        // date's text.
        DeValue::Datetime(d) => Err(bad(
            v,
            format!(
                "invalid type: {}, expected a spanned value",
                Unexpected::Str(&d.to_string())
            ),
        )),
        _ => Err(invalid(v, "a map")),
    }
}

/// An `env` value as written: a string, or a number or boolean in the text
/// TOML writes for it (`3101`, `1.5`, `true`); anything else is kept as
/// its type's name so that `build` can name its place.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum EnvValue {
    Text(String),
    Other(&'static str),
}

fn env_value(v: &Value<'_>) -> Res<EnvValue> {
    let text = match v.get_ref() {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => match int(v, i)? {
            Int::I64(n) => n.to_string(),
            Int::U64(n) => n.to_string(),
            Int::I128(_) | Int::U128(_) => {
                return Err(invalid(v, "a string, number or boolean"));
            }
        },
        DeValue::Float(f) => float_text(float(v, f)?),
        DeValue::Boolean(b) => b.to_string(),
        DeValue::Array(_) => return ignore(v).map(|()| EnvValue::Other("array")),
        DeValue::Table(_) => return ignore(v).map(|()| EnvValue::Other("table")),
        DeValue::Datetime(_) => return Ok(EnvValue::Other("datetime")),
    };
    Ok(EnvValue::Text(text))
}

/// A float as TOML writes it: `1.5`, `1000.0` (never `1000`), `inf`, `nan`.
pub(super) fn float_text(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf" } else { "-inf" }.into()
    } else if v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}
