//! cgroup v2 (DESIGN.md "Resource control with cgroup v2"): where tend can
//! create cgroups under its own, it moves itself into a leaf (`tend`) and
//! runs each app run in a cgroup of its own beside it. Then a run's tree
//! is its cgroup.procs, its SIGKILL phase is cgroup.kill, its memory and
//! CPU come from memory.stat and cpu.stat, and `max_memory` is memory.high
//! with memory.events polled for the crossing: the kernel says when, tend
//! samples nothing.
//!
//! A run's cgroup is named after its instance (`web.0`); a replacement's
//! new run, which starts while the old one still holds that name, takes
//! `web.0@N` (N its start count), so old and new never share limits.
//!
//! This file makes the syscalls; `parse` reads the files' text.

mod parse;

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub use parse::MemoryEvents;

use crate::config::AppSpec;

/// Where cgroup v2 is mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// statfs(2)'s f_type of a cgroup2 mount.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// tend's own cgroup, under which every run's cgroup is made.
#[derive(Debug)]
pub struct Hierarchy {
    dir: PathBuf,
    /// The controllers enabled for the runs' cgroups.
    pub memory: bool,
    pub cpu: bool,
    pub pids: bool,
}

impl Hierarchy {
    /// Whether `setup` could work here, changing nothing: for `tend
    /// check`, which may run beside the tend it checks for.
    pub fn usable() -> Result<(), String> {
        let dir = own_dir()?;
        let path = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: a NUL in the path", dir.display()))?;
        // SAFETY: a NUL-terminated path; access(2) only reads it.
        match unsafe { libc::access(path.as_ptr(), libc::W_OK) } {
            0 => Ok(()),
            _ => Err(format!(
                "{} cannot be written: {}",
                dir.display(),
                io::Error::last_os_error()
            )),
        }
    }

    /// Takes tend's cgroup for its apps: tend into the leaf `tend`, the
    /// memory, cpu and pids controllers on for the cgroups beside it.
    /// Err says why not, in words for the start-up line.
    pub fn setup() -> Result<Hierarchy, String> {
        let dir = own_dir()?;
        let leaf = dir.join("tend");
        match std::fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", leaf.display())),
        }
        write(&leaf.join("cgroup.procs"), "0")?;
        // Back where it was, when /proc it is after all.
        let undo = |why: String| {
            let _ = write(&dir.join("cgroup.procs"), "0");
            let _ = std::fs::remove_dir(&leaf);
            why
        };
        // The real root may hold processes (kernel threads) beside its
        // children; any other cgroup must hold none for its controllers to
        // be given to children, and tend moves no process it did not start.
        let root = !dir.join("cgroup.type").exists();
        let others = parse::pids(&read(dir.join("cgroup.procs")).map_err(undo)?);
        if let (false, Some(other)) = (root, others.first()) {
            return Err(undo(format!(
                "{} holds other processes than tend (pid {other})",
                dir.display()
            )));
        }
        let available = read(dir.join("cgroup.controllers")).map_err(undo)?;
        let (memory, cpu, pids) = parse::controllers(&available);
        // One at a time: a controller that cannot be given costs only its
        // own limits (said at start), not cgroup mode.
        for (has, c) in [(memory, "+memory"), (cpu, "+cpu"), (pids, "+pids")] {
            if has {
                let _ = write(&dir.join("cgroup.subtree_control"), c);
            }
        }
        let enabled = read(dir.join("cgroup.subtree_control")).map_err(undo)?;
        let (memory, cpu, pids) = parse::controllers(&enabled);
        Ok(Hierarchy {
            dir,
            memory,
            cpu,
            pids,
        })
    }

    /// The directory of tend's cgroup.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A new cgroup for a run of `spec`, with its limits set: named after
    /// the instance, or `NAME@STARTS` while `held` says a run of tend's
    /// still holds that name (the old run of a replacement). A directory
    /// no run holds is a leftover (of an earlier tend) and is replaced.
    pub fn create(
        &self,
        spec: &AppSpec,
        starts: u64,
        held: impl Fn(&Path) -> bool,
    ) -> Result<Group, String> {
        let names = [spec.name.clone(), format!("{}@{starts}", spec.name)];
        // tend's own leaf is held too: an app may be named `tend`.
        let leaf = self.dir.join("tend");
        let dir = names
            .iter()
            .map(|n| self.dir.join(n))
            .find(|d| !held(d) && *d != leaf)
            .ok_or_else(|| format!("the cgroups {} and {} are in use", names[0], names[1]))?;
        if let Err(e) = std::fs::create_dir(&dir) {
            let left = e.kind() == io::ErrorKind::AlreadyExists;
            if !left
                || std::fs::remove_dir(&dir)
                    .and_then(|()| std::fs::create_dir(&dir))
                    .is_err()
            {
                return Err(format!("cannot create the cgroup {}: {e}", dir.display()));
            }
        }
        self.fill(dir, spec)
    }

    /// Sets the limits of `dir` and opens what a run needs of it.
    fn fill(&self, dir: PathBuf, spec: &AppSpec) -> Result<Group, String> {
        let fail = |e: String| {
            let _ = std::fs::remove_dir(&dir);
            e
        };
        let mut limits: Vec<(&str, String)> = Vec::new();
        if self.memory {
            if let Some(high) = spec.max_memory {
                limits.push(("memory.high", high.to_string()));
            }
            if let Some(max) = spec.memory_max {
                limits.push(("memory.max", max.to_string()));
                // What the kernel kills for a run over memory_max is the
                // whole run, as tend would: half an app is worse than none.
                limits.push(("memory.oom.group", "1".into()));
            }
        }
        if let (true, Some(quota)) = (self.cpu, spec.cpu_max) {
            limits.push(("cpu.max", format!("{quota} 100000")));
        }
        if let (true, Some(n)) = (self.pids, spec.pids_max) {
            limits.push(("pids.max", n.to_string()));
        }
        for (file, value) in &limits {
            write(&dir.join(file), value).map_err(fail)?;
        }
        let dir_fd = open(&dir, libc::O_RDONLY | libc::O_DIRECTORY).map_err(fail)?;
        let procs = open(&dir.join("cgroup.procs"), libc::O_WRONLY).map_err(fail)?;
        let spawn = Some((dir_fd, procs));
        let events = match self.memory {
            true => Some(File::from(
                open(&dir.join("memory.events"), libc::O_RDONLY).map_err(fail)?,
            )),
            false => None,
        };
        let mut group = Group {
            dir,
            spawn,
            events,
            seen: MemoryEvents::default(),
        };
        group.seen = group.memory_events().unwrap_or_default();
        Ok(group)
    }
}

