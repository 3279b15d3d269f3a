//! Health checks: exec, tcp and http probes going unhealthy restart the
//! app; exec probes stay quiet and leave nothing behind; `after` waits for
//! a checked app to be healthy.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn exec_check_going_unhealthy_restarts_the_app() {
    require_namespaces!();
    // Text log on purpose: this test keeps the wording of the healthy,
    // unhealthy and check_failed lines checked; most tests read JSON events
    // (`t.events`).
    let t = Running::start(
        "exec-check",
        r#"
[app.web]
command = "touch {dir}/healthy; exec sleep 600"
[app.web.health]
command = "test -e {dir}/healthy"
interval = "200ms"
retries = 2
"#,
    );
    t.wait_for("app=web: healthy", 1, T);
    t.wait_socket();
    let out = t.ctl(&["status"]);
    assert!(stdout(&out).contains("running/healthy"), "{}", stdout(&out));
    std::fs::remove_file(t.dir.join("healthy")).unwrap();
    t.wait_for("app=web: unhealthy (2 failed checks in a row, last: check command exited with code 1), restarting", 1, T);
    t.wait_for("app=web: started", 2, T);
    t.wait_for("app=web: healthy", 2, T);
    assert_eq!(
        t.count("health check failed"),
        1,
        "the first failure is logged, the second restarts: {}",
        t.log()
    );
}

#[test]
fn exec_checks_stay_quiet_and_leave_nothing_behind() {
    require_namespaces!();
    let t = Running::start(
        "quiet-check",
        r#"
[tend]
log_format = "json"

[app.web]
command = "exec sleep 600"
[app.web.health]
command = "echo PROBE-OUTPUT; sleep 300 & exit 0"
interval = "100ms"
"#,
    );
    t.wait_event("web", "healthy", 1, T);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(!t.log().contains("PROBE-OUTPUT"), "{}", t.log());
    let tend = t.pid();
    let strays = descendants(tend)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with("sleep\u{0}300"))
        })
        .count();
    assert!(strays <= 1, "{strays} leftover processes of health checks");
}

#[test]
fn tcp_check_going_unhealthy_restarts_the_app() {
    require_namespaces!();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let t = Running::start(
        "tcp-check",
        &format!(
            "[tend]\nlog_format = \"json\"\n[app.db]\ncommand = \"exec sleep 600\"\n[app.db.health]\ntcp = \"127.0.0.1:{port}\"\ninterval = \"200ms\"\nretries = 2\n"
        ),
    );
    t.wait_event("db", "healthy", 1, T);
    drop(listener);
    let unhealthy = t.wait_event("db", "unhealthy", 1, T);
    assert!(unhealthy[0].contains("Connection refused"), "{unhealthy:?}");
    t.wait_event("db", "started", 2, T);
}

#[test]
fn http_check_wants_2xx_or_3xx() {
    require_namespaces!();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let ok = Arc::new(AtomicBool::new(true));
    let server_ok = ok.clone();
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = [0u8; 1024];
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let status = if !request.starts_with("GET /health HTTP/1.1\r\n") {
                "400 Bad Request"
            } else if server_ok.load(Ordering::Relaxed) {
                "200 OK"
            } else {
                "503 Service Unavailable"
            };
            let _ =
                s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        }
    });
    let t = Running::start(
        "http-check",
        &format!(
            "[tend]\nlog_format = \"json\"\n[app.api]\ncommand = \"exec sleep 600\"\n[app.api.health]\nhttp = \"http://127.0.0.1:{port}/health\"\ninterval = \"200ms\"\nretries = 2\n"
        ),
    );
    t.wait_event("api", "healthy", 1, T);
    ok.store(false, Ordering::Relaxed);
    let unhealthy = t.wait_event("api", "unhealthy", 1, T);
    assert!(
        unhealthy[0].contains("2 failed checks in a row") && unhealthy[0].contains("HTTP 503"),
        "{unhealthy:?}"
    );
    t.wait_event("api", "started", 2, T);
    ok.store(true, Ordering::Relaxed);
    t.wait_event("api", "healthy", 2, T);
}

#[test]
fn after_waits_for_healthy() {
    require_namespaces!();
    let t = Running::start(
        "after-healthy",
        r#"
[tend]
log_format = "json"

[app.db]
command = "exec sleep 600"
[app.db.health]
command = "test -e {dir}/ready"
interval = "200ms"
retries = 1000

[app.web]
command = "exec sleep 600"
after = ["db"]
"#,
    );
    t.wait_socket();
    t.wait_event("db", "started", 1, T);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        t.events("web", "started").len(),
        0,
        "web started before db was healthy"
    );
    let out = t.ctl(&["status", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).trim(),
        "not running: db (running/starting), web (waiting)"
    );
    std::fs::write(t.dir.join("ready"), "").unwrap();
    t.wait_event("web", "started", 1, T);
    let events = t.all_events();
    let healthy = events.iter().position(|e| e.is("db", "healthy")).unwrap();
    let web = events.iter().position(|e| e.is("web", "started")).unwrap();
    assert!(healthy < web, "{events:?}");
    assert_eq!(t.ctl(&["status", "--check"]).status.code(), Some(0));
}
