//! Wrapper mode without flags: tend as a drop-in for tini and dumb-init.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn exit_codes_pass_through_as_pid1() {
    require_namespaces!();
    for (script, want) in [
        ("exit 0", 0),
        ("exit 3", 3),
        ("kill -9 $$", 128 + 9),
        ("kill -SEGV $$", 128 + 11),
        ("kill -s 37 $$", 128 + 37), // SIGRTMIN+3: a signal nix cannot name
    ] {
        let out = output_or_kill(tend_pid1(["--", "sh", "-c", script]), T);
        assert_eq!(out.status.code(), Some(want), "{script}: {}", stderr(&out));
    }
}

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
fn five_thousand_orphans_leave_no_zombie_as_pid1() {
    require_namespaces!();
    // Each `(true &)` is a subshell that forks one more and exits at once:
    // the inner one is orphaned to PID 1 and dies there. Then the child
    // counts zombies in the namespace while tend still runs.
    let script = "i=0; while [ $i -lt 5000 ]; do (true &); i=$((i+1)); done
        n=1; tries=0
        while [ $n -ne 0 ] && [ $tries -lt 100 ]; do
          n=$(grep -s '^State:.*zombie' /proc/[0-9]*/status | wc -l); tries=$((tries+1)); sleep 0.01
        done
        echo zombies=$n forks=$i";
    let out = output_or_kill(
        tend_pid1(["--", "sh", "-c", script]),
        Duration::from_secs(120),
    );
    assert_eq!(
        stdout(&out).trim(),
        "zombies=0 forks=5000",
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn subreaper_adopts_and_reaps_orphans_when_not_pid1() {
    let dir = TempDir::new("subreaper");
    let d = dir.path().display();
    // The orphan records its pid, waits for its parent to be gone, then
    // records its new parent. The child checks the orphan was reaped.
    let script = format!(
        "(sh -c 'echo $$ > {d}/orphan; sleep 0.3; while read -r k v; do [ \"$k\" = PPid: ] && echo $v > {d}/ppid; done < /proc/$$/status' &)
         while [ ! -s {d}/ppid ]; do sleep 0.02; done
         o=$(cat {d}/orphan); sleep 0.3
         if [ -e /proc/$o ]; then grep State /proc/$o/status; exit 1; fi"
    );
    let mut child = tend(["--", "sh", "-c", &script]).spawn().expect("spawn");
    let tend_pid = child.id();
    let status = wait_or_kill(&mut child, T);
    assert_eq!(
        dir.read("ppid").trim(),
        tend_pid.to_string(),
        "orphan not adopted by tend"
    );
    assert_eq!(status.code(), Some(0), "orphan not reaped");
}

#[test]
fn child_starts_with_empty_mask_and_no_ignored_signals() {
    require_namespaces!();
    let mut cmd = tend_pid1(["--", "grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]);
    // tend itself starts with signals blocked and ignored, as a careless
    // parent might leave them.
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for s in [
                libc::SIGTERM,
                libc::SIGUSR1,
                libc::SIGCHLD,
                37, // SIGRTMIN+3 as glibc, systemd and podman count
            ] {
                libc::sigaddset(&mut set, s);
            }
            libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            libc::signal(libc::SIGINT, libc::SIG_IGN);
            libc::signal(libc::SIGPIPE, libc::SIG_IGN);
            // Signal 32 is glibc's own: only the raw syscall reaches it.
            let ign: [usize; 4] = [1, 0, 0, 0];
            libc::syscall(
                libc::SYS_rt_sigaction,
                32,
                ign.as_ptr(),
                std::ptr::null_mut::<usize>(),
                8usize,
            );
            Ok(())
        });
    }
    let out = output_or_kill(&mut cmd, T);
    assert_eq!(
        stdout(&out),
        "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n",
        "{}",
        stderr(&out)
    );
}

#[test]
fn exec_failures_exit_127_and_126_with_one_clear_line() {
    require_namespaces!();
    let dir = TempDir::new("exec");
    let script = dir.join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let cases = [
        (
            "/nonexistent/app".to_string(),
            127,
            "No such file or directory",
        ),
        (
            "no-such-command-anywhere".to_string(),
            127,
            "No such file or directory",
        ),
        (script.display().to_string(), 126, "Permission denied"),
        (dir.path().display().to_string(), 126, "Permission denied"),
    ];
    for (cmd, code, why) in cases {
        let out = output_or_kill(tend_pid1(["--", &cmd]), T);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{cmd}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("cannot start {cmd:?}")) && err.contains(why),
            "{err}"
        );
    }
}

