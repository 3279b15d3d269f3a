//! Fault injection: procfs. tend samples memory from /proc every
//! `poll_interval` and walks /proc to find an app's tree; processes come
//! and go while it reads, turn into zombies, carry odd names and huge
//! command lines, or run as another user. None of it may make tend noisy,
//! restart an app that is under its limit, or miss one that is over it.
//!
//! What cannot be simulated here: a /proc entry that root cannot read
//! (tend runs as root in the namespace and reads everything, hidepid does
//! not apply to root), kernel threads (a PID namespace with its own /proc
//! shows none), and a /proc/PID/stat longer than the 1 KiB tend reads
//! (comm is at most 15 bytes for user processes, so every field fits).

use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::storms::app_entry as app;
use crate::util::*;

const T: Duration = Duration::from_secs(20);
const STATUS_BOUND: Duration = Duration::from_secs(1);

/// tend's WARN and ERROR lines, except those about the apps named.
fn complaints(t: &Running, except: &[&str]) -> Vec<String> {
    t.log()
        .lines()
        .filter(|l| l.starts_with("tend[") && (l.contains(" WARN") || l.contains(" ERROR")))
        .filter(|l| !except.iter().any(|a| l.contains(&format!("app={a}:"))))
        .map(String::from)
        .collect()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .map(|r| r.1.split_whitespace().collect())
        .unwrap_or_default();
    f.get(11).and_then(|u| u.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0)
}

/// tend (the child of unshare) still runs.
fn alive(t: &Running) -> bool {
    children_of(t.child.id())
        .first()
        .is_some_and(|&p| status_field(p, "State").is_some_and(|s| !s.starts_with('Z')))
}

/// The last pid the kernel handed out (in this test's namespace, where
/// every process of tend's namespace has a pid too).
fn last_pid() -> u64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().nth(4)?.parse().ok())
        .unwrap_or(0)
}

/// The comm (process name) of a process, as raw bytes.
fn comm(pid: u32) -> Vec<u8> {
    let mut c = std::fs::read(format!("/proc/{pid}/comm")).unwrap_or_default();
    if c.last() == Some(&b'\n') {
        c.pop();
    }
    c
}

/// Descendants of tend whose comm is `name`.
fn named(tend: u32, name: &[u8]) -> Vec<u32> {
    descendants(tend)
        .into_iter()
        .filter(|&p| comm(p) == name)
        .collect()
}

/// Copies `/bin/X` into `dir` under a name made of any bytes.
fn copy_as(dir: &TempDir, from: &str, name: &[u8]) -> PathBuf {
    let to = dir.path().join(std::ffi::OsStr::from_bytes(name));
    std::fs::copy(from, &to).unwrap();
    to
}

