//! Sockets and restarts without downtime (DESIGN.md): tend binds `listen`
//! addresses itself and hands them to every instance as fds 3, 4, ... with
//! systemd's LISTEN_* variables; the sockets outlive the apps' runs, so a
//! connection made while no instance runs waits instead of being refused.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// A server that takes its socket from fd 3, checks the activation
/// variables, says so on stdout, and answers each connection with its
/// instance name and pid.
/// On SIGTERM it ends, after the connection it is serving, as a server
/// that drains does (the signal only wakes the select).
const SERVER: &str = r#"
import os, select, signal, socket
ok = os.environ.get("LISTEN_PID") == str(os.getpid())
print("activation", os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_FDNAMES"), "pid-ok" if ok else "pid-WRONG", flush=True)
r, w = os.pipe()
os.set_blocking(w, False)
signal.set_wakeup_fd(w)
signal.signal(signal.SIGTERM, lambda *_: None)
s = socket.socket(fileno=3)
s.setblocking(False)
while True:
    ready, _, _ = select.select([s, r], [], [])
    if r in ready:
        os._exit(0)
    try:
        c, _ = s.accept()
    except BlockingIOError:
        continue
    c.setblocking(True)
    c.recv(100)
    c.sendall(("%s %d\n" % (os.environ["TEND_APP"], os.getpid())).encode())
    c.close()
"#;

fn config(extra: &str) -> String {
    format!(
        "[app.web]\ncommand = [\"python3\", \"-c\", \'\'\'{SERVER}\'\'\']\nlisten = [\"unix:{{dir}}/run/web.sock\", \"unix:{{dir}}/run/admin.sock\"]\nlog = \"prefix\"\n{extra}"
    )
}

fn ask(path: &std::path::Path) -> String {
    let mut c = UnixStream::connect(path).expect("connect");
    c.set_read_timeout(Some(T)).unwrap();
    c.write_all(b"hi\n").unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("answer");
    answer
}

fn start(name: &str, extra: &str) -> Running {
    Running::start(name, &config(extra))
}

#[test]
fn every_instance_gets_the_same_sockets_and_its_own_listen_pid() {
    require_namespaces!();
    require_tool!("python3", "-V");
    let t = start("listen", "instances = 2\n");
    t.wait_for("activation", 2, T);
    let log = t.log();
    for i in 0..2 {
        assert!(
            log.contains(&format!("web.{i} | activation 2 web:web pid-ok")),
            "{log}"
        );
    }
    let sock = t.dir.join("run/web.sock");
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let answer = ask(&sock);
        seen.insert(answer.split_whitespace().next().unwrap_or("").to_string());
    }
    assert!(
        seen.iter().all(|n| n == "web.0" || n == "web.1"),
        "{seen:?}"
    );
}

#[test]
fn a_connection_made_while_no_instance_runs_waits_for_the_next_one() {
    require_namespaces!();
    require_tool!("python3", "-V");
    let t = start("backlog", "");
    t.wait_for("activation", 1, T);
    let first = ask(&t.dir.join("run/web.sock"));
    assert!(first.starts_with("web "), "{first}");
    assert!(t.ctl(&["stop", "web"]).status.success());
    // Nobody accepts now, but tend's socket still listens: the connection
    // is made and waits in the backlog.
    let mut c = UnixStream::connect(t.dir.join("run/web.sock")).expect("refused while stopped");
    c.write_all(b"hi\n").unwrap();
    assert!(t.ctl(&["start", "web"]).status.success());
    c.set_read_timeout(Some(T)).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).expect("answer");
    assert!(
        answer.starts_with("web ") && answer != first,
        "{answer} after {first}"
    );
}

