//! Fault injection: stop. Apps that make stopping hard: frozen by SIGSTOP
//! (a stopped process keeps a pending TERM, only KILL moves it), ignoring
//! TERM, with descendants that left the app's session and process group,
//! some of them orphaned to tend, several layers deep, and frozen too.
//! tend must end all of it within stop_timeout + 1 s, by itself (the
//! namespace going down would kill them too, so the `tend stop` case checks
//! while tend still runs).

use std::time::{Duration, Instant};

use super::storms::{
    ProcId, alive, app_entry, app_host_pid, assert_tend_alive, host_pid, present, proc_id, zombies,
};
use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// stop_timeout ("1s") + 1 s.
const BOUND: Duration = Duration::from_secs(2);

/// SIGTERM to tend; asserts it exits 0 within BOUND and that the apps' own
/// stops got every process (none was left for the last sweep tend makes as
/// PID 1). How long it took.
fn shut_down(t: &mut Running) -> Duration {
    let began = Instant::now();
    t.signal(libc::SIGTERM);
    let mut status = None;
    let ended = wait_until(BOUND + Duration::from_secs(3), || {
        status = t.child.try_wait().unwrap();
        status.is_some()
    });
    let took = began.elapsed();
    assert!(
        ended,
        "tend still runs {took:?} after SIGTERM:\n{}",
        t.log()
    );
    assert_eq!(status.unwrap().code(), Some(0), "{}", t.log());
    assert!(
        took < BOUND,
        "tend took {took:?} to shut down (stop_timeout 1s):\n{}",
        t.log()
    );
    assert_eq!(
        t.count("remaining processes"),
        0,
        "the stops left processes behind:\n{}",
        t.log()
    );
    took
}

/// Waits until process `pid` is stopped by a signal (state T).
fn wait_stopped(pid: u32) {
    let stopped = wait_until(Duration::from_secs(5), || {
        status_field(pid, "State").is_some_and(|s| s.starts_with('T'))
    });
    assert!(
        stopped,
        "pid {pid} is not stopped: {:?}",
        status_field(pid, "State")
    );
}

#[test]
fn sigstopped_apps_do_not_hold_up_the_shutdown() {
    require_namespaces!();
    let _serial = serial();
    // frozen's main process has a TERM handler it cannot run while stopped;
    // frozen_group is stopped whole, TERM left at its default.
    let mut t = Running::start(
        "sigstopped",
        r#"
[app.frozen]
command = "trap 'exit 0' TERM; while :; do sleep 0.1; done"
stop_timeout = "1s"

[app.frozen_group]
command = "sleep 1000 & exec sleep 1000"
stop_timeout = "1s"
"#,
    );
    t.wait_for("started, pid", 2, T);
    t.wait_socket();
    let tend = t.pid();
    let frozen = app_host_pid(&t, "frozen");
    let group = app_host_pid(&t, "frozen_group");
    assert!(
        wait_until(T, || descendants(group).len() == 1),
        "frozen_group's background sleep"
    );
    let group_child = descendants(group)[0];
    signal(frozen, libc::SIGSTOP);
    // SAFETY: kill(2) with plain integers: the whole process group.
    assert_eq!(unsafe { libc::kill(-(group as i32), libc::SIGSTOP) }, 0);
    for pid in [frozen, group, group_child] {
        wait_stopped(pid);
    }
    let everything: Vec<ProcId> = descendants(tend).into_iter().filter_map(proc_id).collect();

    let took = shut_down(&mut t);
    let left: Vec<ProcId> = everything.into_iter().filter(|&p| present(p)).collect();
    assert!(left.is_empty(), "left in the namespace: {left:?}");
    println!(
        "FIGURE stop-sigstopped: 2 SIGSTOPped apps (stop_timeout 1s), tend exited 0 {} ms after SIGTERM, nothing left",
        took.as_millis()
    );
}

/// The app of the next two tests: it ignores TERM, and so does everything
/// it starts: four layers, each in a session of its own (setsid), every
/// other one double-forked so that it re-parents to tend, each with a
/// sleep of its own. Every process writes its pid to {dir}/pids: 9 lines.
const STUBBORN: &str = r#"
[app.stubborn]
command = """
trap '' TERM
cat > {dir}/layer.sh <<'EOF'
trap '' TERM
echo $$ >> "$1/pids"
if [ "$2" -lt 4 ]; then
  if [ $(($2 % 2)) -eq 1 ]; then
    (setsid sh "$1/layer.sh" "$1" $(($2 + 1)) &)
  else
    setsid sh "$1/layer.sh" "$1" $(($2 + 1)) &
  fi
fi
sleep 1000 &
echo $! >> "$1/pids"
exec sleep 1000
EOF
echo $$ >> {dir}/pids
setsid sh {dir}/layer.sh {dir} 1 &
exec sleep 1000
"""
stop_timeout = "1s"

[app.bystander]
command = "exec sleep 1000"
"#;

