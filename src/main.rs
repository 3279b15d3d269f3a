//! tend: the first process of a container or a minimal VM. `main` parses the
//! command line, runs the chosen mode and turns its result into the exit
//! code; it is the only place that exits.

// tend is PID 1: a panic in its loop takes the container or the VM down.
// Outside tests no unwrap, expect, panic, unreachable, todo or
// unimplemented may compile (denied here; clippy -D warnings in CI), not
// even at start-up: start-up errors go up as `Error` to `main`. Every
// unwrap and expect in src/ is test code (a `#[cfg(test)]` module, a
// tests.rs, src/fuzz.rs): there a panic is a failed test.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod app;
mod cgroup;
mod cli;
mod config;
mod control;
mod cron;
mod error;
mod event_loop;
#[cfg(test)]
mod fuzz;
mod health;
mod ids;
mod import;
mod listen;
mod log;
mod logs;
mod notify;
mod output;
mod policy;
mod poll_set;
mod probe;
mod procfs;
mod reaper;
mod signals;
mod spawn;
mod supervisor;
mod tz;
mod units;
mod vm;
mod watch;
mod wrapper;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cgroup::Hierarchy;
use cli::{Mode, WrapArgs};
use config::{AppSpec, Cgroups, Config};
use error::Error;
use policy::Restart;
use signals::Signals;
use spawn::Session;
use supervisor::{Options, Supervisor};

