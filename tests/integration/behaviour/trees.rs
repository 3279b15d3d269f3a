//! Process groups and trees: each app runs in its own session; an app is
//! its whole tree (setsid escapees and orphans too), which stop signals,
//! SIGKILL and memory limits reach; leftovers of an exited main process are
//! stopped before a restart, and get SIGTERM when wrapper mode's child
//! exits; a memory-limit restart happens whatever the restart policy.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn child_is_pid2_in_its_own_session_when_no_terminal() {
    require_namespaces!();
    // Fields 1, 5, 6 of /proc/self/stat: pid, pgrp, session.
    let out = output_or_kill(
        tend_pid1([
            "--",
            "sh",
            "-c",
            "read -r l < /proc/self/stat; set -- $l; echo $1 $5 $6",
        ])
        .stdin(Stdio::null()),
        T,
    );
    assert_eq!(stdout(&out).trim(), "2 2 2", "{}", stderr(&out));
}

#[test]
fn sigterm_reaches_child_and_grandchild_under_sh_c() {
    require_namespaces!();
    let dir = TempDir::new("term");
    let log = dir.join("log");
    let log = log.display();
    // The grandchild is a separate sh under the child's sh, in the same group.
    let script = format!(
        "sh -c 'trap \"echo grandchild >> {log}; exit 0\" TERM; echo up >> {log}; while :; do sleep 0.05; done' &
         trap 'echo child >> {log}; wait; exit 5' TERM
         while :; do sleep 0.05; done"
    );
    let mut child = tend_pid1(["--", "sh", "-c", &script])
        .spawn()
        .expect("spawn");
    let tend = pid1_of(&child);
    assert!(
        wait_until(T, || dir.read("log").contains("up")),
        "grandchild never started"
    );
    signal(tend, libc::SIGTERM);
    let status = wait_or_kill(&mut child, T);
    assert_eq!(
        status.code(),
        Some(5),
        "the child's own exit code after its TERM trap"
    );
    let log = dir.read("log");
    assert!(log.contains("child"), "child got no TERM: {log}");
    assert!(log.contains("grandchild"), "grandchild got no TERM: {log}");
}

#[test]
fn an_app_ignoring_term_is_killed_with_its_escaped_grandchildren() {
    // Not PID 1: what is left after tend exits must be gone because tend
    // killed it, not because the namespace went down.
    let dir = TempDir::new("stubborn");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            r#"
[app.stubborn]
command = """
trap '' TERM
setsid sh -c 'echo $$ > {d}/escaped; while :; do sleep 0.1; done' &
sh -c 'echo $$ > {d}/grandchild; while :; do sleep 0.1; done' &
echo $$ > {d}/main
while :; do sleep 0.1; done
"""
stop_timeout = "1s"
"#
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let mut child = tend(["-c", &dir.join("init.toml").display().to_string()])
        .stderr(log)
        .spawn()
        .expect("spawn");
    let files = ["main", "escaped", "grandchild"];
    assert!(wait_until(T, || files
        .iter()
        .all(|f| dir.read(f).ends_with('\n'))));
    let pids: Vec<u32> = files
        .iter()
        .map(|f| dir.read(f).trim().parse().unwrap())
        .collect();
    let started = Instant::now();
    signal(child.id(), libc::SIGTERM);
    let mut status = None;
    wait_until(T, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let took = started.elapsed();
    let Some(status) = status else {
        let tree = std::process::Command::new("ps")
            .args(["-o", "pid,ppid,pgid,sid,stat,cmd", "--forest", "-g"])
            .arg(pids[0].to_string())
            .output()
            .unwrap();
        let _ = child.kill();
        for pid in &pids {
            unsafe { libc::kill(*pid as i32, libc::SIGKILL) };
        }
        panic!(
            "tend did not exit; pids {pids:?}\n{}\n{}",
            dir.read("log"),
            String::from_utf8_lossy(&tree.stdout)
        );
    };
    assert_eq!(status.code(), Some(0));
    assert!(
        took >= Duration::from_millis(900),
        "stop_timeout is 1s: {took:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "stop_timeout + 1s at most: {took:?}"
    );
    for pid in pids {
        let alive = status_field(pid, "State").is_some_and(|s| !s.starts_with('Z'));
        assert!(!alive, "pid {pid} survived the stop");
    }
}

#[test]
fn as_pid1_leftovers_nobody_can_attribute_are_stopped_at_shutdown() {
    require_namespaces!();
    // The daemon leaves its session and its environment: no app claims it.
    let mut t = Running::start(
        "leftover-pid1",
        r#"
[app.spawner]
command = "(env -i setsid sh -c 'echo $$ > {dir}/daemon; exec sleep 60' &); exec sleep 60"
"#,
    );
    assert!(wait_until(T, || !t.dir.read("daemon").is_empty()));
    let started = Instant::now();
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        t.count("sending SIGTERM to the remaining processes"),
        1,
        "{}",
        t.log()
    );
    assert_eq!(
        t.count("sending SIGKILL"),
        0,
        "sleep dies of TERM: {}",
        t.log()
    );
}

