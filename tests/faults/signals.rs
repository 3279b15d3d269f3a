//! Fault injection: signals. A storm of 100,000 signals that tend forwards
//! or only reaps on, sent to tend (PID 1) while one app runs steadily and
//! another crash-restarts: tend must stay up, keep supervising during the
//! storm (status answers, the crashing app is restarted), keep forwarding,
//! and leave no zombie.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::storms::{
    ProcId, alive, app_entry, app_host_pid, assert_tend_alive, proc_id, rss_kb, zombies,
};
use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// Signals that neither shut tend down (TERM, INT, QUIT, PWR, RTMIN+3 = 37)
/// nor reload it (HUP): tend forwards them to every app's group, or (CHLD)
/// only reaps.
const STANDARD: [libc::c_int; 7] = [
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
    libc::SIGCONT,
    libc::SIGALRM,
    libc::SIGURG,
    libc::SIGCHLD,
];

/// steady ignores what would kill it (its sleeps inherit that) and counts
/// USR1s; crash dies of most signals and of itself, and is restarted.
const APPS: &str = r#"
[app.steady]
command = """
trap 'echo u >> {dir}/usr1' USR1
trap '' USR2 ALRM 40 41 42 43 44 45 46 47 48 49 50
while :; do sleep 0.2; done
"""

[app.crash]
command = "sleep 0.05; exit 1"
restart_delay = "5ms"
max_restart_delay = "5ms"
max_restarts = 1000000
"#;

/// Sends `n` signals, cycling through `kinds`, to `pid`, spread evenly
/// over `over` (bursts of 500, then a wait for the schedule; `over` zero:
/// as fast as the test can). kill(2) of a real-time signal never fails on
/// a full queue (the kernel then keeps only the pending bit). Returns how
/// long it took.
fn send_storm(pid: u32, kinds: &[libc::c_int], n: usize, over: Duration) -> Duration {
    let began = Instant::now();
    let mut sent = 0;
    while sent < n {
        for _ in 0..500.min(n - sent) {
            let sig = kinds[sent % kinds.len()];
            // SAFETY: kill(2) with plain integers.
            let rc = unsafe { libc::kill(pid as i32, sig) };
            assert_eq!(
                rc,
                0,
                "kill({pid}, {sig}) after {sent} signals: {}",
                std::io::Error::last_os_error()
            );
            sent += 1;
        }
        let due = over.mul_f64(sent as f64 / n as f64);
        if let Some(wait) = due.checked_sub(began.elapsed()) {
            std::thread::sleep(wait);
        }
        assert!(began.elapsed() < T, "{sent} signals took {T:?}");
    }
    began.elapsed()
}

