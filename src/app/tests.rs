//! Scenario tests of the state machine: runs, crash loops, backoff,
//! policies, stops and restarts, followed event by event.

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
    spec.min_uptime = 10 * S;
    spec.stop_timeout = 10 * S;
    spec.max_memory = Some(64 << 20);
    App::new(spec)
}

/// `a` as if it had made `n` restarts in a row after unstable runs.
fn with_streak(a: &mut App, n: u32) {
    let limits = crate::policy::Limits {
        base: a.spec.restart_delay,
        cap: a.spec.max_restart_delay,
        min_uptime: a.spec.min_uptime,
        max_restarts: u32::MAX,
    };
    a.streak = crate::policy::Streak::default();
    for _ in 0..n {
        a.streak.after_run(Duration::ZERO, true, limits);
    }
}

/// The message of the log line `event`.
fn message(actions: &[Action], event: &str) -> String {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Log { event: e, msg, .. } if *e == event => Some(msg.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {event} line in {actions:?}"))
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
    assert_eq!(
        message(&out, "restarting"),
        "restarting in 1s (restart 1/3 in a row)"
    );
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
            assert_eq!(
                message(&out, "failed"),
                "failed: 3 restarts in a row, each run shorter than 10s"
            );
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
fn only_a_run_of_min_uptime_resets_the_backoff_and_the_count() {
    let t0 = Instant::now();
    let mut a = app(Restart::Always);
    a.spec.max_restarts = 100;
    let mut t = t0;
    let mut delays = Vec::new();
    let mut last = Vec::new();
    // 5s is longer than the cap (4s), which reset the doubling before
    // min_uptime existed; now it is an unstable run like the others.
    for run in [S, S, S, S, 5 * S, 10 * S, S] {
        a.on_event(Event::Spawned { pid: pid(1) }, t);
        t += run;
        last = a.on_event(exited(1), t);
        let State::Backoff { until } = a.state else {
            panic!()
        };
        delays.push((until - t).as_secs());
        t = until;
        if run == 10 * S {
            assert_eq!(
                message(&last, "restarting"),
                "restarting in 1s (it ran at least 10s: restarts in a row back to 0)"
            );
        }
    }
    assert_eq!(delays, [1, 2, 4, 4, 4, 1, 1]);
    assert_eq!(
        message(&last, "restarting"),
        "restarting in 1s (restart 1/100 in a row)"
    );
    assert_eq!(a.restarts, 7, "status counts every restart");
}

#[test]
fn stable_runs_never_fail() {
    let mut t = Instant::now();
    let mut a = app(Restart::Always);
    for i in 0..20 {
        a.on_event(Event::Spawned { pid: pid(i + 1) }, t);
        t += 10 * S;
        a.on_event(exited(1), t);
        let State::Backoff { until } = a.state else {
            panic!("run {i}: {:?}", a.state)
        };
        assert_eq!(until - t, S, "a stable run: restart_delay again");
        t = until;
    }
    // Stable or not, the count in a row is what max_restarts bounds.
    for i in 0..3 {
        a.on_event(Event::Spawned { pid: pid(100 + i) }, t);
        a.on_event(exited(1), t + MS);
        assert!(matches!(a.state, State::Backoff { .. }));
        t += 10 * S;
    }
    a.on_event(Event::Spawned { pid: pid(200) }, t);
    a.on_event(exited(1), t + 9 * S);
    assert_eq!(
        a.state,
        State::Failed,
        "3 in a row, then a fourth short run"
    );
    assert_eq!(a.restarts, 23);
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
fn an_oom_kill_is_the_cause_of_the_exit_it_made_and_counts_as_a_failure() {
    let t = Instant::now();
    let mut a = app(Restart::OnFailure);
    a.spec.memory_max = Some(128 << 20);
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    let out = a.on_event(Event::OomKilled, t + S);
    assert_eq!(
        message(&out, "oom_killed"),
        "oom-killed: out of memory at memory_max 128M"
    );
    assert!(
        acts(out).is_empty(),
        "the kernel kills; tend waits for the exit"
    );
    let killed = Event::Exited {
        status: Status::Signaled(libc::SIGKILL),
        tree_left: true,
    };
    // Some of the run was still dying: it goes on stopping, cause kept.
    a.on_event(killed, t + S);
    a.on_event(Event::TreeGone, t + S);
    assert_eq!(a.exits.back().map(|e| e.cause), Some(Cause::OomKilled));
    assert!(matches!(a.state, State::Backoff { .. }), "{:?}", a.state);
    assert_eq!(a.restarts_in_a_row(), 1);
}

#[test]
fn an_oom_kill_reported_after_the_exit_still_names_its_cause() {
    let t = Instant::now();
    let mut a = app(Restart::Always);
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    let exited = Event::Exited {
        status: Status::Signaled(libc::SIGKILL),
        tree_left: false,
    };
    a.on_event(exited, t + S);
    assert_eq!(a.exits.back().map(|e| e.cause), Some(Cause::Crash));
    let out = a.on_event(Event::OomKilled, t + S);
    assert_eq!(message(&out, "oom_killed"), "oom-killed: out of memory");
    assert_eq!(a.exits.back().map(|e| e.cause), Some(Cause::OomKilled));
    // An exit that was not a crash is not rewritten.
    let mut b = app(Restart::Always);
    b.on_event(Event::Spawned { pid: pid(1) }, t);
    b.on_event(Event::Stop, t);
    b.on_event(
        Event::Exited {
            status: Status::Signaled(libc::SIGTERM),
            tree_left: false,
        },
        t + S,
    );
    b.on_event(Event::OomKilled, t + S);
    assert_eq!(b.exits.back().map(|e| e.cause), Some(Cause::ByHand));
    // A worker killed, the main process lives on and later exits by itself:
    // that exit is its own.
    let mut c = app(Restart::Always);
    c.on_event(Event::Spawned { pid: pid(1) }, t);
    c.on_event(Event::OomKilled, t);
    c.on_event(
        Event::Exited {
            status: Status::Exited(0),
            tree_left: false,
        },
        t + 60 * S,
    );
    assert_eq!(c.exits.back().map(|e| e.cause), Some(Cause::Exit));
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
fn memory_restarts_after_a_stable_run_count_nothing() {
    let t = Instant::now();
    let mut a = app(Restart::Always);
    with_streak(&mut a, 3);
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    a.on_event(Event::MemoryOver { rss: 1 << 30 }, t + 10 * S);
    assert_eq!(
        acts(a.on_event(exited(0), t + 10 * S)),
        [Action::Spawn],
        "a stable run: the count goes back to 0"
    );
    for i in 0..3 {
        a.on_event(Event::Spawned { pid: pid(i + 2) }, t);
        a.on_event(Event::Unhealthy { reason: "x".into() }, t);
        assert_eq!(acts(a.on_event(exited(0), t)), [Action::Spawn]);
    }
    a.on_event(Event::Spawned { pid: pid(9) }, t);
    a.on_event(Event::MemoryOver { rss: 1 << 30 }, t);
    let out = a.on_event(exited(0), t);
    assert_eq!(events(&out), ["exited", "failed"]);
    assert_eq!(a.restarts, 4);
}

#[test]
fn a_restart_by_hand_counts_nothing() {
    let t = Instant::now();
    let mut a = app(Restart::Always);
    with_streak(&mut a, 3);
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    a.on_event(Event::Restart, t);
    assert_eq!(acts(a.on_event(exited(0), t)), [Action::Spawn]);
    a.on_event(Event::Spawned { pid: pid(2) }, t);
    assert_eq!(
        events(&a.on_event(exited(1), t)),
        ["exited", "failed"],
        "the restart by hand neither counted nor reset the 3 in a row"
    );
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
    assert_eq!(
        causes(&a),
        ["by hand"],
        "the stop's cause, not the memory's"
    );
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

    // A failed app started by hand gets a fresh count.
    let mut a = app(Restart::Always);
    a.spec.max_restarts = 0;
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    a.on_event(exited(1), t);
    assert_eq!(a.state, State::Failed);
    assert_eq!(acts(a.on_event(Event::Start, t)), [Action::Spawn]);
    a.on_event(Event::Spawned { pid: pid(2) }, t);
    assert_eq!(a.main_pid(), Some(pid(2)));
}

#[test]
fn sd_notify_while_stopping_is_still_shown() {
    let t = Instant::now();
    let mut a = app(Restart::Always);
    a.spec.notify = true;
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    a.on_event(
        Event::Status {
            text: "serving".into(),
        },
        t,
    );
    a.on_event(Event::Stop, t);
    a.on_event(
        Event::Status {
            text: "draining connections".into(),
        },
        t,
    );
    assert_eq!(a.notify_status(), Some("draining connections"));
    assert_eq!(events(&a.on_event(Event::Ready, t)), ["ready"]);
    assert!(a.ready());
    a.on_event(exited(0), t);
    a.on_event(Event::Start, t);
    a.on_event(Event::Spawned { pid: pid(2) }, t);
    assert_eq!(a.notify_status(), None, "a new run starts with no status");
    assert!(!a.ready());
}

#[test]
fn probe_results_are_kept_for_describe_the_last_ten() {
    let t = Instant::now();
    let mut a = app(Restart::Always);
    a.spec.health = Some(crate::health::HealthSpec {
        probe: crate::health::Probe::Tcp(([127, 0, 0, 1], 1).into()),
        interval: S,
        timeout: S,
        retries: 100,
        start_period: Duration::ZERO,
    });
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    for k in 0..12u32 {
        let passed = k % 2 == 0;
        let reason = if passed { "" } else { "refused" }.to_string();
        a.on_event(Event::Probe { passed, reason }, t + k * S);
    }
    assert_eq!(a.checks.len(), 10);
    assert_eq!(a.checks[0].at, t + 2 * S, "the oldest two are gone");
    assert!(!a.checks[9].passed);
    assert_eq!(a.checks[9].reason, "refused");
}

mod table;

/// The causes of the runs `a` remembers, oldest first.
fn causes(a: &App) -> Vec<&'static str> {
    a.exits.iter().map(|e| e.cause.name()).collect()
}

#[test]
fn each_run_end_is_recorded_with_its_cause() {
    let t0 = Instant::now();
    let mut a = app(Restart::Always);
    let mut now = t0;
    // Runs `run` long, ended by `end` (and, for a stop tend began, the
    // main process's exit by `sig` and its tree gone).
    let mut run = |a: &mut App, run: Duration, end: Event, asker: Option<Cause>| {
        a.on_event(Event::Start, now);
        a.on_event(Event::Tick, now);
        a.on_event(Event::Spawned { pid: pid(7) }, now);
        now += run;
        if let Some(who) = asker {
            a.asked_by(who);
        }
        let ended = matches!(end, Event::Exited { .. });
        a.on_event(end, now);
        if !ended {
            a.on_event(
                Event::Exited {
                    status: Status::Signaled(libc::SIGTERM),
                    tree_left: false,
                },
                now,
            );
        }
        if matches!(a.state, State::Backoff { .. }) {
            now += 30 * S;
            a.on_event(Event::Tick, now);
        }
    };
    run(&mut a, 2 * S, exited(1), None);
    run(&mut a, 20 * S, exited(0), None);
    run(&mut a, 3 * S, Event::MemoryOver { rss: 100 << 20 }, None);
    run(
        &mut a,
        S,
        Event::Unhealthy {
            reason: "no WATCHDOG=1".into(),
        },
        None,
    );
    run(&mut a, S, Event::Restart, None);
    run(&mut a, S, Event::Restart, Some(Cause::Reload));
    run(&mut a, S, Event::Stop, None);
    run(&mut a, S, Event::Stop, Some(Cause::Shutdown));
    assert_eq!(
        causes(&a),
        [
            "crash", "exit", "memory", "watchdog", "by hand", "reload", "by hand", "shutdown"
        ]
    );
    let first = a.exits[0];
    assert_eq!(first.status, Some(Status::Exited(1)));
    assert_eq!(first.run, 2 * S);
    let memory = a.exits[2];
    assert_eq!(memory.status, Some(Status::Signaled(libc::SIGTERM)));
    assert_eq!(memory.run, 3 * S);
    let last = a.exits[7];
    assert_eq!(a.last_exit, Some((last.status, last.at)));

    // A start that fails, and a main that exits by itself leaving its tree:
    // then stopped by hand while the rest stops, still its own end.
    a.on_event(Event::Start, now);
    a.on_event(Event::SpawnFailed { code: 127 }, now);
    now += 30 * S;
    a.on_event(Event::Tick, now);
    a.on_event(Event::Spawned { pid: pid(8) }, now);
    a.on_event(
        Event::Exited {
            status: Status::Exited(3),
            tree_left: true,
        },
        now + S,
    );
    a.on_event(Event::Stop, now + S);
    a.on_event(Event::TreeGone, now + 2 * S);
    assert_eq!(a.state, State::Stopped);
    assert_eq!(a.exits.len(), EXITS_KEPT);
    assert_eq!(&causes(&a)[8..], ["could not start", "crash"]);
    assert_eq!(a.exits[9].run, 2 * S, "a run lasts until its tree is gone");

    // One more: the oldest goes.
    a.on_event(Event::Start, now + 2 * S);
    a.on_event(Event::Spawned { pid: pid(10) }, now + 2 * S);
    a.on_event(exited(2), now + 3 * S);
    assert_eq!(a.exits.len(), EXITS_KEPT);
    assert_eq!(causes(&a)[0], "exit");
    assert_eq!(causes(&a)[9], "crash");
}

#[test]
fn an_asker_never_outlives_its_event() {
    let t0 = Instant::now();
    let mut a = app(Restart::Always);
    a.on_event(Event::Start, t0);
    // A reload's stop of an app not running yet: nothing ends, and the
    // next stop by hand is by hand.
    a.asked_by(Cause::Reload);
    a.on_event(Event::Stop, t0);
    assert!(a.exits.is_empty());
    a.on_event(Event::Start, t0);
    a.on_event(Event::Spawned { pid: pid(9) }, t0);
    a.on_event(Event::Stop, t0 + S);
    a.on_event(exited(0), t0 + S);
    assert_eq!(causes(&a), ["by hand"]);
}

#[test]
fn a_health_restart_is_recorded_as_health() {
    let t0 = Instant::now();
    let mut a = app(Restart::Always);
    a.spec.health = Some(crate::health::HealthSpec {
        probe: crate::health::Probe::Tcp("127.0.0.1:1".parse().unwrap()),
        interval: S,
        timeout: S,
        retries: 1,
        start_period: Duration::ZERO,
    });
    a.on_event(Event::Start, t0);
    a.on_event(Event::Spawned { pid: pid(9) }, t0);
    a.on_event(
        Event::Probe {
            passed: false,
            reason: "refused".into(),
        },
        t0 + S,
    );
    assert!(matches!(a.state, State::Stopping { .. }), "{:?}", a.state);
    a.on_event(exited(0), t0 + S);
    assert_eq!(causes(&a), ["health"]);
}

#[test]
fn would_replace_names_the_events_that_replace_a_running_listen_app() {
    let t = Instant::now();
    let mut a = app(Restart::Always);
    a.spec.health = Some(crate::health::HealthSpec {
        probe: crate::health::Probe::Tcp(([127, 0, 0, 1], 1).into()),
        interval: S,
        timeout: S,
        retries: 2,
        start_period: Duration::ZERO,
    });
    let failed = Event::Probe {
        passed: false,
        reason: "refused".into(),
    };
    a.on_event(Event::Spawned { pid: pid(1) }, t);
    // Without `listen` nothing replaces.
    assert!(!a.would_replace(&Event::Restart, t));
    a.spec.listen = vec![crate::listen::Listen::Unix("/run/web.sock".into())];
    assert!(a.would_replace(&Event::Restart, t));
    assert!(a.would_replace(&Event::MemoryOver { rss: 1 << 30 }, t));
    assert!(!a.would_replace(&Event::Stop, t));
    // The first failed check of two does not; the second does.
    assert!(!a.would_replace(&failed, t + S));
    assert!(acts(a.on_event(failed.clone(), t + S)).is_empty());
    assert!(a.would_replace(&failed, t + 2 * S));
    assert_eq!(
        acts(a.on_event(failed, t + 2 * S))
            .into_iter()
            .filter(|x| matches!(x, Action::Detach { .. }))
            .count(),
        1
    );
    // A stopping app is not replaced by a restart.
    let mut b = app(Restart::Always);
    b.spec.listen = a.spec.listen.clone();
    b.on_event(Event::Spawned { pid: pid(1) }, t);
    b.on_event(Event::Stop, t);
    assert!(!b.would_replace(&Event::Restart, t));
}
