//! Zero downtime under load (issue 14; DESIGN.md "Sockets and restarts
//! without downtime", its measure): real HTTP servers that take their
//! socket from fd 3 (Node's `http` with `listen({fd: 3})`, Python's
//! `http.server` on `socket.socket(fileno=3)`), four instances of one app on
//! one TCP port, while a load generator of our own opens a new connection
//! for every request (so a refused or reset connection shows) and checks
//! each answer's 200. A restart, a reload that changed the app, one
//! instance's memory-limit restart and one instance's SIGKILL each lose
//! no request; so does a restart of a single instance.
//!
//! The Node server has no `notify`: a new process is up for tend once it
//! runs, so the old one is stopped before the new one listens, and the
//! connections wait in the backlog meanwhile. The Python one says READY=1
//! (`notify = true`): the old one is stopped once the new one serves. Both
//! ways lose nothing; the latency differs. Latency (connect to last byte)
//! around each event is printed, never asserted: `cargo test --test
//! integration zero_downtime -- --nocapture` shows it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// Node's http server on fd 3. GET /grow keeps 200 MB (filled, so it is
/// resident). On SIGTERM it stops accepting and exits once the
/// connections it has are answered: what `server.close()` is for.
const NODE: &str = r#"
const http = require('http');
let hog = null;
const server = http.createServer((req, res) => {
  if (req.url === '/grow') hog = Buffer.alloc(200 << 20, 1);
  const body = `${process.env.TEND_APP} ${process.pid} ${process.env.GEN}\n`;
  res.writeHead(200, {'content-type': 'text/plain', 'content-length': body.length, 'connection': 'close'});
  res.end(body);
});
server.listen({fd: 3}, () => console.log('listening', process.pid));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
"#;

/// Python's http.server on fd 3, a thread per request, which says READY=1
/// (sd_notify) once it serves: run with `notify = true`, a replacement
/// waits for it before it stops the old process. On SIGTERM serve_forever
/// stops (from another thread, as shutdown() asks), then server_close()
/// waits for the requests' threads.
const PYTHON: &str = r#"
import http.server, os, signal, socket, socketserver, threading
hog = None
class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = False
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        global hog
        if self.path == "/grow":
            hog = b"x" * (200 << 20)
        body = ("%s %d %s\n" % (os.environ["TEND_APP"], os.getpid(), os.environ["GEN"])).encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
srv.socket.close()
srv.socket = socket.socket(fileno=3)
srv.socket.setblocking(False)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
print("listening", os.getpid(), flush=True)
addr = os.environ["NOTIFY_SOCKET"]
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as n:
    n.sendto(b"READY=1", "\0" + addr[1:] if addr.startswith("@") else addr)
srv.serve_forever(poll_interval=0.05)
srv.server_close()
"#;

/// A TCP port nobody listens on now (the kernel's pick, released).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// init.toml for app `web`, the `server` lines (its command) on `port`.
/// `generation` is the GEN variable each answer ends with.
fn config(server: &str, port: u16, instances: u32, generation: u32) -> String {
    let app = format!(
        "[app.web]\n{server}listen = [\"tcp://127.0.0.1:{port}\"]\ninstances = {instances}\nmax_memory = \"150M\"\nrestart_delay = \"100ms\"\nlog = \"prefix\"\nenv = {{ GEN = \"{generation}\" }}\n"
    );
    format!("[tend]\nlog_format = \"json\"\npoll_interval = \"200ms\"\n\n{app}")
}

/// The Node server: up for tend once it runs.
fn node() -> String {
    format!("command = [\"node\", \"-e\", '''{NODE}''']\n")
}

/// The Python server: up for tend once it says READY=1.
fn python() -> String {
    format!("command = [\"python3\", \"-c\", '''{PYTHON}''']\nnotify = true\n")
}

/// One GET on a new connection; the body when the answer is a whole 200.
fn get(port: u16, path: &str) -> Result<String, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .and_then(|_| c.set_write_timeout(Some(Duration::from_secs(5))))
        .map_err(|e| format!("timeouts: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    c.write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf);
    let status = text.lines().next().unwrap_or("");
    if !(status.starts_with("HTTP/1.1 200 ") || status.starts_with("HTTP/1.0 200 ")) {
        return Err(format!("status {status:?} ({} bytes)", buf.len()));
    }
    match text.split_once("\r\n\r\n") {
        Some((_, body)) if body.ends_with('\n') => Ok(body.to_string()),
        _ => Err(format!("cut answer ({} bytes)", buf.len())),
    }
}

/// One request of the load: when it began (since the load's start), how
/// long it took, and its failure, if it failed.
struct Sample {
    at: Duration,
    took: Duration,
    failed: Option<String>,
}

/// A few threads, each sending requests one after the other (a new
/// connection each) until stopped, or until `limit` in any case.
struct Load {
    base: Instant,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Vec<Sample>>>,
}

impl Load {
    fn start(port: u16, threads: usize, limit: Duration) -> Load {
        let base = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..threads)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut out = Vec::new();
                    while !stop.load(Ordering::Relaxed) && base.elapsed() < limit {
                        let at = base.elapsed();
                        let failed = get(port, "/").err();
                        out.push(Sample {
                            at,
                            took: base.elapsed() - at,
                            failed,
                        });
                        // Steady, not flat out: about 500 requests/s per thread.
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    out
                })
            })
            .collect();
        Load {
            base,
            stop,
            threads,
        }
    }

    /// Now, on the load's clock.
    fn now(&self) -> Duration {
        self.base.elapsed()
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all: Vec<Sample> = self
            .threads
            .into_iter()
            .flat_map(|t| t.join().expect("load thread"))
            .collect();
        all.sort_by_key(|s| s.at);
        all
    }
}

