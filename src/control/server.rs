//! The server side of the control socket. It lives in the supervisor's
//! poll loop and never blocks it: the listener and every connection are
//! non-blocking, requests are capped in size, connections in number, and
//! each connection has a deadline, so a slow or hostile client cannot stall
//! supervision. Only root and tend's own uid (and `[tend] socket_group`)
//! may ask anything (SO_PEERCRED); anyone else gets a refusal.
//!
//! The loop polls the fds `poll_fds` lists, each tagged with a `ControlFd`,
//! and hands every ready one back to `on_ready`; `expire` then drops what
//! is over. A connection is read only when poll says it is ready, except
//! right after accept: a client that connected and wrote at once is
//! answered in the same turn.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::protocol::{CLIENT_TIMEOUT, MAX_REQUEST, Reply, Request, error, parse_request};

/// Connections served at once; more wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// How long the listener rests after accept(2) failed for lack of fds.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// With every slot taken and clients waiting, a connection that has sent
/// nothing for this long gives its slot to the next one: silent clients
/// cannot keep `tend status` out (found by the control fault tests).
const SILENT_GRACE: Duration = Duration::from_millis(250);

/// Which of the server's fds an entry of the poll set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlFd {
    /// The listening socket: a client waits to be accepted.
    Listener,
    /// A connection, by an id that is never reused: an entry for a
    /// connection that is gone cannot reach a newer one on the same fd.
    Client(u64),
}

/// One client connection in progress.
struct Conn {
    id: u64,
    stream: UnixStream,
    input: Vec<u8>,
    /// The client closed its side: no more input will come.
    eof: bool,
    output: Vec<u8>,
    written: usize,
    opened: Instant,
    deadline: Instant,
    /// Answered by a hand-off: leaves the server under this token.
    handoff: Option<u64>,
}

impl Conn {
    /// Has sent nothing and is owed nothing.
    fn silent(&self) -> bool {
        self.input.is_empty() && self.output.is_empty() && !self.eof
    }

    /// Bytes (or EOF) wait to be read.
    fn has_input(&self) -> bool {
        let mut byte = 0u8;
        // SAFETY: peeking one byte into a local from a socket we own.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n >= 0
    }
}

/// Why the control socket could not be bound.
#[derive(Debug)]
pub enum BindError {
    /// A live tend listens on the path; its pid when SO_PEERCRED gave one
    /// (not when it runs in a PID namespace we cannot see into).
    Held { pid: Option<u32> },
    /// Anything else: the directory, the old file, bind, chown, chmod.
    Io(io::Error),
}

impl From<io::Error> for BindError {
    fn from(e: io::Error) -> BindError {
        BindError::Io(e)
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BindError::Held { pid: Some(pid) } => {
                write!(f, "another tend (pid {pid}) is listening on it")
            }
            BindError::Held { pid: None } => f.write_str("another tend is listening on it"),
            BindError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BindError::Held { .. } => None,
            BindError::Io(e) => Some(e),
        }
    }
}

/// The listening socket and the connections being served.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    conns: Vec<Conn>,
    uid: u32,
    group: Option<u32>,
    /// After accept(2) failed (EMFILE...), the listener rests until then
    /// instead of polling readable in a loop.
    accept_pause: Option<Instant>,
    /// The id given to the last connection accepted (ids start at 1).
    next_id: u64,
    /// Connections handed off, until `take_handoffs`.
    handed: Vec<(u64, UnixStream)>,
}

