//! The control commands: start, stop and restart act on the named apps or
//! instances and nothing else, restarts by hand count nothing, a stopped
//! app stays stopped; status and `status --check`; reload (and SIGHUP)
//! applies only what changed, and a bad config changes nothing.

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

const TWO_APPS: &str = r#"
[app.web]
command = "echo $$ >> {dir}/$TEND_APP; exec sleep 600"
instances = 2

[app.db]
command = "echo $$ >> {dir}/db; exec sleep 600"
"#;

#[test]
fn restart_changes_only_that_pid_and_stop_start_work() {
    require_namespaces!();
    let t = Running::start("restart", TWO_APPS);
    t.wait_socket();
    assert!(wait_until(T, || ["web.0", "web.1", "db"]
        .iter()
        .all(|n| own_pid(&t, n) > 0)));
    let before = status_json(&t);

    let out = t.ctl(&["restart", "web.1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(wait_until(T, || app(&status_json(&t), "web.1")["pid"]
        != app(&before, "web.1")["pid"]
        && app(&status_json(&t), "web.1")["state"] == "running"));
    let after = status_json(&t);
    assert_eq!(app(&after, "web.1")["pid"], own_pid(&t, "web.1"));
    assert_eq!(
        app(&after, "web.0")["pid"],
        app(&before, "web.0")["pid"],
        "web.0 untouched"
    );
    assert_eq!(
        app(&after, "db")["pid"],
        app(&before, "db")["pid"],
        "db untouched"
    );
    assert_eq!(
        app(&after, "web.1")["restarts"],
        0,
        "a restart by hand is not counted"
    );

    // stop NAME acts on every instance; a stopped app stays stopped.
    assert!(t.ctl(&["stop", "web"]).status.success());
    assert!(wait_until(T, || {
        let v = status_json(&t);
        app(&v, "web.0")["state"] == "stopped" && app(&v, "web.1")["state"] == "stopped"
    }));
    std::thread::sleep(Duration::from_millis(1500));
    let v = status_json(&t);
    assert_eq!(app(&v, "web.0")["state"], "stopped", "no restart by policy");
    assert_eq!(app(&v, "web.0")["pid"], Value::Null);

    let check = t.ctl(&["status", "--check"]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "stopped on request is fine: {}",
        stdout(&check)
    );

    assert!(t.ctl(&["start", "web.0"]).status.success());
    assert!(wait_until(T, || app(&status_json(&t), "web.0")["state"] == "running"));
    assert_eq!(app(&status_json(&t), "web.1")["state"], "stopped");

    let out = t.ctl(&["stop", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no app named \"nope\" (apps: web.0, web.1, db)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_stopped_app_keeps_tend_up_and_can_be_started_while_stopping() {
    require_namespaces!();
    let t = Running::start(
        "last-app",
        "[tend]\nlog_format = \"json\"\n[app.only]\ncommand = \"trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.05; done\"\n",
    );
    t.wait_socket();
    assert!(t.ctl(&["stop", "only"]).status.success());
    t.wait_event("only", "stopped", 1, T);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        t.ctl(&["status"]).status.success(),
        "tend exited with its only app stopped:\n{}",
        t.log()
    );
    assert!(t.ctl(&["start", "only"]).status.success());
    assert!(wait_until(T, || app(&status_json(&t), "only")["state"] == "running"));
    // start during a slow stop: started again once stopped.
    assert!(t.ctl(&["stop", "--no-wait", "only"]).status.success());
    assert!(t.ctl(&["start", "only"]).status.success());
    assert!(
        wait_until(T, || t.events("only", "started").len() == 3),
        "{}",
        t.log()
    );
    assert!(wait_until(T, || app(&status_json(&t), "only")["state"] == "running"));
}

#[test]
fn status_shows_the_right_pids_and_states() {
    require_namespaces!();
    let t = Running::start("status", TWO_APPS);
    t.wait_socket();
    assert!(wait_until(T, || ["web.0", "web.1", "db"]
        .iter()
        .all(|n| own_pid(&t, n) > 0)));
    let v = status_json(&t);
    assert_eq!(v["pid"], 1, "tend is PID 1");
    for name in ["web.0", "web.1", "db"] {
        let a = app(&v, name);
        assert_eq!(a["state"], "running", "{a}");
        assert_eq!(a["pid"], own_pid(&t, name), "{a}");
        assert_eq!(a["restarts"], 0);
        assert!(a["rss"].as_u64().unwrap() > 0, "{a}");
        assert!(a["last_exit"].is_null());
    }
    assert_eq!(app(&v, "web.1")["app"], "web");
    assert_eq!(app(&v, "web.1")["instance"], 1);

    let out = t.ctl(&["status"]);
    let text = stdout(&out);
    let header = text.lines().next().unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        [
            "APP", "STATE", "PID", "UPTIME", "RESTARTS", "CPU", "MEM", "LAST", "EXIT"
        ]
    );
    let db = text.lines().find(|l| l.starts_with("db ")).unwrap();
    let cells: Vec<&str> = db.split_whitespace().collect();
    assert_eq!(cells[1], "running");
    assert_eq!(cells[2], own_pid(&t, "db").to_string());
}