#[test]
fn leftovers_of_an_exited_main_are_stopped_before_a_restart() {
    // Text log on purpose: this test keeps the wording of the stopping lines
    // checked; most tests read JSON events (`t.events`).
    let dir = TempDir::new("leftover");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            r#"
[app.daemonish]
command = "echo run >> {d}/runs; setsid sh -c 'echo $$ >> {d}/escaped; exec sleep 60' & sleep 0.2; exit 0"
restart_delay = "0s"
max_restarts = 1
"#
        ),
    )
    .unwrap();
    let out = output_or_kill(
        tend(["-c", &dir.join("init.toml").display().to_string()]),
        T,
    );
    let log = stderr(&out);
    assert_eq!(dir.read("runs").lines().count(), 2, "{log}");
    assert_eq!(
        log.matches("stopping what is left of its tree").count(),
        2,
        "{log}"
    );
    for pid in dir.read("escaped").lines() {
        let alive =
            status_field(pid.parse().unwrap(), "State").is_some_and(|s| !s.starts_with('Z'));
        assert!(!alive, "escaped pid {pid} outlived its app: {log}");
    }
    // A run ended by itself with code 0 and restart always: then failed
    // after max_restarts, so exit 1.
    assert_eq!(out.status.code(), Some(1), "{log}");
}

#[test]
fn a_leftover_known_only_by_its_session_is_stopped_after_the_main_exits() {
    // `env -i` clears TEND_APP: the leftover is the app's only by the
    // session it stayed in. Not PID 1, so nothing else would stop it.
    let dir = TempDir::new("leftover-session");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            r#"
[tend]
log_format = "json"

[app.quiet]
command = "env -i /bin/sh -c 'echo $$ > {d}/left; exec sleep 60' & sleep 0.3; exit 0"
restart = "never"
"#
        ),
    )
    .unwrap();
    let out = output_or_kill(
        tend(["-c", &dir.join("init.toml").display().to_string()]),
        T,
    );
    let log = stderr(&out);
    let stopping: Vec<_> = events_in(&log)
        .into_iter()
        .filter(|e| e.app == "quiet" && e.name == "stopping")
        .collect();
    assert_eq!(stopping.len(), 1, "{log}");
    let pid: u32 = dir.read("left").trim().parse().unwrap();
    let alive = status_field(pid, "State").is_some_and(|s| !s.starts_with('Z'));
    assert!(!alive, "the leftover {pid} outlived its app: {log}");
    assert_eq!(out.status.code(), Some(0), "{log}");
}

#[test]
fn a_150m_grandchild_over_max_memory_64m_is_restarted() {
    require_namespaces!();
    // Text log on purpose: this test keeps the wording of the memory_limit,
    // started and exited lines checked; most tests read JSON events
    // (`t.events`).
    // dd fills a 150M buffer, then blocks writing to sleep, which never reads.
    let t = Running::start(
        "memory",
        r#"
[tend]
poll_interval = "200ms"

[app.hog]
command = "echo run >> {dir}/runs; dd if=/dev/zero bs=150M count=1 2>/dev/null | sleep 60"
max_memory = "64M"
restart = "never"
stop_timeout = "2s"
"#,
    );
    t.wait_for("app=hog: memory limit: rss ", 1, T);
    t.wait_for("app=hog: started", 2, T);
    assert!(wait_until(T, || t.dir.read("runs").lines().count() == 2));
    let line = t
        .log()
        .lines()
        .find(|l| l.contains("memory limit"))
        .unwrap()
        .to_string();
    assert!(line.contains("> 64M, restarting"), "{line}");
    let rss: f64 = line
        .split("rss ")
        .nth(1)
        .unwrap()
        .split('M')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // dd (a grandchild) holds the memory: the whole tree was measured.
    assert!(rss > 64.0, "{line}");
    assert_eq!(
        t.dir.read("runs").lines().count(),
        2,
        "restarted despite restart = never"
    );
    assert!(
        t.count("killed by SIGTERM") >= 1,
        "graceful stop first: {}",
        t.log()
    );
}

