//! Restart counting (DESIGN.md "Restart counting"): delays double after
//! unstable runs up to max_restart_delay; after max_restarts restarts the
//! next unstable exit fails the app. That restarts by hand count nothing is
//! tested in operating::commands, that failed starts count in
//! behaviour::failed_starts.

use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn crash_loop_with_max_restarts_3_starts_4_times_then_fails() {
    require_namespaces!();
    let mut t = Running::start(
        "crashloop",
        r#"
[tend]
log_format = "json"

[app.crash]
command = "echo run >> {dir}/runs; exit 1"
restart_delay = "0s"
max_restarts = 3
"#,
    );
    let status = t.wait(T);
    assert_eq!(t.dir.read("runs").lines().count(), 4, "{}", t.log());
    let failed = t.events("crash", "failed");
    assert_eq!(failed.len(), 1, "{}", t.log());
    assert!(
        failed[0].contains("3 restarts") && failed[0].contains("(max_restarts 3)"),
        "{failed:?}"
    );
    assert_eq!(status.code(), Some(1), "all apps ended, one failed: exit 1");
}

#[test]
fn restart_delays_are_respected_and_double() {
    require_namespaces!();
    let mut t = Running::start(
        "delays",
        r#"
[tend]
log_format = "json"

[app.timed]
command = "date +%s%N >> {dir}/starts; exit 1"
restart_delay = "300ms"
max_restart_delay = "1200ms"
max_restarts = 3
"#,
    );
    t.wait(T);
    let starts: Vec<u128> = t
        .dir
        .read("starts")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 4, "{}", t.log());
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    for (gap, want) in gaps.iter().zip([300, 600, 1200]) {
        assert!(
            *gap >= want - 5 && *gap < want + 1000,
            "gaps {gaps:?} ms, want about 300, 600, 1200"
        );
    }
    let restarting = t.events("timed", "restarting");
    assert!(
        restarting
            .iter()
            .any(|m| m.contains("restarting in 1200ms") && m.contains("restart 3/3")),
        "{restarting:?}"
    );
}
