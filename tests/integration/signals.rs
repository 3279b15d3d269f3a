//! Signals sent to tend (DESIGN.md "Signals sent to tend"): wrapper mode
//! forwards every catchable signal, also one sent before the child exists;
//! supervisor mode forwards the others to every app, and a second TERM/INT
//! during a shutdown kills at once. HUP (reload) is tested in
//! operating::commands, RTMIN+3 in container.

use std::os::unix::process::CommandExt;
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
