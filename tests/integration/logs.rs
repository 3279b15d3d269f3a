//! Logs (DESIGN.md "Logs"): app output goes straight through by default,
//! nothing lost; prefixed lines never mix, and a stuck reader of them
//! stalls nothing; a closed stderr of tend harms no app; tend's own event
//! lines in JSON (`log_format = "json"`) have stable fields.

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

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
