//! The table test: every (state, event) pair and what it must give.

use super::*;
use crate::units::signal_name;

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
    ("waiting",          "probe",        "waiting",                  "",        "unexpected"),
    ("waiting",          "ready",        "waiting",                  "",        "unexpected"),
    ("waiting",          "status",       "waiting",                  "",        "unexpected"),
    ("waiting",         "old-ended",    "waiting",                  "",        "replaced"),
    ("waiting",          "oom-killed",   "waiting",                  "",        "oom_killed"),

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
    ("running",          "probe",        "running 10",               "",        ""),
    ("running",          "ready",        "running 10",               "",        "ready"),
    ("running",          "status",       "running 10",               "",        ""),
    ("running",         "old-ended",    "running 10",               "",        "replaced"),
    ("running",          "oom-killed",   "running 10",               "",        "oom_killed"),

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
    ("stopping",         "probe",        "stopping 10 stay +5s",     "",        ""),
    ("stopping",         "ready",        "stopping 10 stay +5s",     "",        "ready"),
    ("stopping",         "status",       "stopping 10 stay +5s",     "",        ""),
    ("stopping",        "old-ended",    "stopping 10 stay +5s",     "",        "replaced"),
    ("stopping",         "oom-killed",   "stopping 10 stay +5s",     "",        "oom_killed"),

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
    ("stopping-orphans", "probe",        "stopping - decide +5s",    "",        ""),
    ("stopping-orphans", "ready",        "stopping - decide +5s",    "",        "ready"),
    ("stopping-orphans", "status",       "stopping - decide +5s",    "",        ""),
    ("stopping-orphans", "old-ended",    "stopping - decide +5s",    "",        "replaced"),
    ("stopping-orphans", "oom-killed",   "stopping - decide +5s",    "",        "oom_killed"),

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
    ("backoff",          "probe",        "backoff +1s",              "",        ""),
    ("backoff",          "ready",        "backoff +1s",              "",        ""),
    ("backoff",          "status",       "backoff +1s",              "",        ""),
    ("backoff",         "old-ended",    "backoff +1s",              "",        "replaced"),
    ("backoff",          "oom-killed",   "backoff +1s",              "",        "oom_killed"),

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
    ("stopped",          "probe",        "stopped",                  "",        ""),
    ("stopped",          "ready",        "stopped",                  "",        ""),
    ("stopped",          "status",       "stopped",                  "",        ""),
    ("stopped",         "old-ended",    "stopped",                  "",        "replaced"),
    ("stopped",          "oom-killed",   "stopped",                  "",        "oom_killed"),

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
    ("exited",           "probe",        "exited",                   "",        ""),
    ("exited",           "ready",        "exited",                   "",        ""),
    ("exited",           "status",       "exited",                   "",        ""),
    ("exited",          "old-ended",    "exited",                   "",        "replaced"),
    ("exited",           "oom-killed",   "exited",                   "",        "oom_killed"),

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
    ("failed",           "probe",        "failed",                   "",        ""),
    ("failed",           "ready",        "failed",                   "",        ""),
    ("failed",           "status",       "failed",                   "",        ""),
    ("failed",          "old-ended",    "failed",                   "",        "replaced"),
    ("failed",           "oom-killed",   "failed",                   "",        "oom_killed"),

    // Guards: a deadline that has come, SIGKILL already sent.
    ("backoff-due",      "tick",         "backoff +0ns",             "spawn",   ""),
    ("stopping-due",     "tick",         "stopping 10 stay killed",  "kill",    "killing"),
    ("stopping-killed",  "tick",         "stopping 10 stay killed",  "",        "unexpected"),
    ("stopping-killed",  "kill",         "stopping 10 stay killed",  "",        ""),
    // The main process exits and part of its tree lives on.
    ("running",          "exited-tree",  "stopping - decide +10s",   "SIGTERM", "exited stopping"),
    ("stopping",         "exited-tree",  "stopping - stay +5s",      "",        "exited"),
    ("stopping-orphans", "exited-tree",  "stopping - decide +5s",    "",        "exited"),
    // READY=1 again; probes of an app with a health check (retries 2,
    // or 1 for -once): a failure before the last, a pass, the last.
    ("running-ready",    "ready",        "running 10",               "",        ""),
    ("running-checked",  "probe",        "running 10",               "",        "check_failed"),
    ("running-checked",  "probe-pass",   "running 10",               "",        "healthy"),
    ("running-checked-once", "probe",    "stopping 10 restart +10s", "SIGTERM", "unhealthy"),
    // Stopping already: the probe counts, but starts no restart.
    ("stopping-checked-once", "probe",   "stopping 10 stay +5s",     "",        ""),
    // Restart counting (max_restarts 3, min_uptime 10s): after 2
    // restarts in a row the delay is 4s; after 3 an unstable run fails,
    // whether it exited, could not start or hit a limit; a stable run
    // (-stable: running 10s) restarts after restart_delay.
    ("running-streak-2", "exited",       "backoff +4s",              "",        "exited restarting"),
    ("running-streak-3", "exited",       "failed",                   "",        "exited failed"),
    ("running-streak-3-stable", "exited", "backoff +1s",             "",        "exited restarting"),
    ("backoff-streak-3", "spawn-failed", "failed",                   "",        "failed"),
    ("stopping-restart-streak-3", "exited", "failed",                "",        "exited failed"),
    ("stopping-restart-streak-3-stable", "exited", "waiting",        "spawn",   "exited"),
    // An app with `listen` is replaced: a new run starts at once and the
    // old one is detached, to be stopped once the new one is up; a stop
    // is a stop. A graceful restart past max_restarts stops it to fail.
    ("running-listen",   "restart",      "waiting",                  "detach spawn", "replacing"),
    ("running-listen",   "memory-over",  "waiting",                  "detach spawn", "memory_limit"),
    ("running-listen",   "unhealthy",    "waiting",                  "detach spawn", "unhealthy"),
    ("running-listen",   "stop",         "stopping 10 stay +10s",    "SIGTERM", "stopping"),
    ("running-listen-streak-3", "memory-over", "stopping 10 restart +10s", "SIGTERM", "memory_limit"),
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

