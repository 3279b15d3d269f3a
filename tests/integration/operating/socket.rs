//! The control socket: clients fail fast with no tend to talk to; only root,
//! tend's own uid and `socket_group` may control it; clients that say
//! nothing, flood it or hang up delay nothing.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn client_commands_fail_fast_with_no_tend_running() {
    let dir = TempDir::new("nosock");
    let missing = dir.join("missing.sock");
    // A stale socket: bound once, nobody listening any more.
    let stale = dir.join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for path in [&missing, &stale] {
        for args in [&["status"][..], &["stop", "web"], &["reload"]] {
            let started = Instant::now();
            let mut cmd = Command::new(tend_bin());
            cmd.args(args).env("TEND_SOCKET", path);
            let out = output_or_kill(cmd, T);
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            assert!(
                stderr(&out).contains("cannot reach a running tend"),
                "{}",
                stderr(&out)
            );
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }
}

#[test]
fn other_users_are_refused() {
    require_namespaces!(root, "to act as another user");
    let t = Running::start("refused", "[app.a]\ncommand = \"exec sleep 600\"\n");
    t.wait_socket();
    let socket = t.dir.join("tend.sock");
    let as_nobody = || status_as(&socket, 65534, 65534);
    std::fs::set_permissions(
        t.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    // The file mode stops nobody at connect(2) ...
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    // ... and with the mode opened up, SO_PEERCRED still does.
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let out = as_nobody();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permission denied: uid 65534 may not control this tend"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn socket_group_members_may_control() {
    require_namespaces!(root, "to act as another user");
    let t = Running::start(
        "group",
        "[tend]\nsocket_group = 65534\n[app.a]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    std::fs::set_permissions(
        t.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let socket = t.dir.join("tend.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o660
    );
    assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), 65534);
    let as_user = |gid: u32| status_as(&socket, 4242, gid);
    let member = as_user(65534);
    assert!(member.status.success(), "{}", stderr(&member));
    assert!(stdout(&member).contains("running"));
    std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666)).unwrap();
    let other = as_user(4242);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        stderr(&other).contains("permission denied: uid 4242"),
        "{}",
        stderr(&other)
    );
}

#[test]
fn supplementary_members_of_socket_group_may_control() {
    require_namespaces!(root, "to act as another user");
    require_tool!("setpriv", "--version");
    let t = Running::start(
        "suppl",
        "[tend]\nsocket_group = 65534\n[app.a]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    std::fs::set_permissions(
        t.dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid=4242",
        "--regid=4242",
        "--groups=65534",
        tend_bin(),
        "status",
    ])
    .env("TEND_SOCKET", t.dir.join("tend.sock"));
    let out = output_or_kill(cmd, T);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn silent_clients_do_not_delay_supervision() {
    require_namespaces!();
    let t = Running::start(
        "silent",
        "[app.crash]\ncommand = \"echo run >> {dir}/runs; sleep 0.1; exit 1\"\nrestart_delay = \"0s\"\nmax_restarts = 1000\n",
    );
    t.wait_socket();
    let socket = t.dir.join("tend.sock");
    // More idle clients than tend serves at once, one sending half a line.
    let mut idle: Vec<UnixStream> = (0..20)
        .filter_map(|_| UnixStream::connect(&socket).ok())
        .collect();
    idle[0].write_all(b"{\"cmd\":").unwrap();
    let runs = || t.dir.read("runs").lines().count();
    let start = runs();
    assert!(
        wait_until(Duration::from_secs(5), || runs() >= start + 5),
        "restarts stalled: {}",
        t.log()
    );
    // Idle clients are dropped after the client timeout, and the socket
    // still answers.
    let mut buf = [0u8; 64];
    let started = Instant::now();
    let n = idle[0].read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "an idle client is hung up on, not answered");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(idle);
    assert!(t.ctl(&["status"]).status.success());

    // A flood without a newline is cut off with an error.
    let mut flood = UnixStream::connect(&socket).unwrap();
    let _ = flood.write_all(&vec![b'x'; 100_000]);
    let mut reply = String::new();
    let _ = flood.read_to_string(&mut reply);
    assert!(reply.contains("request longer than 4096 bytes"), "{reply}");
}

#[test]
fn clients_that_hang_up_cost_nothing() {
    require_namespaces!();
    let t = Running::start("hangup", "[app.a]\ncommand = \"exec sleep 600\"\n");
    t.wait_socket();
    let tend = t.pid();
    let cpu = || {
        let stat = std::fs::read_to_string(format!("/proc/{tend}/stat")).unwrap();
        let f: Vec<String> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .map(String::from)
            .collect();
        f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    for _ in 0..20 {
        drop(UnixStream::connect(t.dir.join("tend.sock")).unwrap());
    }
    // A request without a newline, ended by closing the write side.
    let mut half = UnixStream::connect(t.dir.join("tend.sock")).unwrap();
    half.write_all(b"{\"cmd\":\"status\"}").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = String::new();
    half.read_to_string(&mut reply).unwrap();
    assert!(reply.contains("\"ok\":true"), "{reply}");
    std::thread::sleep(Duration::from_millis(1500));
    let ticks = cpu() - before;
    assert!(
        ticks < 20,
        "tend burnt {ticks} ticks of CPU on clients that hung up"
    );
}
