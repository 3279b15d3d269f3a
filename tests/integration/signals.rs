//! Signals sent to tend (DESIGN.md "Signals sent to tend"): wrapper mode
//! forwards every catchable signal, also one sent before the child exists,
//! and also the fault signals, PIPE, TTIN and TTOU when another process
//! sends them; supervisor mode forwards the others to every app, and a
//! second TERM/INT during a shutdown kills at once. HUP (reload) is tested
//! in operating::commands, RTMIN+3 in container. That a real fault in tend
//! still kills it is a unit test (signals.rs): tend has no fault to inject.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn every_catchable_signal_is_forwarded() {
    require_namespaces!();
    let dir = TempDir::new("fwd");
    let log = dir.join("log");
    let log = log.display();
    let names = [
        "HUP", "INT", "QUIT", "USR1", "USR2", "WINCH", "CONT", "ALRM", "URG", "PWR",
    ];
    let traps: String = names
        .iter()
        .map(|n| format!("trap 'echo {n} >> {log}' {n}\n"))
        .collect();
    let script = format!(
        "{traps}trap 'echo TERM >> {log}; exit 0' TERM\necho ready >> {log}\nwhile :; do sleep 0.02; done"
    );
    let mut child = tend_pid1(["--", "sh", "-c", &script])
        .spawn()
        .expect("spawn");
    let tend = pid1_of(&child);
    assert!(wait_until(T, || dir.read("log").contains("ready")));
    for name in names {
        let sig = signal_number(name);
        signal(tend, sig);
        assert!(
            wait_until(T, || dir.read("log").lines().any(|l| l == name)),
            "SIG{name} was not forwarded: {}",
            dir.read("log")
        );
    }
    signal(tend, libc::SIGTERM);
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
}

fn signal_number(name: &str) -> i32 {
    match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "WINCH" => libc::SIGWINCH,
        "CONT" => libc::SIGCONT,
        "ALRM" => libc::SIGALRM,
        "URG" => libc::SIGURG,
        "PWR" => libc::SIGPWR,
        _ => panic!("unknown signal {name}"),
    }
}

