//! `after` and shutdown: apps start in `after` order and stop in reverse,
//! unrelated apps stop in parallel, nothing restarts during a shutdown; when
//! every app has ended cleanly tend exits 0. `after` waiting for a healthy
//! app is tested in operating::health and operating::notify.

use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn shutdown_order_follows_after_in_reverse() {
    require_namespaces!();
    let app = |n: &str, after: &str| {
        format!(
            "[app.{n}]\ncommand = \"trap 'echo {n} >> {{dir}}/order; exit 0' TERM; echo {n} >> {{dir}}/started; while :; do sleep 0.05; done\"\nafter = [{after}]\n"
        )
    };
    let toml = "[tend]\nlog_format = \"json\"\n".to_string()
        + &app("db", "")
        + &app("api", "\"db\"")
        + &app("web", "\"api\"");
    let mut t = Running::start("order", &toml);
    assert!(wait_until(T, || t.dir.read("started").lines().count() == 3));
    let started: Vec<String> = t
        .all_events()
        .into_iter()
        .filter(|e| e.name == "started")
        .map(|e| e.app)
        .collect();
    assert_eq!(started, ["db", "api", "web"], "start order");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0));
    assert_eq!(
        lines(&t.dir.read("order")),
        ["web", "api", "db"],
        "stop order: {}",
        t.log()
    );
}

#[test]
fn shutdown_stops_apps_in_parallel_and_exits_0() {
    require_namespaces!();
    let app = |n: &str| {
        format!(
            "[app.{n}]\ncommand = \"trap 'sleep 0.3; echo {n} >> {{dir}}/stopped; exit 0' TERM; echo up >> {{dir}}/up; while :; do sleep 0.05; done\"\n"
        )
    };
    let toml: String = ["a", "b", "c", "d"].iter().map(|n| app(n)).collect();
    let mut t = Running::start("shutdown", &toml);
    assert!(
        wait_until(T, || t.dir.read("up").lines().count() == 4),
        "{}",
        t.log()
    );
    let started = Instant::now();
    t.signal(libc::SIGTERM);
    let status = t.wait(T);
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "{}", t.log());
    assert_eq!(
        t.dir.read("stopped").lines().count(),
        4,
        "every app stopped gracefully"
    );
    assert!(
        took < Duration::from_millis(1000),
        "4 apps of 300ms each in parallel took {took:?}"
    );
}

#[test]
fn nothing_restarts_during_a_shutdown() {
    require_namespaces!();
    let mut t = Running::start(
        "no-restart-in-shutdown",
        r#"
[app.db]
command = "echo run >> {dir}/db; sleep 0.1; exit 1"
restart_delay = "0s"
max_restarts = 1000

[app.web]
command = "trap 'sleep 1; exit 0' TERM; echo up > {dir}/web; while :; do sleep 0.05; done"
after = ["db"]
"#,
    );
    assert!(wait_until(T, || !t.dir.read("web").is_empty()));
    t.signal(libc::SIGTERM);
    t.wait_for("stopping every app", 1, T);
    let runs_then = t.dir.read("db").lines().count();
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    let runs_after = t.dir.read("db").lines().count();
    assert!(
        runs_after <= runs_then + 1,
        "db restarted during the shutdown: {runs_then} -> {runs_after}\n{}",
        t.log()
    );
}

#[test]
fn all_apps_ending_cleanly_exits_0() {
    require_namespaces!();
    let mut t = Running::start(
        "clean",
        "[app.a]\ncommand = \"true\"\nrestart = \"never\"\n[app.b]\ncommand = \"sleep 0.2\"\nrestart = \"on-failure\"\n",
    );
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
}
