//! Start and stop order, and when tend is done, as pure functions of the
//! slots: `after` links, who may start, who may stop during a shutdown
//! (dependents first, the rest in parallel), who waits for an app that
//! will never come up, and the exit code once everything has ended. No
//! syscalls: unit-tested on slots whose states are set by hand.

use crate::app::State;
use crate::reaper::Status;

use super::slot::Slot;

/// Turns `after` names into slot indices among the slots not retired.
pub fn link(slots: &mut [Slot]) {
    let n = slots.len();
    let deps: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            (0..n)
                .filter(|&j| {
                    let (a, b) = (&slots[i], &slots[j]);
                    !a.retired && !b.retired && j != i && a.app.spec.after.contains(&b.app.spec.app)
                })
                .collect()
        })
        .collect();
    for slot in slots.iter_mut() {
        slot.dependents.clear();
    }
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            slots[j].dependents.push(i);
        }
    }
    for (slot, d) in slots.iter_mut().zip(deps) {
        slot.deps = d;
    }
}

/// Slot `j` ended for good with exit code 0 (a one-shot task that did its job).
pub fn clean_end(slot: &Slot) -> bool {
    let a = &slot.app;
    a.state == State::Exited
        && a.last_exit
            .is_some_and(|(s, _)| s.is_some_and(Status::success))
}

/// Every slot `i` waits for is up (running, healthy, ready), or ran to a clean end.
pub fn deps_up(slots: &[Slot], i: usize) -> bool {
    slots[i]
        .deps
        .iter()
        .all(|&j| slots[j].app.is_up() || clean_end(&slots[j]))
}

/// Outside a shutdown: slot `i` is waiting and may start now.
pub fn may_start(slots: &[Slot], i: usize) -> bool {
    let s = &slots[i];
    s.app.state == State::Waiting && !s.retired && deps_up(slots, i)
}

/// During a shutdown: slot `i`'s stop may be sent now. A running app waits
/// until its dependents are down; an app not running (waiting, in backoff)
/// stops at once.
pub fn may_stop(slots: &[Slot], i: usize) -> bool {
    let s = &slots[i];
    let running = matches!(s.app.state, State::Running { .. });
    let dependents_down = s.dependents.iter().all(|&d| {
        let a = &slots[d].app;
        a.is_down() || a.state == State::Waiting
    });
    !s.stop_sent && (!running || dependents_down)
}

/// Slot `i` waits for an app that will never come up by itself.
pub fn blocked(slots: &[Slot], i: usize) -> bool {
    slots[i].app.state == State::Waiting
        && slots[i]
            .deps
            .iter()
            .any(|&j| (slots[j].app.is_down() && !clean_end(&slots[j])) || blocked(slots, j))
}

/// Every app is down or waiting: a shutdown's apps part is over.
pub fn all_down(slots: &[Slot]) -> bool {
    slots
        .iter()
        .all(|s| s.app.is_down() || s.app.state == State::Waiting)
}

