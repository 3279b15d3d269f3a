//! What tend reads from /proc: one pass over every process for memory
//! sampling and tree walks, tend's own children, and a process's marker
//! environment variable. Parsers take `&str` so they are unit-tested; the
//! readers skip whatever vanishes or cannot be read (processes exit while
//! being read: that is normal, not an error).

use std::collections::HashMap;
use std::io::Read;

/// The fields of /proc/PID/stat that tend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// Clock ticks after boot: with the pid, identifies a process for good.
    pub start_time: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
    /// CPU time in clock ticks (`clock_ticks` a second): its own in user
    /// and kernel mode, and that of its children it has waited for.
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
}

impl Proc {
    /// Its CPU time and its waited-for children's, in clock ticks: summed
    /// over a tree, this goes on growing when a member reaps a child.
    pub fn cpu_ticks(&self) -> u64 {
        self.utime + self.stime + self.cutime + self.cstime
    }
}

/// Parses the text of /proc/PID/stat. The command name is in parentheses
/// and may itself hold spaces and parentheses, so fields are counted from
/// the last ')'.
pub fn parse_stat(text: &str) -> Option<Proc> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    // rest: " S ppid pgrp session tty tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice threads itreal
    // starttime vsize rss ..." — field 3 of stat(5) is index 0 here.
    let f: Vec<&str> = rest.split_ascii_whitespace().take(22).collect();
    if f.len() < 22 {
        return None;
    }
    Some(Proc {
        pid,
        ppid: f[1].parse().ok()?,
        pgrp: f[2].parse().ok()?,
        session: f[3].parse().ok()?,
        start_time: f[19].parse().ok()?,
        rss_pages: f[21].parse().ok()?,
        utime: f[11].parse().ok()?,
        stime: f[12].parse().ok()?,
        // Signed in stat(5) ("waited-for children"), never negative in practice.
        cutime: f[13].parse::<i64>().ok()?.max(0) as u64,
        cstime: f[14].parse::<i64>().ok()?.max(0) as u64,
    })
}

/// Reads one process's stat; None when it is gone or unreadable.
pub fn read_stat(pid: i32) -> Option<Proc> {
    let mut buf = [0u8; 1024];
    let text = read_small(&format!("/proc/{pid}/stat"), &mut buf)?;
    parse_stat(&text)
}

/// Reads a small /proc file into `buf` with one read; None on any error.
/// Lossy: a command name may be any bytes, and a process must not vanish
/// from its tree because of its name (the fields after it are ASCII).
fn read_small<'a>(path: &str, buf: &'a mut [u8]) -> Option<std::borrow::Cow<'a, str>> {
    let mut file = std::fs::File::open(path).ok()?;
    let n = file.read(buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]))
}

/// Every process visible in /proc, read in one pass, indexed by pid and by
/// parent so that any number of trees can be walked without another pass.
#[derive(Debug, Default)]
pub struct Snapshot {
    procs: Vec<Proc>,
    by_pid: HashMap<i32, usize>,
    children: HashMap<i32, Vec<usize>>,
}

impl Snapshot {
    /// Reads /proc once; what vanishes or cannot be read is skipped.
    pub fn read() -> Snapshot {
        let mut procs = Vec::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            let mut buf = [0u8; 1024];
            for entry in dir.flatten() {
                let name = entry.file_name();
                let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                    continue;
                };
                if let Some(p) =
                    read_small(&format!("/proc/{pid}/stat"), &mut buf).and_then(|t| parse_stat(&t))
                {
                    procs.push(p);
                }
            }
        }
        Snapshot::from_procs(procs)
    }

    /// Indexes a list of processes (for tests and for `read`).
    pub fn from_procs(procs: Vec<Proc>) -> Snapshot {
        let mut by_pid = HashMap::with_capacity(procs.len());
        let mut children: HashMap<i32, Vec<usize>> = HashMap::new();
        for (i, p) in procs.iter().enumerate() {
            by_pid.insert(p.pid, i);
            children.entry(p.ppid).or_default().push(i);
        }
        Snapshot {
            procs,
            by_pid,
            children,
        }
    }

    /// `roots` (those still present) and all their descendants.
    pub fn tree(&self, roots: &[i32]) -> Vec<Proc> {
        let mut out: Vec<usize> = roots
            .iter()
            .filter_map(|r| self.by_pid.get(r).copied())
            .collect();
        // The ppid links form a forest, so no index is reached twice.
        let mut i = 0;
        while i < out.len() {
            if let Some(kids) = self.children.get(&self.procs[out[i]].pid) {
                out.extend_from_slice(kids);
            }
            i += 1;
        }
        out.into_iter().map(|k| self.procs[k]).collect()
    }

    /// Every process seen.
    pub fn procs(&self) -> &[Proc] {
        &self.procs
    }

    /// True when `pid` was seen.
    pub fn contains(&self, pid: i32) -> bool {
        self.by_pid.contains_key(&pid)
    }
}

