//! Fault injection: the system refuses resources. fork(2) fails with EAGAIN
//! (RLIMIT_NPROC, enforced by running tend as an unprivileged user in a
//! user namespace) and tend's fd table is full (RLIMIT_NOFILE): starts fail
//! with backoff, tend neither dies nor spins, and everything starts once the
//! pressure ends.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// utime + stime of `pid`, in clock ticks (10 ms here).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("tend (pid {pid}) gone: {e}"));
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Children of tend whose command line starts with `sleep`.
fn sleepers(tend: u32) -> usize {
    children_of(tend)
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(b"sleep\0") || c.starts_with(b"/bin/sleep\0"))
        })
        .count()
}

/// tend's host pid. Not `Running::pid`: `unshare -r` may fork a short-lived
/// helper to write the id maps, which that would find first.
fn tend_pid(tend: &Running) -> u32 {
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = children_of(tend.child.id()).into_iter().find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "tend")
        });
        found.is_some()
    });
    found.expect("no tend under unshare")
}

/// Sets a limit of the running `pid`.
fn prlimit_pid(pid: u32, limit: &str) {
    let out = output_or_kill(
        Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(limit),
        Duration::from_secs(5),
    );
    assert!(out.status.success(), "prlimit: {}", stderr(&out));
}

#[test]
fn fork_failing_with_eagain_backs_off_and_recovers() {
    require_namespaces!();
    let _serial = serial();
    // As root RLIMIT_NPROC is not enforced; as nobody in a user namespace
    // (where nobody is root, so tend still runs as PID 1) it is. The limit
    // a user namespace gets is fixed when it is made, so the pressure is
    // relieved by stopping an app, not by raising the limit.
    let probe = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["unshare", "-r", "--pid", "--fork", "--mount-proc", "true"])
        .status();
    if !probe.is_ok_and(|s| s.success()) || unsafe { libc::getuid() } != 0 {
        eprintln!("skipped: needs root, setpriv and unprivileged user namespaces");
        return;
    }
    // unshare, tend and hog's three processes fill the five allowed;
    // hog says READY=1 only once it has its three processes, so many's
    // starts always come after.
    let toml = r#"[app.hog]
notify = true
command = ["python3", "-c", '''
import os, socket, subprocess
kids = [subprocess.Popen(['sleep', '1000']) for _ in range(2)]
addr = os.environ['NOTIFY_SOCKET']
addr = '\0' + addr[1:] if addr.startswith('@') else addr
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'READY=1', addr)
kids[0].wait()
''']
"#
    .to_string()
        + "[app.many]\ncommand = [\"sleep\", \"1000\"]\ninstances = 3\nafter = [\"hog\"]\n\
                restart_delay = \"100ms\"\nmax_restart_delay = \"400ms\"\nmax_restarts = 1000\n";
    let prefix = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "prlimit",
        "--nproc=5",
        "unshare",
        "-r",
        "--pid",
        "--fork",
        "--mount-proc",
    ];
    let tend = Running::start_under("fork-eagain", &toml, &[], &prefix);
    std::fs::set_permissions(
        tend.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    tend.wait_for("cannot start", 3, Duration::from_secs(10));
    let pid = tend_pid(&tend);
    let log = tend.log();
    assert!(log.contains("(os error 11)"), "EAGAIN expected:\n{log}");
    // Under pressure for 2 s: alive, not spinning, retrying with backoff.
    let (ticks0, fails0) = (cpu_ticks(pid), tend.count("cannot start"));
    std::thread::sleep(Duration::from_secs(2));
    let (ticks1, fails1) = (cpu_ticks(pid), tend.count("cannot start"));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "tend died"
    );
    assert_eq!(sleepers(pid), 0, "no instance of many fits");
    // Three instances at 400 ms at most: about 15 attempts in 2 s.
    assert!(
        fails1 - fails0 <= 30,
        "{} failed starts in 2 s: no backoff",
        fails1 - fails0
    );
    assert!(
        ticks1 - ticks0 <= 20,
        "tend used {} ticks in 2 s",
        ticks1 - ticks0
    );

    // The client runs as nobody too: tend accepts its own uid.
    let out = output_or_kill(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(tend_bin())
            .args(["stop", "hog"])
            .env("TEND_SOCKET", tend.dir.join("tend.sock")),
        Duration::from_secs(10),
    );
    assert!(out.status.success(), "tend stop hog: {}", stderr(&out));
    let relieved = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || sleepers(pid) == 3),
        "many did not start once hog was stopped; log:\n{}",
        tend.log()
    );
    let recovered = relieved.elapsed();
    println!(
        "FIGURE fork-eagain: 3 instances refused by fork (EAGAIN, RLIMIT_NPROC): {} failed \
         starts in 2 s, tend CPU {} ms in 2 s; all 3 running {:.0} ms after the pressure ended",
        fails1 - fails0,
        (ticks1 - ticks0) * 10,
        recovered.as_secs_f64() * 1e3
    );
}

