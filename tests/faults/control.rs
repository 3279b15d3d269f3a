//! Fault injection: control. Floods of clients, clients that say nothing,
//! requests far over the size cap and requests that make no sense, against
//! a tend supervising a crash-looping app: supervision must not slow down,
//! tend must stay small, and every bad request must get a reply that says
//! what is wrong.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::storms::kb;
use crate::util::*;

const T: Duration = Duration::from_secs(20);
/// What `tend status` may take once a flood is over.
const STATUS_BOUND: Duration = Duration::from_secs(1);
/// From src/control/: connections served at once, request cap, client
/// timeout.
const MAX_CONNECTIONS: usize = 16;
const MAX_REQUEST: usize = 4096;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// A crash loop: a run is 0.1 s, then 0.1 s of delay (no backoff); each
/// run writes a line to {dir}/runs. And an app that just sleeps.
const CRASH_LOOP: &str = r#"
[app.crash]
command = "echo run >> {dir}/runs; sleep 0.1; exit 1"
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 10000

[app.idle]
command = "exec sleep 600"
"#;

/// Client connections tend holds: its socket fds whose inode
/// /proc/net/unix lists under the control socket's path (accepted sockets
/// carry the listener's address), less the listener itself. Sockets tend
/// makes for other ends (spawning an app) have no path.
fn clients_held(pid: u32, sock: &Path) -> usize {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap();
    let ours: std::collections::HashSet<&str> = table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 8 && Path::new(f[7]) == sock).then_some(f[6])
        })
        .collect();
    let held = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    std::fs::read_link(e.path()).is_ok_and(|l| {
                        l.to_string_lossy()
                            .strip_prefix("socket:[")
                            .and_then(|r| r.strip_suffix(']'))
                            .is_some_and(|ino| ours.contains(ino))
                    })
                })
                .count()
        })
        .unwrap_or(0);
    held.saturating_sub(1)
}

/// name -> pid of every app, from a status reply.
fn pids(v: &Value) -> Vec<(String, Value)> {
    v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_string(), a["pid"].clone()))
        .collect()
}

/// One raw request: sends `bytes`, reads until EOF or a newline, with a
/// deadline; the reply as text.
fn ask_raw(sock: &Path, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.ends_with(b"\n") {
                    break;
                }
            }
            Err(e) => panic!("no reply to {:?}: {e}", String::from_utf8_lossy(bytes)),
        }
    }
    String::from_utf8(reply).unwrap()
}

/// Crash runs so far (lines tend logged as `app=crash: started`).
fn started(t: &Running) -> usize {
    t.count("app=crash: started")
}

