//! Fault injection: log files that cannot be written. A log_dir on a full
//! disk (a small tmpfs, mounted in tend's own mount namespace) and a
//! log_dir that cannot be made (a file stands where it should be). Either
//! is a warning (once per run of failed writes), never a failure of the app
//! or of tend; the lines the file misses are counted, and the file says how
//! many once it works again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::storms::app_entry;
use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// `path` as tend sees it, through its root: in its own mount namespace
/// where tend has one.
fn inside(t: &Running, path: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{}", t.pid(), path.display()))
}

/// The `tend N log lines lost (WHY)` lines of a log file: N and WHY.
fn lost_notes(text: &str) -> Vec<(u64, String)> {
    text.lines()
        .filter_map(|l| {
            let (_, tag, msg) = file_line(l);
            let (n, why) = msg.split_once(" log lines lost (")?;
            let why = why.strip_suffix(')')?;
            (tag == "tend").then_some((n.parse().ok()?, why.to_string()))
        })
        .collect()
}

#[test]
fn a_full_disk_costs_log_lines_only_and_says_how_many() {
    require_namespaces!(root, "to mount a tmpfs");
    let _serial = serial();
    const N: u64 = 20_000;
    // log_dir is a 256 KiB tmpfs of which a ballast file takes 192 KiB.
    // web writes about 900 KiB of lines at once, then fills what is left
    // of the tmpfs itself (twice, to take pages tend frees again when it
    // cuts a failed write back), then writes one line of 8000 bytes,
    // which cannot fit: the file is failing when the test frees space.
    let prefix = [
        "unshare",
        "--mount",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        "d=$(dirname \"$2\")/logs && mkdir \"$d\" && mount -t tmpfs -o size=256k tend-test \"$d\" && head -c 196608 /dev/zero > \"$d/ballast\" && exec \"$0\" \"$@\"",
    ];
    let fill = "cat /dev/zero >> {dir}/logs/filler 2>/dev/null";
    let t = Running::start_under(
        "disk-full",
        &format!(
            "[tend]\nlog_dir = \"{{dir}}/logs\"\nlog_format = \"json\"\n[app.web]\ncommand = \"seq 1 {N} | sed 's/^/line /'; sleep 0.3; {fill}; sleep 0.2; {fill}; printf '%08000d\\\\n' 0; touch {{dir}}/flooded; while [ ! -e {{dir}}/more ]; do sleep 0.01; done; echo after; exec sleep 600\"\nlog = [\"prefix\", \"file\"]\n"
        ),
        &[],
        &prefix,
    );
    t.wait_socket();
    let file = inside(&t, &t.dir.join("logs").join("web.log"));
    assert!(
        file.exists() && !t.dir.join("logs").join("web.log").exists(),
        "the log dir is not a tmpfs of tend's own"
    );
    assert!(
        wait_until(T, || t.dir.join("flooded").exists()),
        "web never finished writing:\n{}",
        t.log()
    );
    // Its lines still reach tend's output, every one.
    t.wait_for(&format!("web | line {N}"), 1, T);
    t.wait_for("web | 00000000", 1, T);
    assert_eq!(t.count("web | line "), N as usize);
    // A warning, not one per line or per batch; tend and web go on.
    let failed = t.wait_event("web", "log_failed", 1, T);
    assert!(failed[0].contains("No space left on device"), "{failed:?}");
    let v = status_json(&t);
    assert_eq!(app_entry(&v, "web")["state"], "running", "{v}");
    // The file ends with a whole line.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.ends_with('\n'),
        "ends mid-line: {:?}",
        &text[text.len().saturating_sub(80)..]
    );
    for l in text.lines() {
        file_line(l);
    }

    // Room again: the next line goes in, and the file says what it missed.
    std::fs::remove_file(inside(&t, &t.dir.join("logs").join("ballast"))).unwrap();
    std::fs::write(t.dir.join("more"), "").unwrap();
    let recovered = wait_until(T, || {
        std::fs::read_to_string(&file).is_ok_and(|s| {
            s.split_once(" out after\n")
                .is_some_and(|(_, rest)| lost_notes(rest).len() == 1)
        })
    });
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        recovered,
        "no recovery note after `after` in web.log:\n{}\ntend:\n{}",
        &text[text.len().saturating_sub(400)..],
        t.log()
    );
    let (_, why) = lost_notes(&text).pop().unwrap();
    assert!(why.contains("No space left on device"), "{why}");
    let kept: Vec<u64> = text
        .lines()
        .map(file_line)
        .filter_map(|(_, tag, msg)| {
            (tag == "out").then(|| msg.strip_prefix("line ")?.parse().ok())?
        })
        .collect();
    assert!(
        kept.windows(2).all(|w| w[0] < w[1]),
        "lines out of order or doubled"
    );
    assert!(kept.len() < N as usize / 2, "the disk was never full");

    // Every line went into the file or was counted lost, and tend's log
    // says each count. Warnings come once per run of failures: failed,
    // recovered, (where a small write fits in the end of the last page
    // while the disk is still full) failed, recovered...
    let events: Vec<Event> = t
        .all_events()
        .into_iter()
        .filter(|e| e.app == "web" && e.name.starts_with("log_"))
        .collect();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.len().is_multiple_of(2)
            && names
                .chunks(2)
                .all(|c| c == ["log_failed", "log_recovered"]),
        "{names:?}"
    );
    assert!(names.len() <= 10, "a warning per batch: {names:?}");
    let lost: u64 = events
        .iter()
        .filter(|e| e.name == "log_recovered")
        .map(|e| {
            e.msg
                .split_once(" log lines lost (")
                .and_then(|(n, _)| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("{e:?}"))
        })
        .sum();
    // Lines given to the file: web's N, its long one and `after`, tend's
    // `started` and one note per recovery.
    let recoveries = (names.len() / 2) as u64;
    assert_eq!(
        text.lines().count() as u64 + lost,
        N + 3 + recoveries,
        "lines in the file and lines counted lost do not add up:\n{names:?}"
    );
}