fn main() -> ExitCode {
    log::init();
    let result = cli::parse(std::env::args_os().skip(1))
        .map_err(Error::Usage)
        .and_then(run);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.to_string();
            match e {
                Error::Usage(_)
                | Error::NoConfig { .. }
                | Error::Config(_)
                | Error::Ctl(_)
                | Error::Import(_)
                | Error::SocketHeld { .. } => {
                    for line in msg.lines() {
                        eprintln!("tend: {line}");
                    }
                }
                _ => log::error(&msg),
            }
            if let Error::NoConfig { synopsis: true } = e {
                eprint!("\n{}", cli::SYNOPSIS);
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(mode: Mode) -> Result<u8, Error> {
    match mode {
        Mode::Help => {
            print!("{}\n{}\n{}", cli::ABOUT, cli::SYNOPSIS, cli::FLAGS);
            Ok(0)
        }
        Mode::Version => {
            println!("tend {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Mode::Wrap(args) => {
            let vm = vm::detect(env_vm());
            if vm {
                vm::setup(None, false);
            }
            let result = if args.is_plain() {
                wrapper::run(&args.command)
            } else {
                supervise_one(args, vm).map(|(code, _)| code)
            };
            if vm {
                end_vm(result, vm::Power::Off);
            }
            result
        }
        Mode::Check { config } => check(config),
        Mode::Import { file } => {
            // The CPUs online, as PM2's os.cpus() counts them (and without
            // std's cgroup parsing in available_parallelism).
            // SAFETY: sysconf(3) only reads.
            let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
            let cpus = usize::try_from(cpus).unwrap_or(1);
            let imported = import::import(&file, cpus).map_err(Error::Import)?;
            use std::io::Write;
            std::io::stdout()
                .write_all(imported.toml.as_bytes())
                .map_err(|e| Error::Import(format!("writing the config to stdout: {e}")))?;
            eprintln!(
                "tend: {}: {}, {} not mapped{}; check the result with tend check",
                file.display(),
                count(imported.apps, "app", "apps"),
                count(imported.unmapped, "key", "keys"),
                if imported.unmapped > 0 {
                    " (see the comments)"
                } else {
                    ""
                }
            );
            Ok(0)
        }
        Mode::Supervise { config, socket } => {
            // `tend` alone, with no config anywhere: what it can do instead.
            let bare = config.is_none() && socket.is_none();
            let loaded = config_path(config, bare).and_then(|path| {
                let config = config::load(&path).map_err(Error::Config)?;
                Ok((path, config))
            });
            let (path, config) = match loaded {
                Ok(c) => c,
                // As the init of a VM, a bad config powers off: exiting
                // would panic the kernel.
                Err(e) if vm::detect(env_vm()) => end_vm(Err(e), vm::Power::Off),
                Err(e) => return Err(e),
            };
            log::set_json(config.log_format == config::LogFormat::Json);
            let vm = vm::detect(config.vm.or(env_vm()));
            if vm {
                log::info("PID 1 of a VM: mounting, then starting the apps");
                vm::setup(config.hostname.as_deref(), config.root_rw);
            }
            let socket = control::socket_path(socket, config.socket.clone());
            let cgroups = match take_cgroups(config.cgroups, &config.apps) {
                Ok(h) => h,
                Err(e) if vm => end_vm(Err(e), vm::Power::Off),
                Err(e) => return Err(e),
            };
            let opts = Options {
                config: Some(path),
                poll_interval: config.poll_interval,
                session: Session::New,
                exit_with_last_code: false,
                forward_hup: false,
                vm,
                log_dir: config.log_dir.clone(),
            };
            let group = match &config.socket_group {
                None => None,
                Some(g) => match ids::resolve(None, Some(g)) {
                    Ok(creds) => creds.map(|c| c.gid),
                    Err(e) => {
                        log::warn(&format!("[tend] socket_group: {e}; the socket stays 0600"));
                        None
                    }
                },
            };
            let result = supervise(config.apps, opts, Some((socket, group)), cgroups);
            match result {
                Ok((code, power)) if vm => end_vm(Ok(code), power),
                Err(e) if vm => end_vm(Err(e), vm::Power::Off),
                other => other.map(|(code, _)| code),
            }
        }
        Mode::Ctl {
            command,
            config,
            socket,
        } => control::client::run(command, config, socket).map_err(Error::Ctl),
    }
}

/// Runs `apps` under the supervisor loop until it is done, answering
/// control requests on `socket` when given.
fn supervise(
    apps: Vec<AppSpec>,
    opts: Options,
    socket: Option<(PathBuf, Option<u32>)>,
    cgroups: Option<Hierarchy>,
) -> Result<(u8, vm::Power), Error> {
    let mut signals = Signals::install().map_err(|source| Error::Setup {
        op: "opening the signalfd",
        source,
    })?;
    reaper::adopt_orphans();
    let server = match socket {
        None => None,
        Some((path, group)) => match control::Server::bind(&path, group) {
            Ok(server) => Some(server),
            // Two tends on one socket: `tend status` would answer for the
            // other one, and this one could not be controlled. Not PID 1,
            // tend can refuse before starting anything.
            Err(control::BindError::Held { pid }) if std::process::id() != 1 => {
                return Err(Error::SocketHeld { path, pid });
            }
            // Without its socket tend still supervises: losing `tend
            // status` is better than losing the apps (as PID 1, refusing
            // would end the container).
            Err(e) => {
                log::warn(&format!(
                    "control socket {}: {e}; running without it (tend status and friends will not work)",
                    path.display()
                ));
                None
            }
        },
    };
    let mut sup = Supervisor::new(apps, opts, cgroups);
    log::nonblocking();
    let code = event_loop::run(&mut sup, &mut signals, server);
    // The apps' output has had its second (flush_output); a stuck stderr
    // must not hold the exit much longer.
    log::blocking(std::time::Duration::from_millis(500));
    Ok((code, sup.power()))
}

/// $TEND_VM (`1` or `0`; a kernel command-line word TEND_VM=1 arrives in
/// PID 1's environment) forces VM mode on or off.
fn env_vm() -> Option<bool> {
    match std::env::var("TEND_VM").ok()?.as_str() {
        "1" | "yes" | "true" => Some(true),
        "0" | "no" | "false" => Some(false),
        _ => None,
    }
}

/// The end of tend as a VM's init: say how it ended, then power off or
/// reboot. Never returns.
fn end_vm(result: Result<u8, Error>, power: vm::Power) -> ! {
    match result {
        Ok(code) => log::info(&format!("everything stopped (exit code {code})")),
        Err(e) => log::error(&e.to_string()),
    }
    vm::finish(power)
}

/// Wrapper mode with supervisor flags: one app, the same engine.
fn supervise_one(args: WrapArgs, vm: bool) -> Result<(u8, vm::Power), Error> {
    let basename = || {
        args.command
            .first()
            .map(|c| {
                let c = c.to_string_lossy();
                c.rsplit('/').next().unwrap_or(&c).to_string()
            })
            .unwrap_or_default()
    };
    let name = args.name.clone().unwrap_or_else(basename);
    let mut spec = AppSpec::new(&name, args.command.clone());
    spec.restart = args.restart.unwrap_or(Restart::Never);
    if let Some(d) = args.restart_delay {
        spec.restart_delay = d;
        spec.max_restart_delay = spec.max_restart_delay.max(d);
    }
    spec.max_restarts = args.max_restarts.unwrap_or(spec.max_restarts);
    spec.min_uptime = args.min_uptime.unwrap_or(spec.min_uptime);
    if args.restart_window.is_some() {
        log::warn(
            "--restart-window is ignored: --max-restarts now counts restarts in a row \
             after runs shorter than --min-uptime (default 30s); use --min-uptime instead",
        );
    }
    spec.max_memory = args.max_memory;
    spec.stop_signal = args.stop_signal.unwrap_or(spec.stop_signal);
    spec.stop_timeout = args.stop_timeout.unwrap_or(spec.stop_timeout);
    let opts = Options {
        config: None,
        poll_interval: std::time::Duration::from_secs(1),
        session: spawn::session_for_stdin(),
        exit_with_last_code: true,
        forward_hup: true,
        vm,
        log_dir: None,
    };
    // Only when asked for: a one-app supervisor is often one of several
    // on a machine, and the default path belongs to the main tend.
    let socket = (args.socket.is_some() || std::env::var_os("TEND_SOCKET").is_some())
        .then(|| (control::socket_path(args.socket, None), None));
    // One app in a terminal: tend leaves the cgroups as it found them.
    supervise(vec![spec], opts, socket, None)
}

/// `[tend] cgroups`: tend's cgroup for the apps (cgroup mode), or None
/// and why not, said once (/proc mode); "on" without it ends tend.
fn take_cgroups(mode: Cgroups, apps: &[AppSpec]) -> Result<Option<Hierarchy>, Error> {
    let why = match mode {
        Cgroups::Off => "cgroups = \"off\"".to_string(),
        Cgroups::Auto | Cgroups::On => match Hierarchy::setup() {
            Ok(h) => {
                log::info(&format!(
                    "cgroup v2: each app runs in a cgroup of its own under {}",
                    h.dir().display()
                ));
                let off = [
                    (h.memory, "memory_max"),
                    (h.cpu, "cpu_max"),
                    (h.pids, "pids_max"),
                ];
                for key in cgroup_keys(apps) {
                    if off.iter().any(|(on, k)| !on && key.ends_with(k)) {
                        log::warn(&format!(
                            "{key} is not enforced: its controller is not available to tend's cgroup"
                        ));
                    }
                }
                return Ok(Some(h));
            }
            Err(why) if mode == Cgroups::On => {
                return Err(Error::Setup {
                    op: "cgroups = \"on\"",
                    source: std::io::Error::other(why),
                });
            }
            Err(why) => {
                log::info(&format!("cgroups: memory and trees from /proc: {why}"));
                why
            }
        },
    };
    for key in cgroup_keys(apps) {
        log::warn(&format!("{key} is not enforced without cgroups ({why})"));
    }
    Ok(None)
}

/// `app.NAME.KEY` of each cgroup-only limit an app sets, each app once.
fn cgroup_keys(apps: &[AppSpec]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut keys = Vec::new();
    for a in apps.iter().filter(|a| seen.insert(a.app.as_str())) {
        let set = [
            (a.memory_max.is_some(), "memory_max"),
            (a.cpu_max.is_some(), "cpu_max"),
            (a.pids_max.is_some(), "pids_max"),
        ];
        keys.extend(
            set.iter()
                .filter(|(s, _)| *s)
                .map(|(_, k)| format!("app.{}.{k}", a.app)),
        );
    }
    keys
}

/// `-c FILE`, else $TEND_CONFIG, else ./init.toml, else /etc/tend/init.toml.
/// When there is none, `synopsis` says whether to show the commands too.
fn config_path(given: Option<PathBuf>, synopsis: bool) -> Result<PathBuf, Error> {
    config::find(given).ok_or(Error::NoConfig { synopsis })
}

/// `tend check`: validate, then warn about what depends on this machine.
fn check(given: Option<PathBuf>) -> Result<u8, Error> {
    let path = config_path(given, false)?;
    let config = config::load(&path).map_err(Error::Config)?;
    for warning in &config.warnings {
        eprintln!("tend: {}:{warning}", path.display());
    }
    for warning in machine_warnings(&config) {
        eprintln!("tend: {}: warning: {warning}", path.display());
    }
    // Thousands of instances would bury the answer: name the first few.
    const SHOWN: usize = 20;
    let names: Vec<&str> = config.apps.iter().map(|a| a.name.as_str()).collect();
    let more = match names.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    println!(
        "{}: ok, {}: {}{more}",
        path.display(),
        count(names.len(), "app", "apps"),
        names[..names.len().min(SHOWN)].join(", ")
    );
    Ok(0)
}

/// `1 app`, `2 apps`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Commands not found, missing directories, unknown users, env files that
/// cannot be read or parsed: errors of that
/// app at start, warnings for `check` (the file may be meant for another box).
fn machine_warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for app in &config.apps {
        if !seen.insert(app.app.clone()) {
            continue;
        }
        let name = &app.app;
        if let Some(cmd) = app.command.first() {
            let cmd = Path::new(cmd);
            let path = app
                .env
                .get("PATH")
                .cloned()
                .or_else(|| std::env::var("PATH").ok())
                .unwrap_or_default();
            let found = if cmd.components().count() > 1 {
                cmd.exists()
            } else {
                path.split(':')
                    .any(|dir| Path::new(dir).join(cmd).is_file())
            };
            if !found {
                out.push(format!("app.{name}.command: {} not found", cmd.display()));
            }
        }
        if let Some(cwd) = &app.cwd
            && !cwd.is_dir()
        {
            out.push(format!(
                "app.{name}.cwd: {} is not a directory",
                cwd.display()
            ));
        }
        for file in &app.env_files {
            if let Err(e) = config::dotenv::read(file) {
                out.push(format!("app.{name}.env_file: {e}"));
            }
        }
        if let Err(e) = ids::resolve(app.user.as_ref(), app.group.as_ref()) {
            out.push(format!("app.{name}: {e}"));
        }
        if let (Some(soft), Some(hard)) = (app.max_memory, app.memory_max)
            && soft >= hard
        {
            out.push(format!(
                "app.{name}.max_memory: {} is not below memory_max {}: the kernel's OOM kill \
                 comes before tend's graceful restart",
                units::format_size(soft),
                units::format_size(hard)
            ));
        }
    }
    let why = match config.cgroups {
        Cgroups::Off => Some("cgroups = \"off\"".to_string()),
        _ => Hierarchy::usable().err(),
    };
    if let Some(why) = why {
        if config.cgroups == Cgroups::On {
            out.push(format!(
                "tend.cgroups: \"on\", but {why}: tend would not start here"
            ));
        }
        for key in cgroup_keys(&config.apps) {
            out.push(format!("{key}: not enforced without cgroup v2 ({why})"));
        }
    }
    if config.apps.iter().any(|a| a.log_file) {
        let dir = logs::dir_or_default(config.log_dir.clone());
        // The directory is made at start when missing: its nearest
        // existing ancestor must take it.
        let existing = dir
            .ancestors()
            .find(|d| d.exists())
            .unwrap_or(Path::new("/"));
        let path = format!("{}\0", existing.display());
        // SAFETY: a NUL-terminated path; access(2) only reads it.
        let writable = unsafe { libc::access(path.as_ptr().cast(), libc::W_OK) } == 0;
        if !existing.is_dir() || !writable {
            out.push(format!(
                "tend.log_dir: {} cannot be written ({} is not a writable directory): log files will be missing",
                dir.display(),
                existing.display()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_app_and_many_apps() {
        assert_eq!(super::count(1, "app", "apps"), "1 app");
        assert_eq!(super::count(0, "app", "apps"), "0 apps");
        assert_eq!(super::count(2, "app", "apps"), "2 apps");
    }
}