/// `tend -- sh -c ...` (as PID 1 when `pid1`) whose child leaves behind a
/// `sleep 100` in its group, a setsid'd `sleep 101`, and two sh that say
/// when they get TERM (one in the group, one setsid'd), then exits 0 once
/// the test watches the sleeps. tend must exit at once, with 0, after a
/// SIGTERM to each of them.
fn wrapper_leftovers_get_sigterm(pid1: bool) {
    let dir = TempDir::new("leftovers");
    let log = dir.join("log");
    let log = log.display();
    let go = dir.join("go");
    // Each gives up after about 30 s: a failed test leaves nothing for long.
    let trapper = |tag: &str| {
        format!(
            "sh -c 'trap \"echo {tag} >> {log}; exit 0\" TERM; echo up >> {log}; i=0; while [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done'"
        )
    };
    let script = format!(
        "sleep 100 & setsid sleep 101 & {} & setsid {} &
         while [ ! -e {} ]; do sleep 0.01; done; exit 0",
        trapper("group"),
        trapper("setsid"),
        go.display()
    );
    let args = ["--", "sh", "-c", &script];
    let mut cmd = if pid1 { tend_pid1(args) } else { tend(args) };
    // The leftovers inherit tend's stdio: not the test's, which they would
    // hold open.
    let err = std::fs::File::create(dir.join("err")).unwrap();
    let mut tend_proc = KillOnDrop(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .expect("spawn"),
    );
    let tend = if pid1 {
        pid1_of(&tend_proc.0)
    } else {
        tend_proc.0.id()
    };
    let mut sleeps = vec![];
    let found = wait_until(T, || {
        sleeps = descendants(tend)
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|c| c == b"sleep\x00100\x00" || c == b"sleep\x00101\x00")
            })
            .collect();
        sleeps.len() == 2 && dir.read("log").lines().count() == 2
    });
    assert!(found, "{sleeps:?} {}", dir.read("log"));
    let watches: Vec<ExitWatch> = sleeps.iter().map(|&p| ExitWatch::open(p)).collect();
    let released = Instant::now();
    std::fs::write(&go, "").unwrap();
    let status = wait_or_kill(&mut tend_proc.0, T);
    assert_eq!(status.code(), Some(0), "{}", dir.read("err"));
    let took = released.elapsed();
    assert!(took < Duration::from_secs(3), "tend took {took:?} to exit");
    assert!(
        wait_until(T, || watches.iter().all(ExitWatch::exited)),
        "a leftover sleep still runs"
    );
    if !pid1 {
        // They outlive tend: each says it got TERM.
        assert!(
            wait_until(T, || {
                let text = dir.read("log");
                text.contains("group") && text.contains("setsid")
            }),
            "{}",
            dir.read("log")
        );
    } else if ExitWatch::supported() {
        // The namespace ends with tend, and SIGKILL with it: a SIGTERM that
        // came first still decides how each sleep died (its default
        // action had already begun).
        for (pid, w) in sleeps.iter().zip(&watches) {
            assert!(wait_until(T, || w.death_signal().is_some()));
            assert_eq!(w.death_signal(), Some(libc::SIGTERM), "sleep {pid}");
        }
    } else {
        eprintln!("how the leftovers died: skipped, this kernel has no PIDFD_INFO_EXIT (6.15)");
    }
}

#[test]
fn wrapper_mode_sends_sigterm_to_what_the_child_left_behind() {
    wrapper_leftovers_get_sigterm(false);
}

#[test]
fn wrapper_mode_sends_sigterm_to_what_the_child_left_behind_as_pid1() {
    require_namespaces!();
    wrapper_leftovers_get_sigterm(true);
}
