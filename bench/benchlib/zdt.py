"""Scenario 12, restarts without downtime (issue 14): the same Node http
server (bench/webapp.js) as N workers in PM2's cluster mode, reloaded with
`pm2 reload`, and as N instances under tend sharing one `listen` socket,
restarted with `tend restart`; and as one process: PM2's fork mode with
`pm2 restart`, tend with `listen` and `tend restart`. A steady load
(benchlib/load.py: a new connection per request, open loop) runs before,
during and after the reload; the harness counts the failed requests and
takes the latency percentiles in a fixed window from the command on.

- PM2: `pm2 start webapp.js -i N` (cluster: the workers' `listen(PORT)`
  goes through the cluster primary, PM2's daemon, which accepts and hands
  the connections round-robin to the workers) or `pm2 start webapp.js`
  (fork: the process binds PORT itself), PM2_HOME in a fresh directory,
  the daemon in a PID namespace of its own. `pm2 reload` starts each
  worker's successor, waits until it listens, then stops the old one
  (SIGINT, SIGKILL after kill_timeout, 1.6 s); `pm2 restart` stops, then
  starts.
- tend: `listen = ["tcp://127.0.0.1:PORT"]`, `instances = N`; each instance
  takes fd 3. `tend restart web` replaces one instance at a time: a new
  process first, the old one stopped (SIGTERM) once the new one is up.
  Without `notify` it is up once it runs; with `notify = true` (the
  "tend, notify" rows) once it has said READY=1, right after it listens.
"""

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time

