//! The cgroup v2 files tend reads, parsed: pure, so tested without a
//! cgroup. Every file is `KEY VALUE` lines (memory.stat, memory.events,
//! cpu.stat), one line per process (cgroup.procs), or `ID:CONTROLLERS:PATH`
//! lines (/proc/PID/cgroup).

/// The cgroup v2 path in a /proc/PID/cgroup text (the `0::PATH` line).
pub fn own_path(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .filter(|p| p.starts_with('/'))
}

/// The value of `key` in a flat-keyed file (memory.stat, cpu.stat,
/// memory.events).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// The pids of a cgroup.procs text.
pub fn pids(text: &str) -> Vec<i32> {
    text.lines().filter_map(|l| l.trim().parse().ok()).collect()
}

/// The counters of memory.events tend acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    /// Times the group went over memory.high (`max_memory`).
    pub high: u64,
    /// Processes the kernel's OOM killer killed in it (`memory_max`).
    pub oom_kill: u64,
}

impl MemoryEvents {
    /// The counters of a memory.events text; a missing one reads 0.
    pub fn parse(text: &str) -> MemoryEvents {
        MemoryEvents {
            high: keyed(text, "high").unwrap_or(0),
            oom_kill: keyed(text, "oom_kill").unwrap_or(0),
        }
    }
}

/// Memory in use as `docker stats` shows it: memory.current less the
/// inactive file pages of memory.stat, which the kernel drops first.
pub fn memory_in_use(current: &str, stat: &str) -> Option<u64> {
    let current: u64 = current.trim().parse().ok()?;
    Some(current.saturating_sub(keyed(stat, "inactive_file").unwrap_or(0)))
}

/// The controllers of a cgroup.controllers or cgroup.subtree_control text
/// that tend uses, as (memory, cpu, pids).
pub fn controllers(text: &str) -> (bool, bool, bool) {
    let has = |c: &str| text.split_whitespace().any(|w| w == c);
    (has("memory"), has("cpu"), has("pids"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_path_is_the_unified_line() {
        let v1 = "4:memory:/docker/abc\n1:name=systemd:/x\n0::/system.slice/tend.service\n";
        assert_eq!(own_path(v1), Some("/system.slice/tend.service"));
        assert_eq!(own_path("0::/\n"), Some("/"));
        assert_eq!(own_path("4:memory:/a\n"), None);
        assert_eq!(own_path("0::\n"), None);
    }

    #[test]
    fn keyed_files() {
        let stat = "anon 1000\nfile 2000\ninactive_file 1500\nactive_file 500\n";
        assert_eq!(keyed(stat, "inactive_file"), Some(1500));
        assert_eq!(keyed(stat, "file"), Some(2000));
        assert_eq!(keyed(stat, "shmem"), None);
        assert_eq!(memory_in_use("5000\n", stat), Some(3500));
        assert_eq!(memory_in_use("1000\n", stat), Some(0));
        assert_eq!(memory_in_use("max\n", stat), None);
        let cpu = "usage_usec 123456\nuser_usec 100000\nsystem_usec 23456\n";
        assert_eq!(keyed(cpu, "usage_usec"), Some(123456));
    }

    #[test]
    fn memory_events() {
        let text = "low 0\nhigh 17\nmax 2\noom 1\noom_kill 1\noom_group_kill 1\n";
        assert_eq!(
            MemoryEvents::parse(text),
            MemoryEvents {
                high: 17,
                oom_kill: 1
            }
        );
        assert_eq!(MemoryEvents::parse(""), MemoryEvents::default());
    }

    #[test]
    fn pids_and_controllers() {
        assert_eq!(pids("12\n345\n\n"), [12, 345]);
        assert_eq!(
            controllers("cpuset cpu io memory pids\n"),
            (true, true, true)
        );
        assert_eq!(controllers("cpuset io hugetlb\n"), (false, false, false));
        assert_eq!(controllers("memory\n"), (true, false, false));
    }
}
