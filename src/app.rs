//! The per-app state machine: `App::on_event(event, now)` moves one app
//! between states and returns what the supervisor must do. Pure: no
//! syscalls, no clock, so every transition is unit-tested without processes.
//!
//! An app is its main process and its whole tree. `Stopping` lasts until the
//! tree is gone, whoever started the stop: tend (shutdown, memory limit) or
//! the main process (it exited and left children behind). Only then does
//! the policy decide between restart, exited for good, and failed.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::config::AppSpec;
use crate::health::Tracker;
use crate::log::Level;
use crate::policy::{self, RestartWindow};
use crate::reaper::Status;
use crate::units::{format_duration, format_size, signal_name};

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
    /// Gave up: too many restarts within the window.
    Failed,
}

/// What follows once a stopping tree is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// A stop was asked for: stay down.
    Stay,
    /// A graceful restart (memory limit): start again at once, counted.
    Restart,
    /// A restart asked by a user: start again at once, not counted.
    Start,
    /// The main process ended by itself: the restart policy decides.
    Decide,
}

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
    /// The health check failed `retries` times in a row.
    Unhealthy {
        reason: String,
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
            Event::Unhealthy { .. } => "unhealthy",
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
}

/// One app instance: its spec, its state and its restart bookkeeping.
#[derive(Debug, Clone)]
pub struct App {
    pub spec: AppSpec,
    pub state: State,
    /// Restarts made so far (shown by status; not reset by a long run).
    pub restarts: u32,
    window: RestartWindow,
    delay: Option<Duration>,
    /// How the last run ended, and when.
    pub last_exit: Option<(Option<Status>, Instant)>,
    /// What the health check says of the current run, if there is one.
    pub health: Option<Tracker>,
    /// sd_notify: READY=1 seen in this run, and the last STATUS= text.
    pub ready: bool,
    pub notify_status: Option<String>,
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
            window: RestartWindow::default(),
            delay: None,
            last_exit: None,
            health: None,
            ready: false,
            notify_status: None,
        }
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
                .is_none_or(|h| h.health == crate::health::Health::Healthy)
            && (self.ready || !self.spec.notify)
    }

    /// Ended and not coming back by itself.
    pub fn is_down(&self) -> bool {
        matches!(self.state, State::Stopped | State::Exited | State::Failed)
    }

    /// Moves the state machine; returns the actions to carry out, in order.
    ///
    /// Every (state, event) pair is decided here, with no catch-all arm: a
    /// new state or event does not compile until each pair is thought
    /// through. First the pairs that act, then those that can happen and
    /// change nothing, then those the supervisor never sends (see
    /// `unexpected`). The table test below pins every pair.
    pub fn on_event(&mut self, event: Event, now: Instant) -> Vec<Action> {
        let stop_timeout = self.spec.stop_timeout;
        let name = event.name();
        match (&mut self.state, event) {
            (State::Waiting | State::Backoff { .. }, Event::Start | Event::Restart) => {
                vec![Action::Spawn]
            }
            // Started by hand after a stop, an end or a failure: a fresh
            // start, with the restart window and the backoff forgotten.
            (State::Stopped | State::Exited | State::Failed, Event::Start | Event::Restart) => {
                self.window = RestartWindow::default();
                self.delay = None;
                self.state = State::Waiting;
                vec![Action::Spawn]
            }
            (State::Running { pid, since }, Event::Restart) => {
                let (pid, since) = (*pid, *since);
                let note = log(
                    Level::Info,
                    "restarting",
                    format!(
                        "restarting: stopping with {}",
                        signal_name(self.spec.stop_signal)
                    ),
                );
                self.begin_stop(pid, since, now, Then::Start, note)
            }
            // Started (or restarted) while still stopping: start again
            // once the tree is gone.
            (State::Stopping { then, .. }, Event::Restart | Event::Start) => {
                *then = Then::Start;
                Vec::new()
            }
            (State::Backoff { until }, Event::Tick) if now >= *until => vec![Action::Spawn],
            (State::Waiting | State::Backoff { .. }, Event::Spawned { pid }) => {
                self.state = State::Running { pid, since: now };
                self.health = self.spec.health.as_ref().map(|_| Tracker::new(now));
                self.ready = false;
                self.notify_status = None;
                vec![log(Level::Info, "started", format!("started, pid {pid}"))]
            }
            (State::Waiting | State::Backoff { .. }, Event::SpawnFailed { code }) => {
                self.decide(Some(Status::Exited(code)), now, now, true)
            }
            (State::Waiting | State::Backoff { .. }, Event::Stop) => {
                self.state = State::Stopped;
                vec![log(
                    Level::Info,
                    "stopped",
                    "stopped (was not running)".into(),
                )]
            }

            (State::Running { pid, since }, Event::Exited { status, tree_left }) => {
                let (pid, since) = (*pid, *since);
                let mut actions = vec![log(
                    if status.success() {
                        Level::Info
                    } else {
                        Level::Warn
                    },
                    "exited",
                    format!("pid {pid} {status} after {}", uptime(now - since)),
                )];
                if tree_left {
                    actions.push(log(
                        Level::Info,
                        "stopping",
                        format!(
                            "stopping what is left of its tree with {}",
                            signal_name(self.spec.stop_signal)
                        ),
                    ));
                    actions.push(Action::Signal(self.spec.stop_signal));
                    self.state = State::Stopping {
                        main: None,
                        since,
                        kill_at: now + stop_timeout,
                        killed: false,
                        then: Then::Decide,
                        status: Some(status),
                    };
                } else {
                    actions.extend(self.decide(Some(status), since, now, false));
                }
                actions
            }
            (State::Running { pid, since }, Event::MemoryOver { rss }) => {
                let (pid, since) = (*pid, *since);
                let limit = self.spec.max_memory.unwrap_or(0);
                let note = log(
                    Level::Warn,
                    "memory_limit",
                    format!(
                        "memory limit: rss {} > {}, restarting",
                        format_size(rss),
                        format_size(limit)
                    ),
                );
                self.begin_stop(pid, since, now, Then::Restart, note)
            }
            (State::Running { pid, since }, Event::Unhealthy { reason }) => {
                let (pid, since) = (*pid, *since);
                let note = log(
                    Level::Warn,
                    "unhealthy",
                    format!("unhealthy ({reason}), restarting"),
                );
                self.begin_stop(pid, since, now, Then::Restart, note)
            }
            (State::Running { pid, since }, Event::Stop) => {
                let (pid, since) = (*pid, *since);
                let note = log(
                    Level::Info,
                    "stopping",
                    format!("stopping with {}", signal_name(self.spec.stop_signal)),
                );
                self.begin_stop(pid, since, now, Then::Stay, note)
            }

            // With `main` None this cannot happen (its exit was seen
            // already); it is decided as a main exit all the same.
            (
                State::Stopping { main, status, .. },
                Event::Exited {
                    status: s,
                    tree_left,
                },
            ) => {
                let pid = main.take();
                *status = Some(s);
                let mut actions = vec![log(
                    Level::Info,
                    "exited",
                    format!(
                        "pid {} {s}",
                        pid.map_or_else(|| "?".to_string(), |p| p.to_string())
                    ),
                )];
                if !tree_left {
                    actions.extend(self.finish_stop(now));
                }
                actions
            }
            (State::Stopping { main: None, .. }, Event::TreeGone) => self.finish_stop(now),
            (
                State::Stopping {
                    kill_at,
                    killed: killed @ false,
                    ..
                },
                Event::Tick,
            ) if now >= *kill_at => {
                *killed = true;
                vec![
                    log(
                        Level::Warn,
                        "killing",
                        format!(
                            "still running after stop_timeout {}, sending SIGKILL",
                            format_duration(stop_timeout)
                        ),
                    ),
                    Action::Kill,
                ]
            }
            (
                State::Stopping {
                    killed: killed @ false,
                    ..
                },
                Event::Kill,
            ) => {
                *killed = true;
                vec![
                    log(Level::Warn, "killing", "sending SIGKILL".into()),
                    Action::Kill,
                ]
            }
            (State::Stopping { then, .. }, Event::Stop) => {
                *then = Then::Stay;
                Vec::new()
            }

            // Possible, and nothing to do.
            //
            // Already running: a start asked by a user changes nothing.
            (State::Running { .. }, Event::Start) => Vec::new(),
            // A tick before the deadline: nothing is due yet. (The loop
            // ticks only apps whose deadline has passed; an early tick is
            // harmless all the same.)
            (State::Backoff { .. } | State::Stopping { killed: false, .. }, Event::Tick) => {
                Vec::new()
            }
            // SIGKILL was sent already (stop_timeout ran out, or a third TERM).
            (State::Stopping { killed: true, .. }, Event::Kill) => Vec::new(),
            // Already down: a stop asked twice, or the second TERM of a
            // shutdown, which reaches every app.
            (State::Stopped | State::Exited | State::Failed, Event::Stop | Event::Kill) => {
                Vec::new()
            }
            // An exec health check in flight when the run ended may be
            // reaped before the next tick cancels it: its verdict is on a
            // run that is already stopping or over.
            (
                State::Stopping { .. }
                | State::Backoff { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::Unhealthy { .. },
            ) => Vec::new(),

            // Cannot happen: the supervisor never sends these. Ignored with
            // a warning, the state unchanged, rather than trusting a bad
            // assumption or stopping the loop.
            //
            // Spawned and SpawnFailed answer a Spawn, and whatever returns
            // a Spawn leaves the app Waiting or in Backoff.
            (
                State::Running { .. }
                | State::Stopping { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::Spawned { .. } | Event::SpawnFailed { .. },
            )
            // Only a main process not yet reaped can exit: there is one
            // while Running or Stopping, never in another state.
            | (
                State::Waiting
                | State::Backoff { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::Exited { .. },
            )
            // TreeGone is sent only once the main process is reaped.
            | (
                State::Waiting
                | State::Running { .. }
                | State::Stopping { main: Some(_), .. }
                | State::Backoff { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::TreeGone,
            )
            // Tick comes only to an app with a deadline (`deadline`).
            | (
                State::Waiting
                | State::Running { .. }
                | State::Stopping { killed: true, .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::Tick,
            )
            // Kill follows a Stop at once, which leaves no app waiting,
            // running or in backoff.
            | (
                State::Waiting | State::Running { .. } | State::Backoff { .. },
                Event::Kill,
            )
            // Memory is sampled for running apps only.
            | (
                State::Waiting
                | State::Stopping { .. }
                | State::Backoff { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::MemoryOver { .. },
            )
            // A waiting app has no run to judge: a start cancels the check
            // of the run before, and the watchdog runs only while running.
            | (State::Waiting, Event::Unhealthy { .. }) => self.unexpected(name),
        }
    }

    /// An event the supervisor should never send in the current state:
    /// one warning, nothing done.
    fn unexpected(&self, event: &str) -> Vec<Action> {
        vec![log(
            Level::Warn,
            "unexpected",
            format!(
                "ignored event {event} while {}: not expected in that state",
                self.state_name()
            ),
        )]
    }

    /// Running → Stopping: `then` says what follows once the tree is gone.
    fn begin_stop(
        &mut self,
        pid: Pid,
        since: Instant,
        now: Instant,
        then: Then,
        note: Action,
    ) -> Vec<Action> {
        self.state = State::Stopping {
            main: Some(pid),
            since,
            kill_at: now + self.spec.stop_timeout,
            killed: false,
            then,
            status: None,
        };
        vec![note, Action::Signal(self.spec.stop_signal)]
    }

    /// The tree of a stopping app is gone: stay down, restart, or decide.
    fn finish_stop(&mut self, now: Instant) -> Vec<Action> {
        let State::Stopping {
            since,
            then,
            status,
            ..
        } = self.state
        else {
            return Vec::new();
        };
        match then {
            Then::Stay => {
                self.last_exit = Some((status, now));
                self.state = State::Stopped;
                vec![log(Level::Info, "stopped", "stopped".into())]
            }
            Then::Restart => {
                self.last_exit = Some((status, now));
                if self
                    .window
                    .exhausted(now, self.spec.restart_window, self.spec.max_restarts)
                {
                    return self.fail(now);
                }
                self.window.record(now);
                self.restarts += 1;
                self.state = State::Waiting;
                vec![Action::Spawn]
            }
            Then::Start => {
                self.last_exit = Some((status, now));
                self.state = State::Waiting;
                vec![Action::Spawn]
            }
            Then::Decide => self.decide(status, since, now, false),
        }
    }

    /// A run ended by itself (or never started): restart, exit, or fail.
    /// `failed_start`: the command could not even be started. Such a retry
    /// always waits at least `MIN_RETRY` and goes through the loop: a
    /// missing binary with restart_delay = "0s" must not spin.
    fn decide(
        &mut self,
        status: Option<Status>,
        since: Instant,
        now: Instant,
        failed_start: bool,
    ) -> Vec<Action> {
        self.last_exit = Some((status, now));
        if !self.spec.restart.wants_restart(status) {
            self.state = State::Exited;
            return vec![log(
                Level::Info,
                "ended",
                "not restarting (restart policy)".into(),
            )];
        }
        if self
            .window
            .exhausted(now, self.spec.restart_window, self.spec.max_restarts)
        {
            return self.fail(now);
        }
        let spec = &self.spec;
        let mut delay = policy::next_delay(
            self.delay,
            now - since,
            spec.restart_delay,
            spec.max_restart_delay,
        );
        if failed_start {
            delay = delay.max(MIN_RETRY);
        }
        self.delay = Some(delay);
        self.window.record(now);
        self.restarts += 1;
        let n = self.window.count(now, spec.restart_window);
        let msg = format!(
            "restarting in {} (restart {n}/{} within {})",
            format_duration(delay),
            spec.max_restarts,
            format_duration(spec.restart_window)
        );
        // Even a zero delay goes through Backoff: the start happens at the
        // next tick, after the loop has finished reaping and has served
        // signals and clients. Spawning here, inside the reap loop, let a
        // fast crash loop keep that loop busy for ever (found by the crash
        // storm fault test).
        self.state = State::Backoff { until: now + delay };
        vec![log(Level::Info, "restarting", msg)]
    }

    fn fail(&mut self, now: Instant) -> Vec<Action> {
        let n = self.window.count(now, self.spec.restart_window);
        self.state = State::Failed;
        vec![log(
            Level::Error,
            "failed",
            format!(
                "failed: {n} restarts within {} (max_restarts {}), giving up",
                format_duration(self.spec.restart_window),
                self.spec.max_restarts
            ),
        )]
    }
}

/// The shortest wait before retrying a command that could not be started.
pub const MIN_RETRY: Duration = Duration::from_millis(100);

/// `2.1s`, `340ms`, `5m3s`: how long a run lasted.
fn uptime(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{}.{}s", ms / 1_000, (ms % 1_000) / 100)
    } else if ms < 3_600_000 {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1_000)
    } else {
        format!("{}h{}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Restart;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    fn app(restart: Restart) -> App {
        let mut spec = AppSpec::new("web", vec!["x".into()]);
        spec.restart = restart;
        spec.restart_delay = S;
        spec.max_restart_delay = 4 * S;
        spec.max_restarts = 3;
        spec.restart_window = 60 * S;
        spec.stop_timeout = 10 * S;
        spec.max_memory = Some(64 << 20);
        App::new(spec)
    }

    fn pid(n: i32) -> Pid {
        Pid::from_raw(n)
    }

    /// The actions without their log lines.
    fn acts(actions: Vec<Action>) -> Vec<Action> {
        actions
            .into_iter()
            .filter(|a| !matches!(a, Action::Log { .. }))
            .collect()
    }

    fn events(actions: &[Action]) -> Vec<&'static str> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Log { event, .. } => Some(*event),
                _ => None,
            })
            .collect()
    }

    fn exited(code: i32) -> Event {
        Event::Exited {
            status: Status::Exited(code),
            tree_left: false,
        }
    }

    #[test]
    fn start_run_exit_and_restart_with_backoff() {
        let t0 = Instant::now();
        let mut a = app(Restart::Always);
        assert_eq!(acts(a.on_event(Event::Start, t0)), [Action::Spawn]);
        let out = a.on_event(Event::Spawned { pid: pid(10) }, t0);
        assert_eq!(events(&out), ["started"]);
        assert_eq!(
            a.state,
            State::Running {
                pid: pid(10),
                since: t0
            }
        );
        assert_eq!(a.main_pid(), Some(pid(10)));
        assert_eq!(a.deadline(), None, "a running app needs no wake-up");

        let t1 = t0 + 100 * MS;
        let out = a.on_event(exited(1), t1);
        assert_eq!(events(&out), ["exited", "restarting"]);
        assert_eq!(a.state, State::Backoff { until: t1 + S });
        assert_eq!(a.deadline(), Some(t1 + S));
        assert!(
            acts(a.on_event(Event::Tick, t1 + 999 * MS)).is_empty(),
            "not due yet"
        );
        assert_eq!(acts(a.on_event(Event::Tick, t1 + S)), [Action::Spawn]);
        a.on_event(Event::Spawned { pid: pid(11) }, t1 + S);
        a.on_event(exited(1), t1 + S + 10 * MS);
        assert_eq!(
            a.state,
            State::Backoff {
                until: t1 + S + 10 * MS + 2 * S
            },
            "doubled"
        );
        assert_eq!(a.restarts, 2);
    }

    #[test]
    fn crash_loop_fails_after_max_restarts() {
        let mut t = Instant::now();
        let mut a = app(Restart::Always);
        let mut starts = 0;
        a.on_event(Event::Start, t);
        loop {
            starts += 1;
            a.on_event(Event::Spawned { pid: pid(starts) }, t);
            t += 10 * MS;
            let out = a.on_event(exited(1), t);
            if a.state == State::Failed {
                assert_eq!(events(&out), ["exited", "failed"]);
                break;
            }
            let State::Backoff { until } = a.state else {
                panic!("{:?}", a.state)
            };
            t = until;
            assert_eq!(acts(a.on_event(Event::Tick, t)), [Action::Spawn]);
        }
        assert_eq!(
            starts, 4,
            "max_restarts = 3: the first start and 3 restarts"
        );
        assert!(a.is_down());
        assert_eq!(a.deadline(), None);
    }

    #[test]
    fn backoff_resets_only_after_a_run_longer_than_the_cap() {
        let t0 = Instant::now();
        let mut a = app(Restart::Always);
        a.spec.max_restarts = 100;
        let mut t = t0;
        let mut delays = Vec::new();
        for run in [S, S, S, S, 5 * S, S] {
            a.on_event(Event::Spawned { pid: pid(1) }, t);
            t += run;
            a.on_event(exited(1), t);
            let State::Backoff { until } = a.state else {
                panic!()
            };
            delays.push((until - t).as_secs());
            t = until;
        }
        assert_eq!(delays, [1, 2, 4, 4, 1, 2]);
    }

    #[test]
    fn policies_never_and_on_failure() {
        let t = Instant::now();
        let mut a = app(Restart::Never);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        assert_eq!(events(&a.on_event(exited(1), t)), ["exited", "ended"]);
        assert_eq!(a.state, State::Exited);

        let mut a = app(Restart::OnFailure);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(exited(0), t);
        assert_eq!(a.state, State::Exited, "clean exit ends an on-failure app");

        let mut a = app(Restart::OnFailure);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(
            Event::Exited {
                status: Status::Signaled(9),
                tree_left: false,
            },
            t,
        );
        assert!(
            matches!(a.state, State::Backoff { .. }),
            "death by signal is a failure"
        );
    }

    #[test]
    fn spawn_failure_counts_as_a_failed_run() {
        let t = Instant::now();
        let mut a = app(Restart::OnFailure);
        a.on_event(Event::Start, t);
        let out = a.on_event(Event::SpawnFailed { code: 127 }, t);
        assert_eq!(events(&out), ["restarting"]);
        assert_eq!(a.state, State::Backoff { until: t + S });
        assert_eq!(a.restarts, 1);
        assert_eq!(a.last_exit, Some((Some(Status::Exited(127)), t)));
    }

    #[test]
    fn a_failed_start_never_respawns_at_once() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.spec.restart_delay = Duration::ZERO;
        a.spec.max_restart_delay = Duration::ZERO;
        a.on_event(Event::Start, t);
        let out = a.on_event(Event::SpawnFailed { code: 127 }, t);
        assert!(acts(out).is_empty(), "no Spawn from inside a failed spawn");
        assert_eq!(
            a.state,
            State::Backoff {
                until: t + MIN_RETRY
            }
        );
    }

    #[test]
    fn zero_delay_restarts_at_the_next_tick() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.spec.restart_delay = Duration::ZERO;
        a.spec.max_restart_delay = Duration::ZERO;
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        assert!(acts(a.on_event(exited(1), t)).is_empty());
        assert_eq!(a.deadline(), Some(t));
        assert_eq!(acts(a.on_event(Event::Tick, t)), [Action::Spawn]);
        a.on_event(Event::Spawned { pid: pid(2) }, t);
        assert_eq!(a.main_pid(), Some(pid(2)));
    }

    #[test]
    fn exit_with_tree_left_stops_the_rest_before_deciding() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        let out = a.on_event(
            Event::Exited {
                status: Status::Exited(0),
                tree_left: true,
            },
            t + S,
        );
        assert_eq!(acts(out), [Action::Signal(libc::SIGTERM)]);
        assert!(matches!(
            a.state,
            State::Stopping {
                main: None,
                then: Then::Decide,
                ..
            }
        ));
        assert_eq!(a.deadline(), Some(t + 11 * S));
        assert_eq!(acts(a.on_event(Event::Tick, t + 11 * S)), [Action::Kill]);
        assert_eq!(a.deadline(), None, "killed: nothing more to time");
        a.on_event(Event::TreeGone, t + 11 * S);
        assert_eq!(a.state, State::Backoff { until: t + 12 * S });
    }

    #[test]
    fn memory_limit_is_a_graceful_restart_counted_as_a_restart() {
        let t = Instant::now();
        let mut a = app(Restart::Never);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        let out = a.on_event(Event::MemoryOver { rss: 150 << 20 }, t);
        let Action::Log { msg, .. } = &out[0] else {
            panic!()
        };
        assert_eq!(msg, "memory limit: rss 150M > 64M, restarting");
        assert_eq!(acts(out), [Action::Signal(libc::SIGTERM)]);
        // Killed by the TERM tend sent: not a failure, and restarted even
        // with restart = never.
        let out = a.on_event(
            Event::Exited {
                status: Status::Signaled(15),
                tree_left: false,
            },
            t + S,
        );
        assert_eq!(acts(out), [Action::Spawn]);
        assert_eq!(a.restarts, 1);
        a.on_event(Event::Spawned { pid: pid(2) }, t + S);
        assert_eq!(a.main_pid(), Some(pid(2)));
    }

    #[test]
    fn memory_restarts_also_hit_max_restarts() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        for i in 0..4 {
            a.on_event(Event::Spawned { pid: pid(i + 1) }, t);
            a.on_event(Event::MemoryOver { rss: 1 << 30 }, t);
            a.on_event(exited(0), t);
        }
        assert_eq!(a.state, State::Failed);
        assert_eq!(a.restarts, 3);
    }

    #[test]
    fn stop_in_every_state() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.on_event(Event::Stop, t);
        assert_eq!(a.state, State::Stopped, "waiting → stopped");

        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(exited(1), t);
        a.on_event(Event::Stop, t);
        assert_eq!(a.state, State::Stopped, "backoff → stopped, no restart");

        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        assert_eq!(
            acts(a.on_event(Event::Stop, t)),
            [Action::Signal(libc::SIGTERM)]
        );
        assert_eq!(
            acts(a.on_event(Event::Kill, t)),
            [Action::Kill],
            "second TERM"
        );
        assert!(acts(a.on_event(Event::Kill, t)).is_empty(), "SIGKILL once");
        let out = a.on_event(
            Event::Exited {
                status: Status::Signaled(9),
                tree_left: false,
            },
            t + MS,
        );
        assert_eq!(events(&out), ["exited", "stopped"]);
        assert_eq!(a.state, State::Stopped);
        assert!(a.on_event(Event::Stop, t).is_empty());
    }

    #[test]
    fn a_stop_during_a_memory_restart_wins() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(Event::MemoryOver { rss: 1 << 30 }, t);
        a.on_event(Event::Stop, t);
        a.on_event(exited(0), t);
        assert_eq!(a.state, State::Stopped);
    }

    #[test]
    fn stopping_waits_for_the_tree_after_main_exits() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(Event::Stop, t);
        a.on_event(
            Event::Exited {
                status: Status::Exited(0),
                tree_left: true,
            },
            t,
        );
        assert!(matches!(a.state, State::Stopping { main: None, .. }));
        assert_eq!(a.main_pid(), None);
        a.on_event(Event::TreeGone, t);
        assert_eq!(a.state, State::Stopped);
    }

    #[test]
    fn start_while_stopping_starts_once_stopped() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(Event::Stop, t);
        assert!(acts(a.on_event(Event::Start, t)).is_empty());
        assert_eq!(acts(a.on_event(exited(0), t)), [Action::Spawn]);
    }

    #[test]
    fn user_start_and_restart() {
        let t = Instant::now();
        let mut a = app(Restart::Always);
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        assert_eq!(
            acts(a.on_event(Event::Restart, t)),
            [Action::Signal(libc::SIGTERM)]
        );
        assert_eq!(
            acts(a.on_event(exited(0), t)),
            [Action::Spawn],
            "restarted at once"
        );
        assert_eq!(a.restarts, 0, "a restart asked by a user is not counted");
        a.on_event(Event::Spawned { pid: pid(2) }, t);
        a.on_event(Event::Stop, t);
        a.on_event(exited(0), t);
        assert_eq!(a.state, State::Stopped);
        assert_eq!(a.state_name(), "stopped");
        assert_eq!(acts(a.on_event(Event::Start, t)), [Action::Spawn]);
        a.on_event(Event::Spawned { pid: pid(3) }, t);
        assert_eq!(a.state_name(), "running");

        // A failed app started by hand gets a fresh restart window.
        let mut a = app(Restart::Always);
        a.spec.max_restarts = 0;
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        a.on_event(exited(1), t);
        assert_eq!(a.state, State::Failed);
        assert_eq!(acts(a.on_event(Event::Start, t)), [Action::Spawn]);
        a.on_event(Event::Spawned { pid: pid(2) }, t);
        assert_eq!(a.main_pid(), Some(pid(2)));
    }

    /// Every (state, event) pair and what it must give: the state after it
    /// (see `describe`), the actions other than log lines, and the events
    /// of the log lines. Written out by hand: any change to a decision
    /// fails here. The base grid (`GRID_STATES` x `GRID_EVENTS`) must be
    /// complete; the rows after it cover guards and a main process that
    /// exits with part of its tree left.
    ///
    /// States (each at `now`, see `in_state`): stopping has its main
    /// process, kill deadline in 5s, then stay; stopping-orphans has its
    /// main reaped, then decide; backoff is due in 1s; the -due and -killed
    /// variants differ only in that.
    #[rustfmt::skip]
    const TABLE: &[(&str, &str, &str, &str, &str)] = &[
        // from              event           to                          actions    logs
        ("waiting",          "start",        "waiting",                  "spawn",   ""),
        ("waiting",          "restart",      "waiting",                  "spawn",   ""),
        ("waiting",          "spawned",      "running 11",               "",        "started"),
        ("waiting",          "spawn-failed", "backoff +1s",              "",        "restarting"),
        ("waiting",          "exited",       "waiting",                  "",        "unexpected"),
        ("waiting",          "tree-gone",    "waiting",                  "",        "unexpected"),
        ("waiting",          "tick",         "waiting",                  "",        "unexpected"),
        ("waiting",          "stop",         "stopped",                  "",        "stopped"),
        ("waiting",          "kill",         "waiting",                  "",        "unexpected"),
        ("waiting",          "memory-over",  "waiting",                  "",        "unexpected"),
        ("waiting",          "unhealthy",    "waiting",                  "",        "unexpected"),

        ("running",          "start",        "running 10",               "",        ""),
        ("running",          "restart",      "stopping 10 start +10s",   "SIGTERM", "restarting"),
        ("running",          "spawned",      "running 10",               "",        "unexpected"),
        ("running",          "spawn-failed", "running 10",               "",        "unexpected"),
        ("running",          "exited",       "backoff +1s",              "",        "exited restarting"),
        ("running",          "tree-gone",    "running 10",               "",        "unexpected"),
        ("running",          "tick",         "running 10",               "",        "unexpected"),
        ("running",          "stop",         "stopping 10 stay +10s",    "SIGTERM", "stopping"),
        ("running",          "kill",         "running 10",               "",        "unexpected"),
        ("running",          "memory-over",  "stopping 10 restart +10s", "SIGTERM", "memory_limit"),
        ("running",          "unhealthy",    "stopping 10 restart +10s", "SIGTERM", "unhealthy"),

        ("stopping",         "start",        "stopping 10 start +5s",    "",        ""),
        ("stopping",         "restart",      "stopping 10 start +5s",    "",        ""),
        ("stopping",         "spawned",      "stopping 10 stay +5s",     "",        "unexpected"),
        ("stopping",         "spawn-failed", "stopping 10 stay +5s",     "",        "unexpected"),
        ("stopping",         "exited",       "stopped",                  "",        "exited stopped"),
        ("stopping",         "tree-gone",    "stopping 10 stay +5s",     "",        "unexpected"),
        ("stopping",         "tick",         "stopping 10 stay +5s",     "",        ""),
        ("stopping",         "stop",         "stopping 10 stay +5s",     "",        ""),
        ("stopping",         "kill",         "stopping 10 stay killed",  "kill",    "killing"),
        ("stopping",         "memory-over",  "stopping 10 stay +5s",     "",        "unexpected"),
        ("stopping",         "unhealthy",    "stopping 10 stay +5s",     "",        ""),

        ("stopping-orphans", "start",        "stopping - start +5s",     "",        ""),
        ("stopping-orphans", "restart",      "stopping - start +5s",     "",        ""),
        ("stopping-orphans", "spawned",      "stopping - decide +5s",    "",        "unexpected"),
        ("stopping-orphans", "spawn-failed", "stopping - decide +5s",    "",        "unexpected"),
        // Cannot happen either (its main is reaped), but decided as a
        // main process's exit: the tree is gone, the policy decides.
        ("stopping-orphans", "exited",       "backoff +1s",              "",        "exited restarting"),
        ("stopping-orphans", "tree-gone",    "backoff +1s",              "",        "restarting"),
        ("stopping-orphans", "tick",         "stopping - decide +5s",    "",        ""),
        ("stopping-orphans", "stop",         "stopping - stay +5s",      "",        ""),
        ("stopping-orphans", "kill",         "stopping - decide killed", "kill",    "killing"),
        ("stopping-orphans", "memory-over",  "stopping - decide +5s",    "",        "unexpected"),
        ("stopping-orphans", "unhealthy",    "stopping - decide +5s",    "",        ""),

        ("backoff",          "start",        "backoff +1s",              "spawn",   ""),
        ("backoff",          "restart",      "backoff +1s",              "spawn",   ""),
        ("backoff",          "spawned",      "running 11",               "",        "started"),
        ("backoff",          "spawn-failed", "backoff +1s",              "",        "restarting"),
        ("backoff",          "exited",       "backoff +1s",              "",        "unexpected"),
        ("backoff",          "tree-gone",    "backoff +1s",              "",        "unexpected"),
        ("backoff",          "tick",         "backoff +1s",              "",        ""),
        ("backoff",          "stop",         "stopped",                  "",        "stopped"),
        ("backoff",          "kill",         "backoff +1s",              "",        "unexpected"),
        ("backoff",          "memory-over",  "backoff +1s",              "",        "unexpected"),
        ("backoff",          "unhealthy",    "backoff +1s",              "",        ""),

        ("stopped",          "start",        "waiting",                  "spawn",   ""),
        ("stopped",          "restart",      "waiting",                  "spawn",   ""),
        ("stopped",          "spawned",      "stopped",                  "",        "unexpected"),
        ("stopped",          "spawn-failed", "stopped",                  "",        "unexpected"),
        ("stopped",          "exited",       "stopped",                  "",        "unexpected"),
        ("stopped",          "tree-gone",    "stopped",                  "",        "unexpected"),
        ("stopped",          "tick",         "stopped",                  "",        "unexpected"),
        ("stopped",          "stop",         "stopped",                  "",        ""),
        ("stopped",          "kill",         "stopped",                  "",        ""),
        ("stopped",          "memory-over",  "stopped",                  "",        "unexpected"),
        ("stopped",          "unhealthy",    "stopped",                  "",        ""),

        ("exited",           "start",        "waiting",                  "spawn",   ""),
        ("exited",           "restart",      "waiting",                  "spawn",   ""),
        ("exited",           "spawned",      "exited",                   "",        "unexpected"),
        ("exited",           "spawn-failed", "exited",                   "",        "unexpected"),
        ("exited",           "exited",       "exited",                   "",        "unexpected"),
        ("exited",           "tree-gone",    "exited",                   "",        "unexpected"),
        ("exited",           "tick",         "exited",                   "",        "unexpected"),
        ("exited",           "stop",         "exited",                   "",        ""),
        ("exited",           "kill",         "exited",                   "",        ""),
        ("exited",           "memory-over",  "exited",                   "",        "unexpected"),
        ("exited",           "unhealthy",    "exited",                   "",        ""),

        ("failed",           "start",        "waiting",                  "spawn",   ""),
        ("failed",           "restart",      "waiting",                  "spawn",   ""),
        ("failed",           "spawned",      "failed",                   "",        "unexpected"),
        ("failed",           "spawn-failed", "failed",                   "",        "unexpected"),
        ("failed",           "exited",       "failed",                   "",        "unexpected"),
        ("failed",           "tree-gone",    "failed",                   "",        "unexpected"),
        ("failed",           "tick",         "failed",                   "",        "unexpected"),
        ("failed",           "stop",         "failed",                   "",        ""),
        ("failed",           "kill",         "failed",                   "",        ""),
        ("failed",           "memory-over",  "failed",                   "",        "unexpected"),
        ("failed",           "unhealthy",    "failed",                   "",        ""),

        // Guards: a deadline that has come, SIGKILL already sent.
        ("backoff-due",      "tick",         "backoff +0ns",             "spawn",   ""),
        ("stopping-due",     "tick",         "stopping 10 stay killed",  "kill",    "killing"),
        ("stopping-killed",  "tick",         "stopping 10 stay killed",  "",        "unexpected"),
        ("stopping-killed",  "kill",         "stopping 10 stay killed",  "",        ""),
        // The main process exits and part of its tree lives on.
        ("running",          "exited-tree",  "stopping - decide +10s",   "SIGTERM", "exited stopping"),
        ("stopping",         "exited-tree",  "stopping - stay +5s",      "",        "exited"),
        ("stopping-orphans", "exited-tree",  "stopping - decide +5s",    "",        "exited"),
    ];

    const GRID_STATES: [&str; 8] = [
        "waiting",
        "running",
        "stopping",
        "stopping-orphans",
        "backoff",
        "stopped",
        "exited",
        "failed",
    ];

    const GRID_EVENTS: [&str; 11] = [
        "start",
        "restart",
        "spawned",
        "spawn-failed",
        "exited",
        "tree-gone",
        "tick",
        "stop",
        "kill",
        "memory-over",
        "unhealthy",
    ];

    /// The representative app for a state name of `TABLE`, at `now`.
    fn in_state(name: &str, now: Instant) -> App {
        let since = now - 5 * S;
        let stopping = |main, kill_at, killed, then, status| State::Stopping {
            main,
            since,
            kill_at,
            killed,
            then,
            status,
        };
        let main = Some(pid(10));
        let mut a = app(Restart::Always);
        a.state = match name {
            "waiting" => State::Waiting,
            "running" => State::Running {
                pid: pid(10),
                since,
            },
            "stopping" => stopping(main, now + 5 * S, false, Then::Stay, None),
            "stopping-due" => stopping(main, now, false, Then::Stay, None),
            "stopping-killed" => stopping(main, now + 5 * S, true, Then::Stay, None),
            "stopping-orphans" => stopping(
                None,
                now + 5 * S,
                false,
                Then::Decide,
                Some(Status::Exited(1)),
            ),
            "backoff" => State::Backoff { until: now + S },
            "backoff-due" => State::Backoff { until: now },
            "stopped" => State::Stopped,
            "exited" => State::Exited,
            "failed" => State::Failed,
            _ => panic!("no state {name:?} in the table"),
        };
        a
    }

    /// The event for an event name of `TABLE`.
    fn event(name: &str) -> Event {
        let exited = |tree_left| Event::Exited {
            status: Status::Exited(1),
            tree_left,
        };
        match name {
            "start" => Event::Start,
            "restart" => Event::Restart,
            "spawned" => Event::Spawned { pid: pid(11) },
            "spawn-failed" => Event::SpawnFailed { code: 127 },
            "exited" => exited(false),
            "exited-tree" => exited(true),
            "tree-gone" => Event::TreeGone,
            "tick" => Event::Tick,
            "stop" => Event::Stop,
            "kill" => Event::Kill,
            "memory-over" => Event::MemoryOver { rss: 128 << 20 },
            "unhealthy" => Event::Unhealthy {
                reason: "3 failed checks in a row".into(),
            },
            _ => panic!("no event {name:?} in the table"),
        }
    }

    /// The state as the table writes it: its name and what tells its
    /// cells apart (pids, what follows a stop, deadlines from `now`).
    fn describe(state: &State, now: Instant) -> String {
        let after = |t: Instant| format!("+{:?}", t.saturating_duration_since(now));
        match state {
            State::Running { pid, .. } => format!("running {pid}"),
            State::Stopping {
                main,
                kill_at,
                killed,
                then,
                ..
            } => format!(
                "stopping {} {} {}",
                main.map_or_else(|| "-".to_string(), |p| p.to_string()),
                format!("{then:?}").to_lowercase(),
                if *killed {
                    "killed".to_string()
                } else {
                    after(*kill_at)
                }
            ),
            State::Backoff { until } => format!("backoff {}", after(*until)),
            State::Waiting => "waiting".into(),
            State::Stopped => "stopped".into(),
            State::Exited => "exited".into(),
            State::Failed => "failed".into(),
        }
    }

    /// The actions other than log lines, as the table writes them.
    fn describe_actions(actions: &[Action]) -> String {
        let words: Vec<String> = actions
            .iter()
            .filter_map(|a| match a {
                Action::Spawn => Some("spawn".to_string()),
                Action::Signal(sig) => Some(signal_name(*sig)),
                Action::Kill => Some("kill".to_string()),
                Action::Log { .. } => None,
            })
            .collect();
        words.join(" ")
    }

    #[test]
    fn every_state_and_event_pair_as_a_table() {
        for from in GRID_STATES {
            for ev in GRID_EVENTS {
                let rows = TABLE.iter().filter(|r| (r.0, r.1) == (from, ev)).count();
                assert_eq!(rows, 1, "{from} + {ev}: {rows} rows in the table");
            }
        }
        let now = Instant::now() + 60 * S;
        let mut wrong = Vec::new();
        for &(from, ev, to, actions, logs) in TABLE {
            let mut a = in_state(from, now);
            let before = a.state.clone();
            let out = a.on_event(event(ev), now);
            let got = (
                describe(&a.state, now),
                describe_actions(&out),
                events(&out).join(" "),
            );
            if got != (to.to_string(), actions.to_string(), logs.to_string()) {
                wrong.push(format!(
                    "{from} + {ev}: want ({to:?}, {actions:?}, {logs:?}), got {got:?}"
                ));
            }
            // What cannot happen leaves the state exactly as it was, with
            // one warning.
            let one_warning = matches!(
                &out[..],
                [Action::Log {
                    level: Level::Warn,
                    ..
                }]
            );
            if logs == "unexpected" && (a.state != before || !one_warning) {
                wrong.push(format!(
                    "{from} + {ev}: moved or more than a warning: {out:?}"
                ));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn uptime_format() {
        assert_eq!(uptime(340 * MS), "340ms");
        assert_eq!(uptime(2100 * MS), "2.1s");
        assert_eq!(uptime(303 * S), "5m3s");
        assert_eq!(uptime(3720 * S), "1h2m");
    }
}
