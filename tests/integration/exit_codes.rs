//! Exit codes of tend (DESIGN.md "Exit codes of tend"): in wrapper mode
//! the child's code, 128+N for signal N, 127 and 126 when CMD cannot be
//! run; a critical app's code. Elsewhere: usage errors (2) and
//! `--restart`'s last run in command_line, config errors (2) in init_toml,
//! a shutdown (0) and all apps ended (0 or 1) in behaviour::shutdown.

use std::time::Duration;

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
fn wrapper_flags_keep_127_for_a_missing_command() {
    for flags in [&["--restart", "never"][..], &["--max-memory", "1G"]] {
        let mut args: Vec<&str> = flags.to_vec();
        args.extend(["--", "/nonexistent/cmd"]);
        let out = output_or_kill(tend(&args), T);
        assert_eq!(out.status.code(), Some(127), "{flags:?}: {}", stderr(&out));
    }
}

#[test]
fn a_critical_app_ending_sets_the_exit_code_and_stops_the_rest() {
    require_namespaces!();
    // Text log on purpose: this test keeps the wording of the critical lines
    // checked; most tests read JSON events (`t.events`).
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
