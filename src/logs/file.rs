//! One instance's log file, `NAME.log`, with its rotation. Lines are
//! batched per read of the app's pipe and written with one write(2), and
//! the file is rotated between lines, never inside one: before a line would
//! take the file past `max`, NAME.log becomes NAME.log.1 (older ones shift
//! up, the one beyond `keep` is deleted) and a new NAME.log begins.
//!
//! A write that fails (a full disk, an I/O error) is cut back to the last
//! whole line, its lines are counted as lost, and one warning says so; the
//! next write tries again, and once one works the file itself says how
//! many lines are missing. A file that cannot be opened (an unwritable
//! log_dir) is tried again at most every `RETRY`. Nothing here can stop
//! the loop or the app: the pipe is read and emptied either way.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::stamp::{self, Stamp};
use crate::log::{self, Level};

/// Bytes batched before a write even within one read.
const BATCH: usize = 128 * 1024;
/// How long a file that could not be opened rests before the next try.
const RETRY: Duration = Duration::from_secs(5);

/// An instance's log file and what is waiting to go into it.
pub struct LogFile {
    /// The instance, for warnings.
    name: String,
    path: PathBuf,
    file: Option<File>,
    /// Bytes in the file now.
    size: u64,
    buf: Vec<u8>,
    max: u64,
    keep: u32,
    /// Lines dropped since writes began to fail, and why they failed.
    lost: u64,
    failing: Option<String>,
    /// After a failed open: no new try before then.
    retry_at: Option<Instant>,
}

/// The log file of instance `name` in `dir`: `DIR/NAME.log`.
pub fn path_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.log"))
}

/// The `k`th rotated file of `path` (`NAME.log.K`); `path` itself for 0.
pub fn numbered(path: &Path, k: u32) -> PathBuf {
    if k == 0 {
        return path.to_path_buf();
    }
    let mut p = path.as_os_str().to_owned();
    p.push(format!(".{k}"));
    PathBuf::from(p)
}

