//! init.toml → a validated `Config`, or every problem at once.
//!
//! Stage one parses the document into toml's spanned tree; stage two reads
//! each section into the raw structs, an unknown key an error, key by key
//! so one bad key does not hide the next; stage three types the values
//! (durations, sizes, signals), merges `[defaults]`, expands instances and
//! checks `after`. Every problem carries the byte span toml gave it, turned
//! into `file:line:column` only when printed.
//!
//! This file owns the typed result (`Config`, `AppSpec` and their parts),
//! the driver that runs the stages in order (`load`, `parse`) and the search
//! for the file (`find`). The stages live apart: `raw` (the raw structs),
//! `build` (raw → typed, section by section and app by app), `checks` (what
//! needs every app at once: unique names, `after` cycles), `hints` (what an
//! unknown key likely meant, PM2's names included) and `problem` (what went
//! wrong, and how it prints). `dotenv` parses `env_file`s, which the
//! supervisor reads at each start of the app, not here.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::cron::Schedule;
use crate::health::HealthSpec;
use crate::listen::Listen;
use crate::policy::Restart;
use crate::units;
use crate::watch::WatchSpec;

mod build;
mod checks;
pub mod dotenv;
mod hints;
mod problem;
mod raw;
#[cfg(test)]
mod tests;

use build::{MAX_INSTANCES, build_app, deprecated, section, typed};
use checks::{check_cycles, check_names};
pub use problem::{Problem, Problems};
use raw::{RawApp, RawTend};

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
    /// `[tend] log_dir`: where `log = "file"` apps write; None: the default.
    pub log_dir: Option<PathBuf>,
    /// `[tend] cgroups`: run apps in cgroups of their own where tend can.
    pub cgroups: Cgroups,
    /// Every app instance, in file order of their apps.
    pub apps: Vec<AppSpec>,
    /// What `tend check` warns about in a valid file (keys from earlier
    /// versions), each `LINE:COL: warning: KEY: MESSAGE`.
    pub warnings: Vec<String>,
}

/// tend's own event lines: plain text or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `[tend] cgroups`: whether apps run in cgroup v2 groups of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cgroups {
    /// Where tend can create cgroups; else /proc, said once at start.
    #[default]
    Auto,
    /// Always; tend refuses to start without a writable cgroup v2.
    On,
    /// Never: /proc, as on a machine without cgroup v2.
    Off,
}

/// A user or group, by name (looked up at start) or by number.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// dotenv files read at each start, in order, under `env` (DESIGN.md
    /// "Friendly config"). `load` makes a relative path relative to `cwd`,
    /// else to the config file's directory.
    pub env_files: Vec<PathBuf>,
    pub user: Option<Id>,
    pub group: Option<Id>,
    pub restart: Restart,
    pub restart_delay: Duration,
    pub max_restart_delay: Duration,
    /// A run at least this long is stable (DESIGN.md "Restart counting").
    pub min_uptime: Duration,
    pub max_restarts: u32,
    pub max_memory: Option<u64>,
    /// cgroup v2 hard limits (`memory.max`, `cpu.max`, `pids.max`); the
    /// CPU limit as microseconds of CPU per 100 ms (`"50%"` is 50,000).
    pub memory_max: Option<u64>,
    pub cpu_max: Option<u32>,
    pub pids_max: Option<u32>,
    pub stop_signal: libc::c_int,
    pub stop_timeout: Duration,
    /// App names (not instance names) this one waits for.
    pub after: Vec<String>,
    /// Sockets tend listens on and hands to every instance (fds 3, 4, ...).
    pub listen: Vec<Listen>,
    pub critical: bool,
    pub health: Option<HealthSpec>,
    pub log: LogMode,
    /// `log` includes "file": lines also go to `LOG_DIR/NAME.log`.
    pub log_file: bool,
    /// `log_timestamps`: prefix lines carry the time too.
    pub log_timestamps: bool,
    /// Rotation: the size a log file may reach, and how many old ones stay.
    pub log_max_size: u64,
    pub log_keep: u32,
    /// sd_notify: the app gets NOTIFY_SOCKET and counts as up once READY=1.
    pub notify: bool,
    /// With notify: restart when no WATCHDOG=1 came for this long.
    pub watchdog: Option<Duration>,
    /// `watch`: restart once changes under these paths are quiet.
    pub watch: Option<WatchSpec>,
    /// `cron_restart`: a graceful restart at each matching local minute.
    pub cron: Option<Schedule>,
}

