//! sd_notify: an app's READY=1 gates its dependents and its watchdog
//! restarts it when starved; messages from outside its tree are ignored.
//! And tend as a systemd service (Type=notify): it tells its own manager
//! READY=1, STATUS= and STOPPING=1, and keeps that socket from its apps.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// An sd_notify app in Python: READY=1 after `delay`, STATUS=, and
/// WATCHDOG=1 every 100 ms while {dir}/feed exists.
fn notify_app(delay: &str) -> String {
    format!(
        r#"command = ["python3", "-c", '''
import os, socket, time
addr = os.environ['NOTIFY_SOCKET']
addr = '\0' + addr[1:] if addr.startswith('@') else addr
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
time.sleep({delay})
s.sendto(b'READY=1\nSTATUS=serving', addr)
while True:
    if os.path.exists('{{dir}}/feed'):
        s.sendto(b'WATCHDOG=1', addr)
    time.sleep(0.1)
''']"#
    )
}

#[test]
fn sd_notify_ready_gates_dependents_and_the_watchdog_restarts() {
    require_namespaces!();
    require_tool!("python3", "-V");
    let toml = format!(
        "[tend]\nlog_format = \"json\"\n[app.db]\n{}\nnotify = true\nwatchdog = \"2s\"\n\n[app.web]\ncommand = \"exec sleep 600\"\nafter = [\"db\"]\n",
        notify_app("0.7")
    );
    let t = Running::start("notify", &toml);
    std::fs::write(t.dir.join("feed"), "").unwrap();
    t.wait_socket();
    t.wait_event("db", "started", 1, T);
    let out = t.ctl(&["status"]);
    assert!(
        stdout(&out).contains("running/starting"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        t.events("web", "started").len(),
        0,
        "web must wait for READY=1"
    );
    t.wait_event("web", "started", 1, T);
    let events = t.all_events();
    let ready = events
        .iter()
        .position(|e| e.is("db", "ready") && e.msg.contains("READY=1"))
        .unwrap();
    let web = events.iter().position(|e| e.is("web", "started")).unwrap();
    assert!(ready < web, "{events:?}");
    let v: serde_json::Value =
        serde_json::from_slice(&t.ctl(&["status", "--json"]).stdout).unwrap();
    let db = v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "db")
        .unwrap()
        .clone();
    assert_eq!(db["ready"], true);
    assert_eq!(db["status"], "serving");

    // Fed, the watchdog holds for longer than its timeout ...
    std::thread::sleep(Duration::from_millis(3000));
    // (A watchdog that runs out shows as an unhealthy event of db.)
    assert!(t.events("db", "unhealthy").is_empty(), "{}", t.log());
    // ... starved, it restarts the app.
    std::fs::remove_file(t.dir.join("feed")).unwrap();
    let unhealthy = t.wait_event("db", "unhealthy", 1, T);
    assert!(
        unhealthy[0].contains("watchdog: no WATCHDOG=1 within 2s"),
        "{unhealthy:?}"
    );
    t.wait_event("db", "started", 2, T);
}

#[test]
fn notify_messages_from_outside_the_tree_are_ignored() {
    require_namespaces!();
    require_tool!("python3", "-V");
    // The app never says READY=1; a stranger (another app) claims it for db.
    let toml = r#"
[tend]
log_format = "json"

[app.db]
command = "echo $NOTIFY_SOCKET > {dir}/sock; exec sleep 600"
notify = true

[app.stranger]
command = ["python3", "-c", '''
import socket, time
while True:
    try:
        addr = open('{dir}/sock').read().strip()
        break
    except OSError:
        time.sleep(0.05)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b'READY=1', '\0' + addr[1:])
open('{dir}/sent', 'w').write('1')
time.sleep(600)
''']
"#;
    let t = Running::start("stranger", toml);
    assert!(
        wait_until(T, || !t.dir.read("sent").is_empty()),
        "{}",
        t.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    let ready: Vec<Event> = t
        .all_events()
        .into_iter()
        .filter(|e| e.name == "ready")
        .collect();
    assert_eq!(ready, [], "{}", t.log());
}

#[test]
fn tend_speaks_sd_notify_to_its_own_manager() {
    require_namespaces!();
    let dir = TempDir::new("host-notify");
    let sock_path = dir.join("manager.sock");
    let manager = UnixDatagram::bind(&sock_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            "[app.a]\ncommand = 'echo \"[$NOTIFY_SOCKET]\" > {d}/env; exec sleep 600'\n[app.b]\ncommand = \"exec sleep 600\"\nafter = [\"a\"]\n"
        ),
    )
    .unwrap();
    let mut child = tend_pid1(["-c", &dir.join("init.toml").display().to_string()])
        .env("NOTIFY_SOCKET", &sock_path)
        .spawn()
        .expect("spawn");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.iter().any(|m: &String| m.contains("READY=1")) {
        let n = manager.recv(&mut buf).expect("a message from tend");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ready = got.last().unwrap().clone();
    assert!(ready.contains("STATUS=2 apps: "), "{ready}");
    assert!(wait_until(T, || !dir.read("env").is_empty()));
    assert_eq!(
        dir.read("env").trim(),
        "[]",
        "apps must not see tend's NOTIFY_SOCKET"
    );
    signal(pid1_of(&child), libc::SIGTERM);
    let mut stopping = false;
    while !stopping {
        let n = manager.recv(&mut buf).expect("STOPPING=1 from tend");
        stopping = String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1");
    }
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
}
