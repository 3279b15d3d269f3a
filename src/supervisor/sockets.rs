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
            // The new addresses are bound first: a failure leaves the
            // sockets kept so far as they were (running instances hold
            // copies, so a socket closed here could not be bound again).
            let old = self.sockets.get(&spec.app);
            let kept = |addr: &Listen| old.is_some_and(|o| o.addrs.contains(addr));
            let mut new = Vec::new();
            for addr in spec.listen.iter().filter(|a| !kept(a)) {
                new.push(listen::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?);
            }
            let mut old = self.sockets.remove(&spec.app);
            let mut new = new.into_iter();
            let mut fds = Vec::with_capacity(spec.listen.len());
            for addr in &spec.listen {
                let reused = old.as_mut().and_then(|o| {
                    let k = o.addrs.iter().position(|a| a == addr)?;
                    o.addrs.remove(k);
                    Some(o.fds.remove(k))
                });
                fds.extend(reused.or_else(|| new.next()));
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