#[test]
fn status_check_exit_codes() {
    require_namespaces!();
    let t = Running::start(
        "check",
        "[tend]\nlog_format = \"json\"\n[app.up]\ncommand = \"exec sleep 600\"\n[app.flaky]\ncommand = \"exit 1\"\nrestart_delay = \"10s\"\n",
    );
    t.wait_socket();
    let restarting = t.wait_event("flaky", "restarting", 1, T);
    assert!(
        restarting[0].contains("restarting in 10s"),
        "{restarting:?}"
    );
    let out = t.ctl(&["status", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out).trim(), "not running: flaky (backoff)");
    assert!(t.ctl(&["stop", "flaky"]).status.success());
    let out = t.ctl(&["status", "--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn reload_applies_only_what_changed() {
    require_namespaces!();
    // Text log on purpose: this test keeps the wording of the stopped (and
    // reload) lines checked; most tests read JSON events (`t.events`).
    let t = Running::start(
        "reload",
        r#"
[app.same]
command = "echo $$ >> {dir}/same; exec sleep 600"
[app.changed]
command = "echo $$ >> {dir}/changed; exec sleep 600"
[app.removed]
command = "echo $$ >> {dir}/removed; exec sleep 600"
"#,
    );
    t.wait_socket();
    assert!(wait_until(T, || ["same", "changed", "removed"]
        .iter()
        .all(|n| own_pid(&t, n) > 0)));
    let before = status_json(&t);
    let config = t.dir.join("init.toml");
    let d = t.dir.path().display();
    std::fs::write(
        &config,
        format!(
            r#"
[app.same]
command = "echo $$ >> {d}/same; exec sleep 600"
[app.changed]
command = "echo $$ >> {d}/changed; exec sleep 601"
[app.added]
command = "echo $$ >> {d}/added; exec sleep 600"
"#
        ),
    )
    .unwrap();
    let out = t.ctl(&["reload"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 added, 1 removed, 1 changed, 1 unchanged"),
        "{}",
        stdout(&out)
    );
    assert!(
        wait_until(T, || {
            let v = status_json(&t);
            let names: Vec<&str> = v["apps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["name"].as_str().unwrap())
                .collect();
            names == ["same", "changed", "added"]
                && v["apps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|a| a["state"] == "running")
        }),
        "{}",
        t.log()
    );
    let after = status_json(&t);
    assert_eq!(
        app(&after, "same")["pid"],
        app(&before, "same")["pid"],
        "untouched app kept its pid"
    );
    assert_ne!(
        app(&after, "changed")["pid"],
        app(&before, "changed")["pid"]
    );
    assert_eq!(app(&after, "changed")["pid"], own_pid(&t, "changed"));
    assert_eq!(app(&after, "added")["pid"], own_pid(&t, "added"));
    assert_eq!(t.count("app=removed: stopped"), 1, "{}", t.log());

    // A broken file changes nothing, and says why, to the caller and the log.
    std::fs::write(
        &config,
        "[app.same]\ncommand = \"x\"\nrestart_delay = \"soon\"\n",
    )
    .unwrap();
    let out = t.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("reload failed, nothing changed")
            && err.contains(":3:17: app.same.restart_delay: invalid duration"),
        "{err}"
    );
    assert_eq!(t.count("reload failed, nothing changed"), 1);
    let v = status_json(&t);
    assert_eq!(app(&v, "same")["pid"], app(&after, "same")["pid"]);
    assert_eq!(app(&v, "added")["state"], "running");

    // SIGHUP does the same as `tend reload`.
    std::fs::write(
        &config,
        format!("[app.same]\ncommand = \"echo $$ >> {d}/same; exec sleep 600\"\n"),
    )
    .unwrap();
    t.signal(libc::SIGHUP);
    t.wait_for("SIGHUP: reloaded", 1, T);
    assert!(
        wait_until(T, || status_json(&t)["apps"].as_array().unwrap().len() == 1),
        "{}",
        t.log()
    );
    assert_eq!(
        app(&status_json(&t), "same")["pid"],
        app(&before, "same")["pid"]
    );
}
