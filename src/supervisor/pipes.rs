//! Prefixed logs from the supervisor's side: the pipes each slot's runs
//! write to, tend's stdout and stderr as non-blocking sinks (made with the
//! first pipe), what of them goes into the poll set, and what a ready one
//! does. A pipe is read only while its sink has room, so a slow reader of
//! tend's output slows the chatty apps, never the loop.

use std::os::fd::OwnedFd;
use std::time::Duration;

use super::Supervisor;
use crate::log::{self, Level};
use crate::output::{self, Pipe, Sink};
use crate::poll_set::{Owner, PollSet};

impl Supervisor {
    /// Makes the pipes for slot `i`'s next run: the child's ends (stdout,
    /// stderr) and tend's read ends, which `keep_pipes` gives the slot once
    /// the run started. None: output goes straight through (logged).
    pub(super) fn open_pipes(&mut self, i: usize) -> Option<((OwnedFd, OwnedFd), [Pipe; 2])> {
        let name = self.slots[i].name().to_string();
        let made = output::pipe(&name, false).and_then(|o| Ok((o, output::pipe(&name, true)?)));
        match made {
            Ok(((out_w, out_r), (err_w, err_r))) => {
                if self.sinks.is_none() {
                    self.sinks = Some([
                        Sink::new(libc::STDOUT_FILENO),
                        Sink::new(libc::STDERR_FILENO),
                    ]);
                }
                Some(((out_w, err_w), [out_r, err_r]))
            }
            Err(e) => {
                log::event(
                    Level::Warn,
                    &name,
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

    /// The pipes whose sink has room (to read) and the sinks with lines
    /// waiting (to write).
    pub(super) fn poll_output<'a>(&'a self, set: &mut PollSet<'a>) {
        let Some(sinks) = &self.sinks else { return };
        for (slot, s) in self.slots.iter().enumerate() {
            for (id, pipe) in &s.pipes {
                if !sinks[usize::from(pipe.to_stderr)].full() {
                    set.read(pipe.fd(), Owner::Output { slot, pipe: *id });
                }
            }
        }
        for (stderr, sink) in [false, true].into_iter().zip(sinks) {
            if let Some(fd) = sink.poll_fd() {
                set.write(fd, Owner::Sink { stderr });
            }
        }
    }

    /// Pipe `id` of slot `i` is readable: moves its lines to the sink, and
    /// drops the pipe once every writer has closed it.
    pub fn pump_pipe(&mut self, i: usize, id: u64) {
        let (Some(sinks), Some(slot)) = (self.sinks.as_mut(), self.slots.get_mut(i)) else {
            return;
        };
        let Some(k) = slot.pipes.iter().position(|(p, _)| *p == id) else {
            return;
        };
        let pipe = &mut slot.pipes[k].1;
        if !pipe.pump(&mut sinks[usize::from(pipe.to_stderr)]) {
            slot.pipes.remove(k);
        }
    }

    /// tend's stdout or stderr is writable again.
    pub fn flush_sink(&mut self, stderr: bool) {
        if let Some(sinks) = self.sinks.as_mut() {
            sinks[usize::from(stderr)].flush();
        }
    }

    /// Copies out whatever the pipes hold right now and writes it, for a
    /// second at most (before tend exits).
    pub fn flush_output(&mut self) {
        let Some(mut sinks) = self.sinks.take() else {
            return;
        };
        let until = std::time::Instant::now() + Duration::from_secs(1);
        for slot in &mut self.slots {
            slot.pipes
                .retain_mut(|(_, p)| p.pump_to_end(&mut sinks[usize::from(p.to_stderr)], until));
        }
        for sink in &mut sinks {
            sink.drain(Duration::from_secs(1));
        }
        self.sinks = Some(sinks);
    }
}