/// An event of the test and its window on the load's clock: from its
/// start until its effect is over (every instance replaced, the killed
/// one started again).
struct Window {
    name: String,
    from: Duration,
    to: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let k = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

/// Fails the test, with the first failures and tend's log, when any
/// request of the load failed.
fn assert_none_failed(label: &str, samples: &[Sample], windows: &[Window], t: &Running) {
    let failures = report(label, samples, windows);
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:#?}\nlog:\n{}",
        failures.len(),
        samples.len(),
        &failures[..failures.len().min(10)],
        t.log()
    );
}

/// Prints requests, failures and p50/p99 latency of the requests begun in
/// each window; returns the failures of the whole run, with the window
/// each fell in.
fn report(label: &str, samples: &[Sample], windows: &[Window]) -> Vec<String> {
    let mut failures = Vec::new();
    for s in samples {
        if let Some(why) = &s.failed {
            let during = windows
                .iter()
                .find(|w| s.at >= w.from && s.at <= w.to)
                .map_or("between events", |w| w.name.as_str());
            failures.push(format!("{:.3}s ({during}): {why}", s.at.as_secs_f64()));
        }
    }
    let line = |name: &str, from: Duration, to: Duration| {
        let mut lat: Vec<Duration> = samples
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .map(|s| s.took)
            .collect();
        let failed = samples
            .iter()
            .filter(|s| s.at >= from && s.at <= to && s.failed.is_some())
            .count();
        lat.sort();
        eprintln!(
            "{label}: {name:<24} {:>6.2}s {:>6} requests {:>3} failed  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
            (to - from).as_secs_f64(),
            lat.len(),
            failed,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    };
    let end = samples.last().map_or(Duration::ZERO, |s| s.at);
    if let Some(first) = windows.first() {
        line("before the events", Duration::ZERO, first.from);
    }
    for w in windows {
        line(&w.name, w.from, w.to);
    }
    line("whole run", Duration::ZERO, end);
    failures
}

/// How many `event` events the instances of web have had.
fn count(t: &Running, event: &str) -> usize {
    t.all_events()
        .iter()
        .filter(|e| e.name == event && e.app.starts_with("web"))
        .count()
}

fn wait_count(t: &Running, event: &str, n: usize) {
    if !wait_until(T, || count(t, event) >= n) {
        panic!("waited {T:?} for {n}x {event}; log:\n{}", t.log());
    }
}

/// The pid (inside the namespace) of each instance, from `tend status`.
fn pids(t: &Running, instances: u32) -> Vec<i64> {
    let s = status_json(t);
    (0..instances)
        .map(|i| {
            let name = if instances == 1 {
                "web".to_string()
            } else {
                format!("web.{i}")
            };
            app(&s, &name)["pid"].as_i64().unwrap_or(0)
        })
        .collect()
}

/// The pid seen from here of the process that is `ns_pid` in tend's
/// namespace.
fn host_pid(t: &Running, ns_pid: i64) -> u32 {
    descendants(t.pid())
        .into_iter()
        .find(|&p| {
            status_field(p, "NSpid").and_then(|v| v.split_whitespace().last()?.parse::<i64>().ok())
                == Some(ns_pid)
        })
        .unwrap_or_else(|| panic!("no process is pid {ns_pid} in tend's namespace"))
}

/// The accepted connections `pid` holds: its sockets other than fd 3,
/// the listening one.
fn connections(pid: u32) -> usize {
    let link = |fd: &str| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok();
    let listener = link("3");
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| link(&e.file_name().to_string_lossy()))
                .filter(|l| {
                    l.to_string_lossy().starts_with("socket:") && Some(l) != listener.as_ref()
                })
                .count()
        })
        .unwrap_or(0)
}

/// SIGKILL to `pid` at a moment it holds no connection. A process killed
/// while it serves a request loses that request, under any supervisor:
/// what this shows is the rest (the sockets stay open, the connections
/// wait for or go to the other instances, the instance starts again).
/// Stopped (SIGSTOP), the process cannot accept: when it holds none then,
/// it is killed so; else it goes on and the next moment is tried.
fn kill_when_idle(pid: u32) {
    for _ in 0..500 {
        signal(pid, libc::SIGSTOP);
        let stopped = wait_until(Duration::from_secs(2), || {
            status_field(pid, "State").is_some_and(|s| s.starts_with('T'))
        });
        assert!(stopped, "pid {pid} did not stop");
        if connections(pid) == 0 {
            signal(pid, libc::SIGKILL);
            return;
        }
        signal(pid, libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(3));
    }
    panic!("pid {pid} was never idle");
}

