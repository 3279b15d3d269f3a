//! Command line (DESIGN.md "Command line"): usage errors, `--help` and
//! `--version`, `tend` alone with no config to run; `tend [FLAGS] -- CMD`
//! with `--restart`, a one-app supervisor. `tend check` is tested in init_toml, the control commands in
//! operating.

use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

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

/// `tend` with no arguments in an empty directory (as PID 1 when `pid1`):
/// nothing to run, so the reason, then the commands; exit 2. The same
/// without a config but with an argument: the one line alone.
fn tend_alone_without_a_config(pid1: bool) {
    if std::path::Path::new("/etc/tend/init.toml").exists() {
        eprintln!("skipped: /etc/tend/init.toml exists here, and tend alone would run it");
        return;
    }
    let dir = TempDir::new("alone");
    let run = |args: &[&str]| {
        let mut cmd = if pid1 { tend_pid1(args) } else { tend(args) };
        cmd.current_dir(dir.path()).env_remove("TEND_CONFIG");
        output_or_kill(cmd, T)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    let (reason, synopsis) = err.split_once("\n\n").expect("a blank line");
    assert!(reason.starts_with("tend: no config file: "), "{err}");
    assert!(!reason.contains('\n'), "{err}");
    assert!(synopsis.starts_with("usage:\n  tend [-c FILE] "), "{err}");
    for command in [
        "tend [FLAGS] -- CMD [ARG...]",
        "tend check",
        "tend status",
        "tend --version | --help",
    ] {
        assert!(synopsis.contains(command), "{command}: {err}");
    }
    let help = stdout(&output_or_kill(tend(["--help"]), T));
    assert!(help.contains(synopsis), "the synopsis is --help's: {err}");

    let out = run(&["--socket", "/nonexistent/tend.sock"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).starts_with("tend: no config file: "));
}

#[test]
fn tend_alone_without_a_config_shows_its_commands_and_exits_2() {
    tend_alone_without_a_config(false);
}

#[test]
fn tend_alone_without_a_config_shows_its_commands_and_exits_2_as_pid1() {
    require_namespaces!();
    tend_alone_without_a_config(true);
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
