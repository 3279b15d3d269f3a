//! The per-app state machine: `App::on_event(event, now)` moves one app
//! between states and returns what the supervisor must do. Pure: no
//! syscalls, no clock, so every transition is unit-tested without processes.
//!
//! An app is its main process and its whole tree. `Stopping` lasts until the
//! tree is gone, whoever started the stop: tend (shutdown, memory limit) or
//! the main process (it exited and left children behind). Only then does
//! the policy decide between restart, exited for good, and failed.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::config::AppSpec;
use crate::health::{Health, Tracker};
use crate::log::Level;
use crate::policy::Streak;
use crate::reaper::Status;

/// Where an app is; each variant carries what only that state needs.
#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not started yet: waiting for its `after` apps, or for the loop.
    Waiting,
    Running {
        pid: Pid,
        since: Instant,
    },
    /// Its tree is being stopped; `main` is None once the main process is
    /// reaped. `kill_at` is when SIGKILL replaces the polite signal.
    Stopping {
        main: Option<Pid>,
        since: Instant,
        kill_at: Instant,
        killed: bool,
        then: Then,
        status: Option<Status>,
    },
    /// Restart due at `until`.
    Backoff {
        until: Instant,
    },
    /// Stopped on request; stays down until started.
    Stopped,
    /// Ended for good by its restart policy.
    Exited,
    /// Gave up: max_restarts restarts in a row after unstable runs, and
    /// the run after them was unstable too.
    Failed,
}

/// What follows once a stopping tree is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// A stop was asked for: stay down.
    Stay,
    /// A graceful restart (memory limit, health, watchdog): start again at
    /// once, counted like an exit by itself.
    Restart,
    /// A restart asked by a user: start again at once, not counted.
    Start,
    /// The main process ended by itself: the restart policy decides.
    Decide,
}

/// Why a run ended, as `tend describe` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// It exited by itself with code 0.
    Exit,
    /// It exited by itself otherwise: a non-zero code or a signal that
    /// tend did not send to stop it.
    Crash,
    /// The command could not be started.
    CouldNotStart,
    /// Its tree went over max_memory.
    Memory,
    /// The kernel's OOM killer killed it: its cgroup reached memory_max.
    OomKilled,
    /// Its health check failed `retries` times in a row.
    Health,
    /// No WATCHDOG=1 came in time.
    Watchdog,
    /// `tend stop` or `tend restart`.
    ByHand,
    /// A reload changed or removed it.
    Reload,
    /// tend shut down.
    Shutdown,
    /// Files under its `watch` paths changed.
    Watch,
    /// Its `cron_restart` minute came.
    Cron,
}

impl Cause {
    /// The word `tend describe` shows.
    pub fn name(self) -> &'static str {
        match self {
            Cause::Exit => "exit",
            Cause::Crash => "crash",
            Cause::CouldNotStart => "could not start",
            Cause::Memory => "memory",
            Cause::OomKilled => "oom-killed",
            Cause::Health => "health",
            Cause::Watchdog => "watchdog",
            Cause::ByHand => "by hand",
            Cause::Reload => "reload",
            Cause::Shutdown => "shutdown",
            Cause::Watch => "watch",
            Cause::Cron => "cron",
        }
    }
}

/// How one run ended: when, with what status (None: never started), how
/// long it ran, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub at: Instant,
    pub status: Option<Status>,
    pub run: Duration,
    pub cause: Cause,
}

/// How many past runs `App::exits` keeps.
pub const EXITS_KEPT: usize = 10;

/// One health probe's result, for `tend describe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub at: Instant,
    pub passed: bool,
    /// Why it failed; empty when it passed.
    pub reason: String,
}

/// How many probe results `App::checks` keeps.
pub const CHECKS_KEPT: usize = 10;

/// What happened to an app.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Its `after` apps are up (or it has none), or a user asked: start it.
    Start,
    /// A user asked for a restart: stop gracefully, then start at once.
    Restart,
    Spawned {
        pid: Pid,
    },
    /// The command could not be started (the supervisor logs the OS error);
    /// `code` is what a shell would exit with: 127 not found, 126 otherwise.
    SpawnFailed {
        code: i32,
    },
    /// The main process ended; `tree_left` when some of its tree lives on.
    Exited {
        status: Status,
        tree_left: bool,
    },
    /// The last process of a stopping tree is gone.
    TreeGone,
    /// A deadline of this app has passed.
    Tick,
    /// Stop and stay down (shutdown, or asked by a user).
    Stop,
    /// Skip the rest of stop_timeout (a second TERM during shutdown).
    Kill,
    /// The tree's RSS is above max_memory.
    MemoryOver {
        rss: u64,
    },
    /// The kernel's OOM killer killed in its cgroup (memory_max); with
    /// memory.oom.group the whole run goes.
    OomKilled,
    /// The watchdog ran out: restart as for a failed health check.
    Unhealthy {
        reason: String,
    },
    /// One health probe's result; `reason` says why it failed.
    Probe {
        passed: bool,
        reason: String,
    },
    /// sd_notify READY=1 from the app's tree.
    Ready,
    /// sd_notify STATUS= from the app's tree.
    Status {
        text: String,
    },
    /// A run that a replacement detached has ended (in any state of the
    /// new run): recorded among the exits.
    OldRunEnded {
        pid: Pid,
        status: Status,
        since: Instant,
        cause: Cause,
    },
}

