//! The recent lines `tend logs` shows: from an instance's in-memory tail
//! (the last 64 KiB of its lines, for apps that do not log to a file), or
//! from the end of its log files. Both hold lines as the files do,
//! `STAMP TAG line`, so one reader serves both, and lines of several
//! instances merge in time order by their stamps.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::stamp::{self, Stamp};

/// Bytes of lines kept per instance.
pub const TAIL_BYTES: usize = 64 * 1024;
/// Bytes read from the ends of one instance's files at most, for one
/// request: `tend logs -n 1000000` must not make tend read gigabytes.
const FILE_READ_CAP: u64 = 4 << 20;

/// The last lines of one instance, oldest first, each ending in `\n`.
#[derive(Default)]
pub struct Tail {
    bytes: VecDeque<u8>,
}

impl Tail {
    /// Keeps one line, dropping the oldest whole lines beyond the cap.
    pub fn push(&mut self, stamp: &Stamp, tag: &str, line: &[u8]) {
        let line = &line[..line.len().min(TAIL_BYTES - stamp::LEN - tag.len() - 3)];
        self.bytes.extend(stamp);
        self.bytes.push_back(b' ');
        self.bytes.extend(tag.as_bytes());
        self.bytes.push_back(b' ');
        self.bytes.extend(line);
        self.bytes.push_back(b'\n');
        if self.bytes.len() > TAIL_BYTES {
            // Drop the fewest oldest whole lines: up to the first line
            // break at or after the excess (the newest line always fits).
            let over = self.bytes.len() - TAIL_BYTES;
            let end = self
                .bytes
                .iter()
                .skip(over - 1)
                .position(|&b| b == b'\n')
                .map_or(self.bytes.len(), |p| over + p);
            self.bytes.drain(..end);
        }
    }

    /// The last `n` lines.
    pub fn last(&self, n: usize) -> Vec<Vec<u8>> {
        let (a, b) = self.bytes.as_slices();
        let mut all = Vec::with_capacity(a.len() + b.len());
        all.extend_from_slice(a);
        all.extend_from_slice(b);
        last_lines(&all, n)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    }
}

/// The last `n` lines of `path` and, while more are wanted, of its rotated
/// files `path.1`, `path.2`, ..., oldest first. Files that are missing
/// or unreadable give nothing.
pub fn last_in_files(path: &Path, keep: u32, n: usize) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut budget = FILE_READ_CAP;
    for k in 0..=keep {
        if lines.len() >= n || budget == 0 {
            break;
        }
        let p = super::file::numbered(path, k);
        let Ok(bytes) = read_end(&p, budget) else {
            break;
        };
        budget = budget.saturating_sub(bytes.len() as u64 + 1);
        let older = last_lines(&bytes, n - lines.len());
        lines.splice(0..0, older.into_iter().map(<[u8]>::to_vec));
    }
    lines
}

/// The last `cap` bytes of a file at most, from its first whole line.
fn read_end(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(cap);
    f.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    f.take(cap).read_to_end(&mut bytes)?;
    if start > 0 {
        let first = bytes.iter().position(|&b| b == b'\n').map_or(0, |p| p + 1);
        bytes.drain(..first);
    }
    Ok(bytes)
}

/// The last `n` newline-terminated lines of `bytes` (without newlines);
/// a last line without its newline counts too.
pub fn last_lines(bytes: &[u8], n: usize) -> Vec<&[u8]> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut lines: Vec<&[u8]> = body.rsplit(|&b| b == b'\n').take(n).collect();
    lines.reverse();
    lines
}

/// Lines of several instances in time order (stable: the lines of one
/// instance keep their order), each given as (instance, `STAMP TAG line`).
pub fn merge(mut lines: Vec<(usize, Vec<u8>)>) -> Vec<(usize, Vec<u8>)> {
    lines.sort_by(|a, b| a.1[..stamp::LEN.min(a.1.len())].cmp(&b.1[..stamp::LEN.min(b.1.len())]));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp_of(s: &str) -> Stamp {
        s.as_bytes().try_into().unwrap()
    }

    const T1: &str = "2026-12-02T19:00:00.001Z";
    const T2: &str = "2026-12-02T19:00:00.002Z";

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), vec![b"b".as_slice(), b"c"]);
        assert_eq!(last_lines(b"a\nb\nc", 5), vec![b"a".as_slice(), b"b", b"c"]);
        assert!(last_lines(b"", 3).is_empty());
        assert_eq!(last_lines(b"\n", 3), vec![b"".as_slice()]);
        assert!(last_lines(b"a\n", 0).is_empty());
    }

    #[test]
    fn the_tail_keeps_whole_lines_within_its_cap() {
        let mut tail = Tail::default();
        for i in 0..10_000 {
            tail.push(&stamp_of(T1), "out", format!("line {i}").as_bytes());
        }
        assert!(tail.bytes.len() <= TAIL_BYTES);
        assert!(tail.bytes.len() > TAIL_BYTES - 100);
        let last = tail.last(3);
        assert_eq!(last[2], format!("{T1} out line 9999").into_bytes());
        assert_eq!(last[0], format!("{T1} out line 9997").into_bytes());
        // The oldest kept line is whole.
        assert!(tail.bytes.iter().take(stamp::LEN).copied().eq(T1.bytes()));
        // A line longer than the whole tail is cut to fit, alone.
        tail.push(&stamp_of(T2), "err", &vec![b'x'; 100_000]);
        let last = tail.last(5);
        assert_eq!(last.len(), 1);
        assert!(last[0].starts_with(format!("{T2} err xxx").as_bytes()));
        assert!(tail.bytes.len() <= TAIL_BYTES);
    }

    #[test]
    fn merge_orders_by_stamp_and_keeps_each_instance_in_order() {
        let l = |i: usize, t: &str, s: &str| (i, format!("{t} out {s}").into_bytes());
        let merged = merge(vec![
            l(0, T2, "a2"),
            l(0, T2, "a3"),
            l(1, T1, "b1"),
            l(1, T2, "b2"),
        ]);
        let order: Vec<String> = merged
            .iter()
            .map(|(_, l)| String::from_utf8_lossy(&l[29..]).into_owned())
            .collect();
        assert_eq!(order, ["b1", "a2", "a3", "b2"]);
    }

    #[test]
    fn files_are_read_from_the_newest_back() {
        let dir = std::env::temp_dir().join(format!("tend-tail-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("web.log");
        std::fs::write(&p, "c\nd\n").unwrap();
        std::fs::write(dir.join("web.log.1"), "a\nb\n").unwrap();
        let got = last_in_files(&p, 5, 3);
        assert_eq!(got, vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
        assert_eq!(last_in_files(&p, 0, 3).len(), 2, "keep 0: no rotated files");
        assert!(last_in_files(&dir.join("none.log"), 5, 3).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