/// Where an app's stdout and stderr go on tend's own output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogMode {
    /// Straight to tend's own stdout and stderr: no copy.
    #[default]
    Inherit,
    /// Through tend, each line as `NAME | line`.
    Prefix,
    /// Through tend, one JSON object per line on tend's stdout.
    Json,
    /// Only to the app's log file (`log = "file"`).
    Quiet,
}

impl LogMode {
    /// The spellings `log` takes, in the order they are listed to users.
    pub const NAMES: [(&str, LogMode); 3] = [
        ("inherit", LogMode::Inherit),
        ("prefix", LogMode::Prefix),
        ("json", LogMode::Json),
    ];
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
            env_files: Vec::new(),
            user: None,
            group: None,
            restart: Restart::Always,
            restart_delay: Duration::from_secs(1),
            max_restart_delay: Duration::from_secs(30),
            min_uptime: Duration::from_secs(30),
            max_restarts: 10,
            max_memory: None,
            memory_max: None,
            cpu_max: None,
            pids_max: None,
            stop_signal: libc::SIGTERM,
            stop_timeout: Duration::from_secs(10),
            after: Vec::new(),
            listen: Vec::new(),
            critical: false,
            health: None,
            log: LogMode::Inherit,
            log_file: false,
            log_timestamps: false,
            log_max_size: 10 << 20,
            log_keep: 5,
            notify: false,
            watchdog: None,
            watch: None,
            cron: None,
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
    let mut config = parse(&text).map_err(|list| Problems {
        file: path.to_path_buf(),
        text,
        list,
    })?;
    let dir = path.parent().unwrap_or(Path::new(""));
    for app in &mut config.apps {
        resolve_env_files(app, dir);
        resolve_watch(app, dir);
    }
    Ok(config)
}

/// Makes each relative `env_file` of `app` relative to its `cwd`, else to
/// `dir`, the config file's directory: where the app's own files are,
/// whatever directory tend was started in.
fn resolve_env_files(app: &mut AppSpec, dir: &Path) {
    let base = app.cwd.as_deref().unwrap_or(dir);
    for file in &mut app.env_files {
        if file.is_relative() {
            *file = base.join(&*file);
        }
    }
}

