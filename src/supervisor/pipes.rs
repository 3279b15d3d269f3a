//! App output from the supervisor's side: the pipes each slot's runs write
//! to, which go into the poll set, and what a ready one does. Where the
//! lines then go (tend's output, files, tails, followers) is `logs`'. A
//! pipe is read only while its stdout form has room, so a slow reader of
//! tend's output slows the chatty apps, never the loop.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::Supervisor;
use crate::log::{self, Level};
use crate::output::{self, Pipe};
use crate::poll_set::{Owner, PollSet};

impl Supervisor {
    /// Makes the pipes for slot `i`'s next run: the child's ends (stdout,
    /// stderr) and tend's read ends, which `keep_pipes` gives the slot once
    /// the run started. None: output goes straight through (logged).
    pub(super) fn open_pipes(&mut self, i: usize) -> Option<((OwnedFd, OwnedFd), [Pipe; 2])> {
        let made = output::pipe(false).and_then(|o| Ok((o, output::pipe(true)?)));
        match made {
            Ok(((out_w, out_r), (err_w, err_r))) => Some(((out_w, err_w), [out_r, err_r])),
            Err(e) => {
                log::event(
                    Level::Warn,
                    self.slots[i].name(),
                    "log_pipe_failed",
                    &format!("cannot create its log pipes, output goes straight through: {e}"),
                );
                None
            }
        }
    }

    /// Slot `i`'s run started: tend reads its pipes from now on.
    pub(super) fn keep_pipes(&mut self, i: usize, pipes: [Pipe; 2]) {
        for pipe in pipes {
            self.next_pipe += 1;
            self.slots[i].pipes.push((self.next_pipe, pipe));
        }
    }

    /// The pipes whose lines have somewhere to go now.
    pub(super) fn poll_pipes<'a>(&'a self, set: &mut PollSet<'a>) {
        for (slot, s) in self.slots.iter().enumerate() {
            for (id, pipe) in &s.pipes {
                if self.logs.may_read(&s.app.spec, pipe) {
                    set.read(pipe.fd(), Owner::Output { slot, pipe: *id });
                }
            }
        }
    }

    /// Pipe `id` of slot `i` is readable: moves its lines on, and drops
    /// the pipe once every writer has closed it.
    pub fn pump_pipe(&mut self, i: usize, id: u64) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let Some(k) = slot.pipes.iter().position(|(p, _)| *p == id) else {
            return;
        };
        if !self.logs.pump(i, &slot.app.spec, &mut slot.pipes[k].1) {
            slot.pipes.remove(k);
        }
    }

    /// Copies out whatever the pipes hold right now and writes it, for a
    /// second at most (before tend exits).
    pub fn flush_output(&mut self) {
        let until = Instant::now() + Duration::from_secs(1);
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let spec = &slot.app.spec;
            slot.pipes
                .retain_mut(|(_, p)| self.logs.pump_to_end(i, spec, p, until));
        }
        self.logs.drain(Duration::from_secs(1));
    }
}
