//! The syscall half of `watch`: one inotify fd for every app (made only
//! while some app watches), each watched directory by its watch
//! descriptor, and what a change means for which app.
//!
//! inotify watches directories, not trees (inotify(7)): a watched
//! directory is walked, every directory under it that no pattern ignores
//! gets a watch of its own, and a directory that appears later (made or
//! moved in) is walked when its event comes. A watched file, or a path
//! that does not exist yet, is watched through its parent directory,
//! filtered by name: an editor that saves by writing a new file and
//! renaming it over the old one replaces the inode, and a watch on the old
//! inode would go deaf.
//!
//! Bounded: each watch costs kernel memory counted against
//! fs.inotify.max_user_watches; when that runs out (ENOSPC) tend says so
//! once, keeps the watches it made, and the apps run on. When no inotify
//! fd can be made (EMFILE: fs.inotify.max_user_instances or the open-file
//! limit) tend says so and watches nothing until the next reload.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::{Burst, WatchSpec};
use crate::log::{self, Level};

/// The events that are a change (inotify(7)): contents written, files
/// made, removed, renamed, their mode or owner changed.
fn changes() -> AddWatchFlags {
    AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        // Not the events of a file after its last name is gone (nix has
        // no name for it).
        | AddWatchFlags::from_bits_retain(libc::IN_EXCL_UNLINK)
        // A directory only: a file renamed over it is not watched instead.
        | AddWatchFlags::IN_ONLYDIR
}

/// Reads of the inotify fd per loop turn at most (4 KiB each): a storm of
/// changes must not keep the loop from signals and clients; poll(2) says
/// when more is waiting.
const READS_PER_TURN: usize = 16;

/// One event as read: the directory's descriptor, what happened, and the
/// name in that directory it happened to (None: the directory itself).
struct Event<'a> {
    wd: i32,
    mask: AddWatchFlags,
    name: Option<&'a OsStr>,
}

/// The events in `buf`, as inotify(7) lays them out: a 16-byte header
/// (wd, mask, cookie, len), then `len` bytes of name padded with NULs.
/// Parsed here rather than by nix, which copies each name.
fn events(buf: &[u8]) -> impl Iterator<Item = Event<'_>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        let word = |at: usize| -> Option<[u8; 4]> { rest.get(at..at + 4)?.try_into().ok() };
        let (wd, mask, len) = (word(0)?, word(4)?, word(12)?);
        let len = u32::from_ne_bytes(len) as usize;
        let name = rest.get(16..16 + len)?;
        rest = &rest[16 + len..];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        Some(Event {
            wd: i32::from_ne_bytes(wd),
            mask: AddWatchFlags::from_bits_retain(u32::from_ne_bytes(mask)),
            name: (!name.is_empty()).then(|| OsStr::from_bytes(name)),
        })
    })
}

/// Every watch of every app, and their bursts of changes.
#[derive(Default)]
pub struct Watcher {
    /// None while no app watches, or when inotify_init failed.
    fd: Option<Inotify>,
    /// The watched directories, sorted by watch descriptor (a Vec and a
    /// binary search: a map would cost the binary more).
    dirs: Vec<Dir>,
    /// The apps that watch, by app name, each with its burst.
    apps: Vec<Watching>,
    /// This watch set has said the limit ran out, or that some other
    /// directory could not be watched: once each until the next build.
    limit_warned: bool,
    other_warned: bool,
    /// Warnings logged so far (for tests).
    #[cfg(test)]
    warnings: u32,
    /// Tests: add_watch fails with ENOSPC once this many watches exist.
    #[cfg(test)]
    fail_after: Option<usize>,
}

/// One app that watches.
struct Watching {
    app: String,
    spec: WatchSpec,
    burst: Burst,
}

/// One watched directory: its descriptor, where it is, and for whom.
struct Dir {
    wd: WatchDescriptor,
    path: Box<Path>,
    /// Index in `apps`, and which names in it count for that app.
    regs: Vec<(usize, Scope)>,
}

