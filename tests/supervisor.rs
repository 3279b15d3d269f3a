//! Supervisor mode: the apps of an init.toml, tend as PID 1 of a namespace
//! unless the test needs to look at what is left after tend exits.

use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

fn lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

#[test]
fn crash_loop_with_max_restarts_3_starts_4_times_then_fails() {
    require_namespaces!();
    let mut t = Running::start(
        "crashloop",
        r#"
[app.crash]
command = "echo run >> {dir}/runs; exit 1"
restart_delay = "0s"
max_restarts = 3
"#,
    );
    let status = t.wait(T);
    assert_eq!(t.dir.read("runs").lines().count(), 4, "{}", t.log());
    assert_eq!(
        t.count("app=crash: failed: 3 restarts within 1m (max_restarts 3)"),
        1,
        "{}",
        t.log()
    );
    assert_eq!(status.code(), Some(1), "all apps ended, one failed: exit 1");
}

#[test]
fn restart_policies_never_and_on_failure() {
    require_namespaces!();
    let mut t = Running::start(
        "policies",
        r#"
[defaults]
restart_delay = "0s"
max_restarts = 1

[app.never]
command = "echo run >> {dir}/never; exit 3"
restart = "never"

[app.ok]
command = "echo run >> {dir}/ok; exit 0"
restart = "on-failure"

[app.bad]
command = "echo run >> {dir}/bad; exit 1"
restart = "on-failure"

[app.killed]
command = "echo run >> {dir}/killed; kill -9 $$"
restart = "on-failure"
"#,
    );
    let status = t.wait(T);
    let runs = |f: &str| t.dir.read(f).lines().count();
    assert_eq!(runs("never"), 1, "{}", t.log());
    assert_eq!(runs("ok"), 1, "on-failure does not restart a clean exit");
    assert_eq!(runs("bad"), 2, "on-failure restarts a non-zero exit");
    assert_eq!(runs("killed"), 2, "on-failure restarts a death by signal");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn all_apps_ending_cleanly_exits_0() {
    require_namespaces!();
    let mut t = Running::start(
        "clean",
        "[app.a]\ncommand = \"true\"\nrestart = \"never\"\n[app.b]\ncommand = \"sleep 0.2\"\nrestart = \"on-failure\"\n",
    );
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
}

#[test]
fn restart_delays_are_respected_and_double() {
    require_namespaces!();
    let mut t = Running::start(
        "delays",
        r#"
[app.timed]
command = "date +%s%N >> {dir}/starts; exit 1"
restart_delay = "300ms"
max_restart_delay = "1200ms"
max_restarts = 3
"#,
    );
    t.wait(T);
    let starts: Vec<u128> = t
        .dir
        .read("starts")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(starts.len(), 4, "{}", t.log());
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]) / 1_000_000)
        .collect();
    for (gap, want) in gaps.iter().zip([300, 600, 1200]) {
        assert!(
            *gap >= want - 5 && *gap < want + 1000,
            "gaps {gaps:?} ms, want about 300, 600, 1200"
        );
    }
    t.wait_for("restarting in 1200ms (restart 3/3 within 1m)", 1, T);
}

#[test]
fn a_150m_grandchild_over_max_memory_64m_is_restarted() {
    require_namespaces!();
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
fn leftovers_of_an_exited_main_are_stopped_before_a_restart() {
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
fn shutdown_stops_apps_in_parallel_and_exits_0() {
    require_namespaces!();
    let app = |n: &str| {
        format!(
            "[app.{n}]\ncommand = \"trap 'sleep 0.3; echo {n} >> {{dir}}/stopped; exit 0' TERM; echo up >> {{dir}}/up; while :; do sleep 0.05; done\"\n"
        )
    };
    let toml: String = ["a", "b", "c", "d"].iter().map(|n| app(n)).collect();
    let mut t = Running::start("shutdown", &toml);
    assert!(
        wait_until(T, || t.dir.read("up").lines().count() == 4),
        "{}",
        t.log()
    );
    let started = Instant::now();
    t.signal(libc::SIGTERM);
    let status = t.wait(T);
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0), "{}", t.log());
    assert_eq!(
        t.dir.read("stopped").lines().count(),
        4,
        "every app stopped gracefully"
    );
    assert!(
        took < Duration::from_millis(1000),
        "4 apps of 300ms each in parallel took {took:?}"
    );
}

