//! Fault injection: output. Apps that close their output, floods of
//! prefixed lines, one endless line, and a tend whose own stdout is closed,
//! gone or never read. tend must stay responsive and small whatever its
//! apps write and whoever (not) reads it.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::storms::{app_entry as app, fd_count, kb};
use crate::util::*;

const T: Duration = Duration::from_secs(20);
/// What `tend status` may take, whatever the apps do to tend's output.
const STATUS_BOUND: Duration = Duration::from_secs(1);
/// tend's peak RSS (VmHWM) while its apps flood it: the prefixed-output
/// queue is capped at 256 KiB per stream and a line at 16 KiB, so a few
/// MB above its ~1 MB baseline is already a leak.
const HWM_BOUND_KB: u64 = 8 * 1024;

/// tend as PID 1 with stdout and stderr of the test's choosing (by default
/// both to `{dir}/tend.log`); killed with its namespace on drop.
struct Tend {
    child: Child,
    dir: TempDir,
}

impl Tend {
    fn start(name: &str, toml: &str, stdout: Option<Stdio>, stderr: Option<Stdio>) -> Tend {
        Tend::start_cmd(name, toml, stdout, stderr, |_| {})
    }

    fn start_cmd(
        name: &str,
        toml: &str,
        stdout: Option<Stdio>,
        stderr: Option<Stdio>,
        tweak: impl FnOnce(&mut std::process::Command),
    ) -> Tend {
        let dir = TempDir::new(name);
        let text = toml.replace("{dir}", &dir.path().display().to_string());
        let config = dir.join("init.toml");
        std::fs::write(&config, text).unwrap();
        // Whatever is not given goes to {dir}/tend.log.
        let log = std::fs::File::create(dir.join("tend.log")).unwrap();
        let stdout = stdout.unwrap_or_else(|| log.try_clone().unwrap().into());
        let stderr = stderr.unwrap_or_else(|| log.into());
        let mut cmd = tend_pid1(["-c".as_ref(), config.as_os_str()]);
        cmd.env("TEND_SOCKET", dir.join("tend.sock"))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr);
        tweak(&mut cmd);
        let child = cmd.spawn().unwrap();
        Tend { child, dir }
    }

    fn sock(&self) -> PathBuf {
        self.dir.join("tend.sock")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        let mut cmd = std::process::Command::new(tend_bin());
        cmd.args(args).env("TEND_SOCKET", self.sock());
        output_or_kill(cmd, Duration::from_secs(10))
    }

    /// `tend status --json` and how long it took.
    fn status(&self) -> (Value, Duration) {
        let started = Instant::now();
        let out = self.ctl(&["status", "--json"]);
        let took = started.elapsed();
        assert!(
            out.status.success(),
            "status failed after {took:?}: {}\ntend is in {}\n{}",
            stderr(&out),
            where_is(self.pid()),
            self.log()
        );
        (serde_json::from_slice(&out.stdout).unwrap(), took)
    }

    fn wait_socket(&self) {
        let ok = wait_until(T, || {
            self.sock().exists() && self.ctl(&["status"]).status.success()
        });
        assert!(ok, "control socket never answered; log:\n{}", self.log());
    }

    fn pid(&self) -> u32 {
        pid1_of(&self.child)
    }

    fn log(&self) -> String {
        self.dir.read("tend.log")
    }

    fn count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// tend (the child of unshare) still runs.
    fn alive(&self) -> bool {
        children_of(self.child.id())
            .first()
            .is_some_and(|&p| status_field(p, "State").is_some_and(|s| !s.starts_with('Z')))
    }
}

impl Drop for Tend {
    fn drop(&mut self) {
        kill_namespace(&mut self.child);
    }
}

/// Where a process waits: its kernel wait channel and system call
/// (/proc/PID/wchan and the number from /proc/PID/syscall; 1 is write).
fn where_is(pid: u32) -> String {
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    let syscall = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let nr = syscall.split_whitespace().next().unwrap_or("?").to_string();
    let fd = syscall.split_whitespace().nth(1).unwrap_or("?").to_string();
    format!("wchan {wchan:?}, syscall {nr} on fd {fd}")
}

/// A pipe: (read end, write end), both close-on-exec (the write end loses
/// it when it becomes a child's stdout).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills a valid 2-element array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds nobody else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// Number of lines in a file of the test dir.
fn runs(dir: &TempDir, name: &str) -> usize {
    dir.read(name).lines().count()
}