/// One run's cgroup.
#[derive(Debug)]
pub struct Group {
    dir: PathBuf,
    /// Until the run is started: the directory, open (clone3 starts the
    /// child in it), and cgroup.procs, open for writing (without clone3
    /// the child writes itself into it between fork and exec).
    spawn: Option<(OwnedFd, OwnedFd)>,
    /// memory.events, polled (POLLPRI) for the kernel's changes.
    events: Option<File>,
    /// The counters as last read.
    pub seen: MemoryEvents,
}

impl Group {
    /// The directory (for clone3) and cgroup.procs (to join between fork
    /// and exec) of the cgroup, open; None once `started`.
    pub fn fds(&self) -> Option<(RawFd, RawFd)> {
        let (dir, procs) = self.spawn.as_ref()?;
        Some((dir.as_raw_fd(), procs.as_raw_fd()))
    }

    /// The run was started (or could not be): its spawn fds close, so a
    /// hundred runs do not hold two hundred fds.
    pub fn started(&mut self) {
        self.spawn = None;
    }

    /// memory.events, to poll for changes.
    pub fn events_fd(&self) -> Option<BorrowedFd<'_>> {
        self.events.as_ref().map(File::as_fd)
    }

    /// The directory, for `tend describe` and for telling members by
    /// /proc/PID/cgroup.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Reads memory.events again (which also re-arms its poll). A file
    /// that cannot be read is no longer polled: a removed cgroup's files
    /// poll ready for ever.
    pub fn memory_events(&mut self) -> Option<MemoryEvents> {
        let file = self.events.as_ref()?;
        let mut buf = [0u8; 256];
        match file.read_at(&mut buf, 0) {
            Ok(n) => Some(MemoryEvents::parse(&String::from_utf8_lossy(&buf[..n]))),
            Err(e) => {
                crate::log::warn(&format!(
                    "{}/memory.events: {e}; its memory limits are no longer watched",
                    self.dir.display()
                ));
                self.events = None;
                None
            }
        }
    }

    /// What the run uses when that is over `limit` (bytes, memory.current
    /// less inactive file pages). memory.stat is read only when
    /// memory.current alone is over: an app whose page cache keeps it at
    /// memory.high raises an event at each charge.
    pub fn memory_over(&self, limit: u64) -> Option<u64> {
        let current = read(self.dir.join("memory.current")).ok()?;
        if current.trim().parse::<u64>().ok()? <= limit {
            return None;
        }
        let stat = read(self.dir.join("memory.stat")).ok()?;
        parse::memory_in_use(&current, &stat).filter(|&used| used > limit)
    }

    /// memory.high back to `max`, for a run being stopped.
    pub fn lift_high(&self) {
        let _ = write(&self.dir.join("memory.high"), "max");
    }

    /// The pids in the cgroup now, and in cgroups an app made below it.
    pub fn pids(&self) -> Vec<i32> {
        let mut pids = Vec::new();
        let mut dirs = vec![self.dir.clone()];
        while let Some(dir) = dirs.pop() {
            if let Ok(text) = read(dir.join("cgroup.procs")) {
                pids.extend(parse::pids(&text));
            }
            if let Ok(entries) = std::fs::read_dir(&dir) {
                dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
            }
        }
        pids
    }

    /// A stop's `sig` to every process in the cgroup, and SIGCONT after it
    /// unless it is SIGKILL or a stop signal (`signals::then_cont`).
    pub fn stop(&self, sig: libc::c_int) {
        self.signal(sig);
        if crate::signals::then_cont(sig) {
            self.signal(libc::SIGCONT);
        }
    }

    /// `sig` to every process in the cgroup, each once; SIGKILL at once
    /// through cgroup.kill (Linux 5.14), else to each pid until none is
    /// left (a process may fork while it is being killed).
    pub fn signal(&self, sig: libc::c_int) {
        if sig == libc::SIGKILL && write(&self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        let passes = if sig == libc::SIGKILL { 3 } else { 1 };
        for _ in 0..passes {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                crate::signals::signal_member(pid, sig, |p| self.holds(p));
            }
        }
    }

    /// Memory in use (bytes, memory.current less inactive file pages) and
    /// CPU time used (microseconds); None where the controller is off.
    pub fn usage(&self) -> (Option<u64>, Option<u64>) {
        let memory = read(self.dir.join("memory.current"))
            .ok()
            .and_then(|c| parse::memory_in_use(&c, &read(self.dir.join("memory.stat")).ok()?));
        let cpu = read(self.dir.join("cpu.stat"))
            .ok()
            .and_then(|s| parse::keyed(&s, "usage_usec"));
        (memory, cpu)
    }

    /// `pid` is in this cgroup or below it (per /proc/PID/cgroup).
    pub fn holds(&self, pid: i32) -> bool {
        member_of(pid).is_some_and(|d| d.starts_with(&self.dir))
    }

    /// Removes the cgroup (and those an app made below it) once empty;
    /// gives it back when a process is still in it.
    pub fn remove(self) -> Result<(), Group> {
        let mut dirs = vec![self.dir.clone()];
        let mut k = 0;
        while let Some(dir) = dirs.get(k) {
            if let Ok(entries) = std::fs::read_dir(dir) {
                let below: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
                dirs.extend(below.into_iter().filter(|p| p.is_dir()));
            }
            k += 1;
        }
        // Deepest first: a cgroup with children cannot go.
        for dir in dirs.iter().rev() {
            match std::fs::remove_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(_) => return Err(self),
            }
        }
        Ok(())
    }
}

