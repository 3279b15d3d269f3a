//! App output through tend: the pipes an app's stdout and stderr go to,
//! read by the loop and cut into lines (a partial line waits for its end up
//! to `MAX_LINE` bytes, then goes out split; what is left at EOF is given
//! too), and the sinks that write lines to tend's own stdout and stderr,
//! whole, so lines of different apps never mix mid-way. Where each line
//! goes is `logs`' business (`LineSink`).
//!
//! The loop must never block on a slow reader of tend's output (a log
//! collector, a paused terminal): lines queue in a bounded `Sink` written
//! without blocking, and while a sink is full the pipes feeding it are not
//! read, so only the chatty apps wait, as they would writing directly.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// Longest line kept whole; longer ones are split into lines of this size.
pub const MAX_LINE: usize = 16 * 1024;
/// Bytes queued for tend's stdout (or stderr) before its pipes pause.
const SINK_CAP: usize = 256 * 1024;

/// How a sink writes without blocking the loop.
enum Target {
    /// A separate non-blocking open file description of a pipe or tty
    /// (reopened through /proc/self/fd, so the apps' shared one stays as is).
    Reopened(OwnedFd),
    /// A socket (e.g. journald's): send(2) with MSG_DONTWAIT.
    Socket(RawFd),
    /// A regular file or /dev/null: writes do not block.
    Plain(RawFd),
}

/// tend's stdout or stderr, with the lines waiting to be written.
pub struct Sink {
    target: Target,
    queue: Vec<u8>,
}

impl Sink {
    /// The sink for standard fd `fd` (1 or 2).
    pub fn new(fd: RawFd) -> Sink {
        // SAFETY: fstat into a local struct.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        let kind = if unsafe { libc::fstat(fd, &mut st) } == 0 {
            st.st_mode & libc::S_IFMT
        } else {
            0
        };
        let target = match kind {
            libc::S_IFSOCK => Target::Socket(fd),
            libc::S_IFIFO | libc::S_IFCHR => {
                let path = format!("/proc/self/fd/{fd}\0");
                // SAFETY: a NUL-terminated path; the fd is owned at once.
                let raw = unsafe {
                    libc::open(
                        path.as_ptr().cast(),
                        libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC,
                    )
                };
                if raw >= 0 {
                    // SAFETY: raw is a fresh fd nobody else owns.
                    Target::Reopened(unsafe { OwnedFd::from_raw_fd(raw) })
                } else {
                    Target::Plain(fd)
                }
            }
            _ => Target::Plain(fd),
        };
        Sink {
            target,
            queue: Vec::new(),
        }
    }

    fn raw(&self) -> RawFd {
        match &self.target {
            Target::Reopened(fd) => fd.as_raw_fd(),
            Target::Socket(fd) | Target::Plain(fd) => *fd,
        }
    }

    /// The fd to poll for POLLOUT while lines wait; None when nothing does.
    pub fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        if self.queue.is_empty() {
            return None;
        }
        match &self.target {
            Target::Reopened(fd) => Some(fd.as_fd()),
            // SAFETY: 1 and 2 stay open for tend's whole life.
            Target::Socket(fd) | Target::Plain(fd) => Some(unsafe { BorrowedFd::borrow_raw(*fd) }),
        }
    }

    /// True when the pipes feeding this sink must wait.
    pub fn full(&self) -> bool {
        self.queue.len() >= SINK_CAP
    }

    /// Queues one line (prefix, text, newline) and writes what it can.
    pub fn push_line(&mut self, prefix: &[u8], line: &[u8]) {
        self.push(&[prefix, line]);
        self.flush();
    }

    /// Queues one line made of `parts`; `flush` writes it.
    pub fn push(&mut self, parts: &[&[u8]]) {
        for p in parts {
            self.queue.extend_from_slice(p);
        }
        self.queue.push(b'\n');
    }

    /// Writes as much of the queue as goes without blocking.
    pub fn flush(&mut self) {
        let mut done = 0;
        while done < self.queue.len() {
            let buf = whole_lines(&self.queue[done..]);
            // SAFETY: writing from a live buffer to an fd we hold.
            let n = unsafe {
                match self.target {
                    Target::Socket(fd) => libc::send(
                        fd,
                        buf.as_ptr().cast(),
                        buf.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    ),
                    _ => libc::write(self.raw(), buf.as_ptr().cast(), buf.len()),
                }
            };
            if n < 0 {
                match io::Error::last_os_error().kind() {
                    io::ErrorKind::Interrupted => continue,
                    io::ErrorKind::WouldBlock => break,
                    // Nobody reads tend's output any more: drop it rather
                    // than hold the apps back forever.
                    _ => done = self.queue.len(),
                }
                continue;
            }
            done += n as usize;
        }
        self.queue.drain(..done);
    }

    /// Before tend exits: keeps writing for at most `limit`.
    pub fn drain(&mut self, limit: Duration) {
        let until = Instant::now() + limit;
        self.flush();
        while !self.queue.is_empty() && Instant::now() < until {
            let mut p = libc::pollfd {
                fd: self.raw(),
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, 50) };
            self.flush();
        }
    }
}