#[test]
fn apps_that_close_their_stdout_and_stderr_leave_tend_unaffected() {
    require_namespaces!();
    let _serial = serial();
    // Each app says hello, closes both outputs and lives on (quiet*) or
    // exits a little later (crashy*); prefixed and inherited alike. talker
    // keeps writing prefixed lines throughout. tend's stdout and stderr go
    // to one file.
    let t = Tend::start(
        "out-close",
        r#"
[defaults]
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 1000

[app.quiet]
command = "echo hello $$; exec >&- 2>&-; exec sleep 600"
log = "prefix"

[app.quiet_inh]
command = "echo hello-inh $$; exec >&- 2>&-; exec sleep 600"

[app.crashy]
command = "echo run >> {dir}/crashy; echo crashy-run; exec >&- 2>&-; sleep 0.2; echo lost; exit 3"
log = "prefix"

[app.crashy_inh]
command = "echo run >> {dir}/crashy_inh; exec >&- 2>&-; sleep 0.2; exit 3"

[app.talker]
command = "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done"
log = "prefix"
"#,
        None,
        None,
    );
    let all = || t.log();
    let count = |needle: &str| t.count(needle);
    t.wait_socket();
    let tend = t.pid();
    assert!(
        wait_until(T, || count("quiet | hello") == 1 && count("hello-inh") == 1),
        "{}",
        all()
    );
    assert!(wait_until(T, || runs(&t.dir, "crashy") >= 2), "{}", all());
    let fds_before = fd_count(tend);
    let ticks_before = count("talker | tick");
    let crashy_before = runs(&t.dir, "crashy");
    let inh_before = runs(&t.dir, "crashy_inh");

    // Three seconds of apps closing their outputs and exiting.
    let window = Instant::now();
    let mut worst = Duration::ZERO;
    while window.elapsed() < Duration::from_secs(3) {
        worst = worst.max(t.status().1);
        std::thread::sleep(Duration::from_millis(100));
    }
    let secs = window.elapsed().as_secs_f64();
    let crashy = runs(&t.dir, "crashy") - crashy_before;
    let inh = runs(&t.dir, "crashy_inh") - inh_before;
    let ticks = count("talker | tick") - ticks_before;
    // A run takes 0.2 s plus a 0.1 s delay: about 10 runs in 3 s.
    assert!(crashy >= 5 && inh >= 5, "runs {crashy}/{inh}:\n{}", all());
    // Every run of the prefixed one got new pipes: its first line came
    // through each time, and what it wrote after closing went nowhere.
    assert!(
        wait_until(T, || count("crashy | crashy-run") >= crashy_before + crashy),
        "{}",
        all()
    );
    assert_eq!(count("lost"), 0, "{}", all());
    assert!(
        count("app=crashy: pid") >= crashy,
        "exits logged:\n{}",
        all()
    );
    // Another app's prefixed output kept flowing (50 lines/s).
    assert!(ticks >= 50, "only {ticks} ticks in {secs:.1} s:\n{}", all());
    assert!(worst < STATUS_BOUND, "status took {worst:?}");
    // The pipes of the runs that ended were closed: no fd piles up.
    let fds_after = fd_count(tend);
    assert!(
        fds_after <= fds_before + 2,
        "tend's fds grew from {fds_before} to {fds_after} over {crashy} runs"
    );

    // Restarting the apps that sit with closed outputs works, and the new
    // runs' output comes through again.
    let (before, _) = t.status();
    for name in ["quiet", "quiet_inh"] {
        let out = t.ctl(&["restart", name]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(
        wait_until(T, || count("quiet | hello") == 2 && count("hello-inh") == 2),
        "{}",
        all()
    );
    assert!(wait_until(T, || {
        let (now, _) = t.status();
        ["quiet", "quiet_inh"].iter().all(|n| {
            app(&now, n)["state"] == "running" && app(&now, n)["pid"] != app(&before, n)["pid"]
        })
    }));
    assert!(t.alive(), "tend died:\n{}", all());
    println!(
        "FIGURE output-closed: {crashy}+{inh} runs closing stdout/stderr in {secs:.1} s, \
         {ticks} lines of another app meanwhile, tend fds {fds_before} -> {fds_after}, \
         status worst {} ms",
        worst.as_millis()
    );
}

/// Reads prefixed lines from tend's stdout: every `flood | ` line must be
/// the next number of `seq -f %0100g`; counts them, and the bytes.
struct FloodReader {
    lines: Arc<AtomicU64>,
    handle: std::thread::JoinHandle<(u64, u64, Vec<String>, Option<Instant>)>,
}

fn read_flood(out: ChildStdout, expect: u64) -> FloodReader {
    let lines = Arc::new(AtomicU64::new(0));
    let counter = lines.clone();
    let handle = std::thread::spawn(move || {
        let mut r = BufReader::with_capacity(1 << 20, out);
        let mut line = Vec::with_capacity(256);
        let (mut bytes, mut bad, mut bad_lines) = (0u64, 0u64, Vec::new());
        let mut next = 1u64;
        let mut done_at = None;
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes += n as u64,
            }
            let Some(rest) = line.strip_prefix(b"flood | ") else {
                continue;
            };
            let whole = rest.len() == 101
                && rest[100] == b'\n'
                && std::str::from_utf8(&rest[..100])
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    == Some(next);
            if whole {
                next += 1;
                counter.store(next - 1, Ordering::Relaxed);
                if next > expect {
                    done_at = Some(Instant::now());
                }
            } else {
                bad += 1;
                if bad_lines.len() < 3 {
                    bad_lines.push(String::from_utf8_lossy(&line[..line.len().min(200)]).into());
                }
            }
        }
        (bytes, bad, bad_lines, done_at)
    });
    FloodReader { lines, handle }
}

