//! Logs (DESIGN.md "Logs"): app output goes straight through by default,
//! nothing lost; prefixed lines never mix, and a stuck reader of them
//! stalls nothing; a closed stderr of tend harms no app; tend's own event
//! lines in JSON (`log_format = "json"`) have stable fields. Then the forms
//! an app's lines take (`file`, `json`, timestamps, a prefix and a file),
//! rotation under a flood, and `tend logs` with `-n` and `-f`, followers
//! fast and stopped. (A full disk and an unwritable log_dir are faults:
//! tests/faults/logs.rs.)

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn ten_megabytes_stream_through_untouched() {
    require_namespaces!();
    let data: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut child = tend_pid1(["--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || stdin.write_all(&data))
    };
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).map(|_| v)
    });
    writer.join().unwrap().expect("write");
    let got = reader.join().unwrap().expect("read");
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
    assert!(
        got == data,
        "stream differs: {} bytes back of {}",
        got.len(),
        data.len()
    );
}

#[test]
fn prefixed_logs_never_mix_lines() {
    require_namespaces!();
    // Two apps write 3,000 lines each as fast as they can, to stdout and
    // stderr, then one last line without a newline.
    let chatty = |n: &str| {
        format!(
            "[app.{n}]\ncommand = '''i=0; while [ $i -lt 3000 ]; do echo \"{n} line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; echo \"{n} err $i\" >&2; i=$((i+1)); done; printf \"{n} tail\"'''\nlog = \"prefix\"\nrestart = \"never\"\n"
        )
    };
    let mut t = Running::start("prefix", &(chatty("a") + &chatty("b")));
    assert_eq!(
        t.wait(Duration::from_secs(60)).code(),
        Some(0),
        "{}",
        t.log().len()
    );
    let log = t.log();
    let mut counts = std::collections::HashMap::new();
    for line in log.lines() {
        if line.starts_with("tend[") {
            continue;
        }
        let (prefix, rest) = line
            .split_once(" | ")
            .unwrap_or_else(|| panic!("unprefixed line: {line:?}"));
        assert!(
            rest.starts_with(&format!("{prefix} ")),
            "a line of {prefix} holds another app's text: {line:?}"
        );
        let kind = rest.split_whitespace().nth(1).unwrap();
        if kind == "line" {
            assert!(rest.ends_with("xxxxxxxx"), "cut line: {line:?}");
        }
        *counts.entry(format!("{prefix} {kind}")).or_insert(0) += 1;
    }
    for app in ["a", "b"] {
        assert_eq!(
            counts.get(&format!("{app} line")),
            Some(&3000),
            "{counts:?}"
        );
        assert_eq!(counts.get(&format!("{app} err")), Some(&3000), "{counts:?}");
        assert_eq!(
            counts.get(&format!("{app} tail")),
            Some(&1),
            "partial last line flushed: {counts:?}"
        );
    }
}

#[test]
fn a_stuck_reader_of_prefixed_logs_does_not_stall_supervision() {
    require_namespaces!();
    let dir = TempDir::new("stuck-reader");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            "[app.chatty]\ncommand = \"while :; do echo spam spam spam spam spam spam spam spam; done\"\nlog = \"prefix\"\n[app.crash]\ncommand = \"echo run >> {d}/runs; exit 1\"\nrestart_delay = \"0s\"\nmax_restarts = 100000\n"
        ),
    )
    .unwrap();
    // tend's stdout: a pipe nobody reads. Its stderr: a file.
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just made these fds; each is owned once.
    let (reader, writer) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    let log = std::fs::File::create(dir.join("tend.log")).unwrap();
    let mut child = tend_pid1(["-c", &dir.join("init.toml").display().to_string()])
        .env("TEND_SOCKET", dir.join("tend.sock"))
        .stdout(std::process::Stdio::from(writer))
        .stderr(log)
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(1000));
    let runs = || dir.read("runs").lines().count();
    let before = runs();
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        runs() > before + 10,
        "restarts stalled: {before} -> {}",
        runs()
    );
    let mut cmd = std::process::Command::new(tend_bin());
    cmd.arg("status").env("TEND_SOCKET", dir.join("tend.sock"));
    assert!(
        output_or_kill(cmd, T).status.success(),
        "status did not answer"
    );
    signal(pid1_of(&child), libc::SIGTERM);
    assert_eq!(wait_or_kill(&mut child, T).code(), Some(0));
    drop(reader);
}

