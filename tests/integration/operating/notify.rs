//! sd_notify: an app's READY=1 gates its dependents and its watchdog
//! restarts it when starved; messages from outside its tree are ignored.
//! File descriptors that come with a message are closed at once: tend's fd
//! count does not grow, and BARRIER=1 (`systemd-notify --ready`) is
//! acknowledged at once. And tend as a systemd service (Type=notify): it
//! tells its own manager READY=1, STATUS= and STOPPING=1, and keeps that
//! socket from its apps.

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

/// The fewest entries of /proc/PID/fd over a few samples 50 ms apart, so
/// that an fd tend holds for an instant (a /proc read, a control client)
/// does not count.
fn fd_count(pid: u32) -> usize {
    (0..5)
        .map(|k| {
            if k > 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .expect("read tend's /proc/PID/fd")
                .count()
        })
        .min()
        .unwrap_or(0)
}

#[test]
fn fds_sent_with_notify_messages_are_closed_and_do_not_pile_up() {
    require_namespaces!();
    require_tool!("python3", "-V");
    // 10,000 datagrams each with an fd (as FDSTORE=1 would send them; tend
    // keeps none), then READY=1. The app waits for {dir}/go so that tend's
    // fds are counted before the first one.
    let toml = r#"
[tend]
log_format = "json"

[app.db]
notify = true
command = ["python3", "-c", '''
import os, socket, time
addr = os.environ['NOTIFY_SOCKET']
addr = '\0' + addr[1:] if addr.startswith('@') else addr
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(addr)
while not os.path.exists('{dir}/go'):
    time.sleep(0.02)
fd = os.open('/dev/null', os.O_RDONLY)
t0 = time.monotonic()
for _ in range(10000):
    socket.send_fds(s, [b'FDSTORE=1'], [fd])
s.send(b'READY=1')
open('{dir}/sent.tmp', 'w').write('%.0f' % ((time.monotonic() - t0) * 1000))
os.rename('{dir}/sent.tmp', '{dir}/sent')
time.sleep(600)
''']
"#;
    let _one_at_a_time = serial();
    let t = Running::start("notify-fds", toml);
    t.wait_event("db", "started", 1, T);
    let tend = t.pid();
    let before = fd_count(tend);
    std::fs::write(t.dir.join("go"), "").unwrap();
    t.wait_event("db", "ready", 1, Duration::from_secs(60));
    assert!(
        wait_until(T, || !t.dir.read("sent").is_empty()),
        "{}",
        t.log()
    );
    let after = fd_count(tend);
    println!(
        "FIGURE sd_notify fds: tend's fd count {before} before, {after} after 10000 messages with an fd each (sent in {} ms)",
        t.dir.read("sent")
    );
    assert_eq!(after, before, "tend's fds grew; log:\n{}", t.log());
}

/// What an app wrote to {dir}/`file` once done: a word and milliseconds.
fn word_and_ms(t: &Running, file: &str) -> (String, f64) {
    assert!(
        wait_until(T, || !t.dir.read(file).is_empty()),
        "{}",
        t.log()
    );
    let result = t.dir.read(file);
    let (word, ms) = result.split_once(' ').unwrap();
    (word.to_string(), ms.parse().unwrap())
}

#[test]
fn barrier_is_acknowledged_at_once() {
    require_namespaces!();
    require_tool!("python3", "-V");
    // sd_notify_barrier(3) by hand: BARRIER=1 with the write end of a
    // pipe, then wait for POLLHUP on the read end (systemd gives up after
    // 5 s). {dir}/barrier gets "True MS" when it came, "False MS" if not.
    let toml = r#"
[tend]
log_format = "json"

[app.db]
notify = true
command = ["python3", "-c", '''
import os, select, socket, time
addr = os.environ['NOTIFY_SOCKET']
addr = '\0' + addr[1:] if addr.startswith('@') else addr
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(addr)
s.send(b'READY=1')
r, w = os.pipe()
t0 = time.monotonic()
socket.send_fds(s, [b'BARRIER=1'], [w])
os.close(w)
p = select.poll()
p.register(r, 0)
got = any(ev & select.POLLHUP for _, ev in p.poll(5000))
open('{dir}/barrier.tmp', 'w').write('%s %.2f' % (got, (time.monotonic() - t0) * 1000))
os.rename('{dir}/barrier.tmp', '{dir}/barrier')
time.sleep(600)
''']
"#;
    let t = Running::start("notify-barrier", toml);
    let (acked, ms) = word_and_ms(&t, "barrier");
    println!("FIGURE sd_notify BARRIER=1: acknowledged {acked} after {ms:.2} ms");
    assert_eq!(acked, "True", "no POLLHUP within 5 s; log:\n{}", t.log());
    assert!(ms < 1000.0, "the barrier took {ms} ms");
    t.wait_event("db", "ready", 1, T);
}

#[test]
fn systemd_notify_ready_returns_at_once() {
    require_namespaces!();
    require_tool!("systemd-notify", "--version");
    require_tool!("python3", "-V");
    // How an app without a native binding notifies: systemd-notify sends
    // READY=1, then waits on a barrier (up to 5 s, exit 1 when it times out).
    let toml = r#"
[tend]
log_format = "json"

[app.db]
notify = true
command = ["python3", "-c", '''
import os, subprocess, time
t0 = time.monotonic()
rc = subprocess.run(['systemd-notify', '--ready']).returncode
open('{dir}/notified.tmp', 'w').write('%d %.2f' % (rc, (time.monotonic() - t0) * 1000))
os.rename('{dir}/notified.tmp', '{dir}/notified')
time.sleep(600)
''']
"#;
    let t = Running::start("systemd-notify", toml);
    let (rc, ms) = word_and_ms(&t, "notified");
    println!("FIGURE systemd-notify --ready: exit {rc} after {ms:.2} ms");
    assert_eq!(rc, "0", "systemd-notify failed; log:\n{}", t.log());
    assert!(ms < 1000.0, "systemd-notify took {ms} ms");
    t.wait_event("db", "ready", 1, T);
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
