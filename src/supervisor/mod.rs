//! Owns every app instance, one `Slot` each, and carries out what their
//! state machines ask: spawns, signals to whole trees, memory samples, the
//! ordered shutdown. Events go to the state machines through one queue:
//! an action whose outcome is itself an event (a spawn gives `Spawned` or
//! `SpawnFailed`; a start during a shutdown gives `Stop`) queues it, and
//! the queue is drained in order, so no action re-enters the dispatcher.
//!
//! Beside this file, each concern in its own: `slot` (what is kept per
//! instance), `order` (start and stop order, the exit code; pure), `tree`
//! (process trees, orphans, memory), `shutdown`, `pipes` (the apps' output
//! pipes), `requests` (control requests, `tend logs` included), `reload`,
//! `describe`, `checks` (health probes), `readiness` (sd_notify both ways,
//! watchdogs), `sockets` (`listen`), `replace` (replacements), `scheduled`
//! (`cron_restart`), `watched` (`watch`) and `cgroups` (cgroup mode).

mod cgroups;
mod checks;
mod describe;
mod order;
mod pipes;
mod readiness;
mod reload;
mod replace;
mod requests;
mod scheduled;
mod shutdown;
mod slot;
mod sockets;
mod tree;
mod watched;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use crate::app::{Action, Cause, Event, State};
use crate::cgroup::Hierarchy;
use crate::config::{AppSpec, dotenv};
use crate::ids::Creds;
use crate::log::{self, Level};
use crate::logs::Logs;
use crate::notify::{NotifySocket, Parent};
use crate::poll_set::{Owner, PollSet};
use crate::probe::InFlight;
use crate::procfs::{self, Snapshot};
use crate::reaper::Status;
use crate::signals::kill_group;
use crate::spawn::{self, Launch, Session};
use crate::tz::Zone;
use crate::vm::Power;
use crate::watch::Watcher;
use crate::{ids, units};

use shutdown::Shutdown;
use slot::Slot;

/// Options that differ between config mode and wrapper mode.
#[derive(Debug, Clone)]
pub struct Options {
    /// The config file, read again by reload; None in wrapper mode.
    pub config: Option<PathBuf>,
    pub poll_interval: Duration,
    pub session: Session,
    /// Wrapper mode with flags: exit with the last run's code.
    pub exit_with_last_code: bool,
    /// Forward HUP to the apps instead of reloading.
    pub forward_hup: bool,
    /// tend is the init of a VM: SIGINT and `tend reboot` reboot it.
    pub vm: bool,
    /// `[tend] log_dir`; None: the default.
    pub log_dir: Option<PathBuf>,
}

/// Every app instance, and the maps from pids to them.
pub struct Supervisor {
    slots: Vec<Slot>,
    opts: Options,
    /// Events waiting for their state machine, in order.
    queue: VecDeque<(usize, Event)>,
    /// Pids to slots: main processes, adopted orphans, exec probes (kept
    /// until reaped, also after a timeout, so their status is never taken
    /// for an app's).
    mains: HashMap<i32, usize>,
    orphans: HashMap<i32, usize>,
    probe_pids: HashMap<i32, usize>,
    /// Main processes of runs a replacement detached (`replace`).
    retiring: HashMap<i32, usize>,
    /// Where app lines go once read: tend's output, files, followers.
    pub logs: Logs,
    /// The id given to the last pipe made.
    next_pipe: u64,
    /// cgroup mode: tend's cgroup, where each run gets one; None: /proc.
    cgroups: Option<Hierarchy>,
    /// Cgroups of ended runs that still hold a process: stopped, then
    /// removed once empty.
    draining: Vec<cgroups::Draining>,
    /// A process was reaped since draining cgroups were last looked at.
    reaped: bool,
    /// `listen` sockets by app name.
    sockets: HashMap<String, sockets::Bound>,
    /// sd_notify: the socket, made when some app has notify = true.
    notify: Option<NotifySocket>,
    /// tend's own service manager, told READY=1, STATUS= and STOPPING=1.
    parent: Option<Parent>,
    parent_ready: bool,
    parent_status: String,
    shutdown: Option<Shutdown>,
    /// Counts loop turns (one `tick` each), to tell signals apart in time.
    turn: u64,
    /// In VM mode, what follows the shutdown.
    power: Power,
    next_sample: Option<Instant>,
    /// One /proc pass shared by everything done in one loop turn.
    snapshot: Option<Snapshot>,
    page_size: u64,
    /// Clock ticks per second, the unit of CPU times in /proc.
    clock_ticks: u64,
    /// `watch`: the inotify fd, the watched directories, pending restarts.
    watch: Watcher,
    /// The local time zone, read when an app first needs it for
    /// `cron_restart`, and again after a reload.
    zone: Option<Zone>,
}

