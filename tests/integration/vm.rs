//! tend as the init of a real VM: a Debian kernel booted under qemu (TCG)
//! with an initramfs whose /init is tend (contrib/mkinitramfs.sh). The
//! serial console is the evidence. Skipped, with the reason, when qemu,
//! busybox-static or a kernel is missing; .ci/run installs them.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

/// The kernel: $TEND_VM_KERNEL, else target/vm/vmlinuz (where .ci/run
/// unpacks Debian's cloud kernel).
fn kernel() -> Option<PathBuf> {
    let path = std::env::var_os("TEND_VM_KERNEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/vm/vmlinuz"))
        });
    path.exists().then_some(path)
}

fn ready() -> Option<PathBuf> {
    let missing = |cmd: &str| {
        Command::new(cmd)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
    };
    if missing("qemu-system-x86_64") || missing("busybox") || missing("cpio") {
        eprintln!(
            "skipped: qemu-system-x86_64, busybox or cpio is not installed (.ci/run installs them)"
        );
        return None;
    }
    let k = kernel();
    if k.is_none() {
        eprintln!(
            "skipped: no kernel at $TEND_VM_KERNEL or target/vm/vmlinuz (.ci/run fetches one)"
        );
    }
    k
}

/// Boots `toml` as the VM's /etc/tend/init.toml; returns the console text.
fn boot(name: &str, toml: &str) -> String {
    let kernel = ready().expect("checked by the caller");
    let dir = TempDir::new(name);
    std::fs::write(dir.join("init.toml"), toml).unwrap();
    let initrd = dir.join("initrd.cpio.gz");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/mkinitramfs.sh");
    let out = output_or_kill(
        Command::new("sh")
            .arg(script)
            .arg(&initrd)
            .arg(dir.join("init.toml"))
            .arg(tend_bin()),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "mkinitramfs: {}", stderr(&out));
    let out = output_or_kill(
        Command::new("qemu-system-x86_64")
            .args([
                "-accel",
                "tcg",
                "-m",
                "256",
                "-nographic",
                "-no-reboot",
                "-kernel",
            ])
            .arg(&kernel)
            .arg("-initrd")
            .arg(&initrd)
            .args(["-append", "rdinit=/init console=ttyS0 panic=-1 quiet"])
            .stdin(Stdio::null()),
        Duration::from_secs(120),
    );
    let console = stdout(&out);
    assert!(
        !console.contains("Kernel panic"),
        "kernel panic:\n{console}"
    );
    console
}

fn count(text: &str, needle: &str) -> usize {
    text.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn vm_boot_mounts_runs_restarts_and_powers_off() {
    if ready().is_none() {
        return;
    }
    let console = boot(
        "vm-boot",
        r#"
[tend]
hostname = "tend-vm"

[app.proof]
command = "echo \"proof: host=$(hostname)\"; grep -E ' /(proc|sys|dev|run) ' /proc/mounts; ip link show lo | head -1"
restart = "never"

[app.crasher]
command = "echo crasher run; exit 3"
restart = "on-failure"
restart_delay = "200ms"
max_restarts = 2

[app.steady]
command = "sleep 1; echo steady done"
restart = "never"
"#,
    );
    for line in [
        "INFO: PID 1 of a VM: mounting",
        "mounted proc on /proc",
        "mounted sysfs on /sys",
        "mounted devtmpfs on /dev",
        "mounted tmpfs on /run",
        "lo is up",
        "proof: host=tend-vm",
        "proc /proc proc",
        "sysfs /sys sysfs",
        "<LOOPBACK,UP",
        "app=crasher: failed: 2 restarts in a row, each run shorter than 30s",
        "steady done",
        "syncing filesystems",
        "powering off",
        "reboot: Power down",
    ] {
        assert!(
            console.contains(line),
            "missing {line:?} on the console:\n{console}"
        );
    }
    assert_eq!(count(&console, "crasher run"), 3, "{console}");
}

#[test]
fn vm_shutdown_request_stops_apps_then_powers_off_or_reboots() {
    if ready().is_none() {
        return;
    }
    let apps = |trigger: &str| {
        format!(
            r#"
[app.service]
command = "trap 'echo service stopping; exit 0' TERM; echo service up; while :; do sleep 0.1; done"

[app.trigger]
command = "sleep 1; {trigger}; sleep 60"
"#
        )
    };
    // SIGTERM to PID 1 (what a hypervisor's ACPI button or `kill 1` does).
    let console = boot("vm-term", &apps("kill -TERM 1"));
    for line in [
        "service up",
        "SIGTERM: stopping every app",
        "service stopping",
        "app=service: stopped",
        "powering off",
        "reboot: Power down",
    ] {
        assert!(console.contains(line), "missing {line:?}:\n{console}");
    }
    // `tend reboot` over the control socket.
    let console = boot("vm-reboot", &apps("/init reboot"));
    for line in [
        "reboot: stopping every app",
        "service stopping",
        "app=service: stopped",
        "rebooting",
        "reboot: Restarting system",
    ] {
        assert!(console.contains(line), "missing {line:?}:\n{console}");
    }
}