#[test]
fn ten_megabytes_stream_through_untouched() {
    require_namespaces!();
    let data: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut child = tend_pid1(["--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || stdin.write_all(&data))
    };
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).map(|_| v)
    });
    writer.join().unwrap().expect("write");
    let got = reader.join().unwrap().expect("read");
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
    assert!(
        got == data,
        "stream differs: {} bytes back of {}",
        got.len(),
        data.len()
    );
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
fn terminal_foreground_goes_to_the_child() {
    // `script` gives tend a pty as its controlling terminal and stdin.
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: script(1) from util-linux is not installed");
        return;
    }
    let inner = format!(
        "{} -- sh -c 'read -r l < /proc/self/stat; set -- $l; echo \"pid=$1 pgrp=$5 tpgid=$8\"'",
        tend_bin()
    );
    let out = output_or_kill(
        Command::new("script")
            .args(["-qec", &inner, "/dev/null"])
            .stdin(Stdio::null()),
        T,
    );
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("pid="))
        .unwrap_or_else(|| panic!("{text}"));
    let fields: Vec<&str> = line
        .split(' ')
        .map(|f| f.split('=').nth(1).unwrap())
        .collect();
    assert_eq!(fields[0], fields[1], "child leads its own group: {line}");
    assert_eq!(
        fields[1], fields[2],
        "child's group is the terminal's foreground: {line}"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn ctrl_z_stops_tend_too_and_fg_resumes_both() {
    // bash with job control runs tend as a foreground job on a pty; the
    // child stops itself as Ctrl-Z would. tend must stop in turn (or bash
    // would wait forever), then resume the child on `fg`.
    if Command::new("script").arg("--version").output().is_err()
        || Command::new("bash").arg("--version").output().is_err()
    {
        eprintln!("skipped: script(1) or bash is not installed");
        return;
    }
    let dir = TempDir::new("ctrlz");
    let job = dir.join("job.sh");
    std::fs::write(
        &job,
        format!(
            "set -m\n{} -- sh -c 'kill -TSTP $$; echo resumed'\necho \"after=$?\"\nfg\necho \"done=$?\"\n",
            tend_bin()
        ),
    )
    .unwrap();
    let out = output_or_kill(
        Command::new("script")
            .args(["-qec", &format!("bash {}", job.display()), "/dev/null"])
            .stdin(Stdio::null()),
        T,
    );
    let text = stdout(&out);
    let after = text
        .find("after=147")
        .unwrap_or_else(|| panic!("tend did not stop (147 = 128+SIGSTOP): {text}"));
    let resumed = text
        .find("resumed")
        .unwrap_or_else(|| panic!("child not resumed: {text}"));
    let done = text
        .find("done=0")
        .unwrap_or_else(|| panic!("fg did not finish: {text}"));
    assert!(after < resumed && resumed < done, "{text}");
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    for args in [
        &["--bogus"][..],
        &["--restart", "sometimes", "--", "true"],
        &["run-me"],
    ] {
        let out = output_or_kill(&mut tend(args), T);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    let out = output_or_kill(&mut tend(["--help"]), T);
    assert!(stdout(&out).contains("tend [FLAGS] -- CMD"));
    let out = output_or_kill(&mut tend(["--version"]), T);
    assert!(stdout(&out).starts_with("tend "));
}

use std::process::Command;

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
