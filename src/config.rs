//! init.toml → a validated `Config`, or every problem at once.
//!
//! Stage one parses the document into toml's spanned tree; stage two feeds
//! each section to the raw serde structs (`deny_unknown_fields`), key by key
//! so one bad key does not hide the next; stage three types the values
//! (durations, sizes, signals), merges `[defaults]`, expands instances and
//! checks `after`. Every problem carries the byte span toml gave it, turned
//! into `file:line:column` only when printed.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use crate::health::{self, HealthSpec, Probe};
use crate::policy::Restart;
use crate::units;

/// The whole validated file.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub socket: Option<PathBuf>,
    /// A group whose members may also use the control socket.
    pub socket_group: Option<Id>,
    /// VM mode forced on or off; None: detected.
    pub vm: Option<bool>,
    /// In VM mode: the host name to set.
    pub hostname: Option<String>,
    /// In VM mode: remount `/` read-write at boot.
    pub root_rw: bool,
    pub poll_interval: Duration,
    pub log_format: LogFormat,
    /// Every app instance, in file order of their apps.
    pub apps: Vec<AppSpec>,
}

/// tend's own event lines: plain text or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// A user or group, by name (looked up at start) or by number.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Id {
    Number(u32),
    Name(String),
}

/// One app instance, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct AppSpec {
    /// `NAME`, or `NAME.i` when the app has several instances.
    pub name: String,
    /// The table key: what `after` and control commands refer to.
    pub app: String,
    pub instance: u32,
    pub command: Vec<OsString>,
    pub cwd: Option<PathBuf>,
    /// Merged `[defaults] env` and app `env`, the app's keys winning.
    pub env: BTreeMap<String, String>,
    pub user: Option<Id>,
    pub group: Option<Id>,
    pub restart: Restart,
    pub restart_delay: Duration,
    pub max_restart_delay: Duration,
    pub max_restarts: u32,
    pub restart_window: Duration,
    pub max_memory: Option<u64>,
    pub stop_signal: libc::c_int,
    pub stop_timeout: Duration,
    /// App names (not instance names) this one waits for.
    pub after: Vec<String>,
    pub critical: bool,
    pub health: Option<HealthSpec>,
    pub log: LogMode,
    /// sd_notify: the app gets NOTIFY_SOCKET and counts as up once READY=1.
    pub notify: bool,
    /// With notify: restart when no WATCHDOG=1 came for this long.
    pub watchdog: Option<Duration>,
}

/// Where an app's stdout and stderr go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogMode {
    /// Straight to tend's own stdout and stderr: no copy.
    #[default]
    Inherit,
    /// Through tend, each line as `NAME | line`.
    Prefix,
}

impl AppSpec {
    /// An app with every default, for wrapper mode and tests.
    pub fn new(name: &str, command: Vec<OsString>) -> AppSpec {
        AppSpec {
            name: name.to_string(),
            app: name.to_string(),
            instance: 0,
            command,
            cwd: None,
            env: BTreeMap::new(),
            user: None,
            group: None,
            restart: Restart::Always,
            restart_delay: Duration::from_secs(1),
            max_restart_delay: Duration::from_secs(30),
            max_restarts: 10,
            restart_window: Duration::from_secs(60),
            max_memory: None,
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            after: Vec::new(),
            critical: false,
            health: None,
            log: LogMode::Inherit,
            notify: false,
            watchdog: None,
        }
    }
}

/// One problem found in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub span: Range<usize>,
    /// Dotted key path, e.g. `app.web.restart_delay`.
    pub key: String,
    pub message: String,
}

/// Every problem of one file, printable as `file:line:col: key: message`.
#[derive(Debug)]
pub struct Problems {
    pub file: PathBuf,
    pub text: String,
    pub list: Vec<Problem>,
}

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.list.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let (line, col) = line_col(&self.text, p.span.start);
            write!(f, "{}:{line}:{col}: ", self.file.display())?;
            if !p.key.is_empty() {
                write!(f, "{}: ", p.key)?;
            }
            f.write_str(&p.message)?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTend {
    socket: Option<String>,
    socket_group: Option<Id>,
    vm: Option<bool>,
    hostname: Option<String>,
    root_rw: Option<bool>,
    poll_interval: Option<Spanned<String>>,
    log_format: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawCommand {
    Argv(Vec<String>),
    Shell(String),
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    command: Option<Spanned<RawCommandBox>>,
    cwd: Option<Spanned<String>>,
    env: Option<BTreeMap<String, String>>,
    user: Option<Spanned<Id>>,
    group: Option<Spanned<Id>>,
    restart: Option<Spanned<String>>,
    restart_delay: Option<Spanned<String>>,
    max_restart_delay: Option<Spanned<String>>,
    max_restarts: Option<Spanned<u32>>,
    restart_window: Option<Spanned<String>>,
    max_memory: Option<Spanned<String>>,
    stop_signal: Option<Spanned<String>>,
    stop_timeout: Option<Spanned<String>>,
    instances: Option<Spanned<u32>>,
    after: Option<Spanned<Vec<Spanned<String>>>>,
    critical: Option<bool>,
    health: Option<Spanned<RawHealth>>,
    log: Option<Spanned<String>>,
    notify: Option<bool>,
    watchdog: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealth {
    command: Option<RawCommandBox>,
    tcp: Option<Spanned<String>>,
    http: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    retries: Option<u32>,
    start_period: Option<Spanned<String>>,
}

/// `RawCommand` behind a Clone-able wrapper, with a message that says what
/// forms are accepted instead of serde's "did not match any variant".
#[derive(Debug, Clone)]
struct RawCommandBox(Vec<String>, bool);

impl<'de> Deserialize<'de> for RawCommandBox {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match RawCommand::deserialize(d) {
            Ok(RawCommand::Argv(v)) => Ok(RawCommandBox(v, false)),
            Ok(RawCommand::Shell(s)) => Ok(RawCommandBox(vec![s], true)),
            Err(_) => Err(serde::de::Error::custom(
                "expected an array of strings (run directly) or a string (run by /bin/sh -c)",
            )),
        }
    }
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Config, Problems> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return Err(Problems {
                file: path.to_path_buf(),
                text: String::new(),
                list: vec![Problem {
                    span: 0..0,
                    key: String::new(),
                    message: format!("cannot read the file: {e}"),
                }],
            });
        }
    };
    parse(&text).map_err(|list| Problems {
        file: path.to_path_buf(),
        text,
        list,
    })
}