#[test]
fn a_50_mb_flood_of_prefixed_lines_arrives_whole_and_tend_stays_small() {
    require_namespaces!();
    let _serial = serial();
    // 520,000 numbered lines of 100 digits: 52.5 MB (50 MiB) as fast as
    // seq writes them, while beat restarts every 0.3 s.
    const LINES: u64 = 520_000;
    let mut t = Tend::start(
        "out-flood",
        &format!(
            r#"
[app.flood]
command = "sleep 0.5; seq -f '%0100g' 1 {LINES}; exec sleep 600"
log = "prefix"

[app.beat]
command = "echo run >> {{dir}}/beat; sleep 0.2"
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 1000
"#
        ),
        Some(Stdio::piped()),
        None,
    );
    let reader = read_flood(t.child.stdout.take().unwrap(), LINES);
    t.wait_socket();
    let tend = t.pid();
    let rss_idle = kb(tend, "VmRSS");
    assert!(
        wait_until(T, || reader.lines.load(Ordering::Relaxed) > 0),
        "no flood line arrived:\n{}",
        t.log()
    );
    let started = Instant::now();
    let beat_before = runs(&t.dir, "beat");
    let (mut worst, mut asks, mut peak_rss) = (Duration::ZERO, 0, 0);
    while reader.lines.load(Ordering::Relaxed) < LINES
        && started.elapsed() < Duration::from_secs(60)
    {
        worst = worst.max(t.status().1);
        asks += 1;
        peak_rss = peak_rss.max(kb(tend, "VmRSS"));
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    let beats = runs(&t.dir, "beat") - beat_before;
    let hwm = kb(tend, "VmHWM");
    let got = reader.lines.load(Ordering::Relaxed);
    let alive = t.alive();
    drop(t); // closes tend's stdout: the reader ends
    let (bytes, bad, bad_lines, done_at) = reader.handle.join().unwrap();
    assert!(alive, "tend died during the flood");
    assert_eq!(
        (got, bad),
        (LINES, 0),
        "lines in order / broken lines, e.g. {bad_lines:?}"
    );
    let secs = done_at.map_or(secs, |d| (d - started).as_secs_f64());
    let mb = bytes as f64 / 1e6;
    assert!(mb >= 52.0, "{mb} MB");
    assert!(asks >= 1 && worst < STATUS_BOUND, "status took {worst:?}");
    assert!(hwm < HWM_BOUND_KB, "tend's VmHWM {hwm} KB");
    // beat kept restarting: a run is 0.2 s plus 0.1 s of delay.
    let expected = (secs / 0.3) as usize;
    assert!(
        beats * 2 >= expected,
        "{beats} restarts in {secs:.1} s of flood (about {expected} expected)"
    );
    println!(
        "FIGURE output-50mb: {mb:.1} MB ({LINES} lines, all whole and in order) in {secs:.2} s, \
         tend VmRSS idle {rss_idle} KB peak {peak_rss} KB VmHWM {hwm} KB, \
         status worst {} ms over {asks} asks, {beats} restarts of another app meanwhile",
        worst.as_millis()
    );
}

#[test]
fn a_10_mb_line_is_cut_at_16_kib_and_tend_stays_small() {
    require_namespaces!();
    let _serial = serial();
    // long: 10 MiB + 100 bytes without a newline, then a newline and a
    // short line. tail: 20,000 bytes and EOF, no newline at all.
    const LONG: usize = 10 * 1024 * 1024 + 100;
    const CAP: usize = 16 * 1024;
    let mut t = Tend::start(
        "out-long",
        &format!(
            r#"
[app.long]
command = "sleep 0.3; head -c {LONG} /dev/zero | tr '\\0' x; echo; echo done; exec sleep 600"
log = "prefix"

[app.tail]
command = "sleep 0.3; head -c 20000 /dev/zero | tr '\\0' y"
log = "prefix"
restart = "never"
"#
        ),
        Some(Stdio::piped()),
        None,
    );
    let mut out = t.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        // Lines of tend's stdout, as (prefix, length, all one byte) until
        // `long | done`.
        let mut r = BufReader::new(&mut out);
        let mut seen = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            let (prefix, body) = text.split_once(" | ").unwrap_or(("?", &text));
            let body = body.trim_end_matches('\n');
            if body == "done" {
                seen.push((prefix.to_string(), 0, 'd'));
                if seen.iter().any(|s| s.0 == "tail") {
                    break;
                }
                continue;
            }
            let c = body.chars().next().unwrap_or('-');
            let uniform = body.chars().all(|b| b == c);
            seen.push((
                prefix.to_string(),
                body.len(),
                if uniform { c } else { '!' },
            ));
            if prefix == "tail" && seen.iter().any(|s| s.2 == 'd') && body.len() < CAP {
                break;
            }
        }
        seen
    });
    t.wait_socket();
    let tend = t.pid();
    let started = Instant::now();
    let mut worst = Duration::ZERO;
    while !reader.is_finished() && started.elapsed() < T {
        worst = worst.max(t.status().1);
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    let hwm = kb(tend, "VmHWM");
    let alive = t.alive();
    let finished = reader.is_finished();
    drop(t);
    let seen = reader.join().unwrap();
    assert!(finished, "the lines never all came");
    assert!(alive, "tend died");
    let long: Vec<_> = seen.iter().filter(|s| s.0 == "long").collect();
    let tail: Vec<_> = seen.iter().filter(|s| s.0 == "tail").collect();
    // output.rs: "A partial line waits for its end up to MAX_LINE bytes,
    // then goes out split; what is left at EOF is flushed."
    let xs: usize = long.iter().filter(|s| s.2 == 'x').map(|s| s.1).sum();
    assert_eq!(xs, LONG, "every byte of the long line came through");
    assert!(long.iter().all(|s| s.2 != '!'), "a mixed line: {long:?}");
    assert_eq!(long.len(), LONG / CAP + 2, "pieces, the rest, then done");
    assert!(long[..LONG / CAP].iter().all(|s| s.1 == CAP && s.2 == 'x'));
    assert_eq!(*long[LONG / CAP], ("long".to_string(), LONG % CAP, 'x'));
    assert_eq!(long[LONG / CAP + 1].2, 'd');
    assert_eq!(
        tail.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(),
        [(CAP, 'y'), (20_000 - CAP, 'y')],
        "the last partial line is flushed at EOF"
    );
    assert!(hwm < HWM_BOUND_KB, "tend's VmHWM {hwm} KB");
    assert!(worst < STATUS_BOUND, "status took {worst:?}");
    println!(
        "FIGURE output-10mb-line: {LONG} bytes without a newline -> {} lines of {CAP} + 1 of {} \
         in {secs:.2} s, tend VmHWM {hwm} KB, status worst {} ms",
        LONG / CAP,
        LONG % CAP,
        worst.as_millis()
    );
}

