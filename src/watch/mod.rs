//! `watch`: restart an app once the files under its watched paths have
//! changed and then been quiet for `watch_delay` (DESIGN.md "Scheduled
//! and watched restarts").
//!
//! This file is the pure half: what an app asks to be watched
//! (`WatchSpec`), which names its `watch_ignore` leaves out (`ignored`,
//! matched against one path component at a time), and the debounce of one
//! app's burst of changes (`Burst`). `watcher` holds the syscalls: the one
//! inotify fd of all apps, the directories watched, and reading events.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod watcher;

pub use watcher::Watcher;

/// What one app watches, as configured (paths resolved by `config::load`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchSpec {
    /// Files or directories; a directory is watched with everything under
    /// it. Relative to the app's `cwd`, else to the config file's
    /// directory, once loaded; the empty path (`watch = true`) is that
    /// directory itself.
    pub paths: Vec<PathBuf>,
    /// Names or simple globs (`*`, `?`), each matched against one path
    /// component: a file or directory with such a name is not watched.
    pub ignore: Vec<String>,
    /// How long the changes must be quiet before the restart.
    pub delay: Duration,
}

/// What `watch_ignore` is when not set: the two trees that are large and
/// change without the app's code changing.
pub const DEFAULT_IGNORE: [&str; 2] = ["node_modules", ".git"];

/// The default `watch_delay`.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(500);

impl WatchSpec {
    /// `paths` with the default ignore list and delay.
    pub fn new(paths: Vec<PathBuf>) -> WatchSpec {
        WatchSpec {
            paths,
            ignore: DEFAULT_IGNORE.map(String::from).to_vec(),
            delay: DEFAULT_DELAY,
        }
    }

    /// Whether a file or directory named `name` is left out.
    pub fn ignores(&self, name: &OsStr) -> bool {
        ignored(name, &self.ignore)
    }
}

/// Whether `name` (one path component) matches one of `patterns`.
pub fn ignored(name: &OsStr, patterns: &[String]) -> bool {
    patterns.iter().any(|p| glob(p.as_bytes(), name.as_bytes()))
}

/// Whether `name` matches `pattern`, where `*` stands for any run of
/// bytes (none included) and `?` for one byte; every other byte for
/// itself. Iterative, with one backtrack point (the last `*`): linear in
/// practice, and never recursion on an untrusted name.
pub fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                // Let the last `*` take one byte more, and try again.
                Some((sp, sn)) => {
                    star = Some((sp, sn + 1));
                    p = sp + 1;
                    n = sn + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Checks one `watch_ignore` pattern as written: it names one component,
/// so it has no `/`, and it is not empty.
pub fn check_pattern(p: &str) -> Result<(), String> {
    match p.is_empty() || p.contains('/') {
        true => Err(format!(
            "{p:?}: a pattern matches one name: not empty, no '/'"
        )),
        false => Ok(()),
    }
}

/// One app's changes since its last watch restart: the restart is due
/// `delay` after the last change of the burst.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Burst {
    /// When the restart is due; None: no change waits.
    pub due: Option<Instant>,
    /// The path of the burst's first change (None: not known, as when the
    /// kernel's event queue overflowed).
    pub first: Option<PathBuf>,
}

impl Burst {
    /// A change at `now` (of `path`, when known): the quiet period starts
    /// again. Only the first path of a burst is kept (and copied).
    pub fn change(&mut self, now: Instant, delay: Duration, path: Option<&Path>) {
        self.due = Some(now + delay);
        if self.first.is_none() {
            self.first = path.map(Path::to_path_buf);
        }
    }

    /// The burst, once quiet long enough at `now`; it then starts over.
    pub fn take_due(&mut self, now: Instant) -> Option<Burst> {
        match self.due {
            Some(due) if due <= now => Some(std::mem::take(self)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_one_component() {
        let cases = [
            ("node_modules", "node_modules", true),
            ("node_modules", "node_modules2", false),
            ("node_modules", "my_node_modules", false),
            ("*.log", "app.log", true),
            ("*.log", ".log", true),
            ("*.log", "app.log.1", false),
            ("*.log*", "app.log.1", true),
            ("*", "", true),
            ("", "", true),
            ("", "a", false),
            ("?", "a", true),
            ("?", "", false),
            ("?", "ab", false),
            (".*", ".git", true),
            (".*", "git", false),
            ("*~", "main.rs~", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("a*b*c", "abbbc", true),
            ("*.sw?", ".main.rs.swp", true),
            ("[ab]", "a", false),
            ("**", "x", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                glob(pattern.as_bytes(), name.as_bytes()),
                want,
                "{pattern:?} vs {name:?}"
            );
        }
        // No exponential backtracking on a pathological pattern.
        let name = "a".repeat(200);
        assert!(!glob(b"*a*a*a*a*a*a*a*a*a*b", name.as_bytes()));
    }

    #[test]
    fn the_default_ignores_node_modules_and_git() {
        let spec = WatchSpec::new(vec!["src".into()]);
        assert!(spec.ignores(OsStr::new("node_modules")));
        assert!(spec.ignores(OsStr::new(".git")));
        assert!(!spec.ignores(OsStr::new("src")));
        assert!(!spec.ignores(OsStr::new(".gitignore")));
        assert_eq!(spec.delay, Duration::from_millis(500));
        let own = ["*.log".to_string(), "tmp".into()];
        assert!(ignored(OsStr::new("out.log"), &own));
        assert!(ignored(OsStr::new("tmp"), &own));
        assert!(
            !ignored(OsStr::new("node_modules"), &own),
            "a list replaces the default"
        );
    }

    #[test]
    fn patterns_name_one_component() {
        assert!(check_pattern("*.log").is_ok());
        assert!(check_pattern("").is_err());
        let e = check_pattern("src/gen").unwrap_err();
        assert!(e.contains("no '/'"), "{e}");
    }

    #[test]
    fn a_burst_is_due_once_quiet_for_the_delay_after_its_last_change() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let delay = ms(500);
        let mut b = Burst::default();
        assert_eq!(b.take_due(t0), None, "no change, nothing due");
        // 20 edits, 100 ms apart: each one pushes the restart back.
        for k in 0..20 {
            b.change(t0 + ms(100 * k), delay, Some(Path::new(&format!("f{k}"))));
            assert_eq!(b.take_due(t0 + ms(100 * k + 499)), None);
        }
        let last = t0 + ms(1900);
        assert_eq!(b.due, Some(last + delay));
        assert_eq!(b.take_due(last + ms(499)), None);
        let fired = b.take_due(last + delay).expect("due");
        assert_eq!(fired.first, Some("f0".into()));
        assert_eq!(b, Burst::default(), "starts over");
        assert_eq!(b.take_due(last + ms(5000)), None, "once per burst");
    }
}
