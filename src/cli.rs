//! Command-line parsing: argv → `Mode`. Hand-rolled (the grammar is tiny and
//! a parser crate would cost more binary than this file), two stages like
//! ripgrep's: words are recognised here, values are typed by `units`.
//!
//! Everything after `--` is the command, passed on untouched as `OsString`s.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::control::Request;
use crate::policy::Restart;
use crate::units;

/// What the user asked for.
#[derive(Debug, PartialEq)]
pub enum Mode {
    Help,
    Version,
    /// `tend [FLAGS] -- CMD [ARG...]`.
    Wrap(WrapArgs),
    /// `tend [-c FILE]`.
    Supervise {
        config: Option<PathBuf>,
        socket: Option<PathBuf>,
    },
    /// `tend check [FILE]`.
    Check {
        config: Option<PathBuf>,
    },
    /// `tend import FILE`: a PM2 ecosystem file as init.toml on stdout.
    Import {
        file: PathBuf,
    },
    /// `tend status|start|stop|restart|reload`: a request to a running tend.
    Ctl {
        command: CtlCommand,
        config: Option<PathBuf>,
        socket: Option<PathBuf>,
    },
}

/// A client command for a running tend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtlCommand {
    /// `tend status [NAME...]`, shown as a table, as JSON, or as a check;
    /// no names: every app.
    Status {
        json: bool,
        check: bool,
        names: Vec<String>,
    },
    /// `tend describe NAME`, as text or JSON.
    Describe { name: String, json: bool },
    /// `tend start|stop|restart`: one request per instance, then (unless
    /// --no-wait) a wait until each is up or down.
    Act(Act),
    /// `tend logs`: lines streamed until tend ends the answer (or, with
    /// -f, until interrupted).
    Logs(Request),
    /// Every other command: the request itself, answered with ok or an error.
    Send(Request),
}

/// `tend start|stop|restart [--no-wait] [--timeout D] NAME...|all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Act {
    pub verb: Verb,
    /// As given: app names, `NAME.i`, or `all`.
    pub names: Vec<String>,
    pub wait: bool,
    pub timeout: Duration,
}

/// What `Act` does to each instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Restart,
}

impl Verb {
    /// The request that does it to `name`.
    pub fn request(self, name: &str) -> Request {
        match self {
            Verb::Start => Request::Start(name.into()),
            Verb::Stop => Request::Stop(name.into()),
            Verb::Restart => Request::Restart(name.into()),
        }
    }
}

/// How long `tend start|stop|restart` waits by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Wrapper mode: the command and the supervisor flags given on the line.
#[derive(Debug, Default, PartialEq)]
pub struct WrapArgs {
    pub command: Vec<OsString>,
    pub restart: Option<Restart>,
    pub restart_delay: Option<Duration>,
    pub max_restarts: Option<u32>,
    pub min_uptime: Option<Duration>,
    /// From before --min-uptime: accepted, ignored with a warning.
    pub restart_window: Option<Duration>,
    pub max_memory: Option<u64>,
    pub stop_signal: Option<libc::c_int>,
    pub stop_timeout: Option<Duration>,
    /// `--name`: the app's name (default: the command's basename).
    pub name: Option<String>,
    /// The global `--socket`: the one-app supervisor serves it (plain
    /// wrapper mode has no control socket).
    pub socket: Option<PathBuf>,
}

impl WrapArgs {
    /// True when no supervisor flag was given: tend behaves like tini.
    pub fn is_plain(&self) -> bool {
        *self
            == WrapArgs {
                command: self.command.clone(),
                socket: self.socket.clone(),
                ..WrapArgs::default()
            }
    }
}

/// The first line of `--help`.
pub const ABOUT: &str =
    "tend: a small init and process supervisor for containers and minimal VMs\n";