/// 100,000 signals of `kinds` over `over` against a tend running `APPS`;
/// panics on what goes wrong.
fn signal_storm(name: &str, kinds: &[libc::c_int], over: Duration) {
    const N: usize = 100_000;
    let mut t = Running::start(name, APPS);
    t.wait_for("app=crash: restarting", 1, T);
    t.wait_socket();
    let tend = t.pid();
    let steady = app_host_pid(&t, "steady");
    let steady_id: ProcId = proc_id(steady).unwrap();
    let crash_restarts = |t: &Running| {
        app_entry(&status_json(t), "crash")["restarts"]
            .as_u64()
            .unwrap()
    };
    let restarts_before = crash_restarts(&t);
    let rss_before = rss_kb(tend);

    // The storm on a thread; status asked every 100 ms meanwhile.
    let done = AtomicBool::new(false);
    let (took, worst, asked) = std::thread::scope(|s| {
        let storm = s.spawn(|| {
            let took = send_storm(tend, kinds, N, over);
            done.store(true, Ordering::SeqCst);
            took
        });
        let (mut worst, mut asked) = (Duration::ZERO, 0);
        // Once more right after the storm: it must not leave tend busy.
        let mut last = false;
        while !last {
            last = done.load(Ordering::SeqCst);
            let at = Instant::now();
            let out = t.ctl(&["status"]);
            let latency = at.elapsed();
            if !out.status.success() || latency >= Duration::from_secs(1) {
                // Let the storm end before failing, then report.
                let _ = storm.join();
                panic!(
                    "{} the storm, status {} after {latency:?}: {}\ntend {} ms of CPU, {}",
                    if last { "right after" } else { "during" },
                    if out.status.success() {
                        "answered"
                    } else {
                        "failed"
                    },
                    stderr(&out).trim(),
                    super::storms::cpu_ms(tend),
                    status_field(tend, "SigQ")
                        .map(|q| format!("SigQ (root's queued signals/limit) {q}"))
                        .unwrap_or_default()
                );
            }
            worst = worst.max(latency);
            asked += 1;
            if !last {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        (storm.join().unwrap(), worst, asked)
    });
    // tend is up and supervised all along: the crashing app was restarted
    // during the storm (or within 1 s of its end), the steady one kept its
    // pid.
    let mut during = crash_restarts(&t) - restarts_before;
    let restarted = wait_until(Duration::from_secs(1), || {
        during = crash_restarts(&t) - restarts_before;
        during >= 3
    });
    assert_tend_alive(&mut t);
    assert!(
        restarted,
        "crash restarted {during} times during a {took:?} storm and 1 s after: {}",
        t.log()
    );
    let v = status_json(&t);
    let s = app_entry(&v, "steady");
    assert_eq!(s["state"], "running", "{v}");
    assert_eq!(s["restarts"], 0, "steady was restarted: {v}\n{}", t.log());
    assert_eq!(
        app_host_pid(&t, "steady"),
        steady,
        "steady has a new main process"
    );
    assert!(alive(steady_id), "steady's main process died");
    // USR1 was forwarded during the storm, and still is after it.
    assert!(
        wait_until(T, || !t.dir.read("usr1").is_empty()),
        "no USR1 reached steady during the storm"
    );
    std::thread::sleep(Duration::from_millis(300));
    let usr1 = t.dir.read("usr1").lines().count();
    t.signal(libc::SIGUSR1);
    assert!(
        wait_until(T, || t.dir.read("usr1").lines().count() > usr1),
        "a USR1 after the storm did not reach steady"
    );

    // No zombie outlives its reaping: with crash stopped, none at all.
    let out = t.ctl(&["stop", "crash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        wait_until(Duration::from_secs(2), || zombies(tend).is_empty()),
        "zombies in the namespace: {:?}",
        zombies(tend)
    );
    let rss_after = rss_kb(tend);
    assert!(
        rss_after < rss_before + 1024,
        "tend's RSS grew from {rss_before} KB to {rss_after} KB"
    );
    println!(
        "FIGURE signal-storm ({name}): {N} signals of {} kinds in {:.2} s, tend alive, worst status latency {} ms over {asked} requests during and right after it, crash app restarted {during} times meanwhile, steady app restarts 0, zombies 0, tend RSS {rss_before} -> {rss_after} KB",
        kinds.len(),
        took.as_secs_f64(),
        worst.as_millis()
    );
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
}

#[test]
fn a_storm_of_100000_mixed_signals_over_2s_leaves_tend_supervising() {
    require_namespaces!();
    let _serial = serial();
    let mut kinds = STANDARD.to_vec();
    kinds.extend(40..=50);
    signal_storm("mixed-2s", &kinds, Duration::from_secs(2));
}

#[test]
fn a_burst_of_100000_standard_signals_and_one_realtime_kind_leaves_tend_supervising() {
    require_namespaces!();
    let _serial = serial();
    let mut kinds = STANDARD.to_vec();
    kinds.push(40);
    // As fast as the test can send them.
    signal_storm("burst-rt40", &kinds, Duration::ZERO);
}

#[test]
fn a_burst_of_100000_mixed_signals_leaves_tend_supervising() {
    require_namespaces!();
    let _serial = serial();
    let mut kinds = STANDARD.to_vec();
    kinds.extend(40..=50);
    // As fast as the test can send them: the queue outgrows the reader.
    signal_storm("burst-mixed", &kinds, Duration::ZERO);
}
