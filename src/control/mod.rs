//! The control socket: how `tend status|start|stop|restart|reload` reach
//! a running tend. One request line in, one response line out, both JSON,
//! one request per connection.
//!
//! - `protocol`: the requests and their lines; pure, no I/O.
//! - `server`: the listener and its connections, served from the
//!   supervisor's poll loop without ever blocking it.
//! - `client`: `ask` and the commands that print its answers.
//! - `wait`: `start|stop|restart`, which wait (client-side) until done.
//!
//! Both ends find the socket with `socket_path`.

use std::path::{Path, PathBuf};

pub mod client;
mod protocol;
mod server;
mod wait;

// Only what other modules use: rustc flags an unused re-export. The
// client's `ask` is `control::client::ask`.
pub use protocol::{Reply, Request, error};
pub use server::{BindError, ControlFd, Server};
pub use wait::SETTLE;

/// The socket path: `--socket`, else $TEND_SOCKET, else the config's
/// `[tend] socket`, else /run/tend.sock as root and
/// $XDG_RUNTIME_DIR/tend.sock otherwise.
pub fn socket_path(flag: Option<PathBuf>, configured: Option<PathBuf>) -> PathBuf {
    if let Some(p) = flag.or_else(|| std::env::var_os("TEND_SOCKET").map(PathBuf::from)) {
        return p;
    }
    if let Some(p) = configured {
        return p;
    }
    // SAFETY: getuid has no memory effects.
    let uid = unsafe { libc::getuid() };
    match std::env::var_os("XDG_RUNTIME_DIR") {
        _ if uid == 0 => PathBuf::from("/run/tend.sock"),
        Some(dir) => Path::new(&dir).join("tend.sock"),
        None => PathBuf::from(format!("/tmp/tend-{uid}.sock")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_precedence() {
        assert_eq!(
            socket_path(Some("/a".into()), Some("/b".into())),
            PathBuf::from("/a")
        );
    }
}