#[test]
fn an_unwritable_log_dir_is_retried_until_it_works() {
    require_namespaces!(root, "to run tend as PID 1 with a file for a log dir");
    let _serial = serial();
    // A file where the log dir should be: no open can succeed, root or not.
    let prefix = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        ": > \"$(dirname \"$2\")/logs\" && exec \"$0\" \"$@\"",
    ];
    let t = Running::start_under(
        "log-dir-file",
        "[tend]\nlog_dir = \"{dir}/logs\"\nlog_format = \"json\"\n[app.web]\ncommand = \"i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.05; done\"\nlog = \"file\"\n",
        &[],
        &prefix,
    );
    let failed = t.wait_event("web", "log_failed", 1, T);
    assert!(failed[0].contains("cannot open"), "{failed:?}");
    // Ticks keep coming and are dropped: still one warning, and web runs.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(t.events("web", "log_failed").len(), 1, "{}", t.log());
    let v = status_json(&t);
    assert_eq!(app_entry(&v, "web")["state"], "running", "{v}");
    assert_eq!(app_entry(&v, "web")["restarts"], 0, "{v}");

    // The way is clear: within the 5 s retry the file is there, and says
    // what it missed.
    std::fs::remove_file(t.dir.join("logs")).unwrap();
    let cleared = Instant::now();
    let file = t.dir.join("logs").join("web.log");
    let recovered = wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&file).is_ok_and(|s| !lost_notes(&s).is_empty())
    });
    let took = cleared.elapsed();
    assert!(
        recovered,
        "no web.log 10 s after the dir could be made:\n{}",
        t.log()
    );
    assert!(
        took < Duration::from_millis(6500),
        "took {took:?}; tend retries every 5 s"
    );
    // The file misses tend's `started` line and the ticks before its first.
    std::thread::sleep(Duration::from_millis(300));
    let text = std::fs::read_to_string(&file).unwrap();
    let notes = lost_notes(&text);
    assert_eq!(notes.len(), 1, "{text}");
    let (lost, why) = notes[0].clone();
    // The reason is the one the warning gave.
    assert!(
        !why.is_empty() && failed[0].contains(&why),
        "{why:?} / {failed:?}"
    );
    let ticks: Vec<u64> = text
        .lines()
        .map(file_line)
        .filter_map(|(_, tag, msg)| {
            (tag == "out").then(|| msg.strip_prefix("tick ")?.parse().ok())?
        })
        .collect();
    assert!(!ticks.is_empty(), "{text}");
    assert_eq!(
        ticks,
        (ticks[0]..ticks[0] + ticks.len() as u64).collect::<Vec<_>>(),
        "{text}"
    );
    assert_eq!(
        lost,
        ticks[0],
        "{lost} lines counted lost, but the file misses `started` and ticks 1..{}:\n{text}",
        ticks[0] - 1
    );
    assert_eq!(t.events("web", "log_failed").len(), 1, "{}", t.log());
}
