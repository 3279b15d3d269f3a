//! Fault injection: storms. Apps that crash, fail to start or fork as fast
//! as they can, and a long run of restarts measured for leaks: tend must
//! stay up, keep answering, stay small and never spin.
//!
//! The small /proc helpers at the top are shared with `signals` and `stop`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// The status entry of app `name`.
pub(crate) fn app_entry(v: &Value, name: &str) -> Value {
    v["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// The fields of /proc/PID/stat after the command name (field 3 is index 0).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(String::from).collect())
}

/// A process identity that survives pid reuse: (host pid, start time).
pub(crate) type ProcId = (u32, u64);

/// `pid` with its start time, None when it is gone.
pub(crate) fn proc_id(pid: u32) -> Option<ProcId> {
    Some((pid, stat_fields(pid)?.get(19)?.parse().ok()?))
}

/// True while the process is in /proc at all (zombies included): gone means
/// reaped.
pub(crate) fn present(id: ProcId) -> bool {
    proc_id(id.0) == Some(id)
}

/// True while the process exists and is not a zombie.
pub(crate) fn alive(id: ProcId) -> bool {
    present(id) && status_field(id.0, "State").is_some_and(|s| !s.starts_with('Z'))
}

/// The descendants of `root` (host pids) that are zombies.
pub(crate) fn zombies(root: u32) -> Vec<u32> {
    descendants(root)
        .into_iter()
        .filter(|&p| status_field(p, "State").is_some_and(|s| s.starts_with('Z')))
        .collect()
}

/// The host pid of the process that is `ns_pid` in tend's namespace
/// (`tend_host` is tend's host pid), found among tend's descendants.
pub(crate) fn host_pid(tend_host: u32, ns_pid: i64) -> Option<u32> {
    std::iter::once(tend_host)
        .chain(descendants(tend_host))
        .find(|&p| {
            status_field(p, "NSpid")
                .and_then(|v| v.split_whitespace().last().map(String::from))
                .is_some_and(|last| last == ns_pid.to_string())
        })
}

/// The host pid of app `name`'s main process, from `tend status --json`.
pub(crate) fn app_host_pid(t: &Running, name: &str) -> u32 {
    let entry = app_entry(&status_json(t), name);
    let ns = entry["pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} has no pid: {entry}"));
    host_pid(t.pid(), ns).unwrap_or_else(|| panic!("{name}: pid {ns} not found in the namespace"))
}

/// VmRSS of `pid` in KB.
pub(crate) fn rss_kb(pid: u32) -> u64 {
    status_field(pid, "VmRSS")
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"))
}

/// Number of open fds of `pid`.
pub(crate) fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

/// What each open fd of `pid` points to, for failure messages.
fn fd_targets(pid: u32) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let target = std::fs::read_link(e.path()).unwrap_or_default();
                    format!(
                        "{} -> {}",
                        e.file_name().to_string_lossy(),
                        target.display()
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// utime + stime of `pid`, in milliseconds.
pub(crate) fn cpu_ms(pid: u32) -> u64 {
    let f = stat_fields(pid).expect("stat");
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    ticks * 1000 / hz
}

/// tend is still running: its unshare parent has not exited and tend is
/// not a zombie.
pub(crate) fn assert_tend_alive(t: &mut Running) {
    assert!(
        t.child.try_wait().unwrap().is_none(),
        "tend exited; log:\n{}",
        t.log()
    );
    let state = status_field(t.pid(), "State").unwrap_or_default();
    assert!(
        !state.starts_with('Z'),
        "tend is {state}; log:\n{}",
        t.log()
    );
}

/// Sum of `restarts` over every app.
fn total_restarts(v: &Value) -> u64 {
    v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["restarts"].as_u64().unwrap())
        .sum()
}

/// 50 instances of /bin/false restarting after `delay` for 3 s: tend must
/// stay up, answer every `tend status` within 1 s, stay under 8 MB and shut
/// down on SIGTERM.
fn crash_storm(name: &str, delay: &str) {
    let mut t = Running::start(
        name,
        &format!(
            r#"
[app.crash]
command = ["/bin/false"]
instances = 50
restart_delay = "{delay}"
max_restart_delay = "{delay}"
max_restarts = 1000000
"#
        ),
    );
    t.wait_for("started, pid", 50, T);
    let tend = t.pid();
    let began = Instant::now();
    let (mut worst, mut answers, mut max_rss) = (Duration::ZERO, 0, 0);
    while began.elapsed() < Duration::from_secs(3) {
        let args: &[&str] = if answers % 2 == 0 {
            &["status"]
        } else {
            &["status", "--json"]
        };
        let asked = Instant::now();
        let out = t.ctl(args);
        let took = asked.elapsed();
        assert!(
            out.status.success() && took < Duration::from_secs(1),
            "status {} after {took:?} during the storm: {}",
            if out.status.success() {
                "answered"
            } else {
                "failed"
            },
            stderr(&out)
        );
        worst = worst.max(took);
        answers += 1;
        max_rss = max_rss.max(rss_kb(tend));
        std::thread::sleep(Duration::from_millis(50));
    }
    let v = status_json(&t);
    let secs = began.elapsed().as_secs_f64();
    let restarts = total_restarts(&v);
    max_rss = max_rss.max(rss_kb(tend));
    assert_tend_alive(&mut t);
    let states: Vec<&str> = v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(states.len(), 50);
    assert!(
        !states.contains(&"failed"),
        "an app gave up below max_restarts: {states:?}"
    );
    assert!(
        restarts >= 500,
        "the storm was not one: {restarts} restarts in {secs:.1} s"
    );
    assert!(
        max_rss < 8 * 1024,
        "tend's RSS reached {max_rss} KB during the storm"
    );
    println!(
        "FIGURE crash-storm (restart_delay {delay}): 50 apps, {restarts} restarts in {secs:.1} s ({:.0} restarts/s), worst status latency {} ms over {answers} requests, tend RSS max {max_rss} KB",
        restarts as f64 / secs,
        worst.as_millis()
    );
    // The shutdown bound of the contract: stop_timeout (10 s) + 1 s.
    let asked = Instant::now();
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    assert!(
        asked.elapsed() < Duration::from_secs(11),
        "shutdown took {:?}",
        asked.elapsed()
    );
}

