//! A tend that is not PID 1 among others: its apps' main processes die
//! with it (PR_SET_PDEATHSIG), one control socket belongs to one tend, and
//! the one-app supervisor serves the socket too.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// Whether `pid` is still a running process (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    status_field(pid, "State").is_some_and(|s| !s.starts_with('Z'))
}

/// Waits for the pid an app wrote to `file` of `dir`.
fn written_pid(dir: &TempDir, file: &str, tend: &mut Child) -> u32 {
    let ok = wait_until(T, || dir.read(file).ends_with('\n'));
    if !ok {
        let _ = tend.kill();
        let _ = tend.wait();
        panic!("the app never wrote its pid to {file}");
    }
    dir.read(file).trim().parse().expect("a pid")
}

#[test]
fn main_processes_die_with_a_tend_killed_by_sigkill() {
    let dir = TempDir::new("pdeath");
    let d = dir.path().display().to_string();
    std::fs::write(
        dir.join("init.toml"),
        format!("[app.web]\ncommand = \"echo $$ > {d}/config; exec sleep 600\"\n"),
    )
    .unwrap();
    let script = |name: &str| format!("echo $$ > {d}/{name}; exec sleep 600");
    let config = dir.join("init.toml").display().to_string();
    let runs: [(&str, Vec<String>); 3] = [
        ("config", vec!["-c".into(), config]),
        (
            "wrapper",
            ["--", "sh", "-c", &script("wrapper")]
                .map(String::from)
                .into(),
        ),
        (
            "one-app",
            ["--restart", "always", "--", "sh", "-c", &script("one-app")]
                .map(String::from)
                .into(),
        ),
    ];
    for (file, args) in runs {
        let mut child = tend(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tend");
        let pid = written_pid(&dir, file, &mut child);
        assert!(alive(pid), "{file}: the app is not running");
        signal(child.id(), libc::SIGKILL);
        let _ = child.wait();
        let gone = wait_until(Duration::from_secs(2), || !alive(pid));
        if !gone {
            // SAFETY: kill(2) with plain integers; the app tend left behind.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        assert!(gone, "{file}: the app {pid} outlived tend by 2 s");
    }
}

#[test]
fn a_second_tend_on_a_held_socket_refuses_to_start() {
    let dir = TempDir::new("held");
    let d = dir.path().display().to_string();
    let socket = dir.join("tend.sock");
    for name in ["first", "second"] {
        std::fs::write(
            dir.join(&format!("{name}.toml")),
            format!("[app.{name}]\ncommand = \"echo $$ > {d}/{name}; exec sleep 600\"\n"),
        )
        .unwrap();
    }
    let config = |name: &str| dir.join(&format!("{name}.toml")).display().to_string();
    let mut first = tend(["-c", &config("first")])
        .env("TEND_SOCKET", &socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tend");
    written_pid(&dir, "first", &mut first);
    let status = || {
        let mut cmd = Command::new(tend_bin());
        cmd.arg("status").env("TEND_SOCKET", &socket);
        output_or_kill(cmd, T)
    };
    let answers = wait_until(T, || status().status.success());

    // The same socket by the flag, as a user would give it.
    let out = output_or_kill(
        tend([
            "-c",
            &config("second"),
            "--socket",
            &socket.display().to_string(),
        ]),
        T,
    );
    let err = stderr(&out);
    std::thread::sleep(Duration::from_millis(200));
    let first_status = status();
    signal(first.id(), libc::SIGTERM);
    wait_or_kill(&mut first, T);
    assert!(answers, "the first tend never answered");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("another tend (pid {})", first.id())),
        "{err}"
    );
    assert!(err.contains("--socket"), "{err}");
    assert_eq!(dir.read("second"), "", "the refused tend started its app");
    // The first tend keeps its socket.
    assert!(
        stdout(&first_status).contains("first"),
        "{}",
        stdout(&first_status)
    );
}

#[test]
fn as_pid1_a_held_socket_is_only_a_warning() {
    require_namespaces!();
    let dir = TempDir::new("held-pid1");
    let socket = dir.join("tend.sock");
    std::fs::write(
        dir.join("first.toml"),
        "[app.first]\ncommand = \"exec sleep 600\"\n",
    )
    .unwrap();
    let mut first = tend(["-c", &dir.join("first.toml").display().to_string()])
        .env("TEND_SOCKET", &socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tend");
    let held = wait_until(T, || {
        std::os::unix::net::UnixStream::connect(&socket).is_ok()
    });
    let t = Running::start_with(
        "held-pid1",
        "[app.second]\ncommand = \"echo $$ > {dir}/second; exec sleep 600\"\n",
        &["--socket", &socket.display().to_string()],
    );
    let started = wait_until(T, || t.dir.read("second").ends_with('\n'));
    signal(first.id(), libc::SIGTERM);
    wait_or_kill(&mut first, T);
    assert!(held, "the first tend never listened");
    assert!(started, "PID 1 did not start its app: {}", t.log());
    assert_eq!(t.count("running without it"), 1, "{}", t.log());
}

#[test]
fn the_one_app_supervisor_serves_the_control_socket() {
    let dir = TempDir::new("one-app-socket");
    for (extra, want) in [(&[][..], "sh"), (&["--name", "web"][..], "web")] {
        let socket = dir.join(&format!("{want}.sock"));
        let mut args = vec!["--restart", "always"];
        args.extend(extra);
        let socket_arg = socket.display().to_string();
        args.extend(["--socket", &socket_arg, "--", "sh", "-c", "exec sleep 600"]);
        let mut child = tend(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tend");
        let mut reply = None;
        wait_until(T, || {
            let mut cmd = Command::new(tend_bin());
            cmd.args(["status", "--json"]).env("TEND_SOCKET", &socket);
            let out = output_or_kill(cmd, T);
            if out.status.success() {
                reply = serde_json::from_slice::<serde_json::Value>(&out.stdout).ok();
            }
            reply
                .as_ref()
                .is_some_and(|v| v["apps"][0]["state"] == "running")
        });
        signal(child.id(), libc::SIGTERM);
        let status = wait_or_kill(&mut child, T);
        let reply = reply.unwrap_or_else(|| panic!("{extra:?}: tend status never answered"));
        let apps = reply["apps"].as_array().unwrap();
        assert_eq!(apps.len(), 1, "{reply}");
        assert_eq!(apps[0]["name"], want, "{reply}");
        // The code of the app's last run: sleep ended by SIGTERM.
        assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{extra:?}");
        assert!(!socket.exists(), "the socket outlived its tend");
    }
}

#[test]
fn an_invalid_name_is_a_usage_error() {
    let out = output_or_kill(
        tend(["--restart", "always", "--name", "my.app", "--", "true"]),
        T,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--name: invalid app name \"my.app\""),
        "{}",
        stderr(&out)
    );
}
