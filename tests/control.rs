//! Operating a running tend through its control socket: status, start,
//! stop, restart, reload, access control, and clients that misbehave.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// The status entry of app `name`.
fn app(v: &Value, name: &str) -> Value {
    v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// The pid (inside the namespace) that app `name` wrote to {dir}/name.
fn own_pid(t: &Running, name: &str) -> i64 {
    t.dir
        .read(name)
        .lines()
        .last()
        .unwrap_or("")
        .parse()
        .unwrap_or(-1)
}

const TWO_APPS: &str = r#"
[app.web]
command = "echo $$ >> {dir}/$TEND_APP; exec sleep 600"
instances = 2

[app.db]
command = "echo $$ >> {dir}/db; exec sleep 600"
"#;

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
            "APP", "STATE", "PID", "UPTIME", "RESTARTS", "RSS", "LAST", "EXIT"
        ]
    );
    let db = text.lines().find(|l| l.starts_with("db ")).unwrap();
    let cells: Vec<&str> = db.split_whitespace().collect();
    assert_eq!(cells[1], "running");
    assert_eq!(cells[2], own_pid(&t, "db").to_string());
}

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
fn status_check_exit_codes() {
    require_namespaces!();
    let t = Running::start(
        "check",
        "[app.up]\ncommand = \"exec sleep 600\"\n[app.flaky]\ncommand = \"exit 1\"\nrestart_delay = \"10s\"\n",
    );
    t.wait_socket();
    t.wait_for("app=flaky: restarting in 10s", 1, T);
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

#[test]
fn other_users_are_refused() {
    require_namespaces!(root, "to act as another user");
    let t = Running::start("refused", "[app.a]\ncommand = \"exec sleep 600\"\n");
    t.wait_socket();
    let socket = t.dir.join("tend.sock");
    let as_nobody = || {
        let mut cmd = Command::new(tend_bin());
        cmd.args(["status"])
            .env("TEND_SOCKET", &socket)
            .uid(65534)
            .gid(65534);
        output_or_kill(cmd, T)
    };
    std::fs::set_permissions(
        t.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    // The file mode stops nobody at connect(2) ...
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    // ... and with the mode opened up, SO_PEERCRED still does.
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permission denied: uid 65534 may not control this tend"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn silent_clients_do_not_delay_supervision() {
    require_namespaces!();
    let t = Running::start(
        "silent",
        "[app.crash]\ncommand = \"echo run >> {dir}/runs; sleep 0.1; exit 1\"\nrestart_delay = \"0s\"\nmax_restarts = 1000\n",
    );
    t.wait_socket();
    let socket = t.dir.join("tend.sock");
    // More idle clients than tend serves at once, one sending half a line.
    let mut idle: Vec<UnixStream> = (0..20)
        .filter_map(|_| UnixStream::connect(&socket).ok())
        .collect();
    idle[0].write_all(b"{\"cmd\":").unwrap();
    let runs = || t.dir.read("runs").lines().count();
    let start = runs();
    assert!(
        wait_until(Duration::from_secs(5), || runs() >= start + 5),
        "restarts stalled: {}",
        t.log()
    );
    // Idle clients are dropped after the client timeout, and the socket
    // still answers.
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let n = idle[0].read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "an idle client is hung up on, not answered");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    assert!(t.ctl(&["status"]).status.success());

    // A flood without a newline is cut off with an error.
    let mut flood = UnixStream::connect(&socket).unwrap();
    let _ = flood.write_all(&vec![b'x'; 100_000]);
    let mut reply = String::new();
    let _ = flood.read_to_string(&mut reply);
    assert!(reply.contains("request longer than 4096 bytes"), "{reply}");
}

#[test]
fn a_stopped_app_keeps_tend_up_and_can_be_started_while_stopping() {
    require_namespaces!();
    let t = Running::start(
        "last-app",
        "[app.only]\ncommand = \"trap 'sleep 0.5; exit 0' TERM; while :; do sleep 0.05; done\"\n",
    );
    t.wait_socket();
    assert!(t.ctl(&["stop", "only"]).status.success());
    t.wait_for("app=only: stopped", 1, T);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        t.ctl(&["status"]).status.success(),
        "tend exited with its only app stopped:\n{}",
        t.log()
    );
    assert!(t.ctl(&["start", "only"]).status.success());
    assert!(wait_until(T, || app(&status_json(&t), "only")["state"] == "running"));
    // start during a slow stop: started again once stopped.
    assert!(t.ctl(&["stop", "only"]).status.success());
    assert!(t.ctl(&["start", "only"]).status.success());
    assert!(
        wait_until(T, || t.count("app=only: started") == 3),
        "{}",
        t.log()
    );
    assert!(wait_until(T, || app(&status_json(&t), "only")["state"] == "running"));
}

#[test]
fn clients_that_hang_up_cost_nothing() {
    require_namespaces!();
    let t = Running::start("hangup", "[app.a]\ncommand = \"exec sleep 600\"\n");
    t.wait_socket();
    let tend = t.pid();
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{tend}/stat")).unwrap();
        let f: Vec<String> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .map(String::from)
            .collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    for _ in 0..20 {
        drop(UnixStream::connect(t.dir.join("tend.sock")).unwrap());
    }
    // A request without a newline, ended by closing the write side.
    let mut half = UnixStream::connect(t.dir.join("tend.sock")).unwrap();
    half.write_all(b"{\"cmd\":\"status\"}").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    half.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("\"ok\":true"), "{reply}");
    std::thread::sleep(Duration::from_millis(1500));
    let ticks = cpu() - before;
    assert!(
        ticks < 20,
        "tend burnt {ticks} ticks of CPU on clients that hung up"
    );
}

#[test]
fn supplementary_members_of_socket_group_may_control() {
    require_namespaces!(root, "to act as another user");
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv (util-linux) is not installed");
        return;
    }
    let t = Running::start(
        "suppl",
        "[tend]\nsocket_group = 65534\n[app.a]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    std::fs::set_permissions(
        t.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=4242",
        "--regid=4242",
        "--groups=65534",
        tend_bin(),
        "status",
    ])
    .env("TEND_SOCKET", t.dir.join("tend.sock"));
    let out = output_or_kill(cmd, T);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn client_commands_fail_fast_with_no_tend_running() {
    let dir = TempDir::new("nosock");
    let missing = dir.join("missing.sock");
    // A stale socket: bound once, nobody listening any more.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for path in [&missing, &stale] {
        for args in [&["status"][..], &["stop", "web"], &["reload"]] {
            let started = Instant::now();
            let mut cmd = Command::new(tend_bin());
            cmd.args(args).env("TEND_SOCKET", path);
            let out = output_or_kill(cmd, T);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                stderr(&out).contains("cannot reach a running tend"),
                "{}",
                stderr(&out)
            );
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }
}

#[test]
fn socket_group_members_may_control() {
    require_namespaces!(root, "to act as another user");
    let t = Running::start(
        "group",
        "[tend]\nsocket_group = 65534\n[app.a]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    std::fs::set_permissions(
        t.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let socket = t.dir.join("tend.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o660
    );
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), 65534);
    let as_user = |gid: u32| {
        let mut cmd = Command::new(tend_bin());
        cmd.args(["status"])
            .env("TEND_SOCKET", &socket)
            .uid(4242)
            .gid(gid);
        output_or_kill(cmd, T)
    };
    let member = as_user(65534);
    assert!(member.status.success(), "{}", stderr(&member));
    assert!(stdout(&member).contains("running"));
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let other = as_user(4242);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        stderr(&other).contains("permission denied: uid 4242"),
        "{}",
        stderr(&other)
    );
}