/// Validates the text of a config file; every problem, or the config.
pub fn parse(text: &str) -> Result<Config, Vec<Problem>> {
    let mut problems = Vec::new();
    let root = match DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            return Err(vec![Problem {
                span: e.span().unwrap_or(0..0),
                key: String::new(),
                message: e.message().trim().to_string(),
            }]);
        }
    };
    let mut tend = RawTend::default();
    let mut defaults: Option<RawApp> = None;
    let mut raw_apps: Vec<(Spanned<String>, RawApp, Vec<String>)> = Vec::new();

    for (key, value) in root.get_ref().iter() {
        match key.get_ref().as_ref() {
            "tend" => {
                if let Some((t, _)) = section::<RawTend>("tend", value, &mut problems) {
                    tend = t;
                }
            }
            "defaults" => {
                if let Some((d, _)) = section::<RawApp>("defaults", value, &mut problems) {
                    defaults = Some(d);
                }
            }
            "app" => match value.get_ref() {
                DeValue::Table(apps) => {
                    for (name, app) in apps.iter() {
                        let path = format!("app.{}", name.get_ref());
                        if let Some((raw, bad)) = section::<RawApp>(&path, app, &mut problems) {
                            let name = Spanned::new(name.span(), name.get_ref().to_string());
                            raw_apps.push((name, raw, bad));
                        }
                    }
                }
                other => problems.push(Problem {
                    span: value.span(),
                    key: "app".into(),
                    message: format!(
                        "expected a table of apps ([app.NAME]), found {}",
                        other.type_str()
                    ),
                }),
            },
            other => problems.push(Problem {
                span: key.span(),
                key: other.to_string(),
                message: "unknown section (expected tend, defaults or app)".into(),
            }),
        }
    }

    let poll_interval = typed(
        &tend.poll_interval,
        "tend.poll_interval",
        &mut problems,
        units::parse_duration,
    )
    .unwrap_or(Duration::from_secs(1));
    if poll_interval.is_zero()
        && let Some(p) = &tend.poll_interval
    {
        problems.push(Problem {
            span: p.span(),
            key: "tend.poll_interval".into(),
            message: "must be longer than 0s".into(),
        });
    }
    let log_format = typed(
        &tend.log_format,
        "tend.log_format",
        &mut problems,
        |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("invalid log format {s:?}: expected text or json")),
        },
    )
    .unwrap_or_default();

    if raw_apps.is_empty() && problems.is_empty() {
        problems.push(Problem {
            span: 0..0,
            key: String::new(),
            message: "no apps: add at least one [app.NAME] table with a command".into(),
        });
    }

    // toml's tables are sorted by key; apps start in file order.
    raw_apps.sort_by_key(|(name, _, _)| name.span().start);
    let defaults_raw = defaults.unwrap_or_default();
    let mut apps = Vec::new();
    let app_names: Vec<&str> = raw_apps
        .iter()
        .map(|(n, _, _)| n.get_ref().as_str())
        .collect();
    for (name, raw, bad) in &raw_apps {
        let room = MAX_INSTANCES.saturating_sub(u32::try_from(apps.len()).unwrap_or(u32::MAX));
        apps.extend(build_app(
            name,
            raw,
            bad,
            &defaults_raw,
            &app_names,
            room,
            &mut problems,
        ));
    }
    let raw_apps: Vec<(Spanned<String>, RawApp)> =
        raw_apps.into_iter().map(|(n, r, _)| (n, r)).collect();
    check_names(&raw_apps, &apps, &mut problems);
    check_cycles(&raw_apps, &defaults_raw, &mut problems);

    if problems.is_empty() {
        Ok(Config {
            socket: tend.socket.map(PathBuf::from),
            socket_group: tend.socket_group,
            vm: tend.vm,
            hostname: tend.hostname,
            root_rw: tend.root_rw.unwrap_or(false),
            poll_interval,
            log_format,
            apps,
        })
    } else {
        problems.sort_by_key(|p| p.span.start);
        Err(problems)
    }
}