#[test]
fn a_closed_stderr_does_not_kill_the_apps() {
    // Every log line tend writes to a closed pipe raises SIGPIPE in tend;
    // it must not reach the apps.
    let dir = TempDir::new("sigpipe");
    let d = dir.path().display();
    std::fs::write(
        dir.join("init.toml"),
        format!(
            "[app.steady]\ncommand = \"echo $$ >> {d}/steady; exec sleep 600\"\n[app.flappy]\ncommand = \"exit 1\"\nrestart_delay = \"50ms\"\nmax_restart_delay = \"50ms\"\nmax_restarts = 1000\n"
        ),
    )
    .unwrap();
    // tend's stdout and stderr go to `true`, which exits at once.
    let pipeline = format!("{} -c {}/init.toml 2>&1 | true; sleep 30", tend_bin(), d);
    let mut sh = std::process::Command::new("sh")
        .args(["-c", &pipeline])
        .env("TEND_SOCKET", fresh_socket())
        .spawn()
        .expect("spawn");
    let mut tend_pid = None;
    wait_until(T, || {
        tend_pid = children_of(sh.id()).into_iter().find(|&p| {
            std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.starts_with(tend_bin()))
        });
        tend_pid.is_some()
    });
    let tend_pid = tend_pid.expect("tend in the pipeline");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        dir.read("steady").lines().count(),
        1,
        "steady was restarted"
    );
    signal(tend_pid, libc::SIGTERM);
    assert!(wait_until(T, || status_field(tend_pid, "State")
        .is_none_or(|s| s.starts_with('Z'))));
    let _ = sh.kill();
    let _ = sh.wait();
}

#[test]
fn json_log_lines_have_stable_fields() {
    require_namespaces!();
    let mut t = Running::start(
        "json",
        "[tend]\nlog_format = \"json\"\n[app.a]\ncommand = [\"true\"]\nrestart = \"never\"\n",
    );
    assert_eq!(t.wait(T).code(), Some(0));
    let log = t.log();
    let lines: Vec<&str> = log.lines().collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(
            line.starts_with("{\"ts\":") && line.ends_with('}'),
            "{line}"
        );
        assert!(
            line.contains("\"level\":\"") && line.contains("\"pid\":1,"),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"app\":\"a\",\"event\":\"started\",\"msg\":\"started, pid 2\"")),
        "{log}"
    );
    assert!(
        lines.iter().any(|l| l.contains("\"event\":\"exited\"")),
        "{log}"
    );
}

// ---- Issue 13: log forms, files and rotation, `tend logs` ----

/// Asserts that `stamp` is a well-formed log stamp within 10 s of now.
fn assert_fresh(stamp: &str, line: &str) {
    let t = stamp_secs(stamp).unwrap_or_else(|| panic!("bad stamp {stamp:?} in {line:?}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        (now - t).abs() < 10.0,
        "stamp {stamp} is {:.1}s away from now: {line:?}",
        now - t
    );
}

/// The lines read so far from a pipe or socket, by a thread, so that a
/// test can wait for the next one with a deadline.
struct LineReader(std::sync::mpsc::Receiver<String>);

impl LineReader {
    fn new(r: impl std::io::Read + Send + 'static) -> LineReader {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(r)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LineReader(rx)
    }

    /// The lines up to and including the first for which `pred` holds;
    /// panics with what came when it does not come within `timeout`.
    fn until(&self, timeout: Duration, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + timeout;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    let done = pred(&line);
                    got.push(line);
                    if done {
                        return got;
                    }
                }
                Err(e) => panic!("no such line within {timeout:?} ({e}); got {got:?}"),
            }
        }
    }
}

/// The number of fds `pid` has open.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .count()
}