/// Outside a shutdown, once nothing runs or is due to restart: exit code 0
/// when every app's last run ended cleanly (or it was stopped on request),
/// else exit code 1; None while something goes on. An app stopped on
/// request waits for `tend start`, so tend stays up for it unless a reload
/// removed it.
pub fn ended_code(slots: &[Slot]) -> Option<u8> {
    let waits_for_start = |s: &Slot| s.app.state == State::Stopped && !s.retired;
    let all_ended = (0..slots.len())
        .all(|i| (slots[i].app.is_down() && !waits_for_start(&slots[i])) || blocked(slots, i));
    if !all_ended {
        return None;
    }
    let clean = slots
        .iter()
        .all(|s| s.app.state == State::Stopped || clean_end(s));
    Some(if clean { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use nix::unistd::Pid;

    use super::*;
    use crate::config::AppSpec;

    /// Slots named by `apps`, each `(name, after)`.
    fn slots(apps: &[(&str, &[&str])]) -> Vec<Slot> {
        let mut out: Vec<Slot> = apps
            .iter()
            .map(|(name, after)| {
                let mut spec = AppSpec::new(name, vec!["x".into()]);
                spec.after = after.iter().map(|s| s.to_string()).collect();
                Slot::new(spec)
            })
            .collect();
        link(&mut out);
        out
    }

    fn running() -> State {
        State::Running {
            pid: Pid::from_raw(10),
            since: Instant::now(),
        }
    }

    fn ended(slot: &mut Slot, code: i32) {
        slot.app.state = State::Exited;
        slot.app.last_exit = Some((Some(Status::Exited(code)), Instant::now()));
    }

    #[test]
    fn after_names_become_links_both_ways() {
        let s = slots(&[("db", &[]), ("web", &["db"]), ("worker", &["db", "web"])]);
        assert_eq!(s[0].deps, Vec::<usize>::new());
        assert_eq!(s[1].deps, [0]);
        assert_eq!(s[2].deps, [0, 1]);
        assert_eq!(s[0].dependents, [1, 2]);
        assert_eq!(s[1].dependents, [2]);
    }

    #[test]
    fn a_retired_slot_links_to_nothing() {
        let mut s = slots(&[("db", &[]), ("web", &["db"])]);
        s[0].retired = true;
        link(&mut s);
        assert!(s[1].deps.is_empty());
        assert!(s[0].dependents.is_empty());
        assert!(may_start(&s, 1), "nothing left to wait for");
        assert!(!may_start(&s, 0), "a retired slot never starts");
    }

    #[test]
    fn an_app_starts_once_what_it_waits_for_is_up_or_ended_cleanly() {
        let mut s = slots(&[("migrate", &[]), ("db", &[]), ("web", &["db", "migrate"])]);
        assert!(may_start(&s, 0) && may_start(&s, 1));
        assert!(!may_start(&s, 2));
        s[1].app.state = running();
        assert!(!may_start(&s, 2), "migrate has not run yet");
        ended(&mut s[0], 0);
        assert!(may_start(&s, 2));
        ended(&mut s[0], 1);
        assert!(!may_start(&s, 2), "a failed one-shot does not count");
        assert!(blocked(&s, 2), "and web waits for ever");
        assert!(!blocked(&s, 1));
    }

    #[test]
    fn an_app_with_notify_counts_as_up_once_ready() {
        let mut s = slots(&[("db", &[]), ("web", &["db"])]);
        s[0].app.spec.notify = true;
        s[0].app.state = running();
        assert!(!may_start(&s, 1));
        s[0].app.on_event(crate::app::Event::Ready, Instant::now());
        assert!(may_start(&s, 1));
    }

    #[test]
    fn blocking_passes_down_a_chain() {
        let mut s = slots(&[("a", &[]), ("b", &["a"]), ("c", &["b"])]);
        s[0].app.state = State::Failed;
        assert!(blocked(&s, 1) && blocked(&s, 2));
        s[0].app.state = State::Stopped;
        assert!(blocked(&s, 2), "stopped is down too");
    }

    #[test]
    fn shutdown_stops_dependents_first_and_the_unrelated_at_once() {
        let mut s = slots(&[("db", &[]), ("web", &["db"]), ("cron", &[])]);
        for slot in &mut s {
            slot.app.state = running();
        }
        assert!(!may_stop(&s, 0), "db waits for web");
        assert!(may_stop(&s, 1));
        assert!(may_stop(&s, 2), "unrelated: in parallel");
        s[1].app.state = State::Stopped;
        assert!(may_stop(&s, 0));
        s[0].stop_sent = true;
        assert!(!may_stop(&s, 0), "asked once");
    }

    #[test]
    fn shutdown_stops_an_app_in_backoff_at_once() {
        let mut s = slots(&[("db", &[]), ("web", &["db"])]);
        s[0].app.state = State::Backoff {
            until: Instant::now() + Duration::from_secs(9),
        };
        s[1].app.state = running();
        assert!(may_stop(&s, 0), "not running: nothing to wait for");
        s[1].app.state = State::Waiting;
        assert!(all_down(&[]) && !all_down(&s));
        s[0].app.state = State::Stopped;
        assert!(all_down(&s), "waiting counts as down");
    }

    #[test]
    fn the_exit_code_once_everything_has_ended() {
        let mut s = slots(&[("a", &[]), ("b", &[])]);
        assert_eq!(ended_code(&s), None, "nothing started yet");
        ended(&mut s[0], 0);
        s[1].app.state = running();
        assert_eq!(ended_code(&s), None, "b still runs");
        ended(&mut s[1], 0);
        assert_eq!(ended_code(&s), Some(0));
        s[1].app.state = State::Failed;
        assert_eq!(ended_code(&s), Some(1));
        ended(&mut s[1], 3);
        assert_eq!(ended_code(&s), Some(1), "an unclean last exit");
        s[1].app.state = State::Stopped;
        assert_eq!(ended_code(&s), None, "stopped on request: waits for start");
        s[1].retired = true;
        assert_eq!(ended_code(&s), Some(0), "removed by a reload");
    }

    #[test]
    fn an_app_that_waits_for_a_failed_one_does_not_keep_tend_up() {
        let mut s = slots(&[("db", &[]), ("web", &["db"])]);
        s[0].app.state = State::Failed;
        assert_eq!(ended_code(&s), Some(1));
    }
}
