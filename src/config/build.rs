//! Raw → typed: one section at a time, each bad key reported on its own
//! (`section`); every string value typed with the span of its problem
//! (`typed`); per app, `[defaults]` merged under the app's keys, values
//! typed, `after` names and health tables checked and instances expanded
//! under a cap over the whole file (`build_app`, `build_health`).

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;
use toml::de::DeValue;

use super::raw::{Bad, EnvValue, RawApp, RawCommandBox, RawHealth, RawPaths, Value, unknown};
use super::{AppSpec, LogMode, Problem};
use crate::cron::Schedule;
use crate::health::{self, HealthSpec, Probe};
use crate::policy::Restart;
use crate::units;
use crate::watch::{self, WatchSpec};

/// Reads one section key by key with `set`, reporting each bad key on its
/// own (an unknown one with a hint when there is one, see `hints`); the
/// good keys still come back (so their values are checked too), with the
/// names of the bad ones.
pub(super) fn section<T: Default>(
    path: &str,
    value: &Value<'_>,
    fields: &[&str],
    set: fn(&mut T, &str, &Value<'_>) -> Result<bool, Bad>,
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
    let mut raw = T::default();
    let mut bad = Vec::new();
    for (key, item) in table.iter() {
        let name = key.get_ref();
        let e = match set(&mut raw, name, item) {
            Ok(true) => continue,
            Ok(false) => unknown(key.span(), name, fields),
            Err(e) => e,
        };
        problems.push(Problem {
            span: e.span,
            key: format!("{path}.{name}"),
            message: super::hints::unknown_key(path, name, &e.message).unwrap_or(e.message),
        });
        bad.push(name.to_string());
    }
    Some((raw, bad))
}

/// A duration that must be longer than 0s (an interval, a timeout, a
/// debounce: 0s would spin).
fn positive_duration(text: &str) -> Result<Duration, String> {
    match units::parse_duration(text)? {
        d if d.is_zero() => Err("must be longer than 0s".into()),
        d => Ok(d),
    }
}

/// Types one optional string value, recording a problem when it is bad.
pub(super) fn typed<T>(
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
pub(super) const MAX_INSTANCES: u32 = 10_000;

/// Merges defaults into one app, types every value and expands instances,
/// at most `room` of them.
pub(super) fn build_app(
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
    if !super::valid_app_name(n) {
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
    for (k, v) in defaults.env.iter().chain(raw.env.iter()).flatten() {
        match env_value(v.get_ref()) {
            Ok(text) => {
                spec.env.insert(k.clone(), text);
            }
            Err(message) => problems.push(Problem {
                span: v.span(),
                key: format!("{}.{k}", key("env")),
                message,
            }),
        }
    }
    if let Some(files) = pick!(env_file)
        && no_flag(&files, &key("env_file"), problems)
    {
        spec.env_files = files.get_ref().0.iter().map(PathBuf::from).collect();
        if spec.env_files.iter().any(|f| f.as_os_str().is_empty()) {
            problems.push(Problem {
                span: files.span(),
                key: key("env_file"),
                message: "empty path".into(),
            });
        }
    }
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
    if let Some(d) = duration(pick!(min_uptime), "min_uptime", problems) {
        spec.min_uptime = d;
    }
    if let Some(m) = pick!(min_uptime)
        && spec.min_uptime.is_zero()
    {
        problems.push(Problem {
            span: m.span(),
            key: key("min_uptime"),
            message: "must be longer than 0s: with 0s every run is stable, and a crash loop \
                      never ends"
                .into(),
        });
    }
    spec.max_memory = typed(
        &pick!(max_memory),
        &key("max_memory"),
        problems,
        units::parse_size,
    );
    spec.memory_max = typed(
        &pick!(memory_max),
        &key("memory_max"),
        problems,
        units::parse_size,
    );
    spec.cpu_max = typed(&pick!(cpu_max), &key("cpu_max"), problems, units::parse_cpu);
    if let Some(p) = pick!(pids_max) {
        match p.get_ref() {
            0 => problems.push(Problem {
                span: p.span(),
                key: key("pids_max"),
                message: "must be at least 1".into(),
            }),
            n => spec.pids_max = Some(*n),
        }
    }
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
    if let Some(log) = pick!(log)
        && no_flag(&log, &key("log"), problems)
    {
        match log_mode(&log.get_ref().0) {
            Ok((mode, file)) => (spec.log, spec.log_file) = (mode, file),
            Err(message) => problems.push(Problem {
                span: log.span(),
                key: key("log"),
                message,
            }),
        }
    }
    spec.log_timestamps = pick!(log_timestamps).unwrap_or(false);
    if let Some(size) = typed(&pick!(log_max_size), &key("log_max_size"), problems, |s| {
        units::parse_size(s).and_then(|n| match n {
            0 => Err("must be larger than 0".into()),
            n => Ok(n),
        })
    }) {
        spec.log_max_size = size;
    }
    if let Some(keep) = pick!(log_keep) {
        spec.log_keep = keep;
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
    if let Some(c) = pick!(cron_restart) {
        spec.cron = cron(&c, &key("cron_restart"), problems);
    }
    if let Some(h) = pick!(health) {
        spec.health = build_health(&h, &key("health"), problems);
    }
    spec.watch = build_watch(raw, defaults, &key, problems);
    if let Some(listen) = pick!(listen) {
        for addr in listen.get_ref() {
            match crate::listen::parse(addr.get_ref()) {
                Ok(a) if spec.listen.contains(&a) => problems.push(Problem {
                    span: addr.span(),
                    key: key("listen"),
                    message: format!("{a} is listed twice"),
                }),
                Ok(a) => spec.listen.push(a),
                Err(message) => problems.push(Problem {
                    span: addr.span(),
                    key: key("listen"),
                    message,
                }),
            }
        }
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

/// An `env` value as the app sees it: a string as it is, a number or a
/// boolean as TOML writes it (`3101`, `1.5`, `true`), so that `PORT = 3101`
/// needs no quotes. Arrays, tables and dates have no one obvious text.
pub(super) fn env_value(v: &EnvValue) -> Result<String, String> {
    match v {
        EnvValue::Text(text) => Ok(text.clone()),
        EnvValue::Other(kind) => Err(format!(
            "invalid type: {kind}, expected a string, number or boolean"
        )),
    }
}

/// Keys from earlier versions that are accepted and ignored, each with the
/// warning `tend check` gives where it is written (`path`: `defaults` or
/// `app.NAME`).
pub(super) fn deprecated(path: &str, raw: &RawApp, warnings: &mut Vec<Problem>) {
    if let Some(w) = &raw.restart_window {
        warnings.push(Problem {
            span: w.span(),
            key: format!("{path}.restart_window"),
            message: "ignored: max_restarts now counts restarts in a row after runs \
                      shorter than min_uptime (default 30s), and a longer run sets the \
                      count back to 0; set min_uptime instead"
                .into(),
        });
    }
}

/// False, with a problem, when a key other than `watch` has a boolean.
fn no_flag(v: &Spanned<RawPaths>, key: &str, problems: &mut Vec<Problem>) -> bool {
    if v.get_ref().1.is_none() {
        return true;
    }
    problems.push(Problem {
        span: v.span(),
        key: key.to_string(),
        message: "expected a string or an array of strings".into(),
    });
    false
}

/// `watch`, `watch_ignore` and `watch_delay`, each from the app or else
/// from `[defaults]`; None when the app watches nothing. Paths stay as
/// written (the empty path for `true`): `load` resolves them.
fn build_watch(
    raw: &RawApp,
    defaults: &RawApp,
    key: &dyn Fn(&str) -> String,
    problems: &mut Vec<Problem>,
) -> Option<WatchSpec> {
    let ignore = (raw.watch_ignore.as_ref())
        .or(defaults.watch_ignore.as_ref())
        .filter(|i| no_flag(i, &key("watch_ignore"), problems));
    let delay_raw = raw.watch_delay.as_ref().or(defaults.watch_delay.as_ref());
    let delay = typed(
        &delay_raw.cloned(),
        &key("watch_delay"),
        problems,
        positive_duration,
    );
    let mut problem = |span: std::ops::Range<usize>, k: &str, message: String| {
        problems.push(Problem {
            span,
            key: key(k),
            message,
        })
    };
    let mut patterns = None;
    if let Some(ignore) = ignore {
        for p in &ignore.get_ref().0 {
            if let Err(message) = watch::check_pattern(p) {
                problem(ignore.span(), "watch_ignore", message);
            }
        }
        patterns = Some(ignore.get_ref().0.clone());
    }
    let w = raw.watch.as_ref().or(defaults.watch.as_ref())?;
    let paths: Vec<std::path::PathBuf> = match w.get_ref() {
        RawPaths(_, Some(false)) => return None,
        RawPaths(_, Some(true)) => vec![std::path::PathBuf::new()],
        RawPaths(p, None) if p.is_empty() || p.iter().any(String::is_empty) => {
            problem(
                w.span(),
                "watch",
                "empty (true watches the app's cwd)".into(),
            );
            return None;
        }
        RawPaths(p, None) => p.iter().map(std::path::PathBuf::from).collect(),
    };
    let mut spec = WatchSpec::new(paths);
    if let Some(p) = patterns {
        spec.ignore = p;
    }
    if let Some(d) = delay {
        spec.delay = d;
    }
    Some(spec)
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
    } else if h.tcp.is_some() {
        typed(&h.tcp, &sub("tcp"), problems, health::parse_addr).map(Probe::Tcp)
    } else if h.http.is_some() {
        typed(&h.http, &sub("http"), problems, health::parse_http)
            .map(|(addr, host, path)| Probe::Http { addr, host, path })
    } else {
        None
    };
    let duration = |v: &Option<Spanned<String>>,
                    k: &str,
                    default: u64,
                    problems: &mut Vec<Problem>,
                    parse: fn(&str) -> Result<Duration, String>| {
        typed(v, &sub(k), problems, parse).unwrap_or(Duration::from_millis(default))
    };
    let interval = duration(&h.interval, "interval", 10_000, problems, positive_duration);
    let timeout = duration(&h.timeout, "timeout", 2_000, problems, positive_duration);
    let start_period = duration(
        &h.start_period,
        "start_period",
        0,
        problems,
        units::parse_duration,
    );
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

/// Types `cron_restart`. A problem points at the field that is wrong when
/// the string is written without escapes (its span is then the text and
/// its two quotes), else at the string.
fn cron(raw: &Spanned<String>, key: &str, problems: &mut Vec<Problem>) -> Option<Schedule> {
    let text = raw.get_ref();
    match Schedule::parse(text) {
        Ok(schedule) => Some(schedule),
        Err(e) => {
            let span = raw.span();
            let start = match span.len() == text.len() + 2 {
                true => span.start + 1 + e.offset,
                false => span.start,
            };
            problems.push(Problem {
                span: start..span.end,
                key: key.to_string(),
                message: format!("invalid cron expression {text:?}: {}", e.message),
            });
            None
        }
    }
}

/// `log`: one form (`"prefix"`, `"file"`), or one form and `"file"`.
fn log_mode(words: &[String]) -> Result<(LogMode, bool), String> {
    let expected = "expected \"inherit\", \"prefix\", \"json\", \"file\", or a list of one of the first three and \"file\"";
    let (mut mode, mut file) = (None, false);
    for w in words {
        match LogMode::NAMES.iter().find(|(n, _)| n == w) {
            Some(_) if mode.is_some() => {
                return Err(format!("two stdout forms in one list: {expected}"));
            }
            Some((_, m)) => mode = Some(*m),
            None if w == "file" && !file => file = true,
            None if w == "file" => return Err(format!("\"file\" twice: {expected}")),
            None => return Err(format!("invalid log mode {w:?}: {expected}")),
        }
    }
    match (mode, file) {
        (None, false) => Err(format!("empty list: {expected}")),
        (Some(LogMode::Inherit), true) => Err(
            "\"inherit\" and \"file\" exclude each other: with inherit, tend never sees the lines; use [\"prefix\", \"file\"]".into(),
        ),
        (None, true) => Ok((LogMode::Quiet, true)),
        (Some(m), file) => Ok((m, file)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use crate::config::tests::problems;

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
    fn watch_keys() {
        let c =
            parse("[app.a]\ncommand = \"x\"\nwatch = [\"src\", \"config.json\"]\n").expect("valid");
        let w = c.apps[0].watch.clone().expect("watch");
        assert_eq!(
            w.paths,
            ["src", "config.json"].map(std::path::PathBuf::from)
        );
        assert_eq!(w.ignore, ["node_modules", ".git"]);
        assert_eq!(w.delay, Duration::from_millis(500));

        let c = parse(
            "[defaults]\nwatch_ignore = [\"*.log\"]\nwatch_delay = \"2s\"\n[app.a]\ncommand = \"x\"\nwatch = true\n[app.b]\ncommand = \"x\"\n[app.c]\ncommand = \"x\"\nwatch = \"lib\"\nwatch_ignore = \"tmp\"\n[app.d]\ncommand = \"x\"\nwatch = false\n",
        )
        .expect("valid");
        let w = c.apps[0].watch.clone().expect("watch");
        assert_eq!(
            w.paths,
            [std::path::PathBuf::new()],
            "true: the cwd, resolved by load"
        );
        assert_eq!(w.ignore, ["*.log"], "a list replaces the default");
        assert_eq!(w.delay, Duration::from_secs(2));
        assert_eq!(
            c.apps[1].watch, None,
            "defaults without watch watch nothing"
        );
        let w = c.apps[2].watch.clone().expect("watch");
        assert_eq!(w.ignore, ["tmp"]);
        assert_eq!(c.apps[3].watch, None);

        let got = problems(
            "[app.a]\ncommand = \"x\"\nwatch = 3\nenv_file = true\nlog = false\nwatch_ignore = [\"src/gen\", \"\"]\nwatch_delay = 500\n[app.b]\ncommand = \"x\"\nwatch = []\nwatch_delay = \"0s\"\n[app.c]\ncommand = \"x\"\nwatch = [\"\"]\nwatch_delay = \"5x\"\n",
        );
        let want = [
            ":3:9: app.a.watch: expected a string or an array of strings",
            ":4:12: app.a.env_file: expected a string or an array of strings",
            ":5:7: app.a.log: expected a string or an array of strings",
            ":6:16: app.a.watch_ignore: \"src/gen\": a pattern matches one name: not empty, no '/'",
            ":6:16: app.a.watch_ignore: \"\": a pattern",
            ":7:15: app.a.watch_delay: invalid duration 500",
            ":10:9: app.b.watch: empty (true watches the app's cwd)",
            ":11:15: app.b.watch_delay: must be longer than 0s",
            ":14:9: app.c.watch: empty (true",
            ":15:15: app.c.watch_delay: invalid duration \"5x\"",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (got, want) in got.iter().zip(want) {
            assert!(got.contains(want), "{got} lacks {want}");
        }
    }

    #[test]
    fn cron_restart() {
        let c = parse("[defaults]\ncron_restart = \"0 3 * * *\"\n[app.a]\ncommand = \"x\"\n[app.b]\ncommand = \"x\"\ncron_restart = \"@hourly\"\n")
            .expect("valid");
        let texts: Vec<_> = c
            .apps
            .iter()
            .map(|a| a.cron.as_ref().map(|s| s.text.as_str()))
            .collect();
        assert_eq!(texts, [Some("0 3 * * *"), Some("@hourly")]);
        // The column of the field that is wrong.
        let got = problems("[app.a]\ncommand = \"x\"\ncron_restart = \"0 3 * * mon-fry\"\n");
        assert_eq!(
            got,
            [
                "init.toml:3:25: app.a.cron_restart: invalid cron expression \"0 3 * * mon-fry\": \
              day-of-week: invalid value \"fry\" in \"mon-fry\" (expected 0-7 or sun..sat)"
            ]
        );
        // With an escape the offsets differ: the string's own place.
        let got = problems("[app.a]\ncommand = \"x\"\ncron_restart = \"0 \\u0033 * * * *\"\n");
        assert!(got[0].starts_with("init.toml:3:16: app.a.cron_restart: invalid cron expression \"0 3 * * * *\": expected 5 fields"), "{got:?}");
        let got = problems(
            "[app.a]\ncommand = \"x\"\ncron_restart = \"0 3 * *\"\n[app.b]\ncommand = \"x\"\ncron_restart = \"0 25 * * *\"\n",
        );
        assert!(
            got[0].starts_with("init.toml:3:17: app.a.cron_restart:"),
            "{got:?}"
        );
        assert!(
            got[1].starts_with("init.toml:6:19: app.b.cron_restart:"),
            "{got:?}"
        );
        assert!(
            got[1].contains("hour: invalid value \"25\" (expected 0-23)"),
            "{got:?}"
        );
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
}