/// tend's own children (/proc/self/task/*/children; tend has one thread,
/// so this is one small read).
pub fn own_children() -> Vec<i32> {
    let mut out = Vec::new();
    let mut found = false;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                found = true;
                out.extend(parse_pids(&text));
            }
        }
    }
    if !found {
        // Kernels without CONFIG_PROC_CHILDREN: one pass over /proc.
        let me = std::process::id() as i32;
        out = Snapshot::read()
            .procs
            .iter()
            .filter(|p| p.ppid == me)
            .map(|p| p.pid)
            .collect();
    }
    out
}

/// Parses a space-separated pid list.
pub fn parse_pids(text: &str) -> impl Iterator<Item = i32> + '_ {
    text.split_ascii_whitespace().filter_map(|p| p.parse().ok())
}

/// The value of `key` in /proc/PID/environ, if set.
pub fn environ_var(pid: i32, key: &str) -> Option<String> {
    let data = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    find_var(&data, key)
}

/// Finds `key=value` in a NUL-separated environment block.
pub fn find_var(environ: &[u8], key: &str) -> Option<String> {
    environ.split(|&b| b == 0).find_map(|entry| {
        let rest = entry.strip_prefix(key.as_bytes())?.strip_prefix(b"=")?;
        Some(String::from_utf8_lossy(rest).into_owned())
    })
}

/// Clock ticks per second, the unit of CPU times in /proc/PID/stat.
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

/// Percent of one core that `ticks` of CPU time over `over` of wall time
/// make; 0 over no time at all.
pub fn cpu_percent(ticks: u64, hz: u64, over: std::time::Duration) -> f64 {
    let secs = over.as_secs_f64();
    if secs <= 0.0 || hz == 0 {
        return 0.0;
    }
    ticks as f64 / hz as f64 / secs * 100.0
}

/// Bytes per page, for RSS in pages.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as u64 } else { 4096 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let text = "1234 (my (weird) app) S 1 1234 1234 0 -1 4194560 107 0 0 0 250 31 7 2 20 0 1 0 98765 4280320 321 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        let p = parse_stat(text).unwrap();
        assert_eq!(
            p,
            Proc {
                pid: 1234,
                ppid: 1,
                pgrp: 1234,
                session: 1234,
                start_time: 98765,
                rss_pages: 321,
                utime: 250,
                stime: 31,
                cutime: 7,
                cstime: 2,
            }
        );
        assert_eq!(p.cpu_ticks(), 290);
        // A busy shell loop's line (more fields, as newer kernels write), and a
        // negative children's time, which stat(5) allows.
        let busy = "4242 (sh) R 1 4242 4242 0 -1 4194304 120 0 0 0 1873 12 0 0 20 0 1 0 5531 2523136 224 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let p = parse_stat(busy).unwrap();
        assert_eq!((p.utime, p.stime, p.cpu_ticks()), (1873, 12, 1885));
        let odd = text.replace(" 7 2 20 ", " -1 2 20 ");
        assert_eq!(parse_stat(&odd).map(|p| p.cutime), Some(0));
        assert_eq!(parse_stat("12 (x) S 1 2"), None, "truncated");
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn tree_walk_follows_every_descendant() {
        let p = |pid, ppid| Proc {
            pid,
            ppid,
            pgrp: pid,
            session: pid,
            start_time: 0,
            rss_pages: 1,
            utime: 0,
            stime: 0,
            cutime: 0,
            cstime: 0,
        };
        let snap = Snapshot::from_procs(vec![
            p(1, 0),
            p(10, 1),
            p(11, 10),
            p(12, 11),
            p(20, 1),
            p(13, 10),
        ]);
        let pids = |roots: &[i32]| {
            let mut v: Vec<i32> = snap.tree(roots).iter().map(|p| p.pid).collect();
            v.sort();
            v
        };
        assert_eq!(pids(&[10]), [10, 11, 12, 13]);
        assert_eq!(pids(&[11, 20]), [11, 12, 20]);
        assert!(pids(&[99]).is_empty());
    }

    #[test]
    fn cpu_percent_of_one_core() {
        use std::time::Duration;
        assert_eq!(cpu_percent(100, 100, Duration::from_secs(1)), 100.0);
        assert_eq!(cpu_percent(50, 100, Duration::from_secs(2)), 25.0);
        assert_eq!(
            cpu_percent(300, 100, Duration::from_secs(2)),
            150.0,
            "two cores"
        );
        assert_eq!(cpu_percent(5, 100, Duration::ZERO), 0.0);
    }

    #[test]
    fn environ_lookup() {
        let env = b"PATH=/bin\0TEND_APP=web.1\0TEND_APPX=no\0";
        assert_eq!(find_var(env, "TEND_APP"), Some("web.1".into()));
        assert_eq!(find_var(env, "TEND"), None);
        assert_eq!(parse_pids("3 4 5 \n").collect::<Vec<_>>(), [3, 4, 5]);
    }

    #[test]
    fn reads_this_process() {
        let me = read_stat(std::process::id() as i32).expect("own stat");
        assert_eq!(me.pid as u32, std::process::id());
        assert!(me.rss_pages > 0);
        assert!(Snapshot::read().contains(me.pid));
    }
}