/// Starts the app, waits for every instance to listen, puts the load on.
fn start(name: &str, server: &str, port: u16, instances: u32) -> (Running, Load) {
    let t = Running::start(name, &config(server, port, instances, 1));
    t.wait_for("| listening", instances as usize, T);
    let first = get(port, "/");
    assert!(first.is_ok(), "{first:?}; log:\n{}", t.log());
    let load = Load::start(port, 4, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(800));
    (t, load)
}

/// `tend restart web`, which returns once every instance is replaced.
fn restart(t: &Running, load: &Load, windows: &mut Vec<Window>, name: String) {
    let from = load.now();
    let out = t.ctl(&["restart", "web"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    windows.push(Window {
        name,
        from,
        to: load.now(),
    });
}

/// The events of issue 14 on a 4-instance app under load: `tend restart
/// web` three times, a `tend reload` that changed web's env, one instance
/// over max_memory, one instance SIGKILLed. Not one request may fail.
fn four_instances_under_load(label: &str, server: &str) {
    let _serial = serial();
    let port = free_port();
    let (t, load) = start(label, server, port, 4);
    let mut windows = Vec::new();
    let gap = Duration::from_millis(500);

    for k in 1..=3 {
        let before = pids(&t, 4);
        restart(&t, &load, &mut windows, format!("restart {k}"));
        let after = pids(&t, 4);
        assert!(
            after.iter().zip(&before).all(|(a, b)| a != b && *a > 0),
            "restart {k}: {before:?} -> {after:?}"
        );
        std::thread::sleep(gap);
    }

    // A reload that changed web (its env): each instance replaced.
    let replaced = count(&t, "replaced");
    let listening = t.count("| listening");
    std::fs::write(t.dir.join("init.toml"), config(server, port, 4, 2)).unwrap();
    let from = load.now();
    let out = t.ctl(&["reload"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    wait_count(&t, "replaced", replaced + 4);
    t.wait_for("| listening", listening + 4, T);
    windows.push(Window {
        name: "reload (env changed)".into(),
        from,
        to: load.now(),
    });
    let answer = get(port, "/").expect("after the reload");
    assert!(answer.trim_end().ends_with(" 2"), "{answer}");
    std::thread::sleep(gap);

    // One instance over max_memory: replaced as well.
    let replaced = count(&t, "replaced");
    let from = load.now();
    let grown = get(port, "/grow").expect("GET /grow");
    let instance = grown.split_whitespace().next().unwrap_or("").to_string();
    t.wait_event(&instance, "memory_limit", 1, T);
    wait_count(&t, "replaced", replaced + 1);
    windows.push(Window {
        name: format!("memory limit ({instance})"),
        from,
        to: load.now(),
    });
    std::thread::sleep(gap);

    // One instance SIGKILLed: the others serve while it starts again.
    let started = t.events("web.2", "started").len();
    let listening = t.count("| listening");
    let victim = host_pid(&t, pids(&t, 4)[2]);
    let from = load.now();
    kill_when_idle(victim);
    t.wait_event("web.2", "started", started + 1, T);
    t.wait_for("| listening", listening + 1, T);
    windows.push(Window {
        name: "SIGKILL (web.2)".into(),
        from,
        to: load.now(),
    });
    std::thread::sleep(gap);

    let samples = load.finish();
    if std::env::var_os("ZDT_LOG").is_some() {
        eprintln!("{}", t.log());
    }
    assert_none_failed(label, &samples, &windows, &t);
    assert!(samples.len() > 1000, "only {} requests", samples.len());
}

#[test]
fn node_four_instances_lose_no_request_on_restart_reload_memory_limit_and_kill() {
    require_namespaces!();
    require_tool!("node", "--version");
    four_instances_under_load("node", &node());
}

#[test]
fn python_four_instances_lose_no_request_on_restart_reload_memory_limit_and_kill() {
    require_namespaces!();
    require_tool!("python3", "-V");
    four_instances_under_load("python", &python());
}

#[test]
fn a_single_node_instance_loses_no_request_on_restart() {
    require_namespaces!();
    require_tool!("node", "--version");
    let _serial = serial();
    let port = free_port();
    let (t, load) = start("node-single", &node(), port, 1);
    let mut windows = Vec::new();
    for k in 1..=3 {
        let before = pids(&t, 1);
        restart(&t, &load, &mut windows, format!("restart {k}"));
        assert_ne!(pids(&t, 1), before, "restart {k}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let samples = load.finish();
    assert_none_failed("node, 1 instance", &samples, &windows, &t);
}