/// Waits for the 9 processes of `stubborn`, SIGSTOPs all but its main
/// process, and returns all 9 (host view). Checks that the layers did
/// escape: 4 sessions besides the main one, 2 layers re-parented to tend.
fn stubborn_tree(t: &Running) -> Vec<ProcId> {
    assert!(
        wait_until(T, || t.dir.read("pids").lines().count() == 9),
        "pids: {:?}\n{}",
        t.dir.read("pids"),
        t.log()
    );
    let tend = t.pid();
    let pids: Vec<u32> = t
        .dir
        .read("pids")
        .lines()
        .map(|l| {
            let ns: i64 = l.parse().unwrap();
            host_pid(tend, ns).unwrap_or_else(|| panic!("pid {ns} not in the namespace"))
        })
        .collect();
    let main = app_host_pid(t, "stubborn");
    assert_eq!(pids[0], main, "the first line is the main process");
    let field = |pid: u32, i: usize| -> String {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        text.rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .nth(i)
            .unwrap()
            .to_string()
    };
    let mut sessions: Vec<String> = pids.iter().map(|&p| field(p, 3)).collect();
    sessions.sort();
    sessions.dedup();
    assert_eq!(sessions.len(), 5, "sessions of {pids:?}: {sessions:?}");
    let adopted = pids
        .iter()
        .filter(|&&p| field(p, 1) == tend.to_string())
        .count();
    // The main process and the two double-forked layers.
    assert_eq!(adopted, 3, "children of tend among {pids:?}");
    for &pid in &pids[1..] {
        signal(pid, libc::SIGSTOP);
    }
    for &pid in &pids[1..] {
        wait_stopped(pid);
    }
    pids.into_iter().map(|p| proc_id(p).unwrap()).collect()
}

#[test]
fn tend_stop_kills_stopped_escaped_layers_while_tend_runs() {
    require_namespaces!();
    let _serial = serial();
    let mut t = Running::start("stop-layers", STUBBORN);
    t.wait_socket();
    let tree = stubborn_tree(&t);
    let tend = t.pid();
    let bystander = proc_id(app_host_pid(&t, "bystander")).unwrap();

    let out = t.ctl(&["stop", "stubborn"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let began = Instant::now();
    let gone = wait_until(BOUND, || !tree.iter().any(|&p| present(p)));
    let took = began.elapsed();
    let left: Vec<ProcId> = tree.iter().copied().filter(|&p| present(p)).collect();
    assert!(gone, "left {took:?} after tend stop: {left:?}\n{}", t.log());
    // tend did it: it is still PID 1 of the namespace, and supervising.
    assert_tend_alive(&mut t);
    assert_eq!(t.pid(), tend);
    let v = status_json(&t);
    assert_eq!(app_entry(&v, "stubborn")["state"], "stopped", "{v}");
    assert_eq!(app_entry(&v, "bystander")["restarts"], 0, "{v}");
    assert!(alive(bystander), "the bystander died");
    let others: Vec<u32> = descendants(tend)
        .into_iter()
        .filter(|&p| p != bystander.0)
        .collect();
    assert!(others.is_empty(), "besides the bystander: {others:?}");
    assert!(zombies(tend).is_empty(), "zombies: {:?}", zombies(tend));
    println!(
        "FIGURE stop-layers: tend stop of an app ignoring TERM with 8 escaped, SIGSTOPped descendants 4 sessions deep: all gone {} ms after the request (stop_timeout 1s), tend still PID 1",
        took.as_millis()
    );
}

#[test]
fn shutdown_kills_stopped_escaped_layers() {
    require_namespaces!();
    let _serial = serial();
    let mut t = Running::start("shutdown-layers", STUBBORN);
    t.wait_socket();
    let tree = stubborn_tree(&t);

    let took = shut_down(&mut t);
    let left: Vec<ProcId> = tree.into_iter().filter(|&p| present(p)).collect();
    assert!(left.is_empty(), "left: {left:?}");
    println!(
        "FIGURE shutdown-layers: SIGTERM with an app ignoring TERM and 8 escaped, SIGSTOPped descendants: tend exited 0 after {} ms (stop_timeout 1s), nothing left",
        took.as_millis()
    );
}

/// SIGCONT follows the stop signal, as systemd sends it: a SIGSTOPped app
/// with a TERM handler gets to run it and ends gracefully at once, rather
/// than waiting out stop_timeout for SIGKILL.
#[test]
fn a_sigstopped_app_is_continued_after_its_stop_signal_and_ends_gracefully() {
    require_namespaces!();
    let _serial = serial();
    let t = Running::start(
        "stop-cont",
        "[app.paused]\ncommand = \"trap 'echo graceful; exit 0' TERM; echo up; while :; do sleep 0.1; done\"\nstop_timeout = \"10s\"\n",
    );
    t.wait_for("up", 1, T);
    t.wait_socket();
    let main = app_host_pid(&t, "paused");
    signal(main, libc::SIGSTOP);
    wait_stopped(main);
    let asked = Instant::now();
    let out = t.ctl(&["stop", "paused"]);
    assert!(out.status.success(), "{}", stderr(&out));
    t.wait_for("app=paused: stopped", 1, T);
    let took = asked.elapsed();
    assert!(
        t.log().contains("graceful"),
        "the TERM handler never ran:\n{}",
        t.log()
    );
    assert!(
        took < Duration::from_secs(3),
        "a stop of a SIGSTOPped app took {took:?} (stop_timeout 10s)"
    );
    println!(
        "FIGURE stop-cont: a SIGSTOPped app with a TERM handler ended gracefully {} ms after \
         tend stop (stop_timeout 10s)",
        took.as_millis()
    );
}