from . import harness as h
from .harness import MONO, BenchError, Namespace
from .peers import by_name

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(HERE, "webapp.js")
LOAD = os.path.join(HERE, "benchlib", "load.py")
NOTIFY_PY = (
    "import os,socket;a=os.environ['NOTIFY_SOCKET'];"
    "socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM).sendto(b'READY=1','\\0'+a[1:] if a[0]=='@' else a)"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready_cmd():
    """How webapp.js says READY=1: systemd-notify where installed, else Python."""
    sn = shutil.which("systemd-notify")
    return [sn, "--ready"] if sn else [sys.executable, "-c", NOTIFY_PY]


def _listening(path):
    try:
        with open(path) as f:
            return sum(1 for line in f if line.startswith("listening "))
    except OSError:
        return 0


def _wait_listening(path, n, ns, timeout):
    deadline = time.monotonic() + timeout
    while _listening(path) < n:
        if ns.wait_exit(0.01) is not None:
            raise BenchError(f"{ns.label} ended: {h._tail(ns.logpath)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{_listening(path)} of {n} processes listening after {timeout:.0f} s: {h._tail(ns.logpath)}")


def _pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals), max(1, -(-len(sorted_vals) * p // 100)))
    return sorted_vals[int(k) - 1]


# --- the supervisors --------------------------------------------------------------


class Tend:
    def __init__(self, notify):
        self.notify = notify
        self.name = "tend, notify" if notify else "tend"

    def available(self, b):
        return "tend -c" in {p.name for p in b.peers}

    def how(self, n):
        k = f"`listen`, `instances = {n}`" if n > 1 else "`listen`, 1 instance"
        return k + (", `notify = true`" if self.notify else "") + "; `tend restart web`"

    def start(self, b, n, port, d, log):
        tend = by_name("tend -c").needs[0]
        conf = os.path.join(d, "init.toml")
        with open(conf, "w") as f:
            f.write(
                "[app.web]\n"
                f"command = {json.dumps([shutil.which('node'), APP])}\n"
                f'listen = ["tcp://127.0.0.1:{port}"]\n'
                f"instances = {n}\n"
                + ("notify = true\n" if self.notify else "")
                + f"env = {{ LISTEN_LOG = {json.dumps(log)}, READY_CMD = {json.dumps(json.dumps(ready_cmd()))} }}\n"
            )
        self.env = dict(os.environ, TEND_SOCKET=os.path.join(d, "tend.sock"))
        self.tend = tend
        return Namespace(f"{self.name} {n}", [tend, "-c", conf], env=self.env, cwd=d, logpath=os.path.join(d, "init.log")).start()

    def reload(self, ns, d, timeout):
        r = subprocess.run(
            [self.tend, "restart", "web"], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if r.returncode != 0:
            raise BenchError(f"tend restart web exited with {r.returncode}: {r.stdout}{r.stderr}")


class PM2:
    def __init__(self, cluster):
        self.cluster = cluster
        self.name = "PM2"

    def available(self, b):
        return "PM2" in {p.name for p in b.peers} and shutil.which("pm2") and shutil.which("node")

    def how(self, n):
        return f"cluster mode, `-i {n}`; `pm2 reload web`" if self.cluster else "fork mode; `pm2 restart web`"

    def start(self, b, n, port, d, log):
        pm2 = shutil.which("pm2")
        start = [pm2, "start", APP, "--name", "web"]
        if self.cluster:
            start += ["-i", str(n)]
        verb = "reload" if self.cluster else "restart"
        self.go, self.done = os.path.join(d, "go"), os.path.join(d, "done")
        q = shlex.quote
        # PID 1 of the namespace: start the daemon and the app, wait for the
        # go, reload, say so with pm2's exit status, then stay (the daemon
        # lives in this namespace).
        script = (
            f"{q(pm2)} ping >/dev/null || exit 1\n"
            f"{shlex.join(start)} >/dev/null || exit 1\n"
            f"while [ ! -e {q(self.go)} ]; do sleep 0.005; done\n"
            f"{q(pm2)} {verb} web >/dev/null; echo $? > {q(self.done)}.tmp; mv {q(self.done)}.tmp {q(self.done)}\n"
            "exec sleep 100000\n"
        )
        env = dict(os.environ, PM2_HOME=os.path.join(d, "pm2home"), HOME=d, PORT=str(port), LISTEN_LOG=log)
        return Namespace(f"PM2 {n}", ["/bin/sh", "-c", script], env=env, cwd=d, logpath=os.path.join(d, "init.log")).start()

    def reload(self, ns, d, timeout):
        with open(self.go, "w"):
            pass
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.done):
            if ns.wait_exit(0.002) is not None:
                raise BenchError(f"the namespace ended: {h._tail(ns.logpath)}")
            if time.monotonic() > deadline:
                raise BenchError(f"pm2 not done after {timeout:.0f} s")
        with open(self.done) as f:
            rc = f.read().strip()
        if rc != "0":
            raise BenchError(f"pm2 exited with {rc}: {h._tail(ns.logpath)}")


# --- the scenario -------------------------------------------------------------------


def _measure(b, sup, n, run):
    p = b.p
    d = b.dir(f"s12-{sup.name}-{n}")
    log = os.path.join(d, "listening.log")
    port = free_port()
    ns = load = None
    samples_path = os.path.join(d, "samples.json")
    try:
        ns = sup.start(b, n, port, d, log)
        _wait_listening(log, n, ns, 60)
        time.sleep(0.3)  # PM2's daemon marks the workers online after they listen
        with open(os.path.join(d, "load.log"), "wb") as load_log:
            load = subprocess.Popen(
                [sys.executable, LOAD, str(port), str(p["zdt_rate"]), str(p["zdt_threads"]), samples_path, "300"],
                stdin=subprocess.DEVNULL,
                stdout=load_log,
                stderr=load_log,
            )
        time.sleep(p["zdt_before"])
        before = _listening(log)
        t0 = MONO()
        sup.reload(ns, d, 60)
        t1 = MONO()
        # The window: fixed from the command on, longer only when the
        # command itself took longer.
        w_end = max(t0 + int(p["zdt_window"] * 1e9), t1 + 200_000_000)
        time.sleep(max(0.0, (w_end - MONO()) / 1e9) + p["zdt_after"])
        load.send_signal(signal.SIGTERM)
        load.wait(timeout=30)
        if load.returncode != 0:
            raise BenchError(f"the load generator exited with {load.returncode}: {h._tail(os.path.join(d, 'load.log'))}")
        with open(samples_path) as f:
            samples = json.load(f)
        after = _listening(log)
        if after < before + n:
            raise BenchError(f"only {after - before} of {n} processes were started anew")
    finally:
        if load is not None and load.poll() is None:
            load.kill()  # our own child
            load.wait(timeout=10)
        if ns is not None:
            ns.stop()
    lat = lambda rows: sorted((done - sched) / 1e6 for sched, done, err in rows if err is None)  # noqa: E731
    base = [s for s in samples if s[0] < t0]
    win = [s for s in samples if t0 <= s[0] < w_end]
    failed = [s for s in samples if s[2] is not None]
    kinds = {}
    for s in failed:
        kinds[s[2]] = kinds.get(s[2], 0) + 1
    wl, bl = lat(win), lat(base)
    return dict(
        peer=sup.name,
        case=f"{n} workers" if n > 1 else "1 process",
        n=n,
        run=run,
        how=sup.how(n),
        command_ms=(t1 - t0) / 1e6,
        window_s=(w_end - t0) / 1e9,
        requests=len(samples),
        failed=len(failed),
        kinds=kinds,
        window_requests=len(win),
        window_failed=sum(1 for s in win if s[2] is not None),
        p50_ms=_pct(wl, 50),
        p99_ms=_pct(wl, 99),
        max_ms=wl[-1] if wl else None,
        base_p50_ms=_pct(bl, 50),
        base_p99_ms=_pct(bl, 99),
        # per kind of failure: how many, and when the first and the last of
        # them were scheduled (ms from the command's start)
        failed_when={
            k: [v, min(round((s[0] - t0) / 1e6) for s in failed if s[2] == k),
                max(round((s[0] - t0) / 1e6) for s in failed if s[2] == k)]
            for k, v in kinds.items()
        },
    )


def run(b):
    """Scenario 12 for tend and PM2, where installed."""
    if not shutil.which("node"):
        b.note(12, "not run: node is not installed (the app is a Node server)")
        return
    cases = [(n, True) for n in b.p["zdt_workers"]] + [(1, False)]
    sups = []
    for n, cluster in cases:
        for sup in (PM2(cluster), Tend(False), Tend(True)):
            if sup.available(b):
                sups.append((n, sup))
            elif sup.name == "PM2":
                b.note(12, "PM2: not run (not installed, or not selected)")
    for run_i in range(b.p["zdt_runs"]):
        for n, sup in sups:
            b.log(f"zero downtime: {sup.name}, {n} process{'es' if n > 1 else ''}, run {run_i + 1}")
            try:
                r = _measure(b, sup, n, run_i)
                b.log(
                    f"  {r['command_ms']:.0f} ms; {r['failed']} of {r['requests']} failed {r['kinds'] or ''}; "
                    f"window p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, max {r['max_ms']:.0f} ms"
                )
                b.row(12, **r)
            except (BenchError, OSError, ValueError, subprocess.SubprocessError) as e:
                b.fail(12, sup.name, f"{n}", e)