impl LogFile {
    /// `DIR/NAME.log`, opened (and DIR made) now; a failure is warned about
    /// and tried again later.
    pub fn new(name: &str, dir: &Path, max: u64, keep: u32) -> LogFile {
        let mut f = LogFile {
            name: name.to_string(),
            path: path_in(dir, name),
            file: None,
            size: 0,
            buf: Vec::new(),
            max,
            keep,
            lost: 0,
            failing: None,
            retry_at: None,
        };
        f.open();
        f
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes new rotation settings (a reload).
    pub fn limits(&mut self, max: u64, keep: u32) {
        (self.max, self.keep) = (max, keep);
    }

    /// Queues one line, `STAMP TAG line`; rotates first when the line
    /// would take the file past its size.
    pub fn push(&mut self, stamp: &Stamp, tag: &str, line: &[u8]) {
        let len = (stamp::LEN + tag.len() + line.len() + 3) as u64;
        let size = self.size + self.buf.len() as u64;
        if size > 0 && size + len > self.max {
            self.flush();
            self.rotate();
        }
        self.buf.extend_from_slice(stamp);
        self.buf.push(b' ');
        self.buf.extend_from_slice(tag.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        if self.buf.len() >= BATCH {
            self.flush();
        }
    }

    /// Writes what is queued.
    pub fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        if self.file.is_none() && self.retry_at.is_none_or(|t| t <= Instant::now()) {
            self.open();
        }
        let Some(file) = &mut self.file else {
            self.drop_batch();
            return;
        };
        match file.write_all(&self.buf) {
            Ok(()) => {
                self.size += self.buf.len() as u64;
                self.buf.clear();
                if self.failing.is_some() {
                    self.recovered();
                }
            }
            Err(e) => {
                // Whatever part of the batch went in is cut off again, so
                // the file ends with a whole line.
                let _ = file.set_len(self.size);
                self.fail(&e, "cannot write");
                self.drop_batch();
            }
        }
    }

    /// Counts the queued lines as lost and forgets them.
    fn drop_batch(&mut self) {
        self.lost += self.buf.iter().filter(|&&b| b == b'\n').count() as u64;
        self.buf.clear();
    }

    /// Warns once per run of failures.
    fn fail(&mut self, e: &io::Error, what: &str) {
        if self.failing.is_none() {
            log::event(
                Level::Warn,
                &self.name,
                "log_failed",
                &format!(
                    "{what} its log file {}: {e}; its lines are dropped (and counted) until that works again",
                    self.path.display()
                ),
            );
        }
        self.failing = Some(e.to_string());
    }

    /// Writes work again: the file and tend's log say what is missing.
    fn recovered(&mut self) {
        let why = self.failing.take().unwrap_or_default();
        let msg = format!("{} log lines lost ({why})", self.lost);
        log::event(Level::Info, &self.name, "log_recovered", &msg);
        self.lost = 0;
        self.push(&stamp::now(), "tend", msg.as_bytes());
        self.flush();
    }

    /// Opens (creates) the file for appending, DIR included.
    fn open(&mut self) {
        let opened = self
            .path
            .parent()
            .map_or(Ok(()), |dir| match dir.exists() && !dir.is_dir() {
                true => Err(io::Error::new(
                    io::ErrorKind::NotADirectory,
                    format!("{} is not a directory", dir.display()),
                )),
                false => std::fs::create_dir_all(dir),
            })
            .and_then(|()| {
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .mode(0o640)
                    .open(&self.path)
            })
            .and_then(|f| Ok((f.metadata()?.len(), f)));
        match opened {
            Ok((size, f)) => {
                (self.file, self.size, self.retry_at) = (Some(f), size, None);
            }
            Err(e) => {
                self.retry_at = Some(Instant::now() + RETRY);
                self.fail(&e, "cannot open");
            }
        }
    }

    /// NAME.log → NAME.log.1 → … → NAME.log.KEEP (deleted beyond), then a
    /// new NAME.log. A rename that fails is warned about; the file then
    /// keeps growing rather than losing lines.
    fn rotate(&mut self) {
        self.file = None;
        let numbered = |k: u32| numbered(&self.path, k);
        let mut result = Ok(());
        if self.keep == 0 {
            result = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(numbered(self.keep));
            for k in (1..self.keep).rev() {
                let _ = std::fs::rename(numbered(k), numbered(k + 1));
            }
            result = result.and(std::fs::rename(&self.path, numbered(1)));
        }
        if let Err(e) = result
            && e.kind() != io::ErrorKind::NotFound
        {
            log::event(
                Level::Warn,
                &self.name,
                "log_rotate_failed",
                &format!("cannot rotate {}: {e}", self.path.display()),
            );
        }
        self.open();
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tend-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    const STAMP: &Stamp = b"2026-12-02T19:00:00.123Z";

    #[test]
    fn rotation_keeps_whole_lines_under_the_size_and_drops_beyond_keep() {
        let dir = temp("rotate");
        let mut f = LogFile::new("web", &dir, 1000, 3);
        for i in 0..200 {
            f.push(STAMP, "out", format!("line {i:04}").as_bytes());
            if i % 7 == 0 {
                f.flush();
            }
        }
        f.flush();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["web.log", "web.log.1", "web.log.2", "web.log.3"]);
        let mut seen = Vec::new();
        for name in ["web.log.3", "web.log.2", "web.log.1", "web.log"] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.len() <= 1000, "{name}: {} bytes", text.len());
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                let n = line
                    .strip_prefix("2026-12-02T19:00:00.123Z out line ")
                    .unwrap();
                seen.push(n.parse::<u32>().unwrap());
            }
        }
        // The newest files hold the newest lines, in order, none missing.
        let first = seen[0];
        assert_eq!(seen, (first..200).collect::<Vec<_>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keep_zero_starts_over_and_a_line_larger_than_the_size_still_goes_in() {
        let dir = temp("keep0");
        let mut f = LogFile::new("web", &dir, 100, 0);
        f.push(STAMP, "out", &[b'a'; 50]);
        f.push(STAMP, "out", &[b'b'; 300]);
        f.flush();
        let text = std::fs::read_to_string(dir.join("web.log")).unwrap();
        assert!(text.contains(&"b".repeat(300)) && !text.contains('a'));
        assert!(!dir.join("web.log.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unopenable_file_counts_lost_lines_and_says_so_once_it_works() {
        let dir = temp("lost");
        std::fs::create_dir_all(dir.parent().unwrap()).unwrap();
        // A file where the directory should be: open fails.
        std::fs::write(&dir, "in the way").unwrap();
        let mut f = LogFile::new("web", &dir, 1 << 20, 5);
        assert!(f.failing.is_some());
        for i in 0..3 {
            f.push(STAMP, "out", format!("gone {i}").as_bytes());
        }
        f.flush();
        assert_eq!(f.lost, 3);
        std::fs::remove_file(&dir).unwrap();
        f.retry_at = None;
        f.push(STAMP, "out", b"back");
        f.flush();
        let text = std::fs::read_to_string(dir.join("web.log")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2026-12-02T19:00:00.123Z out back");
        assert!(
            lines[1].ends_with(&format!(
                " tend 3 log lines lost ({} is not a directory)",
                dir.display()
            )),
            "{text}"
        );
        assert!(f.failing.is_none() && f.lost == 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