impl Event {
    /// A short name, for log lines.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::Restart => "restart",
            Event::Spawned { .. } => "spawned",
            Event::SpawnFailed { .. } => "spawn_failed",
            Event::Exited { .. } => "exited",
            Event::TreeGone => "tree_gone",
            Event::Tick => "tick",
            Event::Stop => "stop",
            Event::Kill => "kill",
            Event::MemoryOver { .. } => "memory_over",
            Event::OomKilled => "oom_killed",
            Event::Unhealthy { .. } => "unhealthy",
            Event::Probe { .. } => "probe",
            Event::Ready => "ready",
            Event::Status { .. } => "status",
            Event::OldRunEnded { .. } => "old_run_ended",
        }
    }
}

/// What the supervisor must do for an app.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Spawn,
    /// Send this signal to the whole tree.
    Signal(libc::c_int),
    /// SIGKILL to the whole tree.
    Kill,
    Log {
        level: Level,
        event: &'static str,
        msg: String,
    },
    /// The run of `pid` (begun at `since`) leaves the state machine for a
    /// replacement: the supervisor stops it once the new run is up, and
    /// reports its end with `OldRunEnded`.
    Detach {
        pid: Pid,
        since: Instant,
        cause: Cause,
    },
}

/// One app instance: its spec, its state and its restart bookkeeping.
#[derive(Debug, Clone)]
pub struct App {
    pub spec: AppSpec,
    pub state: State,
    /// Restarts made so far (shown by status; not reset by a long run).
    pub restarts: u32,
    /// Restarts in a row after unstable runs: the backoff and max_restarts.
    streak: Streak,
    /// How the last run ended, and when.
    pub last_exit: Option<(Option<Status>, Instant)>,
    /// The last `EXITS_KEPT` runs' ends, oldest first.
    pub exits: VecDeque<Exit>,
    /// The last probe results, oldest first, across runs.
    pub checks: VecDeque<Check>,
    /// Why the stop under way began; None when the main process ended by
    /// itself (then its status tells an exit from a crash).
    stop_cause: Option<Cause>,
    /// Who asks for the next `Stop` or `Restart` (`asked_by`); by hand
    /// when nobody said.
    asker: Option<Cause>,
    /// What the health check says of the current run, if there is one.
    health: Option<Tracker>,
    /// sd_notify: READY=1 seen in this run, and the last STATUS= text.
    ready: bool,
    notify_status: Option<String>,
}

fn log(level: Level, event: &'static str, msg: String) -> Action {
    Action::Log { level, event, msg }
}

impl App {
    /// A new app, waiting to be started.
    pub fn new(spec: AppSpec) -> App {
        App {
            spec,
            state: State::Waiting,
            restarts: 0,
            streak: Streak::default(),
            last_exit: None,
            exits: VecDeque::with_capacity(EXITS_KEPT),
            checks: VecDeque::new(),
            stop_cause: None,
            asker: None,
            health: None,
            ready: false,
            notify_status: None,
        }
    }

    /// Says who asks for the `Stop` or `Restart` about to be sent (a
    /// reload, a shutdown), for the cause of the run's end; without it a
    /// stop or restart is by hand. Taken by that event.
    pub fn asked_by(&mut self, cause: Cause) {
        self.asker = Some(cause);
    }

    /// Restarts in a row after unstable runs: what max_restarts counts.
    pub fn restarts_in_a_row(&self) -> u32 {
        self.streak.in_a_row()
    }

    /// The main pid while it is alive (not yet reaped).
    pub fn main_pid(&self) -> Option<Pid> {
        match self.state {
            State::Running { pid, .. } => Some(pid),
            State::Stopping { main, .. } => main,
            _ => None,
        }
    }

    /// The next time this app needs the loop, if any.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::Backoff { until } => Some(until),
            State::Stopping {
                kill_at,
                killed: false,
                ..
            } => Some(kill_at),
            _ => None,
        }
    }

    /// The health of the current run, when the app has a health check.
    pub fn health(&self) -> Option<Health> {
        self.health.as_ref().map(|t| t.health)
    }

    /// READY=1 seen in the current run.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// The last STATUS= text of the current run.
    pub fn notify_status(&self) -> Option<&str> {
        self.notify_status.as_deref()
    }

    /// The exit code the last run ended with, as tend would exit with it:
    /// 128+N for signal N; 1 when it never ran or could not be started.
    pub fn last_code(&self) -> u8 {
        let code = self.last_exit.and_then(|(s, _)| s).map_or(1, Status::code);
        u8::try_from(code).unwrap_or(u8::MAX)
    }

    /// The state's name, as `tend status` shows it.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Waiting => "waiting",
            State::Running { .. } => "running",
            State::Stopping { .. } => "stopping",
            State::Backoff { .. } => "backoff",
            State::Stopped => "stopped",
            State::Exited => "exited",
            State::Failed => "failed",
        }
    }

    /// Running and, when it has a health check, healthy: what `after` waits for.
    pub fn is_up(&self) -> bool {
        matches!(self.state, State::Running { .. })
            && self
                .health
                .as_ref()
                .is_none_or(|h| h.health == Health::Healthy)
            && (self.ready || !self.spec.notify)
    }

    /// Ended and not coming back by itself.
    pub fn is_down(&self) -> bool {
        matches!(self.state, State::Stopped | State::Exited | State::Failed)
    }
}

/// The shortest wait before retrying a command that could not be started.
pub const MIN_RETRY: Duration = Duration::from_millis(100);

mod transitions;

#[cfg(test)]
mod tests;