#[test]
fn a_signal_sent_at_start_is_not_lost() {
    // TERM is blocked when tend starts, so the TERM sent right after the
    // fork is pending before tend has a handler, a child, or a group to
    // forward to; it must still reach the child once there is one.
    for round in 0..20 {
        let mut cmd = tend(["--", "sh", "-c", "trap 'exit 42' TERM; sleep 5 & wait"]);
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn");
        signal(child.id(), libc::SIGTERM);
        let status = wait_or_kill(&mut child, T);
        // 42: the trap ran; 143: TERM arrived before sh set the trap.
        assert!(
            matches!(status.code(), Some(42) | Some(143)),
            "round {round}: {status:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "round {round}: TERM lost"
        );
    }
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
fn a_second_term_kills_at_once() {
    require_namespaces!();
    let mut t = Running::start(
        "twice",
        "[tend]\nlog_format = \"json\"\n[app.slow]\ncommand = \"trap '' TERM; echo up > {dir}/up; while :; do sleep 0.05; done\"\nstop_timeout = \"30s\"\n",
    );
    assert!(wait_until(T, || !t.dir.read("up").is_empty()));
    t.signal(libc::SIGTERM);
    t.wait_event("slow", "stopping", 1, T);
    let started = Instant::now();
    t.signal(libc::SIGINT);
    assert_eq!(t.wait(T).code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(2), "{}", t.log());
}

/// Signals the kernel also raises in tend for something tend did (a fault,
/// a write to a closed pipe, a terminal access): sent by another process,
/// they are forwarded like any other.
const SENT_ONLY: [(&str, i32); 10] = [
    ("SEGV", libc::SIGSEGV),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("ILL", libc::SIGILL),
    ("ABRT", libc::SIGABRT),
    ("TRAP", libc::SIGTRAP),
    ("SYS", libc::SIGSYS),
    ("PIPE", libc::SIGPIPE),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
];

/// A child that appends the name of each signal it gets (those named after
/// the log file) to the log file, says `ready` there first, and exits 0 on
/// TERM. python3, because sh cannot be relied on to trap fault signals.
const TRAPS_PY: &str = r#"
import signal, sys, time
log = open(sys.argv[1], "a", buffering=1)
def got(n, _):
    log.write(signal.Signals(n).name[3:] + "\n")
for name in sys.argv[2:]:
    signal.signal(getattr(signal, "SIG" + name), got)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
log.write("ready\n")
while True:
    time.sleep(1)
"#;

/// `tend -- python3 TRAPS_PY LOG NAMES...` (as PID 1 when `pid1`): each
/// signal of SENT_ONLY sent to tend twice with kill(2), once with
/// sigqueue(3) and once with tgkill(2) reaches the child, tend survives,
/// and the child is still tend's, and still running.
fn sent_faults_reach_the_child(pid1: bool) {
    let dir = TempDir::new("sentfaults");
    let log = dir.join("log");
    let mut args = vec![
        "--".to_string(),
        "python3".into(),
        "-c".into(),
        TRAPS_PY.into(),
    ];
    args.push(log.display().to_string());
    args.extend(SENT_ONLY.iter().map(|(name, _)| name.to_string()));
    let mut cmd = if pid1 { tend_pid1(&args) } else { tend(&args) };
    // No terminal: tend forwards TTIN and TTOU only when it does not hold
    // the terminal's foreground, which it would under an interactive
    // `cargo test`.
    let mut tend_proc = KillOnDrop(cmd.stdin(Stdio::null()).spawn().expect("spawn"));
    let tend = if pid1 {
        pid1_of(&tend_proc.0)
    } else {
        tend_proc.0.id()
    };
    assert!(wait_until(T, || dir.read("log").contains("ready")));
    let child = children_of(tend);
    assert_eq!(child.len(), 1, "{child:?}");
    let mut want = vec!["ready".to_string()];
    for (name, sig) in SENT_ONLY {
        for send in [signal, signal, sigqueue, tgkill] {
            send(tend, sig);
            want.push(name.to_string());
            assert!(
                wait_until(T, || lines(&dir.read("log")) == want),
                "SIG{name} was not forwarded (once each): {}",
                dir.read("log")
            );
            assert!(
                tend_proc.0.try_wait().expect("try_wait").is_none(),
                "tend died of SIG{name}"
            );
        }
    }
    assert_eq!(children_of(tend), child, "the child is still tend's");
    signal(tend, libc::SIGTERM);
    assert_eq!(wait_or_kill(&mut tend_proc.0, T).code(), Some(0));
}

#[test]
fn fault_signals_sent_by_another_process_are_forwarded() {
    require_tool!("python3", "-V");
    sent_faults_reach_the_child(false);
}

#[test]
fn fault_signals_sent_by_another_process_are_forwarded_as_pid1() {
    require_namespaces!();
    require_tool!("python3", "-V");
    sent_faults_reach_the_child(true);
}

/// An app of an init.toml running TRAPS_PY, logging to {dir}/NAME.
fn trapping_app(name: &str, signals: &str) -> String {
    format!(
        "[app.{name}]\ncommand = [\"python3\", \"-c\", '''{TRAPS_PY}''', \"{{dir}}/{name}\", {signals}]\n"
    )
}

#[test]
fn fault_signals_sent_to_a_supervisor_reach_every_app() {
    require_namespaces!();
    require_tool!("python3", "-V");
    let traps = "\"SEGV\", \"ILL\", \"PIPE\"";
    let mut t = Running::start(
        "supfaults",
        &format!(
            "[tend]\nlog_format = \"json\"\n{}{}",
            trapping_app("a", traps),
            trapping_app("b", traps)
        ),
    );
    let logs = |t: &Running| [lines(&t.dir.read("a")), lines(&t.dir.read("b"))];
    let mut want = vec!["ready".to_string()];
    assert!(
        wait_until(T, || logs(&t) == [want.clone(), want.clone()]),
        "{}",
        t.log()
    );
    for (name, sig) in [
        ("SEGV", libc::SIGSEGV),
        ("ILL", libc::SIGILL),
        ("PIPE", libc::SIGPIPE),
    ] {
        for _ in 0..2 {
            t.signal(sig);
            want.push(name.to_string());
            assert!(
                wait_until(T, || logs(&t) == [want.clone(), want.clone()]),
                "SIG{name}: {:?}\n{}",
                logs(&t),
                t.log()
            );
        }
    }
    assert_eq!(t.events("a", "started").len(), 1, "{}", t.log());
    assert_eq!(t.events("b", "started").len(), 1, "{}", t.log());
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0));
}

#[test]
fn ttin_and_ttou_stay_with_a_tend_that_holds_the_terminal() {
    // `script` gives tend (supervisor mode, as from an interactive shell) a
    // pty whose foreground is tend's own group; the app runs in a session
    // of its own. There TTIN and TTOU are not forwarded; USR1 is.
    require_tool!("python3", "-V");
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) from util-linux is not installed");
        return;
    }
    let dir = TempDir::new("ttin");
    let config = dir.join("init.toml");
    let toml = trapping_app("a", "\"TTIN\", \"TTOU\", \"USR1\"")
        .replace("{dir}", &dir.path().display().to_string());
    std::fs::write(&config, toml).unwrap();
    let inner = format!("exec {} -c {}", tend_bin(), config.display());
    let mut script = KillOnDrop(
        Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .env("TEND_SOCKET", fresh_socket())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn script"),
    );
    assert!(
        wait_until(T, || dir.read("a").contains("ready")),
        "{}",
        dir.read("a")
    );
    let tend = descendants(script.0.id())
        .into_iter()
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(tend_bin()))
        })
        .expect("tend under script");
    // Fields 5 and 8 of /proc/PID/stat: the group, the terminal's foreground.
    let stat = std::fs::read_to_string(format!("/proc/{tend}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split(' ').collect();
    assert_eq!(fields[3], fields[6], "tend holds the terminal: {stat}");
    signal(tend, libc::SIGTTIN);
    signal(tend, libc::SIGTTOU);
    // Apart, so that tend has drained them before USR1 comes.
    std::thread::sleep(Duration::from_millis(300));
    signal(tend, libc::SIGUSR1);
    assert!(
        wait_until(T, || dir.read("a").contains("USR1")),
        "{}",
        dir.read("a")
    );
    assert_eq!(lines(&dir.read("a")), ["ready", "USR1"]);
    signal(tend, libc::SIGTERM);
    assert_eq!(wait_or_kill(&mut script.0, T).code(), Some(0));
}