/// Deserializes one section, reporting each bad key on its own; the good
/// keys still come back (so their values are checked too), with the names
/// of the bad ones.
fn section<T: for<'de> Deserialize<'de>>(
    path: &str,
    value: &Spanned<DeValue<'_>>,
    problems: &mut Vec<Problem>,
) -> Option<(T, Vec<String>)> {
    let DeValue::Table(table) = value.get_ref() else {
        problems.push(Problem {
            span: value.span(),
            key: path.to_string(),
            message: format!("expected a table, found {}", value.get_ref().type_str()),
        });
        return None;
    };
    let mut good = DeTable::new();
    let mut bad = Vec::new();
    for (key, item) in table.iter() {
        let mut single = DeTable::new();
        single.insert(key.clone(), item.clone());
        let one = Spanned::new(item.span(), DeValue::Table(single));
        match T::deserialize(ValueDeserializer::from(one)) {
            Ok(_) => {
                good.insert(key.clone(), item.clone());
            }
            Err(e) => {
                problems.push(Problem {
                    span: e.span().unwrap_or_else(|| key.span()),
                    key: format!("{path}.{}", key.get_ref()),
                    message: e.message().trim().to_string(),
                });
                bad.push(key.get_ref().to_string());
            }
        }
    }
    let good = Spanned::new(value.span(), DeValue::Table(good));
    match T::deserialize(ValueDeserializer::from(good)) {
        Ok(t) => Some((t, bad)),
        Err(e) => {
            problems.push(Problem {
                span: e.span().unwrap_or_else(|| value.span()),
                key: path.to_string(),
                message: e.message().trim().to_string(),
            });
            None
        }
    }
}

/// Types one optional string value, recording a problem when it is bad.
fn typed<T>(
    value: &Option<Spanned<String>>,
    key: &str,
    problems: &mut Vec<Problem>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Option<T> {
    let value = value.as_ref()?;
    match parse(value.get_ref()) {
        Ok(t) => Some(t),
        Err(message) => {
            problems.push(Problem {
                span: value.span(),
                key: key.to_string(),
                message,
            });
            None
        }
    }
}

/// The most app instances one file may declare, all apps together. Each is
/// a process and a few hundred bytes of tend's memory; without a cap a typo
/// (`instances = 4000000000`, found by fuzzing, or a large `[defaults]
/// instances` over many apps) would exhaust memory and take PID 1 down.
const MAX_INSTANCES: u32 = 10_000;

/// Merges defaults into one app, types every value and expands instances,
/// at most `room` of them.
fn build_app(
    name: &Spanned<String>,
    raw: &RawApp,
    bad_keys: &[String],
    defaults: &RawApp,
    app_names: &[&str],
    room: u32,
    problems: &mut Vec<Problem>,
) -> Vec<AppSpec> {
    let n = name.get_ref();
    let key = |k: &str| format!("app.{n}.{k}");
    let before = problems.len();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        problems.push(Problem {
            span: name.span(),
            key: format!("app.{n}"),
            message: "invalid app name: use letters, digits, '-' and '_'".into(),
        });
    }
    macro_rules! pick {
        ($field:ident) => {
            raw.$field.clone().or_else(|| defaults.$field.clone())
        };
    }
    let mut spec = AppSpec::new(n, Vec::new());
    match pick!(command) {
        None if bad_keys.iter().any(|k| k == "command") => {}
        None => problems.push(Problem {
            span: name.span(),
            key: format!("app.{n}"),
            message: "missing key \"command\"".into(),
        }),
        Some(c) => {
            let RawCommandBox(words, shell) = c.get_ref().clone();
            if words.is_empty() || words[0].is_empty() {
                problems.push(Problem {
                    span: c.span(),
                    key: key("command"),
                    message: "empty command".into(),
                });
            } else if shell {
                spec.command = ["/bin/sh", "-c", &words[0]].map(OsString::from).to_vec();
            } else {
                spec.command = words.into_iter().map(OsString::from).collect();
            }
        }
    }
    spec.cwd = pick!(cwd).map(|c| PathBuf::from(c.into_inner()));
    spec.env = defaults.env.clone().unwrap_or_default();
    spec.env.extend(raw.env.clone().unwrap_or_default());
    spec.user = pick!(user).map(Spanned::into_inner);
    spec.group = pick!(group).map(Spanned::into_inner);
    if let Some(r) = typed(&pick!(restart), &key("restart"), problems, Restart::parse) {
        spec.restart = r;
    }
    let duration = |field: Option<Spanned<String>>, k: &str, problems: &mut Vec<Problem>| {
        typed(&field, &key(k), problems, units::parse_duration)
    };
    if let Some(d) = duration(pick!(restart_delay), "restart_delay", problems) {
        spec.restart_delay = d;
    }
    match duration(pick!(max_restart_delay), "max_restart_delay", problems) {
        Some(d) => spec.max_restart_delay = d,
        // Unset: the default cap, but never below the first delay.
        None => spec.max_restart_delay = spec.max_restart_delay.max(spec.restart_delay),
    }
    if spec.max_restart_delay < spec.restart_delay
        && let Some(m) = pick!(max_restart_delay)
    {
        problems.push(Problem {
            span: m.span(),
            key: key("max_restart_delay"),
            message: format!(
                "{} is shorter than restart_delay ({})",
                units::format_duration(spec.max_restart_delay),
                units::format_duration(spec.restart_delay)
            ),
        });
    }
    if let Some(m) = pick!(max_restarts) {
        spec.max_restarts = m.into_inner();
    }
    if let Some(d) = duration(pick!(restart_window), "restart_window", problems) {
        spec.restart_window = d;
        if d.is_zero()
            && let Some(w) = pick!(restart_window)
        {
            problems.push(Problem {
                span: w.span(),
                key: key("restart_window"),
                message: "must be longer than 0s (it would turn max_restarts off)".into(),
            });
        }
    }
    spec.max_memory = typed(
        &pick!(max_memory),
        &key("max_memory"),
        problems,
        units::parse_size,
    );
    if let Some(s) = typed(
        &pick!(stop_signal),
        &key("stop_signal"),
        problems,
        units::parse_signal,
    ) {
        spec.stop_signal = s;
    }
    if let Some(d) = duration(pick!(stop_timeout), "stop_timeout", problems) {
        spec.stop_timeout = d;
    }
    spec.critical = pick!(critical).unwrap_or(false);
    if let Some(mode) = typed(&pick!(log), &key("log"), problems, |s| match s {
        "inherit" => Ok(LogMode::Inherit),
        "prefix" => Ok(LogMode::Prefix),
        _ => Err(format!(
            "invalid log mode {s:?}: expected inherit or prefix"
        )),
    }) {
        spec.log = mode;
    }
    spec.notify = pick!(notify).unwrap_or(false);
    spec.watchdog = duration(pick!(watchdog), "watchdog", problems);
    if let Some(w) = pick!(watchdog) {
        if !spec.notify {
            problems.push(Problem {
                span: w.span(),
                key: key("watchdog"),
                message: "needs notify = true (WATCHDOG=1 comes through NOTIFY_SOCKET)".into(),
            });
        } else if spec.watchdog.is_some_and(|d| d.is_zero()) {
            problems.push(Problem {
                span: w.span(),
                key: key("watchdog"),
                message: "must be longer than 0s".into(),
            });
        }
    }
    if let Some(h) = pick!(health) {
        spec.health = build_health(&h, &key("health"), problems);
    }
    if let Some(after) = pick!(after) {
        for dep in after.get_ref() {
            let d = dep.get_ref();
            if d == n {
                problems.push(Problem {
                    span: dep.span(),
                    key: key("after"),
                    message: format!("app {n:?} cannot wait for itself"),
                });
            } else if !app_names.contains(&d.as_str()) {
                problems.push(Problem {
                    span: dep.span(),
                    key: key("after"),
                    message: format!("no app named {d:?}"),
                });
            } else if !spec.after.contains(d) {
                spec.after.push(d.clone());
            }
        }
    }
    let instances = pick!(instances)
        .map(|i| (i.span(), i.into_inner()))
        .unwrap_or((0..0, 1));
    if !(1..=MAX_INSTANCES).contains(&instances.1) {
        problems.push(Problem {
            span: instances.0,
            key: key("instances"),
            message: format!("must be between 1 and {MAX_INSTANCES}"),
        });
    } else if instances.1 > room {
        problems.push(Problem {
            span: instances.0.clone(),
            key: key("instances"),
            message: format!(
                "too many instances: at most {MAX_INSTANCES} in one file, all apps together"
            ),
        });
    }
    if problems.len() > before {
        return Vec::new();
    }
    if instances.1 == 1 {
        return vec![spec];
    }
    (0..instances.1)
        .map(|i| AppSpec {
            name: format!("{n}.{i}"),
            instance: i,
            ..spec.clone()
        })
        .collect()
}