#[test]
fn shutdown_order_follows_after_in_reverse() {
    require_namespaces!();
    let app = |n: &str, after: &str| {
        format!(
            "[app.{n}]\ncommand = \"trap 'echo {n} >> {{dir}}/order; exit 0' TERM; echo {n} >> {{dir}}/started; while :; do sleep 0.05; done\"\nafter = [{after}]\n"
        )
    };
    let toml = app("db", "") + &app("api", "\"db\"") + &app("web", "\"api\"");
    let mut t = Running::start("order", &toml);
    assert!(wait_until(T, || t.dir.read("started").lines().count() == 3));
    let started: Vec<String> = t
        .log()
        .lines()
        .filter(|l| l.contains(": started, pid"))
        .map(|l| {
            l.split("app=")
                .nth(1)
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(started, ["db", "api", "web"], "start order");
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0));
    assert_eq!(
        lines(&t.dir.read("order")),
        ["web", "api", "db"],
        "stop order: {}",
        t.log()
    );
}

#[test]
fn a_second_term_kills_at_once() {
    require_namespaces!();
    let mut t = Running::start(
        "twice",
        "[app.slow]\ncommand = \"trap '' TERM; echo up > {dir}/up; while :; do sleep 0.05; done\"\nstop_timeout = \"30s\"\n",
    );
    assert!(wait_until(T, || !t.dir.read("up").is_empty()));
    t.signal(libc::SIGTERM);
    t.wait_for("app=slow: stopping", 1, T);
    let started = Instant::now();
    t.signal(libc::SIGINT);
    assert_eq!(t.wait(T).code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(2), "{}", t.log());
}

#[test]
fn a_critical_app_ending_sets_the_exit_code_and_stops_the_rest() {
    require_namespaces!();
    let mut t = Running::start(
        "critical",
        r#"
[app.other]
command = "trap 'echo stopped > {dir}/other; exit 0' TERM; while :; do sleep 0.05; done"

[app.main]
command = "sleep 0.3; exit 7"
restart = "never"
critical = true
"#,
    );
    assert_eq!(t.wait(T).code(), Some(7), "{}", t.log());
    assert_eq!(t.dir.read("other").trim(), "stopped");
    assert_eq!(t.count("critical app ended for good"), 1);
}

#[test]
fn instances_get_their_names_and_numbers() {
    require_namespaces!();
    let mut t = Running::start(
        "instances",
        "[app.web]\ncommand = 'echo \"$TEND_APP $TEND_INSTANCE\" >> {dir}/ids'\ninstances = 3\nrestart = \"never\"\n",
    );
    assert_eq!(t.wait(T).code(), Some(0));
    let mut ids = lines(&t.dir.read("ids"));
    ids.sort();
    assert_eq!(ids, ["web.0 0", "web.1 1", "web.2 2"]);
    for i in 0..3 {
        assert_eq!(t.count(&format!("app=web.{i}: started")), 1);
    }
}

#[test]
fn env_cwd_and_the_shell_form() {
    require_namespaces!();
    let mut cmd_env = Running::start(
        "env",
        r#"
[defaults]
env = { FROM_DEFAULTS = "d", OVERRIDDEN = "default" }

[app.shell]
command = 'echo "$FROM_DEFAULTS $OVERRIDDEN $INHERITED $(pwd)" > {dir}/out'
env = { OVERRIDDEN = "app" }
cwd = "/tmp"
restart = "never"

[app.argv]
command = ["sh", "-c", "echo \"$0 $1\" > {dir}/argv", "zero", "one  two"]
restart = "never"
"#,
    );
    assert_eq!(cmd_env.wait(T).code(), Some(0), "{}", cmd_env.log());
    // INHERITED comes from the test's own environment through unshare.
    assert_eq!(cmd_env.dir.read("out").trim(), "d app yes /tmp");
    assert_eq!(cmd_env.dir.read("argv").trim(), "zero one  two");
}