#[test]
fn a_full_fd_table_neither_kills_nor_spins_and_recovers() {
    require_namespaces!();
    let _serial = serial();
    // Prefixed logs cost tend two pipe ends per instance: 12 instances do
    // not fit in 20 fds.
    let toml = "[app.chatty]\ncommand = \"echo up; exec sleep 1000\"\ninstances = 12\nlog = \"prefix\"\nrestart_delay = \"100ms\"\nmax_restart_delay = \"400ms\"\nmax_restarts = 1000\n";
    let mut prefix = vec!["prlimit", "--nofile=20:4096"];
    prefix.extend_from_slice(pid1_prefix().unwrap());
    let tend = Running::start_under("emfile", toml, &[], &prefix);
    tend.wait_for("cannot start", 3, Duration::from_secs(10));
    let pid = tend_pid(&tend);
    assert!(
        tend.log().contains("(os error 24)"),
        "EMFILE expected:\n{}",
        tend.log()
    );
    // Clients knock while the table is full: accept(2) fails with EMFILE,
    // which must not turn the loop into a spin.
    let ticks0 = cpu_ticks(pid);
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let sock = tend.dir.join("tend.sock");
            std::thread::spawn(move || {
                let _ = std::os::unix::net::UnixStream::connect(sock);
                std::thread::sleep(Duration::from_secs(2));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let ticks = cpu_ticks(pid) - ticks0;
    for c in clients {
        c.join().unwrap();
    }
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "tend died"
    );
    assert!(
        ticks <= 20,
        "tend used {ticks} ticks in 2 s with a full fd table"
    );
    let running_before = sleepers(pid);
    assert!(running_before < 12, "the limit did not bite");

    prlimit_pid(pid, "--nofile=1024:4096");
    let raised = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || sleepers(pid) == 12),
        "not every instance started after the limit was raised; log:\n{}",
        tend.log()
    );
    let recovered = raised.elapsed();
    let status = tend.ctl(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    tend.wait_for("chatty.11 | up", 1, Duration::from_secs(5));
    println!(
        "FIGURE emfile: {running_before} of 12 prefixed instances fit in 20 fds; tend CPU {} ms \
         in 2 s with 5 clients knocking; all 12 running {:.0} ms after the limit was raised, \
         status answers",
        ticks * 10,
        recovered.as_secs_f64() * 1e3
    );
}

#[test]
fn a_failing_poll_waits_on_signals_alone_and_recovers() {
    require_namespaces!();
    let _serial = serial();
    // 12 prefixed instances put 24 pipes in the poll set. With fewer
    // allowed fds than that, poll(2) itself fails (EINVAL): tend must then
    // wait on its signalfd alone, not retry at once.
    let toml =
        "[app.chatty]\ncommand = \"echo up; exec sleep 1000\"\ninstances = 12\nlog = \"prefix\"\n";
    let mut tend = Running::start("pollfail", toml);
    tend.wait_for("chatty.11 | up", 1, Duration::from_secs(10));
    let pid = tend_pid(&tend);
    prlimit_pid(pid, "--nofile=16:4096");
    let ticks0 = cpu_ticks(pid);
    // A signal wakes it (SIGCHLD: not forwarded, nothing to reap): the
    // next poll sees the lower limit.
    signal(pid, libc::SIGCHLD);
    tend.wait_for("poll failed", 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    let ticks = cpu_ticks(pid) - ticks0;
    assert!(
        ticks <= 20,
        "tend used {ticks} ticks in 2 s while poll failed"
    );
    // One a second at most while it lasts (the retry of a failed poll).
    let failures = tend.count("poll failed");
    assert!(
        failures <= 4,
        "{failures} poll failures in 2 s: a spin?\n{}",
        tend.log()
    );
    // Back to a normal limit, everything answers again.
    prlimit_pid(pid, "--nofile=1024:4096");
    signal(pid, libc::SIGCHLD);
    let status = tend.ctl(&["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    // And a shutdown asked while poll fails still stops every app.
    prlimit_pid(pid, "--nofile=16:4096");
    signal(pid, libc::SIGTERM);
    let code = tend.wait(Duration::from_secs(15));
    assert_eq!(code.code(), Some(0), "{}", tend.log());
    assert!(tend.count("poll failed") > failures, "{}", tend.log());
    println!(
        "FIGURE pollfail: poll(2) failing with EINVAL: {} ms of CPU in 2 s, {failures} failures \
         logged; status answers once the limit is back; SIGTERM while it fails: exit 0",
        ticks * 10
    );
}
