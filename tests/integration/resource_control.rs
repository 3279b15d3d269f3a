//! DESIGN.md "Resource control with cgroup v2", on this machine: where
//! /sys/fs/cgroup is cgroup v1, tend says once why it uses /proc and that
//! the cgroup-only limits are not enforced, and `cgroups = "on"` refuses
//! to start. cgroup mode itself runs here too, in a mount namespace with
//! cgroup2 mounted over /sys/fs/cgroup (without the memory, cpu and pids
//! controllers, which cgroup v1 holds): trees are exact and the SIGKILL
//! phase is cgroup.kill. The limits are proved in the VM (`vm.rs`).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(10);

/// Whether /sys/fs/cgroup is cgroup v2 here (then the /proc-mode tests
/// do not apply).
fn host_has_cgroup2() -> bool {
    Command::new("stat")
        .args(["-f", "-c", "%T", "/sys/fs/cgroup"])
        .output()
        .is_ok_and(|o| stdout(&o).trim() == "cgroup2fs")
}

const LIMITED: &str = r#"
[app.web]
command = "sleep 1000"
memory_max = "64M"
cpu_max = "50%"
pids_max = 64
max_memory = "32M"
"#;

#[test]
fn without_cgroup_v2_tend_says_why_once_and_that_limits_are_not_enforced() {
    require_namespaces!();
    if host_has_cgroup2() {
        eprintln!("skipped: /sys/fs/cgroup is cgroup v2 here");
        return;
    }
    let t = Running::start("cg-procfs", LIMITED);
    t.wait_socket();
    let log = t.log();
    assert_eq!(
        t.count("cgroups: memory and trees from /proc: /sys/fs/cgroup is cgroup v1"),
        1,
        "{log}"
    );
    for key in ["memory_max", "cpu_max", "pids_max"] {
        assert_eq!(
            t.count(&format!("app.web.{key} is not enforced without cgroups")),
            1,
            "{log}"
        );
    }
    assert_eq!(status_json(&t)["accounting"], "procfs");

    let out = output_or_kill(tend(["check", "-c"]).arg(t.dir.join("init.toml")), T);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("is not below memory_max"),
        "{}",
        stderr(&out)
    );
    for key in ["memory_max", "cpu_max", "pids_max"] {
        assert!(
            stderr(&out).contains(&format!(
                "warning: app.web.{key}: not enforced without cgroup v2 (/sys/fs/cgroup is cgroup v1)"
            )),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn check_warns_when_the_graceful_limit_is_not_below_the_hard_one() {
    let dir = TempDir::new("cg-limits");
    let toml = "[app.web]\ncommand = \"sleep 1\"\nmax_memory = \"256M\"\nmemory_max = \"256M\"\n";
    std::fs::write(dir.join("init.toml"), toml).unwrap();
    let out = output_or_kill(tend(["check", "-c"]).arg(dir.join("init.toml")), T);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "warning: app.web.max_memory: 256M is not below memory_max 256M: the kernel's OOM kill comes before tend's graceful restart"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cgroups_on_without_cgroup_v2_refuses_to_start() {
    require_namespaces!();
    if host_has_cgroup2() {
        eprintln!("skipped: /sys/fs/cgroup is cgroup v2 here");
        return;
    }
    let dir = TempDir::new("cg-on");
    let marker = dir.join("started");
    let toml = format!(
        "[tend]\ncgroups = \"on\"\n[app.a]\ncommand = \"touch {}; sleep 100\"\n",
        marker.display()
    );
    std::fs::write(dir.join("init.toml"), toml).unwrap();
    let out = output_or_kill(tend_pid1(["-c"]).arg(dir.join("init.toml")), T);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cgroups = \"on\": /sys/fs/cgroup is cgroup v1"),
        "{}",
        stderr(&out)
    );
    assert!(!marker.exists(), "an app started");
    let out = output_or_kill(tend(["check", "-c"]).arg(dir.join("init.toml")), T);
    assert!(
        stderr(&out).contains(
            "warning: tend.cgroups: \"on\", but /sys/fs/cgroup is cgroup v1: tend would not start here"
        ),
        "{}",
        stderr(&out)
    );
}

/// cgroup2 mounted in a directory of the test's own, with a cgroup for
/// one tend under it; both go when dropped (once tend is gone).
struct TestCgroup {
    mount: TempDir,
    name: String,
}

impl TestCgroup {
    /// None (said) where cgroup2 cannot be mounted.
    fn new(name: &str) -> Option<TestCgroup> {
        let mount = TempDir::new(&format!("{name}-mnt"));
        let ok = Command::new("mount")
            .args(["-t", "cgroup2", "none"])
            .arg(mount.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("skipped: cannot mount cgroup2 here");
            return None;
        }
        let name = format!("tend-test-{}-{name}", std::process::id());
        std::fs::create_dir(mount.join(&name)).expect("mkdir test cgroup");
        Some(TestCgroup { mount, name })
    }

    /// This cgroup's directory as the host sees it.
    fn dir(&self) -> PathBuf {
        self.mount.join(&self.name)
    }

    /// The prefix that starts tend as PID 1 of a PID and mount namespace
    /// where cgroup2 is /sys/fs/cgroup and tend is alone in this cgroup.
    fn prefix(&self) -> Vec<String> {
        let script = format!(
            "mount -t cgroup2 none /sys/fs/cgroup && echo $$ > /sys/fs/cgroup/{}/cgroup.procs && exec \"$0\" \"$@\"",
            self.name
        );
        [
            "unshare",
            "--pid",
            "--fork",
            "--mount-proc",
            "--mount",
            "sh",
            "-c",
            &script,
        ]
        .map(String::from)
        .to_vec()
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let dir = self.dir();
        // Runs' cgroups first; their processes are gone with tend's namespace.
        let _ = wait_until(Duration::from_secs(5), || {
            let children: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.is_dir())
                        .collect()
                })
                .unwrap_or_default();
            children.iter().all(|c| std::fs::remove_dir(c).is_ok())
                && std::fs::remove_dir(&dir).is_ok()
        });
        let _ = Command::new("umount").arg(self.mount.path()).status();
    }
}