/// Which names in a watched directory are changes for one app.
#[derive(Debug, Clone, PartialEq)]
enum Scope {
    /// Under one of its watched directories: every name its
    /// `watch_ignore` does not leave out; new directories are followed.
    Tree,
    /// The directory of a watched file (or of a path not there yet): only
    /// that name.
    Name(OsString),
}

impl Watcher {
    /// Watches what `wanted` asks (app name, what it watches), replacing
    /// what was watched: each app's pending burst stays, the watches are
    /// made again from scratch when any app's `watch` changed (a walk of
    /// the trees, simpler than telling which watches changed).
    pub fn set(&mut self, wanted: Vec<(String, WatchSpec)>) {
        // A reload that left every `watch` as it was keeps the watches
        // (and their bursts) rather than walking every tree again.
        let same = wanted.len() == self.apps.len()
            && wanted
                .iter()
                .zip(&self.apps)
                .all(|((app, spec), w)| *app == w.app && *spec == w.spec);
        if same && (self.fd.is_some() || self.apps.is_empty()) {
            return;
        }
        let mut old = std::mem::take(&mut self.apps);
        self.apps = wanted
            .into_iter()
            .map(|(app, spec)| {
                let burst = old
                    .iter_mut()
                    .find(|w| w.app == app)
                    .map(|w| std::mem::take(&mut w.burst))
                    .unwrap_or_default();
                Watching { app, spec, burst }
            })
            .collect();
        // Closing the fd drops every watch at once.
        self.fd = None;
        self.dirs.clear();
        self.limit_warned = false;
        self.other_warned = false;
        if self.apps.is_empty() {
            return;
        }
        match Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC) {
            Ok(fd) => self.fd = Some(fd),
            Err(e) => {
                #[cfg(test)]
                {
                    self.warnings += 1;
                }
                log::warn(&format!(
                    "watch: no inotify instance ({e}): nothing is watched until a reload"
                ));
                return;
            }
        }
        self.watch_all();
    }

    /// Watches every path of every app (again: a directory watched already
    /// keeps its watch descriptor).
    fn watch_all(&mut self) {
        for a in 0..self.apps.len() {
            for r in 0..self.apps[a].spec.paths.len() {
                let root = self.apps[a].spec.paths[r].clone();
                self.watch_root(a, &root);
            }
        }
    }

    /// The inotify fd, while there is one.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(AsFd::as_fd)
    }

    /// The earliest restart due, if a change waits for one.
    pub fn deadline(&self) -> Option<Instant> {
        self.apps.iter().filter_map(|w| w.burst.due).min()
    }

    /// An app whose changes have been quiet long enough at `now`, with its
    /// burst; each burst is returned once.
    pub fn take_due(&mut self, now: Instant) -> Option<(String, Burst)> {
        self.apps
            .iter_mut()
            .find_map(|w| w.burst.take_due(now).map(|b| (w.app.clone(), b)))
    }

    /// Reads what the kernel has queued and records each change.
    pub fn read(&mut self, now: Instant) {
        let mut new_dirs = Vec::new();
        let mut overflow = false;
        let mut buf = [0u8; 4096];
        for _ in 0..READS_PER_TURN {
            let Some(fd) = &self.fd else { return };
            match nix::unistd::read(fd, &mut buf) {
                Ok(n) => {
                    for ev in events(&buf[..n]) {
                        overflow |= self.on_event(ev, now, &mut new_dirs);
                    }
                }
                Err(Errno::EINTR) => {}
                // EAGAIN: all read. Nothing else fails a read of 4 KiB
                // from an inotify fd (inotify(7)).
                Err(_) => break,
            }
        }
        if overflow {
            // Events were lost, directories made among them too: every
            // tree is walked again (a known directory keeps its watch),
            // the new ones included.
            self.watch_all();
        } else {
            for (a, dir) in new_dirs {
                self.watch_tree(a, &dir, true);
            }
        }
    }

    /// One event: which apps it is a change for, and which new directory
    /// to walk for which app. True when the kernel's queue overflowed.
    fn on_event(
        &mut self,
        ev: Event<'_>,
        now: Instant,
        new_dirs: &mut Vec<(usize, PathBuf)>,
    ) -> bool {
        if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            for w in &mut self.apps {
                w.burst.change(now, w.spec.delay, None);
            }
            return true;
        }
        if ev.mask.contains(AddWatchFlags::IN_IGNORED) {
            // Its directory is gone (or was unwatched): the descriptor
            // may be given to another directory from now on.
            if let Ok(k) = self.find(ev.wd) {
                self.dirs.remove(k);
            }
            return false;
        }
        let Ok(k) = self.find(ev.wd) else {
            return false;
        };
        let dir = &self.dirs[k];
        let path = match ev.name {
            Some(name) => dir.path.join(name),
            None => dir.path.to_path_buf(),
        };
        let is_dir = ev.mask.contains(AddWatchFlags::IN_ISDIR);
        let arrived = ev
            .mask
            .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO);
        for (a, scope) in &dir.regs {
            let w = &mut self.apps[*a];
            let counts = match (scope, ev.name) {
                (Scope::Tree, Some(name)) => !w.spec.ignores(name),
                (Scope::Tree, None) => true,
                (Scope::Name(n), Some(name)) => n == name,
                (Scope::Name(_), None) => false,
            };
            if counts {
                w.burst.change(now, w.spec.delay, Some(&path));
                if is_dir && arrived {
                    new_dirs.push((*a, path.clone()));
                }
            }
        }
        if is_dir && ev.mask.contains(AddWatchFlags::IN_MOVED_FROM) {
            // Moved away, maybe out of every watched tree: its watches
            // would report changes under a path it no longer has. A move
            // within the tree comes back as IN_MOVED_TO and is walked.
            self.unwatch_under(&path);
        }
        false
    }

    /// Where the directory watched as `wd` is in `dirs`, or would go.
    fn find(&self, wd: i32) -> Result<usize, usize> {
        self.dirs.binary_search_by_key(&wd, |d| d.wd.as_raw())
    }

    /// Drops the watches of `top` and every directory under it.
    fn unwatch_under(&mut self, top: &Path) {
        let fd = &self.fd;
        self.dirs.retain(|d| {
            let under = d.path.starts_with(top);
            if let (true, Some(fd)) = (under, fd) {
                // EINVAL: the kernel dropped it already.
                let _ = fd.rm_watch(d.wd);
            }
            !under
        });
    }

    /// Watches one configured path of app `a`: a directory with its tree;
    /// anything else (a file, a path not there yet) through its parent.
    /// `config::load` made it absolute or `./`-relative: it has a parent.
    fn watch_root(&mut self, a: usize, root: &Path) {
        if std::fs::metadata(root).is_ok_and(|m| m.is_dir()) {
            return self.watch_tree(a, root, false);
        }
        // Not a directory, and no name in one (`missing/..`): not there.
        let (Some(dir), Some(name)) = (root.parent(), root.file_name()) else {
            return self.failed(a, root, Errno::ENOENT, false);
        };
        if let Err(e) = self.add(a, dir, Scope::Name(name.to_os_string()), false) {
            self.failed(a, root, e, false);
        }
    }

    /// Watches `top` and every directory under it that app `a` does not
    /// ignore, without following symbolic links inside (`top` itself may
    /// be one when it is a configured path, not when `inner`). Each
    /// directory is watched before it is listed, so that one made in
    /// between is seen either way.
    fn watch_tree(&mut self, a: usize, top: &Path, inner: bool) {
        let mut stack = vec![(top.to_path_buf(), inner)];
        while let Some((dir, inner)) = stack.pop() {
            match self.add(a, &dir, Scope::Tree, inner) {
                Ok(()) => {}
                // No more watches: neither for the rest of the tree.
                Err(Errno::ENOSPC) => return self.failed(a, &dir, Errno::ENOSPC, true),
                // Gone meanwhile, or replaced by a file: nothing to watch.
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) if inner => continue,
                Err(e) => {
                    self.failed(a, &dir, e, inner);
                    continue;
                }
            }
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let name = path.file_name().unwrap_or_default();
                if entry.file_type().is_ok_and(|t| t.is_dir()) && !self.apps[a].spec.ignores(name) {
                    stack.push((path, true));
                }
            }
        }
    }

    /// One inotify_add_watch(2), recorded for app `a` with `scope`.
    fn add(&mut self, a: usize, dir: &Path, scope: Scope, inner: bool) -> Result<(), Errno> {
        let Some(fd) = &self.fd else {
            return Err(Errno::EBADF);
        };
        #[cfg(test)]
        if self.fail_after.is_some_and(|n| self.dirs.len() >= n) {
            return Err(Errno::ENOSPC);
        }
        let mut flags = changes();
        if inner {
            flags |= AddWatchFlags::IN_DONT_FOLLOW;
        }
        let wd = fd.add_watch(dir, flags)?;
        let k = match self.find(wd.as_raw()) {
            Ok(k) => k,
            Err(k) => {
                let path = dir.into();
                let regs = Vec::with_capacity(1);
                self.dirs.insert(k, Dir { wd, path, regs });
                k
            }
        };
        let regs = &mut self.dirs[k].regs;
        if !regs.iter().any(|(i, s)| *i == a && *s == scope) {
            regs.push((a, scope));
        }
        Ok(())
    }

    /// Watching `path` for app `a` failed. The watch limit running out
    /// (ENOSPC) is said once per watch set, and so is any failure inside a
    /// tree (`inner`: there may be thousands); a configured path's, each.
    fn failed(&mut self, a: usize, path: &Path, e: Errno, inner: bool) {
        let msg = match e {
            Errno::ENOSPC if std::mem::replace(&mut self.limit_warned, true) => return,
            Errno::ENOSPC => format!(
                "inotify watch limit reached after {} directories: changes in the others \
                 are not seen; raise it on the host: sysctl fs.inotify.max_user_watches=524288",
                self.dirs.len()
            ),
            _ if inner && std::mem::replace(&mut self.other_warned, true) => return,
            e => format!("cannot watch {}: {e}", path.display()),
        };
        #[cfg(test)]
        {
            self.warnings += 1;
        }
        log::event(Level::Warn, &self.apps[a].app, "watch", &msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    struct Tmp(PathBuf);
    impl Tmp {
        fn new(name: &str) -> Tmp {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p =
                std::env::temp_dir().join(format!("tend-watch-{name}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Tmp(p)
        }
    }
    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn spec(paths: &[&Path]) -> WatchSpec {
        let mut s = WatchSpec::new(paths.iter().map(|p| p.to_path_buf()).collect());
        s.delay = Duration::from_millis(100);
        s
    }

    /// Reads until the kernel's queue is empty; the apps with a change.
    fn changed(w: &mut Watcher) -> Vec<String> {
        w.read(Instant::now());
        let far = Instant::now() + Duration::from_secs(60);
        let mut apps: Vec<String> = std::iter::from_fn(|| w.take_due(far))
            .map(|(a, _)| a)
            .collect();
        apps.sort();
        apps
    }

    #[test]
    fn trees_are_watched_but_ignored_names_and_their_trees_are_not() {
        let t = Tmp::new("tree");
        for d in ["src/a/b", "node_modules/x/y", ".git/objects"] {
            std::fs::create_dir_all(t.0.join(d)).unwrap();
        }
        let mut w = Watcher::default();
        w.set(vec![("web".into(), spec(&[&t.0]))]);
        assert_eq!(w.warnings, 0);
        // The top, src, src/a, src/a/b.
        assert_eq!(w.dirs.len(), 4);
        assert_eq!(changed(&mut w), Vec::<String>::new());

        std::fs::write(t.0.join("node_modules/x/y/f.js"), "x").unwrap();
        std::fs::write(t.0.join(".git/objects/o"), "x").unwrap();
        std::fs::create_dir(t.0.join("node_modules/new")).unwrap();
        assert_eq!(changed(&mut w), Vec::<String>::new(), "ignored");

        std::fs::write(t.0.join("src/a/b/f.js"), "x").unwrap();
        assert_eq!(changed(&mut w), ["web"]);

        // A directory made after the start is followed, and so is one
        // made inside it before tend walked it.
        std::fs::create_dir_all(t.0.join("src/new/deeper")).unwrap();
        assert_eq!(changed(&mut w), ["web"]);
        std::fs::write(t.0.join("src/new/deeper/g.js"), "x").unwrap();
        assert_eq!(changed(&mut w), ["web"]);

        // Removed: its watches go with it.
        std::fs::remove_dir_all(t.0.join("src/new")).unwrap();
        assert_eq!(changed(&mut w), ["web"]);
        assert_eq!(w.dirs.len(), 4);
    }

    #[test]
    fn the_same_watches_again_keep_the_fd_and_a_change_makes_them_anew() {
        use std::os::fd::AsRawFd;
        let (a, b) = (Tmp::new("same-a"), Tmp::new("same-b"));
        let mut w = Watcher::default();
        w.set(vec![("web".into(), spec(&[&a.0]))]);
        let fd = w.fd().map(|f| f.as_raw_fd());
        assert!(fd.is_some());
        std::fs::write(a.0.join("f"), "x").unwrap();
        w.read(Instant::now());
        // A reload that changed no `watch`: the same fd, the burst kept.
        w.set(vec![("web".into(), spec(&[&a.0]))]);
        assert_eq!(w.fd().map(|f| f.as_raw_fd()), fd);
        assert_eq!(changed(&mut w), ["web"]);
        // Another path: watched from scratch (a new inotify fd).
        w.set(vec![("web".into(), spec(&[&b.0]))]);
        assert_eq!(w.dirs.len(), 1);
        std::fs::write(b.0.join("g"), "x").unwrap();
        assert_eq!(changed(&mut w), ["web"]);
    }

    #[test]
    fn files_are_watched_through_their_directory_by_name() {
        let t = Tmp::new("file");
        let conf = t.0.join("config.json");
        std::fs::write(&conf, "{}").unwrap();
        let mut w = Watcher::default();
        let missing = t.0.join("later.json");
        w.set(vec![("api".into(), spec(&[&conf, &missing]))]);
        assert_eq!(w.dirs.len(), 1, "one watch on their directory");
        std::fs::write(t.0.join("other.json"), "{}").unwrap();
        assert_eq!(changed(&mut w), Vec::<String>::new(), "another name");
        // Saved the way editors do: a new file renamed over the old one.
        std::fs::write(t.0.join(".config.json.tmp"), "{\"a\":1}").unwrap();
        std::fs::rename(t.0.join(".config.json.tmp"), &conf).unwrap();
        assert_eq!(changed(&mut w), ["api"]);
        std::fs::write(&conf, "{\"a\":2}").unwrap();
        assert_eq!(changed(&mut w), ["api"], "still watched after the rename");
        std::fs::write(&missing, "{}").unwrap();
        assert_eq!(changed(&mut w), ["api"], "a path made after the start");
    }

    #[test]
    fn a_directory_moved_out_is_no_longer_watched() {
        let t = Tmp::new("move");
        std::fs::create_dir_all(t.0.join("src/sub")).unwrap();
        std::fs::create_dir_all(t.0.join("elsewhere")).unwrap();
        let mut w = Watcher::default();
        w.set(vec![("web".into(), spec(&[&t.0.join("src")]))]);
        assert_eq!(w.dirs.len(), 2);
        std::fs::rename(t.0.join("src/sub"), t.0.join("elsewhere/sub")).unwrap();
        assert_eq!(changed(&mut w), ["web"]);
        assert_eq!(w.dirs.len(), 1);
        std::fs::write(t.0.join("elsewhere/sub/f"), "x").unwrap();
        assert_eq!(changed(&mut w), Vec::<String>::new());
        std::fs::rename(t.0.join("elsewhere/sub"), t.0.join("src/back")).unwrap();
        assert_eq!(changed(&mut w), ["web"]);
        std::fs::write(t.0.join("src/back/f"), "y").unwrap();
        assert_eq!(changed(&mut w), ["web"], "moved in: followed");
    }

    #[test]
    fn apps_sharing_a_directory_each_apply_their_own_ignore_list() {
        let t = Tmp::new("shared");
        let mut a = spec(&[&t.0]);
        a.ignore = vec!["*.log".into()];
        let b = spec(&[&t.0]);
        let mut w = Watcher::default();
        w.set(vec![("a".into(), a), ("b".into(), b)]);
        assert_eq!(w.dirs.len(), 1, "one watch descriptor for both");
        std::fs::write(t.0.join("out.log"), "x").unwrap();
        assert_eq!(changed(&mut w), ["b"]);
        std::fs::write(t.0.join("main.js"), "x").unwrap();
        assert_eq!(changed(&mut w), ["a", "b"]);
    }

    #[test]
    fn the_watch_limit_is_one_warning_and_the_watches_made_keep_working() {
        // fs.inotify.max_user_watches is global to the machine: the test
        // makes add_watch fail with ENOSPC after 3 watches instead.
        let t = Tmp::new("limit");
        for k in 0..10 {
            std::fs::create_dir_all(t.0.join(format!("d{k}/e"))).unwrap();
        }
        let mut w = Watcher {
            fail_after: Some(3),
            ..Watcher::default()
        };
        w.set(vec![
            ("web".into(), spec(&[&t.0])),
            ("api".into(), spec(&[&t.0.join("d1")])),
        ]);
        assert_eq!(w.dirs.len(), 3);
        assert_eq!(w.warnings, 1, "one warning");
        assert!(w.limit_warned);
        std::fs::write(t.0.join("f"), "x").unwrap();
        assert_eq!(changed(&mut w), ["web"], "the top is watched");
        // New directories hit the limit too, without another warning.
        std::fs::create_dir(t.0.join("new")).unwrap();
        assert_eq!(changed(&mut w), ["web"]);
        assert_eq!(w.warnings, 1);
        // A reload builds the set again: one warning again.
        w.set(vec![("web".into(), spec(&[&t.0]))]);
        assert_eq!(w.warnings, 2);
        assert_eq!(w.dirs.len(), 3);
    }

    #[test]
    fn the_set_keeps_pending_bursts_and_has_an_fd_only_while_some_app_watches() {
        let t = Tmp::new("set");
        let mut w = Watcher::default();
        w.set(Vec::new());
        assert!(w.fd().is_none(), "no app watches: no fd");
        w.set(vec![("web".into(), spec(&[&t.0]))]);
        assert!(w.fd().is_some());
        std::fs::write(t.0.join("f"), "x").unwrap();
        w.read(Instant::now());
        let due = w.deadline().expect("a change waits");
        w.set(vec![("web".into(), spec(&[&t.0]))]);
        assert_eq!(w.deadline(), Some(due), "a reload keeps the burst");
        std::fs::write(t.0.join("g"), "x").unwrap();
        assert_eq!(changed(&mut w), ["web"], "and watches again");
        w.set(Vec::new());
        assert!(w.fd().is_none());
        assert_eq!(w.deadline(), None);
    }

    #[test]
    fn a_missing_path_in_a_missing_directory_is_a_warning() {
        let mut w = Watcher::default();
        w.set(vec![(
            "web".into(),
            spec(&[Path::new("/nonexistent/tend/dir/x")]),
        )]);
        assert_eq!(w.warnings, 1);
        assert!(w.dirs.is_empty());
        assert!(w.fd().is_some(), "the others would still be watched");
    }
}
