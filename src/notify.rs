//! Readiness notification, systemd's sd_notify protocol: apps with
//! `notify = true` get NOTIFY_SOCKET, a datagram socket tend reads in its
//! loop. `READY=1` marks the app ready, `STATUS=...` is shown by `tend
//! status`, `WATCHDOG=1` feeds the watchdog. Every datagram carries its
//! sender's credentials (SO_PASSCRED), so only an app's own tree can speak
//! for it.
//!
//! File descriptors that come with a message (SCM_RIGHTS) are closed as
//! soon as it is read, whoever sent it: tend keeps none (FDSTORE= is not
//! supported), so its fd count does not grow with the number of messages.
//! That close is also how `BARRIER=1` is acknowledged: sd_notify_barrier(3)
//! sends the write end of a pipe and waits for POLLHUP on the read end, so
//! `systemd-notify --ready` returns at once instead of timing out after 5s.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use crate::log;

/// Largest datagram read; sd_notify messages are a few short lines.
const MAX_DATAGRAM: usize = 4096;

/// Most fds one datagram can carry: SCM_MAX_FD in the kernel
/// (include/net/scm.h); sendmsg(2) refuses more, in one or several
/// SCM_RIGHTS headers.
const MAX_FDS: usize = 253;

/// Room for every control message a datagram can bring here: the sender's
/// credentials and up to MAX_FDS fds. Anything cut off (MSG_CTRUNC) is
/// closed by the kernel, never left open in tend.
// SAFETY: CMSG_SPACE is arithmetic on its argument.
const CONTROL_LEN: usize = unsafe {
    libc::CMSG_SPACE(std::mem::size_of::<libc::ucred>() as libc::c_uint)
        + libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<libc::c_int>()) as libc::c_uint)
} as usize;

/// The notification socket, bound to an abstract address the kernel picks
/// (no file to clean up, reachable from the whole network namespace; the
/// credentials decide who may speak).
pub struct NotifySocket {
    fd: OwnedFd,
    /// The NOTIFY_SOCKET value apps get: `@` and the abstract name.
    pub address: String,
    /// A cut-off control message (MSG_CTRUNC) was reported already: say it
    /// once, not once per message.
    told_truncated: Cell<bool>,
}

/// One message: the sender's pid and its `KEY=value` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub pid: i32,
    pub fields: Vec<(String, String)>,
}

impl NotifySocket {
    /// Creates and binds the socket, non-blocking, with SO_PASSCRED on.
    pub fn bind() -> io::Result<NotifySocket> {
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh socket nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let one: libc::c_int = 1;
        // SAFETY: a valid int option for our own socket.
        let rc = unsafe {
            libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_PASSCRED,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == -1 {
            return Err(io::Error::last_os_error());
        }
        // Autobind (a bare address family): the kernel picks a unique
        // abstract name, so tends in sibling PID namespaces, all PID 1,
        // never collide.
        // SAFETY: an all-zero sockaddr_un is valid; only the family is passed.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let family_len = std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
        // SAFETY: addr holds the family; the length says so.
        if unsafe { libc::bind(raw, (&addr as *const libc::sockaddr_un).cast(), family_len) } == -1
        {
            return Err(io::Error::last_os_error());
        }
        let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        // SAFETY: addr and len are valid for the kernel to fill.
        if unsafe { libc::getsockname(raw, (&mut addr as *mut libc::sockaddr_un).cast(), &mut len) }
            == -1
        {
            return Err(io::Error::last_os_error());
        }
        let name_len = (len as usize).saturating_sub(family_len as usize + 1);
        let name: String = addr.sun_path[1..1 + name_len]
            .iter()
            .map(|&c| c as u8 as char)
            .collect();
        Ok(NotifySocket {
            fd,
            address: format!("@{name}"),
            told_truncated: Cell::new(false),
        })
    }

    /// The fd to poll for input.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Every datagram waiting now (bounded per call), with sender pids;
    /// the fds that came with them are closed before this returns.
    pub fn drain(&self) -> Vec<Message> {
        let mut out = Vec::new();
        for _ in 0..64 {
            let mut data = [0u8; MAX_DATAGRAM];
            // u64s keep the buffer aligned for cmsghdr.
            let mut control = [0u64; CONTROL_LEN.div_ceil(8)];
            let mut iov = libc::iovec {
                iov_base: data.as_mut_ptr().cast(),
                iov_len: data.len(),
            };
            // SAFETY: an all-zero msghdr is valid; we point it at live locals.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            // The field is size_t on glibc and socklen_t on musl.
            msg.msg_controllen = std::mem::size_of_val(&control) as _;
            // SAFETY: msg and everything it points to are valid for the call.
            let n = unsafe {
                libc::recvmsg(
                    self.fd.as_raw_fd(),
                    &mut msg,
                    libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
                )
            };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            close_passed_fds(&msg);
            if msg.msg_flags & libc::MSG_CTRUNC != 0 && !self.told_truncated.replace(true) {
                log::warn(
                    "an sd_notify message came with more than tend could receive (file \
                     descriptors beyond its fd limit?); the kernel closed what did not fit",
                );
            }
            let Some(pid) = sender_pid(&msg) else {
                continue;
            };
            let text = String::from_utf8_lossy(&data[..n as usize]);
            out.push(Message {
                pid,
                fields: parse(&text),
            });
        }
        out
    }
}

/// tend's own service manager (systemd with Type=notify), when
/// NOTIFY_SOCKET is set in tend's environment: READY=1, STATUS=,
/// STOPPING=1 go there.
pub struct Parent {
    fd: OwnedFd,
    addr: libc::sockaddr_un,
    len: libc::socklen_t,
}

impl Parent {
    /// From $NOTIFY_SOCKET (a path, or `@name` for an abstract socket).
    pub fn from_env() -> Option<Parent> {
        let target = std::env::var("NOTIFY_SOCKET")
            .ok()
            .filter(|s| !s.is_empty())?;
        // SAFETY: an all-zero sockaddr_un is valid.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes: Vec<u8> = match target.strip_prefix('@') {
            Some(name) => std::iter::once(0).chain(name.bytes()).collect(),
            None => target.bytes().collect(),
        };
        if bytes.len() >= addr.sun_path.len() {
            return None;
        }
        for (dst, src) in addr.sun_path.iter_mut().zip(&bytes) {
            *dst = *src as libc::c_char;
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len()) as libc::socklen_t;
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_UNIX,
                libc::SOCK_DGRAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        if raw < 0 {
            return None;
        }
        // SAFETY: raw is a fresh socket nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Some(Parent { fd, addr, len })
    }

