"""The scenarios of issue 6. Each one records rows (one per init, case and
run) in bench.results[scenario]; report.py turns them into tables."""

import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time

from . import cgmem, flood, zdt
from . import harness as h
from .harness import MONO, UNSHARE, BenchError, Namespace
from .peers import PEERS, Opts, by_name

FULL = dict(
    runs=3,  # runs per scenario and init
    signal_runs=5,
    startup_launches=100,  # launches per run, per init, interleaved
    idle_window=10.0,  # seconds
    # (N apps of each init started side by side and left idle, runs)
    idle_groups=[([1, 100], 3), ([500, 1000], 1)],
    scale=[100, 500, 1000],
    orphans=5000,
    orphans_wait=5.0,  # seconds to wait for the last zombies to go
    restart_window=2.5,
    shutdown_apps=100,
    pm2_default_interval=True,  # one run with PM2's default 30 s memory check
    flood_bytes=1 << 30,  # scenario 11: bytes the app writes through each logger
    flood_rotate=16 << 20,  # rotation size: about 85 files of 16 MiB
    flood_runs=1,
    # scenario 12: workers of the cluster rows, requests/s, load threads,
    # seconds of load before the reload, the window from the reload on,
    # and after it
    zdt_workers=[2, 4],
    zdt_rate=500,
    zdt_threads=8,
    zdt_before=2.0,
    zdt_window=4.0,
    zdt_after=0.5,
    zdt_runs=3,
    cgmem_samples=20,  # scenario 13: samples per mode, in one VM boot
)
QUICK = dict(
    runs=1,
    signal_runs=1,
    startup_launches=10,
    idle_window=3.0,
    idle_groups=[([1, 100], 1)],
    scale=[100],
    orphans=5000,
    orphans_wait=2.0,
    restart_window=1.5,
    shutdown_apps=20,
    pm2_default_interval=False,
    flood_bytes=32_000_000,
    flood_rotate=1 << 20,  # still about 40 files
    flood_runs=1,
    zdt_workers=[4],
    zdt_rate=500,
    zdt_threads=8,
    zdt_before=1.0,
    zdt_window=3.0,
    zdt_after=0.3,
    zdt_runs=1,
    cgmem_samples=5,
)


