"""Scenario 11, log flood: one app (bench/floodapp.c) writes numbered lines
as fast as it can through each logger; the harness measures the throughput,
the logger's CPU and peak RSS, and reads every line back from every file the
logger wrote (rotated ones included) to count the lines lost, duplicated,
corrupt (cut, glued or garbled) and out of order.

The loggers, each configured to rotate at the same size, keep every file and
put a timestamp on every line:

- tend: `log = "file"`, `log_max_size`, `log_keep = 100`, tend as PID 1 of its
  own PID namespace, the writer its only app (restart = "never": tend exits
  once the app has exited and its last lines are written).
- s6-log (s6): `writer | s6-log -b n100 sSIZE T DIR`.
- svlogd (runit): `writer | svlogd -tt -b 65536 DIR`, DIR/config `sSIZE`, `n100`.
- PM2: `pm2 start writer --interpreter none --no-autorestart --output F
  --error F [--time]` with PM2_HOME in a fresh directory, in a PID namespace
  of its own. No rotation (that takes the pm2-logrotate module).

s6-log and svlogd run as children of the harness (a pipe between the writer
and the logger, as their supervisors would set up), so wait4() gives their
exact CPU time. tend's CPU is its namespace's (wait4 of unshare: unshare,
tend and the writer) minus the writer's own (which it reports) and
unshare's (read while tend runs). PM2's is its God daemon's, read from /proc
before and after the flood.
"""

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import time

from . import harness as h
from .harness import MONO, BenchError, Namespace
from .peers import by_name

LINE = 100  # bytes per line, floodapp.c
FILL = [bytes([97 + i]) * 81 for i in range(26)]
PAYLOAD = rb"line (\d{12}) ([a-z]{81})"
SAMPLE_S = 0.02  # RSS sampling interval
CLK_TCK = os.sysconf("SC_CLK_TCK")
GIB = float(1 << 30)
MIB = float(1 << 20)


def _status(pid):
    """(VmRSS, VmHWM) in KiB, or None once the process is gone."""
    try:
        st = h._kv(f"/proc/{pid}/status")
        return h._kib(st.get("VmRSS")), h._kib(st.get("VmHWM"))
    except (OSError, ValueError):
        return None