/// The commands, one by one: `--help` after `ABOUT`, and what `tend` with
/// no arguments and no config file prints after saying so.
pub const SYNOPSIS: &str = "\
usage:
  tend [-c FILE]                 run the apps of FILE (default: $TEND_CONFIG,
                                 else ./init.toml, else /etc/tend/init.toml)
  tend [FLAGS] -- CMD [ARG...]   wrapper mode: run CMD as the only child, reap
                                 zombies, forward every signal, exit with CMD's code
  tend check [FILE]              validate FILE and report every problem
  tend status [--json] [--check] [NAME...]
                                 the apps of the running tend (or those named): state,
                                 pid, uptime, restarts, cpu, memory, last exit; --check:
                                 exit 0 only when every app that should run is running
  tend start|stop|restart [--no-wait] [--timeout D] NAME...|all
                                 act on apps (NAME: all its instances; NAME.i: one)
                                 and wait until each is running (ready/healthy
                                 where checked) or stopped: one line per instance,
                                 exit 1 if one is not (default --timeout 60s)
  tend describe [--json] NAME    everything about an app: its definition as resolved,
                                 counters, and its last 10 exits with their causes
  tend signal [--tree] SIGNAL NAME...|all
                                 send SIGNAL to each instance's main process (--tree:
                                 to its whole tree); restarts and counts nothing
  tend logs [-n N] [-f] [NAME...]
                                 the last N lines (default 50) of each app whose output
                                 passes through tend (or those named), merged in time
                                 order; -f: then follow new lines until interrupted
  tend reload                    re-read the config, apply only what changed (= SIGHUP)
  tend import FILE               print an init.toml for a PM2 ecosystem file
                                 (ecosystem.config.js, .cjs or .json; node evaluates
                                 a .js file): what PM2 did differently as comments
  tend poweroff | reboot         stop every app, then power off or reboot (VM mode)
  tend --version | --help
";

/// The rest of `--help`: the flags and what they take.
pub const FLAGS: &str = "\
global flags:
  -c, --config FILE              the config file
  --socket PATH                  the control socket (default: $TEND_SOCKET, else
                                 [tend] socket, else /run/tend.sock as root and
                                 $XDG_RUNTIME_DIR/tend.sock otherwise)