/// Types an app's `[app.NAME.health]` table.
fn build_health(
    raw: &Spanned<RawHealth>,
    key: &str,
    problems: &mut Vec<Problem>,
) -> Option<HealthSpec> {
    let h = raw.get_ref();
    let sub = |k: &str| format!("{key}.{k}");
    let before = problems.len();
    let probes = [h.command.is_some(), h.tcp.is_some(), h.http.is_some()];
    if probes.iter().filter(|&&p| p).count() != 1 {
        problems.push(Problem {
            span: raw.span(),
            key: key.to_string(),
            message: "needs exactly one of command, tcp or http".into(),
        });
    }
    let probe = if let Some(RawCommandBox(words, shell)) = &h.command {
        if words.is_empty() || words[0].is_empty() {
            problems.push(Problem {
                span: raw.span(),
                key: sub("command"),
                message: "empty command".into(),
            });
            None
        } else if *shell {
            Some(Probe::Exec(
                ["/bin/sh", "-c", &words[0]].map(OsString::from).to_vec(),
            ))
        } else {
            Some(Probe::Exec(words.iter().map(OsString::from).collect()))
        }
    } else if let Some(addr) = &h.tcp {
        typed(
            &Some(addr.clone()),
            &sub("tcp"),
            problems,
            health::parse_addr,
        )
        .map(Probe::Tcp)
    } else if let Some(url) = &h.http {
        typed(
            &Some(url.clone()),
            &sub("http"),
            problems,
            health::parse_http,
        )
        .map(|(addr, host, path)| Probe::Http { addr, host, path })
    } else {
        None
    };
    let duration =
        |v: &Option<Spanned<String>>, k: &str, default: u64, problems: &mut Vec<Problem>| {
            typed(v, &sub(k), problems, units::parse_duration)
                .unwrap_or(Duration::from_millis(default))
        };
    let interval = duration(&h.interval, "interval", 10_000, problems);
    let timeout = duration(&h.timeout, "timeout", 2_000, problems);
    let start_period = duration(&h.start_period, "start_period", 0, problems);
    if interval.is_zero() {
        problems.push(Problem {
            span: h.interval.as_ref().map_or(raw.span(), |i| i.span()),
            key: sub("interval"),
            message: "must be longer than 0s".into(),
        });
    }
    if timeout.is_zero() {
        problems.push(Problem {
            span: h.timeout.as_ref().map_or(raw.span(), |t| t.span()),
            key: sub("timeout"),
            message: "must be longer than 0s".into(),
        });
    }
    if problems.len() > before {
        return None;
    }
    Some(HealthSpec {
        probe: probe?,
        interval,
        timeout,
        retries: h.retries.unwrap_or(3).max(1),
        start_period,
    })
}

