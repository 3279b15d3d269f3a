//! `tend logs` clients once their request is answered: each gets its
//! recent lines, then (with `-f`) every new line of the instances it asked
//! for, until it hangs up. A follower is written without blocking; its
//! queue is bounded, and a line that does not fit is skipped and counted
//! (`... N lines skipped` once there is room again), so a slow or stopped
//! reader never slows tend or an app.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

/// Bytes waiting for one follower before new lines are skipped.
const QUEUE_CAP: usize = 256 * 1024;
/// Followers at once; more get an error.
pub const MAX_FOLLOWERS: usize = 32;

/// One `tend logs` client.
pub struct Follower {
    pub id: u64,
    stream: UnixStream,
    /// The slots it follows; empty once it only drains what it has.
    slots: Vec<usize>,
    /// Keep it after its queue drained: `-f`.
    follow: bool,
    queue: Vec<u8>,
    written: usize,
    skipped: u64,
    /// It hung up or a write failed: dropped after this turn.
    gone: bool,
}

impl Follower {
    /// A client whose answer so far is `queue`.
    pub fn new(
        id: u64,
        stream: UnixStream,
        slots: Vec<usize>,
        follow: bool,
        queue: Vec<u8>,
    ) -> Self {
        let _ = stream.set_nonblocking(true);
        let mut f = Follower {
            id,
            stream,
            slots,
            follow,
            queue,
            written: 0,
            skipped: 0,
            gone: false,
        };
        f.write();
        f
    }

    /// Follows slot `i`.
    pub fn wants(&self, i: usize) -> bool {
        self.follow && self.slots.contains(&i)
    }

    /// The fd to poll, and whether to wait for room to write (else for its
    /// hang-up).
    pub fn poll_fd(&self) -> (BorrowedFd<'_>, bool) {
        (self.stream.as_fd(), self.written < self.queue.len())
    }

    /// True once it is over: hung up, or answered in full without `-f`.
    pub fn done(&self) -> bool {
        self.gone || (!self.follow && self.written >= self.queue.len())
    }

    /// Queues one line made of `parts`, or counts it as skipped.
    pub fn push(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum::<usize>() + 1;
        if self.queue.len() - self.written + len > QUEUE_CAP {
            self.skipped += 1;
            return;
        }
        if self.skipped > 0 {
            let note = format!("... {} lines skipped\n", self.skipped);
            self.queue.extend_from_slice(note.as_bytes());
            self.skipped = 0;
        }
        for p in parts {
            self.queue.extend_from_slice(p);
        }
        self.queue.push(b'\n');
    }

    /// poll(2) found it ready: reads (to see a hang-up) and writes.
    pub fn on_ready(&mut self) {
        let mut buf = [0u8; 256];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => self.gone = true,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => self.gone = true,
            }
            break;
        }
        self.write();
    }

    /// Writes what the socket takes now.
    pub fn write(&mut self) {
        while self.written < self.queue.len() && !self.gone {
            match self.stream.write(&self.queue[self.written..]) {
                Ok(0) => self.gone = true,
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.gone = true,
            }
        }
        if self.written >= self.queue.len() {
            self.queue.clear();
            self.written = 0;
        } else if self.written > QUEUE_CAP / 2 {
            self.queue.drain(..self.written);
            self.written = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_stops_reading_gets_skips_not_a_stall() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut f = Follower::new(1, ours, vec![0], true, b"head\n".to_vec());
        let line = vec![b'x'; 1000];
        let start = std::time::Instant::now();
        for _ in 0..5000 {
            f.push(&[b"web | ", &line]);
            f.write();
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        assert!(f.skipped > 0, "5 MB cannot fit a stopped reader");
        assert!(f.queue.len() <= QUEUE_CAP);
        // The reader comes back: everything it gets is whole lines, and the
        // skip count comes before the next line.
        theirs.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        let skipped = f.skipped;
        for _ in 0..1000 {
            while let Ok(n) = (&theirs).read(&mut buf) {
                got.extend_from_slice(&buf[..n]);
            }
            f.write();
            if f.queue.is_empty() {
                break;
            }
        }
        f.push(&[b"web | ", b"after"]);
        f.write();
        while let Ok(n) = (&theirs).read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(got).unwrap();
        assert!(text.starts_with("head\n"));
        assert!(
            text.ends_with(&format!("... {skipped} lines skipped\nweb | after\n")),
            "{}",
            &text[text.len() - 80..]
        );
        assert!(
            text.lines()
                .skip(1)
                .all(|l| l.len() == 1006 || l.starts_with("...") || l == "web | after")
        );
    }

    #[test]
    fn a_hang_up_ends_it_and_a_plain_answer_ends_when_written() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let mut f = Follower::new(1, ours, vec![0], true, Vec::new());
        assert!(!f.done());
        drop(theirs);
        f.on_ready();
        assert!(f.done());
        let (ours, _theirs) = UnixStream::pair().unwrap();
        let f = Follower::new(2, ours, vec![0], false, b"x\n".to_vec());
        assert!(f.done(), "written at once, no -f");
        assert!(!f.wants(0));
    }
}
