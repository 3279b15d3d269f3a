//! Shared helpers: run the built tend as PID 1 of a new PID namespace (or
//! plainly, as a subreaper), wait with a deadline, find pids, read /proc.

#![allow(dead_code)]

use std::borrow::BorrowMut;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Held by tests that must not share the machine with another test (they
/// load it, or measure CPU and memory): the first one to take it runs.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tend binary cargo built for these tests.
pub fn tend_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tend")
}

/// The prefix that makes the next program PID 1 of a new PID namespace:
/// plain `unshare` as root, with a user namespace (`-r`) otherwise. `None`
/// when neither works here.
pub fn pid1_prefix() -> Option<&'static [&'static str]> {
    static PREFIX: OnceLock<Option<&'static [&'static str]>> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        const ROOT: &[&str] = &["unshare", "--pid", "--fork", "--mount-proc"];
        const USER: &[&str] = &["unshare", "-r", "--pid", "--fork", "--mount-proc"];
        [ROOT, USER].into_iter().find(|prefix| {
            Command::new(prefix[0])
                .args(&prefix[1..])
                .arg("true")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    })
}

/// Prints why a PID-1 test is skipped and returns true when it must be;
/// tests call it through `require_namespaces!`.
pub fn skip_without_namespaces() -> bool {
    if pid1_prefix().is_none() {
        eprintln!(
            "skipped: cannot create a PID namespace here (unshare --pid failed, also with -r)"
        );
        return true;
    }
    false
}

/// The first line of every test that runs tend as PID 1 of a PID
/// namespace: returns from the test, saying why, where no namespace can be
/// made. `require_namespaces!(root, "to switch users")` also returns, with
/// "skipped: needs root to switch users", unless the tests run as root.
macro_rules! require_namespaces {
    () => {
        if $crate::util::skip_without_namespaces() {
            return;
        }
    };
    (root, $why:literal) => {
        $crate::util::require_namespaces!();
        // SAFETY: getuid(2) cannot fail.
        if unsafe { libc::getuid() } != 0 {
            eprintln!(concat!("skipped: needs root ", $why));
            return;
        }
    };
}
pub(crate) use require_namespaces;

/// Returns from the test, saying so, when `TOOL ARG` cannot be started:
/// `require_tool!("python3", "-V")`. (The faults binary shares this file
/// without using it.)
#[allow(unused_macros)]
macro_rules! require_tool {
    ($tool:literal, $arg:literal) => {
        if std::process::Command::new($tool)
            .arg($arg)
            .output()
            .is_err()
        {
            eprintln!(concat!("skipped: ", $tool, " is not installed"));
            return;
        }
    };
}
#[allow(unused_imports)]
pub(crate) use require_tool;

/// `tend ARGS...` as PID 1 of a new PID namespace.
pub fn tend_pid1<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let prefix = pid1_prefix().expect("call require_namespaces! first");
    let mut cmd = Command::new(prefix[0]);
    cmd.args(&prefix[1..]).arg(tend_bin()).args(args);
    cmd.env("TEND_SOCKET", fresh_socket());
    cmd
}

/// A control socket path no other test uses.
pub fn fresh_socket() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("tend-test-{}-{n}.sock", std::process::id()))
}

/// `tend ARGS...` as an ordinary process (tend makes itself a subreaper).
pub fn tend<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(tend_bin());
    cmd.args(args);
    cmd.env("TEND_SOCKET", fresh_socket());
    cmd
}

/// Waits for `child` up to `timeout`; kills it and panics when it overruns,
/// so no test can hang.
pub fn wait_or_kill(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} still running after {timeout:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `cmd` to completion with a deadline, capturing stdout and stderr.
pub fn output_or_kill(mut cmd: impl BorrowMut<Command>, timeout: Duration) -> Output {
    let cmd = cmd.borrow_mut();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    // Readers on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).ok();
        v
    });
    let err_t = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut err, &mut v).ok();
        v
    });
    let status = wait_or_kill(&mut child, timeout);
    Output {
        status,
        stdout: out_t.join().expect("stdout reader"),
        stderr: err_t.join().expect("stderr reader"),
    }
}

