"""BENCHMARKS.md from the rows of a run: one table per scenario, medians
over the runs with (min–max), the ratio tend/peer, and the issue's targets
with met / missed."""

import math
import os
import statistics

from .peers import TEND_ROWS, by_name

MIB = 1024.0


def agg(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals), len(vals)


def num(v, unit=""):
    if v is None:
        return "–"
    a = abs(v)
    if a == 0:
        s = "0"
    elif a >= 1 and float(v).is_integer():
        s = f"{int(v):,}"
    elif a < 0.01:
        s = f"{v:.4f}"
    elif a < 1:
        s = f"{v:.3f}"
    elif a < 10:
        s = f"{v:.2f}"
    elif a < 100:
        s = f"{v:.1f}"
    else:
        s = f"{v:,.0f}"
    return s + unit


def cell(a, unit="", spread=True):
    """median (min–max) of an agg()."""
    if a is None:
        return "–"
    med, lo, hi, n = a
    if not spread or n == 1 or lo == hi:
        return num(med, unit)
    return f"{num(med, unit)} ({num(lo)}–{num(hi)})"


def ratio(t, p):
    if t is None or p is None or p[0] in (0, None) or t[0] is None:
        return "–"
    r = t[0] / p[0]
    if 0 < r < 0.01:
        digits = 1 - math.floor(math.log10(r))
        return f"×{r:.{digits}f}"
    return "×" + num(r)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def kind_of(name):
    try:
        return by_name(name).kind
    except KeyError:
        return None


