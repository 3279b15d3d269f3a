//! tend as a systemd service (Type=notify): it tells its own manager
//! READY=1, STATUS= and STOPPING=1 through $NOTIFY_SOCKET, and keeps that
//! socket to itself.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn tend_speaks_sd_notify_to_its_own_manager() {
    require_namespaces!();
    let dir = TempDir::new("host-notify");
    let sock_path = dir.join("manager.sock");
    let manager = UnixDatagram::bind(&sock_path).unwrap();
    manager
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            "[app.a]\ncommand = 'echo \"[$NOTIFY_SOCKET]\" > {d}/env; exec sleep 600'\n[app.b]\ncommand = \"exec sleep 600\"\nafter = [\"a\"]\n"
        ),
    )
    .unwrap();
    let mut child = tend_pid1(["-c", &dir.join("init.toml").display().to_string()])
        .env("NOTIFY_SOCKET", &sock_path)
        .spawn()
        .expect("spawn");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.iter().any(|m: &String| m.contains("READY=1")) {
        let n = manager.recv(&mut buf).expect("a message from tend");
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let ready = got.last().unwrap().clone();
    assert!(ready.contains("STATUS=2 apps: "), "{ready}");
    assert!(wait_until(T, || !dir.read("env").is_empty()));
    assert_eq!(
        dir.read("env").trim(),
        "[]",
        "apps must not see tend's NOTIFY_SOCKET"
    );
    signal(pid1_of(&child), libc::SIGTERM);
    let mut stopping = false;
    while !stopping {
        let n = manager.recv(&mut buf).expect("STOPPING=1 from tend");
        stopping = String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1");
    }
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
}