impl Supervisor {
    /// Apps in the given order; nothing runs until the first `tick`.
    pub fn new(specs: Vec<AppSpec>, opts: Options, cgroups: Option<Hierarchy>) -> Supervisor {
        let log_dir = opts.log_dir.clone();
        let mut sup = Supervisor {
            slots: specs.into_iter().map(Slot::new).collect(),
            opts,
            queue: VecDeque::new(),
            mains: HashMap::new(),
            orphans: HashMap::new(),
            probe_pids: HashMap::new(),
            retiring: HashMap::new(),
            logs: Logs::new(log_dir),
            next_pipe: 0,
            cgroups,
            draining: Vec::new(),
            reaped: false,
            sockets: HashMap::new(),
            notify: None,
            parent: Parent::from_env(),
            parent_ready: false,
            parent_status: String::new(),
            shutdown: None,
            turn: 0,
            power: Power::Off,
            next_sample: None,
            snapshot: None,
            page_size: procfs::page_size(),
            clock_ticks: procfs::clock_ticks(),
            watch: Watcher::default(),
            zone: None,
        };
        order::link(&mut sup.slots);
        sup.open_notify();
        sup.update_watches();
        sup
    }

    /// Adds every fd the supervisor waits on: app pipes, tend's sinks,
    /// probes in flight, the notify socket, the inotify fd.
    pub fn poll_fds<'a>(&'a self, set: &mut PollSet<'a>) {
        self.poll_pipes(set);
        self.logs.poll_fds(set);
        if let Some(sock) = &self.notify {
            set.read(sock.fd(), Owner::Notify);
        }
        for (slot, s) in self.slots.iter().enumerate() {
            if let Some(InFlight::Net(p)) = &s.probe {
                let (fd, writing) = p.poll_fd();
                set.read_or_write(fd, writing, Owner::Probe { slot });
            }
        }
        if let Some(fd) = self.watch.fd() {
            set.read(fd, Owner::Watch);
        }
        self.poll_cgroups(set);
    }

    /// A signal tend received.
    pub fn on_signal(&mut self, sig: libc::c_int, now: Instant) {
        let shutdown = [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGPWR,
            units::SIGRTMIN + 3,
        ];
        if shutdown.contains(&sig) {
            if self.opts.vm && sig == libc::SIGINT && self.shutdown.is_none() {
                self.power = Power::Reboot;
            }
            self.shutdown_asked(&units::signal_name(sig), now);
        } else if sig == libc::SIGCHLD {
            // The reaper runs after every wake-up anyway.
        } else if sig == libc::SIGHUP && !self.opts.forward_hup {
            match self.reload(now) {
                Ok(summary) => log::info(&format!("SIGHUP: {summary}")),
                Err(e) => log::error(&format!("SIGHUP: reload failed, nothing changed:\n{e}")),
            }
        } else {
            for s in &self.slots {
                if let Some(pid) = s.app.main_pid() {
                    kill_group(pid, sig);
                }
            }
        }
    }

    /// A process tend reaped.
    pub fn on_exit(&mut self, pid: Pid, status: Status, now: Instant) {
        self.snapshot = None;
        self.reaped = true;
        if let Some(i) = self.probe_pids.remove(&pid.as_raw()) {
            return self.probe_exited(i, pid, status, now);
        }
        if let Some(i) = self.retiring.remove(&pid.as_raw()) {
            return self.old_run_exited(i, pid, status, now);
        }
        if let Some(i) = self.mains.remove(&pid.as_raw()) {
            if self.opts.session == Session::Foreground {
                spawn::reclaim_terminal();
            }
            // An OOM kill is the cause of this exit: said first.
            self.memory_events(i, false, now);
            self.adopt_orphans();
            let tree_left = self.has_orphans(i);
            self.apply(i, Event::Exited { status, tree_left }, now);
        } else if let Some(i) = self.orphans.remove(&pid.as_raw())
            && matches!(self.slots[i].app.state, State::Stopping { main: None, .. })
        {
            self.adopt_orphans();
            if !self.has_orphans(i) {
                self.apply(i, Event::TreeGone, now);
            }
        }
    }

    /// Runs whatever is due at `now`: timers, starts, stops, memory samples.
    pub fn tick(&mut self, now: Instant) {
        self.snapshot = None;
        for i in 0..self.slots.len() {
            if self.slots[i].app.deadline().is_some_and(|d| d <= now) {
                self.apply(i, Event::Tick, now);
            }
        }
        self.run_health(now);
        self.run_watchdogs(now);
        self.kill_overdue_old_runs(now);
        self.run_watches(now);
        self.run_crons(now);
        self.sweep_cgroups(now);
        for i in 0..self.slots.len() {
            self.step_replacement(i, now);
        }
        self.reconcile(now);
        if self.next_sample.is_some_and(|t| t <= now) {
            self.sample_memory(now);
            self.next_sample = None;
        }
        if self.next_sample.is_none() && self.sampling_needed() {
            self.next_sample = Some(now + self.opts.poll_interval);
        }
        self.final_phase(now);
        self.tell_parent();
        self.turn += 1;
    }

    /// The earliest deadline of anything; None: sleep until a signal.
    pub fn next_deadline(&self) -> Option<Instant> {
        let slots = self.slots.iter().flat_map(|s| {
            [
                s.app.deadline(),
                s.probe.as_ref().map(InFlight::deadline),
                s.probe_due,
                s.watchdog_due,
                s.cron_due.map(|(at, _)| at),
            ]
        });
        let final_kill = self.shutdown.and_then(|s| s.deadline());
        slots
            .flatten()
            .chain(self.next_sample)
            .chain(final_kill)
            .chain(self.replacement_deadline())
            .chain(self.cgroups_deadline())
            .chain(self.watch.deadline())
            .min()
    }

    /// Feeds one event to slot `i`, then drains the queue: each event's
    /// actions are carried out in order, and an action that yields an
    /// event queues it behind the rest.
    fn apply(&mut self, i: usize, event: Event, now: Instant) {
        if self.defer(i, &event, now) {
            return;
        }
        self.queue.push_back((i, event));
        while let Some((i, event)) = self.queue.pop_front() {
            if let Event::Spawned { pid } = event {
                // The run's session is its main pid; orphans are known by it.
                self.slots[i].session = Some(pid.as_raw());
            }
            let actions = self.slots[i].app.on_event(event, now);
            for action in actions {
                self.act(i, action, now);
            }
            self.settled(i, now);
        }
    }

    /// Carries out one action of slot `i`; never feeds the state machine
    /// directly, only through the queue.
    fn act(&mut self, i: usize, action: Action, now: Instant) {
        match action {
            // Nothing starts once a shutdown has begun: an app that
            // crashed while its dependents stop stays down.
            Action::Spawn if self.shutdown.is_some() => self.queue.push_back((i, Event::Stop)),
            Action::Spawn => {
                let outcome = self.spawn(i, now);
                self.queue.push_back((i, outcome));
            }
            Action::Signal(sig) => self.signal_tree(i, sig),
            Action::Kill => self.signal_tree(i, libc::SIGKILL),
            Action::Log { level, event, msg } => self.event(i, level, event, &msg),
            Action::Detach { pid, since, cause } => self.detach(i, pid, since, cause),
        }
    }

    /// One of tend's event lines about slot `i`: to tend's stderr, and to
    /// the slot's own log.
    pub(super) fn event(&mut self, i: usize, level: Level, event: &str, msg: &str) {
        let name = self.slots[i].name();
        log::event(level, name, event, msg);
        self.logs.tend_line(i, name, msg);
    }

    /// After slot `i`'s state machine moved: forget a session no tree
    /// holds any more, and end everything when a critical app ended.
    fn settled(&mut self, i: usize, now: Instant) {
        self.step_replacement(i, now);
        let app = &self.slots[i].app;
        if !matches!(app.state, State::Running { .. } | State::Stopping { .. }) {
            // Its tree is gone: the session id may be reused by anyone now.
            self.slots[i].session = None;
            self.release_cgroup(i, now);
        }
        let app = &self.slots[i].app;
        if app.spec.critical
            && matches!(app.state, State::Exited | State::Failed)
            && self.shutdown.is_none()
        {
            let code = app.last_code();
            log::event(
                Level::Error,
                &app.spec.name,
                "critical",
                &format!("critical app ended for good: stopping everything, exit code {code}"),
            );
            self.begin_shutdown(code);
        }
    }

    /// Starts slot `i`; returns the event that says how it went.
    fn spawn(&mut self, i: usize, now: Instant) -> Event {
        if let Some(spec) = self.slots[i].pending.take() {
            self.slots[i].app.spec = spec;
        }
        self.slots[i].starts += 1;
        let spec = &self.slots[i].app.spec;
        if Logs::through_tend(spec) {
            // Before anything can fail: the file tells why a start did.
            self.logs.prepare(i, spec);
        }
        let creds = match ids::resolve(spec.user.as_ref(), spec.group.as_ref()) {
            Ok(c) => c,
            Err(e) => return self.start_failed(i, format!("cannot start: {e}"), 126),
        };
        let mut env = match app_env(spec, creds.as_ref()) {
            Ok(env) => env,
            Err(e) => return self.start_failed(i, format!("cannot start: {e}"), 126),
        };
        // Exec health checks of this run get the same environment, without
        // reading the env files again for each probe.
        self.slots[i].env = env.clone();
        let spec = &self.slots[i].app.spec;
        env.push(("TEND_APP".into(), spec.name.clone()));
        env.push(("TEND_INSTANCE".into(), spec.instance.to_string()));
        if let (true, Some(sock)) = (spec.notify, &self.notify) {
            env.push(("NOTIFY_SOCKET".into(), sock.address.clone()));
            if let Some(w) = spec.watchdog {
                env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
            }
        }
        let listen = match self.sockets_for(i) {
            Ok(fds) => fds,
            Err(msg) => return self.start_failed(i, msg, 126),
        };
        let cgroup = match self.run_cgroup(i, now) {
            Ok(fd) => fd,
            Err(msg) => return self.start_failed(i, format!("cannot start: {msg}"), 126),
        };
        let spec = &self.slots[i].app.spec;
        // The read ends are kept only if the start succeeds: after a
        // failed one (EMFILE) they close at once, for the next app's start.
        let (output, pipes) = match Logs::through_tend(spec) {
            true => self.open_pipes(i).unzip(),
            false => (None, None),
        };
        let spec = &self.slots[i].app.spec;
        let launch = Launch {
            argv: &spec.command,
            env,
            cwd: spec.cwd.as_deref(),
            creds,
            session: self.opts.session,
            output,
            die_with_tend: true,
            listen,
            listen_name: &spec.app,
            cgroup,
        };
        let result = spawn::spawn(&launch);
        // The child's ends close here: EOF comes once the app's tree closes its own.
        drop(launch);
        self.cgroup_started(i);
        match result {
            Ok(pid) => {
                if let Some(pipes) = pipes {
                    self.keep_pipes(i, pipes);
                }
                self.mains.insert(pid.as_raw(), i);
                self.cancel_probe(i);
                let slot = &mut self.slots[i];
                slot.spawn_error = None;
                slot.watchdog_due = slot.app.spec.watchdog.map(|w| now + w);
                // Docker's semantics: the first probe one interval after the start.
                slot.probe_due = slot.app.spec.health.as_ref().map(|h| now + h.interval);
                Event::Spawned { pid }
            }
            Err(e) => self.start_failed(i, e.to_string(), i32::from(e.exit_code())),
        }
    }

    /// A start of slot `i` that failed: said, kept for `tend status`, and
    /// the event for its state machine (`code` as a shell would exit).
    fn start_failed(&mut self, i: usize, msg: String, code: i32) -> Event {
        self.event(i, Level::Error, "spawn_failed", &msg);
        self.slots[i].spawn_error = Some(msg);
        Event::SpawnFailed { code }
    }

    /// Starts apps whose `after` apps are up; during a shutdown, stops apps
    /// whose dependents are all down (`order` decides who and when).
    fn reconcile(&mut self, now: Instant) {
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.slots.len() {
                if self.shutdown.is_some() {
                    if order::may_stop(&self.slots, i) {
                        self.slots[i].stop_sent = true;
                        let was_down = self.slots[i].app.is_down();
                        self.slots[i].app.asked_by(Cause::Shutdown);
                        self.apply(i, Event::Stop, now);
                        changed |= !was_down && self.slots[i].app.is_down();
                    }
                } else if order::may_start(&self.slots, i) {
                    self.apply(i, Event::Start, now);
                    changed = true;
                }
            }
        }
    }
}

/// The environment an app's processes get on top of tend's: HOME, USER and
/// LOGNAME of its user, then its `env_file`s, read now (an edit applies at
/// the next start), then its own `env`; a later entry wins. An env_file
/// that cannot be read or parsed fails the start.
fn app_env(spec: &AppSpec, creds: Option<&Creds>) -> Result<Vec<(String, String)>, String> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(spec.env.len() + 5);
    if let Some(c) = creds {
        for (k, v) in [("HOME", &c.home), ("USER", &c.user), ("LOGNAME", &c.user)] {
            if let Some(v) = v {
                env.push((k.to_string(), v.clone()));
            }
        }
    }
    for file in &spec.env_files {
        env.extend(dotenv::read(file).map_err(|e| format!("env_file {e}"))?);
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}