const GRID_EVENTS: [&str; 16] = [
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
    "probe",
    "ready",
    "status",
    "old-ended",
    "oom-killed",
];

/// The representative app for a state name of `TABLE`, at `now`.
fn in_state(name: &str, now: Instant) -> App {
    let since = now - S * if name.ends_with("-stable") { 10 } else { 5 };
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
        "running"
        | "running-ready"
        | "running-checked"
        | "running-checked-once"
        | "running-streak-2"
        | "running-streak-3"
        | "running-streak-3-stable"
        | "running-listen"
        | "running-listen-streak-3" => State::Running {
            pid: pid(10),
            since,
        },
        "stopping" | "stopping-checked-once" => {
            stopping(main, now + 5 * S, false, Then::Stay, None)
        }
        "stopping-due" => stopping(main, now, false, Then::Stay, None),
        "stopping-killed" => stopping(main, now + 5 * S, true, Then::Stay, None),
        "stopping-orphans" => stopping(
            None,
            now + 5 * S,
            false,
            Then::Decide,
            Some(Status::Exited(1)),
        ),
        "stopping-restart-streak-3" | "stopping-restart-streak-3-stable" => {
            stopping(main, now + 5 * S, false, Then::Restart, None)
        }
        "backoff" | "backoff-streak-3" => State::Backoff { until: now + S },
        "backoff-due" => State::Backoff { until: now },
        "stopped" => State::Stopped,
        "exited" => State::Exited,
        "failed" => State::Failed,
        _ => panic!("no state {name:?} in the table"),
    };
    if let Some(n) = name
        .split_once("streak-")
        .and_then(|(_, n)| n.split('-').next()?.parse().ok())
    {
        with_streak(&mut a, n);
    }
    if name.starts_with("running-listen") {
        a.spec.listen = vec![crate::listen::Listen::Unix("/run/web.sock".into())];
    }
    match name {
        "running-ready" => a.ready = true,
        "running-checked" | "running-checked-once" | "stopping-checked-once" => {
            a.spec.health = Some(crate::health::HealthSpec {
                probe: crate::health::Probe::Tcp(([127, 0, 0, 1], 1).into()),
                interval: S,
                timeout: S,
                retries: if name == "running-checked" { 2 } else { 1 },
                start_period: Duration::ZERO,
            });
            a.health = Some(Tracker::new(since));
        }
        _ => {}
    }
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
        "oom-killed" => Event::OomKilled,
        "unhealthy" => Event::Unhealthy {
            reason: "3 failed checks in a row".into(),
        },
        "probe" | "probe-pass" => Event::Probe {
            passed: name == "probe-pass",
            reason: "connect: Connection refused".into(),
        },
        "ready" => Event::Ready,
        "status" => Event::Status {
            text: "serving".into(),
        },
        "old-ended" => Event::OldRunEnded {
            pid: pid(9),
            status: Status::Signaled(libc::SIGTERM),
            since: Instant::now(),
            cause: Cause::ByHand,
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
            Action::Detach { .. } => Some("detach".to_string()),
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