#[test]
fn a_crash_storm_of_50_apps_with_no_delay_keeps_status_fast_and_memory_small() {
    require_namespaces!();
    let _serial = serial();
    crash_storm("crash-storm-0s", "0s");
}

#[test]
fn a_crash_storm_of_50_apps_with_a_5ms_delay_keeps_status_fast_and_memory_small() {
    require_namespaces!();
    let _serial = serial();
    crash_storm("crash-storm-5ms", "5ms");
}

#[test]
fn an_exec_failure_storm_of_20_apps_costs_little_cpu() {
    require_namespaces!();
    let _serial = serial();
    let mut t = Running::start(
        "exec-storm",
        r#"
[app.ghost]
command = ["/nonexistent/tend-fault-ghost"]
instances = 20
restart_delay = "0s"
max_restart_delay = "0s"
max_restarts = 1000000
"#,
    );
    let needle = "cannot start \"/nonexistent/tend-fault-ghost\"";
    t.wait_for(needle, 20, T);
    let tend = t.pid();
    let (cpu0, tries0, began) = (cpu_ms(tend), t.count(needle), Instant::now());
    std::thread::sleep(Duration::from_secs(3));
    let (cpu1, tries1, wall) = (cpu_ms(tend), t.count(needle), began.elapsed());
    assert_tend_alive(&mut t);
    let used = cpu1 - cpu0;
    let tries = tries1 - tries0;
    let wall_ms = wall.as_millis() as u64;
    // Each failed start is retried after 100 ms at least: 20 apps, 10 a second.
    let most = 20 * (wall_ms / 100 + 2) as usize;
    assert!(
        (200..=most).contains(&tries),
        "{tries} attempts in {wall_ms} ms: want 200 ..= {most}"
    );
    assert!(
        used * 10 < wall_ms,
        "tend used {used} ms of CPU in {wall_ms} ms (over 10%)"
    );
    println!(
        "FIGURE exec-failure-storm: 20 apps, {tries} failed starts in {:.1} s, tend CPU {used} ms ({:.1}% of wall)",
        wall.as_secs_f64(),
        used as f64 * 100.0 / wall_ms as f64
    );
    t.wait_socket();
}