wrapper flags (any of them turns wrapper mode into a one-app supervisor):
  --restart always|on-failure|never   restart policy (default: never)
  --restart-delay DURATION            first delay before a restart (default: 1s);
                                      doubles after each run shorter than ...
  --min-uptime DURATION               ... this (default: 30s); a longer run is stable:
                                      the delay and the restart count start again
  --max-restarts N                    this many restarts in a row after short runs,
                                      then the next short run gives up (default: 10)
  --max-memory SIZE                   restart when the tree's RSS exceeds SIZE
  --stop-signal SIGNAL                signal that asks CMD to stop (default: SIGTERM)
  --stop-timeout DURATION             then SIGKILL after this long (default: 10s)
  --name NAME                         the app's name for tend status and the
                                      control commands (letters, digits, - and _;
                                      default: CMD's basename). The one-app
                                      supervisor serves the control socket when
                                      --socket or $TEND_SOCKET is given

durations: 500ms 3s 2m 1h    sizes: 512K 256M 1G    signals: SIGTERM TERM 15 SIGRTMIN+3

exit status: CMD's exit code, 128+N if CMD died of signal N, 127 if CMD was
not found, 126 if it could not be executed, 2 for a usage or config error.
";

/// Parses argv (without argv[0]).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Mode, String> {
    let mut args = args.into_iter();
    let mut wrap = WrapArgs::default();
    let mut config: Option<PathBuf> = None;
    let mut socket: Option<PathBuf> = None;
    let mut words: Vec<String> = Vec::new();
    let mut json = false;
    let mut check = false;
    let mut tree = false;
    let mut saw_wrap_flag = false;
    let mut no_wait = false;
    let (mut lines, mut follow) = (None, false);
    let mut timeout: Option<Duration> = None;

    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            return Err(format!("unexpected argument {arg:?} (see tend --help)"));
        };
        if text == "--" {
            wrap.command = args.collect();
            if wrap.command.is_empty() {
                return Err("missing command after '--' (usage: tend -- CMD [ARG...])".into());
            }
            if config.is_some() || !words.is_empty() {
                return Err(
                    "'-- CMD' runs one command: it takes no config file or subcommand".into(),
                );
            }
            wrap.socket = socket;
            return Ok(Mode::Wrap(wrap));
        }
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (text, None),
        };
        let mut value = |name: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => args
                    .next()
                    .and_then(|v| v.into_string().ok())
                    .ok_or_else(|| format!("{name} needs a value (see tend --help)")),
            }
        };
        let with_flag = |name: &str, e: String| format!("{name}: {e}");
        let is_wrap_flag = flag.starts_with("--restart")
            || matches!(
                flag,
                "--max-restarts"
                    | "--min-uptime"
                    | "--max-memory"
                    | "--stop-signal"
                    | "--stop-timeout"
                    | "--name"
            );
        saw_wrap_flag |= is_wrap_flag;
        match flag {
            "-h" | "--help" => return Ok(Mode::Help),
            "-V" | "--version" => return Ok(Mode::Version),
            "-c" | "--config" => config = Some(PathBuf::from(value(flag)?)),
            "--socket" => socket = Some(PathBuf::from(value(flag)?)),
            "--json" => json = true,
            "--check" => check = true,
            "--tree" => tree = true,
            "--no-wait" => no_wait = true,
            "-f" | "--follow" => follow = true,
            "-n" | "--lines" => {
                let v = value(flag)?;
                lines =
                    Some(v.parse().map_err(|_| {
                        format!("{flag}: invalid count {v:?}: expected a whole number")
                    })?)
            }
            "--timeout" => {
                timeout =
                    Some(units::parse_duration(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--restart" => {
                wrap.restart = Some(Restart::parse(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--restart-delay" => {
                wrap.restart_delay =
                    Some(units::parse_duration(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--max-restarts" => {
                let v = value(flag)?;
                wrap.max_restarts =
                    Some(v.parse().map_err(|_| {
                        format!("{flag}: invalid count {v:?}: expected a whole number")
                    })?)
            }
            "--min-uptime" => {
                let d = units::parse_duration(&value(flag)?).map_err(|e| with_flag(flag, e))?;
                if d.is_zero() {
                    return Err(format!(
                        "{flag}: must be longer than 0s: with 0s every run is stable, and a \
                         crash loop never ends"
                    ));
                }
                wrap.min_uptime = Some(d);
            }
            "--restart-window" => {
                wrap.restart_window =
                    Some(units::parse_duration(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--max-memory" => {
                wrap.max_memory =
                    Some(units::parse_size(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--stop-signal" => {
                wrap.stop_signal =
                    Some(units::parse_signal(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--stop-timeout" => {
                wrap.stop_timeout =
                    Some(units::parse_duration(&value(flag)?).map_err(|e| with_flag(flag, e))?)
            }
            "--name" => {
                let v = value(flag)?;
                if !crate::config::valid_app_name(&v) {
                    return Err(format!(
                        "{flag}: invalid app name {v:?}: use letters, digits, '-' and '_'"
                    ));
                }
                wrap.name = Some(v);
            }
            other if other.starts_with('-') => {
                return Err(format!("unknown flag {other:?} (see tend --help)"));
            }
            other => words.push(other.to_string()),
        }
    }
    if saw_wrap_flag {
        return Err("wrapper flags need a command: tend [FLAGS] -- CMD [ARG...]".into());
    }
    let Some((first, rest)) = words.split_first() else {
        if json || check {
            return Err("--json and --check go with status: tend status [--json] [--check]".into());
        }
        if tree {
            return Err("--tree goes with signal: tend signal --tree SIGNAL NAME...".into());
        }
        return Ok(Mode::Supervise { config, socket });
    };
    let no_args = |sub: &str| match rest.first() {
        Some(extra) => Err(format!("{sub}: unexpected argument {extra:?}")),
        None => Ok(()),
    };
    if json && !check && first == "describe" {
        // `describe --json`: below.
    } else if (json || check) && first != "status" {
        return Err("--json and --check go with status: tend status [--json] [--check]".into());
    }
    if (follow || lines.is_some()) && first != "logs" {
        return Err("-n and -f go with logs: tend logs [-n N] [-f] [NAME...]".into());
    }
    if tree && first != "signal" {
        return Err("--tree goes with signal: tend signal --tree SIGNAL NAME...".into());
    }
    let verb = match first.as_str() {
        "start" => Some(Verb::Start),
        "stop" => Some(Verb::Stop),
        "restart" => Some(Verb::Restart),
        _ => None,
    };
    if (no_wait || timeout.is_some()) && verb.is_none() {
        return Err(
            "--no-wait and --timeout go with start, stop and restart (see tend --help)".into(),
        );
    }
    if let Some(verb) = verb {
        if rest.is_empty() {
            return Err(format!(
                "{first} needs an app name: tend {first} NAME... (or all)"
            ));
        }
        let act = Act {
            verb,
            names: rest.to_vec(),
            wait: !no_wait,
            timeout: timeout.unwrap_or(DEFAULT_WAIT),
        };
        return Ok(Mode::Ctl {
            command: CtlCommand::Act(act),
            config,
            socket,
        });
    }
    let command = match first.as_str() {
        "check" => {
            if rest.len() > 1 {
                return Err(format!("check: unexpected argument {:?}", rest[1]));
            }
            let file = rest.first().map(PathBuf::from).or(config);
            return Ok(Mode::Check { config: file });
        }
        "import" => {
            return match rest {
                [file] if config.is_none() && socket.is_none() => Ok(Mode::Import {
                    file: PathBuf::from(file),
                }),
                [_] => Err("import takes no -c or --socket: tend import FILE".into()),
                [] => Err("import needs a file: tend import ecosystem.config.js".into()),
                [_, extra, ..] => Err(format!("import: unexpected argument {extra:?}")),
            };
        }
        "status" => CtlCommand::Status {
            json,
            check,
            names: rest.to_vec(),
        },
        "signal" => {
            let usage = "signal needs a signal and app names: tend signal SIGNAL NAME...|all";
            let (sig, names) = rest.split_first().ok_or(usage)?;
            if names.is_empty() {
                return Err(usage.into());
            }
            let signal = units::parse_signal(sig).map_err(|e| format!("signal: {e}"))?;
            CtlCommand::Send(Request::Signal {
                names: names.to_vec(),
                signal,
                tree,
            })
        }
        "describe" => match rest {
            [name] => CtlCommand::Describe {
                name: name.clone(),
                json,
            },
            [] => return Err("describe needs an app name: tend describe NAME".into()),
            [_, extra, ..] => return Err(format!("describe: unexpected argument {extra:?}")),
        },
        "logs" => CtlCommand::Logs(Request::Logs {
            names: rest.to_vec(),
            lines: lines.unwrap_or(50),
            follow,
        }),
        "reload" => {
            no_args(first)?;
            CtlCommand::Send(Request::Reload)
        }
        "poweroff" => {
            no_args(first)?;
            CtlCommand::Send(Request::Poweroff)
        }
        "reboot" => {
            no_args(first)?;
            CtlCommand::Send(Request::Reboot)
        }
        other => {
            return Err(format!(
                "unknown command {other:?}; to run a program, put it after '--': tend -- {other}"
            ));
        }
    };
    Ok(Mode::Ctl {
        command,
        config,
        socket,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(args: &[&str]) -> Result<Mode, String> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn wrapper_mode_plain_and_with_flags() {
        let Ok(Mode::Wrap(w)) = parse_str(&["--", "sh", "-c", "exit 3"]) else {
            panic!("not wrap mode")
        };
        assert_eq!(w.command, ["sh", "-c", "exit 3"]);
        assert!(w.is_plain());

        let Ok(Mode::Wrap(w)) = parse_str(&[
            "--restart",
            "on-failure",
            "--restart-delay=3s",
            "--max-restarts",
            "5",
            "--min-uptime=10s",
            "--restart-window",
            "1m",
            "--max-memory",
            "256M",
            "--stop-signal",
            "SIGINT",
            "--",
            "app",
        ]) else {
            panic!("not wrap mode")
        };
        assert!(!w.is_plain());
        assert_eq!(w.restart, Some(Restart::OnFailure));
        assert_eq!(w.restart_delay, Some(Duration::from_secs(3)));
        assert_eq!(w.max_restarts, Some(5));
        assert_eq!(w.min_uptime, Some(Duration::from_secs(10)));
        assert_eq!(
            w.restart_window,
            Some(Duration::from_secs(60)),
            "accepted (then ignored with a warning)"
        );
        assert_eq!(w.max_memory, Some(256 << 20));
        assert_eq!(w.stop_signal, Some(libc::SIGINT));

        // --socket alone leaves the wrapper plain; --name makes a supervisor.
        let Ok(Mode::Wrap(w)) = parse_str(&["--socket", "/s", "--", "app"]) else {
            panic!("not wrap mode")
        };
        assert!(w.is_plain());
        assert_eq!(w.socket, Some("/s".into()));
        let Ok(Mode::Wrap(w)) = parse_str(&["--name=web", "--", "app"]) else {
            panic!("not wrap mode")
        };
        assert!(!w.is_plain());
        assert_eq!(w.name.as_deref(), Some("web"));
    }

    #[test]
    fn other_modes() {
        assert_eq!(
            parse_str(&[]),
            Ok(Mode::Supervise {
                config: None,
                socket: None
            })
        );
        assert_eq!(
            parse_str(&["-c", "x.toml", "--socket=/tmp/s"]),
            Ok(Mode::Supervise {
                config: Some("x.toml".into()),
                socket: Some("/tmp/s".into())
            })
        );
        let ctl = |command| Mode::Ctl {
            command,
            config: None,
            socket: Some("/s".into()),
        };
        assert_eq!(
            parse_str(&["status", "--socket", "/s", "--json"]),
            Ok(ctl(CtlCommand::Status {
                json: true,
                check: false,
                names: vec![]
            }))
        );
        assert_eq!(
            parse_str(&["--socket", "/s", "status", "--check"]),
            Ok(ctl(CtlCommand::Status {
                json: false,
                check: true,
                names: vec![]
            }))
        );
        let act = |verb, names: &[&str], wait, timeout| {
            ctl(CtlCommand::Act(Act {
                verb,
                names: names.iter().map(|n| n.to_string()).collect(),
                wait,
                timeout,
            }))
        };
        assert_eq!(
            parse_str(&["--socket", "/s", "status", "web", "db.1", "--json"]),
            Ok(ctl(CtlCommand::Status {
                json: true,
                check: false,
                names: vec!["web".into(), "db.1".into()]
            }))
        );
        assert_eq!(
            parse_str(&["describe", "--json", "web.1", "--socket=/s"]),
            Ok(ctl(CtlCommand::Describe {
                name: "web.1".into(),
                json: true
            }))
        );
        assert_eq!(
            parse_str(&["--socket", "/s", "signal", "USR2", "web", "db"]),
            Ok(ctl(CtlCommand::Send(Request::Signal {
                names: vec!["web".into(), "db".into()],
                signal: libc::SIGUSR2,
                tree: false
            })))
        );
        assert_eq!(
            parse_str(&["signal", "--tree", "--socket=/s", "10", "all"]),
            Ok(ctl(CtlCommand::Send(Request::Signal {
                names: vec!["all".into()],
                signal: libc::SIGUSR1,
                tree: true
            })))
        );
        assert_eq!(
            parse_str(&["--socket", "/s", "stop", "web.1"]),
            Ok(act(Verb::Stop, &["web.1"], true, DEFAULT_WAIT))
        );
        assert_eq!(
            parse_str(&["start", "web", "db", "--socket", "/s", "--no-wait"]),
            Ok(act(Verb::Start, &["web", "db"], false, DEFAULT_WAIT))
        );
        assert_eq!(
            parse_str(&["restart", "--timeout", "500ms", "all", "--socket=/s"]),
            Ok(act(
                Verb::Restart,
                &["all"],
                true,
                Duration::from_millis(500)
            ))
        );
        assert_eq!(
            parse_str(&["reload", "--socket=/s"]),
            Ok(ctl(CtlCommand::Send(Request::Reload)))
        );
        assert_eq!(
            parse_str(&["check", "a.toml"]),
            Ok(Mode::Check {
                config: Some("a.toml".into())
            })
        );
        assert_eq!(
            parse_str(&["import", "ecosystem.config.js"]),
            Ok(Mode::Import {
                file: "ecosystem.config.js".into()
            })
        );
        assert_eq!(parse_str(&["--help"]), Ok(Mode::Help));
        assert_eq!(parse_str(&["-V"]), Ok(Mode::Version));
    }

    #[test]
    fn the_synopsis_names_every_command_parse_knows() {
        assert!(SYNOPSIS.starts_with("usage:\n") && SYNOPSIS.ends_with("--help\n"));
        let commands: Vec<&str> = SYNOPSIS
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("tend "))
            .collect();
        for word in [
            "check", "status", "start", "stop", "restart", "describe", "signal", "logs", "reload",
            "poweroff", "reboot",
        ] {
            assert!(
                commands
                    .iter()
                    .any(|c| c.split([' ', '|']).any(|w| w == word)),
                "{word} is missing from the synopsis"
            );
            assert!(
                !matches!(parse_str(&[word]), Err(e) if e.contains("unknown command")),
                "{word} is not a command"
            );
        }
        for form in ["[-c FILE]", "[FLAGS] -- CMD [ARG...]", "--version | --help"] {
            assert!(commands.iter().any(|c| c.starts_with(form)), "{form}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases: [(&[&str], &str); 25] = [
            (&["import"], "import needs a file"),
            (
                &["import", "a.js", "b.js"],
                "import: unexpected argument \"b.js\"",
            ),
            (&["import", "-c", "x", "a.js"], "import takes no -c"),
            (&["describe"], "describe needs an app name"),
            (
                &["describe", "--check", "web"],
                "--json and --check go with status",
            ),
            (&["signal", "USR1"], "signal needs a signal and app names"),
            (
                &["signal", "NOPE", "web"],
                "signal: invalid signal \"NOPE\"",
            ),
            (&["stop", "--tree", "web"], "--tree goes with signal"),
            (&["--tree"], "--tree goes with signal"),
            (&["stop"], "stop needs an app name"),
            (
                &["status", "--no-wait"],
                "--no-wait and --timeout go with start",
            ),
            (&["stop", "--timeout", "5", "a"], "missing unit"),
            (&["reload", "x"], "reload: unexpected argument"),
            (&["--json"], "--json and --check go with status"),
            (&["--bogus"], "unknown flag \"--bogus\""),
            (&["--"], "missing command"),
            (
                &["--restart", "sometimes", "--", "x"],
                "--restart: invalid restart policy",
            ),
            (&["--restart-delay", "3", "--", "x"], "missing unit"),
            (&["--max-restarts", "ten", "--", "x"], "invalid count"),
            (&["--stop-signal"], "--stop-signal needs a value"),
            (&["--restart", "always"], "need a command"),
            (&["sleep", "1"], "tend -- sleep"),
            (
                &["--name", "web.1", "--", "x"],
                "--name: invalid app name \"web.1\"",
            ),
            (&["--name", "", "--", "x"], "--name: invalid app name \"\""),
            (
                &["--min-uptime", "0s", "--", "x"],
                "--min-uptime: must be longer than 0s",
            ),
        ];
        for (args, want) in cases {
            let err = parse_str(args).unwrap_err();
            assert!(err.contains(want), "{args:?}: {err}");
        }
    }
}
