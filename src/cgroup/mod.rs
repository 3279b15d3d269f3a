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
        // The real root may hold processes (kernel threads) beside its
        // children; any other cgroup must hold none for its controllers to
        // be given to children, and tend moves no process it did not start.
        let root = !dir.join("cgroup.type").exists();
        let others = parse::pids(&read(dir.join("cgroup.procs"))?);
        if !root && !others.is_empty() {
            let _ = write(&dir.join("cgroup.procs"), "0");
            let _ = std::fs::remove_dir(&leaf);
            return Err(format!(
                "{} holds other processes than tend (pid {})",
                dir.display(),
                others[0]
            ));
        }
        let (memory, cpu, pids) = parse::controllers(&read(dir.join("cgroup.controllers"))?);
        let wanted: Vec<&str> = [(memory, "+memory"), (cpu, "+cpu"), (pids, "+pids")]
            .into_iter()
            .filter_map(|(has, c)| has.then_some(c))
            .collect();
        if !wanted.is_empty() {
            write(&dir.join("cgroup.subtree_control"), &wanted.join(" "))?;
        }
        let (memory, cpu, pids) = parse::controllers(&read(dir.join("cgroup.subtree_control"))?);
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

    /// A new cgroup for a run of `spec`, with its limits set; `starts`
    /// names it when the instance's own name is still taken.
    pub fn create(&self, spec: &AppSpec, starts: u64) -> Result<Group, String> {
        let mut dir = self.dir.join(&spec.name);
        if let Err(e) = std::fs::create_dir(&dir) {
            // Left by a run whose last process has just gone, or held by
            // the old run of a replacement.
            let taken = e.kind() == io::ErrorKind::AlreadyExists;
            if !taken || std::fs::remove_dir(&dir).is_err() {
                dir = self.dir.join(format!("{}@{starts}", spec.name));
                std::fs::create_dir(&dir)
                    .map_err(|e| format!("cannot create the cgroup {}: {e}", dir.display()))?;
            } else if let Err(e) = std::fs::create_dir(&dir) {
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
        let events = match self.memory {
            true => Some(File::from(
                open(&dir.join("memory.events"), libc::O_RDONLY).map_err(fail)?,
            )),
            false => None,
        };
        let mut group = Group {
            dir,
            dir_fd,
            procs,
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
    /// The directory, open: clone3 starts the child in it.
    dir_fd: OwnedFd,
    /// cgroup.procs, open for writing: without clone3 the child writes
    /// itself into it between fork and exec.
    procs: OwnedFd,
    /// memory.events, polled (POLLPRI) for the kernel's changes.
    events: Option<File>,
    /// The counters as last read.
    pub seen: MemoryEvents,
}

impl Group {
    /// The directory (for clone3) and cgroup.procs (to join between fork
    /// and exec) of the cgroup, open.
    pub fn fds(&self) -> (RawFd, RawFd) {
        (self.dir_fd.as_raw_fd(), self.procs.as_raw_fd())
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

    /// The pids in the cgroup now.
    pub fn pids(&self) -> Vec<i32> {
        read(self.dir.join("cgroup.procs"))
            .map(|t| parse::pids(&t))
            .unwrap_or_default()
    }

    /// SIGKILL to every process in the cgroup at once (cgroup.kill, Linux
    /// 5.14); false where the kernel has no cgroup.kill.
    pub fn kill(&self) -> bool {
        write(&self.dir.join("cgroup.kill"), "1").is_ok()
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

    /// `pid` is in this cgroup (per /proc/PID/cgroup).
    pub fn holds(&self, pid: i32) -> bool {
        member_of(pid).is_some_and(|d| d == self.dir)
    }

    /// Removes the cgroup once empty; gives it back when a process is
    /// still in it.
    pub fn remove(self) -> Result<(), Group> {
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(_) => Err(self),
        }
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
