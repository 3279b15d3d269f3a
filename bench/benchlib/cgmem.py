"""Scenario 13, memory-limit reaction in cgroup mode and in /proc mode
(issue 16), side by side in one VM boot: tend as PID 1 of a qemu VM (TCG,
the Debian kernel of the VM tests, cgroup2 mounted by tend), the initramfs
from contrib/mkinitramfs.sh with bench/memgrow (static) in it.

- cgroup mode: PID 1's app `cgroup` is `memgrow cgroup 16M ...` with
  `max_memory = "16M"`: memory.high at 16M, memory.events polled.
- /proc mode: PID 1's apps `proc1s` and `proc200ms` are inner tends,
  `/init -c /etc/tend/procN.toml` with `[tend] cgroups = "off"`, a socket
  of their own and `poll_interval` 1s or 200ms, each running
  `memgrow proc 16M ...` with `max_memory = "16M"`.

Every memgrow takes one flock before it grows, so one grows at a time;
each run appends one line to /tmp/r.MODE and is restarted by its tend (the
memory-limit restart), giving the next sample. A driver app prints the
first N lines of each mode once it has them (`bench13 MODE: memgrow: ...`),
stops that mode's app, and powers the VM off after the last.
"""

import os
import re
import shutil
import statistics
import subprocess
import time

from .harness import BenchError
from .peers import ROOT

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIMIT = "16M"
MODES = [
    # (mode, app in PID 1's config, poll interval of its tend, or None)
    ("cgroup", "cgroup", None),
    ("proc, poll 1s", "proc1s", "1s"),
    ("proc, poll 200ms", "proc200ms", "200ms"),
]
LINE = re.compile(r"^bench13 (\S+): memgrow: mode=(\S+) limit=(\d+) used=(\d+) (reaction_us=(-?\d+)|early) (.*)$")


def kernel():
    path = os.environ.get("TEND_VM_KERNEL") or os.path.join(ROOT, "target/vm/vmlinuz")
    return path if os.path.exists(path) else None


def missing():
    """Why the scenario cannot run here, or None."""
    for cmd in ("qemu-system-x86_64", "busybox", "cpio", "gzip"):
        if not shutil.which(cmd):
            return f"{cmd} is not installed (.ci/run installs qemu-system-x86, busybox-static and cpio)"
    if not kernel():
        return "no kernel at $TEND_VM_KERNEL or target/vm/vmlinuz (.ci/run fetches one)"
    return None


def build_memgrow(b):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise BenchError("no C compiler for bench/memgrow.c")
    out = os.path.join(b.work, "memgrow")
    r = subprocess.run(
        [cc, "-O2", "-static", "-o", out, os.path.join(HERE, "memgrow.c")], capture_output=True, text=True, timeout=120
    )
    if r.returncode != 0:
        raise BenchError(f"cannot build bench/memgrow.c statically (the VM has no C library): {r.stderr.strip()}")
    return out


def configs(n):
    """PID 1's init.toml and the inner tends' configs, by file name."""
    files = {}
    apps = [
        f"""[tend]
cgroups = "on"

[app.cgroup]
command = ["/bin/memgrow", "cgroup", "{LIMIT}", "/tmp/bench.lock", "/tmp/r.cgroup"]
max_memory = "{LIMIT}"
min_uptime = "1ms"
"""
    ]
    for _, app, poll in MODES[1:]:
        apps.append(
            f"""
[app.{app}]
command = ["/init", "-c", "/etc/tend/{app}.toml"]
"""
        )
        files[f"{app}.toml"] = f"""[tend]
cgroups = "off"
socket = "/run/{app}.sock"
poll_interval = "{poll}"

[app.grow]
command = ["/bin/memgrow", "proc", "{LIMIT}", "/tmp/bench.lock", "/tmp/r.{app}"]
max_memory = "{LIMIT}"
min_uptime = "1ms"
"""
    names = " ".join(app for _, app, _ in MODES)
    apps.append(
        f"""
[app.driver]
restart = "never"
command = '''
left="{names}"
while [ -n "$left" ]; do
  sleep 1
  next=
  for m in $left; do
    if [ "$(cat /tmp/r.$m 2>/dev/null | wc -l)" -ge {n} ]; then
      head -n {n} /tmp/r.$m | sed "s/^/bench13 $m: /"
      /init stop $m >/dev/null
    else
      next="$next $m"
    fi
  done
  left=$next
done
echo "bench13 done"
/init poweroff
'''
"""
    )
    files["init.toml"] = "".join(apps)
    return files


