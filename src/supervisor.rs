//! Owns every app and carries out what their state machines ask: spawns,
//! signals to whole trees, memory samples, the ordered shutdown. Maps pids
//! back to apps: main processes by pid, and orphans that re-parented to
//! tend by their session id (each app starts in a session of its own) or,
//! when they called setsid, by the TEND_APP variable every app inherits.
//!
//! An app's tree is alive exactly while some child of tend belongs to it:
//! when any process dies its children re-parent to tend, so walking down
//! from tend's own children reaches every descendant.
//!
//! Beside this file: `requests` (control requests and reload), `checks`
//! (health probes) and `readiness` (sd_notify both ways, watchdogs).

mod checks;
mod readiness;
mod requests;

use std::collections::HashMap;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::unistd::Pid;

use crate::app::{Action, App, Event, State};
use crate::config::{AppSpec, LogMode};
use crate::ids::Creds;
use crate::log::{self, Level};
use crate::notify::{NotifySocket, Parent};
use crate::output::{self, Pipe, Sink};
use crate::probe::InFlight;
use crate::procfs::{self, Proc, Snapshot};
use crate::reaper::Status;
use crate::signals::kill_group;
use crate::spawn::{self, Launch, Session};
use crate::vm::Power;
use crate::{ids, units};

/// How long processes left after the apps stopped get between SIGTERM and
/// SIGKILL, when tend is PID 1 and shuts down.
const FINAL_GRACE: Duration = Duration::from_secs(1);

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
}

/// The shutdown in progress.
#[derive(Debug, Clone, Copy)]
struct Shutdown {
    code: u8,
    /// The loop turn in which a signal asked for the shutdown; None while
    /// only a critical app did. A shutdown signal in a later turn kills.
    signal_turn: Option<u64>,
    /// As PID 1, after the apps: when leftovers get SIGKILL.
    final_kill_at: Option<Instant>,
    final_killed: bool,
}

/// Every app, and the maps from pids to apps.
pub struct Supervisor {
    apps: Vec<App>,
    opts: Options,
    mains: HashMap<i32, usize>,
    orphans: HashMap<i32, usize>,
    /// Session id of each app's current run (its main pid at spawn).
    sessions: Vec<Option<i32>>,
    /// `after` as instance indices: who i waits for, and who waits for i.
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    stop_sent: Vec<bool>,
    /// Removed by a reload: stopped, then kept only as a record.
    retired: Vec<bool>,
    /// A changed definition from a reload, taken at the next spawn.
    pending: Vec<Option<AppSpec>>,
    /// Health checks: when each app's next probe is due, the probe in
    /// flight, and exec probes by pid (kept until reaped, also after a
    /// timeout, so their status is never taken for an app's).
    probe_due: Vec<Option<Instant>>,
    probes: Vec<Option<InFlight>>,
    probe_pids: HashMap<i32, usize>,
    /// Prefixed-log pipes, read by the loop until every writer is gone,
    /// and tend's stdout and stderr as non-blocking sinks (made with the
    /// first pipe).
    pipes: Vec<Pipe>,
    sinks: Option<[Sink; 2]>,
    /// sd_notify: the socket (made when some app has notify = true) and
    /// when each app's watchdog runs out.
    notify: Option<NotifySocket>,
    watchdog_due: Vec<Option<Instant>>,
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
}

impl Supervisor {
    /// Apps in the given order; nothing runs until the first `tick`.
    pub fn new(specs: Vec<AppSpec>, opts: Options) -> Supervisor {
        let mut sup = Supervisor {
            apps: Vec::new(),
            opts,
            mains: HashMap::new(),
            orphans: HashMap::new(),
            sessions: Vec::new(),
            deps: Vec::new(),
            dependents: Vec::new(),
            stop_sent: Vec::new(),
            retired: Vec::new(),
            pending: Vec::new(),
            probe_due: Vec::new(),
            probes: Vec::new(),
            probe_pids: HashMap::new(),
            pipes: Vec::new(),
            sinks: None,
            notify: None,
            watchdog_due: Vec::new(),
            parent: Parent::from_env(),
            parent_ready: false,
            parent_status: String::new(),
            shutdown: None,
            turn: 0,
            power: Power::Off,
            next_sample: None,
            snapshot: None,
            page_size: procfs::page_size(),
        };
        for spec in specs {
            sup.push_app(spec);
        }
        sup.link();
        sup.open_notify();
        sup
    }

