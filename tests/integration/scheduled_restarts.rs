//! Scheduled and watched restarts (DESIGN.md): `cron_restart` restarts a
//! running app gracefully at each matching minute of the local time zone,
//! counted nowhere, shown as cause `cron`. The minutes themselves, time
//! zones and DST are unit-tested (src/cron.rs, src/tz.rs); here one real
//! minute boundary, the only slow test of the module.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

fn describe(t: &Running, name: &str) -> Value {
    let out = t.ctl(&["describe", "--json", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["apps"][0].clone()
}

/// Slow: waits for the next real minute, up to 61 s.
#[test]
fn slow_every_minute_restarts_a_running_app_at_the_minute_and_counts_nothing() {
    require_namespaces!();
    let t = Running::start(
        "cron-minute",
        r#"
[tend]
log_format = "json"
[defaults]
cron_restart = "* * * * *"
[app.web]
command = "exec sleep 600"
[app.down]
command = "exec sleep 600"
"#,
    );
    t.wait_socket();
    t.wait_event("web", "started", 1, T);
    t.wait_event("down", "started", 1, T);
    assert!(t.ctl(&["stop", "down"]).status.success());
    let before = describe(&t, "web");
    let first_pid = before["pid"].as_i64().expect("running");
    assert_eq!(before["definition"]["cron_restart"], "* * * * *");
    let next = before["next_cron_restart"]
        .as_str()
        .expect("armed")
        .to_string();
    assert!(next.contains(":00 "), "a minute's start: {next}");

    let fired = t.wait_event("web", "cron", 2, Duration::from_secs(75));
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        fired[1].starts_with("cron_restart \"* * * * *\": restarting (next: "),
        "{fired:?}"
    );
    // Seen within seconds of the minute's start (the log is polled).
    assert!(secs % 60 < 15, "{secs} is {}s past the minute", secs % 60);
    t.wait_event("web", "started", 2, T);
    assert_eq!(
        t.events("down", "started").len(),
        1,
        "a stopped app is not started"
    );

    let a = describe(&t, "web");
    assert_ne!(a["pid"].as_i64(), Some(first_pid), "{a}");
    assert_eq!(a["restarts"], 0, "counted nowhere: {a}");
    assert_eq!(a["restarts_in_a_row"], 0, "{a}");
    assert_eq!(a["exits"][0]["cause"], "cron", "{a}");
    assert_eq!(a["exits"][0]["signal"], "SIGTERM", "graceful: {a}");
    assert_eq!(describe(&t, "down")["state"], "stopped");
    let text = stdout(&t.ctl(&["describe", "web"]));
    assert!(text.contains("  cron        * * * * * (next "), "{text}");
}

#[test]
fn cron_restart_is_armed_again_by_a_reload() {
    require_namespaces!();
    let t = Running::start(
        "cron-reload",
        "[app.web]\ncommand = \"exec sleep 600\"\ncron_restart = \"0 3 * * *\"\n",
    );
    t.wait_socket();
    let next = describe(&t, "web")["next_cron_restart"].clone();
    assert!(
        next.as_str().is_some_and(|n| n.contains(" 03:00:00 ")),
        "{next}"
    );
    std::fs::write(
        t.dir.join("init.toml"),
        "[app.web]\ncommand = \"exec sleep 600\"\ncron_restart = \"30 4 * * sun\"\n",
    )
    .unwrap();
    assert!(t.ctl(&["reload"]).status.success());
    assert!(wait_until(T, || {
        describe(&t, "web")["next_cron_restart"]
            .as_str()
            .is_some_and(|n| n.contains(" 04:30:00 "))
    }));
    std::fs::write(
        t.dir.join("init.toml"),
        "[app.web]\ncommand = \"exec sleep 600\"\n",
    )
    .unwrap();
    assert!(t.ctl(&["reload"]).status.success());
    assert!(wait_until(T, || describe(&t, "web")["next_cron_restart"].is_null()));
}

#[test]
fn an_invalid_expression_is_a_config_error_at_its_field() {
    let dir = TempDir::new("cron-check");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[defaults]\ncron_restart = \"0 3 * * *\"\n[app.web]\ncommand = \"x\"\ncron_restart = \"*/15 3 * jan-dex *\"\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &bad.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:5:26: app.web.cron_restart: invalid cron expression \"*/15 3 * jan-dex *\": \
             month: invalid value \"dex\" in \"jan-dex\" (expected 1-12 or jan..dec)",
            bad.display()
        )),
        "{err}"
    );
}
