//! Prefixed logs (`log = "prefix"`): an app's stdout and stderr come through
//! pipes the loop reads, and every line goes out on tend's own stdout or
//! stderr as `NAME | line`, in one write(2), so lines of different apps
//! never mix mid-way. A partial line waits for its end up to `MAX_LINE`
//! bytes, then goes out split; what is left at EOF is flushed.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Longest line kept whole; longer ones are split into lines of this size.
pub const MAX_LINE: usize = 16 * 1024;

/// One pipe from an app to tend's stdout or stderr.
pub struct Pipe {
    read: OwnedFd,
    prefix: String,
    to_stderr: bool,
    partial: Vec<u8>,
}

/// Creates a pipe for an app's stdout (or stderr): the end for the child
/// and the `Pipe` tend reads.
pub fn pipe(app: &str, to_stderr: bool) -> io::Result<(OwnedFd, Pipe)> {
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
        prefix: format!("{app} | "),
        to_stderr,
        partial: Vec::new(),
    };
    Ok((write, pipe))
}

impl Pipe {
    /// The fd to poll for input.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }

    /// Reads what is there and writes out every complete line; returns
    /// false once the pipe is closed (every writer gone) and flushed.
    pub fn pump(&mut self) -> bool {
        let mut buf = [0u8; 8192];
        // A bounded number of reads per turn: a chatty app must not keep
        // the loop from everything else.
        for _ in 0..8 {
            // SAFETY: reading into a live local buffer from our own fd.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n == 0 {
                if !self.partial.is_empty() {
                    let rest = std::mem::take(&mut self.partial);
                    self.emit(&rest);
                }
                return false;
            }
            if n < 0 {
                return matches!(
                    io::Error::last_os_error().kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                );
            }
            let lines = split_lines(&mut self.partial, &buf[..n as usize]);
            for line in lines {
                self.emit(&line);
            }
        }
        true
    }

    /// Writes `prefix line\n` in one write(2) to tend's stdout or stderr.
    fn emit(&self, line: &[u8]) {
        let mut out = Vec::with_capacity(self.prefix.len() + line.len() + 1);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(line);
        out.push(b'\n');
        let fd = if self.to_stderr {
            libc::STDERR_FILENO
        } else {
            libc::STDOUT_FILENO
        };
        let mut done = 0;
        while done < out.len() {
            // SAFETY: writing from a live buffer to a standard fd.
            let n = unsafe { libc::write(fd, out[done..].as_ptr().cast(), out.len() - done) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return; // a closed stdout must not stop supervision
            }
            done += n as usize;
        }
    }
}

/// Appends `data` to `partial` and takes out every complete line (without
/// its newline), splitting any line longer than `MAX_LINE`.
pub fn split_lines(partial: &mut Vec<u8>, data: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for &b in data {
        if b == b'\n' {
            lines.push(std::mem::take(partial));
        } else {
            partial.push(b);
            if partial.len() >= MAX_LINE {
                lines.push(std::mem::take(partial));
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_on_newlines_and_at_the_cap() {
        let mut partial = Vec::new();
        assert_eq!(split_lines(&mut partial, b"one\ntw"), vec![b"one".to_vec()]);
        assert_eq!(partial, b"tw");
        assert_eq!(
            split_lines(&mut partial, b"o\n\nthree"),
            vec![b"two".to_vec(), b"".to_vec()]
        );
        assert_eq!(partial, b"three");

        let mut partial = Vec::new();
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        let lines = split_lines(&mut partial, &long);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.len() == MAX_LINE));
        assert_eq!(partial.len(), 5, "the rest waits for its newline");
    }
}