impl Server {
    /// Binds `path` with mode 0600, or 0660 owned by `group` when given. A
    /// stale socket file (nobody answers on it) is replaced; a live one
    /// belongs to another tend: `BindError::Held`, with that tend's pid.
    pub fn bind(path: &Path, group: Option<u32>) -> Result<Server, BindError> {
        if path.exists() {
            match UnixStream::connect(path) {
                // SO_PEERCRED on a connected socket names the process that
                // called listen(2) on the other end: the other tend.
                Ok(conn) => {
                    let pid = peer_cred(&conn).map(|c| c.pid as u32);
                    return Err(BindError::Held {
                        pid: pid.filter(|&p| p != 0),
                    });
                }
                Err(_) => std::fs::remove_file(path)?,
            }
        }
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        // The socket is created with the umask; narrow it before anyone can
        // connect by binding under a umask that leaves only the owner.
        // SAFETY: umask only swaps the process's mask.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above, restoring the previous mask.
        unsafe { libc::umask(old) };
        let listener = bound?;
        let mode = match group {
            Some(gid) => {
                std::os::unix::fs::chown(path, None, Some(gid))?;
                0o660
            }
            None => 0o600,
        };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: path.to_path_buf(),
            conns: Vec::new(),
            // SAFETY: getuid has no memory effects.
            uid: unsafe { libc::getuid() },
            group,
            accept_pause: None,
            next_id: 0,
            handed: Vec::new(),
        })
    }

    /// The fds to poll now: (fd, true when waiting to write, which).
    pub fn poll_fds(&self, now: Instant) -> Vec<(BorrowedFd<'_>, bool, ControlFd)> {
        let mut fds = Vec::with_capacity(self.conns.len() + 1);
        let room = self.conns.len() < MAX_CONNECTIONS || self.evictable(now).is_some();
        if room && self.accept_pause.is_none() {
            fds.push((self.listener.as_fd(), false, ControlFd::Listener));
        }
        for c in &self.conns {
            let writing = !c.output.is_empty();
            fds.push((c.stream.as_fd(), writing, ControlFd::Client(c.id)));
        }
        fds
    }

    /// The earliest connection deadline, or when a slot may next be freed
    /// for a waiting client. A slot already free to take is not a deadline:
    /// the listener is polled then, and a waiting client wakes the loop.
    pub fn deadline(&self, now: Instant) -> Option<Instant> {
        let full = self.conns.len() >= MAX_CONNECTIONS;
        let freed = self
            .conns
            .iter()
            .filter(|c| full && c.silent())
            .map(|c| c.opened + SILENT_GRACE)
            .filter(|&t| t > now);
        self.conns
            .iter()
            .map(|c| c.deadline)
            .chain(freed)
            .chain(self.accept_pause)
            .min()
    }

    /// The connection silent the longest, once past the grace period. One
    /// whose request arrived since the last read is not silent.
    fn evictable(&self, now: Instant) -> Option<usize> {
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.silent() && c.opened + SILENT_GRACE <= now && !c.has_input())
            .min_by_key(|(_, c)| c.opened)
            .map(|(i, _)| i)
    }

    /// poll(2) found this fd ready: accept, or read / answer / flush that
    /// client. `handle` turns a complete request into its response. A
    /// client that no longer exists is ignored.
    pub fn on_ready(
        &mut self,
        fd: ControlFd,
        now: Instant,
        mut handle: impl FnMut(Request) -> Reply,
    ) {
        let (uid, group) = (self.uid, self.group);
        match fd {
            ControlFd::Listener => self.accept(now, &mut handle),
            ControlFd::Client(id) => {
                if let Some(c) = self.conns.iter_mut().find(|c| c.id == id) {
                    serve(c, uid, group, &mut handle);
                }
            }
        }
        for k in (0..self.conns.len()).rev() {
            if let Some(token) = self.conns[k].handoff {
                let c = self.conns.swap_remove(k);
                self.handed.push((token, c.stream));
            }
        }
    }

    /// The connections handed off since the last call, with their tokens.
    pub fn take_handoffs(&mut self) -> Vec<(u64, UnixStream)> {
        std::mem::take(&mut self.handed)
    }

    /// Once per loop turn after dispatch: drops finished, late, oversized
    /// and closed connections; ends an accept pause that is over.
    pub fn expire(&mut self, now: Instant) {
        if self.accept_pause.is_some_and(|t| t <= now) {
            self.accept_pause = None;
        }
        // Done, late, oversized, or closed before saying anything: an fd at
        // EOF polls readable forever, so it must not stay.
        self.conns.retain(|c| {
            let done = !c.output.is_empty() && c.written >= c.output.len();
            let gone = c.eof && c.output.is_empty();
            !done && !gone && c.deadline > now && c.input.len() <= MAX_REQUEST
        });
    }

    /// Accepts while there is room (or a silent slot to give away), and
    /// reads each new client at once: its request may already be there.
    fn accept(&mut self, now: Instant, handle: &mut impl FnMut(Request) -> Reply) {
        if self.accept_pause.is_some_and(|t| t > now) {
            return;
        }
        self.accept_pause = None;
        loop {
            let evict = match self.conns.len() < MAX_CONNECTIONS {
                true => None,
                false => match self.evictable(now) {
                    Some(i) => Some(i),
                    None => return,
                },
            };
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if let Some(i) = evict {
                        // Dropping the stream hangs up on the silent client.
                        self.conns.swap_remove(i);
                    }
                    self.next_id += 1;
                    let mut conn = Conn {
                        id: self.next_id,
                        stream,
                        input: Vec::new(),
                        eof: false,
                        output: Vec::new(),
                        written: 0,
                        opened: now,
                        deadline: now + CLIENT_TIMEOUT,
                        handoff: None,
                    };
                    serve(&mut conn, self.uid, self.group, handle);
                    self.conns.push(conn);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // EMFILE and friends: the client waits in the backlog while
                // the listener rests a little.
                Err(_) => {
                    self.accept_pause = Some(now + ACCEPT_PAUSE);
                    return;
                }
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads what `c` sent and answers it once the request is complete, then
/// writes what the socket takes of the answer.
fn serve(
    c: &mut Conn,
    own_uid: u32,
    group: Option<u32>,
    handle: &mut impl FnMut(Request) -> Reply,
) {
    if c.output.is_empty() && c.handoff.is_none() {
        let reply = match read_request(c, own_uid, group) {
            None => None,
            Some(Incoming::Answer(v)) => Some(v),
            Some(Incoming::Handle(req)) => match handle(req) {
                Reply::Line(v) => Some(v),
                Reply::HandOff(token) => {
                    c.handoff = Some(token);
                    None
                }
            },
        };
        if let Some(reply) = reply {
            c.output = format!("{reply}\n").into_bytes();
        }
    }
    if !c.output.is_empty() {
        flush(c);
    }
}

/// What a connection's input amounts to once complete.
enum Incoming {
    /// A request for the supervisor.
    Handle(Request),
    /// tend answers by itself: a bad request, or a refused peer.
    Answer(Value),
}

/// Reads what the client sent; None while the line is incomplete.
fn read_request(c: &mut Conn, own_uid: u32, group: Option<u32>) -> Option<Incoming> {
    let mut buf = [0u8; 1024];
    loop {
        match c.stream.read(&mut buf) {
            Ok(0) => {
                c.eof = true;
                break;
            }
            Ok(n) => {
                c.input.extend_from_slice(&buf[..n]);
                if c.input.len() > MAX_REQUEST || c.input.contains(&b'\n') {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    if c.input.len() > MAX_REQUEST && !c.input[..MAX_REQUEST].contains(&b'\n') {
        c.input.truncate(MAX_REQUEST);
        return Some(Incoming::Answer(error(&format!(
            "request longer than {MAX_REQUEST} bytes"
        ))));
    }
    // A request may end with the connection instead of a newline.
    let end = match c.input.iter().position(|&b| b == b'\n') {
        Some(end) => end,
        None if c.eof && !c.input.is_empty() => c.input.len(),
        None => return None,
    };
    match peer(&c.stream) {
        Some((uid, gid))
            if uid == 0
                || uid == own_uid
                || group.is_some_and(|g| g == gid || peer_in_group(&c.stream, g)) => {}
        Some((uid, _)) => {
            let also = group.map(|g| format!(" and group {g}")).unwrap_or_default();
            return Some(Incoming::Answer(error(&format!(
                "permission denied: uid {uid} may not control this tend (only root, uid {own_uid}{also})"
            ))));
        }
        None => {
            return Some(Incoming::Answer(error(
                "permission denied: cannot tell who is asking",
            )));
        }
    }
    Some(match parse_request(&c.input[..end]) {
        Ok(req) => Incoming::Handle(req),
        Err(e) => Incoming::Answer(error(&e)),
    })
}

/// Writes as much of the reply as the socket takes now.
fn flush(c: &mut Conn) {
    while c.written < c.output.len() {
        match c.stream.write(&c.output[c.written..]) {
            Ok(0) => break,
            Ok(n) => c.written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // The client went away: drop what is left.
            Err(_) => c.written = c.output.len(),
        }
    }
}

/// The uid and gid of the process at the other end (SO_PEERCRED).
fn peer(stream: &UnixStream) -> Option<(u32, u32)> {
    peer_cred(stream).map(|c| (c.uid, c.gid))
}

/// The pid, uid and gid of the process at the other end (SO_PEERCRED); the
/// pid is 0 when that process is outside our PID namespace.
fn peer_cred(stream: &UnixStream) -> Option<libc::ucred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for the kernel to fill.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    (rc == 0).then_some(cred)
}

/// Whether the peer has `gid` among its supplementary groups
/// (SO_PEERGROUPS, Linux 4.13+; SO_PEERCRED carries the primary gid only).
fn peer_in_group(stream: &UnixStream, gid: u32) -> bool {
    const SO_PEERGROUPS: libc::c_int = 59;
    let mut groups = [0 as libc::gid_t; 256];
    let mut len = std::mem::size_of_val(&groups) as libc::socklen_t;
    // SAFETY: groups and len are valid for the kernel to fill.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PEERGROUPS,
            groups.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let n = len as usize / std::mem::size_of::<libc::gid_t>();
    rc == 0 && groups[..n.min(groups.len())].contains(&gid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bound(name: &str) -> Server {
        let path = std::env::temp_dir().join(format!("tend-{}-{name}.sock", std::process::id()));
        Server::bind(&path, None).unwrap()
    }

    fn which(server: &Server, now: Instant) -> Vec<ControlFd> {
        server
            .poll_fds(now)
            .into_iter()
            .map(|(_, _, w)| w)
            .collect()
    }

    #[test]
    fn a_client_that_wrote_before_accept_is_answered_on_accept() {
        let mut server = bound("accept");
        let mut client = UnixStream::connect(&server.path).unwrap();
        client.write_all(b"{\"cmd\":\"status\"}\n").unwrap();
        let now = Instant::now();
        let mut asked = Vec::new();
        server.on_ready(ControlFd::Listener, now, |req| {
            asked.push(req);
            Reply::Line(json!({"ok": true}))
        });
        assert_eq!(asked, [Request::Status]);
        // Answered in full, so dropped: the client reads to EOF.
        server.expire(now);
        assert_eq!(which(&server, now), [ControlFd::Listener]);
        let mut reply = String::new();
        client.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "{\"ok\":true}\n");
    }

    #[test]
    fn clients_are_dispatched_by_an_id_never_reused() {
        let mut server = bound("ids");
        let never = |_| -> Reply { panic!("no request was sent") };
        let first = UnixStream::connect(&server.path).unwrap();
        let now = Instant::now();
        server.on_ready(ControlFd::Listener, now, never);
        let [ControlFd::Listener, gone @ ControlFd::Client(_)] = which(&server, now)[..] else {
            panic!("{:?}", which(&server, now));
        };
        // Closed before saying anything: read once, then never polled again.
        drop(first);
        server.on_ready(gone, now, never);
        server.expire(now);
        assert_eq!(which(&server, now), [ControlFd::Listener]);
        // A connection that is gone is ignored; the next one has a new id.
        server.on_ready(gone, now, never);
        let _second = UnixStream::connect(&server.path).unwrap();
        server.on_ready(ControlFd::Listener, now, never);
        let fds = which(&server, now);
        assert_eq!(fds.len(), 2);
        assert!(matches!(fds[1], ControlFd::Client(_)) && fds[1] != gone);
    }

    #[test]
    fn a_handed_off_connection_leaves_the_server_unanswered() {
        let mut server = bound("handoff");
        let mut client = UnixStream::connect(&server.path).unwrap();
        client.write_all(b"{\"cmd\":\"logs\"}\n").unwrap();
        let now = Instant::now();
        server.on_ready(ControlFd::Listener, now, |_| Reply::HandOff(7));
        assert_eq!(which(&server, now), [ControlFd::Listener]);
        let mut handed = server.take_handoffs();
        assert_eq!(handed.len(), 1);
        assert_eq!(handed[0].0, 7);
        assert!(server.take_handoffs().is_empty());
        // The new owner answers on the same connection.
        handed[0].1.write_all(b"hello\n").unwrap();
        drop(handed);
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "hello\n");
    }
}
