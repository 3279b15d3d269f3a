//! `listen` sockets (DESIGN.md "Sockets and restarts without downtime"):
//! the addresses an app serves, parsed from init.toml, and the listening
//! sockets tend binds for them once and hands to every instance of the app
//! as fds 3, 4, ... (systemd's socket activation). tend never accepts on
//! them; while no instance does, connections wait in the backlog.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

/// Pending connections per socket: the kernel caps it at somaxconn.
const BACKLOG: libc::c_int = 4096;

/// One address to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `tcp://0.0.0.0:8080`, `tcp://[::1]:9090`.
    Tcp(SocketAddr),
    /// `unix:/run/web.sock`.
    Unix(PathBuf),
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "tcp://{a}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Parses `tcp://IP:PORT`, `tcp://[IPv6]:PORT`, `tcp://:PORT` (every
/// address) or `unix:/absolute/path`.
pub fn parse(text: &str) -> Result<Listen, String> {
    let expected =
        "expected tcp://IP:PORT (tcp://0.0.0.0:8080, tcp://[::]:8080) or unix:/ABSOLUTE/PATH";
    if let Some(rest) = text.strip_prefix("tcp://") {
        let rest = match rest.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => rest.to_string(),
        };
        return match rest.parse::<SocketAddr>() {
            Ok(a) => Ok(Listen::Tcp(a)),
            Err(_) => Err(format!("invalid address {text:?}: {expected}")),
        };
    }
    if let Some(path) = text.strip_prefix("unix:") {
        // sun_path holds 107 bytes and a NUL.
        return match path.starts_with('/') && path.len() < 108 {
            true => Ok(Listen::Unix(PathBuf::from(path))),
            false if path.starts_with('/') => Err(format!(
                "invalid address {text:?}: a unix socket path is at most 107 bytes"
            )),
            false => Err(format!("invalid address {text:?}: {expected}")),
        };
    }
    Err(format!("invalid address {text:?}: {expected}"))
}

/// Binds and listens on `addr`. A TCP socket gets SO_REUSEADDR (a restart
/// of tend finds its port in TIME_WAIT). For a unix socket the parent
/// directory is made when missing, and a socket file nobody listens on any
/// more is replaced; one somebody listens on, or any other file, is an
/// error. A unix socket is mode 0666, as systemd makes them.
pub fn bind(addr: &Listen) -> io::Result<OwnedFd> {
    match addr {
        Listen::Tcp(a) => {
            let family = match a {
                SocketAddr::V4(_) => libc::AF_INET,
                SocketAddr::V6(_) => libc::AF_INET6,
            };
            let fd = socket(family)?;
            let one: libc::c_int = 1;
            // SAFETY: setsockopt with a live int on our own socket.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_REUSEADDR,
                    (&one as *const libc::c_int).cast(),
                    size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            let (storage, len) = sockaddr_of(a);
            bind_listen(&fd, &storage, len)?;
            Ok(fd)
        }
        Listen::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            match std::fs::symlink_metadata(path) {
                Ok(m) if m.file_type().is_socket() => {
                    if UnixStream::connect(path).is_ok() {
                        return Err(io::Error::new(
                            io::ErrorKind::AddrInUse,
                            "another process listens on it",
                        ));
                    }
                    std::fs::remove_file(path)?;
                }
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a file that is not a socket is in the way",
                    ));
                }
                Err(_) => {}
            }
            let fd = socket(libc::AF_UNIX)?;
            // SAFETY: a zeroed sockaddr_un is valid; the path fits (parse).
            let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            let bytes = path.as_os_str().as_bytes();
            if bytes.len() >= sun.sun_path.len() {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "path too long"));
            }
            for (d, s) in sun.sun_path.iter_mut().zip(bytes) {
                *d = *s as libc::c_char;
            }
            // SAFETY: sockaddr_un and sockaddr_storage are plain C structs;
            // the copy is within the smaller one's size.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            unsafe {
                std::ptr::copy_nonoverlapping(
                    (&sun as *const libc::sockaddr_un).cast::<u8>(),
                    (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(),
                    size_of::<libc::sockaddr_un>(),
                );
            }
            bind_listen(
                &fd,
                &storage,
                size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
            Ok(fd)
        }
    }
}

fn socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) with constant arguments; the fd is owned at once.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind_listen(
    fd: &OwnedFd,
    addr: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> io::Result<()> {
    // SAFETY: bind and listen on our own socket with a live address.
    unsafe {
        if libc::bind(
            fd.as_raw_fd(),
            (addr as *const libc::sockaddr_storage).cast(),
            len,
        ) != 0
            || libc::listen(fd.as_raw_fd(), BACKLOG) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A TCP address as the C structs bind(2) and connect(2) take.
pub fn sockaddr_of(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: a zeroed sockaddr_storage is valid; each arm writes a struct
    // that fits in it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn addresses_parse_and_print_back() {
        for text in [
            "tcp://0.0.0.0:8080",
            "tcp://[::1]:9090",
            "unix:/run/web.sock",
        ] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
        assert_eq!(parse("tcp://:80").unwrap().to_string(), "tcp://0.0.0.0:80");
        for bad in [
            "0.0.0.0:8080",
            "tcp://localhost:80",
            "tcp://1.2.3.4",
            "tcp://1.2.3.4:99999",
            "unix:relative.sock",
            "udp://0.0.0.0:53",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.contains(&format!("{bad:?}")) && e.contains("expected"),
                "{e}"
            );
        }
        assert!(
            parse(&format!("unix:/{}", "x".repeat(120)))
                .unwrap_err()
                .contains("107 bytes")
        );
    }

    #[test]
    fn a_bound_socket_takes_connections_before_anyone_accepts() {
        let fd = bind(&parse("tcp://127.0.0.1:0").unwrap()).unwrap();
        // The port the kernel chose.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                &mut storage as *mut _ as *mut libc::sockaddr,
                &mut len,
            )
        };
        let sin: libc::sockaddr_in =
            unsafe { std::ptr::read(&storage as *const _ as *const libc::sockaddr_in) };
        let port = u16::from_be(sin.sin_port);
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        client.write_all(b"hi").unwrap();
        let listener = std::net::TcpListener::from(fd);
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = [0u8; 2];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hi");
    }

    #[test]
    fn a_stale_unix_socket_is_replaced_and_a_live_one_is_not() {
        let dir = std::env::temp_dir().join(format!("tend-listen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let addr = Listen::Unix(dir.join("sub/web.sock"));
        let first = bind(&addr).unwrap();
        let e = bind(&addr).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        drop(first);
        let _second = bind(&addr).expect("the stale file is replaced");
        std::fs::remove_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), "x").unwrap();
        assert!(bind(&Listen::Unix(dir.join("file"))).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