class Bench:
    def __init__(self, quick, work, app, peers, flood_app=None):
        self.quick = quick
        self.p = QUICK if quick else FULL
        self.work = work
        self.app = app  # the benchapp binary
        self.flood_app = flood_app  # the floodapp binary (scenario 11)
        self.flood = None  # scenario 11's parameters, once it ran
        self.peers = peers  # available peers
        self.results = {}
        self.notes = {}
        self.errors = []
        self.t0 = time.monotonic()
        self.seq = 0
        self.durations = {}

    # --- helpers ---------------------------------------------------------------

    def log(self, msg):
        print(f"[{time.monotonic() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    def dir(self, tag):
        self.seq += 1
        d = os.path.join(self.work, f"{self.seq:04d}-{tag}".replace(" ", "_").replace("/", "_"))
        os.makedirs(d)
        return d

    def row(self, sc, **kw):
        self.results.setdefault(sc, []).append(kw)

    def note(self, sc, msg):
        n = self.notes.setdefault(sc, [])
        if msg not in n:
            n.append(msg)

    def fail(self, sc, peer, case, e):
        msg = f"{peer} ({case}): {e}"
        self.log(f"  ERROR {msg}")
        self.note(sc, f"error: {msg}")
        self.errors.append((sc, peer, msg))
        self.row(sc, peer=peer, case=case, error=str(e))

    def ns(self, label, argv_env, d):
        argv, env = argv_env
        return Namespace(label, argv, env=env, cwd=d, logpath=os.path.join(d, "init.log")).start()

    def nruns(self, peer, slow=("supervisord", "PM2")):
        """Runs for peer: one for the slow ones where a run takes them 10-30 s
        (marked by the runs column of the tables), else the mode's count."""
        return 1 if peer.name in slow else self.p["runs"]

    def apps(self, n, argv):
        return [(f"a{i}", argv) for i in range(n)]

    def spec(self, peer, n, argv, opts, d):
        """argv/env to run n copies of argv under peer, or None."""
        if peer.kind == "wrapper":
            if n != 1:
                return None
            if opts == Opts():
                return peer.wrap(argv, d)
        return peer.supervise(self.apps(n, argv), opts, d)

    # --- 1. size ------------------------------------------------------------------

    def s1_size(self):
        for peer in self.peers:
            for label, size, note in peer.sizes():
                self.row(1, peer=peer.name, label=label, bytes=size, note=note)

    # --- 2. start-up --------------------------------------------------------------

    def _spawn_wait(self, argv, env, timeout=10.0):
        t = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, env)
        fd = os.pidfd_open(pid)
        try:
            r, _, _ = select.select([fd], [], [], timeout)
            if not r:
                os.kill(pid, signal.SIGKILL)  # our own child: unshare
                os.waitpid(pid, 0)
                raise BenchError(f"{argv} did not exit within {timeout}s")
            _, status = os.waitpid(pid, 0)
            dt = time.perf_counter_ns() - t
        finally:
            os.close(fd)
        return dt, os.waitstatus_to_exitcode(status)

    def s2_startup(self):
        true = "/bin/true"
        configs = [("/bin/true, no namespace", [true], dict(os.environ))]
        configs.append(("bare", [UNSHARE, "--pid", "--fork", "--mount-proc", true], dict(os.environ)))
        for peer in self.peers:
            spec = peer.wrap([true], self.work)
            if spec is None:
                continue
            argv, env = spec
            configs.append((peer.name, [UNSHARE, "--pid", "--fork", "--mount-proc", *argv], env or dict(os.environ)))
        n = self.p["startup_launches"]
        for run in range(self.p["runs"]):
            times = {c[0]: [] for c in configs}
            bad = {}
            for k in range(n):
                order = configs[k % len(configs) :] + configs[: k % len(configs)]
                for name, argv, env in order:
                    if name in bad:
                        continue
                    try:
                        dt, rc = self._spawn_wait(argv, env)
                    except (BenchError, OSError) as e:
                        bad[name] = str(e)
                        continue
                    if rc != 0:
                        bad[name] = f"exit code {rc}"
                    times[name].append(dt)
            for name, _, _ in configs:
                if name in bad:
                    self.fail(2, name, "startup", bad[name])
                elif times[name]:
                    self.row(2, peer=name, case="startup", run=run, wall_ms=statistics.median(times[name]) / 1e6)
        self._perf_stat(configs)
        # peak RSS of the init: VmHWM of PID 1 read by its child
        for peer in self.peers:
            if peer.wrap([true], self.work) is None:
                continue
            for run in range(self.p["runs"]):
                d = self.dir(f"s2-hwm-{peer.name}")
                out = os.path.join(d, "hwm.json")
                argv, env = peer.wrap([self.app, "hwm", out], d)
                try:
                    subprocess.run(
                        [UNSHARE, "--pid", "--fork", "--mount-proc", *argv],
                        env=env,
                        timeout=10,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    with open(out) as f:
                        r = json.load(f)
                    self.row(2, peer=peer.name, case="hwm", run=run, hwm_kib=r["hwm_kib"])
                except (OSError, ValueError, subprocess.TimeoutExpired) as e:
                    self.fail(2, peer.name, "hwm", e)

    def _perf_stat(self, configs):
        """CPU time and page faults per launch (all processes of the launch),
        from `perf stat -r`, when perf works here: where start-up time goes."""
        perf = shutil.which("perf")
        if not perf:
            self.note(2, "perf not found: no CPU/page-fault breakdown")
            return
        reps = "10" if self.quick else "50"
        for name, argv, env in configs[1:]:
            try:
                r = subprocess.run(
                    [perf, "stat", "-x,", "-e", "task-clock,page-faults", "-r", reps, "--", *argv],
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
            except (OSError, subprocess.TimeoutExpired) as e:
                self.note(2, f"perf stat failed for {name}: {e}")
                continue
            vals = {}
            for line in r.stderr.splitlines():
                f = line.split(",")
                if len(f) > 3 and f[2] in ("task-clock", "page-faults"):
                    try:
                        vals[f[2]] = float(f[0])
                    except ValueError:
                        pass
            if len(vals) == 2:
                self.row(2, peer=name, case="perf", cpu_ms=vals["task-clock"], faults=vals["page-faults"])
            else:
                self.note(2, f"perf stat gave no counts for {name}")

    # --- 3 and 8: launch N apps, memory ----------------------------------------------

    def launches(self, ns_list):
        for n in ns_list:
            for peer in self.peers:
                for run in range(self.nruns(peer) if n >= 500 else self.p["runs"]):
                    d = self.dir(f"launch-{n}-{peer.name}")
                    logp = os.path.join(d, "apps.log")
                    spec = self.spec(peer, n, [self.app, "idle", logp], Opts(), d)
                    if spec is None:
                        break
                    self.log(f"launch: {peer.name}, {n} apps, run {run + 1}")
                    ns = None
                    try:
                        ns = self.ns(f"{peer.name} {n} apps", spec, d)
                        lines = h.wait_log(logp, h.at_least("S", n), timeout=60 + n * 0.12, ns=ns)
                        last = max(v[0] for t, v in lines if t == "S")
                        time.sleep(peer.settle)
                        s = h.sample_ns(ns, memory=True)
                        init = s["init"] or {}
                        r = dict(
                            peer=peer.name,
                            case=f"{n} apps",
                            n=n,
                            run=run,
                            launch_s=(last - ns.t_launch_ns) / 1e9,
                            init_rss_kib=init.get("rss_kib"),
                            init_hwm_kib=init.get("hwm_kib"),
                            init_rss_file_kib=init.get("rss_file_kib"),
                            init_rss_anon_kib=init.get("rss_anon_kib"),
                            pss_kib=sum(p["pss_kib"] for p in s["procs"].values()),
                            rss_kib=sum(p["rss_kib"] for p in s["procs"].values()),
                            procs=len(s["procs"]),
                            apps=s["apps"],
                        )
                        if peer.name == "tend -c":
                            r["status_running"] = self._tend_running(spec[1])
                        self.row(38, **r)
                    except BenchError as e:
                        self.fail(38, peer.name, f"{n} apps", e)
                    finally:
                        if ns:
                            ns.stop()

    def _tend_running(self, env):
        """How many apps `tend status --json` reports running (a cross-check)."""
        try:
            out = subprocess.run(
                [by_name("tend -c").needs[0], "status", "--json"],
                env=env,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            data = json.loads(out)
            apps = data.get("apps", data) if isinstance(data, dict) else data
            return sum(1 for a in apps if str(a.get("state", "")).startswith("running"))
        except (OSError, ValueError, subprocess.TimeoutExpired, AttributeError):
            return None

    # --- 4 and 8: idle -----------------------------------------------------------

    def idle(self):
        for group, runs in self.p["idle_groups"]:
            for run in range(runs):
                self._idle_group(group, run)

    def _idle_group(self, group, run):
        cfgs = []
        for n in group:
            for limit in (False, True):
                for peer in self.peers:
                    d = self.dir(f"idle-{n}-{peer.name}-{int(limit)}")
                    logp = os.path.join(d, "apps.log")
                    opts = Opts(max_memory_mib=256 if limit else None)
                    spec = self.spec(peer, n, [self.app, "idle", logp], opts, d)
                    if spec is None:
                        continue
                    cfgs.append(dict(peer=peer, n=n, limit=limit, d=d, log=logp, spec=spec, ns=None))
        self.log(f"idle: {len(cfgs)} inits side by side ({', '.join(map(str, group))} apps), run {run + 1}")
        try:
            for c in cfgs:
                try:
                    c["ns"] = self.ns(f"{c['peer'].name} {c['n']} apps", c["spec"], c["d"])
                except BenchError as e:
                    c["err"] = e
            deadline = time.monotonic() + 240
            for c in cfgs:
                if c["ns"] is None:
                    continue
                try:
                    h.wait_log(c["log"], h.at_least("S", c["n"]), max(1.0, deadline - time.monotonic()), ns=c["ns"])
                except BenchError as e:
                    c["err"] = e
            time.sleep(2.0)  # let every init settle (PM2 keeps busy a while)
            live = [c for c in cfgs if c["ns"] is not None and "err" not in c]
            by = h.pids_by_ns([c["ns"].nsid for c in live])
            s0 = {id(c): h.sample_ns(c["ns"], by[c["ns"].nsid]) for c in live}
            time.sleep(self.p["idle_window"])
            by = h.pids_by_ns([c["ns"].nsid for c in live])
            s1 = {id(c): h.sample_ns(c["ns"], by[c["ns"].nsid]) for c in live}
            for c in cfgs:
                case = f"{c['n']} apps" + (", limit" if c["limit"] else "")
                if "err" in c:
                    self.fail(48, c["peer"].name, case, c["err"])
                    continue
                a, b = s0[id(c)], s1[id(c)]
                secs = (b["t_ns"] - a["t_ns"]) / 1e9
                cpu_ns = h.delta(a, b, "cpu_ns")
                self.row(
                    48,
                    peer=c["peer"].name,
                    case=case,
                    n=c["n"],
                    limit=c["limit"],
                    run=run,
                    window_s=secs,
                    ctx_per_10s=h.delta(a, b, "ctxsw") * 10 / secs,
                    wake_per_10s=h.delta(a, b, "vcsw") * 10 / secs,
                    cpu_ms_per_10s=cpu_ns / 1e6 * 10 / secs,
                    ticks_per_10s=h.delta(a, b, "ticks") * 10 / secs,
                    cpu_ms_per_sample=(cpu_ns / 1e6 / secs) if c["limit"] else None,  # 1 s poll
                    procs=len(b["procs"]),
                    apps=b["apps"],
                )
        finally:
            for c in cfgs:
                if c["ns"] is not None:
                    c["ns"].stop()

    # --- 5. reaping ------------------------------------------------------------------

    def s5_reaping(self):
        n = self.p["orphans"]
        for peer in self.peers:
            for run in range(self.nruns(peer)):
                d = self.dir(f"s5-{peer.name}")
                out = os.path.join(d, "orphans.json")
                ms = str(int(self.p["orphans_wait"] * 1000))
                if peer.kind == "wrapper":
                    spec = peer.wrap([self.app, "orphans", str(n), out, "exit", ms], d)
                else:
                    spec = peer.supervise([("a0", [self.app, "orphans", str(n), out, "stay", ms])], Opts(), d)
                if spec is None:
                    break
                self.log(f"reaping: {peer.name}, run {run + 1}")
                ns = None
                try:
                    ns = self.ns(f"{peer.name} orphans", spec, d)
                    deadline = time.monotonic() + 60
                    r = None
                    while r is None:
                        try:
                            with open(out) as f:
                                r = json.loads(f.read())
                        except (OSError, ValueError):
                            if time.monotonic() > deadline:
                                raise BenchError("no result within 60s")
                            time.sleep(0.01)
                    self.row(
                        5,
                        peer=peer.name,
                        case="orphans",
                        run=run,
                        n=r["n"],
                        exited=r["exited"],
                        zombies_left=r["zombies_left"],
                        cleared=bool(r["clear_ns"]),
                        clear_ms=(r["clear_ns"] - r["last_exit_ns"]) / 1e6 if r["clear_ns"] else None,
                        total_s=(r["clear_ns"] - r["t0_ns"]) / 1e9 if r["clear_ns"] else None,
                    )
                except BenchError as e:
                    self.fail(5, peer.name, "orphans", e)
                finally:
                    if ns:
                        ns.stop()

    # --- 6. SIGTERM to the init --------------------------------------------------

    def s6_signal(self):
        for peer in self.peers:
            for run in range(self.p["signal_runs"]):
                d = self.dir(f"s6-{peer.name}")
                logp = os.path.join(d, "apps.log")
                spec = self.spec(peer, 1, [self.app, "termexit", "3", logp], Opts(), d)
                if spec is None:
                    break
                self.log(f"signal: {peer.name}, run {run + 1}")
                ns = None
                try:
                    ns = self.ns(f"{peer.name} sigterm", spec, d)
                    h.wait_log(logp, h.at_least("S", 1), 30, ns=ns)
                    time.sleep(peer.settle)
                    t0 = MONO()
                    ns.send(signal.SIGTERM)
                    t1 = ns.wait_exit(60)
                    if t1 is None:
                        raise BenchError("init still running 60s after SIGTERM")
                    rc = ns.returncode()
                    lines = h.read_log(logp)
                    self.row(
                        6,
                        peer=peer.name,
                        case="sigterm",
                        run=run,
                        latency_ms=(t1 - t0) / 1e6,
                        exit_code=rc,
                        graceful=any(t == "T" for t, _ in lines),
                    )
                except BenchError as e:
                    self.fail(6, peer.name, "sigterm", e)
                finally:
                    if ns:
                        ns.stop()

    # --- 7. restart latency ------------------------------------------------------

    def s7_restart(self):
        w = self.p["restart_window"]
        for peer in self.peers:
            for run in range(self.p["runs"]):
                d = self.dir(f"s7-{peer.name}")
                logp = os.path.join(d, "apps.log")
                spec = peer.supervise([("a0", [self.app, "exit1", logp])], Opts(restart_min=True), d)
                if spec is None:
                    break
                self.log(f"restart: {peer.name}, run {run + 1}")
                ns = None
                try:
                    ns = self.ns(f"{peer.name} restart", spec, d)
                    h.wait_log(logp, h.at_least("R", 1), 30, ns=ns)
                    time.sleep(w)
                    ns.stop()
                    runs = sorted(v for t, v in h.read_log(logp) if t == "R")
                    gaps = [(runs[i + 1][0] - runs[i][1]) / 1e6 for i in range(len(runs) - 1)]
                    span = (runs[-1][0] - runs[0][0]) / 1e9 if len(runs) > 1 else None
                    self.row(
                        7,
                        peer=peer.name,
                        case="restart",
                        run=run,
                        starts=len(runs),
                        per_s=(len(runs) - 1) / span if span else 0.0,
                        gap_ms=statistics.median(gaps) if gaps else None,
                        gap_p90_ms=sorted(gaps)[int(len(gaps) * 0.9)] if gaps else None,
                    )
                except BenchError as e:
                    self.fail(7, peer.name, "restart", e)
                finally:
                    if ns:
                        ns.stop()

    # --- 9. memory limit -------------------------------------------------------------

    def s9_memory(self):
        cases = [(p, Opts(max_memory_mib=256), "1 s poll", self.p["runs"], 10) for p in self.peers if p.name.startswith("tend")]
        pm2 = [p for p in self.peers if p.name == "PM2"]
        if pm2:
            cases.append((pm2[0], Opts(max_memory_mib=256, pm2_interval_ms=1000), "1 s interval", self.p["runs"], 10))
            if self.p["pm2_default_interval"]:
                cases.append((pm2[0], Opts(max_memory_mib=256), "default 30 s interval", 1, 45))
        for peer, opts, case, runs, wait in cases:
            for run in range(runs):
                d = self.dir(f"s9-{peer.name}")
                logp = os.path.join(d, "apps.log")
                spec = peer.supervise([("a0", [self.app, "grow", "256", logp])], opts, d)
                if spec is None:
                    break
                self.log(f"memory limit: {peer.name} ({case}), run {run + 1}")
                ns = None
                try:
                    ns = self.ns(f"{peer.name} memory", spec, d)
                    lines = h.wait_log(logp, h.at_least("X", 1), 30, ns=ns)
                    x = [v for t, v in lines if t == "X"][0]
                    lines = h.wait_log(logp, h.at_least("S", 2), wait, ns=ns)
                    s2 = sorted(v[0] for t, v in lines if t == "S")[1]
                    graceful = any(t == "T" and v[1] == x[1] for t, v in lines)
                    self.row(9, peer=peer.name, case=case, run=run, reaction_ms=(s2 - x[0]) / 1e6, graceful=graceful)
                except BenchError as e:
                    self.fail(9, peer.name, case, e)
                finally:
                    if ns:
                        ns.stop()

    # --- 10. shutdown ------------------------------------------------------------------

    def s10_shutdown(self):
        n = self.p["shutdown_apps"]
        for peer in self.peers:
            if peer.kind != "supervisor":
                continue
            for run in range(self.nruns(peer, slow=("supervisord",))):
                d = self.dir(f"s10-{peer.name}")
                logp = os.path.join(d, "apps.log")
                spec = peer.supervise(self.apps(n, [self.app, "termdelay", "200", logp]), Opts(), d)
                if spec is None:
                    break
                self.log(f"shutdown: {peer.name}, {n} apps, run {run + 1}")
                ns = None
                try:
                    ns = self.ns(f"{peer.name} shutdown", spec, d)
                    h.wait_log(logp, h.at_least("S", n), 60, ns=ns)
                    time.sleep(peer.settle)
                    t0 = MONO()
                    ns.send(signal.SIGTERM)
                    t1 = ns.wait_exit(90)
                    if t1 is None:
                        raise BenchError("init still running 90s after SIGTERM")
                    rc = ns.returncode()
                    lines = h.read_log(logp)
                    self.row(
                        10,
                        peer=peer.name,
                        case=f"{n} apps",
                        run=run,
                        total_ms=(t1 - t0) / 1e6,
                        graceful=sum(1 for t, _ in lines if t == "T"),
                        n=n,
                        exit_code=rc,
                    )
                except BenchError as e:
                    self.fail(10, peer.name, f"{n} apps", e)
                finally:
                    if ns:
                        ns.stop()

    # --- all ---------------------------------------------------------------------------

    def run(self, only):
        steps = [
            ("1", "size", self.s1_size),
            ("2", "start-up", self.s2_startup),
            ("3,8", "launch and memory", lambda: self.launches(self._launch_ns(only))),
            ("4,8", "idle", self.idle),
            ("5", "reaping", self.s5_reaping),
            ("6", "signal", self.s6_signal),
            ("7", "restart", self.s7_restart),
            ("9", "memory limit", self.s9_memory),
            ("10", "shutdown", self.s10_shutdown),
            ("11", "log flood", lambda: flood.run(self)),
            ("12", "zero downtime", lambda: zdt.run(self)),
            ("13", "memory-limit reaction, cgroup vs /proc", lambda: cgmem.run(self)),
        ]
        for ids, name, fn in steps:
            if only and not (set(ids.split(",")) & only):
                continue
            t = time.monotonic()
            self.log(f"== {name} (scenario {ids})")
            fn()
            self.durations[name] = time.monotonic() - t

    def _launch_ns(self, only):
        ns = []
        if not only or "3" in only:
            ns += [1, 100]
        if not only or "8" in only:
            ns += self.p["scale"]
        return sorted(set(ns))