    /// Sends one message; a lost datagram only costs the manager a status.
    pub fn send(&self, msg: &str) {
        // SAFETY: a live buffer and the address built in from_env.
        unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                libc::MSG_NOSIGNAL,
                (&self.addr as *const libc::sockaddr_un).cast(),
                self.len,
            );
        }
    }
}

/// The pid in the SCM_CREDENTIALS control message, if there is one.
fn sender_pid(msg: &libc::msghdr) -> Option<i32> {
    // SAFETY: the CMSG macros walk the control buffer recvmsg filled, within
    // msg_controllen; the data is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_CREDENTIALS
            {
                let cred: libc::ucred = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                return Some(cred.pid);
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// Closes every fd that came with the message (SCM_RIGHTS). tend keeps
/// none, and closing the write end of the pipe that `BARRIER=1` brings is
/// the acknowledgement its sender waits for.
fn close_passed_fds(msg: &libc::msghdr) {
    // SAFETY: as in sender_pid; CMSG_LEN(0) is the header with no data.
    unsafe {
        let header = libc::CMSG_LEN(0) as usize;
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let len = ((*cmsg).cmsg_len as usize).saturating_sub(header);
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                for k in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.add(k));
                    if fd >= 0 {
                        // SAFETY: recvmsg just installed fd in tend's table
                        // for us alone; dropping the OwnedFd closes it.
                        drop(OwnedFd::from_raw_fd(fd));
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
}

/// Parses `KEY=value` lines; lines without `=` are ignored (sd_notify(3)).
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        assert_eq!(
            parse("READY=1\nSTATUS=Serving 3 clients\ngarbage\nWATCHDOG=1"),
            [
                ("READY".to_string(), "1".to_string()),
                ("STATUS".to_string(), "Serving 3 clients".to_string()),
                ("WATCHDOG".to_string(), "1".to_string()),
            ]
        );
    }

    #[test]
    fn a_datagram_arrives_with_its_sender() {
        let sock = NotifySocket::bind().unwrap();
        let name = sock.address.trim_start_matches('@');
        // SAFETY: test-only client socket, same construction as bind().
        let client = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0) };
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in addr.sun_path[1..].iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sa_family_t>() + 1 + name.len();
        let msg = b"READY=1\nSTATUS=up";
        let n = unsafe {
            libc::sendto(
                client,
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&addr as *const libc::sockaddr_un).cast(),
                len as libc::socklen_t,
            )
        };
        assert_eq!(n, msg.len() as isize);
        unsafe { libc::close(client) };
        let got = sock.drain();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].pid as u32, std::process::id());
        assert_eq!(got[0].fields[1], ("STATUS".to_string(), "up".to_string()));
    }

    #[test]
    fn fds_that_come_with_a_message_are_closed_at_once() {
        use std::os::unix::net::UnixDatagram;
        let sock = NotifySocket::bind().unwrap();
        let name = sock.address.trim_start_matches('@');
        // A barrier as sd_notify_barrier(3) makes it: the write end of a
        // pipe goes along, the read end sees POLLHUP once it is closed.
        let mut pipe = [0; 2];
        assert_eq!(
            unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) },
            0
        );
        let (read_end, write_end) = (pipe[0], pipe[1]);
        let client = UnixDatagram::unbound().unwrap();
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (dst, src) in addr.sun_path[1..].iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        let text = b"BARRIER=1";
        let mut iov = libc::iovec {
            iov_base: text.as_ptr() as *mut _,
            iov_len: text.len(),
        };
        let mut control = [0u64; 8];
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_un).cast();
        msg.msg_namelen =
            (std::mem::size_of::<libc::sa_family_t>() + 1 + name.len()) as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(4) } as _;
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(4) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), write_end);
        }
        let n = unsafe { libc::sendmsg(client.as_raw_fd(), &msg, 0) };
        assert_eq!(n, text.len() as isize);
        unsafe { libc::close(write_end) };
        let got = sock.drain();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].fields, [("BARRIER".to_string(), "1".to_string())]);
        let mut pfd = libc::pollfd {
            fd: read_end,
            events: 0,
            revents: 0,
        };
        assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1, "no POLLHUP");
        assert_ne!(pfd.revents & libc::POLLHUP, 0);
        unsafe { libc::close(read_end) };
    }
}