/// tend's own cgroup v2 directory, if cgroup v2 is mounted where it goes.
fn own_dir() -> Result<PathBuf, String> {
    let mounted = statfs_type(ROOT).map_err(|e| format!("{ROOT}: {e}"))?;
    match mounted {
        CGROUP2_SUPER_MAGIC => {}
        // cgroup v1: a tmpfs holding one mount per controller, or one.
        TMPFS_MAGIC | CGROUP_SUPER_MAGIC => return Err(format!("{ROOT} is cgroup v1")),
        _ => return Err(format!("{ROOT} is not cgroup2")),
    }
    member_of(std::process::id() as i32)
        .ok_or_else(|| "/proc/self/cgroup has no cgroup v2 line".into())
}

/// The directory of `pid`'s cgroup v2.
pub fn member_of(pid: i32) -> Option<PathBuf> {
    let text = read(format!("/proc/{pid}/cgroup")).ok()?;
    let path = parse::own_path(&text)?;
    Some(Path::new(ROOT).join(path.trim_start_matches('/')))
}

/// In a freshly forked child: joins the cgroup whose cgroup.procs is open
/// as `fd`. Async-signal-safe: one write(2).
pub fn join(fd: RawFd) -> io::Result<()> {
    // SAFETY: fd is open for writing; "0" names the writing process.
    match unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } {
        1 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

fn read(path: impl AsRef<Path>) -> Result<String, String> {
    let path = path.as_ref();
    let mut text = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text)
}

/// Writes `value` to a cgroup file in one write(2), as the kernel wants.
fn write(path: &Path, value: &str) -> Result<(), String> {
    let file = File::from(open(path, libc::O_WRONLY)?);
    match file.write_at(value.as_bytes(), 0) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot write {value:?} to {}: {e}", path.display())),
    }
}

fn open(path: &Path, flags: libc::c_int) -> Result<OwnedFd, String> {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{}: a NUL in the path", path.display()))?;
    // SAFETY: a NUL-terminated path; the fd returned is ours.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return Err(format!("cannot open {}: {e}", path.display()));
    }
    // SAFETY: a new fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn statfs_type(path: &str) -> io::Result<i64> {
    let c = std::ffi::CString::new(path).map_err(io::Error::other)?;
    // SAFETY: zeroed statfs is a valid out-parameter.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a buffer of the right type.
    if unsafe { libc::statfs(c.as_ptr(), &mut buf) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(buf.f_type as i64)
}