#[test]
fn user_nobody_runs_as_65534() {
    require_namespaces!(root, "to switch users");
    // The app writes as nobody into a dir made before tend starts.
    let out_dir = TempDir::new("user-out");
    std::fs::set_permissions(
        out_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let o = out_dir.path().display();
    let mut t = Running::start(
        "user",
        &format!(
            "[app.id]\ncommand = 'id -u > {o}/out; id -g >> {o}/out; echo \"$HOME $USER\" >> {o}/out'\nuser = \"nobody\"\nrestart = \"never\"\n"
        ),
    );
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    let out = lines(&out_dir.read("out"));
    assert_eq!(out[0], "65534");
    let nobody_gid = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(3).map(String::from))
        .unwrap();
    assert_eq!(out[1], nobody_gid, "the primary group of nobody");
    assert_eq!(out[2], "/nonexistent nobody");
}

#[test]
fn a_command_that_cannot_start_is_retried_with_backoff() {
    require_namespaces!();
    let mut t = Running::start(
        "execfail",
        "[app.ghost]\ncommand = [\"/nonexistent/ghost\"]\nrestart_delay = \"100ms\"\nmax_restart_delay = \"400ms\"\nmax_restarts = 3\n",
    );
    let started = Instant::now();
    assert_eq!(t.wait(T).code(), Some(1));
    assert!(
        started.elapsed() >= Duration::from_millis(650),
        "100+200+400ms of backoff"
    );
    assert_eq!(
        t.count("app=ghost: cannot start \"/nonexistent/ghost\": No such file or directory"),
        4,
        "{}",
        t.log()
    );
    for d in ["100ms", "200ms", "400ms"] {
        assert_eq!(t.count(&format!("restarting in {d}")), 1, "{}", t.log());
    }
    assert_eq!(t.count("app=ghost: failed"), 1);
}

#[test]
fn an_idle_supervisor_never_wakes_up() {
    require_namespaces!();
    let t = Running::start(
        "idle",
        "[app.a]\ncommand = \"exec sleep 60\"\n[app.b]\ncommand = [\"sleep\", \"60\"]\ninstances = 2\n",
    );
    t.wait_for("started", 3, T);
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
        "[tend]\npoll_interval = \"500ms\"\n[app.a]\ncommand = \"exec sleep 60\"\nmax_memory = \"1G\"\n",
    );
    t.wait_for("started", 1, T);
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