def _ticks_s(pid):
    """utime+stime of all the threads of pid, live and gone, in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        fields = stat[stat.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def _schedstat_s(pid):
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class Peak:
    """Peak VmRSS/VmHWM of a process, sampled."""

    def __init__(self):
        self.rss = 0
        self.hwm = 0
        self.samples = 0

    def sample(self, pid):
        s = _status(pid)
        if s:
            self.rss = max(self.rss, s[0])
            self.hwm = max(self.hwm, s[1])
            self.samples += 1
        return s

    def kib(self):
        return max(self.rss, self.hwm) or None


def _read_stats(path):
    try:
        with open(path) as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


# --- verification ----------------------------------------------------------------


def _regex(template):
    """The regex of a prefix template: 9 = any digit, the rest literal."""
    return b"".join(rb"\d" if c == 0x39 else re.escape(bytes([c])) for c in template)


_CYCLES = {}


def _digit_column(first, n, place):
    """The digit at 10**place of first, first+1, ... first+n-1, as bytes."""
    p = 10**place
    if p <= 10**5:  # a cycle of 10p bytes: 0 p times, 1 p times, ...
        cyc = _CYCLES.get(p)
        if cyc is None:
            cyc = _CYCLES[p] = b"".join(bytes([48 + d]) * p for d in range(10))
        off = first % (10 * p)
        return (cyc * ((off + n) // len(cyc) + 1))[off : off + n]
    out, i, v = [], 0, first
    while i < n:
        k = min(n - i, p - v % p)
        out.append(bytes([48 + (v // p) % 10]) * k)
        i, v = i + k, v + k
    return b"".join(out)


def _whole_run(data, n, template, lines):
    """The first line number when data is n consecutive whole lines of floodapp,
    each behind a prefix of the form template; else None. Checked column by
    column (every line has the same length), which is fast in Python."""
    P = len(template)
    L = P + LINE
    if len(data) != n * L or data[L - 1 :: L] != b"\n" * n:
        return None
    for i, c in enumerate(template + b"line "):
        col = data[i::L]
        if not (col.isdigit() if c == 0x39 and i < P else col == bytes([c]) * n):
            return None
    head = data[P + 5 : P + 17]
    if not head.isdigit():
        return None
    first = int(head)
    if first + n > lines:
        return None
    for k in range(12):
        if data[P + 5 + k :: L] != _digit_column(first, n, 11 - k):
            return None
    if data[P + 17 :: L] != b" " * n:
        return None
    off = first % 26
    letters = (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 2))[off : off + n]
    for k in range(LINE - 19):
        if data[P + 18 + k :: L] != letters:
            return None
    return first


def verify(files, template, skip, lines, chunk_bytes=1 << 18):
    """Read every line of files (in the order given: oldest first) and check it
    against what floodapp wrote. template: the logger's prefix before the
    app's line, 9 standing for a digit; skip: regex of lines that are the
    logger's own (tend's event lines). A line is corrupt when it is not one
    whole line of floodapp behind such a prefix (cut, glued to another,
    garbled). Read chunk_bytes at a time: small enough that the column checks
    of a chunk stay in the CPU's cache (16 MiB chunks were 3 times slower)."""
    rx_one = re.compile(_regex(template) + PAYLOAD)
    rx_skip = re.compile(skip) if skip else None
    seen = bytearray(lines)
    r = dict(found=0, duplicates=0, corrupt=0, out_of_order=0, own_lines=0, files=len(files), bytes_on_disk=0)
    last = -1

    def block(data, n):
        nonlocal last
        # Fast path: n consecutive whole lines, none seen before.
        first = _whole_run(data, n, template, lines)
        if first is not None and seen.find(1, first, first + n) == -1:
            seen[first : first + n] = b"\x01" * n
            r["found"] += n
            if first != last + 1:
                r["out_of_order"] += 1
            last = first + n - 1
            return
        if n > 64:  # halve it, to find the bad lines with the fast path around them
            mid = data.find(b"\n", len(data) // 2) + 1
            if 0 < mid < len(data):
                k = data.count(b"\n", 0, mid)
                block(data[:mid], k)
                block(data[mid:], n - k)
                return
        # Slow path: line by line.
        for line in data[:-1].split(b"\n"):
            m = rx_one.fullmatch(line)
            if m is None:
                if rx_skip is not None and rx_skip.match(line):
                    r["own_lines"] += 1
                else:
                    r["corrupt"] += 1
                continue
            seq = int(m[1])
            if seq >= lines or m[2] != FILL[seq % 26]:
                r["corrupt"] += 1
                continue
            if seen[seq]:
                r["duplicates"] += 1
                continue
            seen[seq] = 1
            r["found"] += 1
            if seq != last + 1:
                r["out_of_order"] += 1
            last = seq

    for path in files:
        r["bytes_on_disk"] += os.path.getsize(path)
        with open(path, "rb") as f:
            rest = b""
            while True:
                chunk = f.read(chunk_bytes)
                if not chunk:
                    break
                data = rest + chunk
                cut = data.rfind(b"\n") + 1
                data, rest = data[:cut], data[cut:]
                if not data:
                    continue
                block(data, data.count(b"\n"))
            if rest:  # a last line without its newline
                r["corrupt"] += 1
    r["lost"] = lines - r["found"]
    r["lost_at_end"] = lines - 1 - last  # the lines after the last one found
    return r


def _archives(d):
    """s6-log / svlogd: the archives (@TAI64N.s, named in time order), then current."""
    names = sorted(n for n in os.listdir(d) if n.startswith("@"))
    out = [os.path.join(d, n) for n in names]
    if os.path.exists(os.path.join(d, "current")):
        out.append(os.path.join(d, "current"))
    return out


def _tend_files(d, name):
    """NAME.log.N (oldest) ... NAME.log.1, then NAME.log."""
    rot = []
    for n in os.listdir(d):
        m = re.fullmatch(re.escape(name) + r"\.log\.(\d+)", n)
        if m:
            rot.append((int(m[1]), n))
    out = [os.path.join(d, n) for _, n in sorted(rot, reverse=True)]
    if os.path.exists(os.path.join(d, f"{name}.log")):
        out.append(os.path.join(d, f"{name}.log"))
    return out


# --- the loggers ---------------------------------------------------------------------


class Logger:
    name = "?"
    peer = "?"  # the entry of PEERS whose install brings it
    needs = ()
    prefix = b""  # what the logger writes before the app's line; 9 = a digit
    skip = None
    rotates = True

    def available(self, peers):
        names = {p.name for p in peers}
        return self.peer in names and all(shutil.which(x) for x in self.needs)

    def describe(self, p):
        return ""


class Tend(Logger):
    name = "tend"
    peer = "tend -c"
    prefix = b"9999-99-99T99:99:99.999Z out "
    skip = rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z tend "

    def available(self, peers):
        return self.peer in {p.name for p in peers}

    def describe(self, p):
        return f'`log = "file"`, `log_max_size = "{p["rot"]}"`, `log_keep = 100`'

    def run(self, b, p, d, stats):
        tend = by_name("tend -c").needs[0]
        logdir = os.path.join(d, "logs")
        os.makedirs(logdir)
        conf = os.path.join(d, "init.toml")
        with open(conf, "w") as f:
            f.write(
                "[tend]\n"
                f"log_dir = {json.dumps(logdir)}\n\n"
                "[app.flood]\n"
                f"command = {json.dumps([b.flood_app, str(p['bytes']), stats])}\n"
                'restart = "never"\n'
                'log = "file"\n'
                f'log_max_size = "{p["rot"]}"\n'
                "log_keep = 100\n"
            )
        env = dict(os.environ, TEND_SOCKET=os.path.join(d, "tend.sock"))
        ns = Namespace("tend flood", [tend, "-c", conf], env=env, cwd=d, logpath=os.path.join(d, "init.log"))
        peak = Peak()
        try:
            ns.start()
            unshare_s = _schedstat_s(ns.proc.pid) or 0.0
            deadline = time.monotonic() + p["timeout"]
            while ns.wait_exit(SAMPLE_S) is None:
                peak.sample(ns.pid)
                if time.monotonic() > deadline:
                    raise BenchError(f"tend still running after {p['timeout']:.0f} s")
            _, status, ru = os.wait4(ns.proc.pid, 0)
            rc = os.waitstatus_to_exitcode(status)
            ns.proc.returncode = rc
            w = _read_stats(stats)
            if w is None:
                raise BenchError(f"the writer did not finish (tend exit code {rc}): {h._tail(ns.logpath)}")
            if rc != 0:
                b.note(11, f"tend exited with {rc} after the flood: {h._tail(ns.logpath, 200)}")
            cpu = ru.ru_utime + ru.ru_stime - (w["utime_us"] + w["stime_us"]) / 1e6 - unshare_s
            return dict(
                t_end_ns=ns.exit_ns,
                cpu_s=cpu,
                peak_kib=peak.kib(),
                files=_tend_files(logdir, "flood"),
                others=[n for n in os.listdir(logdir) if not n.startswith("flood.log")],
            )
        finally:
            ns.stop()


class Piped(Logger):
    """A logger reading the writer's stdout through a pipe, both children of
    the harness."""

    def argv(self, p, logdir):
        raise NotImplementedError

    def run(self, b, p, d, stats):
        logdir = os.path.join(d, "logs")
        argv = self.argv(p, logdir)
        log = open(os.path.join(d, "logger.log"), "wb")
        writer = logger = None
        fds = []
        peak = Peak()
        try:
            writer = subprocess.Popen(
                [b.flood_app, str(p["bytes"]), stats],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
            logger = subprocess.Popen(argv, stdin=writer.stdout, stdout=log, stderr=log, start_new_session=True)
            writer.stdout.close()
            wfd, lfd = os.pidfd_open(writer.pid), os.pidfd_open(logger.pid)
            fds = [wfd, lfd]
            deadline = time.monotonic() + p["timeout"]
            t_end = None
            while t_end is None:
                r, _, _ = select.select([lfd], [], [], SAMPLE_S)
                if r:
                    t_end = MONO()
                    break
                peak.sample(logger.pid)
                if time.monotonic() > deadline:
                    raise BenchError(f"{self.name} still running after {p['timeout']:.0f} s")
            _, status, ru = os.wait4(logger.pid, 0)
            logger.returncode = os.waitstatus_to_exitcode(status)
            wrc = writer.wait(timeout=30)
            if logger.returncode != 0 or wrc != 0:
                raise BenchError(
                    f"{self.name} exited with {logger.returncode}, the writer with {wrc}: "
                    f"{h._tail(os.path.join(d, 'logger.log'), 300)}"
                )
            return dict(t_end_ns=t_end, cpu_s=ru.ru_utime + ru.ru_stime, peak_kib=peak.kib(), files=_archives(logdir))
        finally:
            for fd in fds:
                os.close(fd)
            for proc in (writer, logger):  # our own children
                if proc is not None and proc.returncode is None:
                    if proc.poll() is None:
                        proc.kill()
                    proc.wait(timeout=10)
            log.close()


class S6Log(Piped):
    name = "s6-log"
    peer = "s6"
    needs = ("s6-log",)
    prefix = b"9999-99-99 99:99:99.999999999  "

    def describe(self, p):
        return f"`s6-log -b n100 s{p['rot_bytes']} T DIR`"

    def argv(self, p, logdir):
        return [shutil.which("s6-log"), "-b", "n100", f"s{p['rot_bytes']}", "T", logdir]


class Svlogd(Piped):
    name = "svlogd"
    peer = "runit"
    needs = ("svlogd",)
    prefix = b"9999-99-99_99:99:99.99999 "

    def describe(self, p):
        return f"`svlogd -tt -b 65536 DIR`, DIR/config `s{p['rot_bytes']}` `n100`"

    def argv(self, p, logdir):
        os.makedirs(logdir)
        with open(os.path.join(logdir, "config"), "w") as f:
            f.write(f"s{p['rot_bytes']}\nn100\n")
        return [shutil.which("svlogd"), "-tt", "-b", "65536", logdir]


class PM2(Logger):
    peer = "PM2"
    needs = ("pm2", "node")
    rotates = False

    def __init__(self, time_prefix):
        self.time = time_prefix
        self.name = "PM2 --time" if time_prefix else "PM2"
        self.prefix = b"9999-99-99T99:99:99: " if time_prefix else b""

    def describe(self, p):
        return "`pm2 start --output F --error F" + (" --time`" if self.time else "` (no timestamps)") + ", no rotation"

    def run(self, b, p, d, stats):
        home = os.path.join(d, "pm2home")
        os.makedirs(os.path.join(d, "logs"))
        out = os.path.join(d, "logs", "out.log")
        ready, go = os.path.join(d, "ready"), os.path.join(d, "go")
        start = [
            shutil.which("pm2"), "start", b.flood_app, "--name", "flood", "--interpreter", "none",
            "--no-autorestart", "--output", out, "--error", os.path.join(d, "logs", "err.log"),
        ]
        if self.time:
            start.append("--time")
        start += ["--", str(p["bytes"]), stats]
        # PID 1 of the namespace: start the daemon, wait for the go, start
        # the app, then stay (the daemon lives in this namespace).
        script = (
            f"{shlex.quote(shutil.which('pm2'))} ping >/dev/null || exit 1\n"
            f": > {shlex.quote(ready)}\n"
            f"while [ ! -e {shlex.quote(go)} ]; do sleep 0.01; done\n"
            f"{shlex.join(start)} >/dev/null || exit 1\n"
            "exec sleep 100000\n"
        )
        env = dict(os.environ, PM2_HOME=home, HOME=d)
        ns = Namespace(self.name, ["/bin/sh", "-c", script], env=env, cwd=d, logpath=os.path.join(d, "init.log"))
        peak = Peak()
        try:
            ns.start()
            deadline = time.monotonic() + 60
            while not os.path.exists(ready):
                if ns.wait_exit(0.02) is not None or time.monotonic() > deadline:
                    raise BenchError(f"pm2 ping failed: {h._tail(ns.logpath)}")
            daemon = None
            for pid in h.pids_by_ns([ns.nsid])[ns.nsid]:
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        if b"God Daemon" in f.read():
                            daemon = pid
                except OSError:
                    pass
            if daemon is None:
                raise BenchError("no PM2 God Daemon in the namespace")
            cpu0 = _ticks_s(daemon)
            with open(go, "w"):
                pass
            expect = p["lines"] * LINE if not self.time else None
            deadline = time.monotonic() + p["timeout"]
            size, t_change, w = -1, MONO(), None
            while True:
                if ns.wait_exit(SAMPLE_S) is not None:
                    raise BenchError(f"the namespace ended: {h._tail(ns.logpath)}")
                if peak.sample(daemon) is None:
                    raise BenchError("the PM2 daemon is gone")
                try:
                    s = os.path.getsize(out)
                except OSError:
                    s = -1
                now = MONO()
                if s != size:
                    size, t_change = s, now
                w = w or _read_stats(stats)
                # Done: the writer finished and the file has all its bytes, or
                # (with --time, where the size is not known) stopped growing.
                if w and (size == expect or (now - t_change) / 1e9 >= p["quiet_s"]):
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"PM2 not done after {p['timeout']:.0f} s ({size:,} bytes written)")
            cpu1 = _ticks_s(daemon)
            return dict(t_end_ns=t_change, cpu_s=cpu1 - cpu0, peak_kib=peak.kib(), files=[out])
        finally:
            ns.stop()


LOGGERS = [Tend(), S6Log(), Svlogd(), PM2(True), PM2(False)]


def _size_str(n):
    return f"{n >> 20}M" if n % (1 << 20) == 0 else str(n)


def run(b):
    """Scenario 11 for every logger that is installed, interleaved per run."""
    nbytes, rot = b.p["flood_bytes"], b.p["flood_rotate"]
    p = dict(
        bytes=nbytes,
        lines=nbytes // LINE,
        rot=_size_str(rot),
        rot_bytes=rot,
        timeout=60 + nbytes / 5e6,  # 5 MB/s at the slowest
        quiet_s=2.0,
    )
    b.flood = p
    loggers = [lg for lg in LOGGERS if lg.available(b.peers)]
    for lg in LOGGERS:
        if lg not in loggers:
            b.note(11, f"{lg.name}: not run (not installed, or its peer not selected)")
    for run in range(b.p["flood_runs"]):
        for lg in loggers:
            d = b.dir(f"s11-{lg.name}")
            stats = os.path.join(d, "writer.json")
            b.log(f"log flood: {lg.name}, {nbytes / MIB:,.0f} MiB, run {run + 1}")
            os.sync()  # start each logger without the dirty pages of the one before
            try:
                m = lg.run(b, p, d, stats)
                w = _read_stats(stats)
                if w is None:
                    raise BenchError("the writer wrote no stats")
                t_verify = time.monotonic()
                v = verify(m["files"], lg.prefix, lg.skip, w["lines"])
                wall = (max(m["t_end_ns"], w["t1_ns"]) - w["t0_ns"]) / 1e9
                row = dict(
                    peer=lg.name,
                    case="flood",
                    run=run,
                    config=lg.describe(p),
                    lines=w["lines"],
                    bytes=w["bytes"],
                    wall_s=wall,
                    mib_s=w["bytes"] / MIB / wall,
                    lines_s=w["lines"] / wall,
                    cpu_s=m["cpu_s"],
                    cpu_s_per_gib=m["cpu_s"] / (w["bytes"] / GIB),
                    peak_kib=m["peak_kib"],
                    rotations=max(0, len(m["files"]) - 1),
                    rotates=lg.rotates,
                    verify_s=time.monotonic() - t_verify,
                    **v,
                )
                if m.get("others"):
                    b.note(11, f"{lg.name}: other files in the log directory: {', '.join(sorted(m['others']))}")
                b.log(
                    f"  {row['mib_s']:.0f} MiB/s, {row['cpu_s_per_gib']:.2f} CPU s/GiB, "
                    f"peak {(row['peak_kib'] or 0) / 1024:.2f} MiB, {row['files']} files, lost {row['lost']}, "
                    f"dup {row['duplicates']}, corrupt {row['corrupt']}, out of order {row['out_of_order']} "
                    f"(verified in {row['verify_s']:.1f} s)"
                )
                b.row(11, **row)
            except (BenchError, OSError, subprocess.SubprocessError) as e:
                b.fail(11, lg.name, "flood", e)
            finally:
                # The logs are gigabytes: gone once verified (init.log and the
                # configs stay, for --keep).
                shutil.rmtree(os.path.join(d, "logs"), ignore_errors=True)