/// The next write: whole lines of at most PIPE_BUF bytes when they fit. A
/// pipe takes such a write whole or not at all, so the other writers of
/// tend's stdout and stderr (tend's event lines, apps writing there
/// directly) never land in the middle of a line. Only a line longer than
/// PIPE_BUF can be split.
fn whole_lines(queue: &[u8]) -> &[u8] {
    const PIPE_BUF: usize = 4096;
    if queue.len() <= PIPE_BUF {
        return queue;
    }
    match queue[..PIPE_BUF].iter().rposition(|&b| b == b'\n') {
        Some(end) => &queue[..=end],
        None => &queue[..PIPE_BUF],
    }
}

/// Where a pipe's lines go (`logs` routes them).
pub trait LineSink {
    /// True while the pipe must not be read: a sink on tend's output is full.
    fn full(&self) -> bool;
    /// A read brought data: the lines that follow arrived now.
    fn begin(&mut self);
    /// One whole line, without its newline.
    fn line(&mut self, line: &[u8]);
    /// The read's lines are all given: write them out.
    fn end(&mut self);
    /// At tend's exit: wait until `until` for room.
    fn drain(&mut self, until: Instant);
}

/// One pipe from an app's stdout or stderr to tend.
pub struct Pipe {
    read: OwnedFd,
    /// Carries the app's stderr (else its stdout).
    pub to_stderr: bool,
    partial: Vec<u8>,
    /// The last read found the pipe empty (EAGAIN).
    empty: bool,
}

/// Creates a pipe for an app's stdout (or stderr): the end for the child
/// and the `Pipe` tend reads.
pub fn pipe(to_stderr: bool) -> io::Result<(OwnedFd, Pipe)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid 2-element array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 just returned these fds; nobody else owns them.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on our own fd.
    unsafe {
        let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
    }
    let pipe = Pipe {
        read,
        to_stderr,
        partial: Vec::new(),
        empty: false,
    };
    Ok((write, pipe))
}

/// Bytes taken per read(2): one pipe's default capacity.
const READ_SIZE: usize = 64 * 1024;

impl Pipe {
    /// The fd to poll for input.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Reads what is there into `out`, line by line, until it is full;
    /// returns false once the pipe is closed (every writer gone) and its
    /// last partial line given.
    pub fn pump(&mut self, out: &mut impl LineSink) -> bool {
        let mut buf = [0u8; READ_SIZE];
        // A bounded number of reads per turn: a chatty app must not keep
        // the loop from everything else.
        for _ in 0..8 {
            if out.full() {
                return true;
            }
            // SAFETY: reading into a live buffer from our own fd.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n == 0 {
                if !self.partial.is_empty() {
                    out.begin();
                    out.line(&std::mem::take(&mut self.partial));
                    out.end();
                }
                return false;
            }
            if n < 0 {
                let kind = io::Error::last_os_error().kind();
                self.empty = kind == io::ErrorKind::WouldBlock;
                return matches!(kind, io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock);
            }
            self.empty = false;
            out.begin();
            split_lines(&mut self.partial, &buf[..n as usize], |l| out.line(l));
            out.end();
        }
        true
    }

    /// At tend's exit: reads until the pipe is closed (its last partial
    /// line given) or empty for now, waiting for room whenever `out` is
    /// full, until `until`. False once the pipe is closed. One `pump`
    /// stops after a few reads, and a full pipe takes more than that to
    /// reach the end of an app's last line.
    pub fn pump_to_end(&mut self, out: &mut impl LineSink, until: Instant) -> bool {
        loop {
            if !self.pump(out) {
                return false;
            }
            if out.full() {
                out.drain(until);
            }
            if self.empty || out.full() || Instant::now() >= until {
                return true;
            }
        }
    }
}