#[test]
fn check_reports_every_problem_with_line_and_column() {
    let dir = TempDir::new("check");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[app.web]\ncommand = \"x\"\nrestart_delay = \"3x\"\nbogus = true\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &bad.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let b = bad.display();
    assert!(
        err.contains(&format!(
            "{b}:3:17: app.web.restart_delay: invalid duration \"3x\""
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{b}:4:1: app.web.bogus: unknown field `bogus`")),
        "{err}"
    );

    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[app.web]\ncommand = [\"sh\", \"-c\", \"true\"]\ninstances = 2\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &good.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok, 2 apps: web.0, web.1"));

    // Starting on a bad file: exit 2 before anything runs.
    let out = output_or_kill(tend(["-c", &bad.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("started"));
}

#[test]
fn the_shipped_init_toml_is_valid() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/init.toml");
    let out = output_or_kill(tend(["check", file]), T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn wrapper_restart_flags_supervise_one_command() {
    let dir = TempDir::new("wrapflags");
    let runs = dir.join("runs");
    let script = format!("echo run >> {}; exit 3", runs.display());
    let out = output_or_kill(
        tend([
            "--restart",
            "on-failure",
            "--restart-delay",
            "50ms",
            "--max-restarts",
            "2",
            "--",
            "sh",
            "-c",
            &script,
        ]),
        T,
    );
    assert_eq!(dir.read("runs").lines().count(), 3, "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(3), "the last run's code");
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
fn json_log_lines_have_stable_fields() {
    require_namespaces!();
    let mut t = Running::start(
        "json",
        "[tend]\nlog_format = \"json\"\n[app.a]\ncommand = [\"true\"]\nrestart = \"never\"\n",
    );
    assert_eq!(t.wait(T).code(), Some(0));
    let log = t.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            line.starts_with("{\"ts\":") && line.ends_with('}'),
            "{line}"
        );
        assert!(
            line.contains("\"level\":\"") && line.contains("\"pid\":1,"),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"app\":\"a\",\"event\":\"started\",\"msg\":\"started, pid 2\"")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"event\":\"exited\"")),
        "{log}"
    );
}

#[test]
fn other_signals_are_forwarded_to_every_app() {
    require_namespaces!();
    let app = |n: &str| {
        format!(
            "[app.{n}]\ncommand = \"trap 'echo {n} >> {{dir}}/usr1' USR1; echo up >> {{dir}}/up; while :; do sleep 0.05; done\"\n"
        )
    };
    let mut t = Running::start("usr1", &(app("a") + &app("b")));
    assert!(wait_until(T, || t.dir.read("up").lines().count() == 2));
    t.signal(libc::SIGUSR1);
    assert!(
        wait_until(T, || t.dir.read("usr1").lines().count() == 2),
        "{}",
        t.log()
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0));
}

#[test]
fn a_stuck_reader_of_prefixed_logs_does_not_stall_supervision() {
    require_namespaces!();
    let dir = TempDir::new("stuck-reader");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            "[app.chatty]\ncommand = \"while :; do echo spam spam spam spam spam spam spam spam; done\"\nlog = \"prefix\"\n[app.crash]\ncommand = \"echo run >> {d}/runs; exit 1\"\nrestart_delay = \"0s\"\nmax_restarts = 100000\n"
        ),
    )
    .unwrap();
    // tend's stdout: a pipe nobody reads. Its stderr: a file.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just made these fds; each is owned once.
    let (reader, writer) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    let log = std::fs::File::create(dir.join("tend.log")).unwrap();
    let mut child = tend_pid1(["-c", &dir.join("init.toml").display().to_string()])
        .env("TEND_SOCKET", dir.join("tend.sock"))
        .stdout(std::process::Stdio::from(writer))
        .stderr(log)
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1000));
    let runs = || dir.read("runs").lines().count();
    let before = runs();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        runs() > before + 10,
        "restarts stalled: {before} -> {}",
        runs()
    );
    let mut cmd = std::process::Command::new(tend_bin());
    cmd.arg("status").env("TEND_SOCKET", dir.join("tend.sock"));
    assert!(
        output_or_kill(cmd, T).status.success(),
        "status did not answer"
    );
    signal(pid1_of(&child), libc::SIGTERM);
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
    drop(reader);
}

#[test]
fn prefixed_logs_never_mix_lines() {
    require_namespaces!();
    // Two apps write 3,000 lines each as fast as they can, to stdout and
    // stderr, then one last line without a newline.
    let chatty = |n: &str| {
        format!(
            "[app.{n}]\ncommand = '''i=0; while [ $i -lt 3000 ]; do echo \"{n} line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; echo \"{n} err $i\" >&2; i=$((i+1)); done; printf \"{n} tail\"'''\nlog = \"prefix\"\nrestart = \"never\"\n"
        )
    };
    let mut t = Running::start("prefix", &(chatty("a") + &chatty("b")));
    assert_eq!(
        t.wait(Duration::from_secs(60)).code(),
        Some(0),
        "{}",
        t.log().len()
    );
    let log = t.log();
    let mut counts = std::collections::HashMap::new();
    for line in log.lines() {
        if line.starts_with("tend[") {
            continue;
        }
        let (prefix, rest) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("unprefixed line: {line:?}"));
        assert!(
            rest.starts_with(&format!("{prefix} ")),
            "a line of {prefix} holds another app's text: {line:?}"
        );
        let kind = rest.split_whitespace().nth(1).unwrap();
        if kind == "line" {
            assert!(rest.ends_with("xxxxxxxx"), "cut line: {line:?}");
        }
        *counts.entry(format!("{prefix} {kind}")).or_insert(0) += 1;
    }
    for app in ["a", "b"] {
        assert_eq!(
            counts.get(&format!("{app} line")),
            Some(&3000),
            "{counts:?}"
        );
        assert_eq!(counts.get(&format!("{app} err")), Some(&3000), "{counts:?}");
        assert_eq!(
            counts.get(&format!("{app} tail")),
            Some(&1),
            "partial last line flushed: {counts:?}"
        );
    }
}