#[test]
fn file_logs_hold_stamped_lines_and_tends_own_lines_per_instance() {
    require_namespaces!();
    let t = Running::start(
        "file-log",
        "[tend]\nlog_dir = \"{dir}/logs\"\n\
         [app.web]\ncommand = \"echo hello-from-web; echo oops-from-web >&2; exit 3\"\nlog = \"file\"\nrestart = \"never\"\n\
         [app.work]\ncommand = \"echo work-out-$TEND_INSTANCE; echo work-err-$TEND_INSTANCE >&2; exec sleep 600\"\nlog = \"file\"\ninstances = 2\n",
    );
    let logs = t.dir.join("logs");
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap_or_default();
    let done = wait_until(T, || {
        read("web.log").contains("not restarting")
            && read("work.0.log").contains("err work-err-0")
            && read("work.1.log").contains("err work-err-1")
    });
    assert!(
        done,
        "web.log:\n{}\nwork.0.log:\n{}\nwork.1.log:\n{}\ntend:\n{}",
        read("web.log"),
        read("work.0.log"),
        read("work.1.log"),
        t.log()
    );

    // web.log tells the app's whole story, each line `STAMP TAG text`.
    let web = read("web.log");
    let lines: Vec<(&str, &str, &str)> = web.lines().map(file_line).collect();
    for (line, (stamp, _, _)) in web.lines().zip(&lines) {
        assert_fresh(stamp, line);
    }
    let story: Vec<(&str, &str)> = lines.iter().map(|&(_, tag, text)| (tag, text)).collect();
    let at = |want: (&str, &str)| {
        story
            .iter()
            .position(|&l| l == want)
            .unwrap_or_else(|| panic!("no {want:?} in web.log:\n{web}"))
    };
    let started = story
        .iter()
        .position(|&(tag, text)| tag == "tend" && text.starts_with("started, pid "))
        .unwrap_or_else(|| panic!("no started line in web.log:\n{web}"));
    let out = at(("out", "hello-from-web"));
    let err = at(("err", "oops-from-web"));
    let exited = story
        .iter()
        .position(|&(tag, text)| tag == "tend" && text.contains("exited with code 3"))
        .unwrap_or_else(|| panic!("no exited line in web.log:\n{web}"));
    assert!(started < out && started < err, "{web}");
    assert!(out < exited && err < exited, "{web}");
    // The stamps never go back.
    assert!(
        lines.windows(2).all(|w| w[0].0 <= w[1].0),
        "stamps out of order:\n{web}"
    );

    // Each instance has its own file, with its own lines only.
    for i in 0..2 {
        let text = read(&format!("work.{i}.log"));
        let mine: Vec<(&str, &str)> = text
            .lines()
            .map(file_line)
            .map(|(_, tag, text)| (tag, text))
            .filter(|&(tag, _)| tag != "tend")
            .collect();
        assert_eq!(
            mine,
            [
                ("out", format!("work-out-{i}").as_str()),
                ("err", format!("work-err-{i}").as_str())
            ],
            "work.{i}.log:\n{text}"
        );
        assert!(text.contains(" tend started, pid "), "{text}");
    }
    assert!(
        !logs.join("work.log").exists(),
        "instances write NAME.i.log"
    );

    // None of it on tend's own output, which has tend's event lines only.
    let log = t.log();
    for word in ["hello-from-web", "oops-from-web", "work-out-", "work-err-"] {
        assert!(!log.contains(word), "{word} on tend's output:\n{log}");
    }
    assert!(log.lines().all(|l| l.starts_with("tend[")), "{log}");
}