/// Polls `cond` every 10 ms until it is true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// The children of `pid`, read from /proc/PID/task/*/children.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// The host pid of the PID 1 that `unshare --fork` (the process `child`)
/// started, waiting up to 5 s for it to appear.
pub fn pid1_of(child: &Child) -> u32 {
    let mut found = None;
    wait_until(Duration::from_secs(5), || {
        found = children_of(child.id()).first().copied();
        found.is_some()
    });
    found.expect("unshare has no child")
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) with plain integers.
    let rc = unsafe { libc::kill(pid as i32, sig) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Sends `sig` to `pid` as sigqueue(3) does (si_code SI_QUEUE), through
/// rt_sigqueueinfo(2): the C library's wrapper is not in every libc.
pub fn sigqueue(pid: u32, sig: i32) {
    // siginfo_t (128 bytes): si_signo, si_errno, si_code, padding, then
    // for SI_QUEUE si_pid, si_uid and si_value.
    let mut info = [0i32; 32];
    info[0] = sig;
    info[2] = libc::SI_QUEUE;
    // SAFETY: getpid(2) and getuid(2) cannot fail.
    info[4] = unsafe { libc::getpid() };
    info[5] = unsafe { libc::getuid() } as i32;
    // SAFETY: a pointer to a live siginfo-sized buffer.
    let rc = unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, pid as i32, sig, info.as_ptr()) };
    assert_eq!(
        rc,
        0,
        "sigqueue({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// Sends `sig` to the main thread of process `pid` with tgkill(2)
/// (si_code SI_TKILL).
pub fn tgkill(pid: u32, sig: i32) {
    // SAFETY: tgkill(2) with plain integers.
    let rc = unsafe { libc::syscall(libc::SYS_tgkill, pid as i32, pid as i32, sig) };
    assert_eq!(
        rc,
        0,
        "tgkill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}

/// A process watched through a pidfd, opened while it runs, to learn how
/// it ended once it has been reaped by anyone, also inside a PID namespace
/// that is gone since (PIDFD_GET_INFO with PIDFD_INFO_EXIT, Linux 6.15).
pub struct ExitWatch(std::os::fd::OwnedFd);

impl ExitWatch {
    pub fn open(pid: u32) -> ExitWatch {
        use std::os::fd::FromRawFd;
        // SAFETY: pidfd_open takes plain integers.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as i32, 0) };
        assert!(
            fd >= 0,
            "pidfd_open({pid}): {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: a new fd that nothing else owns.
        ExitWatch(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
    }

    /// The signal the process died of: None while it runs or is not
    /// reaped yet, Some(0) when it exited, and None also when the kernel
    /// cannot tell (before Linux 6.15; see `supported`).
    pub fn death_signal(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        // struct pidfd_info as of Linux 6.15 (PIDFD_INFO_SIZE_VER0, 64
        // bytes): mask, cgroupid, eleven ids, exit_code.
        #[repr(C)]
        struct PidfdInfo {
            mask: u64,
            cgroupid: u64,
            ids: [u32; 11],
            exit_code: i32,
        }
        const PIDFD_INFO_EXIT: u64 = 1 << 3;
        // _IOWR(0xFF, 11, 64 bytes)
        const PIDFD_GET_INFO: u64 = 0xC040_FF0B;
        let mut info = PidfdInfo {
            mask: PIDFD_INFO_EXIT,
            cgroupid: 0,
            ids: [0; 11],
            exit_code: 0,
        };
        // SAFETY: the ioctl fills a buffer of the size encoded in its number.
        let rc = unsafe {
            libc::ioctl(
                self.0.as_raw_fd(),
                PIDFD_GET_INFO as _,
                &mut info as *mut PidfdInfo,
            )
        };
        if rc != 0 || info.mask & PIDFD_INFO_EXIT == 0 {
            return None;
        }
        let status = info.exit_code;
        Some(if libc::WIFSIGNALED(status) {
            libc::WTERMSIG(status)
        } else {
            0
        })
    }

    /// True once the process has ended (a zombie too).
    pub fn exited(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut fd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd, no wait.
        unsafe { libc::poll(&mut fd, 1, 0) == 1 }
    }

    /// Whether this kernel reports how a reaped process ended: asked of a
    /// process that ended with code 0.
    pub fn supported() -> bool {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let watch = ExitWatch::open(child.id());
        child.wait().expect("wait true");
        watch.death_signal() == Some(0)
    }
}

/// A fresh, empty directory for one test, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tend-test-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Reads a file of this dir, empty when it does not exist (yet).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lines of `text`, owned, to compare with a list.
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(String::from).collect()
}

/// stderr of an `Output` as text, for assertions and failure messages.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// stdout of an `Output` as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One of tend's event lines about an app, as `log_format = "json"` writes
/// them: `{"ts":..,"level":..,"pid":..,"app":..,"event":..,"msg":..}`.
/// Tests count and wait for events by their stable names (started,
/// exited, restarting, failed, memory_limit, stopping, killing, stopped,
/// healthy, unhealthy, ready, critical, spawn_failed, ...) rather than by
/// the wording of the text lines; a few tests keep checking that wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub app: String,
    /// The `event` field.
    pub name: String,
    /// What the text format prints after `app=NAME: `.
    pub msg: String,
}

impl Event {
    /// Whether this is the `name` event of app `app`.
    pub fn is(&self, app: &str, name: &str) -> bool {
        self.app == app && self.name == name
    }
}

/// The app events among the lines of `log`, in order; other lines (apps'
/// output, tend's lines about no app) are skipped. Panics at one of tend's
/// text lines: events need `log_format = "json"` under `[tend]`, and
/// without it every count would quietly be 0.
pub fn events_in(log: &str) -> Vec<Event> {
    log.lines()
        .filter_map(|line| {
            assert!(
                !line.starts_with("tend["),
                "this tend logs text, set log_format = \"json\" under [tend] to read events: {line}"
            );
            let v: serde_json::Value = serde_json::from_str(line).ok()?;
            Some(Event {
                app: v["app"].as_str()?.to_string(),
                name: v["event"].as_str()?.to_string(),
                msg: v["msg"].as_str()?.to_string(),
            })
        })
        .collect()
}

/// A tend running an init.toml as PID 1 of a PID namespace, its stderr
/// (tend's event lines) going to a file that tests read as it grows.
pub struct Running {
    pub child: Child,
    pub dir: TempDir,
    log: PathBuf,
}

impl Running {
    /// Writes `toml` as init.toml in a fresh dir and starts tend on it;
    /// `{dir}` in the text is replaced by that dir.
    pub fn start(name: &str, toml: &str) -> Running {
        Running::start_with(name, toml, &[])
    }

    /// As `start`, with extra arguments after `-c FILE`.
    pub fn start_with(name: &str, toml: &str, extra: &[&str]) -> Running {
        let prefix = pid1_prefix().expect("call require_namespaces! first");
        Running::start_under(name, toml, extra, prefix)
    }

    /// As `start_with`, tend started by `prefix` (which must make it PID 1
    /// of a new PID namespace, e.g. `prlimit ... unshare --pid --fork
    /// --mount-proc`) instead of the usual `unshare`.
    pub fn start_under(name: &str, toml: &str, extra: &[&str], prefix: &[&str]) -> Running {
        Running::start_under_with(name, toml, extra, prefix, |_| {})
    }

    /// As `start_under`, with `setup` given the command before it starts
    /// (to add a `pre_exec`).
    pub fn start_under_with(
        name: &str,
        toml: &str,
        extra: &[&str],
        prefix: &[&str],
        setup: impl FnOnce(&mut Command),
    ) -> Running {
        let dir = TempDir::new(name);
        let text = toml.replace("{dir}", &dir.path().display().to_string());
        let config = dir.join("init.toml");
        std::fs::write(&config, text).expect("write init.toml");
        let log = dir.join("tend.log");
        let file = std::fs::File::create(&log).expect("create log");
        let mut args = vec!["-c".to_string(), config.display().to_string()];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut cmd = Command::new(prefix[0]);
        cmd.args(&prefix[1..])
            .arg(tend_bin())
            .args(&args)
            .env("INHERITED", "yes")
            .env("TEND_SOCKET", dir.join("tend.sock"))
            .stdout(file.try_clone().expect("dup log"))
            .stderr(file)
            .stdin(Stdio::null());
        setup(&mut cmd);
        let child = cmd.spawn().expect("spawn tend");
        Running { child, dir, log }
    }

    /// Runs a client command (`status`, `stop web`, ...) against this tend.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(tend_bin());
        cmd.args(args)
            .env("TEND_SOCKET", self.dir.join("tend.sock"));
        output_or_kill(cmd, Duration::from_secs(10))
    }

    /// Waits until the control socket answers.
    pub fn wait_socket(&self) {
        let ok = wait_until(Duration::from_secs(10), || {
            self.ctl(&["status"]).status.success()
        });
        assert!(ok, "control socket never answered; log:\n{}", self.log());
    }

    /// Everything tend and its apps wrote so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log containing `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until the log has `n` lines containing `needle`; panics with
    /// the log after `timeout`.
    pub fn wait_for(&self, needle: &str, n: usize, timeout: Duration) {
        if !wait_until(timeout, || self.count(needle) >= n) {
            panic!(
                "waited {timeout:?} for {n}x {needle:?}; log:\n{}",
                self.log()
            );
        }
    }

    /// tend's events about apps so far, in order (see `events_in`).
    pub fn all_events(&self) -> Vec<Event> {
        events_in(&self.log())
    }

    /// The messages of the `event` events of app `app` so far, in order:
    /// `t.events("crash", "failed").len()` counts them. Needs
    /// `log_format = "json"`.
    pub fn events(&self, app: &str, event: &str) -> Vec<String> {
        self.all_events()
            .into_iter()
            .filter(|e| e.is(app, event))
            .map(|e| e.msg)
            .collect()
    }

    /// Waits until app `app` has had `n` `event` events; their messages.
    /// Panics with the log after `timeout`.
    pub fn wait_event(&self, app: &str, event: &str, n: usize, timeout: Duration) -> Vec<String> {
        if !wait_until(timeout, || self.events(app, event).len() >= n) {
            panic!(
                "waited {timeout:?} for {n}x {event:?} of app {app:?}; log:\n{}",
                self.log()
            );
        }
        self.events(app, event)
    }

    /// tend's pid as seen from here.
    pub fn pid(&self) -> u32 {
        pid1_of(&self.child)
    }

    /// Sends `sig` to tend.
    pub fn signal(&self, sig: i32) {
        signal(self.pid(), sig);
    }

    /// Waits for tend to exit; its status.
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        wait_or_kill(&mut self.child, timeout)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        kill_namespace(&mut self.child);
    }
}

/// Kills the PID 1 that `unshare` (the process `child`) started, which
/// takes its namespace down, and `unshare` itself, unless already gone.
/// Given a tend that is not PID 1, kills its children (which have tend's
/// PR_SET_PDEATHSIG anyway), then tend.
pub fn kill_namespace(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        for pid in children_of(child.id()) {
            // SAFETY: kill(2) with plain integers.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// A process the test started (tend, or `unshare` or `script` around it)
/// that `kill_namespace` ends, with its children, if the test ends first:
/// a failed assertion must leave nothing running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        kill_namespace(&mut self.0);
    }
}

/// `tend status --json` of `t`, parsed; panics with the log when it fails.
pub fn status_json(t: &Running) -> serde_json::Value {
    status_timed(t).0
}

/// `tend status --json` of `t`, parsed, and how long it took.
pub fn status_timed(t: &Running) -> (serde_json::Value, Duration) {
    let started = Instant::now();
    let out = t.ctl(&["status", "--json"]);
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "status failed after {took:?}: {}\n{}",
        stderr(&out),
        t.log()
    );
    let v = serde_json::from_slice(&out.stdout).expect("status --json is JSON");
    (v, took)
}

