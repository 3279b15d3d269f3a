//! Health probes in flight, the effectful half of health checks. exec
//! probes are children of tend like any other (own session, reaped by the
//! one reaper; on timeout their whole group is killed). tcp and http probes
//! are non-blocking sockets the loop polls; none of them ever blocks it.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Instant;

use nix::unistd::Pid;

/// A probe that has started and not yet given its result.
#[derive(Debug)]
pub enum InFlight {
    /// A command; its result comes from the reaper.
    Exec { pid: Pid, deadline: Instant },
    /// A socket: connecting, then (http) sending and reading the status line.
    Net(NetProbe),
}

impl InFlight {
    /// When the probe counts as failed.
    pub fn deadline(&self) -> Instant {
        match self {
            InFlight::Exec { deadline, .. } => *deadline,
            InFlight::Net(n) => n.deadline,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Stage {
    Connecting,
    Sending(usize),
    Reading,
}

/// A tcp or http probe.
#[derive(Debug)]
pub struct NetProbe {
    sock: OwnedFd,
    stage: Stage,
    /// The HTTP request; None for a plain tcp probe.
    request: Option<Vec<u8>>,
    response: Vec<u8>,
    pub deadline: Instant,
}

/// What a probe step found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    Passed,
    Failed(String),
}

impl NetProbe {
    /// Starts a non-blocking connect to `addr`; with `http`, a GET of
    /// `path` follows. An immediate failure is an `Err` with the reason.
    pub fn start(
        addr: SocketAddr,
        http: Option<(&str, &str)>,
        deadline: Instant,
    ) -> Result<NetProbe, String> {
        let request = http.map(|(host, path)| {
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: tend\r\nConnection: close\r\n\r\n").into_bytes()
        });
        let sock = connect_nonblocking(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
        Ok(NetProbe {
            sock,
            stage: Stage::Connecting,
            request,
            response: Vec::new(),
            deadline,
        })
    }

    /// The fd and whether the probe waits to write (else to read).
    pub fn poll_fd(&self) -> (BorrowedFd<'_>, bool) {
        (self.sock.as_fd(), self.stage != Stage::Reading)
    }

    /// Moves the probe as far as it goes without blocking.
    pub fn step(&mut self) -> Outcome {
        loop {
            match self.stage {
                Stage::Connecting => {
                    if !ready(&self.sock, libc::POLLOUT) {
                        return Outcome::Pending;
                    }
                    if let Some(e) = socket_error(&self.sock) {
                        return Outcome::Failed(format!("connect: {e}"));
                    }
                    if self.request.is_none() {
                        return Outcome::Passed;
                    }
                    self.stage = Stage::Sending(0);
                }
                Stage::Sending(done) => {
                    let req = self.request.as_deref().unwrap_or_default();
                    // SAFETY: writing from a live buffer to our own fd.
                    let n = unsafe {
                        libc::send(
                            self.sock.as_raw_fd(),
                            req[done..].as_ptr().cast(),
                            req.len() - done,
                            libc::MSG_NOSIGNAL,
                        )
                    };
                    if n < 0 {
                        let e = io::Error::last_os_error();
                        return match e.kind() {
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {
                                Outcome::Pending
                            }
                            _ => Outcome::Failed(format!("sending the request: {e}")),
                        };
                    }
                    let done = done + n as usize;
                    self.stage = if done >= req.len() {
                        Stage::Reading
                    } else {
                        Stage::Sending(done)
                    };
                }
                Stage::Reading => {
                    let mut buf = [0u8; 512];
                    // SAFETY: reading into a live local buffer from our own fd.
                    let n = unsafe {
                        libc::recv(self.sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0)
                    };
                    if n < 0 {
                        let e = io::Error::last_os_error();
                        return match e.kind() {
                            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {
                                Outcome::Pending
                            }
                            _ => Outcome::Failed(format!("reading the answer: {e}")),
                        };
                    }
                    let n = n as usize;
                    self.response.extend_from_slice(&buf[..n]);
                    if let Some(outcome) = http_verdict(&self.response) {
                        return outcome;
                    }
                    if n == 0 || self.response.len() > 4096 {
                        return Outcome::Failed("no HTTP status line in the answer".into());
                    }
                }
            }
        }
    }
}

/// The verdict on an HTTP answer once its status line is complete:
/// 2xx and 3xx pass.
pub fn http_verdict(response: &[u8]) -> Option<Outcome> {
    let end = response.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&response[..end]);
    let mut words = line.split_whitespace();
    let code = match (
        words.next(),
        words.next().and_then(|c| c.parse::<u16>().ok()),
    ) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code,
        _ => {
            return Some(Outcome::Failed(format!(
                "not an HTTP status line: {line:?}"
            )));
        }
    };
    Some(if (200..400).contains(&code) {
        Outcome::Passed
    } else {
        Outcome::Failed(format!("HTTP {code}"))
    })
}

/// True when poll(2) says `fd` has `event` (or an error) right now.
fn ready(fd: &OwnedFd, event: libc::c_short) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: event,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

/// The pending error of a socket (SO_ERROR), if any.
fn socket_error(fd: &OwnedFd) -> Option<io::Error> {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: err and len are valid for the kernel to fill.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut err as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    match (rc, err) {
        (0, 0) => None,
        (0, e) => Some(io::Error::from_raw_os_error(e)),
        _ => Some(io::Error::last_os_error()),
    }
}

/// socket(2) + a non-blocking connect(2); EINPROGRESS is success here.
fn connect_nonblocking(addr: SocketAddr) -> io::Result<OwnedFd> {
    let (storage, len) = crate::listen::sockaddr_of(&addr);
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: plain socket(2); the fd is owned right away.
    let fd = unsafe {
        libc::socket(
            family,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: storage holds a valid address of `len` bytes.
    let rc = unsafe {
        libc::connect(
            fd,
            (&storage as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if rc == 0 {
        return Ok(sock);
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        Ok(sock)
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn http_status_lines() {
        assert_eq!(http_verdict(b"HTTP/1.1 200 OK\r\n"), Some(Outcome::Passed));
        assert_eq!(
            http_verdict(b"HTTP/1.0 302 Found\r\nLocation: /\r\n"),
            Some(Outcome::Passed)
        );
        assert_eq!(
            http_verdict(b"HTTP/1.1 503 Busy\r\n"),
            Some(Outcome::Failed("HTTP 503".into()))
        );
        assert_eq!(http_verdict(b"HTTP/1.1 200 O"), None, "incomplete");
        assert!(matches!(
            http_verdict(b"SSH-2.0-x\r\n"),
            Some(Outcome::Failed(_))
        ));
    }

    fn run(mut p: NetProbe) -> Outcome {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            match p.step() {
                Outcome::Pending if Instant::now() < until => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                other => return other,
            }
        }
    }

    #[test]
    fn tcp_and_http_against_a_local_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for reply in [
                "",
                "HTTP/1.1 204 No Content\r\n\r\n",
                "HTTP/1.1 500 Oops\r\n\r\n",
            ] {
                let (mut s, _) = listener.accept().unwrap();
                if !reply.is_empty() {
                    let mut buf = [0u8; 1024];
                    let n = s.read(&mut buf).unwrap();
                    assert!(
                        String::from_utf8_lossy(&buf[..n])
                            .starts_with("GET /health HTTP/1.1\r\nHost: h\r\n")
                    );
                    s.write_all(reply.as_bytes()).unwrap();
                }
            }
        });
        let far = Instant::now() + Duration::from_secs(5);
        assert_eq!(
            run(NetProbe::start(addr, None, far).unwrap()),
            Outcome::Passed
        );
        assert_eq!(
            run(NetProbe::start(addr, Some(("h", "/health")), far).unwrap()),
            Outcome::Passed
        );
        assert_eq!(
            run(NetProbe::start(addr, Some(("h", "/health")), far).unwrap()),
            Outcome::Failed("HTTP 500".into())
        );
        server.join().unwrap();
        let refused = NetProbe::start(addr, None, far).map(run);
        assert!(
            matches!(refused, Err(_) | Ok(Outcome::Failed(_))),
            "{refused:?}"
        );
    }
}
