//! The `listen` sockets of each app, bound once (at its first start) and
//! kept open across restarts, crashes and reloads that keep the same
//! addresses, so that connections wait in the backlog while no instance
//! accepts. A reload that changes `listen` binds anew at the next start.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::Supervisor;
use crate::listen::{self, Listen};

/// The sockets of one app and the addresses they were bound to.
pub(super) struct Bound {
    addrs: Vec<Listen>,
    fds: Vec<OwnedFd>,
}

impl Supervisor {
    /// The listening fds slot `i`'s next run gets; binds them when its app
    /// has none yet for its current addresses. An address that cannot be
    /// bound fails this start (and the next one tries again).
    pub(super) fn sockets_for(&mut self, i: usize) -> Result<Vec<RawFd>, String> {
        let spec = &self.slots[i].app.spec;
        if spec.listen.is_empty() {
            return Ok(Vec::new());
        }
        let fresh = self
            .sockets
            .get(&spec.app)
            .is_none_or(|b| b.addrs != spec.listen);
        if fresh {
            let mut fds = Vec::with_capacity(spec.listen.len());
            for addr in &spec.listen {
                // A socket of the old set may hold this very address: it
                // goes first (its copies in running instances stay open).
                if let Some(old) = self.sockets.get_mut(&spec.app)
                    && let Some(k) = old.addrs.iter().position(|a| a == addr)
                {
                    old.addrs.remove(k);
                    fds.push(old.fds.remove(k));
                    continue;
                }
                fds.push(listen::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
            }
            let bound = Bound {
                addrs: spec.listen.clone(),
                fds,
            };
            self.sockets.insert(spec.app.clone(), bound);
        }
        Ok(self.sockets[&spec.app]
            .fds
            .iter()
            .map(|f| f.as_raw_fd())
            .collect())
    }

    /// After a reload: the sockets of apps it removed close (their
    /// instances hold their own copies until they stop).
    pub(super) fn close_unused_sockets(&mut self) {
        let slots = &self.slots;
        self.sockets
            .retain(|app, _| slots.iter().any(|s| !s.retired && &s.app.spec.app == app));
    }
}