/// Instance names must be unique (`web` with 2 instances and an app named
/// `web.0` cannot both exist; names cannot hold dots, but be safe).
fn check_names(raw: &[(Spanned<String>, RawApp)], apps: &[AppSpec], problems: &mut Vec<Problem>) {
    let mut seen = std::collections::BTreeSet::new();
    for app in apps {
        if !seen.insert(app.name.as_str()) {
            let span = raw
                .iter()
                .find(|(n, _)| *n.get_ref() == app.app)
                .map_or(0..0, |(n, _)| n.span());
            problems.push(Problem {
                span,
                key: format!("app.{}", app.app),
                message: format!("duplicate instance name {:?}", app.name),
            });
        }
    }
}

/// Reports each `after` cycle once, naming the apps in it.
fn check_cycles(raw: &[(Spanned<String>, RawApp)], defaults: &RawApp, problems: &mut Vec<Problem>) {
    let deps = |i: usize| -> Vec<usize> {
        let after = raw[i].1.after.as_ref().or(defaults.after.as_ref());
        after
            .map(|a| {
                a.get_ref()
                    .iter()
                    .filter_map(|d| raw.iter().position(|(n, _)| n.get_ref() == d.get_ref()))
                    .filter(|&j| j != i)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Colours: 0 unvisited, 1 on the current path, 2 done.
    let mut colour = vec![0u8; raw.len()];
    let mut reported = std::collections::BTreeSet::new();
    fn visit(
        i: usize,
        path: &mut Vec<usize>,
        colour: &mut [u8],
        deps: &dyn Fn(usize) -> Vec<usize>,
        cycles: &mut Vec<Vec<usize>>,
    ) {
        colour[i] = 1;
        path.push(i);
        for j in deps(i) {
            match colour[j] {
                0 => visit(j, path, colour, deps, cycles),
                1 => {
                    let start = path.iter().position(|&p| p == j).unwrap_or(0);
                    cycles.push(path[start..].to_vec());
                }
                _ => {}
            }
        }
        path.pop();
        colour[i] = 2;
    }
    let mut cycles = Vec::new();
    for i in 0..raw.len() {
        if colour[i] == 0 {
            visit(i, &mut Vec::new(), &mut colour, &deps, &mut cycles);
        }
    }
    for cycle in cycles {
        let mut key: Vec<usize> = cycle.clone();
        key.sort_unstable();
        if !reported.insert(key) {
            continue;
        }
        let first = cycle[0];
        let names: Vec<&str> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(|&i| raw[i].0.get_ref().as_str())
            .collect();
        let span = raw[first]
            .1
            .after
            .as_ref()
            .map_or_else(|| raw[first].0.span(), |a| a.span());
        problems.push(Problem {
            span,
            key: format!("app.{}.after", raw[first].0.get_ref()),
            message: format!("dependency cycle: {}", names.join(" -> ")),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        let list = parse(text).expect_err("should be invalid");
        let p = Problems {
            file: "init.toml".into(),
            text: text.to_string(),
            list,
        };
        p.to_string().lines().map(String::from).collect()
    }

    #[test]
    fn full_example_parses_with_defaults_merged() {
        let text = r#"
[tend]
socket = "/run/t.sock"
poll_interval = "500ms"
log_format = "json"

[defaults]
restart_delay = "3s"
env = { A = "1", B = "2" }

[app.db]
command = "exec sleep 100"

[app.web]
command = ["node", "server.js"]
log = "prefix"
cwd = "/srv"
env = { B = "3" }
user = "nobody"
group = 65534
restart = "on-failure"
max_restart_delay = "10s"
max_restarts = 4
restart_window = "2m"
max_memory = "256M"
stop_signal = "SIGINT"
stop_timeout = "5s"
instances = 2
after = ["db"]
critical = true
"#;
        let c = parse(text).expect("valid");
        assert_eq!(c.socket, Some(PathBuf::from("/run/t.sock")));
        assert_eq!(c.poll_interval, Duration::from_millis(500));
        assert_eq!(c.log_format, LogFormat::Json);
        let names: Vec<&str> = c.apps.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["db", "web.0", "web.1"]);
        let db = &c.apps[0];
        assert_eq!(db.command, ["/bin/sh", "-c", "exec sleep 100"]);
        assert_eq!(db.restart_delay, Duration::from_secs(3));
        assert_eq!(db.restart, Restart::Always);
        let web = &c.apps[2];
        assert_eq!(web.instance, 1);
        assert_eq!(web.app, "web");
        assert_eq!(web.command, ["node", "server.js"]);
        assert_eq!(web.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(web.env.get("B").map(String::as_str), Some("3"));
        assert_eq!(web.user, Some(Id::Name("nobody".into())));
        assert_eq!(web.group, Some(Id::Number(65534)));
        assert_eq!(web.restart, Restart::OnFailure);
        assert_eq!(web.restart_delay, Duration::from_secs(3));
        assert_eq!(web.max_restart_delay, Duration::from_secs(10));
        assert_eq!(web.max_restarts, 4);
        assert_eq!(web.restart_window, Duration::from_secs(120));
        assert_eq!(web.max_memory, Some(256 << 20));
        assert_eq!(web.stop_signal, libc::SIGINT);
        assert_eq!(web.stop_timeout, Duration::from_secs(5));
        assert_eq!(web.after, ["db"]);
        assert!(web.critical);
        assert_eq!(web.log, LogMode::Prefix);
        assert_eq!(db.log, LogMode::Inherit);
    }

    #[test]
    fn defaults_of_the_contract() {
        let c = parse("[app.a]\ncommand = [\"true\"]\n").expect("valid");
        assert_eq!(c.poll_interval, Duration::from_secs(1));
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.apps, [AppSpec::new("a", vec!["true".into()])]);
        // A first delay above the default cap raises the cap with it.
        let c = parse("[app.a]\ncommand = \"x\"\nrestart_delay = \"1m\"\n").expect("valid");
        assert_eq!(c.apps[0].max_restart_delay, Duration::from_secs(60));
    }

    #[test]
    fn every_problem_is_reported_with_line_column_and_key() {
        let text = r#"[tend]
poll_interval = "soon"
colour = "blue"

[app.web]
command = ["x"]
restart_delay = "3x"
max_memory = "256"
stop_signal = "SIGNOPE"
restart = "sometimes"
bogus = 1
instances = 0

[app.api]
after = ["nope", "api"]
max_restarts = "ten"
"#;
        let got = problems(text);
        let want = [
            "init.toml:2:17: tend.poll_interval: invalid duration \"soon\"",
            "init.toml:3:1: tend.colour: unknown field `colour`",
            "init.toml:7:17: app.web.restart_delay: invalid duration \"3x\": unknown unit \"x\"",
            "init.toml:8:14: app.web.max_memory: invalid size \"256\": missing unit",
            "init.toml:9:15: app.web.stop_signal: invalid signal \"SIGNOPE\"",
            "init.toml:10:11: app.web.restart: invalid restart policy \"sometimes\"",
            "init.toml:11:1: app.web.bogus: unknown field `bogus`",
            "init.toml:12:13: app.web.instances: must be between 1 and 10000",
            "init.toml:14:6: app.api: missing key \"command\"",
            "init.toml:15:10: app.api.after: no app named \"nope\"",
            "init.toml:15:18: app.api.after: app \"api\" cannot wait for itself",
            "init.toml:16:16: app.api.max_restarts: invalid type: string \"ten\", expected u32",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "\n got: {g}\nwant: {w}...");
        }
    }

    #[test]
    fn syntax_errors_and_empty_files() {
        let got = problems("[app.web\ncommand = 1\n");
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("init.toml:1:"), "{got:?}");
        let got = problems("");
        assert!(got[0].contains("no apps"), "{got:?}");
        let got = problems("[app.a]\ncommand = []\n[app.b]\ncommand = 3\n");
        assert!(got[0].contains("app.a.command: empty command"), "{got:?}");
        assert!(
            got[1].contains("app.b.command: expected an array of strings"),
            "{got:?}"
        );
        let got = problems("[app.a]\ncommand = \"x\"\nrestart_window = \"0s\"\n");
        assert!(
            got[0].contains(":3:18: app.a.restart_window: must be longer than 0s"),
            "{got:?}"
        );
        let got = problems("[app.\"web.0\"]\ncommand = \"x\"\n");
        assert!(got[0].contains("invalid app name"), "{got:?}");
        let got = problems(
            "[app.a]\ncommand = \"x\"\nrestart_delay = \"10s\"\nmax_restart_delay = \"5s\"\n",
        );
        assert!(
            got[0].contains("5s is shorter than restart_delay (10s)"),
            "{got:?}"
        );
    }

    #[test]
    fn notify_and_watchdog() {
        let c =
            parse("[app.a]\ncommand = \"x\"\nnotify = true\nwatchdog = \"30s\"\n").expect("valid");
        assert!(c.apps[0].notify);
        assert_eq!(c.apps[0].watchdog, Some(Duration::from_secs(30)));
        let got = problems("[app.a]\ncommand = \"x\"\nwatchdog = \"30s\"\n");
        assert!(
            got[0].contains(":3:12: app.a.watchdog: needs notify = true"),
            "{got:?}"
        );
    }

    #[test]
    fn health_tables() {
        let c = parse("[app.web]\ncommand = \"x\"\n[app.web.health]\nhttp = \"http://127.0.0.1:3000/health\"\ninterval = \"5s\"\nstart_period = \"30s\"\n").expect("valid");
        let h = c.apps[0].health.clone().expect("health");
        assert_eq!(h.interval, Duration::from_secs(5));
        assert_eq!(h.timeout, Duration::from_secs(2));
        assert_eq!(h.retries, 3);
        assert_eq!(h.start_period, Duration::from_secs(30));
        assert!(matches!(h.probe, Probe::Http { ref path, .. } if path == "/health"));
        let c = parse(
            "[app.db]\ncommand = \"x\"\nhealth = { command = [\"pg_isready\"], retries = 5 }\n",
        )
        .expect("valid");
        let h = c.apps[0].health.clone().expect("health");
        assert_eq!(h.probe, Probe::Exec(vec!["pg_isready".into()]));
        assert_eq!(h.retries, 5);

        let got = problems(
            "[app.a]\ncommand = \"x\"\n[app.a.health]\ntcp = \"db:5432\"\ninterval = \"0s\"\n",
        );
        assert!(
            got[0].contains(":4:7: app.a.health.tcp: invalid address \"db:5432\""),
            "{got:?}"
        );
        assert!(
            got[1].contains(":5:12: app.a.health.interval: must be longer than 0s"),
            "{got:?}"
        );
        let got = problems(
            "[app.a]\ncommand = \"x\"\n[app.a.health]\ntcp = \"127.0.0.1:1\"\nhttp = \"http://127.0.0.1/\"\n",
        );
        assert!(
            got[0].contains("app.a.health: needs exactly one of command, tcp or http"),
            "{got:?}"
        );
        let got = problems(
            "[app.a]\ncommand = \"x\"\n[app.a.health]\ntcp = \"127.0.0.1:1\"\nperiod = \"1s\"\n",
        );
        assert!(got[0].contains("unknown field `period`"), "{got:?}");
    }

    #[test]
    fn after_cycles_are_named() {
        let text = "[app.a]\ncommand = \"x\"\nafter = [\"b\"]\n[app.b]\ncommand = \"x\"\nafter = [\"c\"]\n[app.c]\ncommand = \"x\"\nafter = [\"a\"]\n[app.d]\ncommand = \"x\"\nafter = [\"a\"]\n";
        let got = problems(text);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(
            got[0].contains("dependency cycle: a -> b -> c -> a"),
            "{got:?}"
        );
    }

    /// Checks what holds for any text: a rejection lists problems whose
    /// spans lie in the text and renders as `file:line:col: ...`; an
    /// accepted config is internally consistent.
    fn check_any(text: &str) -> bool {
        match parse(text) {
            Err(list) => {
                assert!(!list.is_empty());
                for p in &list {
                    assert!(p.span.start <= text.len(), "span out of the text: {p:?}");
                    assert!(!p.message.is_empty(), "{p:?}");
                }
                let rendered = Problems {
                    file: "f".into(),
                    text: text.to_string(),
                    list,
                }
                .to_string();
                assert!(rendered.starts_with("f:"), "{rendered}");
                false
            }
            Ok(config) => {
                let names: Vec<&str> = config.apps.iter().map(|a| a.app.as_str()).collect();
                for app in &config.apps {
                    assert!(!app.command.is_empty(), "{text}");
                    for dep in &app.after {
                        assert!(names.contains(&dep.as_str()), "{text}");
                        assert_ne!(dep, &app.app, "{text}");
                    }
                    assert!(app.restart_delay <= app.max_restart_delay, "{text}");
                    assert!((1..=crate::units::SIGRTMAX).contains(&app.stop_signal));
                }
                true
            }
        }
    }

    /// Fuzz target: mutations of real configs (mostly TOML syntax and
    /// value errors).
    #[test]
    fn fuzz_mutated_configs() {
        let seeds = [
            include_str!("../init.toml"),
            "[tend]\npoll_interval = \"1s\"\n[defaults]\nenv = { A = \"1\" }\n[app.a]\ncommand = [\"x\"]\nafter = [\"b\"]\n[app.b]\ncommand = \"y\"\ninstances = 2\n[app.b.health]\nhttp = \"http://127.0.0.1:1/\"\n",
        ];
        let tokens = [
            "[",
            "]",
            "=",
            "\"",
            "'",
            "\n",
            "{",
            "}",
            ",",
            ".",
            "app.",
            "after",
            "0s",
            "-1",
            "99999999999999999999",
            "1e9",
            "\\u",
            "\"\"\"",
            "[[app]]",
            "health",
            "command",
            "é",
            "\u{0}",
            "#",
            "true",
            "instances = 0",
        ];
        crate::fuzz::run("config-mutations", 4000, Duration::from_secs(2), |rng| {
            let mut text = seeds[rng.below(seeds.len())].to_string();
            for _ in 0..1 + rng.below(4) {
                let at = rng.below(text.len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(0);
                match rng.below(3) {
                    0 => text.insert_str(at, rng.pick(&tokens)),
                    1 => {
                        let end = (at + 1 + rng.below(8)).min(text.len());
                        let end = (end..=text.len())
                            .find(|&i| text.is_char_boundary(i))
                            .unwrap_or(text.len());
                        text.replace_range(at..end, "");
                    }
                    _ => text.insert(at, char::from(b' ' + rng.below(95) as u8)),
                }
            }
            check_any(&text);
        });
    }

    /// Fuzz target: well-formed TOML built from tend's own keys with values
    /// of every kind, so that validation, not the TOML parser, is what
    /// gets exercised: wrong types, out-of-range numbers, unknown and
    /// cyclic `after`, instances, health checks, durations and sizes.
    #[test]
    fn fuzz_generated_configs() {
        const APP_KEYS: [&str; 22] = [
            "command",
            "cwd",
            "env",
            "user",
            "restart",
            "restart_delay",
            "max_restart_delay",
            "max_restarts",
            "restart_window",
            "max_memory",
            "stop_signal",
            "stop_timeout",
            "instances",
            "after",
            "critical",
            "log",
            "notify",
            "watchdog",
            "health",
            "command",
            "comand",
            "restart",
        ];
        const TEND_KEYS: [&str; 8] = [
            "poll_interval",
            "log_format",
            "socket",
            "vm",
            "hostname",
            "root_rw",
            "socket_group",
            "pol_interval",
        ];
        const HEALTH_KEYS: [&str; 8] = [
            "command",
            "tcp",
            "http",
            "interval",
            "timeout",
            "retries",
            "start_period",
            "exec",
        ];
        const NAMES: [&str; 5] = ["a", "b", "web", "db", "a.b"];
        const STRINGS: [&str; 24] = [
            "\"1s\"",
            "\"0s\"",
            "\"100ms\"",
            "\"2m\"",
            "\"-1s\"",
            "\"1.5s\"",
            "\"256M\"",
            "\"1G\"",
            "\"0K\"",
            "\"SIGTERM\"",
            "\"SIGRTMIN+3\"",
            "\"SIGRTMIN+31\"",
            "\"99\"",
            "\"always\"",
            "\"never\"",
            "\"on-failure\"",
            "\"prefix\"",
            "\"json\"",
            "\"nobody\"",
            "\"root:root\"",
            "\"127.0.0.1:1\"",
            "\"http://127.0.0.1:1/x\"",
            "\"\"",
            "\"/tmp\"",
        ];
        fn value(rng: &mut crate::fuzz::Rng, depth: usize) -> String {
            match rng.below(if depth > 1 { 5 } else { 7 }) {
                0 => rng.pick(&STRINGS).to_string(),
                1 => rng
                    .pick(&["0", "1", "-1", "3", "65536", "4294967296", "1e3", "0.5"])
                    .to_string(),
                2 => rng.pick(&["true", "false"]).to_string(),
                3 => format!("\"{}\"", rng.pick(&NAMES)),
                4 => "1979-05-27T07:32:00Z".to_string(),
                5 => {
                    let n = rng.below(4);
                    let items: Vec<String> = (0..n).map(|_| value(rng, depth + 1)).collect();
                    format!("[{}]", items.join(", "))
                }
                _ => {
                    let n = rng.below(3);
                    let items: Vec<String> = (0..n)
                        .map(|_| format!("{} = {}", rng.pick(&NAMES), value(rng, depth + 1)))
                        .collect();
                    format!("{{ {} }}", items.join(", "))
                }
            }
        }
        /// A value of the right type for `key`, mostly in range.
        fn well_typed(rng: &mut crate::fuzz::Rng, key: &str) -> String {
            let duration = [
                "\"0s\"",
                "\"100ms\"",
                "\"1s\"",
                "\"3s\"",
                "\"1m\"",
                "\"10h\"",
            ];
            match key {
                "restart_delay" | "max_restart_delay" | "restart_window" | "stop_timeout"
                | "watchdog" => rng.pick(&duration).to_string(),
                "max_memory" => rng
                    .pick(&["\"64M\"", "\"1G\"", "\"512K\"", "\"0\""])
                    .to_string(),
                "max_restarts" | "instances" => rng
                    .pick(&["0", "1", "2", "3", "10000", "10001"])
                    .to_string(),
                "restart" => rng
                    .pick(&["\"always\"", "\"never\"", "\"on-failure\""])
                    .to_string(),
                "stop_signal" => rng
                    .pick(&["\"TERM\"", "\"SIGRTMIN+3\"", "\"15\"", "\"SIGKILL\""])
                    .to_string(),
                "critical" | "notify" => rng.pick(&["true", "false"]).to_string(),
                "log" => rng.pick(&["\"prefix\"", "\"inherit\""]).to_string(),
                "after" => {
                    let n = rng.below(3);
                    let items: Vec<String> = (0..n)
                        .map(|_| format!("\"{}\"", rng.pick(&NAMES)))
                        .collect();
                    format!("[{}]", items.join(", "))
                }
                "env" => format!("{{ {} = \"v\" }}", rng.pick(&["A", "PATH", "B_1"])),
                "user" => rng
                    .pick(&["\"nobody\"", "\"0\"", "\"root:root\"", "\"65534\""])
                    .to_string(),
                "cwd" => "\"/tmp\"".to_string(),
                "command" => rng
                    .pick(&["\"echo hi\"", "[\"/bin/true\", \"x\"]"])
                    .to_string(),
                _ => value(rng, 0),
            }
        }
        let mut accepted = 0;
        crate::fuzz::run("config-generated", 3000, Duration::from_secs(2), |rng| {
            let mut text = String::new();
            if rng.chance(3) {
                text.push_str("[tend]\n");
                for _ in 0..rng.below(4) {
                    let v = value(rng, 0);
                    text.push_str(&format!("{} = {v}\n", rng.pick(&TEND_KEYS)));
                }
            }
            if rng.chance(3) {
                text.push_str("[defaults]\n");
                for _ in 0..rng.below(4) {
                    let v = value(rng, 0);
                    text.push_str(&format!("{} = {v}\n", rng.pick(&APP_KEYS)));
                }
            }
            for _ in 0..rng.below(4) {
                text.push_str(&format!("[app.{}]\n", rng.pick(&NAMES)));
                if !rng.chance(5) {
                    text.push_str("command = [\"/bin/true\"]\n");
                }
                for _ in 0..rng.below(6) {
                    let key = rng.pick(&APP_KEYS);
                    let v = if rng.chance(4) {
                        value(rng, 0)
                    } else {
                        well_typed(rng, key)
                    };
                    text.push_str(&format!("{key} = {v}\n"));
                }
                if rng.chance(4) {
                    text.push_str(&format!("[app.{}.health]\n", rng.pick(&NAMES)));
                    for _ in 0..rng.below(4) {
                        let v = value(rng, 0);
                        text.push_str(&format!("{} = {v}\n", rng.pick(&HEALTH_KEYS)));
                    }
                }
            }
            if std::env::var_os("TEND_FUZZ_SHOW").is_some() {
                eprintln!("{text}");
            }
            accepted += usize::from(check_any(&text));
        });
        println!("fuzz config-generated: {accepted} inputs accepted");
        assert!(accepted > 0, "the generator never reaches a valid config");
    }

    #[test]
    fn instances_are_capped_over_all_apps() {
        let mut text = String::from("[defaults]\ninstances = 4000\n");
        for name in ["a", "b", "c"] {
            text.push_str(&format!("[app.{name}]\ncommand = \"x\"\n"));
        }
        let got = parse(&text).unwrap_err();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].key, "app.c.instances");
        assert!(got[0].message.contains("at most 10000"), "{got:?}");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\ncé=x", 7), (2, 4));
        assert_eq!(line_col("", 0), (1, 1));
    }
}
