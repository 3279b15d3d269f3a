//! What children start with: an empty signal mask and default dispositions;
//! in wrapper mode on an interactive terminal, the foreground, with job
//! control (Ctrl-Z, `fg`) still working.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

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
