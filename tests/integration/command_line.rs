//! Command line (DESIGN.md "Command line"): usage errors, `--help` and
//! `--version`; `tend [FLAGS] -- CMD` with `--restart`, a one-app
//! supervisor. `tend check` is tested in init_toml, the control commands in
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