#[test]
fn a_hundred_clients_at_once_are_served_sixteen_at_a_time_and_restarts_go_on() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start("ctl-flood", CRASH_LOOP);
    t.wait_socket();
    let tend = t.pid();
    let sock = t.dir.join("tend.sock");
    let (before, _) = status_timed(&t);
    // The crash loop's own rate, undisturbed.
    let s0 = started(&t);
    std::thread::sleep(Duration::from_secs(2));
    let base_rate = (started(&t) - s0) as f64 / 2.0;

    // Rounds of 100 connections, about 0.35 s each.
    const ROUNDS: usize = 8;
    let flood = Instant::now();
    let s1 = started(&t);
    let (mut worst, mut served, mut held_max) = (Duration::ZERO, 0, 0);
    for round in 0..ROUNDS {
        // 100 connections at once: none refused (they wait in the listen
        // backlog), 16 accepted.
        let mut clients: Vec<UnixStream> = (0..100)
            .map(|i| {
                UnixStream::connect(&sock)
                    .unwrap_or_else(|e| panic!("round {round}: connection {i} refused: {e}"))
            })
            .collect();
        // Under the 250 ms after which a silent slot goes to a waiting
        // client (tests below).
        std::thread::sleep(Duration::from_millis(150));
        let held = clients_held(tend, &sock);
        held_max = held_max.max(held);
        assert_eq!(
            held, MAX_CONNECTIONS,
            "round {round}: tend holds {held} client connections with 100 waiting"
        );
        // Then all 100 ask at once; every one gets its answer.
        let sent = Instant::now();
        for c in &mut clients {
            c.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
            c.set_nonblocking(true).unwrap();
        }
        let mut replies: Vec<Option<(Vec<u8>, Duration)>> = vec![None; clients.len()];
        let mut bufs: Vec<Vec<u8>> = vec![Vec::new(); clients.len()];
        let mut buf = [0u8; 8192];
        while replies.iter().any(Option::is_none) && sent.elapsed() < T {
            for (i, c) in clients.iter_mut().enumerate() {
                if replies[i].is_some() {
                    continue;
                }
                match c.read(&mut buf) {
                    Ok(0) => replies[i] = Some((std::mem::take(&mut bufs[i]), sent.elapsed())),
                    Ok(n) => {
                        bufs[i].extend_from_slice(&buf[..n]);
                        if bufs[i].ends_with(b"\n") {
                            replies[i] = Some((std::mem::take(&mut bufs[i]), sent.elapsed()));
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(e) => panic!("round {round}: client {i}: {e}"),
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        for (i, r) in replies.iter().enumerate() {
            let (text, took) = r
                .as_ref()
                .unwrap_or_else(|| panic!("client {i} unanswered"));
            let v: Value = serde_json::from_slice(text)
                .unwrap_or_else(|e| panic!("client {i}: {e}: {text:?}"));
            assert_eq!(v["ok"], true, "client {i}: {v}");
            assert_eq!(v["apps"].as_array().map(Vec::len), Some(2), "{v}");
            worst = worst.max(*took);
            served += 1;
        }
    }
    let secs = flood.elapsed().as_secs_f64();
    let during = started(&t) - s1;
    let rate = during as f64 / secs;
    // Once the flood is over, a plain client answers at once, nothing was
    // restarted by it, and every slot is free again.
    let (after, took) = status_timed(&t);
    assert!(took < STATUS_BOUND, "status after the flood took {took:?}");
    assert_eq!(
        pids(&before)
            .into_iter()
            .filter(|(n, _)| n == "idle")
            .collect::<Vec<_>>(),
        pids(&after)
            .into_iter()
            .filter(|(n, _)| n == "idle")
            .collect::<Vec<_>>()
    );
    assert!(
        wait_until(Duration::from_secs(5), || clients_held(tend, &sock) == 0),
        "tend still holds {} client sockets",
        clients_held(tend, &sock)
    );
    // A run takes 0.1 s plus a 0.1 s delay: about 5 a second; the flood
    // must not halve that.
    assert!(base_rate >= 2.0, "crash ran only {base_rate}/s undisturbed");
    assert!(
        rate >= base_rate / 2.0,
        "restarts slowed from {base_rate:.1}/s to {rate:.1}/s during the flood:\n{}",
        t.log()
    );
    // Rounds of 100 answers take a fraction of the client timeout.
    assert!(worst < CLIENT_TIMEOUT, "an answer took {worst:?}");
    println!(
        "FIGURE control-flood: {ROUNDS} x 100 clients at once, {held_max} accepted at a time, \
         {served} answered, worst {} ms; crash restarts {base_rate:.1}/s before, \
         {rate:.1}/s during ({during} in {secs:.1} s); status after {} ms",
        worst.as_millis(),
        took.as_millis()
    );
}

/// Holds `n` connections that send nothing; returns when each was hung up
/// on (relative to the connect), checking that tend never holds more than
/// 16 and that none gets data. Also sends, after the idle ones, one status
/// request and reports when it was answered.
fn hold_idle(t: &Running, n: usize) -> (Vec<Duration>, Duration, usize) {
    let tend = t.pid();
    let sock = t.dir.join("tend.sock");
    let start = Instant::now();
    let mut idle: Vec<UnixStream> = (0..n)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    for c in &idle {
        c.set_nonblocking(true).unwrap();
    }
    // One real request behind them, answered once it reaches the front.
    let asker = {
        let sock = sock.clone();
        std::thread::spawn(move || {
            let asked = Instant::now();
            let reply = ask_raw(&sock, b"{\"cmd\":\"status\"}\n");
            (reply, asked.elapsed())
        })
    };
    let mut gone: Vec<Option<Duration>> = vec![None; n];
    let mut held_max = 0;
    let mut buf = [0u8; 64];
    while gone.iter().any(Option::is_none) && start.elapsed() < T {
        let held = clients_held(tend, &sock);
        held_max = held_max.max(held);
        for (i, c) in idle.iter_mut().enumerate() {
            if gone[i].is_some() {
                continue;
            }
            match c.read(&mut buf) {
                Ok(0) => gone[i] = Some(start.elapsed()),
                Ok(k) => panic!(
                    "idle client {i} got an answer: {:?}",
                    String::from_utf8_lossy(&buf[..k])
                ),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("idle client {i}: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (reply, waited) = asker.join().unwrap();
    assert!(reply.contains("\"ok\":true"), "{reply}");
    let gone: Vec<Duration> = gone
        .into_iter()
        .enumerate()
        .map(|(i, g)| g.unwrap_or_else(|| panic!("idle client {i} never hung up on")))
        .collect();
    (gone, waited, held_max)
}

#[test]
fn fifty_silent_clients_give_way_to_a_real_one_and_are_dropped() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start("ctl-idle", CRASH_LOOP);
    t.wait_socket();
    let (before, _) = status_timed(&t);
    let s0 = started(&t);
    let window = Instant::now();
    let (gone, waited, held_max) = hold_idle(&t, 50);
    let secs = window.elapsed().as_secs_f64();
    let during = started(&t) - s0;
    let rate = during as f64 / secs;
    // 16 slots; while clients wait in the backlog, a slot held silent for
    // 250 ms goes to the next one; the rest go at the 2 s client timeout.
    let first = *gone.iter().min().unwrap();
    let last = *gone.iter().max().unwrap();
    assert!(held_max <= MAX_CONNECTIONS, "tend held {held_max} at once");
    assert!(
        first >= Duration::from_millis(200),
        "an idle client was dropped after {first:?}"
    );
    assert!(
        last <= CLIENT_TIMEOUT + Duration::from_secs(2),
        "the last idle client was dropped after {last:?}"
    );
    // The status request queued behind them got a slot promptly.
    assert!(waited < Duration::from_millis(1500), "{waited:?}");
    // Supervision went on at its pace (about 5 runs a second).
    assert!(
        rate >= 2.0,
        "{during} restarts in {secs:.1} s of idle clients:\n{}",
        t.log()
    );
    let (after, took) = status_timed(&t);
    assert!(took < STATUS_BOUND, "status took {took:?}");
    let idle_pid = |v: &Value| pids(v).into_iter().find(|(n, _)| n == "idle").unwrap();
    assert_eq!(idle_pid(&before), idle_pid(&after));
    println!(
        "FIGURE control-idle: 50 silent clients, {held_max} held at a time, dropped after \
         {:.2}..{:.2} s; a status queued behind them answered after {:.2} s; \
         crash restarts {rate:.1}/s meanwhile ({during} in {secs:.1} s)",
        first.as_secs_f64(),
        last.as_secs_f64(),
        waited.as_secs_f64()
    );
}

#[test]
fn tend_status_answers_while_fifty_silent_clients_are_held() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start("ctl-idle-cli", CRASH_LOOP);
    t.wait_socket();
    let sock = t.dir.join("tend.sock");
    let _idle: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(&sock).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let out = t.ctl(&["status"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "tend status failed after {took:?}: {}",
        stderr(&out)
    );
}

#[test]
fn requests_of_10_mb_without_a_newline_are_cut_off_at_4_kib() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start("ctl-huge", CRASH_LOOP);
    t.wait_socket();
    let tend = t.pid();
    let sock = t.dir.join("tend.sock");
    let (before, _) = status_timed(&t);
    let hwm_before = kb(tend, "VmHWM");
    // 20 clients at once (more than are served at a time), each sending
    // 10 MB of 'x' without a newline.
    const SIZE: usize = 10 << 20;
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let sock = sock.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&sock).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let chunk = vec![b'x'; 64 << 10];
                let mut sent = 0;
                let mut error = None;
                while sent < SIZE {
                    match s.write(&chunk) {
                        Ok(n) => sent += n,
                        Err(e) => {
                            error = Some(e.kind());
                            break;
                        }
                    }
                }
                let mut reply = String::new();
                let _ = s.read_to_string(&mut reply);
                (sent, error, reply, started.elapsed())
            })
        })
        .collect();
    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let hwm = kb(tend, "VmHWM");
    let mut most = 0;
    let mut slowest = Duration::ZERO;
    for (i, (sent, error, reply, took)) in results.iter().enumerate() {
        // src/control/server.rs: over MAX_REQUEST bytes without a newline, tend
        // answers an error and closes the connection.
        let v: Value = serde_json::from_str(reply)
            .unwrap_or_else(|e| panic!("client {i}: {e}: {reply:?} after {sent} bytes"));
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(
            v["error"],
            format!("request longer than {MAX_REQUEST} bytes"),
            "{v}"
        );
        assert!(
            reply.ends_with('\n') && reply.lines().count() == 1,
            "{reply:?}"
        );
        // The writer was stopped by the close (EPIPE), long before 10 MB.
        assert!(
            error.is_some() && *sent < SIZE / 4,
            "client {i}: {sent} bytes, {error:?}"
        );
        most = most.max(*sent);
        slowest = slowest.max(*took);
    }
    assert!(slowest < CLIENT_TIMEOUT * 3, "a client waited {slowest:?}");
    assert!(hwm < 8 * 1024, "tend's VmHWM {hwm} KB");
    assert!(
        hwm < hwm_before + 1024,
        "tend's VmHWM grew from {hwm_before} to {hwm} KB"
    );
    let (after, took) = status_timed(&t);
    assert!(took < STATUS_BOUND, "status took {took:?}");
    let idle_pid = |v: &Value| pids(v).into_iter().find(|(n, _)| n == "idle").unwrap();
    assert_eq!(idle_pid(&before), idle_pid(&after));
    println!(
        "FIGURE control-10mb: 20 clients x 10 MB without a newline: all cut off with \
         \"request longer than 4096 bytes\" after at most {} KB sent, slowest {} ms; \
         tend VmHWM {hwm_before} -> {hwm} KB",
        most / 1024,
        slowest.as_millis()
    );
}

#[test]
fn nonsense_requests_get_replies_naming_what_is_wrong() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start(
        "ctl-nonsense",
        r#"
[app.web]
command = "exec sleep 600"
instances = 2

[app.db]
command = "exec sleep 600"
"#,
    );
    t.wait_socket();
    let tend = t.pid();
    let sock = t.dir.join("tend.sock");
    let (before, _) = status_timed(&t);
    let long_name = "n".repeat(3000);
    let long_request = format!("{{\"cmd\":\"stop\",\"name\":\"{long_name}\"}}\n");
    // (request, pieces the error must contain)
    let cases: Vec<(Vec<u8>, Vec<&str>)> = vec![
        (
            b"not json\n".to_vec(),
            vec!["invalid request", "line 1 column"],
        ),
        (b"\n".to_vec(), vec!["invalid request", "EOF"]),
        (
            b"{\"cmd\":\"status\"\n".to_vec(),
            vec!["invalid request", "EOF"],
        ),
        (
            b"[\"status\"]\n".to_vec(),
            vec!["invalid request", "expected a JSON object", "got an array"],
        ),
        (
            b"{}\n".to_vec(),
            vec!["invalid request", "missing field \"cmd\""],
        ),
        (
            b"{\"cmd\":\"explode\"}\n".to_vec(),
            vec![
                "unknown command \"explode\"",
                "status, start, stop, restart",
            ],
        ),
        (
            b"{\"cmd\":\"STATUS\"}\n".to_vec(),
            vec!["unknown command \"STATUS\""],
        ),
        (
            b"{\"cmd\":\"stop\",\"name\":\"nosuch\"}\n".to_vec(),
            vec!["no app named \"nosuch\"", "web.0, web.1, db"],
        ),
        (
            b"{\"cmd\":\"restart\",\"name\":\"web.7\"}\n".to_vec(),
            vec!["no app named \"web.7\""],
        ),
        (
            b"{\"cmd\":\"start\",\"name\":\"\"}\n".to_vec(),
            vec!["no app named \"\""],
        ),
        (
            b"{\"cmd\":\"stop\",\"name\":\"a\\nb\"}\n".to_vec(),
            vec!["no app named \"a\\nb\""],
        ),
        (long_request.into_bytes(), vec!["no app named \"nnnn"]),
        (
            b"{\"cmd\":\"stop\"}\n".to_vec(),
            vec!["stop needs \"name\""],
        ),
        (
            b"{\"cmd\":\"status\",\"name\":\"web\"}\n".to_vec(),
            vec!["status takes no \"name\""],
        ),
        (
            b"{\"cmd\":5}\n".to_vec(),
            vec!["\"cmd\" must be a string", "a number (5)"],
        ),
        (
            b"{\"cmd\":\"stop\",\"name\":7}\n".to_vec(),
            vec!["\"name\" must be a string", "a number (7)"],
        ),
        (
            b"{\"cmd\":\"stop\",\"name\":[\"web\"]}\n".to_vec(),
            vec!["\"name\" must be a string", "an array"],
        ),
        (
            b"{\"cmd\":null}\n".to_vec(),
            vec!["\"cmd\" must be a string", "null"],
        ),
        (
            b"{\"cmd\":\"status\",\"force\":true}\n".to_vec(),
            vec!["unknown field \"force\""],
        ),
        (
            b"{\"cmd\":\"status\",\"cmd\":\"stop\"}\n".to_vec(),
            vec!["duplicate field `cmd`"],
        ),
        (
            b"{\"cmd\":\"status\"}{\"cmd\":\"stop\",\"name\":\"db\"}\n".to_vec(),
            vec!["invalid request", "trailing characters"],
        ),
        (
            b"{\"cmd\":\"stop\",\"name\":\"\xff\"}\n".to_vec(),
            vec!["invalid request", "unicode"],
        ),
        (
            b"{\"cmd\":\"poweroff\"}\n".to_vec(),
            vec!["not the init of a VM"],
        ),
        (
            b"{\"cmd\":\"reboot\"}\n".to_vec(),
            vec!["not the init of a VM"],
        ),
    ];
    let mut worst = Duration::ZERO;
    for (req, want) in &cases {
        let asked = Instant::now();
        let reply = ask_raw(&sock, req);
        worst = worst.max(asked.elapsed());
        let shown = String::from_utf8_lossy(req);
        assert!(
            reply.ends_with('\n') && reply.lines().count() == 1,
            "{shown:?}: not one line: {reply:?}"
        );
        let v: Value = serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{shown:?}: {e}"));
        assert_eq!(v["ok"], false, "{shown:?}: {v}");
        let error = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{shown:?}: {v}"));
        for piece in want {
            assert!(
                error.contains(piece),
                "{shown:?}: the error {error:?} does not say {piece:?}"
            );
        }
    }
    // A good request after a bad line on the same connection is not read:
    // one request per connection, and the first line decides.
    let reply = ask_raw(&sock, b"bogus\n{\"cmd\":\"stop\",\"name\":\"db\"}\n");
    assert!(reply.contains("invalid request"), "{reply}");
    // The client says the same on stderr, exit 1.
    let out = t.ctl(&["restart", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no app named \"nosuch\" (apps: web.0, web.1, db)"),
        "{}",
        stderr(&out)
    );
    // Nothing was stopped or restarted, tend is up.
    let (after, took) = status_timed(&t);
    assert_eq!(pids(&before), pids(&after));
    assert!(
        after["apps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["restarts"] == 0 && a["state"] == "running"),
        "{after}"
    );
    assert!(took < STATUS_BOUND);
    assert!(Path::new(&format!("/proc/{tend}")).exists());
    assert_eq!(t.count("stopping"), 0, "{}", t.log());
    println!(
        "FIGURE control-nonsense: {} bad requests, each answered with its error, worst {} ms; \
         app pids unchanged",
        cases.len() + 1,
        worst.as_millis()
    );
}

#[test]
fn a_json_array_is_not_a_request() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start("ctl-array", "[app.db]\ncommand = \"exec sleep 600\"\n");
    t.wait_socket();
    let sock = t.dir.join("tend.sock");
    let (before, _) = status_timed(&t);
    // The protocol is one JSON object per line (src/control/protocol.rs).
    let stop = ask_raw(&sock, b"[\"stop\",\"db\"]\n");
    let short = ask_raw(&sock, b"[\"status\"]\n");
    std::thread::sleep(Duration::from_millis(300));
    let (after, _) = status_timed(&t);
    assert_eq!(pids(&before), pids(&after), "db was stopped by {stop}");
    assert!(stop.contains("\"ok\":false"), "{stop}");
    assert!(!short.contains("RawRequest"), "{short}");
}
