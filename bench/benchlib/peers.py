"""One adapter per init: how to run one command under it, how to run N
declared apps under it (where it can), where its binaries are and how to
install it. Adding a peer is one entry in PEERS.

An adapter returns (argv, env) for the namespace, or None when the init
cannot do what is asked (then the scenario skips it and says so).
"""

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEND_BUILT = os.path.join(ROOT, "target/x86_64-unknown-linux-musl/release/tend")
# The binary the runs use: a copy of TEND_BUILT taken once built (set_tend), so a
# rebuild in the tree during a run cannot swap binaries between measurements.
TEND = TEND_BUILT


def set_tend(path):
    global TEND
    TEND = path
    for p in PEERS:
        if isinstance(p, (TendWrapper, Tend)):
            p.needs = (path,)


@dataclass
class Opts:
    """What the apps ask of the supervisor."""

    restart_min: bool = False  # restart at once, at the init's minimum delay
    max_memory_mib: int | None = None  # restart an app whose RSS exceeds this
    pm2_interval_ms: int | None = None  # PM2's memory check interval (default 30 s)


def _env(**extra):
    env = dict(os.environ)
    env.update(extra)
    return env


def _file_bytes(path):
    return os.path.getsize(os.path.realpath(path))


def _libs(paths):
    """Shared libraries (resolved) the binaries load, per ldd."""
    libs = set()
    for p in paths:
        try:
            out = subprocess.run(["ldd", p], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            parts = line.split()
            if "=>" in parts:
                i = parts.index("=>")
                if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                    libs.add(os.path.realpath(parts[i + 1]))
            elif parts and parts[0].startswith("/"):
                libs.add(os.path.realpath(parts[0]))
    return sorted(libs)


def _du(path):
    total = 0
    for dp, _, files in os.walk(path):
        for f in files:
            fp = os.path.join(dp, f)
            if not os.path.islink(fp):
                total += os.path.getsize(fp)
    return total


def _static(path):
    try:
        out = subprocess.run(["file", "-L", path], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return "statically linked" in out or "static-pie" in out


class Peer:
    name = "?"
    kind = "wrapper"  # or "supervisor": the tend row it is compared with
    apt = None  # Debian package
    npm = None  # npm package
    needs = ()  # executables that must exist
    settle = 0.2  # seconds to let the init settle once its apps run
    term_graceful = True  # SIGTERM to the init stops the apps gracefully

    def available(self):
        return all(shutil.which(x) or os.path.exists(x) for x in self.needs)

    def exe(self, name):
        return shutil.which(name) or name

    def version(self):
        if self.apt:
            try:
                return subprocess.run(
                    ["dpkg-query", "-W", "-f=${Version}", self.apt],
                    capture_output=True,
                    text=True,
                    timeout=10,
                ).stdout.strip()
            except (OSError, subprocess.TimeoutExpired):
                return "?"
        return "?"

    def wrap(self, cmd, d):
        """argv, env to run one command as the only child; None if it cannot."""
        return None

    def supervise(self, apps, opts, d):
        """argv, env to run the apps [(name, argv)] with opts; None if it cannot."""
        return None

    def sizes(self):
        """[(label, bytes, note)] for the size table."""
        return []


# --- tend ----------------------------------------------------------------------


class TendWrapper(Peer):
    name = "tend --"
    kind = "wrapper"
    needs = (TEND,)

    def version(self):
        return tend_version()

    def wrap(self, cmd, d):
        return [TEND, "--", *cmd], _env(TEND_SOCKET=os.path.join(d, "tend.sock"))

    def supervise(self, apps, opts, d):
        # Wrapper mode with supervisor flags: a one-app supervisor.
        if len(apps) != 1:
            return None
        flags = []
        if opts.restart_min:
            flags += ["--restart", "always", "--restart-delay", "0s", "--max-restarts", "1000000"]
        if opts.max_memory_mib:
            flags += ["--max-memory", f"{opts.max_memory_mib}M"]
        if opts.pm2_interval_ms:
            return None
        return [TEND, *flags, "--", *apps[0][1]], _env(TEND_SOCKET=os.path.join(d, "tend.sock"))

    def sizes(self):
        try:
            out = subprocess.run(["file", "-L", TEND], capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        static = "statically linked" in out or "static-pie" in out
        stripped = ", stripped" in out
        note = ("static" if static else "NOT static") + (", stripped" if stripped else ", NOT stripped")
        return [("tend", _file_bytes(TEND), note)]


class Tend(Peer):
    name = "tend -c"
    kind = "supervisor"
    needs = (TEND,)

    def version(self):
        return tend_version()

    def supervise(self, apps, opts, d):
        if opts.pm2_interval_ms:
            return None
        lines = ["[tend]", 'poll_interval = "1s"', ""]
        for name, argv in apps:
            lines.append(f"[app.{name}]")
            lines.append("command = " + json.dumps(argv))
            if opts.restart_min:
                lines += ['restart_delay = "0s"', "max_restarts = 1000000"]
            if opts.max_memory_mib:
                lines.append(f'max_memory = "{opts.max_memory_mib}M"')
            lines.append("")
        path = os.path.join(d, "init.toml")
        with open(path, "w") as f:
            f.write("\n".join(lines))
        return [TEND, "-c", path], _env(TEND_SOCKET=os.path.join(d, "tend.sock"))


def tend_version():
    try:
        out = subprocess.run([TEND, "--version"], capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().split()[-1]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


# --- C shims -------------------------------------------------------------------


class Tini(Peer):
    name = "tini"
    apt = "tini"
    needs = ("/usr/bin/tini-static",)

    def wrap(self, cmd, d):
        return ["/usr/bin/tini-static", "--", *cmd], None

    def sizes(self):
        out = [("tini-static", _file_bytes("/usr/bin/tini-static"), "static")]
        if os.path.exists("/usr/bin/tini"):
            libs = _libs(["/usr/bin/tini"])
            out.append(
                (
                    "tini (dynamic)",
                    _file_bytes("/usr/bin/tini"),
                    f"dynamic; {sum(map(_file_bytes, libs)):,} B more in {len(libs)} libraries",
                )
            )
        return out


class DumbInit(Peer):
    name = "dumb-init"
    apt = "dumb-init"
    needs = ("dumb-init",)

    def wrap(self, cmd, d):
        return [self.exe("dumb-init"), "--", *cmd], None

    def sizes(self):
        p = self.exe("dumb-init")
        libs = _libs([p])
        kind = "static" if _static(p) else "dynamic"
        note = kind + (f"; {sum(map(_file_bytes, libs)):,} B more in {len(libs)} libraries" if libs else "")
        return [("dumb-init", _file_bytes(p), note)]


class Catatonit(Peer):
    name = "catatonit"
    apt = "catatonit"
    needs = ("catatonit",)

    def wrap(self, cmd, d):
        return [self.exe("catatonit"), "--", *cmd], None

    def sizes(self):
        p = self.exe("catatonit")
        return [("catatonit", _file_bytes(p), "static" if _static(p) else "dynamic")]


# --- supervisors ---------------------------------------------------------------


def _service_dirs(root, apps):
    """daemontools-style service directories: NAME/run = sh exec'ing the app."""
    os.makedirs(root, exist_ok=True)
    for name, argv in apps:
        sd = os.path.join(root, name)
        os.makedirs(sd, exist_ok=True)
        run = os.path.join(sd, "run")
        with open(run, "w") as f:
            f.write("#!/bin/sh\nexec " + shlex.join(argv) + "\n")
        os.chmod(run, 0o755)


class S6(Peer):
    name = "s6"
    kind = "supervisor"
    apt = "s6"
    needs = ("s6-svscan", "s6-supervise")

    def supervise(self, apps, opts, d):
        # s6-supervise waits 1 s before restarting a service that died within
        # 1 s of its start: that is its minimum delay. No memory limit.
        if opts.max_memory_mib or opts.pm2_interval_ms:
            return None
        root = os.path.join(d, "s6")
        _service_dirs(root, apps)
        # -c: room for this many services (default 500)
        return [self.exe("s6-svscan"), "-c", str(max(500, 2 * len(apps))), root], None

    def sizes(self):
        bins = [self.exe("s6-svscan"), self.exe("s6-supervise")]
        libs = _libs(bins)
        return [
            (
                "s6 (s6-svscan + s6-supervise)",
                sum(map(_file_bytes, bins)),
                f"dynamic; {sum(map(_file_bytes, libs)):,} B more in {len(libs)} libraries",
            )
        ]


class Runit(Peer):
    name = "runit"
    kind = "supervisor"
    apt = "runit"
    needs = ("runsvdir", "runsv")
    term_graceful = False  # runsvdir exits at once on SIGTERM

    def supervise(self, apps, opts, d):
        # runsv restarts a finished service after 1 s at the soonest.
        if opts.max_memory_mib or opts.pm2_interval_ms:
            return None
        root = os.path.join(d, "runit")
        _service_dirs(root, apps)
        return [self.exe("runsvdir"), root], None

    def sizes(self):
        bins = [self.exe("runsvdir"), self.exe("runsv")]
        libs = _libs(bins)
        return [
            (
                "runit (runsvdir + runsv)",
                sum(map(_file_bytes, bins)),
                f"dynamic; {sum(map(_file_bytes, libs)):,} B more in {len(libs)} libraries",
            )
        ]


class Supervisord(Peer):
    name = "supervisord"
    kind = "supervisor"
    apt = "supervisor"
    needs = ("supervisord",)
    settle = 1.5  # an app is RUNNING for supervisord after startsecs (1 s)

    def supervise(self, apps, opts, d):
        if opts.max_memory_mib or opts.pm2_interval_ms:
            return None  # only with the superlance plugin
        conf = [
            "[supervisord]",
            "nodaemon=true",
            f"logfile={d}/supervisord.log",
            f"pidfile={d}/supervisord.pid",
            f"childlogdir={d}",
            "minfds=16384",
            "",
        ]
        for name, argv in apps:
            conf.append(f"[program:{name}]")
            conf.append("command=" + shlex.join(argv))
            if opts.restart_min:
                conf += ["startsecs=0", "autorestart=true", "startretries=1000000"]
            conf.append("")
        path = os.path.join(d, "supervisord.conf")
        with open(path, "w") as f:
            f.write("\n".join(conf))
        return [self.exe("supervisord"), "-n", "-c", path], None

    def sizes(self):
        py = os.path.realpath("/usr/bin/python3")
        pkg = "/usr/lib/python3/dist-packages/supervisor"
        return [
            (
                "supervisord (python3 + supervisor package)",
                _file_bytes(py) + _du(pkg),
                f"{os.path.basename(py)} {_file_bytes(py):,} B + package {_du(pkg):,} B; plus the Python stdlib",
            )
        ]


class PM2(Peer):
    name = "PM2"
    kind = "supervisor"
    npm = "pm2"
    needs = ("pm2-runtime", "node")
    settle = 1.0

    def _dir(self):
        try:
            root = subprocess.run(["npm", "root", "-g"], capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            root = "/usr/lib/node_modules"
        return os.path.join(root or "/usr/lib/node_modules", "pm2")

    def version(self):
        try:
            with open(os.path.join(self._dir(), "package.json")) as f:
                return json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            return "?"

    def supervise(self, apps, opts, d):
        conf = []
        for name, argv in apps:
            a = {
                "name": name,
                "script": argv[0],
                "args": argv[1:],
                "interpreter": "none",
                "autorestart": True,
            }
            if opts.restart_min:
                a.update(restart_delay=0, max_restarts=1000000, min_uptime=0)
            if opts.max_memory_mib:
                a["max_memory_restart"] = f"{opts.max_memory_mib}M"
            conf.append(a)
        path = os.path.join(d, "ecosystem.json")
        with open(path, "w") as f:
            json.dump({"apps": conf}, f)
        home = os.path.join(d, "pm2home")
        env = _env(PM2_HOME=home, HOME=d)
        if opts.pm2_interval_ms:
            env["PM2_WORKER_INTERVAL"] = str(opts.pm2_interval_ms)
        return [self.exe("pm2-runtime"), "start", path], env

    def sizes(self):
        node = os.path.realpath(shutil.which("node") or "/usr/bin/node")
        pkg = self._dir()
        return [
            (
                "PM2 (node + pm2 package)",
                _file_bytes(node) + _du(pkg),
                f"node {_file_bytes(node):,} B + pm2 {_du(pkg):,} B",
            )
        ]


PEERS = [TendWrapper(), Tend(), Tini(), DumbInit(), Catatonit(), S6(), Runit(), Supervisord(), PM2()]
TEND_ROWS = {"wrapper": "tend --", "supervisor": "tend -c"}


def by_name(name):
    for p in PEERS:
        if p.name == name:
            return p
    raise KeyError(name)
