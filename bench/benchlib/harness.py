"""Running an init as PID 1 of its own PID namespace, and reading /proc.

Every init runs as `unshare --pid --fork --mount-proc INIT ...`. The harness
holds a pidfd of the init (the child of unshare), so it can signal it and
see it exit without racing pid reuse, and it kills only what it started:
SIGKILL to the init of a namespace kills every process of that namespace.
"""

import os
import select
import shutil
import signal
import subprocess
import time

MONO = time.monotonic_ns  # CLOCK_MONOTONIC, the clock benchapp logs with
UNSHARE = shutil.which("unshare") or "/usr/bin/unshare"
APP_COMM = "benchapp"

# Every namespace started and not yet stopped: cleaned up on any exit.
LIVE = []


class BenchError(Exception):
    pass


def _tail(path, n=600):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - n))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


class Namespace:
    """One init as PID 1 of a new PID namespace."""

    def __init__(self, label, argv, env=None, cwd=None, logpath=None):
        self.label = label
        self.argv = list(argv)
        self.env = env
        self.cwd = cwd
        self.logpath = logpath or os.devnull
        self.proc = None
        self.pid = None
        self.pidfd = None
        self.nsid = None
        self.t_launch_ns = None
        self.exit_ns = None

    def start(self, timeout=15.0):
        logf = open(self.logpath, "ab")
        try:
            self.t_launch_ns = MONO()
            self.proc = subprocess.Popen(
                [UNSHARE, "--pid", "--fork", "--mount-proc", *self.argv],
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            logf.close()
        LIVE.append(self)
        u = self.proc.pid
        unshare_exe = os.path.realpath(UNSHARE)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(f"/proc/{u}/task/{u}/children") as f:
                    kids = f.read().split()
            except OSError:
                kids = []
            if kids:
                pid = int(kids[0])
                try:
                    exe = os.readlink(f"/proc/{pid}/exe")
                except OSError:
                    exe = None
                if exe and exe != unshare_exe:
                    try:
                        self.pidfd = os.pidfd_open(pid)
                        self.nsid = os.readlink(f"/proc/{pid}/ns/pid")
                    except OSError as e:
                        raise BenchError(f"{self.label}: init gone at start ({e}): {_tail(self.logpath)}")
                    self.pid = pid
                    return self
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.label}: exited with {self.proc.returncode} at start: {_tail(self.logpath)}"
                )
            if time.monotonic() > deadline:
                raise BenchError(f"{self.label}: init not started after {timeout}s")
            time.sleep(0.0002)

    def send(self, sig):
        signal.pidfd_send_signal(self.pidfd, sig)

    def wait_exit(self, timeout):
        """MONO() when the init exited (pidfd readable), None on timeout."""
        if self.exit_ns is not None:
            return self.exit_ns
        r, _, _ = select.select([self.pidfd], [], [], timeout)
        if r:
            self.exit_ns = MONO()
        return self.exit_ns

    def returncode(self, timeout=10.0):
        """unshare's exit status (the init's), 128+N for a signal."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return 128 - rc if rc < 0 else rc

    def stop(self):
        """Kill the namespace (SIGKILL to its init) and reap unshare."""
        try:
            if self.pidfd is not None and self.wait_exit(0) is None:
                try:
                    self.send(signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait_exit(10)
            if self.proc is not None and self.proc.poll() is None:
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()  # unshare itself: we started it
                    self.proc.wait(timeout=5)
        finally:
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None
            if self in LIVE:
                LIVE.remove(self)


def stop_all():
    for ns in list(LIVE):
        try:
            ns.stop()
        except Exception as e:  # keep cleaning up the others
            print(f"bench: cleanup of {ns.label}: {e}", flush=True)


# --- /proc -------------------------------------------------------------------


def pids_by_ns(nsids):
    """{nsid: [host pids]} for the given PID namespaces (one pass over /proc)."""
    want = set(nsids)
    out = {n: [] for n in want}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            n = os.readlink(f"/proc/{name}/ns/pid")
        except OSError:
            continue
        if n in want:
            out[n].append(int(name))
    return out


def _kv(path):
    d = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def _kib(v):
    return int(v.split()[0]) if v else 0


def read_proc(pid, memory=False):
    """One process: comm, RSS/HWM (KiB), context switches and CPU of all its
    threads (schedstat, ns; and utime+stime ticks), PSS (KiB) if memory.
    None when the process is gone."""
    try:
        st = _kv(f"/proc/{pid}/status")
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])
        vcsw = nvcsw = cpu_ns = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                ts = _kv(f"/proc/{pid}/task/{tid}/status")
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    cpu_ns += int(f.read().split()[0])
            except OSError:
                continue
            vcsw += int(ts.get("voluntary_ctxt_switches", 0))
            nvcsw += int(ts.get("nonvoluntary_ctxt_switches", 0))
        p = {
            "pid": pid,
            "comm": st.get("Name", "?"),
            "state": st.get("State", "?")[:1],
            "rss_kib": _kib(st.get("VmRSS")),
            "hwm_kib": _kib(st.get("VmHWM")),
            "threads": int(st.get("Threads", 1)),
            "rss_file_kib": _kib(st.get("RssFile")),
            "rss_anon_kib": _kib(st.get("RssAnon")),
            "ctxsw": vcsw + nvcsw,
            "vcsw": vcsw,
            "cpu_ns": cpu_ns,
            "ticks": ticks,
        }
        if memory:
            p["pss_kib"] = _kib(_kv(f"/proc/{pid}/smaps_rollup").get("Pss"))
        return p
    except (OSError, ValueError, IndexError):
        return None


def sample_ns(ns, pids=None, memory=False):
    """The init's processes in ns (everything but the apps), summed, plus the
    init (PID 1) itself."""
    if pids is None:
        pids = pids_by_ns([ns.nsid])[ns.nsid]
    sup, apps = {}, 0
    for pid in pids:
        p = read_proc(pid, memory=memory)
        if p is None:
            continue
        if p["comm"] == APP_COMM:
            apps += 1
        else:
            sup[pid] = p
    return {"t_ns": MONO(), "procs": sup, "apps": apps, "init": sup.get(ns.pid)}


def delta(a, b, key):
    """Sum of b-a of key over the processes present in both samples."""
    return sum(b["procs"][p][key] - a["procs"][p][key] for p in b["procs"] if p in a["procs"])


# --- benchapp logs -----------------------------------------------------------


def read_log(path):
    """[(tag, [ints])] of a benchapp log."""
    try:
        with open(path) as f:
            data = f.read()
    except FileNotFoundError:
        return []
    out = []
    for line in data.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            try:
                out.append((parts[0], [int(x) for x in parts[1:]]))
            except ValueError:
                pass
    return out


def wait_log(path, pred, timeout, ns=None, interval=0.001):
    """Poll the log until pred(lines) holds; BenchError on timeout or if the
    namespace's init exited meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        lines = read_log(path)
        if pred(lines):
            return lines
        if ns is not None and ns.wait_exit(0) is not None:
            raise BenchError(f"{ns.label}: init exited early: {_tail(ns.logpath)}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"timeout after {timeout}s waiting on {os.path.basename(path)}"
                + (f" ({ns.label}: {_tail(ns.logpath, 300)})" if ns else "")
            )
        time.sleep(interval)


def count(tag):
    return lambda lines: sum(1 for t, _ in lines if t == tag)


def at_least(tag, n):
    return lambda lines: sum(1 for t, _ in lines if t == tag) >= n