class Report:
    def __init__(self, bench, meta):
        self.b = bench
        self.meta = meta
        self.out = []
        self.summary = []  # (scenario, target, measured, met)

    def rows(self, sc, **match):
        return [
            r
            for r in self.b.results.get(sc, [])
            if "error" not in r and all(r.get(k) == v for k, v in match.items())
        ]

    def peers_in(self, sc, **match):
        seen = []
        for r in self.rows(sc, **match):
            if r["peer"] not in seen:
                seen.append(r["peer"])
        return seen

    def w(self, line=""):
        self.out.append(line)

    def target(self, sc, text, measured, ok):
        self.summary.append((sc, text, measured, ok))
        self.w(f"Target: {text}. tend: {measured}: {verdict(ok) if ok is not None else 'not measured'}.")
        self.w()

    def notes(self, sc):
        for n in self.b.notes.get(sc, []):
            self.w(f"- {n}")
        if self.b.notes.get(sc):
            self.w()

    def tend_for(self, peer):
        return TEND_ROWS.get(kind_of(peer) or "supervisor")

    # --- scenarios ---------------------------------------------------------------

    def s1(self):
        self.w("## 1. Size")
        self.w()
        self.w("Bytes on disk of what runs. Static binaries are complete; for dynamic ones the")
        self.w("note gives what the shared libraries add (libc included).")
        self.w()
        self.w("| init | bytes | linkage | tend/peer |")
        self.w("|---|---:|---|---:|")
        rows = self.rows(1)
        tend = next((r for r in rows if r["label"] == "tend"), None)
        for r in rows:
            rt = f"×{tend['bytes'] / r['bytes']:.2f}" if tend and r is not tend else ""
            self.w(f"| {r['label']} | {r['bytes']:,} | {r['note']} | {rt} |")
        self.w()
        if tend:
            self.target(
                1,
                "≤ 1.4 MB (1,400,000 bytes) static stripped",
                f"{tend['bytes']:,} bytes ({tend['note']})",
                tend["bytes"] <= 1_400_000 and tend["note"] == "static, stripped",
            )
        self.notes(1)

    def s2(self):
        self.w("## 2. Start-up: `INIT -- /bin/true`")
        self.w()
        self.w(
            f"Wall time from spawn to exit of `unshare --pid --fork --mount-proc INIT -- /bin/true`, "
            f"{self.b.p['startup_launches']} launches per init and run, the inits interleaved; "
            "the median of each run, then the median (min–max) over the runs. `bare` is "
            "`unshare --pid --fork --mount-proc /bin/true` (no init); the overhead is INIT/bare. "
            "Peak RSS: VmHWM of PID 1 read by its child (`benchapp hwm`). CPU and page faults: "
            "`perf stat -r` of the same command, all its processes (unshare, the init, /bin/true), per launch; "
            "the init's own share is the difference from `bare`."
        )
        self.w()
        self.w("| init | runs | wall ms | ×bare | init peak RSS (VmHWM) | CPU ms / launch | page faults / launch | tend/peer (wall) |")
        self.w("|---|---:|---:|---:|---:|---:|---:|---:|")
        bare = agg(self.rows(2, peer="bare", case="startup"), "wall_ms")
        tend = agg(self.rows(2, peer="tend --", case="startup"), "wall_ms")
        for p in self.peers_in(2, case="startup"):
            a = agg(self.rows(2, peer=p, case="startup"), "wall_ms")
            hwm = agg(self.rows(2, peer=p, case="hwm"), "hwm_kib")
            x = f"×{a[0] / bare[0]:.3f}" if bare and p not in ("bare", "/bin/true, no namespace") else ""
            rt = ratio(tend, a) if p not in ("tend --", "bare", "/bin/true, no namespace") else ""
            pf = self.rows(2, peer=p, case="perf")
            cpu = num(pf[0]["cpu_ms"]) if pf else ""
            flt = num(pf[0]["faults"]) if pf else ""
            self.w(
                f"| {p} | {a[3] if a else 0} | {cell(a)} | {x} | {num(hwm[0] / MIB, ' MiB') if hwm else ''} | "
                f"{cpu} | {flt} | {rt} |"
            )
        self.w()
        if tend and bare:
            x = tend[0] / bare[0]
            self.target(2, "overhead ≤ ×1.30 of bare", f"×{x:.3f} ({num(tend[0])} ms vs {num(bare[0])} ms)", x <= 1.30)
        self.notes(2)

    def s3(self):
        self.w("## 3. Idle memory")
        self.w()
        self.w(
            "Each init alone on the machine with its apps (`benchapp idle`) running, after it settled. "
            "PID 1's VmRSS and VmHWM, and the PSS (smaps_rollup) summed over all of the init's "
            "processes (everything in the namespace but the apps). File / anon: PID 1's RssFile (pages of its "
            "binary and libraries mapped) and RssAnon (heap, stack, data)."
        )
        self.w()
        self.w(
            "| init | apps | runs | PID 1 VmRSS | PID 1 VmHWM | PID 1 RSS file / anon | init processes | "
            "PSS, all init processes | tend/peer (PSS) |"
        )
        self.w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for case in ("1 apps", "100 apps"):
            for p in self.peers_in(38, case=case):
                rows = self.rows(38, peer=p, case=case)
                pss = agg(rows, "pss_kib")
                t = agg(self.rows(38, peer=self.tend_for(p), case=case), "pss_kib")
                rt = ratio(t, pss) if not p.startswith("tend") else ""
                self.w(
                    f"| {p} | {case.split()[0]} | {len(rows)} | {cell(self._mib(agg(rows, 'init_rss_kib')), ' MiB')} | "
                    f"{cell(self._mib(agg(rows, 'init_hwm_kib')), ' MiB')} | {self._fa(rows)} | "
                    f"{cell(agg(rows, 'procs'), spread=False)} | "
                    f"{cell(self._mib(pss), ' MiB')} | {rt} |"
                )
        self.w()
        for p in ("tend --", "tend -c"):
            a = self._mib(agg(self.rows(38, peer=p, case="1 apps"), "init_rss_kib"))
            if a:
                self.target(3, f"init memory, 1 app ({p}) ≤ 1.2 MiB RSS", f"{num(a[0])} MiB", a[0] <= 1.2)
        a = self._mib(agg(self.rows(38, peer="tend -c", case="100 apps"), "pss_kib"))
        procs = agg(self.rows(38, peer="tend -c", case="100 apps"), "procs")
        if a:
            self.target(
                3,
                "100 apps ≤ 1.5 MiB PSS, one process",
                f"{num(a[0])} MiB PSS in {int(procs[0]) if procs else '?'} process{'' if procs and procs[0] == 1 else 'es'}",
                a[0] <= 1.5 and procs and procs[0] == 1,
            )
        self.notes(38)

    def _fa(self, rows):
        f = self._mib(agg(rows, "init_rss_file_kib"))
        a = self._mib(agg(rows, "init_rss_anon_kib"))
        if f is None or a is None:
            return "–"
        return f"{num(f[0])} / {num(a[0])} MiB"

    @staticmethod
    def _mib(a):
        if a is None:
            return None
        return tuple(v / MIB for v in a[:3]) + (a[3],)

    def s4(self):
        self.w("## 4. Idle wake-ups")
        self.w()
        self.w(
            f"Context switches (voluntary + involuntary, all threads, from /proc/PID/task/*/status), of which the "
            f"voluntary ones are the wake-ups (the process slept and was woken; involuntary ones are preemptions "
            f"while it ran, which its neighbours can cause), and CPU time "
            f"(sum_exec_runtime from /proc/PID/task/*/schedstat, ns resolution; utime+stime ticks of "
            f"/proc/PID/stat are only 10 ms) of all the init's processes over a {self.b.p['idle_window']:.0f} s idle "
            "window, given per 10 s. Limit: `max_memory`/`max_memory_restart` 256M on every app, tend with "
            "poll_interval 1s (PM2: its default 30 s check). CPU per sample: CPU over the window / number of 1 s samples."
        )
        self.w()
        self.w("| init | apps | memory limit | runs | context switches / 10 s | wake-ups (voluntary) / 10 s | CPU ms / 10 s | CPU ms per sample |")
        self.w("|---|---:|---|---:|---:|---:|---:|---:|")
        for case in ("1 apps", "100 apps", "1 apps, limit", "100 apps, limit"):
            for p in self.peers_in(48, case=case):
                rows = self.rows(48, peer=p, case=case)
                per = agg(rows, "cpu_ms_per_sample") if p.startswith("tend") else None
                self.w(
                    f"| {p} | {case.split()[0]} | {'256M' if 'limit' in case else 'none'} | {len(rows)} | "
                    f"{cell(agg(rows, 'ctx_per_10s'))} | {cell(agg(rows, 'wake_per_10s'))} | "
                    f"{cell(agg(rows, 'cpu_ms_per_10s'))} | {cell(per)} |"
                )
        self.w()
        for case in ("1 apps", "100 apps"):
            for p in ("tend --", "tend -c"):
                a = agg(self.rows(48, peer=p, case=case), "ctx_per_10s")
                if a:
                    apps = "1 app" if case == "1 apps" else case
                    self.target(4, f"idle, {apps}, no limit ({p}): 0 context switches / 10 s", f"{num(a[0])} (max {num(a[2])})", a[2] == 0)
        a = agg(self.rows(48, peer="tend -c", case="100 apps, limit"), "wake_per_10s")
        c = agg(self.rows(48, peer="tend -c", case="100 apps, limit"), "cpu_ms_per_sample")
        if a:
            t = agg(self.rows(48, peer="tend -c", case="100 apps, limit"), "ctx_per_10s")
            self.target(
                4,
                "100 apps with a limit, poll 1s: ≤ 10 wake-ups / 10 s",
                f"{num(a[0])} voluntary (max {num(a[2])}); {num(t[0])} with the involuntary ones",
                a[0] <= 10,
            )
        if c:
            self.target(4, "100 apps with a limit: ≤ 2 ms CPU per sample of 100 trees", f"{num(c[0])} ms (max {num(c[2])})", c[0] <= 2)
        self.notes(48)

    def s5(self):
        n = self.b.p["orphans"]
        self.w("## 5. Reaping")
        self.w()
        self.w(
            f"The init's child (`benchapp orphans {n}`) double-forks {n:,} times; each grandchild records the time and "
            "exits at once, an orphan of PID 1. The child then watches /proc until every grandchild is gone (reaped). "
            "`clear` is from the last grandchild's exit to the moment none is left; zombies left are counted in /proc "
            f"after at most {self.b.p['orphans_wait']:.0f} s."
        )
        self.w()
        self.w("| init | runs | zombies left | clear after the last exit | double forks → all reaped | tend/peer (clear) |")
        self.w("|---|---:|---:|---:|---:|---:|")
        for p in self.peers_in(5):
            rows = self.rows(5, peer=p)
            clear = agg(rows, "clear_ms")
            t = agg(self.rows(5, peer=self.tend_for(p)), "clear_ms")
            not_cleared = sum(1 for r in rows if not r["cleared"])
            cl = cell(clear, " ms") if not not_cleared else f"not within {self.b.p['orphans_wait']:.0f} s ({not_cleared}/{len(rows)} runs)"
            self.w(
                f"| {p} | {len(rows)} | {cell(agg(rows, 'zombies_left'))} | {cl} | {cell(agg(rows, 'total_s'), ' s')} | "
                f"{ratio(t, clear) if not p.startswith('tend') and not not_cleared else ''} |"
            )
        self.w()
        for p in ("tend --", "tend -c"):
            rows = self.rows(5, peer=p)
            if rows:
                z = agg(rows, "zombies_left")
                c = agg(rows, "clear_ms")
                ok = z[2] == 0 and c is not None and all(r["cleared"] for r in rows) and c[0] <= 1
                self.target(5, f"{p}: 0 zombies left, clear ≤ 1 ms", f"{num(z[2])} left, clear {num(c[0]) if c else '–'} ms", ok)
        self.notes(5)

    def s6(self):
        self.w("## 6. SIGTERM → init gone")
        self.w()
        self.w(
            "SIGTERM (pidfd_send_signal) to PID 1 while its app (`benchapp termexit 3`) runs; the app handles TERM "
            "and exits with code 3. Latency until PID 1 has exited (its pidfd polls readable); the init's exit code "
            "(what unshare returned); whether the app got to handle TERM. runsvdir exits at once on SIGTERM (as "
            "documented); its app then dies with the namespace (SIGKILL from the kernel), hence 0 handled."
        )
        self.w()
        self.w("| init | runs | latency | exit code | app handled TERM | tend/peer |")
        self.w("|---|---:|---:|---:|---|---:|")
        for p in self.peers_in(6):
            rows = self.rows(6, peer=p)
            a = agg(rows, "latency_ms")
            t = agg(self.rows(6, peer=self.tend_for(p)), "latency_ms")
            codes = sorted({r["exit_code"] for r in rows}, key=str)
            g = sum(1 for r in rows if r["graceful"])
            self.w(
                f"| {p} | {len(rows)} | {cell(a, ' ms')} | {', '.join(map(str, codes))} | {g}/{len(rows)} runs | "
                f"{ratio(t, a) if not p.startswith('tend') else ''} |"
            )
        self.w()
        for p, lim in (("tend --", 0.6), ("tend -c", 2.0)):
            a = agg(self.rows(6, peer=p), "latency_ms")
            if a:
                self.target(6, f"{p} ≤ {lim} ms", f"{num(a[0])} ms (max {num(a[2])})", a[0] <= lim)
        self.notes(6)

    def s7(self):
        self.w("## 7. Restart latency")
        self.w()
        self.w(
            f"An app that exits 1 at once (`benchapp exit1`, which logs its start and exit times), each supervisor "
            f"at its minimum delay, for {self.b.p['restart_window']} s: tend `restart_delay = \"0s\"` "
            "(`tend --restart always --restart-delay 0s --` for the wrapper), PM2 `restart_delay: 0, min_uptime: 0`, "
            "supervisord `startsecs=0`; s6 and runit have a fixed 1 s throttle. Gap: from one run's exit to the next "
            "one's start."
        )
        self.w()
        self.w("| init | runs | restarts / s | median gap | p90 gap | tend/peer (gap) |")
        self.w("|---|---:|---:|---:|---:|---:|")
        for p in self.peers_in(7):
            rows = self.rows(7, peer=p)
            a = agg(rows, "gap_ms")
            t = agg(self.rows(7, peer="tend -c"), "gap_ms")
            self.w(
                f"| {p} | {len(rows)} | {cell(agg(rows, 'per_s'))} | {cell(a, ' ms')} | {cell(agg(rows, 'gap_p90_ms'), ' ms')} | "
                f"{ratio(t, a) if not p.startswith('tend') else ''} |"
            )
        self.w()
        for p in ("tend -c", "tend --"):
            a = agg(self.rows(7, peer=p), "gap_ms")
            if a:
                self.target(7, f"{p}: restart gap ≤ 2 ms with restart_delay 0s", f"{num(a[0])} ms", a[0] <= 2)
        self.notes(7)

    def s8(self):
        self.w("## 8. Scale")
        self.w()
        self.w(
            "N apps declared (one section / service directory / program each, `benchapp idle`). Launch: from "
            "spawning unshare to the start of the last app (each app logs its start time), the init alone on the "
            "machine. RSS of PID 1 and PSS of all the init's processes once all run. Idle CPU and wake-ups "
            "(voluntary context switches) per second over the idle window (see 4), without and with a 256M limit "
            "on every app."
        )
        self.w()
        self.w(
            "| init | apps | runs | launch → all running | PID 1 RSS | PSS, all init processes | processes | "
            "idle CPU ms/s | idle wake-ups/s | with limit: CPU ms/s | with limit: wake-ups/s | tend/peer (launch) |"
        )
        self.w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in self.b.p["scale"]:
            case = f"{n} apps"
            for p in self.peers_in(38, case=case):
                rows = self.rows(38, peer=p, case=case)
                launch = agg(rows, "launch_s")
                t = agg(self.rows(38, peer="tend -c", case=case), "launch_s")
                idle = self.rows(48, peer=p, case=case)
                lim = self.rows(48, peer=p, case=case + ", limit")
                tenth = lambda a: None if a is None else tuple(v / 10 for v in a[:3]) + (a[3],)  # noqa: E731
                self.w(
                    f"| {p} | {n} | {len(rows)} | {cell(launch, ' s')} | {cell(self._mib(agg(rows, 'init_rss_kib')), ' MiB')} | "
                    f"{cell(self._mib(agg(rows, 'pss_kib')), ' MiB')} | {cell(agg(rows, 'procs'), spread=False)} | "
                    f"{cell(tenth(agg(idle, 'cpu_ms_per_10s')))} | {cell(tenth(agg(idle, 'wake_per_10s')))} | "
                    f"{cell(tenth(agg(lim, 'cpu_ms_per_10s')))} | {cell(tenth(agg(lim, 'wake_per_10s')))} | "
                    f"{ratio(t, launch) if p != 'tend -c' else ''} |"
                )
        self.w()
        for n in self.b.p["scale"]:
            a = agg(self.rows(38, peer="tend -c", case=f"{n} apps"), "launch_s")
            if a and n == 500:
                self.target(8, "500 apps: launch → all running ≤ 0.35 s", f"{num(a[0])} s", a[0] <= 0.35)
            elif a and n == 1000:
                self.summary.append((8, "1,000 apps: launch → all running (report)", f"{num(a[0])} s", None))
        self.notes(38)
        self.notes(48)

    def s9(self):
        self.w("## 9. Memory-limit reaction")
        self.w()
        self.w(
            "An app (`benchapp grow 256`) touches memory in 4 MiB steps, logs the moment its own RSS passes 256 MiB, "
            "stops 32 MiB above and waits. Reaction: from that crossing to the start of the restarted app. tend: "
            "`max_memory = \"256M\"` (poll_interval 1s); PM2: `max_memory_restart: \"256M\"`, its check interval "
            "set with PM2_WORKER_INTERVAL. Graceful: the old app got its stop signal and logged it."
        )
        self.w()
        self.w("| init | memory check | runs | crossing → restarted | graceful | tend/peer |")
        self.w("|---|---|---:|---:|---|---:|")
        t = agg(self.rows(9, peer="tend -c"), "reaction_ms")
        for r0 in self._cases(9):
            p, case = r0
            rows = self.rows(9, peer=p, case=case)
            a = agg(rows, "reaction_ms")
            g = sum(1 for r in rows if r["graceful"])
            self.w(f"| {p} | {case} | {len(rows)} | {cell(a, ' ms')} | {g}/{len(rows)} runs | {ratio(t, a) if not p.startswith('tend') else ''} |")
        self.w()
        for p in ("tend -c", "tend --"):
            a = agg(self.rows(9, peer=p), "reaction_ms")
            if a:
                self.target(9, f"{p}: ≤ poll_interval + 100 ms = 1,100 ms, graceful", f"{num(a[0])} ms (max {num(a[2])})", a[0] <= 1100 and all(r["graceful"] for r in self.rows(9, peer=p)))
        self.notes(9)

    def s10(self):
        n = self.b.p["shutdown_apps"]
        self.w("## 10. Shutdown")
        self.w()
        self.w(
            f"{n} apps (`benchapp termdelay 200`) that each take 200 ms to stop after SIGTERM (or SIGINT, PM2's "
            "kill signal). SIGTERM to PID 1, time until it has exited; graceful: apps that logged their stop. "
            "runsvdir exits at once on SIGTERM and the kernel kills the apps with the namespace: fast, not graceful."
        )
        self.w()
        self.w("| init | apps | runs | total | stopped gracefully | exit code | tend/peer |")
        self.w("|---|---:|---:|---:|---:|---:|---:|")
        t = agg(self.rows(10, peer="tend -c"), "total_ms")
        for p in self.peers_in(10):
            rows = self.rows(10, peer=p)
            a = agg(rows, "total_ms")
            codes = sorted({r["exit_code"] for r in rows}, key=str)
            self.w(
                f"| {p} | {n} | {len(rows)} | {cell(a, ' ms')} | {cell(agg(rows, 'graceful'))} of {n} | {', '.join(map(str, codes))} | "
                f"{ratio(t, a) if not p.startswith('tend') else ''} |"
            )
        self.w()
        a = agg(self.rows(10, peer="tend -c"), "total_ms")
        g = agg(self.rows(10, peer="tend -c"), "graceful")
        if a:
            self.target(
                10,
                f"{n} apps: ≤ 250 ms total, all stopped gracefully",
                f"{num(a[0])} ms, {num(g[1])}–{num(g[2])} of {n} graceful",
                a[0] <= 250 and g[1] == n,
            )
        self.notes(10)

    def s11(self):
        f = self.b.flood or {}
        nbytes, rot = f.get("bytes"), f.get("rot_bytes")
        self.w("## 11. Log flood")
        self.w()
        self.w(
            f"One app (`bench/floodapp.c`) writes {num(nbytes / 2**20 if nbytes else None, ' MiB')} of numbered "
            "100-byte lines to stdout as fast as it can (write(2)s of 64,000 bytes) through each logger, which "
            f"rotates at {num(rot / 2**20 if rot else None, ' MiB')}, keeps up to 100 files and puts a timestamp "
            "on every line. Throughput: the app's bytes and lines over the wall time from the app's start until "
            "the logger has written the last line (tend, s6-log, svlogd: the logger has exited; PM2: its file "
            "stopped growing). CPU: the logger's own utime+stime (not the app's), per GiB of app output. Peak "
            "RSS: the logger's VmHWM (and VmRSS, sampled every 20 ms). Then every file the logger wrote, the "
            "rotated ones included, is read back, oldest first: lost = lines written − lines found; a line "
            "found twice is a duplicate; a line that is not one whole app line behind the logger's prefix "
            "(cut, glued to another, garbled) is corrupt; out of order counts the lines that do not follow "
            "the line before. Each logger's files are deleted once checked."
        )
        self.w()
        self.w("| logger | configuration | runs | MiB/s | lines/s | wall | CPU s / GiB | peak RSS | files (rotations) | "
               "lines lost | duplicates | corrupt | out of order | tend/peer (wall) |")
        self.w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        t = agg(self.rows(11, peer="tend"), "mib_s")
        tw = agg(self.rows(11, peer="tend"), "wall_s")
        for p in self.peers_in(11):
            rows = self.rows(11, peer=p)
            a = agg(rows, "mib_s")
            wall = agg(rows, "wall_s")
            files = agg(rows, "files")
            rot = cell(agg(rows, "rotations"), spread=False) if rows[0]["rotates"] else "no rotation"
            self.w(
                f"| {p} | {rows[0]['config']} | {len(rows)} | {cell(a)} | {cell(agg(rows, 'lines_s'))} | "
                f"{cell(agg(rows, 'wall_s'), ' s')} | {cell(agg(rows, 'cpu_s_per_gib'))} | "
                f"{cell(self._mib(agg(rows, 'peak_kib')), ' MiB')} | {cell(files, spread=False)} ({rot}) | "
                f"{cell(agg(rows, 'lost'))} | {cell(agg(rows, 'duplicates'))} | {cell(agg(rows, 'corrupt'))} | "
                f"{cell(agg(rows, 'out_of_order'))} | {ratio(tw, wall) if p != 'tend' else ''} |"
            )
        self.w()
        self.w(
            "Equivalent settings: every logger rotates at the same size and deletes nothing (100 files kept, "
            "more than the run makes); tend, s6-log (`T`) and svlogd (`-tt`) put a timestamp on every line, "
            "PM2 with `--time` too. s6-log `-b` blocks its input while its output is behind instead of "
            "buffering in memory, as tend does (a full pipe slows the app); svlogd `-b 65536` reads 64 KiB "
            "at a time instead of its default 1 KiB (its manual's advice for a lot of data). PM2 has no "
            "rotation of its own (the pm2-logrotate module is not installed: it rotates by copying and "
            "truncating the file on a timer, not by size at the write)."
        )
        self.w()
        self._pm2_losses()
        rows = self.rows(11, peer="tend")
        if rows:
            bad = {k: max(r[k] for r in rows) for k in ("lost", "duplicates", "corrupt", "out_of_order")}
            self.target(
                11,
                "0 lines lost, duplicated, corrupt or out of order",
                f"{bad['lost']:,} lost, {bad['duplicates']:,} duplicated, {bad['corrupt']:,} corrupt, "
                f"{bad['out_of_order']:,} out of order (worst run)",
                not any(bad.values()),
            )
            best = [(agg(self.rows(11, peer=p), "mib_s"), p) for p in ("s6-log", "svlogd")]
            best = [(a[0], p) for a, p in best if a]
            if t and best:
                v, p = max(best)
                self.target(11, "throughput ≥ the best of s6-log and svlogd", f"{num(t[0])} MiB/s vs {num(v)} MiB/s ({p})", t[0] >= v)
            pk = self._mib(agg(rows, "peak_kib"))
            if pk:
                self.target(11, "peak RSS < 2 MiB during the flood", f"{num(pk[2])} MiB (max)", pk[2] < 2)
        self.notes(11)

    def s12(self):
        p = self.b.p
        self.w("## 12. Restarts without downtime")
        self.w()
        self.w(
            "The same Node http server (`bench/webapp.js`: a 200 with its pid to every GET) under PM2 and tend, "
            f"on a steady load of {num(p['zdt_rate'])} requests/s from {p['zdt_threads']} threads "
            "(`bench/benchlib/load.py`: a new connection per request, open loop: a request that could not go at its "
            "scheduled time goes as soon as it can, and its latency counts from its scheduled time, so a stall shows in "
            f"every request it held up). {num(p['zdt_before'])} s of load, then the reload, then the rest of a window "
            f"of {num(p['zdt_window'])} s from the command on (longer only if the command took longer), then "
            f"{num(p['zdt_after'])} s. Failed: refused, reset, timed out (5 s), not a whole 200. The latency columns are "
            "the answered requests scheduled in the window; \"before\" is the p99 before the command. "
            "PM2 cluster mode: `pm2 start webapp.js -i N`, the workers' `listen(PORT)` goes through the cluster "
            "primary (PM2's daemon), `pm2 reload web` replaces one worker at a time once its successor listens. "
            "PM2 fork mode: one process binding PORT itself, `pm2 restart web`. tend: "
            "`listen = [\"tcp://127.0.0.1:PORT\"]`, every instance takes fd 3, `tend restart web` replaces one "
            "instance at a time, stopping the old one once the new one is up: once it has run for a second without `notify`, "
            "after its READY=1 with `notify = true` (webapp.js says it once it listens)."
        )
        self.w()
        self.w("| processes | supervisor | how | runs | command | failed in window | failed in whole run | "
               "p50 | p99 | max | p99 before | p99 tend/PM2 |")
        self.w("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        cases = []
        for r in self.rows(12):
            if r["case"] not in cases:
                cases.append(r["case"])
        for case in cases:
            pm2 = agg(self.rows(12, case=case, peer="PM2"), "p99_ms")
            for peer in self.peers_in(12, case=case):
                rows = self.rows(12, case=case, peer=peer)
                reqs = sum(r["requests"] for r in rows)
                failed = sum(r["failed"] for r in rows)
                kinds = {}
                for r in rows:
                    for k, v in r["kinds"].items():
                        kinds[k] = kinds.get(k, 0) + v
                why = f" ({', '.join(f'{v:,} {k}' for k, v in sorted(kinds.items()))})" if kinds else ""
                p99 = agg(rows, "p99_ms")
                self.w(
                    f"| {case} | {peer} | {rows[0]['how']} | {len(rows)} | {cell(agg(rows, 'command_ms'), ' ms')} | "
                    f"{cell(agg(rows, 'window_failed'))} of {cell(agg(rows, 'window_requests'), spread=False)} | "
                    f"{failed:,} of {reqs:,}{why} | {cell(agg(rows, 'p50_ms'), ' ms')} | {cell(p99, ' ms')} | "
                    f"{cell(agg(rows, 'max_ms'), ' ms')} | {cell(agg(rows, 'base_p99_ms'), ' ms')} | "
                    f"{ratio(p99, pm2) if peer != 'PM2' else ''} |"
                )
        self.w()
        self._s12_why(cases)
        for case in cases:
            for peer in ("tend", "tend, notify"):
                rows = self.rows(12, case=case, peer=peer)
                if not rows:
                    continue
                failed = sum(r["failed"] for r in rows)
                reqs = sum(r["requests"] for r in rows)
                self.target(12, f"{case}, {peer}: 0 failed requests", f"{failed:,} of {reqs:,}", failed == 0)
                t, pm2 = agg(rows, "p99_ms"), agg(self.rows(12, case=case, peer="PM2"), "p99_ms")
                # PM2's fork mode refuses connections during a restart: the
                # p99 of the requests it did answer is no yardstick.
                if t and pm2 and rows[0]["n"] > 1:
                    self.target(
                        12,
                        f"{case}, {peer}: p99 during the reload ≤ PM2's",
                        f"{num(t[0])} ms vs {num(pm2[0])} ms",
                        t[0] <= pm2[0],
                    )
        self.notes(12)

    def s13(self):
        self.w("## 13. Memory-limit reaction: cgroup mode vs /proc mode")
        self.w()
        self.w(
            "tend as PID 1 of a VM (qemu TCG, one vCPU, 256 MiB; the Debian kernel of the VM tests; tend mounts "
            "cgroup2), the three modes side by side in one boot. The app, `bench/memgrow.c` (static), takes a lock "
            "(one app grows at a time), waits a random 0–1000 ms (a random phase of the /proc sampler), then "
            "touches memory in 256 KiB steps and after each reads the figure tend compares with `max_memory = "
            "\"16M\"`: in cgroup mode its cgroup's memory.current less inactive_file, in /proc mode its RSS. "
            "Two times from the first reading over 16M (CLOCK_MONOTONIC of the VM; where the signal came during "
            "the step that crossed, before the app's own reading, from that step's start: an upper bound, counted "
            "in the column \"in the step\"): **signal**, until an idle sibling memgrow forked before growing (same "
            "cgroup, same process group, asleep) runs its SIGTERM handler: when tend's graceful restart reached "
            "the app; **app**, until the growing app's own handler runs, which in cgroup mode also holds what the "
            "kernel makes a task over memory.high go through (reclaim) before it returns to user space. cgroup mode: PID 1 runs memgrow, memory.high at 16M, memory.events polled. /proc mode: PID 1 "
            "runs an inner tend (`cgroups = \"off\"`, `poll_interval` 1s or 200ms) that runs memgrow. Each sample "
            "is one run; the memory-limit restart starts the next."
        )
        self.w()
        if not self.rows(13):
            self.notes(13)
            return
        self.w(
            "| mode | samples | signal: median | p90 | min | max | app: median | p90 | max | in the step | early "
            "| step that crossed took (median) | signal median / cgroup's |"
        )
        self.w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        cg = agg(self.rows(13, case="cgroup"), "signal_ms")

        def p90(rows, key):
            vals = sorted(r[key] for r in rows if r.get(key) is not None)
            return vals[min(len(vals) - 1, -(-len(vals) * 9 // 10) - 1)] if vals else None

        for case in ("cgroup", "proc, poll 1s", "proc, poll 200ms"):
            rows = self.rows(13, case=case)
            if not rows:
                continue
            s = agg(rows, "signal_ms")
            a = agg(rows, "reaction_ms")
            early = sum(1 for r in rows if r["early"])
            step = agg(rows, "step_ms")
            self.w(
                f"| {case} | {len(rows)} | {num(s[0] if s else None, ' ms')} | {num(p90(rows, 'signal_ms'), ' ms')} | "
                f"{num(s[1] if s else None, ' ms')} | {num(s[2] if s else None, ' ms')} | "
                f"{num(a[0] if a else None, ' ms')} | {num(p90(rows, 'reaction_ms'), ' ms')} | "
                f"{num(a[2] if a else None, ' ms')} | "
                f"{sum(1 for r in rows if r.get('within'))} | {early} | "
                f"{num(step[0] if step else None, ' ms')} | {ratio(s, cg) if case != 'cgroup' else ''} |"
            )
        self.w()
        rows = self.rows(13, case="cgroup")
        if rows:
            after = agg(rows, "after")
            self.w(
                "The cgroup figure can read over the limit before the app holds that much: memory.current counts the "
                "per-CPU charge stock, pages charged ahead of use (up to 64 per CPU), which a charge of another cgroup "
                "on the CPU gives back. So memgrow grows up to 4 more steps after its first reading over the limit "
                "(in both modes); the crossing it notes is the earliest reading, and the cgroup reaction includes "
                f"the growth until the app really holds more than 16M (median {num(after[0]) if after else '–'} "
                "more steps before the signal; the step column gives the time of one step in this VM)."
            )
            self.w()
        s = agg(rows, "signal_ms")
        if s:
            self.target(
                13,
                "cgroup mode: the graceful restart's signal ≤ 20 ms after the crossing (median)",
                f"{num(s[0])} ms (max {num(s[2])})",
                s[0] <= 20,
            )
        for case, poll in (("proc, poll 1s", 1000), ("proc, poll 200ms", 200)):
            p = agg(self.rows(13, case=case), "signal_ms")
            if p:
                self.w(f"For comparison, {case}: {num(p[0])} ms median, where poll/2 = {poll // 2} ms is expected.")
                self.w()
        self.notes(13)

    def _s12_why(self, cases):
        """What the table shows and why, where the run shows it."""
        for case in cases:
            for r in self.rows(12, case=case):
                if r["failed"]:
                    what = "; ".join(
                        f"{n:,} {k}, scheduled at {lo:+,} ms" if n == 1 or lo == hi
                        else f"{n:,} {k}, scheduled from {lo:+,} to {hi:+,} ms"
                        for k, (n, lo, hi) in sorted(r["failed_when"].items())
                    )
                    self.w(f"- {r['peer']}, {case}, run {r['run'] + 1}: {what} (from the command's start).")
        plain = [agg(self.rows(12, case=c, peer="tend"), "max_ms") for c in cases]
        ready = [agg(self.rows(12, case=c, peer="tend, notify"), "max_ms") for c in cases]
        if any(a and b and a[0] > 2 * b[0] for a, b in zip(plain, ready)):
            lost = sum(r["failed"] for r in self.rows(12, peer="tend"))
            self.w(
                "- Why `tend` without `notify` has the higher latency: an instance without `notify` or a health "
                "check is up for tend as soon as its process runs, so tend stops the old process at once and goes on "
                "to the next instance; all the instances are replaced within tens of milliseconds, before the new "
                "Node processes listen. The connections made meanwhile wait in the socket's backlog"
                + (" (none was refused or lost)" if lost == 0 else "")
                + ", but until the first new process accepts, none is answered: the max is about the new processes' "
                "start-up. With `notify = true` the old process stops only once its successor has said READY=1, so "
                "the others serve meanwhile, as in PM2's cluster mode, where the primary waits for the new worker's "
                "`listening`."
            )
        if self.rows(12):
            self.w()

    def _pm2_losses(self):
        """Where PM2's lost lines went, when it lost any (explained from its source)."""
        seen = []
        for p in ("PM2 --time", "PM2"):
            rows = self.rows(11, peer=p)
            lost = sum(r["lost"] for r in rows)
            if lost:
                at_end = sum(r["lost_at_end"] for r in rows)
                seen.append(f"{p} lost {lost:,} lines over {len(rows)} run{'s' if len(rows) > 1 else ''}, "
                            f"{at_end:,} of them at the end")
        if not seen:
            return
        why = []
        if any(r["corrupt"] for r in self.rows(11, peer="PM2 --time")):
            why.append(
                "with `--time`, its `prefixLogWithDate` (lib/God/ForkMode.js) splits each chunk it reads from "
                "the app's pipe at the newlines, drops the piece after the last one and prefixes the others: "
                "a line that a read cut in two loses its head, and its tail is written as a line of its own "
                "(counted corrupt)"
            )
        if any(r["lost_at_end"] for p in ("PM2 --time", "PM2") for r in self.rows(11, peer=p)):
            why.append(
                "when the app exits, PM2 destroys the app's log file streams at once (`forkClose` in "
                "lib/God/ForkMode.js calls `destroy()` on them), so what the daemon still had queued for the "
                "file is dropped: the lines lost at the end (it ignores the streams' back-pressure, hence the "
                "queue and its RSS)"
            )
        self.w("PM2's losses: " + "; ".join(seen) + "." + (" Why: " + "; ".join(why) + "." if why else ""))
        self.w()

    def _cases(self, sc):
        out = []
        for r in self.rows(sc):
            k = (r["peer"], r["case"])
            if k not in out:
                out.append(k)
        return out

    # --- the document ---------------------------------------------------------------

    def render(self, scenarios):
        body_fns = [
            ("1", self.s1),
            ("2", self.s2),
            ("3", self.s3),
            ("4", self.s4),
            ("5", self.s5),
            ("6", self.s6),
            ("7", self.s7),
            ("8", self.s8),
            ("9", self.s9),
            ("10", self.s10),
            ("11", self.s11),
            ("12", self.s12),
            ("13", self.s13),
        ]
        for sc, fn in body_fns:
            if scenarios and sc not in scenarios:
                continue
            fn()
        body = self.out
        self.out = []
        m = self.meta
        self.w("# Benchmarks: tend next to tini, dumb-init, catatonit, s6, runit, supervisord and PM2")
        self.w()
        self.w(f"Written by `bench/run` from {'a `--quick` run (one run each, small N)' if self.b.quick else 'a full run'} "
               f"on {m['date']}. Every number below was measured in that one run, on this machine, every init as "
               "PID 1 of its own PID namespace (`unshare --pid --fork --mount-proc INIT ...`).")
        self.w()
        self.w("| | |")
        self.w("|---|---|")
        self.w(f"| command | `{m['command']}` (took {m['took']}) |")
        self.w(f"| machine | {m['nproc']} CPUs ({m['cpu']}), {m['mem']}, kernel {m['kernel']}, {m['os']} |")
        self.w(f"| date | {m['date']} |")
        self.w(f"| load average | {m.get('load', '?')} |")
        self.w(f"| tend | {m['tend']} |")
        self.w(f"| peers | {m['peers']} |")
        if m.get("skipped"):
            self.w(f"| skipped | {m['skipped']} |")
        self.w()
        self.w("## Targets of issue 6")
        self.w()
        self.w("| scenario | target | tend measured | verdict |")
        self.w("|---:|---|---|---|")
        for sc, text, measured, ok in self.summary:
            v = "report" if ok is None else verdict(ok)
            self.w(f"| {sc} | {text} | {measured} | {v} |")
        self.w()
        missed = [s for s in self.summary if s[3] is False]
        if missed:
            self.w(f"tend misses {len(missed)} of {sum(1 for s in self.summary if s[3] is not None)} targets in this run; "
                   "the numbers above are as measured, and tend was not changed for them.")
        else:
            self.w("tend meets every target measured in this run.")
        self.w()
        self.w("## How it is measured")
        self.w()
        for line in m["method"]:
            self.w(f"- {line}")
        self.w()
        self.out += body
        notes = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "NOTES.md")
        if os.path.exists(notes) and not self.b.quick:
            with open(notes) as f:
                self.out += ["", f.read().rstrip(), ""]
        if self.b.errors:
            self.w("## Errors")
            self.w()
            for sc, peer, msg in self.b.errors:
                self.w(f"- scenario {sc if sc not in (38, 48) else {38: '3/8', 48: '4/8'}[sc]}: {msg}")
            self.w()
        return "\n".join(self.out).rstrip() + "\n"
