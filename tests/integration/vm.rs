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
    boot_for(name, toml, Duration::from_secs(120))
}

/// `boot`, killing qemu after `timeout`.
fn boot_for(name: &str, toml: &str, timeout: Duration) -> String {
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
        timeout,
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

/// The figures after `key` on the first console line holding `key`.
fn figures(console: &str, key: &str) -> Vec<f64> {
    let line = console
        .lines()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("no line with {key:?} on the console:\n{console}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|w| !w.is_empty() && *w != ".")
        .map(|w| w.parse().unwrap())
        .collect()
}

/// Issue 16 in one boot: tend as PID 1 of a VM with cgroup2 runs each app
/// in a cgroup of its own. The driver (the last app) runs the steps one
/// after the other and prints what it reads from /proc and /sys/fs/cgroup;
/// the noisy apps wait on a fifo (`gate`) until the driver opens it.
#[test]
fn vm_cgroup_mode_limits_trees_and_idle_wakeups() {
    if ready().is_none() {
        return;
    }
    let console = boot_for(
        "vm-cgroup",
        r#"
[tend]
hostname = "tend-vm"
cgroups = "on"

# (a) grows past max_memory, 256K a step (a new string each: no copy of
# what it holds, so the crossing is by one step, and memory.high's
# throttling stays mild); its second run idles.
[app.grower]
command = '''
if [ -e /tmp/grower.ran ]; then echo "grower: started again"; touch /tmp/grower.again; exec sleep 100000; fi
touch /tmp/grower.ran
trap 'echo "grower: SIGTERM trap ran, holding $i x 256K"; exit 0' TERM
echo "grower: start, growing past max_memory 8M"
y=$(head -c 262144 /dev/zero | tr '\0' a); i=0
while :; do i=$((i + 1)); eval "v$i=\$y"; sleep 0.1; done
'''
max_memory = "8M"
restart_delay = "200ms"

# (b) a double-forked daemon in a session of its own, TERM ignored by all.
[app.forker]
command = '''
(setsid sh -c 'trap "" TERM; echo $$ > /tmp/daemon.pid; exec sleep 100000' &)
trap '' TERM
echo "forker: up"
while :; do sleep 1; done
'''
stop_timeout = "1s"

# (c)
[app.burner]
command = '''mkfifo /tmp/go.burner 2>/dev/null; read _ < /tmp/go.burner; echo "burner: burning"; while :; do :; done'''
cpu_max = "20%"
stop_timeout = "1s"

# (d) the classic fork bomb; "can't fork" goes to /dev/null.
[app.bomb]
command = '''mkfifo /tmp/go.bomb 2>/dev/null; read _ < /tmp/go.bomb; echo "bomb: lit"; exec 2>/dev/null; b() { b | b & }; b; exec sleep 100000'''
pids_max = 32
stop_timeout = "1s"

[app.steady]
command = '''echo "steady: start"; echo x >> /tmp/steady.starts; exec sleep 100000'''

# (e)
[app.oomer]
command = '''mkfifo /tmp/go.oomer 2>/dev/null; read _ < /tmp/go.oomer; echo "oomer: doubling past memory_max 16M"; x=0123456789abcdef; while :; do x="$x$x"; done'''
memory_max = "16M"
restart = "never"

# (f) idle, every limit set.
[app.idle]
command = "exec sleep 100000"
max_memory = "32M"
memory_max = "64M"
cpu_max = "50%"
pids_max = 16

[app.driver]
restart = "never"
command = '''
cg=/sys/fs/cgroup
say() { echo "driver: $*"; }
gate() { mkfifo /tmp/go.$1 2>/dev/null; echo go > /tmp/go.$1; }
# waitfor SECONDS COMMAND...: until COMMAND succeeds, every 0.2 s.
waitfor() { n=$(($1 * 5)); shift; while ! "$@"; do n=$((n - 1)); [ $n -gt 0 ] || { say "timed out: $*"; return 1; }; sleep 0.2; done; }
gone() { [ ! -e /proc/$1 ]; }
nocg() { [ ! -d $cg/$1 ] || [ -z "$(cat $cg/$1/cgroup.procs)" ]; }
cgstate() { if [ -d $cg/$1 ]; then echo "holds $(wc -l < $cg/$1/cgroup.procs) processes"; else echo "removed"; fi; }
say "start"

# (g)
say "(g) $(/init status --json | grep -o '"accounting":"[a-z]*"')"

# (a)
waitfor 90 test -e /tmp/grower.again && say "(a) grower restarted"

# (b)
waitfor 30 test -s /tmp/daemon.pid
d=$(cat /tmp/daemon.pid)
say "(b) daemon $d alive: ppid $(awk '/^PPid/ {print $2}' /proc/$d/status), cgroup $(cat /proc/$d/cgroup)"
/init stop forker
waitfor 10 gone $d && say "(b) daemon $d gone"
waitfor 10 nocg forker && say "(b) forker cgroup $(cgstate forker)"

# (c)
gate burner
sleep 2
u0=$(awk '/^usage_usec/ {print $2}' $cg/burner/cpu.stat); t0=$(awk '{print $1}' /proc/uptime)
sleep 5
u1=$(awk '/^usage_usec/ {print $2}' $cg/burner/cpu.stat); t1=$(awk '{print $1}' /proc/uptime)
say "(c) burner cpu.max $(cat $cg/burner/cpu.max): $(awk -v u=$((u1 - u0)) -v a=$t0 -v b=$t1 'BEGIN {printf "used %.1f%% of a CPU over %.2f s", u / (b - a) / 1e4, b - a}')"
/init stop burner

# (d)
gate bomb
sleep 3
say "(d) bomb pids.current $(cat $cg/bomb/pids.current) pids.peak $(cat $cg/bomb/pids.peak) pids.max $(cat $cg/bomb/pids.max) $(cat $cg/bomb/pids.events)"
/init status && say "(d) status answered during the bomb"
/init restart steady && waitfor 30 test "$(wc -l < /tmp/steady.starts)" -ge 2 && say "(d) steady restarted during the bomb"
say "(d) bomb pids.peak $(cat $cg/bomb/pids.peak)"
/init stop bomb
waitfor 10 nocg bomb && say "(d) bomb cgroup $(cgstate bomb)"

# (e)
gate oomer
waitfor 60 sh -c '/init describe oomer | grep -q oom-killed'
/init describe oomer | sed 's/^/driver: (e) /'

# (f)
sleep 2
v0=$(awk '/^voluntary_ctxt/ {print $2}' /proc/1/status); n0=$(awk '/^nonvoluntary_ctxt/ {print $2}' /proc/1/status)
sleep 10
v1=$(awk '/^voluntary_ctxt/ {print $2}' /proc/1/status); n1=$(awk '/^nonvoluntary_ctxt/ {print $2}' /proc/1/status)
say "(f) PID 1 over 10 s idle: voluntary_ctxt_switches $v0 $v1 nonvoluntary_ctxt_switches $n0 $n1"
/init status
say "done"
/init poweroff
'''
"#,
        Duration::from_secs(240),
    );
    let has = |line: &str| {
        assert!(
            console.contains(line),
            "missing {line:?} on the console:\n{console}"
        )
    };
    has("driver: done");
    // (g)
    has(r#"driver: (g) "accounting":"cgroup""#);
    // (a) graceful: the trap ran after tend's memory limit; then a new run.
    has("grower: start, growing");
    has("app=grower: memory limit: rss");
    has("grower: SIGTERM trap ran");
    has("grower: started again");
    has("driver: (a) grower restarted");
    // (b) the daemon was PID 1's orphan in the app's cgroup; gone with it.
    let d = figures(&console, "driver: (b) daemon ");
    assert_eq!(d[1], 1.0, "the daemon's parent is PID 1:\n{console}");
    has(&format!("driver: (b) daemon {} gone", d[0]));
    // Removed, or empty where its main process was reaped before the rest.
    assert!(
        console.contains("driver: (b) forker cgroup removed")
            || console.contains("driver: (b) forker cgroup holds 0 processes"),
        "{console}"
    );
    // (c)
    // cpu.max quota and period (µs), then the share of a CPU (%) over
    // the window (s).
    let c = figures(&console, "driver: (c) burner cpu.max ");
    assert_eq!(c[..2], [20_000.0, 100_000.0], "{console}");
    eprintln!(
        "cpu_max 20%: the burner used {}% of a CPU over {} s",
        c[2], c[3]
    );
    assert!(c[2] > 5.0 && c[2] < 30.0, "burner at {}%:\n{console}", c[2]);
    // (d)
    let p = figures(&console, "driver: (d) bomb pids.current ");
    assert_eq!(p[2], 32.0, "pids.max:\n{console}");
    assert!(p[0] <= 32.0 && p[1] <= 32.0, "pids over 32:\n{console}");
    assert!(
        p[3] > 0.0,
        "pids.events max is 0: no fork was refused:\n{console}"
    );
    let peak = figures(&console, "driver: (d) bomb pids.peak ");
    assert!(peak[0] <= 32.0, "{console}");
    has("driver: (d) status answered during the bomb");
    has("driver: (d) steady restarted during the bomb");
    let starts = console.lines().filter(|l| l.trim() == "steady: start");
    assert_eq!(starts.count(), 2, "{console}");
    // Removed, or empty where its main process was reaped before the rest.
    assert!(
        console.contains("driver: (d) bomb cgroup removed")
            || console.contains("driver: (d) bomb cgroup holds 0 processes"),
        "{console}"
    );
    // (e)
    has("app=oomer: oom-killed: out of memory at memory_max 16M");
    assert!(
        console
            .lines()
            .any(|l| l.starts_with("driver: (e) ") && l.contains("oom-killed")),
        "no oom-killed exit in `describe oomer`:\n{console}"
    );
    // (f)
    let f = figures(&console, "PID 1 over 10 s idle: ");
    eprintln!(
        "PID 1 over 10 s idle: voluntary {} -> {}, nonvoluntary {} -> {}",
        f[0], f[1], f[2], f[3]
    );
    assert_eq!(f[0], f[1], "PID 1 woke up while idle:\n{console}");
    has("reboot: Power down");
}