#[test]
fn a_fork_storm_capped_by_nproc_is_stopped_whole() {
    require_namespaces!();
    let _serial = serial();
    // As nobody, RLIMIT_NPROC holds: the forker runs until fork fails (dash
    // then prints "Cannot fork" and exits). Half the sleeps stay in the
    // app's session, the others are double-forked into sessions of their
    // own and re-parent to tend. All of them ignore TERM.
    let mut t = Running::start(
        "fork-storm",
        r#"
[app.bomb]
command = """
ulimit -p 200
trap '' TERM
(while :; do sleep 1000 & (setsid sleep 1000 &); done) &
exec sleep 1000
"""
user = "nobody"
stop_timeout = "1s"

[app.bystander]
command = "exec sleep 1000"
"#,
    );
    t.wait_for("Cannot fork", 1, T);
    let tend = t.pid();
    let nobody = |p: &u32| {
        status_field(*p, "Uid").is_some_and(|u| u.split_whitespace().next() == Some("65534"))
    };
    // The forker is gone once fork failed; what it made stays.
    let mut procs: Vec<ProcId> = Vec::new();
    let settled = wait_until(Duration::from_secs(5), || {
        let now: Vec<ProcId> = descendants(tend)
            .into_iter()
            .filter(nobody)
            .filter_map(proc_id)
            .collect();
        let same = now.len() == procs.len() && now.len() >= 150;
        procs = now;
        std::thread::sleep(Duration::from_millis(100));
        same
    });
    assert!(settled, "the fork storm made {} processes", procs.len());
    // Host view: session ids and parents are host pids.
    let bomb = app_host_pid(&t, "bomb");
    let (mut escaped, mut adopted) = (0, 0);
    for &(p, _) in &procs {
        if let Some(f) = stat_fields(p) {
            escaped += usize::from(f[3] != bomb.to_string());
            adopted += usize::from(f[1] == tend.to_string());
        }
    }
    assert!(
        escaped >= 10 && adopted >= 10,
        "of {} processes, {escaped} left the session and {adopted} re-parented to tend",
        procs.len()
    );
    let bystander = app_host_pid(&t, "bystander");
    let bystander_id = proc_id(bystander).unwrap();
    let out = t.ctl(&["stop", "bomb"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let began = Instant::now();
    let gone = wait_until(Duration::from_secs(2), || {
        !procs.iter().any(|&p| present(p))
    });
    let took = began.elapsed();
    let left: Vec<ProcId> = procs.iter().copied().filter(|&p| present(p)).collect();
    assert!(
        gone,
        "{} of {} processes left 2 s after tend stop (stop_timeout 1s): {left:?}\n{}",
        left.len(),
        procs.len(),
        t.log()
    );
    assert_tend_alive(&mut t);
    let still: Vec<u32> = descendants(tend).into_iter().filter(nobody).collect();
    assert!(still.is_empty(), "processes of nobody remain: {still:?}");
    assert!(
        wait_until(Duration::from_secs(1), || zombies(tend).is_empty()),
        "zombies: {:?}",
        zombies(tend)
    );
    let v = status_json(&t);
    assert_eq!(app_entry(&v, "bomb")["state"], "stopped", "{v}");
    assert_eq!(app_entry(&v, "bystander")["restarts"], 0, "{v}");
    assert!(alive(bystander_id), "the bystander died");
    println!(
        "FIGURE fork-storm: {} processes ({escaped} escaped with setsid, {adopted} re-parented to tend; nproc 200 reached), all gone {} ms after tend stop (stop_timeout 1s), zombies 0, tend alive",
        procs.len(),
        took.as_millis()
    );
}

/// Stops `names`, waits until status shows them stopped and tend has been
/// quiet for a moment; then tend's open fds and VmRSS.
fn fds_and_rss_at_rest(t: &Running, names: &[&str]) -> (usize, u64) {
    for name in names {
        let out = t.ctl(&["stop", name]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let stopped = wait_until(T, || {
        let v = status_json(t);
        names.iter().all(|n| app_entry(&v, n)["state"] == "stopped")
    });
    assert!(stopped, "{}", t.log());
    // Let the last pipes drain and the last client go.
    std::thread::sleep(Duration::from_millis(300));
    let tend = t.pid();
    (fd_count(tend), rss_kb(tend))
}

/// Waits until every app of `names` has at least `n` restarts.
fn wait_restarts(t: &Running, names: &[&str], n: u64) {
    let ok = wait_until(T, || {
        let v = status_json(t);
        names
            .iter()
            .all(|a| app_entry(&v, a)["restarts"].as_u64().unwrap() >= n)
    });
    assert!(ok, "never reached {n} restarts: {}", status_json(t));
}

#[test]
fn a_thousand_restarts_leak_no_fds_and_little_memory() {
    require_namespaces!();
    let _serial = serial();
    // blink inherits tend's output; chatty's goes through two pipes per run.
    let mut t = Running::start(
        "leaks",
        r#"
[defaults]
restart_delay = "0s"
max_restart_delay = "0s"
max_restarts = 100000

[app.blink]
command = ["/bin/true"]

[app.chatty]
command = "echo out; echo err >&2"
log = "prefix"
"#,
    );
    let apps = ["blink", "chatty"];
    t.wait_socket();
    wait_restarts(&t, &apps, 20);
    let (fds0, rss0) = fds_and_rss_at_rest(&t, &apps);
    let targets0 = fd_targets(t.pid());
    let restarts0 = total_restarts(&status_json(&t));
    for name in apps {
        // Crash loops by design: only the request, no wait for an up.
        let out = t.ctl(&["start", "--no-wait", name]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let began = Instant::now();
    wait_restarts(&t, &apps, 1020);
    let secs = began.elapsed().as_secs_f64();
    let (fds1, rss1) = fds_and_rss_at_rest(&t, &apps);
    let restarts = total_restarts(&status_json(&t)) - restarts0;
    assert_tend_alive(&mut t);
    assert_eq!(
        fds1,
        fds0,
        "fds after 20 restarts: {targets0:?}\nafter 1000 more: {:?}",
        fd_targets(t.pid())
    );
    assert!(
        rss1 < rss0 + 512,
        "tend's RSS grew from {rss0} KB to {rss1} KB over {restarts} restarts"
    );
    // Every run's lines came through the pipes.
    for line in ["chatty | out", "chatty | err"] {
        let n = t.count(line);
        assert!(n >= 1000, "{n}x {line:?}");
    }
    println!(
        "FIGURE leaks: {restarts} restarts in {secs:.1} s (half with log = prefix), tend fds {fds0} -> {fds1}, tend RSS {rss0} -> {rss1} KB"
    );
}

/// A `/proc/PID/status` size field (`VmRSS`, `VmHWM`) in KB.
pub(crate) fn kb(pid: u32, field: &str) -> u64 {
    status_field(pid, field)
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