def boot(b, n, d):
    """One VM boot; returns the console text."""
    memgrow = build_memgrow(b)
    files = configs(n)
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    initrd = os.path.join(d, "initrd.cpio.gz")
    extra = [f"{memgrow}=/bin/memgrow"] + [
        f"{os.path.join(d, name)}=/etc/tend/{name}" for name in files if name != "init.toml"
    ]
    tend = os.path.join(b.work, "tend")
    r = subprocess.run(
        ["sh", os.path.join(ROOT, "contrib/mkinitramfs.sh"), initrd, os.path.join(d, "init.toml"), tend, *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if r.returncode != 0:
        raise BenchError(f"mkinitramfs: {r.stderr.strip()}")
    # A sample takes about 1.5 s under the 1 s poll (the random wait, the
    # growth, the reaction), less under the others; TCG is slow.
    timeout = 60 + n * 3 * 6
    console = os.path.join(d, "console.log")
    with open(console, "w") as out:
        try:
            subprocess.run(
                [
                    "qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-no-reboot",
                    "-kernel", kernel(), "-initrd", initrd,
                    "-append", "rdinit=/init console=ttyS0 panic=-1 quiet",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"the VM did not power off within {timeout} s (console: {console})") from None
    with open(console, errors="replace") as f:
        return f.read()


def run(b):
    """Scenario 13: N samples of each mode in one boot."""
    why = missing()
    if why:
        b.note(13, f"not run: {why}")
        return
    if not any(p.name.startswith("tend") for p in b.peers):
        b.note(13, "not run: tend not selected")
        return
    n = b.p["cgmem_samples"]
    d = b.dir("s13-vm")
    b.log(f"memory-limit reaction in a VM: {n} samples each of {', '.join(m for m, _, _ in MODES)}")
    t0 = time.monotonic()
    try:
        text = boot(b, n, d)
    except (BenchError, OSError, subprocess.SubprocessError) as e:
        b.fail(13, "tend", "vm", e)
        return
    took = time.monotonic() - t0
    by_app = {app: mode for mode, app, _ in MODES}
    got = {app: 0 for app in by_app}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m or m.group(1) not in by_app:
            continue
        app = m.group(1)
        extra = dict(kv.split("=", 1) for kv in m.group(7).split() if "=" in kv)
        got[app] += 1
        b.row(
            13,
            peer="tend",
            case=by_app[app],
            run=got[app] - 1,
            limit=int(m.group(3)),
            used=int(m.group(4)),
            early=m.group(6) is None,
            reaction_ms=int(m.group(6)) / 1000 if m.group(6) is not None else None,
            signal_ms=int(extra["signal_us"]) / 1000 if int(extra.get("signal_us", -1)) >= 0 else None,
            wait_ms=int(extra.get("wait_ms", 0)),
            after=int(extra.get("after", 0)),
            step_ms=int(extra.get("step_us", 0)) / 1000,
            within=extra.get("within") == "1",
            boot_s=took,
        )
    for app, k in got.items():
        if k < n:
            b.fail(13, "tend", by_app[app], f"{k} of {n} samples on the console (see {d}/console.log)")
    if "bench13 done" not in text:
        b.note(13, f"the driver did not finish (console: {d}/console.log)")
    b.log(f"  VM boot of {took:.0f} s; samples: {', '.join(f'{by_app[a]} {k}' for a, k in got.items())}")