/// The config of the stuck-reader tests: a chatty prefixed app, a
/// crash-looping one that counts its runs in a file, and a sleeper.
const CHATTY: &str = r#"
[app.chatty]
command = "echo $$ >> {dir}/chatty; while :; do echo 'a chatty line of some length, again and again and again'; done"
log = "prefix"

[app.crash]
command = "echo run >> {dir}/crash; sleep 0.2; exit 1"
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 1000
log = "prefix"

[app.idle]
command = "exec sleep 600"
"#;

/// Over `secs` seconds: crash keeps restarting at its rate (a run is 0.2 s
/// plus 0.1 s), status answers within the bound; then a restart by hand of
/// chatty gives it a new pid. Returns (crash runs, worst status latency).
fn supervision_goes_on(t: &Tend, secs: u64) -> (usize, Duration) {
    let window = Instant::now();
    let before = runs(&t.dir, "crash");
    let mut worst = Duration::ZERO;
    while window.elapsed() < Duration::from_secs(secs) {
        worst = worst.max(t.status().1);
        std::thread::sleep(Duration::from_millis(100));
    }
    let crash = runs(&t.dir, "crash") - before;
    let expected = secs as usize * 10 / 3;
    assert!(
        crash * 2 >= expected,
        "{crash} crash runs in {secs} s (about {expected} expected)"
    );
    assert!(worst < STATUS_BOUND, "status took {worst:?}");
    let (v, _) = t.status();
    let old = app(&v, "chatty")["pid"].clone();
    assert!(old.is_i64(), "{v}");
    let out = t.ctl(&["restart", "chatty"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wait_until(T, || {
            let (v, _) = t.status();
            app(&v, "chatty")["state"] == "running" && app(&v, "chatty")["pid"] != old
        }),
        "chatty was not restarted"
    );
    assert!(t.alive(), "tend died");
    (crash, worst)
}

#[test]
fn tend_with_stdout_closed_or_its_reader_gone_goes_on() {
    require_namespaces!();
    let _serial = serial();
    // 1. tend started with fd 1 closed.
    let t = Tend::start_cmd("out-closed", CHATTY, Some(Stdio::null()), None, |cmd| {
        // SAFETY: close(2) between fork and exec, on the child's own fd.
        unsafe {
            cmd.pre_exec(|| {
                libc::close(1);
                Ok(())
            });
        }
    });
    t.wait_socket();
    let (closed_runs, closed_worst) = supervision_goes_on(&t, 2);
    drop(t);

    // 2. A reader that goes away while chatty writes: tend's writes get
    // EPIPE (tend ignores SIGPIPE) and the lines are dropped.
    let (r, w) = pipe();
    let t = Tend::start("out-gone", CHATTY, Some(Stdio::from(w)), None);
    let mut reader = std::fs::File::from(r);
    t.wait_socket();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0;
    while got < 1 << 20 {
        got += reader.read(&mut buf).unwrap();
    }
    drop(reader);
    let (gone_runs, gone_worst) = supervision_goes_on(&t, 2);
    let tend = t.pid();
    let hwm = kb(tend, "VmHWM");
    assert!(hwm < HWM_BOUND_KB, "tend's VmHWM {hwm} KB");
    assert_eq!(t.count("ERROR"), 0, "{}", t.log());
    println!(
        "FIGURE output-stdout-closed: {closed_runs} restarts in 2 s, status worst {} ms; \
         reader gone after {} KB: {gone_runs} restarts in 2 s, status worst {} ms, tend VmHWM {hwm} KB",
        closed_worst.as_millis(),
        got / 1024,
        gone_worst.as_millis()
    );
}

#[test]
fn a_stuck_reader_of_tends_stdout_delays_nothing() {
    require_namespaces!();
    let _serial = serial();
    // tend's stdout is a pipe nobody reads (a stuck log collector); its
    // stderr goes to the log file. chatty fills the pipe at once.
    let (r, w) = pipe();
    let t = Tend::start("out-stuck", CHATTY, Some(Stdio::from(w)), None);
    t.wait_socket();
    std::thread::sleep(Duration::from_millis(300));
    let (crash, worst) = supervision_goes_on(&t, 3);
    let tend = t.pid();
    let hwm = kb(tend, "VmHWM");
    assert!(hwm < HWM_BOUND_KB, "tend's VmHWM {hwm} KB");
    // The pipe is full and chatty waits: nothing was lost, the first lines
    // are still there to read once someone does.
    let mut reader = std::fs::File::from(r);
    let mut first = [0u8; 64];
    reader.read_exact(&mut first).unwrap();
    assert!(
        first.starts_with(b"chatty | a chatty line") || first.starts_with(b"crash | "),
        "{}",
        String::from_utf8_lossy(&first)
    );
    println!(
        "FIGURE output-stuck-stdout: {crash} restarts in 3 s, status worst {} ms, tend VmHWM {hwm} KB",
        worst.as_millis()
    );
}

#[test]
fn a_stuck_reader_of_tends_stdout_and_stderr_delays_nothing() {
    require_namespaces!();
    let _serial = serial();
    // `tend 2>&1 | collector` with the collector stuck: stdout and stderr
    // are the same pipe, nobody reads it.
    let (_r, w) = pipe();
    let w2 = w.try_clone().unwrap();
    let t = Tend::start(
        "out-stuck2",
        CHATTY,
        Some(Stdio::from(w)),
        Some(Stdio::from(w2)),
    );
    t.wait_socket();
    std::thread::sleep(Duration::from_millis(300));
    let (crash, worst) = supervision_goes_on(&t, 3);
    println!(
        "FIGURE output-stuck-stdout-stderr: {crash} restarts in 3 s, status worst {} ms",
        worst.as_millis()
    );
}