/// Pids (host view) of every process in the subtree under `root`.
pub fn descendants(root: u32) -> Vec<u32> {
    let mut out = vec![];
    let mut todo = children_of(root);
    while let Some(p) = todo.pop() {
        out.push(p);
        todo.extend(children_of(p));
    }
    out
}

/// The value of a `Name:` line of /proc/PID/status.
pub fn status_field(pid: u32, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        l.strip_prefix(name)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

/// `tend status` run as `uid`:`gid` against `socket` (the caller is root).
pub fn status_as(socket: &Path, uid: u32, gid: u32) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(tend_bin());
    cmd.args(["status"])
        .env("TEND_SOCKET", socket)
        .uid(uid)
        .gid(gid);
    output_or_kill(cmd, Duration::from_secs(20))
}

/// The entry of app `name` in a `tend status --json` reply.
pub fn app(v: &serde_json::Value, name: &str) -> serde_json::Value {
    v["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// The last pid app `name` wrote to {dir}/name (inside the namespace);
/// -1 before it wrote one.
pub fn own_pid(t: &Running, name: &str) -> i64 {
    let text = t.dir.read(name);
    text.lines().last().unwrap_or("").parse().unwrap_or(-1)
}

/// Seconds since the epoch of a log stamp, `YYYY-MM-DDTHH:MM:SS.mmmZ`
/// exactly (UTC, milliseconds); None for anything else.
pub fn stamp_secs(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let shape = b.len() == 24
        && b.iter().enumerate().all(|(i, &c)| match i {
            4 | 7 => c == b'-',
            10 => c == b'T',
            13 | 16 => c == b':',
            19 => c == b'.',
            23 => c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let n = |from: usize, to: usize| s[from..to].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm, ss, ms) = (n(11, 13), n(14, 16), n(17, 19), n(20, 23));
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = y - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60 + ss) as f64 + ms as f64 / 1000.0)
}

/// A line of a log file (or of `tend logs` after its `NAME | `):
/// `STAMP TAG text`, split; panics when it is not one.
pub fn file_line(line: &str) -> (&str, &str, &str) {
    let parsed = line.split_at_checked(24).and_then(|(stamp, rest)| {
        let (tag, text) = rest.strip_prefix(' ')?.split_once(' ')?;
        (stamp_secs(stamp).is_some() && ["out", "err", "tend"].contains(&tag))
            .then_some((stamp, tag, text))
    });
    parsed.unwrap_or_else(|| panic!("not a log file line: {line:?}"))
}
