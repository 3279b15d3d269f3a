//! One slot per app instance: everything the supervisor keeps about it, in
//! one place. The state machine (`App`) is the pure part; the rest is what
//! ties it to processes and fds: its session, its `after` links, the spec a
//! reload left for its next start, its probe, its watchdog and its pipes.
//! Slots are never removed (an app a reload removed stays as a record), so
//! a slot's index names it for tend's whole life.

use std::time::Instant;

use super::replace::Outgoing;
use crate::app::{App, Event};
use crate::cgroup::Group;
use crate::config::AppSpec;
use crate::output::Pipe;
use crate::probe::InFlight;

/// One app instance and everything tend keeps about it.
pub(super) struct Slot {
    pub(super) app: App,
    /// Session id of the current run (its main pid at spawn) while its
    /// tree lives; orphans that re-parent to tend are known by it.
    pub(super) session: Option<i32>,
    /// `after` as slot indices: whom this one waits for, and who waits for it.
    pub(super) deps: Vec<usize>,
    pub(super) dependents: Vec<usize>,
    /// During a shutdown: its stop has been asked for.
    pub(super) stop_sent: bool,
    /// Removed by a reload: stopped, then kept only as a record.
    pub(super) retired: bool,
    /// A changed definition from a reload, taken at the next spawn.
    pub(super) pending: Option<AppSpec>,
    /// Health checks: when the next probe is due, and the probe in flight.
    pub(super) probe_due: Option<Instant>,
    pub(super) probe: Option<InFlight>,
    /// sd_notify: when the watchdog runs out.
    pub(super) watchdog_due: Option<Instant>,
    /// `log = "prefix"`: the pipes of its runs, each read until every
    /// writer is gone (a restart's new pipes may open before the old close).
    pub(super) pipes: Vec<(u64, Pipe)>,
    /// The environment of its current run on top of tend's (user, env
    /// files, `env`), without TEND_*: what its exec health checks get.
    pub(super) env: Vec<(String, String)>,
    /// Start attempts so far, failed ones included: a waiting `tend
    /// restart` knows the new run from the old by it, and a second
    /// attempt says the first one did not come up.
    pub(super) starts: u64,
    /// Why the last start attempt failed; None once one succeeded.
    pub(super) spawn_error: Option<String>,
    /// The last two CPU samples `tend status` took (older, newer), the
    /// newer at least a second after the older: a reading is the CPU used
    /// since the newer once it is a second old, else since the older (or
    /// since the run began). Only samples of the run that began at `run`
    /// count.
    pub(super) cpu_samples: [Option<CpuSample>; 2],
    /// `listen` apps: the runs replacements detached, until each is gone.
    pub(super) outgoing: Vec<Outgoing>,
    /// A restart that waits for another replacement of its app to end.
    pub(super) deferred: Option<Event>,
    /// `cron_restart`: when the next matching minute comes, as a deadline
    /// of the loop and as the Unix time it stands for (see `scheduled`).
    pub(super) cron_due: Option<(Instant, i64)>,
    /// cgroup mode: the current run's cgroup, until its tree is gone.
    pub(super) cgroup: Option<Group>,
}

/// A tree's CPU time at one moment of one run.
#[derive(Debug, Clone, Copy)]
pub(super) struct CpuSample {
    pub(super) run: Instant,
    pub(super) ticks: u64,
    pub(super) at: Instant,
}

impl Slot {
    /// A slot for `spec`, waiting to be started.
    pub(super) fn new(spec: AppSpec) -> Slot {
        Slot {
            app: App::new(spec),
            session: None,
            deps: Vec::new(),
            dependents: Vec::new(),
            stop_sent: false,
            retired: false,
            pending: None,
            probe_due: None,
            probe: None,
            watchdog_due: None,
            pipes: Vec::new(),
            env: Vec::new(),
            starts: 0,
            spawn_error: None,
            cpu_samples: [None, None],
            outgoing: Vec::new(),
            deferred: None,
            cron_due: None,
            cgroup: None,
        }
    }

    /// The instance's name, `NAME` or `NAME.i`.
    pub(super) fn name(&self) -> &str {
        &self.app.spec.name
    }
}