#[test]
fn describe_shows_where_an_app_logs() {
    require_namespaces!();
    let t = Running::start(
        "describe-log",
        "[tend]\nlog_dir = \"{dir}/logs\"\n\
         [app.web]\ncommand = \"exec sleep 600\"\nlog = [\"prefix\", \"file\"]\n\
         [app.work]\ncommand = \"exec sleep 600\"\nlog = \"file\"\ninstances = 2\n\
         [app.quiet]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    let logs = t.dir.join("logs");
    let web = t.ctl(&["describe", "web"]);
    assert!(web.status.success(), "{}", stderr(&web));
    let want = format!("prefix, file ({})", logs.join("web.log").display());
    assert!(
        stdout(&web)
            .lines()
            .any(|l| l.starts_with("  log ") && l.ends_with(&want)),
        "no log line ending in {want:?}:\n{}",
        stdout(&web)
    );
    let work = stdout(&t.ctl(&["describe", "work"]));
    for i in 0..2 {
        let path = logs.join(format!("work.{i}.log"));
        assert!(
            work.contains(&format!("file ({})", path.display())),
            "{work}"
        );
    }
    let json: serde_json::Value =
        serde_json::from_slice(&t.ctl(&["describe", "--json", "web"]).stdout).expect("JSON");
    assert!(
        json.to_string().contains(&format!(
            "\"log_file\":\"{}\"",
            logs.join("web.log").display()
        )),
        "{json}"
    );
    let quiet = stdout(&t.ctl(&["describe", "quiet"]));
    assert!(
        quiet
            .lines()
            .any(|l| l.starts_with("  log ") && l.trim_end().ends_with("inherit")),
        "{quiet}"
    );
}

/// The rotated files of `name` in `dir` that exist, oldest first
/// (`name.N`, ..., `name.1`, `name`), and every file name in `dir`.
fn rotated(dir: &std::path::Path, name: &str) -> (Vec<std::path::PathBuf>, Vec<String>) {
    let mut all: Vec<String> = std::fs::read_dir(dir)
        .expect("log dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    all.sort();
    let mut numbers: Vec<u32> = all
        .iter()
        .filter_map(|f| f.strip_prefix(&format!("{name}."))?.parse().ok())
        .collect();
    numbers.sort_unstable_by(|a, b| b.cmp(a));
    let mut files: Vec<_> = numbers
        .iter()
        .map(|k| dir.join(format!("{name}.{k}")))
        .collect();
    files.push(dir.join(name));
    (files, all)
}

/// The numbers of the `out line N` lines of `files`, in order, after
/// checking that every line of them is a whole, well-formed log line and
/// that no file is larger than `max`.
fn numbered_lines(files: &[std::path::PathBuf], max: u64) -> Vec<u64> {
    let mut numbers = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(
            text.len() as u64 <= max,
            "{} holds {} bytes, more than {max}",
            f.display(),
            text.len()
        );
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "{} ends mid-line",
            f.display()
        );
        for line in text.lines() {
            let (_, tag, text) = file_line(line);
            if tag == "out" {
                let n = text
                    .strip_prefix("line ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("split or mixed line {line:?} in {}", f.display()));
                numbers.push(n);
            }
        }
    }
    numbers
}

/// An app that writes `n` numbered lines as fast as it can, then waits.
fn flood(name: &str, n: u32, extra: &str) -> String {
    format!(
        "[tend]\nlog_dir = \"{{dir}}/logs\"\n[app.{name}]\ncommand = \"seq 1 {n} | sed 's/^/line /'; exec sleep 600\"\nlog = \"file\"\n{extra}"
    )
}

#[test]
fn rotation_under_a_flood_keeps_every_line_whole_and_once() {
    require_namespaces!();
    const N: u64 = 200_000;
    let t = Running::start(
        "rotate-flood",
        &flood("web", N as u32, "log_max_size = \"64K\"\nlog_keep = 1000\n"),
    );
    let logs = t.dir.join("logs");
    let last = format!(" out line {N}\n");
    let done = wait_until(T, || {
        std::fs::read_to_string(logs.join("web.log")).is_ok_and(|s| s.ends_with(&last))
    });
    assert!(done, "line {N} never reached web.log; tend:\n{}", t.log());
    let (files, _) = rotated(&logs, "web.log");
    let numbers = numbered_lines(&files, 64 * 1024);
    assert!(
        files.len() > 50,
        "only {} rotations for {N} lines in 64K files",
        files.len() - 1
    );
    assert_eq!(numbers.len() as u64, N, "lines lost or doubled");
    if let Some(k) = (0..numbers.len()).find(|&k| numbers[k] != k as u64 + 1) {
        panic!(
            "line {} where line {} belongs (around {:?})",
            numbers[k],
            k + 1,
            &numbers[k.saturating_sub(2)..(k + 3).min(numbers.len())]
        );
    }
    // Nothing else in the dir, and the rotated files are numbered 1..K
    // without a gap.
    let (_, all) = rotated(&logs, "web.log");
    assert_eq!(all.len(), files.len(), "stray files: {all:?}");
    let k = files.len() - 1;
    assert!(
        logs.join(format!("web.log.{k}")).exists(),
        "a gap in web.log.1..{k}: {all:?}"
    );

    // `tend logs -n` reads back across the rotated files.
    let out = t.ctl(&["logs", "-n", "5000", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let tail: Vec<u64> = text
        .lines()
        .map(|l| {
            let rest = l.strip_prefix("web | ").unwrap_or_else(|| panic!("{l:?}"));
            let (_, tag, text) = file_line(rest);
            assert_eq!(tag, "out", "{l}");
            text.strip_prefix("line ").unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(tail, (N - 4999..=N).collect::<Vec<_>>());
}

#[test]
fn rotation_keeps_log_keep_files() {
    require_namespaces!();
    const N: u64 = 50_000;
    let t = Running::start(
        "rotate-keep",
        &flood("web", N as u32, "log_max_size = \"64K\"\nlog_keep = 2\n"),
    );
    let logs = t.dir.join("logs");
    let last = format!(" out line {N}\n");
    let done = wait_until(T, || {
        std::fs::read_to_string(logs.join("web.log")).is_ok_and(|s| s.ends_with(&last))
    });
    assert!(done, "line {N} never reached web.log; tend:\n{}", t.log());
    let (files, all) = rotated(&logs, "web.log");
    assert_eq!(all, ["web.log", "web.log.1", "web.log.2"]);
    // What is left is the newest lines, in order, none missing.
    let numbers = numbered_lines(&files, 64 * 1024);
    let first = numbers[0];
    assert!(first > 1, "nothing was deleted");
    assert_eq!(numbers, (first..=N).collect::<Vec<_>>());
}

#[test]
fn json_lines_carry_ts_app_stream_and_embed_json_objects() {
    require_namespaces!();
    let t = Running::start(
        "json-app",
        r#"[app.web]
command = '''echo plain words; echo '{"level":"warn","n":7}'; echo '{not json}'; echo 'oops "quoted"' >&2; exec sleep 600'''
log = "json"
"#,
    );
    t.wait_for("oops", 1, T);
    let log = t.log();
    // tend's own event lines are text here; every other line is one of
    // web's, as JSON.
    let objects: Vec<serde_json::Value> = log
        .lines()
        .filter(|l| !l.starts_with("tend["))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    assert_eq!(objects.len(), 4, "{log}");
    for (o, line) in objects
        .iter()
        .zip(log.lines().filter(|l| !l.starts_with("tend[")))
    {
        assert_eq!(o["app"], "web", "{line}");
        assert_fresh(o["ts"].as_str().expect("ts"), line);
        let keys: Vec<&String> = o.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4, "{line}");
    }
    let find = |stream: &str, pred: &dyn Fn(&serde_json::Value) -> bool| {
        objects
            .iter()
            .find(|o| o["stream"] == stream && pred(&o["msg"]))
            .unwrap_or_else(|| panic!("no such {stream} line in\n{log}"))
    };
    find("stdout", &|m| m == "plain words");
    let obj = find("stdout", &|m| m.is_object());
    assert_eq!(obj["msg"]["level"], "warn");
    assert_eq!(obj["msg"]["n"], 7);
    find("stdout", &|m| m == "{not json}");
    find("stderr", &|m| m == "oops \"quoted\"");
}

#[test]
fn prefix_lines_can_carry_a_timestamp() {
    require_namespaces!();
    let t = Running::start(
        "prefix-stamp",
        "[app.web]\ncommand = \"echo listening; echo failing >&2; exec sleep 600\"\nlog = \"prefix\"\nlog_timestamps = true\n[app.plain]\ncommand = \"echo untimed; exec sleep 600\"\nlog = \"prefix\"\n",
    );
    t.wait_for("failing", 1, T);
    t.wait_for("untimed", 1, T);
    let log = t.log();
    for word in ["listening", "failing"] {
        let line = log
            .lines()
            .find(|l| l.ends_with(word))
            .unwrap_or_else(|| panic!("no {word}:\n{log}"));
        let stamp = line
            .strip_prefix("web | ")
            .and_then(|r| r.strip_suffix(word))
            .and_then(|r| r.strip_suffix(' '))
            .unwrap_or_else(|| panic!("not `web | STAMP {word}`: {line:?}"));
        assert_fresh(stamp, line);
    }
    assert!(
        log.lines().any(|l| l == "plain | untimed"),
        "log_timestamps is per app:\n{log}"
    );
}

#[test]
fn prefix_and_file_each_get_every_line() {
    require_namespaces!();
    let t = Running::start(
        "prefix-file",
        "[tend]\nlog_dir = \"{dir}/logs\"\n[app.web]\ncommand = \"for i in 1 2 3; do echo out-$i; echo err-$i >&2; done; exec sleep 600\"\nlog = [\"prefix\", \"file\"]\n",
    );
    let file = t.dir.join("logs").join("web.log");
    let read = || std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        wait_until(T, || read().contains(" err err-3\n")),
        "web.log:\n{}",
        read()
    );
    t.wait_for("web | err-3", 1, T);
    let log = t.log();
    let text = read();
    let in_file: Vec<(&str, &str)> = text
        .lines()
        .map(file_line)
        .filter(|&(_, tag, _)| tag != "tend")
        .map(|(_, tag, text)| (tag, text))
        .collect();
    for i in 1..=3 {
        for (tag, what) in [("out", "out"), ("err", "err")] {
            let line = format!("{what}-{i}");
            assert_eq!(
                log.lines()
                    .filter(|l| *l == format!("web | {line}"))
                    .count(),
                1,
                "{line} on tend's output:\n{log}"
            );
            assert_eq!(
                in_file
                    .iter()
                    .filter(|&&l| l == (tag, line.as_str()))
                    .count(),
                1,
                "{line} in web.log:\n{text}"
            );
        }
    }
    assert_eq!(in_file.len(), 6, "{text}");
}

#[test]
fn tend_logs_gives_the_last_lines_of_each_app_merged_in_time() {
    require_namespaces!();
    // filer logs to a file, pref only to tend's output (its lines come
    // from the in-memory tail). Their lines alternate, f1 p1 f2 p2 ...,
    // each app waiting for the other's line (and 50 ms more) before its
    // next one.
    let t = Running::start(
        "logs-n",
        "[tend]\nlog_dir = \"{dir}/logs\"\n\
         [app.filer]\ncommand = \"for i in 1 2 3 4 5; do echo f$i; sleep 0.05; touch {dir}/f$i; while [ ! -e {dir}/p$i ]; do sleep 0.01; done; done; exec sleep 600\"\nlog = \"file\"\n\
         [app.pref]\ncommand = \"for i in 1 2 3 4 5; do while [ ! -e {dir}/f$i ]; do sleep 0.01; done; echo p$i >&2; sleep 0.05; touch {dir}/p$i; done; exec sleep 600\"\nlog = \"prefix\"\n\
         [app.inh]\ncommand = \"exec sleep 600\"\n",
    );
    assert!(wait_until(T, || t.dir.join("p5").exists()), "{}", t.log());
    let out = t.ctl(&["logs", "-n", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<(&str, &str, &str, &str)> = text
        .lines()
        .map(|l| {
            let (name, rest) = l
                .split_once(" | ")
                .unwrap_or_else(|| panic!("not `NAME | ...`: {l:?}"));
            let (stamp, tag, line) = file_line(rest);
            assert_fresh(stamp, l);
            (name, stamp, tag, line)
        })
        .collect();
    let got: Vec<String> = lines
        .iter()
        .map(|(name, _, tag, line)| format!("{name} {tag} {line}"))
        .collect();
    assert_eq!(
        got,
        [
            "filer out f3",
            "pref err p3",
            "filer out f4",
            "pref err p4",
            "filer out f5",
            "pref err p5"
        ],
        "{text}"
    );
    assert!(lines.windows(2).all(|w| w[0].1 <= w[1].1), "{text}");

    // One app by name; -n counts its lines.
    let out = t.ctl(&["logs", "-n", "2", "pref"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let got: Vec<&str> = text.lines().map(|l| &l[l.len() - 2..]).collect();
    assert_eq!(got, ["p4", "p5"], "{text}");
    assert!(text.lines().all(|l| l.starts_with("pref | ")), "{text}");

    // An app whose output tend never sees: exit 1, and what to set.
    let out = t.ctl(&["logs", "inh"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("inh") && err.contains("log = \"inherit\"") && err.contains("set log = "),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    // An app that does not exist.
    let out = t.ctl(&["logs", "nosuch"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("nosuch"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn tend_logs_with_only_inherit_apps_says_what_to_set() {
    require_namespaces!();
    let t = Running::start("logs-inherit", "[app.a]\ncommand = \"exec sleep 600\"\n");
    t.wait_socket();
    let out = t.ctl(&["logs"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("log = \"inherit\"") && err.contains("set log = "),
        "{err}"
    );
}

/// `tend logs ARGS...` against `t`, running, its stdout read line by line.
fn follower(t: &Running, args: &[&str]) -> (std::process::Child, LineReader) {
    let mut child = std::process::Command::new(tend_bin())
        .arg("logs")
        .args(args)
        .env("TEND_SOCKET", t.dir.join("tend.sock"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tend logs");
    let lines = LineReader::new(child.stdout.take().unwrap());
    (child, lines)
}

/// The N of a `web | STAMP out tick N` line.
fn tick(line: &str) -> u64 {
    let rest = line
        .strip_prefix("web | ")
        .unwrap_or_else(|| panic!("{line:?}"));
    let (_, tag, text) = file_line(rest);
    assert_eq!(tag, "out", "{line}");
    text.strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line:?}"))
}

#[test]
fn followers_get_new_lines_until_interrupted() {
    require_namespaces!();
    let t = Running::start(
        "follow",
        "[tend]\nlog_dir = \"{dir}/logs\"\n[app.web]\ncommand = \"i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done\"\nlog = \"file\"\n",
    );
    t.wait_socket();
    // Past tend's `started` line: the last line is always a tick.
    let file = t.dir.join("logs").join("web.log");
    assert!(wait_until(T, || std::fs::read_to_string(&file)
        .is_ok_and(|s| s.contains(" out tick 2\n"))));
    let tend = t.pid();
    // tend's fds when no client is connected (the last `status` one may
    // still be closing).
    let base = (0..10)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(30));
            fd_count(tend)
        })
        .min()
        .unwrap();

    // Two followers at once: each gets the line before it asked, then
    // every new one, in order, none missing.
    let (mut a, a_lines) = follower(&t, &["-f", "-n", "1", "web"]);
    let (mut b, b_lines) = follower(&t, &["-n", "1", "-f", "web"]);
    let first_a = tick(&a_lines.until(T, |_| true)[0]);
    let first_b = tick(&b_lines.until(T, |_| true)[0]);
    let target = first_a.max(first_b) + 5;
    for (first, lines) in [(first_a, &a_lines), (first_b, &b_lines)] {
        let got: Vec<u64> = lines
            .until(T, |l| tick(l) >= target)
            .iter()
            .map(|l| tick(l))
            .collect();
        assert_eq!(got, (first + 1..=target).collect::<Vec<_>>());
    }
    assert!(
        fd_count(tend) >= base + 2,
        "{} fds with two followers, {base} before",
        fd_count(tend)
    );

    // Ctrl-C ends one promptly and quietly; the other goes on.
    signal(a.id(), libc::SIGINT);
    let status = wait_or_kill(&mut a, Duration::from_secs(2));
    assert!(
        status.code() == Some(0)
            || std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGINT),
        "{status:?}"
    );
    let mut err = String::new();
    std::io::Read::read_to_string(a.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.is_empty(), "{err}");
    let seen = tick(b_lines.until(T, |_| true).last().unwrap());
    b_lines.until(T, |l| tick(l) >= seen + 3);

    signal(b.id(), libc::SIGINT);
    wait_or_kill(&mut b, Duration::from_secs(2));
    // tend dropped both (its fds are back where they were), still
    // answers, and takes new followers.
    assert!(
        wait_until(T, || fd_count(tend) <= base),
        "{} fds after the followers ended, {base} before",
        fd_count(tend)
    );
    assert!(t.ctl(&["status"]).status.success(), "{}", t.log());
    let (mut c, c_lines) = follower(&t, &["-f", "-n", "0", "web"]);
    let first = tick(&c_lines.until(T, |_| true)[0]);
    c_lines.until(T, |l| tick(l) >= first + 2);
    signal(c.id(), libc::SIGINT);
    wait_or_kill(&mut c, Duration::from_secs(2));
}

#[test]
fn a_follower_that_stops_reading_slows_nothing_and_learns_what_it_missed() {
    require_namespaces!();
    use std::io::{Read, Write};
    const N: u64 = 200_000;
    let t = Running::start(
        "slow-follower",
        &format!(
            "[tend]\nlog_dir = \"{{dir}}/logs\"\n[app.web]\ncommand = \"while [ ! -e {{dir}}/go ]; do sleep 0.01; done; seq 1 {N} | sed 's/^/flood /'; touch {{dir}}/done; while [ ! -e {{dir}}/more ]; do sleep 0.01; done; echo after; exec sleep 600\"\nlog = \"file\"\nlog_max_size = \"100M\"\n"
        ),
    );
    t.wait_socket();
    // A client that asks to follow every app, reads tend's first line,
    // then nothing more.
    let mut client = std::os::unix::net::UnixStream::connect(t.dir.join("tend.sock")).unwrap();
    client
        .write_all(b"{\"cmd\":\"logs\",\"names\":[],\"lines\":0,\"follow\":true}\n")
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\n") {
        assert_eq!(client.read(&mut byte).unwrap(), 1, "{head:?}");
        head.push(byte[0]);
    }
    assert_eq!(head, b"{\"ok\":true}\n");

    let started = std::time::Instant::now();
    std::fs::write(t.dir.join("go"), "").unwrap();
    let (_, took) = status_timed(&t);
    assert!(took < Duration::from_secs(2), "status took {took:?}");
    assert!(
        wait_until(Duration::from_secs(10), || t.dir.join("done").exists()),
        "the app was slowed: {N} lines not written after {:?}",
        started.elapsed()
    );
    let (_, took) = status_timed(&t);
    assert!(took < Duration::from_secs(2), "status took {took:?}");

    // The reader comes back: it gets what was queued for it, whole lines
    // in order, then, before the next new line, how many it missed.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    while let Ok(n) = client.read(&mut buf) {
        assert!(n > 0, "tend hung up");
        got.extend_from_slice(&buf[..n]);
    }
    std::fs::write(t.dir.join("more"), "").unwrap();
    let deadline = std::time::Instant::now() + T;
    while !got.ends_with(b" out after\n") {
        assert!(
            std::time::Instant::now() < deadline,
            "no `after` line; the end of what came: {:?}",
            String::from_utf8_lossy(&got[got.len().saturating_sub(300)..])
        );
        if let Ok(n) = client.read(&mut buf) {
            assert!(n > 0, "tend hung up");
            got.extend_from_slice(&buf[..n]);
        }
    }
    // Every line came or was counted, in order: each note stands where
    // its lines are missing. The last one comes just before `after`.
    let text = String::from_utf8(got).expect("UTF-8");
    let lines: Vec<&str> = text.lines().collect();
    let (mut next, mut received, mut skipped) = (1, 0, 0);
    for (k, l) in lines[..lines.len() - 1].iter().enumerate() {
        if let Some(n) = l
            .strip_prefix("... ")
            .and_then(|r| r.strip_suffix(" lines skipped"))
        {
            let n: u64 = n.parse().unwrap_or_else(|_| panic!("{l:?}"));
            assert!(n > 0, "{l}");
            next += n;
            skipped += n;
            continue;
        }
        let (_, tag, text) = file_line(l.strip_prefix("web | ").unwrap_or_else(|| panic!("{l:?}")));
        assert_eq!(tag, "out", "{l}");
        let got: u64 = text
            .strip_prefix("flood ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("line {k}: {l:?}"));
        assert_eq!(got, next, "line {k}: {l:?} where flood {next} belongs");
        next += 1;
        received += 1;
    }
    assert_eq!(next, N + 1, "lines received and skipped do not add up");
    assert!(
        received > 0 && skipped > 0,
        "{received} received, {skipped} skipped"
    );
    assert!(
        lines[lines.len() - 2].ends_with(" lines skipped"),
        "no skip count before `after`: {:?}",
        &lines[lines.len() - 2..]
    );
    // The file, meanwhile, has every line.
    let file = std::fs::read_to_string(t.dir.join("logs").join("web.log")).unwrap();
    assert_eq!(
        file.lines().filter(|l| l.contains(" out flood ")).count() as u64,
        N
    );
}

#[test]
fn the_last_partial_line_survives_a_full_pipe_at_exit() {
    require_namespaces!();
    require_tool!("python3", "-V");
    // web fills a 1 MiB pipe with 900 KB of lines and a last line without
    // its newline, and exits, while tend is stopped: tend then finds the
    // exit and more lines than one turn reads, at once, and exits itself.
    const N: u32 = 30_000;
    let script = format!(
        r#"import fcntl, os, time
fcntl.fcntl(1, 1031, 1 << 20)
while not os.path.exists("{{dir}}/go"):
    time.sleep(0.01)
data = b"".join(b"line %06d %s\n" % (i, b"x" * 20) for i in range(1, {N} + 1)) + b"last words"
while data:
    data = data[os.write(1, data):]
"#
    );
    let mut t = Running::start(
        "last-words",
        &format!(
            "[tend]\nlog_dir = \"{{dir}}/logs\"\n[app.web]\ncommand = [\"python3\", \"-c\", '''{script}''']\nlog = \"file\"\nrestart = \"never\"\n"
        ),
    );
    let tend = t.pid();
    let mut web = None;
    assert!(wait_until(T, || {
        web = children_of(tend).first().copied();
        web.is_some()
    }));
    let web = web.unwrap();
    signal(tend, libc::SIGSTOP);
    std::fs::write(t.dir.join("go"), "").unwrap();
    let exited = wait_until(T, || {
        status_field(web, "State").is_none_or(|s| s.starts_with('Z'))
    });
    signal(tend, libc::SIGCONT);
    assert!(exited, "web did not finish while tend was stopped");
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    let text = std::fs::read_to_string(t.dir.join("logs").join("web.log")).unwrap();
    let out: Vec<&str> = text
        .lines()
        .map(file_line)
        .filter(|&(_, tag, _)| tag == "out")
        .map(|(_, _, line)| line)
        .collect();
    assert_eq!(
        out.len() as u32,
        N + 1,
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
    assert_eq!(
        out.last(),
        Some(&"last words"),
        "{}",
        &text[text.len().saturating_sub(300)..]
    );
}