/// Makes each relative `watch` path of `app` relative to its `cwd`, else
/// to `dir`, as `env_file`s; the empty path (`watch = true`) becomes that
/// directory itself.
fn resolve_watch(app: &mut AppSpec, dir: &Path) {
    let base = app.cwd.as_deref().unwrap_or(dir);
    let base = match base.as_os_str().is_empty() {
        true => Path::new("."),
        false => base,
    };
    for path in app.watch.iter_mut().flat_map(|w| &mut w.paths) {
        if path.as_os_str().is_empty() {
            *path = base.to_path_buf();
        } else if path.is_relative() {
            *path = base.join(&*path);
        }
    }
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
                if let Some((t, _)) =
                    section("tend", value, RawTend::FIELDS, RawTend::set, &mut problems)
                {
                    tend = t;
                }
            }
            "defaults" => {
                if let Some((d, _)) = section(
                    "defaults",
                    value,
                    RawApp::FIELDS,
                    RawApp::set,
                    &mut problems,
                ) {
                    defaults = Some(d);
                }
            }
            "app" => match value.get_ref() {
                DeValue::Table(apps) => {
                    for (name, app) in apps.iter() {
                        let path = format!("app.{}", name.get_ref());
                        if let Some((raw, bad)) =
                            section(&path, app, RawApp::FIELDS, RawApp::set, &mut problems)
                        {
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
    let cgroups = typed(&tend.cgroups, "tend.cgroups", &mut problems, |s| match s {
        "auto" => Ok(Cgroups::Auto),
        "on" => Ok(Cgroups::On),
        "off" => Ok(Cgroups::Off),
        _ => Err(format!("invalid value {s:?}: expected auto, on or off")),
    })
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
    let mut warnings = Vec::new();
    deprecated("defaults", &defaults_raw, &mut warnings);
    for (name, raw) in &raw_apps {
        deprecated(&format!("app.{}", name.get_ref()), raw, &mut warnings);
    }
    warnings.sort_by_key(|w| w.span.start);
    let warnings = warnings
        .into_iter()
        .map(|w| {
            let (line, col) = problem::line_col(text, w.span.start);
            format!("{line}:{col}: warning: {}: {}", w.key, w.message)
        })
        .collect();

    if problems.is_empty() {
        Ok(Config {
            socket: tend.socket.map(PathBuf::from),
            socket_group: tend.socket_group,
            vm: tend.vm,
            hostname: tend.hostname,
            root_rw: tend.root_rw.unwrap_or(false),
            poll_interval,
            log_format,
            log_dir: tend.log_dir.map(PathBuf::from),
            cgroups,
            apps,
            warnings,
        })
    } else {
        problems.sort_by_key(|p| p.span.start);
        Err(problems)
    }
}

/// Whether `name` may name an app: letters, digits, `-` and `_` (the `.`
/// is kept for instance names).
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
}

/// The config file to use: `given` (`-c`), else `$TEND_CONFIG`, else the
/// first of `./init.toml` and `/etc/tend/init.toml` that exists; None when
/// there is none. A path given or named by the environment comes back as it
/// is, found or not: loading it then says the file is missing, where a
/// search would silently pick another one.
pub fn find(given: Option<PathBuf>) -> Option<PathBuf> {
    find_in(
        given,
        std::env::var_os("TEND_CONFIG"),
        &["init.toml", "/etc/tend/init.toml"],
    )
}

/// `find` with the environment and the searched places as parameters, so
/// that tests need not change the process environment.
fn find_in(given: Option<PathBuf>, env: Option<OsString>, searched: &[&str]) -> Option<PathBuf> {
    given
        .or_else(|| env.map(PathBuf::from))
        .or_else(|| searched.iter().map(PathBuf::from).find(|p| p.exists()))
}

#[cfg(test)]
mod find_tests {
    use super::*;

    #[test]
    fn env_files_are_relative_to_cwd_else_to_the_config_file() {
        let c = parse(
            "[app.a]\ncommand = \"x\"\nenv_file = \".env\"\n[app.b]\ncommand = \"x\"\ncwd = \"/srv/b\"\nenv_file = [\".env\", \"/etc/b.env\", \"../shared.env\"]\n",
        )
        .expect("valid");
        let mut apps = c.apps;
        for app in &mut apps {
            resolve_env_files(app, Path::new("/etc/tend"));
        }
        assert_eq!(apps[0].env_files, [PathBuf::from("/etc/tend/.env")]);
        assert_eq!(
            apps[1].env_files,
            ["/srv/b/.env", "/etc/b.env", "/srv/b/../shared.env"].map(PathBuf::from)
        );
    }

    #[test]
    fn watch_paths_are_relative_to_cwd_else_to_the_config_file() {
        let c = parse(
            "[app.a]\ncommand = \"x\"\nwatch = true\n[app.b]\ncommand = \"x\"\ncwd = \"/srv/b\"\nwatch = [\"src\", \"/etc/b.json\", \"../lib\"]\n[app.c]\ncommand = \"x\"\ncwd = \"/srv/c\"\nwatch = true\n",
        )
        .expect("valid");
        let mut apps = c.apps;
        for app in &mut apps {
            resolve_watch(app, Path::new("/etc/tend"));
        }
        let paths = |i: usize| apps[i].watch.clone().expect("watch").paths;
        assert_eq!(paths(0), [PathBuf::from("/etc/tend")]);
        assert_eq!(
            paths(1),
            ["/srv/b/src", "/etc/b.json", "/srv/b/../lib"].map(PathBuf::from)
        );
        assert_eq!(paths(2), [PathBuf::from("/srv/c")]);
        // A config file named without a directory: tend's own.
        let mut app = apps[0].clone();
        app.watch = Some(WatchSpec::new(vec![PathBuf::new(), "src".into()]));
        resolve_watch(&mut app, Path::new(""));
        assert_eq!(
            app.watch.expect("watch").paths,
            [".", "./src"].map(PathBuf::from)
        );
    }

    const EXISTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    const MISSING: &str = "/nonexistent/tend/init.toml";

    #[test]
    fn a_given_path_wins_even_when_missing() {
        assert_eq!(find(Some(MISSING.into())), Some(PathBuf::from(MISSING)));
        assert_eq!(
            find_in(Some(MISSING.into()), Some(EXISTS.into()), &[EXISTS]),
            Some(PathBuf::from(MISSING))
        );
    }

    #[test]
    fn then_the_environment_then_the_first_file_that_exists() {
        assert_eq!(
            find_in(None, Some(MISSING.into()), &[EXISTS]),
            Some(PathBuf::from(MISSING))
        );
        assert_eq!(
            find_in(None, None, &[MISSING, EXISTS]),
            Some(PathBuf::from(EXISTS))
        );
        assert_eq!(find_in(None, None, &[MISSING]), None);
    }
}