/// Pids (as this test sees them) whose command line is `cmdline`.
fn pids_running(cmdline: &[&str]) -> Vec<u32> {
    let want = cmdline.join("\0") + "\0";
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
        })
        .collect()
}

/// The cgroup v2 path of `pid` (relative to the hierarchy's root).
fn cgroup_of(pid: u32) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn in_cgroup_mode_a_run_is_its_cgroup_and_a_stop_kills_all_of_it() {
    require_namespaces!(root, "to mount cgroup2");
    let Some(cg) = TestCgroup::new("tree") else {
        return;
    };
    // A daemon that leaves the app's session, drops its environment (so
    // nothing but its cgroup says whose it is) and ignores SIGTERM; a
    // token in its arguments finds it from here.
    let toml = r#"
[tend]
cgroups = "on"

[app.daemonizer]
command = "setsid env -i sh -c 'trap \"\" TERM; exec sleep 987.654' & trap '' TERM; sleep 1000"
stop_timeout = "1s"
pids_max = 64

# Counts its stop signals: a real-time one, so two are never merged into one.
[app.counter]
command = ["python3", "-u", "-c", "import signal, time\nn = 0\ndef got(*_):\n    global n\n    n += 1\n    print('counter: stop signal', n)\nsignal.signal(signal.SIGRTMIN + 3, got)\nprint('counter: ready')\nwhile True: time.sleep(0.05)"]
stop_signal = "SIGRTMIN+3"
stop_timeout = "2s"
log = "prefix"
"#;
    let prefix = cg.prefix();
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let t = Running::start_under("cg-tree", toml, &[], &prefix);
    t.wait_socket();
    let log = t.log();
    assert_eq!(
        t.count(&format!(
            "cgroup v2: each app runs in a cgroup of its own under /sys/fs/cgroup/{}",
            cg.name
        )),
        1,
        "{log}"
    );
    // No pids controller in this hierarchy here: said, not hidden.
    assert_eq!(
        t.count("app.daemonizer.pids_max is not enforced: its controller is not available"),
        1,
        "{log}"
    );
    assert_eq!(status_json(&t)["accounting"], "cgroup");
    let run_dir = cg.dir().join("daemonizer");
    assert!(
        wait_until(T, || !pids_running(&["sleep", "987.654"]).is_empty()),
        "the daemon never ran; log:\n{}",
        t.log()
    );
    let daemon = pids_running(&["sleep", "987.654"])[0];
    assert_eq!(cgroup_of(daemon), format!("/{}/daemonizer", cg.name));
    let procs = std::fs::read_to_string(run_dir.join("cgroup.procs")).unwrap();
    assert!(procs.lines().any(|p| p == daemon.to_string()), "{procs}");
    // tend itself sits in its leaf, beside the runs.
    assert_eq!(cgroup_of(t.pid()), format!("/{}/tend", cg.name));
    let describe = t.ctl(&["describe", "daemonizer"]);
    assert!(
        stdout(&describe).contains(&format!(
            "cgroup      /sys/fs/cgroup/{}/daemonizer",
            cg.name
        )),
        "{}",
        stdout(&describe)
    );

    // Each process of a run gets each signal once (not once as a member
    // of the process group and again as a member of the cgroup).
    t.wait_for("counter | counter: ready", 1, T);
    let out = t.ctl(&["stop", "counter"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(t.count("counter | counter: stop signal"), 1, "{}", t.log());
    assert!(t.log().contains("app=counter: pid"), "{}", t.log());

    let out = t.ctl(&["stop", "daemonizer"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wait_until(T, || pids_running(&["sleep", "987.654"]).is_empty()),
        "the daemon outlived the stop; log:\n{}",
        t.log()
    );
    // The run's cgroup goes with its last process.
    assert!(
        wait_until(T, || !run_dir.exists()),
        "{} is still there",
        run_dir.display()
    );
    let log = t.log();
    assert!(log.contains("app=daemonizer: stopped"), "{log}");
}

/// A started run's cgroup is created before its command runs: the first
/// thing the command sees of itself is its own cgroup. clone3 starts it
/// there where the kernel can; `without_clone3` runs tend where clone3
/// fails with ENOSYS (a seccomp filter, as on kernels before 5.3), and the
/// child joins between fork and exec instead.
#[test]
fn in_cgroup_mode_every_run_starts_inside_its_cgroup() {
    starts_inside_its_cgroup("start", false);
}

#[test]
fn without_clone3_an_app_still_starts_inside_its_cgroup() {
    starts_inside_its_cgroup("noclone3", true);
}

fn starts_inside_its_cgroup(name: &str, without_clone3: bool) {
    require_namespaces!(root, "to mount cgroup2");
    let Some(cg) = TestCgroup::new(name) else {
        return;
    };
    // Everything a start sets up, seen from inside: output through tend's
    // pipes, the directory, the user, the environment, the cgroup.
    let toml = r#"
[tend]
cgroups = "on"

[app.web]
command = "echo \"seen: $(pwd) uid=$(id -u) foo=$FOO $(grep ^0:: /proc/self/cgroup)\"; echo err >&2; sleep 0.3; exit 1"
instances = 2
restart_delay = "100ms"
log = "prefix"
cwd = "/tmp"
user = "nobody"
env = { FOO = "bar" }

[app.missing]
command = ["/nonexistent/command"]
restart = "never"

# Named like tend's own leaf: its run takes the second name.
[app.tend]
command = "grep ^0:: /proc/self/cgroup"
restart = "never"
log = "prefix"

# What clone3 answers in tend's namespace (no arguments: EINVAL where it
# works, ENOSYS under the filter).
[app.clone3]
command = ["python3", "-c", "import ctypes, os; c = ctypes.CDLL(None, use_errno=True); c.syscall(435, 0, 0); print('clone3:', os.strerror(ctypes.get_errno()))"]
restart = "never"
log = "prefix"
"#;
    let prefix = cg.prefix();
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let t = Running::start_under_with(&format!("cg-{name}"), toml, &[], &prefix, |cmd| {
        if without_clone3 {
            // SAFETY: the filter is installed between fork and exec with
            // prctl(2) alone, on data built before the fork.
            unsafe { cmd.pre_exec(refuse_clone3) };
        }
    });
    // Two runs of each instance.
    t.wait_for("| seen: ", 4, T);
    let log = t.log();
    for line in log.lines().filter(|l| l.contains("| seen: ")) {
        let instance = &line[..line.find(" |").unwrap()];
        assert_eq!(
            line,
            format!(
                "{instance} | seen: /tmp uid=65534 foo=bar 0::/{}/{instance}",
                cg.name
            ),
            "{log}"
        );
    }
    assert!(log.contains("web.0 | err"), "{log}");
    t.wait_for("tend | 0::", 1, T);
    assert!(
        t.log().contains(&format!("tend | 0::/{}/tend@1", cg.name)),
        "{}",
        t.log()
    );
    t.wait_for("clone3 | clone3: ", 1, T);
    let answer = match without_clone3 {
        true => "clone3 | clone3: Function not implemented",
        false => "clone3 | clone3: Invalid argument",
    };
    assert!(t.log().contains(answer), "{}", t.log());
    assert!(
        log.contains(
            "app=missing: cannot start \"/nonexistent/command\": No such file or directory"
        ),
        "{log}"
    );
}

/// Between fork and exec: a seccomp filter under which clone3 fails with
/// ENOSYS, inherited by everything the process starts.
fn refuse_clone3() -> std::io::Result<()> {
    const SYS_CLONE3: u32 = 435;
    const NR: u32 = 0; // offsetof(struct seccomp_data, nr)
    let stmt = |code: u16, k: u32| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    let filter = [
        stmt((libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, NR),
        libc::sock_filter {
            code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
            jt: 0,
            jf: 1,
            k: SYS_CLONE3,
        },
        stmt(
            (libc::BPF_RET | libc::BPF_K) as u16,
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ),
        stmt(
            (libc::BPF_RET | libc::BPF_K) as u16,
            libc::SECCOMP_RET_ALLOW,
        ),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: prctl(2) with a valid filter program that outlives the call.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A replacement (`listen`) starts the new run in a cgroup of its own and
/// stops the whole old run by its cgroup: a worker that left the old run's
/// process group gets the stop signal too, and the old cgroup goes.
#[test]
fn in_cgroup_mode_a_replacement_stops_the_whole_old_run() {
    require_namespaces!(root, "to mount cgroup2");
    let Some(cg) = TestCgroup::new("replace") else {
        return;
    };
    let toml = r#"
[tend]
cgroups = "on"

[app.web]
command = "echo \"run $(grep ^0:: /proc/self/cgroup)\"; setsid sh -c 'trap \"echo worker stopped; exit 0\" TERM; while :; do sleep 0.1; done' & trap 'exit 0' TERM; while :; do sleep 0.1; done"
listen = ["unix:{dir}/web.sock"]
log = "prefix"
"#;
    let prefix = cg.prefix();
    let prefix: Vec<&str> = prefix.iter().map(String::as_str).collect();
    let t = Running::start_under("cg-replace", toml, &[], &prefix);
    t.wait_for("web | run 0::", 1, T);
    t.wait_socket();
    let out = t.ctl(&["restart", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = t.log();
    assert!(
        log.contains(&format!("web | run 0::/{}/web\n", cg.name)),
        "{log}"
    );
    assert!(
        log.contains(&format!("web | run 0::/{}/web@2\n", cg.name)),
        "{log}"
    );
    assert!(
        wait_until(T, || t.count("web | worker stopped") == 1),
        "the old run's worker was not stopped:\n{}",
        t.log()
    );
    assert!(
        wait_until(T, || !cg.dir().join("web").exists()),
        "the old run's cgroup is still there:\n{}",
        t.log()
    );
    assert!(cg.dir().join("web@2").exists(), "{}", t.log());
}
