//! A command that cannot be started is reported once per attempt with the
//! OS error and retried with backoff, never in a tight loop.

use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn a_command_that_cannot_start_is_retried_with_backoff() {
    require_namespaces!();
    // Text log on purpose: this test keeps the wording of the spawn_failed,
    // restarting and failed lines checked; most tests read JSON events
    // (`t.events`).
    let mut t = Running::start(
        "execfail",
        "[app.ghost]\ncommand = [\"/nonexistent/ghost\"]\nrestart_delay = \"100ms\"\nmax_restart_delay = \"400ms\"\nmax_restarts = 3\n",
    );
    let started = Instant::now();
    assert_eq!(t.wait(T).code(), Some(1));
    assert!(
        started.elapsed() >= Duration::from_millis(650),
        "100+200+400ms of backoff"
    );
    assert_eq!(
        t.count("app=ghost: cannot start \"/nonexistent/ghost\": No such file or directory"),
        4,
        "{}",
        t.log()
    );
    for d in ["100ms", "200ms", "400ms"] {
        assert_eq!(t.count(&format!("restarting in {d}")), 1, "{}", t.log());
    }
    assert_eq!(t.count("app=ghost: failed"), 1);
}

#[test]
fn a_missing_command_with_zero_delay_does_not_spin() {
    require_namespaces!();
    let t = Running::start(
        "nospin",
        "[tend]\nlog_format = \"json\"\n[app.ghost]\ncommand = [\"/nonexistent\"]\nrestart_delay = \"0s\"\nmax_restart_delay = \"0s\"\nmax_restarts = 100000\n[app.other]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_event("other", "started", 1, T);
    std::thread::sleep(Duration::from_millis(1000));
    let tries = t.events("ghost", "spawn_failed");
    assert!(
        tries
            .iter()
            .all(|m| m.contains("cannot start \"/nonexistent\"")),
        "{tries:?}"
    );
    let tries = tries.len();
    assert!(
        (3..=15).contains(&tries),
        "one try per 100 ms at most: {tries}"
    );
    t.wait_socket();
}