    fn push_app(&mut self, spec: AppSpec) {
        self.apps.push(App::new(spec));
        self.sessions.push(None);
        self.stop_sent.push(false);
        self.retired.push(false);
        self.pending.push(None);
        self.probe_due.push(None);
        self.probes.push(None);
        self.watchdog_due.push(None);
    }

    /// Turns `after` names into indices among the apps not retired.
    fn link(&mut self) {
        let n = self.apps.len();
        let live = |j: usize| !self.retired[j];
        self.deps = (0..n)
            .map(|i| {
                let after = &self.apps[i].spec.after;
                (0..n)
                    .filter(|&j| {
                        live(i) && live(j) && j != i && after.contains(&self.apps[j].spec.app)
                    })
                    .collect()
            })
            .collect();
        self.dependents = vec![Vec::new(); n];
        for i in 0..n {
            for k in 0..self.deps[i].len() {
                let j = self.deps[i][k];
                self.dependents[j].push(i);
            }
        }
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
            let name = units::signal_name(sig);
            match self.shutdown.as_mut() {
                None => {
                    if self.opts.vm && sig == libc::SIGINT {
                        self.power = Power::Reboot;
                    }
                    log::info(&format!("{name}: stopping every app"));
                    self.begin_shutdown(0);
                    if let Some(s) = self.shutdown.as_mut() {
                        s.signal_turn = Some(self.turn);
                    }
                }
                // The first signal of a shutdown a critical app began, or a
                // second signal drained in the same turn (TERM and QUIT
                // together): still graceful.
                Some(s) if s.signal_turn.is_none_or(|t| t == self.turn) => {
                    s.signal_turn = Some(self.turn);
                }
                Some(_) => {
                    log::warn(&format!("{name} again: killing everything now"));
                    for i in 0..self.apps.len() {
                        self.stop_sent[i] = true;
                        self.apply(i, Event::Stop, now);
                        self.apply(i, Event::Kill, now);
                    }
                }
            }
        } else if sig == libc::SIGCHLD {
            // The reaper runs after every wake-up anyway.
        } else if sig == libc::SIGHUP && !self.opts.forward_hup {
            match self.reload(now) {
                Ok(summary) => log::info(&format!("SIGHUP: {summary}")),
                Err(e) => log::error(&format!("SIGHUP: reload failed, nothing changed:\n{e}")),
            }
        } else {
            for app in &self.apps {
                if let Some(pid) = app.main_pid() {
                    kill_group(pid, sig);
                }
            }
        }
    }

    /// A process tend reaped.
    pub fn on_exit(&mut self, pid: Pid, status: Status, now: Instant) {
        self.snapshot = None;
        if let Some(i) = self.probe_pids.remove(&pid.as_raw()) {
            // What the check left behind in its session goes with it.
            let leftovers: Vec<Proc> = self
                .snapshot()
                .procs()
                .iter()
                .filter(|p| p.session == pid.as_raw())
                .copied()
                .collect();
            for p in leftovers {
                signal_process(p, libc::SIGKILL);
            }
            if matches!(self.probes[i], Some(InFlight::Exec { pid: p, .. }) if p == pid) {
                let reason = format!("check command {status}");
                self.probe_result(i, status.success(), &reason, now);
            }
            return;
        }
        if let Some(i) = self.mains.remove(&pid.as_raw()) {
            if self.opts.session == Session::Foreground {
                spawn::reclaim_terminal();
            }
            self.adopt_orphans();
            let tree_left = self.orphans.values().any(|&j| j == i);
            self.apply(i, Event::Exited { status, tree_left }, now);
        } else if let Some(i) = self.orphans.remove(&pid.as_raw())
            && matches!(self.apps[i].state, State::Stopping { main: None, .. })
        {
            self.adopt_orphans();
            if !self.orphans.values().any(|&j| j == i) {
                self.apply(i, Event::TreeGone, now);
            }
        }
    }

    /// Runs whatever is due at `now`: timers, starts, stops, memory samples.
    pub fn tick(&mut self, now: Instant) {
        self.snapshot = None;
        for i in 0..self.apps.len() {
            if self.apps[i].deadline().is_some_and(|d| d <= now) {
                self.apply(i, Event::Tick, now);
            }
        }
        self.run_health(now);
        self.run_watchdogs(now);
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
        let apps = self.apps.iter().filter_map(App::deadline);
        let final_kill = self.shutdown.and_then(|s| {
            if s.final_killed {
                None
            } else {
                s.final_kill_at
            }
        });
        let probes = self.probes.iter().flatten().map(InFlight::deadline);
        let due = self
            .probe_due
            .iter()
            .chain(&self.watchdog_due)
            .flatten()
            .copied();
        apps.chain(self.next_sample)
            .chain(final_kill)
            .chain(probes)
            .chain(due)
            .min()
    }

    /// Prefixed logs, for poll(2), in `pump_output`'s order: the pipes
    /// whose sink has room (to read), then the sinks with lines waiting
    /// (to write). True marks a write.
    pub fn output_fds(&self) -> Vec<(BorrowedFd<'_>, bool)> {
        let Some(sinks) = &self.sinks else {
            return Vec::new();
        };
        let pipes = self
            .pipes
            .iter()
            .filter(|p| !sinks[usize::from(p.to_stderr)].full())
            .map(|p| (p.fd(), false));
        pipes
            .chain(
                sinks
                    .iter()
                    .filter_map(|s| s.poll_fd().map(|fd| (fd, true))),
            )
            .collect()
    }

    /// Copies out whatever the pipes hold right now and writes it, for a
    /// second at most (before tend exits).
    pub fn flush_output(&mut self) {
        let Some(mut sinks) = self.sinks.take() else {
            return;
        };
        self.pipes
            .retain_mut(|p| p.pump(&mut sinks[usize::from(p.to_stderr)]));
        for sink in &mut sinks {
            sink.drain(Duration::from_secs(1));
        }
        self.sinks = Some(sinks);
    }

    /// Moves lines from the pipes poll(2) found readable to the sinks it
    /// found writable; drops closed pipes. `ready` follows `output_fds`.
    pub fn pump_output(&mut self, ready: &[bool]) {
        let Some(mut sinks) = self.sinks.take() else {
            return;
        };
        let mut k = 0;
        let was_full = [sinks[0].full(), sinks[1].full()];
        self.pipes.retain_mut(|p| {
            let side = usize::from(p.to_stderr);
            if was_full[side] {
                return true; // not polled this turn
            }
            let readable = ready.get(k).copied().unwrap_or(false);
            k += 1;
            !readable || p.pump(&mut sinks[side])
        });
        for sink in &mut sinks {
            if sink.poll_fd().is_some() {
                if ready.get(k).copied().unwrap_or(false) {
                    sink.flush();
                }
                k += 1;
            }
        }
        self.sinks = Some(sinks);
    }

    /// The exit code once tend is done, None while it goes on.
    pub fn finished(&self) -> Option<u8> {
        if let Some(s) = self.shutdown {
            let apps_down = self
                .apps
                .iter()
                .all(|a| a.is_down() || a.state == State::Waiting);
            let leftovers = s.final_kill_at.is_some() && !procfs::own_children().is_empty();
            let done = apps_down && !leftovers && (s.final_kill_at.is_some() || !is_pid1());
            return done.then(|| self.last_code().unwrap_or(s.code));
        }
        // An app stopped on request waits for `tend start`: tend stays up
        // for it (unless a reload removed it).
        let waits_for_start = |i: usize| self.apps[i].state == State::Stopped && !self.retired[i];
        let all_ended = (0..self.apps.len())
            .all(|i| (self.apps[i].is_down() && !waits_for_start(i)) || self.blocked(i));
        if !all_ended {
            return None;
        }
        if let Some(code) = self.last_code() {
            return Some(code);
        }
        let clean =
            (0..self.apps.len()).all(|i| self.apps[i].state == State::Stopped || self.clean_end(i));
        Some(if clean { 0 } else { 1 })
    }

    /// Wrapper mode with flags: the code of the child's last run (1 when it
    /// never ran).
    fn last_code(&self) -> Option<u8> {
        if !self.opts.exit_with_last_code {
            return None;
        }
        let code = self
            .apps
            .first()
            .and_then(|a| a.last_exit)
            .and_then(|(s, _)| s)
            .map_or(1, Status::code);
        Some(u8::try_from(code).unwrap_or(u8::MAX))
    }

    fn begin_shutdown(&mut self, code: u8) {
        if self.shutdown.is_none() {
            if let Some(parent) = &self.parent {
                parent.send("STOPPING=1\n");
            }
            self.shutdown = Some(Shutdown {
                code,
                signal_turn: None,
                final_kill_at: None,
                final_killed: false,
            });
        }
    }

    /// Feeds one event to app `i` and carries out its actions.
    fn apply(&mut self, i: usize, event: Event, now: Instant) {
        let actions = self.apps[i].on_event(event, now);
        for action in actions {
            match action {
                // Nothing starts once a shutdown has begun: an app that
                // crashed while its dependents stop stays down.
                Action::Spawn if self.shutdown.is_some() => self.apply(i, Event::Stop, now),
                Action::Spawn => self.spawn(i, now),
                Action::Signal(sig) => self.signal_tree(i, sig),
                Action::Kill => self.signal_tree(i, libc::SIGKILL),
                Action::Log { level, event, msg } => {
                    log::event(level, &self.apps[i].spec.name, event, &msg)
                }
            }
        }
        if !matches!(
            self.apps[i].state,
            State::Running { .. } | State::Stopping { .. }
        ) {
            // Its tree is gone: the session id may be reused by anyone now.
            self.sessions[i] = None;
        }
        let app = &self.apps[i];
        if app.spec.critical
            && matches!(app.state, State::Exited | State::Failed)
            && self.shutdown.is_none()
        {
            let code = app.last_exit.and_then(|(s, _)| s).map_or(1, Status::code);
            log::event(
                Level::Error,
                &app.spec.name,
                "critical",
                &format!("critical app ended for good: stopping everything, exit code {code}"),
            );
            self.begin_shutdown(u8::try_from(code).unwrap_or(u8::MAX));
        }
    }

    /// Starts app `i`, feeding the outcome back to its state machine.
    fn spawn(&mut self, i: usize, now: Instant) {
        if let Some(spec) = self.pending[i].take() {
            self.apps[i].spec = spec;
        }
        let spec = &self.apps[i].spec;
        let creds = match ids::resolve(spec.user.as_ref(), spec.group.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                log::event(
                    Level::Error,
                    &spec.name,
                    "spawn_failed",
                    &format!("cannot start: {e}"),
                );
                return self.apply(i, Event::SpawnFailed { code: 126 }, now);
            }
        };
        let mut env = app_env(spec, creds.as_ref());
        env.push(("TEND_APP".into(), spec.name.clone()));
        env.push(("TEND_INSTANCE".into(), spec.instance.to_string()));
        if let (true, Some(sock)) = (spec.notify, &self.notify) {
            env.push(("NOTIFY_SOCKET".into(), sock.address.clone()));
            if let Some(w) = spec.watchdog {
                env.push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
            }
        }
        let mut pipes = Vec::new();
        let mut output = None;
        if spec.log == LogMode::Prefix {
            match output::pipe(&spec.name, false)
                .and_then(|o| Ok((o, output::pipe(&spec.name, true)?)))
            {
                Ok(((out_w, out_r), (err_w, err_r))) => {
                    output = Some((out_w, err_w));
                    pipes = vec![out_r, err_r];
                }
                Err(e) => log::event(
                    Level::Warn,
                    &spec.name,
                    "log_pipe_failed",
                    &format!("cannot create its log pipes, output goes straight through: {e}"),
                ),
            }
        }
        let launch = Launch {
            argv: &spec.command,
            env,
            cwd: spec.cwd.as_deref(),
            creds,
            session: self.opts.session,
            output,
        };
        let result = spawn::spawn(&launch);
        // The child's ends close here: EOF comes once the app's tree closes its own.
        drop(launch);
        match result {
            Ok(pid) => {
                if !pipes.is_empty() && self.sinks.is_none() {
                    self.sinks = Some([
                        Sink::new(libc::STDOUT_FILENO),
                        Sink::new(libc::STDERR_FILENO),
                    ]);
                }
                self.pipes.extend(pipes);
                self.mains.insert(pid.as_raw(), i);
                self.sessions[i] = Some(pid.as_raw());
                // Docker's semantics: the first probe one interval after the start.
                let first_probe = spec.health.as_ref().map(|h| now + h.interval);
                self.watchdog_due[i] = spec.watchdog.map(|w| now + w);
                self.cancel_probe(i);
                self.probe_due[i] = first_probe;
                self.apply(i, Event::Spawned { pid }, now);
            }
            Err(e) => {
                log::event(Level::Error, &spec.name, "spawn_failed", &e.to_string());
                let code = i32::from(e.exit_code());
                self.apply(i, Event::SpawnFailed { code }, now);
            }
        }
    }

    /// Starts apps whose `after` apps are up; during a shutdown, stops apps
    /// whose dependents are all down (dependents first, the rest in parallel).
    fn reconcile(&mut self, now: Instant) {
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..self.apps.len() {
                if self.shutdown.is_some() {
                    // Running apps wait for their dependents; the others
                    // (waiting, in backoff) stop at once.
                    let running = matches!(self.apps[i].state, State::Running { .. });
                    let ready = !running
                        || self.dependents[i].iter().all(|&d| {
                            self.apps[d].is_down() || self.apps[d].state == State::Waiting
                        });
                    if !self.stop_sent[i] && ready {
                        self.stop_sent[i] = true;
                        let was_down = self.apps[i].is_down();
                        self.apply(i, Event::Stop, now);
                        changed |= !was_down && self.apps[i].is_down();
                    }
                } else if self.apps[i].state == State::Waiting
                    && !self.retired[i]
                    && self.deps_up(i)
                {
                    self.apply(i, Event::Start, now);
                    changed = true;
                }
            }
        }
    }

    /// Every app `i` waits for is running, or ran to a clean end.
    fn deps_up(&self, i: usize) -> bool {
        self.deps[i]
            .iter()
            .all(|&j| self.apps[j].is_up() || self.clean_end(j))
    }

    /// App `j` ended for good with exit code 0 (a one-shot task that did its job).
    fn clean_end(&self, j: usize) -> bool {
        let a = &self.apps[j];
        a.state == State::Exited
            && a.last_exit
                .is_some_and(|(s, _)| s.is_some_and(Status::success))
    }

    /// Waiting for an app that will never come up by itself.
    fn blocked(&self, i: usize) -> bool {
        self.apps[i].state == State::Waiting
            && self.deps[i]
                .iter()
                .any(|&j| (self.apps[j].is_down() && !self.clean_end(j)) || self.blocked(j))
    }

    fn sampling_needed(&self) -> bool {
        self.apps
            .iter()
            .any(|a| a.spec.max_memory.is_some() && matches!(a.state, State::Running { .. }))
    }

    /// One pass over /proc; each limited app's tree RSS against its limit.
    /// The cost grows with the number of processes, not processes × apps.
    fn sample_memory(&mut self, now: Instant) {
        self.adopt_orphans();
        self.snapshot = Some(Snapshot::read());
        for i in 0..self.apps.len() {
            let (Some(limit), State::Running { pid, .. }) =
                (self.apps[i].spec.max_memory, &self.apps[i].state)
            else {
                continue;
            };
            let roots = self.roots(i, Some(*pid));
            let pages: u64 = self.members(&roots).iter().map(|p| p.rss_pages).sum();
            let rss = pages * self.page_size;
            if rss > limit {
                self.apply(i, Event::MemoryOver { rss }, now);
            }
        }
    }

    /// The main pid (when alive) and the adopted orphans of app `i`.
    fn roots(&self, i: usize, main: Option<Pid>) -> Vec<i32> {
        main.map(Pid::as_raw)
            .into_iter()
            .chain(
                self.orphans
                    .iter()
                    .filter(|(_, j)| **j == i)
                    .map(|(p, _)| *p),
            )
            .collect()
    }

    fn snapshot(&mut self) -> &Snapshot {
        self.snapshot.get_or_insert_with(Snapshot::read)
    }

    /// Sends `sig` to app `i`'s group and to every member of its tree that
    /// left the group (setsid, setpgid, adopted orphans).
    fn signal_tree(&mut self, i: usize, sig: libc::c_int) {
        self.adopt_orphans();
        let main = self.apps[i].main_pid();
        let roots = self.roots(i, main);
        // The tree is read before anything is signalled: once the main
        // process dies, its children re-parent to tend and would no longer
        // be found below it. One snapshot serves every app of this turn: a
        // signal to one app does not move another app's processes.
        let members = self.members(&roots);
        // As systemd does: a stopped process acts on the stop signal only
        // once continued, so SIGCONT follows it. Without it a SIGSTOPped
        // app always waits out stop_timeout and dies by SIGKILL.
        // Not after a stop-type signal: SIGCONT discards a pending one.
        let signals: &[libc::c_int] = match sig {
            libc::SIGKILL
            | libc::SIGCONT
            | libc::SIGSTOP
            | libc::SIGTSTP
            | libc::SIGTTIN
            | libc::SIGTTOU => &[sig],
            _ => &[sig, libc::SIGCONT],
        };
        for &sig in signals {
            if let Some(pid) = main {
                kill_group(pid, sig);
            }
            for p in &members {
                if main.is_none_or(|m| p.pgrp != m.as_raw()) {
                    signal_process(*p, sig);
                }
            }
        }
    }

    /// `roots` and all their descendants, from this turn's snapshot (read
    /// again when a root is newer than it).
    fn members(&mut self, roots: &[i32]) -> Vec<Proc> {
        if roots.iter().any(|r| !self.snapshot().contains(*r)) {
            self.snapshot = None;
        }
        self.snapshot().tree(roots)
    }

    /// Attributes tend's children that are neither mains nor known orphans.
    /// An orphan of an app that is being stopped gets the stop too: it
    /// re-parented after the signals went out (its parent died of them).
    fn adopt_orphans(&mut self) {
        for pid in procfs::own_children() {
            if self.mains.contains_key(&pid)
                || self.orphans.contains_key(&pid)
                || self.probe_pids.contains_key(&pid)
            {
                continue;
            }
            let Some(i) = self.owner_of(pid) else {
                continue;
            };
            self.orphans.insert(pid, i);
            if let State::Stopping { killed, .. } = self.apps[i].state {
                let sig = if killed {
                    libc::SIGKILL
                } else {
                    self.apps[i].spec.stop_signal
                };
                for p in self.members(&[pid]) {
                    signal_process(p, sig);
                }
            }
        }
    }

    /// The app a stray child of tend came from, if it can be told.
    fn owner_of(&self, pid: i32) -> Option<usize> {
        let stat = procfs::read_stat(pid)?;
        if let Some(i) = self.sessions.iter().position(|s| *s == Some(stat.session)) {
            return Some(i);
        }
        let name = procfs::environ_var(pid, "TEND_APP")?;
        self.apps.iter().position(|a| a.spec.name == name)
    }

    /// As PID 1, once the apps are down: TERM to every leftover process,
    /// SIGKILL after a short grace. Not PID 1: leftovers are not ours.
    fn final_phase(&mut self, now: Instant) {
        let Some(mut s) = self.shutdown else { return };
        if !is_pid1()
            || !self
                .apps
                .iter()
                .all(|a| a.is_down() || a.state == State::Waiting)
        {
            return;
        }
        match s.final_kill_at {
            None => {
                if !procfs::own_children().is_empty() {
                    log::info("apps stopped; sending SIGTERM to the remaining processes");
                    // SAFETY: kill(2) with plain integers; -1 spares tend itself.
                    unsafe { libc::kill(-1, libc::SIGTERM) };
                }
                s.final_kill_at = Some(now + FINAL_GRACE);
            }
            Some(at) if !s.final_killed && now >= at => {
                if !procfs::own_children().is_empty() {
                    log::warn("processes left after the grace period; sending SIGKILL");
                    // SAFETY: as above.
                    unsafe { libc::kill(-1, libc::SIGKILL) };
                }
                s.final_killed = true;
            }
            Some(_) => {}
        }
        self.shutdown = Some(s);
    }
}

/// The environment an app's processes get on top of tend's: HOME, USER and
/// LOGNAME of its user, then its own `env`.
fn app_env(spec: &AppSpec, creds: Option<&Creds>) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(spec.env.len() + 5);
    if let Some(c) = creds {
        for (k, v) in [("HOME", &c.home), ("USER", &c.user), ("LOGNAME", &c.user)] {
            if let Some(v) = v {
                env.push((k.to_string(), v.clone()));
            }
        }
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Sends `sig` to one process seen in a snapshot, through a pidfd so that a
/// recycled pid is never hit: the pidfd pins the process, and its start time
/// proves it is the one the snapshot saw.
fn signal_process(p: Proc, sig: libc::c_int) {
    // SAFETY: pidfd_open takes plain integers and returns a new fd we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, p.pid, 0) } as libc::c_int;
    if fd < 0 {
        if Errno::last() == Errno::ENOSYS {
            // Kernels before 5.3: the snapshot is all there is.
            // SAFETY: kill(2) with plain integers.
            unsafe { libc::kill(p.pid, sig) };
        }
        return;
    }
    if procfs::read_stat(p.pid).is_some_and(|now| now.start_time == p.start_time) {
        // SAFETY: fd is a valid pidfd; a null siginfo is allowed.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
}