/// Appends `data` to the line in progress (`partial`) and gives every
/// complete line (without its newline) to `line`; a line longer than
/// `MAX_LINE` goes out in pieces of `MAX_LINE`.
pub fn split_lines(partial: &mut Vec<u8>, data: &[u8], mut line: impl FnMut(&[u8])) {
    let mut rest = data;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let (head, tail) = rest.split_at(nl);
        rest = &tail[1..];
        let whole: &[u8] = if partial.is_empty() {
            head
        } else {
            partial.extend_from_slice(head);
            partial
        };
        let mut pieces = whole.chunks(MAX_LINE);
        match pieces.len() {
            0 => line(b""),
            _ => pieces.by_ref().for_each(&mut line),
        }
        partial.clear();
    }
    partial.extend_from_slice(rest);
    if partial.len() > MAX_LINE {
        let cut = partial.len() - partial.len() % MAX_LINE;
        let cut = if cut == partial.len() {
            cut - MAX_LINE
        } else {
            cut
        };
        partial[..cut].chunks(MAX_LINE).for_each(&mut line);
        partial.drain(..cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_are_whole_lines_up_to_pipe_buf() {
        let short = b"a\nbb\n";
        assert_eq!(whole_lines(short), short);
        let mut many = Vec::new();
        for _ in 0..1000 {
            many.extend_from_slice(b"0123456789\n");
        }
        let first = whole_lines(&many);
        assert!(first.len() <= 4096 && first.ends_with(b"\n"));
        assert_eq!(first.len() % 11, 0);
        let long = vec![b'x'; 10_000];
        assert_eq!(whole_lines(&long).len(), 4096);
    }

    fn split(partial: &mut Vec<u8>, data: &[u8]) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        split_lines(partial, data, |l| lines.push(l.to_vec()));
        lines
    }

    #[test]
    fn lines_are_split_on_newlines_and_at_the_cap() {
        let mut partial = Vec::new();
        assert_eq!(split(&mut partial, b"one\ntw"), vec![b"one".to_vec()]);
        assert_eq!(partial, b"tw");
        assert_eq!(
            split(&mut partial, b"o\n\nthree"),
            vec![b"two".to_vec(), b"".to_vec()]
        );
        assert_eq!(partial, b"three");

        let mut partial = Vec::new();
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let lines = split(&mut partial, &long);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() == MAX_LINE));
        assert_eq!(partial.len(), 5, "the rest waits for its newline");

        // Exactly MAX_LINE then a newline: one line, no empty one after it.
        let mut partial = Vec::new();
        let mut exact = vec![b'y'; MAX_LINE];
        exact.push(b'\n');
        assert_eq!(split(&mut partial, &exact[..100]), Vec::<Vec<u8>>::new());
        let lines = split(&mut partial, &exact[100..]);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert!(partial.is_empty());
        // A line of 2 MAX_LINE + 1 bytes given whole: three pieces.
        let mut partial = Vec::new();
        let mut long = vec![b'z'; MAX_LINE * 2 + 1];
        long.push(b'\n');
        let lens: Vec<usize> = split(&mut partial, &long).iter().map(Vec::len).collect();
        assert_eq!(lens, [MAX_LINE, MAX_LINE, 1]);
    }

    #[test]
    fn a_sink_on_a_stuck_pipe_never_blocks_and_fills_up() {
        let mut fds = [0; 2];
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let mut sink = Sink::new(fds[1]);
        assert!(matches!(sink.target, Target::Reopened(_)));
        let line = vec![b'y'; 1000];
        let started = Instant::now();
        while !sink.full() {
            sink.push_line(b"app | ", &line);
            assert!(started.elapsed() < Duration::from_secs(5), "blocked");
        }
        assert!(sink.poll_fd().is_some());
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }
}
