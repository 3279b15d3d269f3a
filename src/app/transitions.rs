//! The transitions: `App::on_event`, one exhaustive match over every
//! (state, event) pair, and the steps it shares (begin and finish a stop,
//! decide after a run, fail).

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::{
    Action, App, CHECKS_KEPT, Cause, Check, EXITS_KEPT, Event, Exit, MIN_RETRY, State, Then, log,
};
use crate::health::{Health, Tracker};
use crate::log::Level;
use crate::policy::{Limits, Streak, Verdict};
use crate::reaper::Status;
use crate::units::{format_duration, format_elapsed, format_size, signal_name};

impl App {
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
        // Whoever asked for a stop or restart, taken by that event whatever
        // it does, so that it never outlives it.
        let asked = match event {
            Event::Stop | Event::Restart => self.asker.take().unwrap_or(Cause::ByHand),
            _ => Cause::ByHand,
        };
        match (&mut self.state, event) {
            (State::Waiting | State::Backoff { .. }, Event::Start | Event::Restart) => {
                vec![Action::Spawn]
            }
            // Started by hand after a stop, an end or a failure: a fresh
            // start, with the restarts in a row and the backoff forgotten.
            (State::Stopped | State::Exited | State::Failed, Event::Start | Event::Restart) => {
                self.streak = Streak::default();
                self.state = State::Waiting;
                vec![Action::Spawn]
            }
            (State::Running { pid, since }, Event::Restart) => {
                let (pid, since) = (*pid, *since);
                self.stop_or_replace(pid, since, now, Then::Start, asked, None)
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
                self.stop_cause = None;
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
                    format!("pid {pid} {status} after {}", format_elapsed(now - since)),
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
                    // It ended by itself, unless the OOM killer ended it.
                    self.stop_cause = self.stop_cause.filter(|c| *c == Cause::OomKilled);
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
                let why = format!(
                    "memory limit: rss {} > {}",
                    format_size(rss),
                    format_size(limit)
                );
                let why = Some((Level::Warn, "memory_limit", why));
                self.stop_or_replace(pid, since, now, Then::Restart, Cause::Memory, why)
            }
            // The run dies of it (memory.oom.group): its end is the OOM
            // kill's, whichever of the exit and this event comes first.
            (State::Running { .. } | State::Stopping { .. }, Event::OomKilled) => {
                self.stop_cause.get_or_insert(Cause::OomKilled);
                vec![self.oom_note()]
            }
            (
                State::Waiting
                | State::Backoff { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::OomKilled,
            ) => {
                if let Some(last) = self.exits.back_mut()
                    && last.cause == Cause::Crash
                    && last.status == Some(Status::Signaled(libc::SIGKILL))
                {
                    last.cause = Cause::OomKilled;
                }
                vec![self.oom_note()]
            }
            (State::Running { pid, since }, Event::Unhealthy { reason }) => {
                let (pid, since) = (*pid, *since);
                let why = Some((Level::Warn, "unhealthy", format!("unhealthy ({reason})")));
                self.stop_or_replace(pid, since, now, Then::Restart, Cause::Watchdog, why)
            }
            (State::Running { pid, since }, Event::Probe { passed, reason }) => {
                let run = Some((*pid, *since));
                self.probe_result(run, passed, &reason, now)
            }
            // A probe that finished as the stop began still counts for
            // `tend status`, but the app is stopping already.
            (State::Stopping { .. }, Event::Probe { passed, reason }) => {
                self.probe_result(None, passed, &reason, now)
            }
            // sd_notify from a tree that runs, or drains while it stops
            // (STATUS=draining connections): `tend status` shows it.
            (State::Running { .. } | State::Stopping { .. }, Event::Ready) if !self.ready => {
                self.ready = true;
                vec![log(Level::Info, "ready", "ready (READY=1)".into())]
            }
            // READY=1 again: it was ready already.
            (State::Running { .. } | State::Stopping { .. }, Event::Ready) => Vec::new(),
            // Whatever the new run does, the old one's end is history.
            (
                State::Waiting
                | State::Running { .. }
                | State::Stopping { .. }
                | State::Backoff { .. }
                | State::Stopped
                | State::Exited
                | State::Failed,
                Event::OldRunEnded {
                    pid,
                    status,
                    since,
                    cause,
                },
            ) => {
                self.record_exit(Some(status), since, now, Some(cause));
                vec![log(
                    Level::Info,
                    "replaced",
                    format!("replaced: pid {pid} {status} after {}", format_elapsed(now - since)),
                )]
            }
            (State::Running { .. } | State::Stopping { .. }, Event::Status { text }) => {
                self.notify_status = Some(text);
                Vec::new()
            }
            (State::Running { pid, since }, Event::Stop) => {
                let (pid, since) = (*pid, *since);
                let note = log(
                    Level::Info,
                    "stopping",
                    format!("stopping with {}", signal_name(self.spec.stop_signal)),
                );
                self.begin_stop(pid, since, now, Then::Stay, asked, note)
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
            // A stop asked during a memory, health or restart stop wins,
            // and the run ends as that stop's (by hand, reload, shutdown);
            // a main that had exited by itself keeps its own end.
            (State::Stopping { then, .. }, Event::Stop) => {
                if *then != Then::Decide {
                    self.stop_cause = Some(asked);
                }
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
            // The same for a probe's result, and a datagram sent by the tree
            // just before it ended is read after: nothing to judge any more.
            (
                State::Backoff { .. } | State::Stopped | State::Exited | State::Failed,
                Event::Probe { .. } | Event::Ready | Event::Status { .. },
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
            | (
                State::Waiting,
                Event::Unhealthy { .. } | Event::Probe { .. } | Event::Ready | Event::Status { .. },
            ) => self.unexpected(name),
        }
    }

    /// The line that says the kernel killed in the app's cgroup.
    fn oom_note(&self) -> Action {
        let msg = match self.spec.memory_max {
            Some(max) => format!(
                "oom-killed: out of memory at memory_max {}",
                format_size(max)
            ),
            // A limit above tend's cgroup, or the machine's memory.
            None => "oom-killed: out of memory".into(),
        };
        log(Level::Warn, "oom_killed", msg)
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

    /// Records a probe result of the running app; logs a failure that has
    /// not yet made it unhealthy, and a change of health. Unhealthy: a
    /// graceful restart, counted like a memory-limit restart.
    /// `run`: the main pid and start of a running app; None while it stops
    /// (then unhealthy changes nothing more).
    fn probe_result(
        &mut self,
        run: Option<(Pid, Instant)>,
        passed: bool,
        reason: &str,
        now: Instant,
    ) -> Vec<Action> {
        let (Some(spec), Some(tracker)) = (&self.spec.health, self.health.as_mut()) else {
            return Vec::new();
        };
        let change = tracker.record(passed, now, spec);
        if self.checks.len() == CHECKS_KEPT {
            self.checks.pop_front();
        }
        self.checks.push_back(Check {
            at: now,
            passed,
            reason: reason.to_string(),
        });
        match change {
            Some(Health::Healthy) => vec![log(Level::Info, "healthy", "healthy".into())],
            Some(Health::Unhealthy) => {
                let Some((pid, since)) = run else {
                    return Vec::new();
                };
                let why = format!(
                    "unhealthy ({} failed checks in a row, last: {reason})",
                    spec.retries
                );
                let why = Some((Level::Warn, "unhealthy", why));
                self.stop_or_replace(pid, since, now, Then::Restart, Cause::Health, why)
            }
            _ if !passed => vec![log(
                Level::Warn,
                "check_failed",
                format!("health check failed: {reason}"),
            )],
            _ => Vec::new(),
        }
    }

    /// A restart of a running app (by hand, reload, memory, health,
    /// watchdog). An app with `listen` is replaced: its run leaves the state
    /// machine (`Detach`; the supervisor stops it once the new run is up,
    /// and reports its end with `OldRunEnded`) and a new run starts at
    /// once, counted as `then` says. Any other app stops first
    /// (`begin_stop`). A graceful restart that max_restarts refuses is a
    /// stop either way, so the app ends failed with its tree gone.
    /// `why`: the log line's level, event and what happened; None for a
    /// restart a user asked for.
    fn stop_or_replace(
        &mut self,
        pid: Pid,
        since: Instant,
        now: Instant,
        then: Then,
        cause: Cause,
        why: Option<(Level, &'static str, String)>,
    ) -> Vec<Action> {
        let replace = !self.spec.listen.is_empty()
            && (then != Then::Restart || self.count_restart(now - since));
        if !replace {
            let note = match why {
                Some((level, event, why)) => log(level, event, format!("{why}, restarting")),
                None => log(
                    Level::Info,
                    "restarting",
                    format!(
                        "restarting: stopping with {}",
                        signal_name(self.spec.stop_signal)
                    ),
                ),
            };
            return self.begin_stop(pid, since, now, then, cause, note);
        }
        let (level, event, why) = why.unwrap_or((Level::Info, "replacing", "restarting".into()));
        let note = log(
            level,
            event,
            format!("{why}: replacing pid {pid}, which stops once the new run is up"),
        );
        self.state = State::Waiting;
        vec![note, Action::Detach { pid, since, cause }, Action::Spawn]
    }

    /// Whether `event` at `now` would replace the running app (see
    /// `stop_or_replace`): the supervisor holds such an event while another
    /// instance of the app is being replaced. A failed probe replaces when
    /// it is the one that makes the app unhealthy.
    pub fn would_replace(&self, event: &Event, now: Instant) -> bool {
        if self.spec.listen.is_empty() || !matches!(self.state, State::Running { .. }) {
            return false;
        }
        match event {
            Event::Restart | Event::MemoryOver { .. } | Event::Unhealthy { .. } => true,
            Event::Probe { passed: false, .. } => match (&self.spec.health, &self.health) {
                (Some(spec), Some(tracker)) => {
                    let mut next = tracker.clone();
                    next.record(false, now, spec) == Some(Health::Unhealthy)
                }
                _ => false,
            },
            _ => false,
        }
    }

    /// Counts a graceful restart after a run of `ran` (the streak and
    /// RESTARTS); false, counting nothing, when max_restarts refuses it.
    fn count_restart(&mut self, ran: Duration) -> bool {
        match self.streak.after_run(ran, false, self.limits()) {
            Verdict::Fail => false,
            Verdict::Restart { .. } => {
                self.restarts += 1;
                true
            }
        }
    }

    /// Running → Stopping: `then` says what follows once the tree is gone,
    /// `cause` why the run ends.
    fn begin_stop(
        &mut self,
        pid: Pid,
        since: Instant,
        now: Instant,
        then: Then,
        cause: Cause,
        note: Action,
    ) -> Vec<Action> {
        self.stop_cause = Some(cause);
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
        if then != Then::Decide {
            let cause = self.stop_cause.take();
            self.record_exit(status, since, now, cause);
        }
        match then {
            Then::Stay => {
                self.state = State::Stopped;
                vec![log(Level::Info, "stopped", "stopped".into())]
            }
            // Memory limit, health, watchdog: counted as the run's length
            // says, like an exit by itself, but started again at once.
            Then::Restart if self.count_restart(now - since) => {
                self.state = State::Waiting;
                vec![Action::Spawn]
            }
            Then::Restart => self.fail(),
            Then::Start => {
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
        let cause = match failed_start {
            true => Some(Cause::CouldNotStart),
            // An OOM kill that took a worker is not why a main process
            // that lived on exited later.
            false => self.stop_cause.take().filter(|c| {
                *c != Cause::OomKilled || status == Some(Status::Signaled(libc::SIGKILL))
            }),
        };
        self.record_exit(status, since, now, cause);
        if !self.spec.restart.wants_restart(status) {
            self.state = State::Exited;
            return vec![log(
                Level::Info,
                "ended",
                "not restarting (restart policy)".into(),
            )];
        }
        let Verdict::Restart {
            mut delay,
            in_a_row,
        } = self
            .streak
            .after_run(now - since, failed_start, self.limits())
        else {
            return self.fail();
        };
        if failed_start {
            delay = delay.max(MIN_RETRY);
        }
        self.restarts += 1;
        let spec = &self.spec;
        let msg = if in_a_row == 0 {
            format!(
                "restarting in {} (it ran at least {}: restarts in a row back to 0)",
                format_duration(delay),
                format_duration(spec.min_uptime)
            )
        } else {
            format!(
                "restarting in {} (restart {in_a_row}/{} in a row)",
                format_duration(delay),
                spec.max_restarts
            )
        };
        // Even a zero delay goes through Backoff: the start happens at the
        // next tick, after the loop has finished reaping and has served
        // signals and clients. Spawning here, inside the reap loop, let a
        // fast crash loop keep that loop busy for ever (found by the crash
        // storm fault test).
        self.state = State::Backoff { until: now + delay };
        vec![log(Level::Info, "restarting", msg)]
    }

    /// Records how a run that began at `since` ended: `last_exit`, and an
    /// entry of `exits` (the oldest goes beyond `EXITS_KEPT`). `cause`
    /// None: it ended by itself, an exit or a crash as its status says.
    fn record_exit(
        &mut self,
        status: Option<Status>,
        since: Instant,
        now: Instant,
        cause: Option<Cause>,
    ) {
        self.last_exit = Some((status, now));
        let cause = cause.unwrap_or(match status {
            Some(s) if s.success() => Cause::Exit,
            Some(_) => Cause::Crash,
            None => Cause::CouldNotStart,
        });
        if self.exits.len() == EXITS_KEPT {
            self.exits.pop_front();
        }
        self.exits.push_back(Exit {
            at: now,
            status,
            run: now.saturating_duration_since(since),
            cause,
        });
    }

    /// The restart knobs of the spec, for `Streak`.
    fn limits(&self) -> Limits {
        Limits {
            base: self.spec.restart_delay,
            cap: self.spec.max_restart_delay,
            min_uptime: self.spec.min_uptime,
            max_restarts: self.spec.max_restarts,
        }
    }

    /// max_restarts restarts in a row, and the run after them was unstable
    /// too: left down until started by hand.
    fn fail(&mut self) -> Vec<Action> {
        self.state = State::Failed;
        vec![log(
            Level::Error,
            "failed",
            format!(
                "failed: {} restarts in a row, each run shorter than {}",
                self.spec.max_restarts,
                format_duration(self.spec.min_uptime)
            ),
        )]
    }
}
