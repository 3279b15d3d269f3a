//! Architecture (DESIGN.md "Architecture"): nothing is polled in a busy
//! loop. An idle tend, wrapper or supervisor, never wakes up; with memory
//! limits it wakes once per poll_interval.

use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn idle_wrapper_never_wakes_up() {
    require_namespaces!();
    let mut child = tend_pid1(["--", "sleep", "3"]).spawn().expect("spawn");
    let tend = pid1_of(&child);
    let switches = || {
        let status = std::fs::read_to_string(format!("/proc/{tend}/status")).unwrap_or_default();
        status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    std::thread::sleep(Duration::from_millis(300));
    let before = switches();
    std::thread::sleep(Duration::from_millis(1500));
    let after = switches();
    assert_eq!(
        after,
        before,
        "tend woke up {} times while idle",
        after - before
    );
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
}

#[test]
fn an_idle_supervisor_never_wakes_up() {
    require_namespaces!();
    let t = Running::start(
        "idle",
        "[tend]\nlog_format = \"json\"\n[app.a]\ncommand = \"exec sleep 60\"\n[app.b]\ncommand = [\"sleep\", \"60\"]\ninstances = 2\n",
    );
    for app in ["a", "b.0", "b.1"] {
        t.wait_event(app, "started", 1, T);
    }
    let tend = t.pid();
    let switches = || {
        ["voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"]
            .iter()
            .map(|f| status_field(tend, f).unwrap().parse::<u64>().unwrap())
            .sum::<u64>()
    };
    std::thread::sleep(Duration::from_millis(200));
    let before = switches();
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(switches(), before, "idle tend woke up");
}

#[test]
fn memory_limits_wake_tend_once_per_poll_interval() {
    require_namespaces!();
    let t = Running::start(
        "sampling",
        "[tend]\npoll_interval = \"500ms\"\nlog_format = \"json\"\n[app.a]\ncommand = \"exec sleep 60\"\nmax_memory = \"1G\"\n",
    );
    t.wait_event("a", "started", 1, T);
    let tend = t.pid();
    let woken = || {
        status_field(tend, "voluntary_ctxt_switches")
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    std::thread::sleep(Duration::from_millis(200));
    let before = woken();
    std::thread::sleep(Duration::from_millis(2000));
    let n = woken() - before;
    assert!(
        (2..=8).contains(&n),
        "4 samples in 2s expected, tend woke {n} times"
    );
}
