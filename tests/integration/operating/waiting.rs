//! `tend start|stop|restart` wait until the work is done (DESIGN.md
//! "Operating", first bullet): one line per instance, exit 0 only when
//! each got there; a restart names the new pid only once the new run is
//! up, and fails when the new run ends before; `--timeout`, `--no-wait`,
//! several names and `all`; an unknown name does nothing.

use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// stdout's lines, sorted: instances finish in any order.
fn lines(out: &std::process::Output) -> Vec<String> {
    let mut l: Vec<String> = stdout(out).lines().map(String::from).collect();
    l.sort();
    l
}

const TWO_APPS: &str = r#"
[app.web]
command = "echo $$ >> {dir}/$TEND_APP; exec sleep 600"
instances = 2

[app.db]
command = "trap 'sleep 0.3; exit 0' TERM; echo $$ >> {dir}/db; while :; do sleep 0.05; done"
"#;

#[test]
fn start_stop_restart_wait_and_say_so_per_instance() {
    require_namespaces!();
    let t = Running::start("wait-lines", TWO_APPS);
    t.wait_socket();
    assert!(wait_until(T, || ["web.0", "web.1", "db"]
        .iter()
        .all(|n| own_pid(&t, n) > 0)));

    // Several names, one unknown: exit 1, and nothing is done.
    let before = status_json(&t);
    let out = t.ctl(&["stop", "web", "nope"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no app named \"nope\""),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(300));
    let v = status_json(&t);
    for n in ["web.0", "web.1", "db"] {
        assert_eq!(app(&v, n)["state"], "running", "{n} was touched");
        assert_eq!(app(&v, n)["pid"], app(&before, n)["pid"]);
    }

    // stop waits for the slow TERM handler of db: down when it returns.
    let out = t.ctl(&["stop", "web", "db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(&out),
        ["db: stopped", "web.0: stopped", "web.1: stopped"]
    );
    let v = status_json(&t);
    for n in ["web.0", "web.1", "db"] {
        assert_eq!(app(&v, n)["state"], "stopped", "{v}");
    }

    // start: the pid of each new run, the one it wrote itself.
    let out = t.ctl(&["start", "web.1", "db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        lines(&out),
        [
            format!("db: running, pid {}", own_pid(&t, "db")),
            format!("web.1: running, pid {}", own_pid(&t, "web.1")),
        ]
    );
    assert_eq!(app(&status_json(&t), "web.0")["state"], "stopped");

    // A start of what runs already is done at once.
    let began = Instant::now();
    let out = t.ctl(&["start", "db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("db: running, pid {}\n", own_pid(&t, "db"))
    );
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "{:?}",
        began.elapsed()
    );

    // restart all: every instance, each with its new pid.
    let old = status_json(&t);
    let out = t.ctl(&["restart", "all"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let want: Vec<String> = ["db", "web.0", "web.1"]
        .iter()
        .map(|n| format!("{n}: running, pid {}", own_pid(&t, n)))
        .collect();
    assert_eq!(lines(&out), want);
    assert_ne!(app(&old, "db")["pid"], own_pid(&t, "db"));
    assert_ne!(app(&old, "web.1")["pid"], own_pid(&t, "web.1"));
}

#[test]
fn restart_names_the_new_pid_once_it_is_healthy() {
    require_namespaces!();
    let t = Running::start(
        "wait-healthy",
        r#"
[app.web]
command = "rm -f {dir}/healthy; echo $$ >> {dir}/web; (sleep 1; touch {dir}/healthy) & exec sleep 600"
[app.web.health]
command = "test -e {dir}/healthy"
interval = "100ms"
retries = 50
"#,
    );
    t.wait_socket();
    assert!(wait_until(T, || app(&status_json(&t), "web")["health"] == "healthy"));
    let old = own_pid(&t, "web");

    let began = Instant::now();
    let out = t.ctl(&["restart", "web"]);
    let took = began.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new = own_pid(&t, "web");
    assert_ne!(new, old);
    assert_eq!(stdout(&out), format!("web: running, pid {new}\n"));
    assert!(
        took >= Duration::from_secs(1),
        "returned after {took:?}, before healthy"
    );
    assert_eq!(app(&status_json(&t), "web")["health"], "healthy");
}

#[test]
fn a_restart_whose_new_run_fails_says_why_and_exits_1() {
    require_namespaces!();
    let t = Running::start(
        "wait-fails",
        r#"
[app.slow]
command = "test -e {dir}/broken && exit 3; exec sleep 600"
restart_delay = "5s"
[app.fast]
command = "test -e {dir}/broken && exit 3; exec sleep 600"
restart_delay = "0s"
[app.ghost]
command = "exec sleep 600"
user = "no-such-user-for-tend"
restart_delay = "5s"
"#,
    );
    t.wait_socket();
    assert!(wait_until(T, || {
        let v = status_json(&t);
        app(&v, "slow")["state"] == "running" && app(&v, "fast")["state"] == "running"
    }));
    std::fs::write(t.dir.join("broken"), "").unwrap();

    let out = t.ctl(&["restart", "slow", "fast"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let l = lines(&out);
    assert_eq!(l.len(), 2, "{l:?}");
    assert!(
        l[0].starts_with("fast: failed to start: exited with code 3 before it was up"),
        "{l:?}"
    );
    assert_eq!(
        l[1],
        "slow: failed to start: exited with code 3 before it was up (state: backoff)"
    );

    // A command that cannot be started: the reason tend logged.
    let out = t.ctl(&["start", "ghost"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("ghost: failed to start: cannot start: user \"no-such-user-for-tend\""),
        "{text}"
    );
}

#[test]
fn timeout_and_no_wait() {
    require_namespaces!();
    let t = Running::start(
        "wait-timeout",
        r#"
[app.never]
command = "exec sleep 600"
[app.never.health]
command = "false"
interval = "100ms"
retries = 1000
[app.slow]
command = "trap 'sleep 1; exit 0' TERM; while :; do sleep 0.05; done"
"#,
    );
    t.wait_socket();
    assert!(wait_until(T, || app(&status_json(&t), "slow")["state"] == "running"));

    let began = Instant::now();
    let out = t.ctl(&["restart", "--timeout", "500ms", "never"]);
    let took = began.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("never: timed out after 500ms (state: running/"),
        "{text}"
    );
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(3),
        "{took:?}"
    );

    // --no-wait: back once the request was taken, the stop still going on.
    let began = Instant::now();
    let out = t.ctl(&["stop", "--no-wait", "slow"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert!(
        began.elapsed() < Duration::from_millis(700),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(app(&status_json(&t), "slow")["state"], "stopping");
    // The same stop, waited for, ends once the TERM handler is done.
    let out = t.ctl(&["stop", "slow"]);
    assert_eq!(stdout(&out), "slow: stopped\n");
}
