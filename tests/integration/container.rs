//! tend as the ENTRYPOINT of a real OCI container: podman with runc, the
//! repository's Dockerfile built with the locally built static binary
//! (`--build-arg TEND_FROM=prebuilt`; no registry is reachable here), and
//! a busybox rootfs imported as the apps' base image. Skipped, with the
//! reason, when podman is missing; .ci/run installs it.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(120);

/// podman as root here: runc (crun fails on this host's hybrid cgroups),
/// cgroupfs, no network, ulimits the host allows.
fn podman() -> Command {
    let mut cmd = Command::new("podman");
    cmd.args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"]);
    cmd
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = output_or_kill(cmd, T);
    assert!(
        out.status.success(),
        "{what}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// Builds localhost/tend-ci (the repo's Dockerfile) and localhost/tend-ci-busybox
/// once per test run; None (skip) without podman or busybox-static.
fn images() -> Option<()> {
    static READY: OnceLock<Option<()>> = OnceLock::new();
    *READY.get_or_init(|| {
        let have = |c: &str| {
            Command::new(c)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        };
        if !have("podman") || !have("busybox") || unsafe { libc::getuid() } != 0 {
            eprintln!("skipped: needs root, podman and busybox-static (.ci/run installs them)");
            return None;
        }
        let dir = TempDir::new("images");
        // The image users build, fed the binary these tests run.
        let ctx = dir.join("ctx");
        std::fs::create_dir_all(&ctx).unwrap();
        std::fs::copy(
            concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile"),
            ctx.join("Dockerfile"),
        )
        .unwrap();
        std::fs::copy(tend_bin(), ctx.join("tend")).unwrap();
        run_ok(
            podman()
                .args([
                    "build",
                    "--network",
                    "none",
                    "--build-arg",
                    "TEND_FROM=prebuilt",
                    "-t",
                    "tend-ci",
                ])
                .arg(&ctx),
            "podman build of the Dockerfile",
        );
        // A busybox rootfs with every applet.
        let rootfs = dir.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        let busybox = String::from_utf8(
            Command::new("sh")
                .args(["-c", "command -v busybox"])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        std::fs::copy(busybox.trim(), rootfs.join("bin/busybox")).unwrap();
        let applets = String::from_utf8(
            Command::new("busybox")
                .arg("--list")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        for a in applets.lines().filter(|a| *a != "busybox") {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a));
        }
        run_ok(
            Command::new("sh").arg("-c").arg(format!(
                "tar -C {} -c . | podman import - tend-ci-busybox",
                rootfs.display()
            )),
            "podman import of the busybox rootfs",
        );
        Some(())
    })
}

/// An image from tend-ci-busybox with tend (COPY --from, as the README
/// shows) and `toml` as /etc/tend/init.toml; returns its tag.
fn app_image(name: &str, toml: &str) -> String {
    let dir = TempDir::new(name);
    std::fs::write(dir.join("init.toml"), toml).unwrap();
    std::fs::write(
        dir.join("Containerfile"),
        "FROM localhost/tend-ci-busybox\nCOPY --from=localhost/tend-ci /tend /usr/local/bin/tend\nCOPY init.toml /etc/tend/init.toml\nENTRYPOINT [\"/usr/local/bin/tend\"]\n",
    )
    .unwrap();
    let tag = format!("tend-ci-{name}");
    run_ok(
        podman()
            .args(["build", "--network", "none", "-t", &tag])
            .arg(dir.path()),
        "podman build of the app image",
    );
    tag
}

/// A container running `image`, removed on drop.
struct Container(String);

impl Container {
    fn run(name: &str, image: &str, extra: &[&str]) -> Container {
        let name = format!("tend-ci-{name}-{}", std::process::id());
        let _ = output_or_kill(podman().args(["rm", "-f", &name]), T);
        run_ok(
            podman()
                .args(["run", "-d", "--name", &name, "--network", "none"])
                .args([
                    "--ulimit",
                    "nofile=1024:1024",
                    "--ulimit",
                    "nproc=4096:4096",
                ])
                .args(extra)
                .arg(image),
            "podman run",
        );
        Container(name)
    }

    fn logs(&self) -> String {
        let out = output_or_kill(podman().args(["logs", &self.0]), T);
        stdout(&out) + &stderr(&out)
    }

    fn wait_log(&self, needle: &str) {
        assert!(
            wait_until(Duration::from_secs(30), || self.logs().contains(needle)),
            "no {needle:?} in:\n{}",
            self.logs()
        );
    }

    fn exit_code(&self) -> i32 {
        let out = run_ok(podman().args(["wait", &self.0]), "podman wait");
        out.trim().parse().unwrap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = output_or_kill(podman().args(["rm", "-f", "-t", "0", &self.0]), T);
    }
}

const SERVICE: &str = "[app.service]\ncommand = \"trap 'echo service stopping; exit 0' TERM; echo service up; while :; do sleep 0.1; done\"\n";

#[test]
fn podman_stop_is_graceful_and_quick_with_term_and_rtmin3() {
    if images().is_none() {
        return;
    }
    let image = app_image("stop", SERVICE);
    for (name, extra) in [
        ("term", &[][..]),
        ("rtmin3", &["--stop-signal", "SIGRTMIN+3"][..]),
    ] {
        let c = Container::run(name, &image, extra);
        c.wait_log("service up");
        let started = Instant::now();
        run_ok(podman().args(["stop", "-t", "5", &c.0]), "podman stop");
        let took = started.elapsed();
        assert_eq!(c.exit_code(), 0, "{}", c.logs());
        assert!(
            took < Duration::from_secs(3),
            "{name}: podman stop took {took:?}"
        );
        let logs = c.logs();
        assert!(
            logs.contains("service stopping") && logs.contains("app=service: stopped"),
            "{logs}"
        );
        // Inside a container tend neither mounts nor powers off.
        assert!(
            !logs.contains("PID 1 of a VM")
                && !logs.contains("mounted")
                && !logs.contains("powering off"),
            "{logs}"
        );
    }
}

#[test]
fn a_critical_app_sets_the_container_exit_code() {
    if images().is_none() {
        return;
    }
    let image = app_image(
        "critical",
        &(SERVICE.to_string()
            + "[app.main]\ncommand = \"sleep 0.5; exit 7\"\nrestart = \"never\"\ncritical = true\n"),
    );
    let c = Container::run("critical", &image, &[]);
    assert_eq!(c.exit_code(), 7, "{}", c.logs());
    assert!(c.logs().contains("app=service: stopped"), "{}", c.logs());
}

#[test]
fn zombies_made_in_the_container_are_reaped() {
    if images().is_none() {
        return;
    }
    let image = app_image(
        "zombies",
        "[app.orphans]\ncommand = '''i=0; while [ $i -lt 300 ]; do (true &); i=$((i+1)); done; sleep 1; echo \"zombies=$(grep -s '^State:.*zombie' /proc/[0-9]*/status | wc -l)\"'''\nrestart = \"never\"\n",
    );
    let c = Container::run("zombies", &image, &[]);
    assert_eq!(c.exit_code(), 0, "{}", c.logs());
    assert!(c.logs().contains("zombies=0"), "{}", c.logs());
}