#[test]
fn an_address_that_cannot_be_bound_fails_the_start_and_is_retried() {
    require_namespaces!();
    let t = Running::start(
        "bindfail",
        "[tend]\nlog_format = \"json\"\n[app.web]\ncommand = \"sleep 100\"\nlisten = [\"unix:{dir}/init.toml\"]\nrestart_delay = \"100ms\"\n",
    );
    // The config file itself is in the way.
    let fails = t.wait_event("web", "spawn_failed", 2, T);
    assert!(fails[0].contains("cannot listen on unix:"), "{fails:?}");
    assert!(fails[0].contains("not a socket"), "{fails:?}");
    std::fs::remove_file(t.dir.join("init.toml")).unwrap();
    t.wait_event("web", "started", 1, T);
    let kind = std::fs::symlink_metadata(t.dir.join("init.toml"))
        .unwrap()
        .file_type();
    assert!(
        std::os::unix::fs::FileTypeExt::is_socket(&kind),
        "bound once the way is clear"
    );
}

/// The child moves its sockets onto fds 3, 4, ...; a command that cannot
/// be exec'd is still a failed start, whatever fds tend has free down
/// there: here the pipes of `first` close while `web` retries, leaving
/// gaps among tend's low fds.
#[test]
fn a_missing_command_with_sockets_is_a_failed_start() {
    require_namespaces!();
    let t = Running::start(
        "execfail",
        r#"
[tend]
log_format = "json"
[app.first]
command = "sleep 0.5"
restart = "never"
log = "prefix"
instances = 3
[app.web]
command = ["/nonexistent/server"]
listen = ["unix:{dir}/a.sock", "unix:{dir}/b.sock", "unix:{dir}/c.sock", "unix:{dir}/d.sock", "unix:{dir}/e.sock", "unix:{dir}/f.sock"]
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 1000
"#,
    );
    t.wait_event("first.2", "exited", 1, T);
    let before = t.events("web", "spawn_failed").len();
    let fails = t.wait_event("web", "spawn_failed", before + 5, T);
    assert!(
        fails
            .iter()
            .all(|f| f.contains("cannot start \"/nonexistent/server\": No such file or directory")),
        "{fails:?}"
    );
    assert!(t.events("web", "started").is_empty(), "{}", t.log());
}

#[test]
fn a_restart_replaces_one_instance_at_a_time_and_loses_no_connection() {
    require_namespaces!();
    require_tool!("python3", "-V");
    let t = start("replace", "instances = 2\n[tend]\nlog_format = \"json\"\n");
    t.wait_for("activation", 2, T);
    let pids = |t: &Running| -> Vec<i64> {
        let s = status_json(t);
        ["web.0", "web.1"]
            .iter()
            .map(|n| app(&s, n)["pid"].as_i64().unwrap_or(0))
            .collect()
    };
    let before = pids(&t);
    let sock = t.dir.join("run/web.sock");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (sock, stop) = (sock.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u32, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let answer = UnixStream::connect(&sock).and_then(|mut c| {
                    c.set_read_timeout(Some(T))?;
                    c.write_all(b"hi\n")?;
                    let mut a = String::new();
                    c.read_to_string(&mut a)?;
                    Ok(a)
                });
                match answer {
                    Ok(a) if a.starts_with("web.") => ok += 1,
                    other => failed.push(format!("{other:?}")),
                }
            }
            (ok, failed)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let out = t.ctl(&["restart", "web"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed) = client.join().unwrap();
    assert!(
        failed.is_empty(),
        "{} of {} connections failed: {:?}",
        failed.len(),
        ok as usize + failed.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(ok > 10, "only {ok} connections");
    let after = pids(&t);
    assert!(
        after.iter().zip(&before).all(|(a, b)| a != b && *a > 0),
        "{before:?} -> {after:?}"
    );
    // One instance at a time: web.1's replacement begins only once
    // web.0's old run is gone.
    let order: Vec<String> = t
        .all_events()
        .into_iter()
        .filter(|e| matches!(e.name.as_str(), "replacing" | "replaced"))
        .map(|e| format!("{} {}", e.app, e.name))
        .collect();
    assert_eq!(
        order,
        [
            "web.0 replacing",
            "web.0 replaced",
            "web.1 replacing",
            "web.1 replaced"
        ],
        "{}",
        t.log()
    );
}
