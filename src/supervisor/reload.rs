//! Reload: read the config again and apply only what changed. Added apps
//! start, removed ones stop, changed ones restart with their new
//! definition, untouched ones keep their pid and counters; an invalid file
//! changes nothing. `plan` is the pure half: which instance keeps, loses or
//! changes its definition, and which are new.

use std::time::Instant;

use super::{Slot, Supervisor, order};
use crate::app::{Cause, Event, State};
use crate::config::{self, AppSpec};
use crate::log;

/// What a reload does to one running instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Keep,
    Remove,
    Update(Box<AppSpec>),
}

/// A reload's plan: a change for each current instance, in their order,
/// and the instances the file adds.
#[derive(Debug, PartialEq)]
pub struct Plan {
    pub changes: Vec<Change>,
    pub added: Vec<AppSpec>,
}

/// Instances are matched by their full name (`NAME` or `NAME.i`): going
/// from 2 instances to 3 adds `NAME.2` and leaves the others running.
pub fn plan(current: &[&AppSpec], wanted: Vec<AppSpec>) -> Plan {
    let changes = current
        .iter()
        .map(|cur| match wanted.iter().find(|w| w.name == cur.name) {
            None => Change::Remove,
            Some(w) if w == *cur => Change::Keep,
            Some(w) => Change::Update(Box::new(w.clone())),
        })
        .collect();
    let added = wanted
        .into_iter()
        .filter(|w| !current.iter().any(|c| c.name == w.name))
        .collect();
    Plan { changes, added }
}

impl Supervisor {
    /// Reads the config again and applies its plan; says what it did.
    pub fn reload(&mut self, now: Instant) -> Result<String, String> {
        let Some(path) = self.opts.config.clone() else {
            return Err(
                "tend runs one command (wrapper mode): there is no config file to reload".into(),
            );
        };
        if self.shutdown.is_some() {
            return Err("tend is shutting down".into());
        }
        let config = config::load(&path).map_err(|p| p.to_string())?;
        self.opts.poll_interval = config.poll_interval;
        // Moving every run between cgroups and /proc is a restart's job.
        if matches!(
            (config.cgroups, self.cgroups.is_some()),
            (config::Cgroups::Off, true) | (config::Cgroups::On, false)
        ) {
            log::warn(&format!(
                "reload: tend.cgroups changes when tend restarts; until then: {}",
                self.accounting()
            ));
        }
        self.logs.set_dir(config.log_dir.clone());
        log::set_json(config.log_format == config::LogFormat::Json);
        let live: Vec<usize> = self.live().collect();
        let current: Vec<&AppSpec> = live.iter().map(|&i| &self.slots[i].app.spec).collect();
        let plan = plan(&current, config.apps);
        let (mut removed, mut changed, mut kept) = (0, 0, 0);
        for (&i, change) in live.iter().zip(plan.changes) {
            let slot = &mut self.slots[i];
            match change {
                Change::Keep => kept += 1,
                Change::Remove => {
                    removed += 1;
                    slot.retired = true;
                    slot.app.asked_by(Cause::Reload);
                    self.apply(i, Event::Stop, now);
                }
                Change::Update(spec) => {
                    changed += 1;
                    if matches!(slot.app.state, State::Waiting | State::Stopped) {
                        slot.app.spec = *spec;
                    } else {
                        slot.pending = Some(*spec);
                        slot.app.asked_by(Cause::Reload);
                        self.apply(i, Event::Restart, now);
                    }
                }
            }
        }
        let added = plan.added.len();
        self.slots.extend(plan.added.into_iter().map(Slot::new));
        order::link(&mut self.slots);
        self.update_watches();
        self.close_unused_sockets();
        self.open_notify();
        self.next_sample = None;
        // cron_restart: new expressions, and the zone read again (an
        // edited /etc/localtime); armed again at the next tick.
        self.zone = None;
        for slot in &mut self.slots {
            slot.cron_due = None;
        }
        Ok(format!(
            "reloaded {}: {added} added, {removed} removed, {changed} changed, {kept} unchanged",
            path.display()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, command: &str) -> AppSpec {
        AppSpec::new(name, vec![command.into()])
    }

    #[test]
    fn a_plan_keeps_removes_updates_and_adds() {
        let (web, worker, cron) = (spec("web", "a"), spec("worker", "b"), spec("cron", "c"));
        let wanted = vec![spec("web", "a"), spec("worker", "B"), spec("mail", "m")];
        let p = plan(&[&web, &worker, &cron], wanted);
        assert_eq!(
            p.changes,
            [
                Change::Keep,
                Change::Update(Box::new(spec("worker", "B"))),
                Change::Remove
            ]
        );
        assert_eq!(p.added, [spec("mail", "m")]);
    }

    #[test]
    fn instances_are_matched_by_their_full_name() {
        let (a0, a1) = (spec("web.0", "x"), spec("web.1", "x"));
        let p = plan(
            &[&a0, &a1],
            vec![spec("web.0", "x"), spec("web.1", "x"), spec("web.2", "x")],
        );
        assert_eq!(p.changes, [Change::Keep, Change::Keep]);
        assert_eq!(p.added, [spec("web.2", "x")]);
        let p = plan(&[&a0, &a1], vec![spec("web", "x")]);
        assert_eq!(
            p.changes,
            [Change::Remove, Change::Remove],
            "1 instance: renamed"
        );
        assert_eq!(p.added, [spec("web", "x")]);
    }

    #[test]
    fn an_empty_file_removes_everything_and_an_unchanged_one_nothing() {
        let web = spec("web", "a");
        assert_eq!(plan(&[&web], Vec::new()).changes, [Change::Remove]);
        let same = plan(&[&web], vec![spec("web", "a")]);
        assert_eq!(
            same,
            Plan {
                changes: vec![Change::Keep],
                added: Vec::new()
            }
        );
    }
}
