//! tend as the init of a minimal VM: PID 1 outside any container. There,
//! nobody mounted /proc, /sys, /dev or /run, nobody brought up `lo`, and
//! PID 1 must never exit ("Attempted to kill init!" is a kernel panic): at
//! the end it syncs and calls reboot(2) instead.
//!
//! The rule (README, "On a VM"): tend is in VM mode when it is PID 1, no
//! container marker is present (/.dockerenv, /run/.containerenv, a
//! `container` variable in its environment), and its PID namespace is the
//! initial one (or /proc is not even mounted yet). `[tend] vm = true|false`
//! forces it either way.

use std::ffi::CString;
use std::path::Path;

use crate::log;

/// The inode of the initial PID namespace (PROC_PID_INIT_INO).
const INIT_PID_NS: &str = "pid:[4026531836]";

/// Whether tend is the init of a VM (or bare machine), not of a container.
pub fn detect(forced: Option<bool>) -> bool {
    if std::process::id() != 1 {
        return false;
    }
    if let Some(f) = forced {
        return f;
    }
    let container = Path::new("/.dockerenv").exists()
        || Path::new("/run/.containerenv").exists()
        || std::env::var_os("container").is_some();
    if container {
        return false;
    }
    match std::fs::read_link("/proc/self/ns/pid") {
        Ok(ns) => ns.to_string_lossy() == INIT_PID_NS,
        // /proc is not mounted: only a VM's first process sees that.
        Err(_) => true,
    }
}

/// What the VM does once tend is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Off,
    Reboot,
}

/// Boot-time duties: the pseudo filesystems, a console, `lo`, the host
/// name, ctrl-alt-del as SIGINT, and `/` read-write when asked.
pub fn setup(hostname: Option<&str>, root_rw: bool) {
    mount_missing();
    ensure_console();
    // SAFETY: reboot(2) with RB_DISABLE_CAD only changes what ctrl-alt-del
    // does: SIGINT to PID 1 instead of an immediate reboot.
    if unsafe { libc::reboot(libc::RB_DISABLE_CAD) } == -1 {
        log::warn(&format!(
            "cannot turn ctrl-alt-del into SIGINT: {}",
            std::io::Error::last_os_error()
        ));
    }
    if root_rw {
        remount_root(false);
    }
    if let Err(e) = loopback_up() {
        log::warn(&format!("cannot bring up lo: {e}"));
    } else {
        log::info("lo is up");
    }
    if let Some(name) = hostname {
        // SAFETY: a valid buffer and its length.
        if unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) } == -1 {
            log::warn(&format!(
                "cannot set the hostname to {name:?}: {}",
                std::io::Error::last_os_error()
            ));
        } else {
            log::info(&format!("hostname set to {name}"));
        }
    }
}

/// Mounts /proc, /sys, cgroup2 on /sys/fs/cgroup, /dev (devtmpfs, with
/// /dev/pts and /dev/shm) and /run where nothing is mounted yet.
fn mount_missing() {
    let mounts: [(&str, &str, &str, libc::c_ulong, &str); 7] = [
        (
            "proc",
            "/proc",
            "proc",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            "",
        ),
        (
            "sysfs",
            "/sys",
            "sysfs",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            "",
        ),
        // Where tend makes the apps' cgroups (`[tend] cgroups`).
        (
            "cgroup2",
            "/sys/fs/cgroup",
            "cgroup2",
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            "nsdelegate",
        ),
        ("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            libc::MS_NOSUID | libc::MS_NOEXEC,
            "gid=5,mode=620,ptmxmode=666",
        ),
        (
            "tmpfs",
            "/dev/shm",
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            "mode=1777",
        ),
        (
            "tmpfs",
            "/run",
            "tmpfs",
            libc::MS_NOSUID | libc::MS_NODEV,
            "mode=0755",
        ),
    ];
    for (source, target, fstype, flags, data) in mounts {
        if is_mounted(target) {
            continue;
        }
        let _ = std::fs::create_dir_all(target);
        match mount(source, target, fstype, flags, data) {
            Ok(()) => log::info(&format!("mounted {fstype} on {target}")),
            Err(e) => log::warn(&format!("cannot mount {fstype} on {target}: {e}")),
        }
    }
}

/// True when `target` is a mount point (per /proc/self/mountinfo; with no
/// /proc yet, nothing is mounted but `/`).
fn is_mounted(target: &str) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines().any(|l| l.split(' ').nth(4) == Some(target))
}

fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> std::io::Result<()> {
    let c = |s: &str| {
        CString::new(s).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (source, target, fstype, data) = (c(source)?, c(target)?, c(fstype)?, c(data)?);
    // SAFETY: valid NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc == -1 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// With no usable stdout (an initramfs without /dev/console), writes go to
/// /dev/console from now on, for tend and the apps it starts.
fn ensure_console() {
    // SAFETY: fcntl(F_GETFD) only asks whether the fd is open.
    if unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFD) } != -1 {
        return;
    }
    // SAFETY: open(2) on a constant path; dup2 onto the standard fds.
    unsafe {
        let fd = libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if fd >= 0 {
            for target in 0..3 {
                libc::dup2(fd, target);
            }
            if fd > 2 {
                libc::close(fd);
            }
        }
    }
    log::info("output goes to /dev/console");
}

/// `ip link set lo up`: SIOCSIFFLAGS with IFF_UP on a datagram socket.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: a plain socket, an ifreq we fill, two ioctls, one close.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS as _, &mut req) == -1 {
            result = Err(std::io::Error::last_os_error());
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS as _, &req) == -1 {
                result = Err(std::io::Error::last_os_error());
            }
        }
        libc::close(fd);
        result
    }
}

/// Remounts `/` read-only (at the end) or read-write (at boot).
fn remount_root(read_only: bool) {
    let flags = libc::MS_REMOUNT | if read_only { libc::MS_RDONLY } else { 0 };
    // SAFETY: remount of "/" with no source, type or data.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    let how = if read_only { "read-only" } else { "read-write" };
    if rc == -1 {
        log::warn(&format!(
            "cannot remount / {how}: {}",
            std::io::Error::last_os_error()
        ));
    } else {
        log::info(&format!("remounted / {how}"));
    }
}

/// The end of a VM: every process is already stopped and reaped (the
/// supervisor's shutdown did that); sync, remount `/` read-only, and power
/// off or reboot. Never returns.
pub fn finish(power: Power) -> ! {
    log::info("syncing filesystems");
    // SAFETY: sync(2) has no arguments.
    unsafe { libc::sync() };
    remount_root(true);
    let (cmd, what) = match power {
        Power::Off => (libc::RB_POWER_OFF, "powering off"),
        Power::Reboot => (libc::RB_AUTOBOOT, "rebooting"),
    };
    log::info(what);
    // SAFETY: reboot(2); on success it does not return.
    unsafe { libc::reboot(cmd) };
    log::error(&format!(
        "reboot(2) failed: {}; halting here",
        std::io::Error::last_os_error()
    ));
    loop {
        // SAFETY: pause(2) just waits; PID 1 must not exit.
        unsafe { libc::pause() };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_pid1_is_never_a_vm() {
        assert!(!detect(Some(true)));
        assert!(!detect(None));
    }
}