#[test]
fn churning_trees_under_a_100ms_poll_cause_no_noise_and_no_spurious_restarts() {
    require_namespaces!();
    let _serial = serial();
    // poll_interval only has to be above 0s (src/config/mod.rs); 100ms is what
    // a user would call aggressive. Every limited app is far under 256M but
    // its tree changes thousands of times a second: children that exit
    // while tend reads them, grandchildren, members that leave the group
    // with setsid, orphans that re-parent to tend. hog, amid the same
    // churn, is over its limit: sampling must still see it.
    let t = Running::start(
        "procfs-churn",
        r#"
[tend]
poll_interval = "100ms"

[defaults]
max_memory = "256M"

[app.churn]
command = "while :; do /bin/true & /bin/true & wait; done"
instances = 2

[app.deep]
command = "while :; do sh -c '/bin/true & /bin/true & wait' & wait; done"

[app.escape]
command = "while :; do setsid /bin/true & wait; done"

[app.orphans]
command = "while :; do ( /bin/true & ); done"

[app.steady]
command = "exec sleep 600"

[app.hog]
command = "while :; do /bin/true & wait; done & exec perl -e '$x = \"a\" x (48 << 20); sleep 600'"
max_memory = "24M"
max_restarts = 1000
"#,
    );
    t.wait_socket();
    let tend = t.pid();
    let (before, _) = status_timed(&t);
    let calm = ["churn.0", "churn.1", "deep", "escape", "orphans", "steady"];
    let cpu0 = cpu_ticks(tend);
    let pid0 = last_pid();
    let window = Instant::now();
    let mut worst = Duration::ZERO;
    let mut asks = 0;
    while window.elapsed() < Duration::from_secs(4) {
        worst = worst.max(status_timed(&t).1);
        asks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = window.elapsed().as_secs_f64();
    let cpu = (cpu_ticks(tend) - cpu0) as f64 / secs; // ticks/s = % of a CPU
    // Processes created per second; pids wrap at pid_max, back to 300.
    let pid1 = last_pid();
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .map(|m| m.trim().parse().unwrap_or(32768))
        .unwrap_or(32768);
    let created = if pid1 >= pid0 {
        pid1 - pid0
    } else {
        pid_max - pid0 + pid1 - 300
    };
    let forks = created as f64 / secs;
    let (after, _) = status_timed(&t);
    let memory_restarts = t.count("memory limit");
    let hog_restarts = t.count("app=hog: memory limit");
    let noise = complaints(&t, &["hog"]);
    // No error storm, not even a line.
    assert!(
        noise.len() <= 2,
        "{} complaints:\n{}",
        noise.len(),
        noise.join("\n")
    );
    // Nobody under its limit was restarted: same pids, no restarts.
    for name in calm {
        let (a, b) = (app(&before, name), app(&after, name));
        assert_eq!(a["pid"], b["pid"], "{name} changed pid:\n{}", t.log());
        assert_eq!(b["restarts"], 0, "{name}: {b}");
        assert_eq!(b["state"], "running", "{name}: {b}");
    }
    assert_eq!(memory_restarts, hog_restarts, "{}", t.log());
    // The one over its limit was caught again and again despite the churn.
    assert!(
        hog_restarts >= 3,
        "hog restarted {hog_restarts} times:\n{}",
        t.log()
    );
    assert!(worst < STATUS_BOUND, "status took {worst:?}");
    assert!(alive(&t), "tend died");
    // The churn is real: thousands of processes a second.
    assert!(forks > 500.0, "only {forks:.0} processes/s");
    let limited = calm.len() + 1;
    println!(
        "FIGURE procfs-churn: {limited} apps with max_memory sampled every 100 ms \
         (10 samples/s x {limited} apps) for {secs:.1} s amid {forks:.0} new processes/s: \
         {} warnings, 0 spurious restarts, {hog_restarts} restarts of the app really over its limit, \
         tend CPU {cpu:.0}% of one core, status worst {} ms over {asks} asks",
        noise.len(),
        worst.as_millis()
    );
}

#[test]
fn zombies_odd_names_huge_command_lines_and_other_users_are_measured_calmly() {
    require_namespaces!();
    let _serial = serial();
    let dir = TempDir::new("procfs-odd-bin");
    // Names that look like /proc/PID/stat fields: ')', spaces, a newline.
    let sleep = copy_as(&dir, "/bin/sleep", b"a) R\n1 (x");
    let sh = copy_as(&dir, "/bin/sh", b"s) S\n1 (h");
    let sh2 = copy_as(&dir, "/bin/sh", b"l) S\n1 (f");
    let toml = format!(
        r#"
[tend]
poll_interval = "100ms"

[defaults]
max_memory = "64M"

# A child that stays a zombie: sleep 600 never reaps it.
[app.zombie]
command = "sleep 0.1 & exec sleep 600"

# The main process named like stat fields.
[app.odd]
command = [{sleep:?}, "600"]

# 100,000 arguments: a 0.6 MB command line.
[app.bigargs]
command = "exec perl -e 'sleep 600' $(seq 1 100000)"

# Another user's tree.
[app.nobody]
command = "sleep 600 & exec sleep 600"
user = "nobody"

# Over its limit below an oddly named parent: still measured, restarted.
[app.oddhog]
command = [{sh:?}, "-c", {perl:?}]
max_memory = "24M"
max_restarts = 1000

# An oddly named process that outlives its main: stopped as a leftover.
[app.oddleft]
command = {left:?}
restart = "never"
stop_timeout = "1s"
"#,
        sleep = sleep.display().to_string(),
        sh = sh.display().to_string(),
        perl = "perl -e '$x = \"a\" x (48 << 20); sleep 600'; exit 0",
        left = format!(
            "setsid '{}' -c 'sleep 600; exit 0' & sleep 0.3; exit 0",
            sh2.display()
        ),
    );
    let t = Running::start("procfs-odd", &toml);
    t.wait_socket();
    let tend = t.pid();
    // The zombie is there (state Z) under zombie's main.
    assert!(
        wait_until(T, || descendants(tend)
            .iter()
            .any(
                |&p| status_field(p, "State").is_some_and(|s| s.starts_with('Z'))
            )),
        "no zombie appeared"
    );
    assert!(
        !named(tend, b"a) R\n1 (x").is_empty(),
        "the odd name is not what the kernel shows"
    );
    let (before, _) = status_timed(&t);
    // oddleft's main exits at 0.3 s; its setsid'd child is stopped.
    assert!(
        wait_until(Duration::from_secs(5), || t
            .count("app=oddleft: stopping what is left of its tree")
            == 1
            && named(tend, b"l) S\n1 (f").is_empty()),
        "oddleft's leftover lives on:\n{}",
        t.log()
    );
    let window = Instant::now();
    let mut worst = Duration::ZERO;
    while window.elapsed() < Duration::from_secs(2) {
        worst = worst.max(status_timed(&t).1);
        std::thread::sleep(Duration::from_millis(100));
    }
    let (after, _) = status_timed(&t);
    for name in ["zombie", "odd", "bigargs", "nobody"] {
        let (a, b) = (app(&before, name), app(&after, name));
        assert_eq!(a["pid"], b["pid"], "{name} changed pid:\n{}", t.log());
        assert_eq!(b["restarts"], 0, "{name}: {b}");
        // Measured: a sleeping tree has some RSS, far under 64M.
        let rss = b["rss"].as_u64().unwrap_or(0);
        assert!(rss > 100 << 10 && rss < 64 << 20, "{name}: rss {rss}: {b}");
    }
    let hog_restarts = t.count("app=oddhog: memory limit");
    assert!(
        hog_restarts >= 2,
        "oddhog restarted {hog_restarts} times:\n{}",
        t.log()
    );
    assert_eq!(t.count("memory limit"), hog_restarts, "{}", t.log());
    let noise = complaints(&t, &["oddhog", "oddleft"]);
    assert!(noise.len() <= 2, "{}", noise.join("\n"));
    assert!(worst < STATUS_BOUND, "status took {worst:?}");
    println!(
        "FIGURE procfs-odd: zombie, stat-like names, 0.6 MB cmdline, user nobody: 0 restarts, \
         {} warnings; over-limit app below an odd name restarted {hog_restarts} times in ~3 s; \
         status worst {} ms",
        noise.len(),
        worst.as_millis()
    );
}

/// Starts tend with one app whose tree holds a process with a name that is
/// not UTF-8 (a copy of /bin/sh named b"\xff\xfe"): `{bad}` in `body` is
/// replaced by its path, quoted for the shell.
fn with_non_utf8_name(name: &str, body: &str) -> (Running, TempDir) {
    let dir = TempDir::new("procfs-bad-bin");
    let sh = copy_as(&dir, "/bin/sh", b"\xff\xfe");
    // The TOML must be UTF-8, so the shell spells the name with printf.
    let quoted = format!(
        "\"{}/$(printf '\\377\\376')\"",
        sh.parent().unwrap().display()
    );
    let t = Running::start(name, &body.replace("{bad}", &quoted));
    (t, dir)
}

#[test]
fn a_process_with_a_non_utf8_name_is_still_measured() {
    require_namespaces!();
    let _serial = serial();
    let (t, _bin) = with_non_utf8_name(
        "procfs-bad-mem",
        r#"
[tend]
poll_interval = "100ms"

[app.hidden]
command = '''exec {bad} -c "perl -e '\$x = q(a) x (48 << 20); sleep 600'; exit 0"'''
max_memory = "24M"
max_restarts = 1000
"#,
    );
    t.wait_socket();
    let tend = t.pid();
    assert!(
        wait_until(T, || !named(tend, b"\xff\xfe").is_empty()),
        "{}",
        t.log()
    );
    // The tree really holds 48 MB (perl, below the oddly named shell).
    let real = || -> u64 {
        descendants(tend)
            .iter()
            .filter_map(|&p| status_field(p, "VmRSS"))
            .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    assert!(wait_until(T, || real() > 40 << 10), "perl never grew");
    let (v, _) = status_timed(&t);
    let shown = app(&v, "hidden")["rss"].as_u64().unwrap_or(0);
    let caught = wait_until(Duration::from_secs(3), || {
        t.count("app=hidden: memory limit") >= 1
    });
    assert!(
        caught && shown > 24 << 20,
        "tree RSS {} KB, status says {shown} bytes, memory restarts: {}\n{}",
        real(),
        t.count("app=hidden: memory limit"),
        t.log()
    );
}

#[test]
fn a_leftover_with_a_non_utf8_name_is_stopped_with_its_app() {
    require_namespaces!();
    let _serial = serial();
    let (t, _bin) = with_non_utf8_name(
        "procfs-bad-left",
        r#"
[app.leaver]
command = '''setsid {bad} -c 'sleep 600; exit 0' & sleep 0.3; exit 0'''
restart = "never"
stop_timeout = "1s"

[app.other]
command = "exec sleep 600"
"#,
    );
    t.wait_socket();
    let tend = t.pid();
    assert!(
        wait_until(T, || t.count("app=leaver: pid") >= 1),
        "{}",
        t.log()
    );
    // systemd's KillMode=control-group: what is left of the tree is
    // stopped once the main process has exited.
    let gone = wait_until(Duration::from_secs(4), || {
        named(tend, b"\xff\xfe").is_empty()
    });
    assert!(
        gone,
        "the leftover {:?} still runs 4 s after its app's main exited:\n{}",
        named(tend, b"\xff\xfe"),
        t.log()
    );
}
