//! A tend that is not PID 1 among others: its apps' main processes die
//! with it (PR_SET_PDEATHSIG), one control socket belongs to one tend, and
//! the one-app supervisor serves the socket too.

use std::process::{Child, Stdio};
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