#[test]
fn a_closed_stderr_does_not_kill_the_apps() {
    // Every log line tend writes to a closed pipe raises SIGPIPE in tend;
    // it must not reach the apps.
    let dir = TempDir::new("sigpipe");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            "[app.steady]\ncommand = \"echo $$ >> {d}/steady; exec sleep 600\"\n[app.flappy]\ncommand = \"exit 1\"\nrestart_delay = \"50ms\"\nmax_restart_delay = \"50ms\"\nmax_restarts = 1000\n"
        ),
    )
    .unwrap();
    // tend's stdout and stderr go to `true`, which exits at once.
    let pipeline = format!("{} -c {}/init.toml 2>&1 | true; sleep 30", tend_bin(), d);
    let mut sh = std::process::Command::new("sh")
        .args(["-c", &pipeline])
        .env("TEND_SOCKET", fresh_socket())
        .spawn()
        .expect("spawn");
    let mut tend_pid = None;
    wait_until(T, || {
        tend_pid = children_of(sh.id()).into_iter().find(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(tend_bin()))
        });
        tend_pid.is_some()
    });
    let tend_pid = tend_pid.expect("tend in the pipeline");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        dir.read("steady").lines().count(),
        1,
        "steady was restarted"
    );
    signal(tend_pid, libc::SIGTERM);
    assert!(wait_until(T, || status_field(tend_pid, "State")
        .is_none_or(|s| s.starts_with('Z'))));
    let _ = sh.kill();
    let _ = sh.wait();
}

#[test]
fn a_missing_command_with_zero_delay_does_not_spin() {
    require_namespaces!();
    let t = Running::start(
        "nospin",
        "[app.ghost]\ncommand = [\"/nonexistent\"]\nrestart_delay = \"0s\"\nmax_restart_delay = \"0s\"\nmax_restarts = 100000\n[app.other]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_for("app=other: started", 1, T);
    std::thread::sleep(Duration::from_millis(1000));
    let tries = t.count("cannot start \"/nonexistent\"");
    assert!(
        (3..=15).contains(&tries),
        "one try per 100 ms at most: {tries}"
    );
    t.wait_socket();
}

#[test]
fn nothing_restarts_during_a_shutdown() {
    require_namespaces!();
    let mut t = Running::start(
        "no-restart-in-shutdown",
        r#"
[app.db]
command = "echo run >> {dir}/db; sleep 0.1; exit 1"
restart_delay = "0s"
max_restarts = 1000

[app.web]
command = "trap 'sleep 1; exit 0' TERM; echo up > {dir}/web; while :; do sleep 0.05; done"
after = ["db"]
"#,
    );
    assert!(wait_until(T, || !t.dir.read("web").is_empty()));
    t.signal(libc::SIGTERM);
    t.wait_for("stopping every app", 1, T);
    let runs_then = t.dir.read("db").lines().count();
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    let runs_after = t.dir.read("db").lines().count();
    assert!(
        runs_after <= runs_then + 1,
        "db restarted during the shutdown: {runs_then} -> {runs_after}\n{}",
        t.log()
    );
}

#[test]
fn wrapper_flags_keep_127_for_a_missing_command() {
    for flags in [&["--restart", "never"][..], &["--max-memory", "1G"]] {
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["--", "/nonexistent/cmd"]);
        let out = output_or_kill(tend(&args), T);
        assert_eq!(out.status.code(), Some(127), "{flags:?}: {}", stderr(&out));
    }
}
