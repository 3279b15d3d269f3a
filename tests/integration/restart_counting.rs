//! Restart counting (DESIGN.md "Restart counting"): a run shorter than
//! min_uptime is unstable; delays double after unstable runs up to
//! max_restart_delay; after max_restarts restarts in a row the next
//! unstable exit fails the app; a stable run sets the delay and the count
//! back. That restarts by hand count nothing is tested in
//! operating::commands, that failed starts count in behaviour::failed_starts.

use std::time::{Duration, Instant};

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
        failed[0].contains("failed: 3 restarts in a row, each run shorter than 30s"),
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
            .any(|m| m == "restarting in 1200ms (restart 3/3 in a row)"),
        "{restarting:?}"
    );
}

#[test]
fn a_crash_loop_without_backoff_fails_after_exactly_max_restarts_plus_one_runs() {
    require_namespaces!();
    // PM2's max_restarts 10, with the doubling turned off and short delays
    // so that the whole loop takes about a second.
    let started = Instant::now();
    let mut t = Running::start(
        "eleven",
        r#"
[tend]
log_format = "json"

[app.crash]
command = "echo run >> {dir}/runs; exit 1"
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 10
"#,
    );
    let status = t.wait(T);
    let took = started.elapsed();
    assert_eq!(t.dir.read("runs").lines().count(), 11, "{}", t.log());
    let restarting = t.events("crash", "restarting");
    let want: Vec<String> = (1..=10)
        .map(|n| format!("restarting in 100ms (restart {n}/10 in a row)"))
        .collect();
    assert_eq!(restarting, want, "{}", t.log());
    assert_eq!(
        t.events("crash", "failed"),
        ["failed: 10 restarts in a row, each run shorter than 30s"],
        "{}",
        t.log()
    );
    assert_eq!(status.code(), Some(1), "the only app failed: exit 1");
    assert!(
        took >= Duration::from_millis(1000),
        "10 delays of 100ms: {took:?}"
    );
    println!(
        "FIGURE crash-loop-11-runs: an app exiting at once (restart_delay = max_restart_delay \
         = 100ms, max_restarts 10) failed after 11 runs; tend exited {:.2} s after start",
        took.as_secs_f64()
    );
}

#[test]
fn runs_longer_than_min_uptime_are_stable_and_never_fail() {
    require_namespaces!();
    let t = Running::start(
        "stable",
        r#"
[tend]
log_format = "json"

[app.steady]
command = "echo run >> {dir}/runs; sleep 0.5; exit 1"
restart_delay = "50ms"
min_uptime = "300ms"
max_restarts = 3
"#,
    );
    let restarting = t.wait_event("steady", "restarting", 15, T);
    assert!(t.events("steady", "failed").is_empty(), "{}", t.log());
    assert!(
        restarting
            .iter()
            .all(|m| m == "restarting in 50ms (it ran at least 300ms: restarts in a row back to 0)"),
        "every run was stable: {restarting:?}"
    );
    let status = status_json(&t);
    let app = &status["apps"][0];
    assert_ne!(app["state"], "failed", "{status}");
    assert!(app["restarts"].as_u64().unwrap() >= 15, "{status}");
}

#[test]
fn restart_window_is_accepted_ignored_and_named_by_check() {
    let dir = TempDir::new("restart-window");
    let file = dir.join("old.toml");
    std::fs::write(
        &file,
        "[app.web]\ncommand = \"x\"\nmax_restarts = 5\nrestart_window = \"1m\"\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &file.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "tend: {}:4:18: warning: app.web.restart_window: ignored: ",
            file.display()
        )) && err.contains("set min_uptime instead"),
        "{err}"
    );

    // Wrapper mode: --restart-window is accepted, said to be ignored, and
    // the loop still ends after --max-restarts restarts in a row.
    let runs = dir.join("runs");
    let script = format!("echo run >> {}; exit 3", runs.display());
    let out = output_or_kill(
        tend([
            "--restart",
            "always",
            "--restart-delay",
            "10ms",
            "--max-restarts",
            "2",
            "--min-uptime",
            "10s",
            "--restart-window",
            "1h",
            "--",
            "sh",
            "-c",
            &script,
        ]),
        T,
    );
    let err = stderr(&out);
    assert_eq!(dir.read("runs").lines().count(), 3, "{err}");
    assert!(err.contains("--restart-window is ignored"), "{err}");
    assert!(
        err.contains("failed: 2 restarts in a row, each run shorter than 10s"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(3), "the last run's code");
}
