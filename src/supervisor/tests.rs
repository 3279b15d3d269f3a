//! The supervisor's own decisions, without processes: the apps here are
//! never spawned (no tick before a shutdown, or events fed by hand), so
//! what is tested is ordering, the queue, the shutdown and reload.

use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::*;

fn opts(config: Option<PathBuf>) -> Options {
    Options {
        config,
        poll_interval: Duration::from_secs(1),
        session: Session::New,
        exit_with_last_code: false,
        forward_hup: false,
        vm: false,
        log_dir: None,
    }
}

fn spec(name: &str, after: &[&str]) -> AppSpec {
    let mut s = AppSpec::new(name, vec!["true".into()]);
    s.after = after.iter().map(|a| a.to_string()).collect();
    s
}

fn states(sup: &Supervisor) -> Vec<&'static str> {
    sup.slots.iter().map(|s| s.app.state_name()).collect()
}

#[test]
fn a_shutdown_before_anything_started_stops_everything_and_ends_with_0() {
    let now = Instant::now();
    let mut sup = Supervisor::new(
        vec![spec("db", &[]), spec("web", &["db"])],
        opts(None),
        None,
    );
    assert_eq!(sup.slots[1].deps, [0]);
    sup.on_signal(libc::SIGTERM, now);
    assert_eq!(sup.finished(), Some(0), "apps still waiting count as down");
    sup.tick(now);
    assert_eq!(states(&sup), ["stopped", "stopped"]);
    assert_eq!(sup.finished(), Some(0));
    assert!(sup.mains.is_empty(), "nothing was started");
}

#[test]
fn a_critical_app_that_ends_stops_everything_with_its_exit_code() {
    let now = Instant::now();
    let mut api = spec("api", &[]);
    api.critical = true;
    api.restart = crate::policy::Restart::Never;
    let mut sup = Supervisor::new(vec![api, spec("worker", &[])], opts(None), None);
    // The outcome of a spawn, fed by hand: no process has this pid's role.
    sup.apply(
        0,
        Event::Spawned {
            pid: Pid::from_raw(1),
        },
        now,
    );
    assert_eq!(sup.slots[0].session, Some(1), "the run's session is known");
    let status = Status::Exited(3);
    sup.apply(
        0,
        Event::Exited {
            status,
            tree_left: false,
        },
        now,
    );
    assert_eq!(sup.slots[0].session, None, "its tree is gone");
    assert!(sup.shutdown.is_some());
    sup.tick(now);
    assert_eq!(
        states(&sup),
        ["exited", "stopped"],
        "the worker never starts"
    );
    assert_eq!(sup.finished(), Some(3));
}

#[test]
fn a_start_queued_during_a_shutdown_becomes_a_stop() {
    let now = Instant::now();
    let mut sup = Supervisor::new(vec![spec("a", &[])], opts(None), None);
    sup.on_signal(libc::SIGTERM, now);
    // What a user's `tend start` would feed: the Spawn it asks for is
    // turned into a Stop through the queue, never a process.
    sup.apply(0, Event::Start, now);
    assert_eq!(states(&sup), ["stopped"]);
    assert!(sup.queue.is_empty());
    assert!(sup.mains.is_empty());
}

#[test]
fn reload_applies_its_plan_to_slots_that_never_ran() {
    let dir = std::env::temp_dir().join(format!("tend-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("init.toml");
    let write = |text: &str| std::fs::write(&file, text).expect("write init.toml");
    write("[app.a]\ncommand = \"true\"\n[app.b]\ncommand = \"true\"\n");
    let config = crate::config::load(&file).expect("valid");
    let now = Instant::now();
    let mut sup = Supervisor::new(config.apps, opts(Some(file.clone())), None);
    write("[app.b]\ncommand = \"false\"\n[app.c]\ncommand = \"true\"\nafter = [\"b\"]\n");
    let summary = sup.reload(now).expect("reload");
    assert!(
        summary.ends_with("1 added, 1 removed, 1 changed, 0 unchanged"),
        "{summary}"
    );
    assert_eq!(states(&sup), ["stopped", "waiting", "waiting"]);
    assert!(sup.slots[0].retired);
    assert_eq!(sup.slots[1].app.spec.command, ["/bin/sh", "-c", "false"]);
    assert_eq!(sup.slots[2].deps, [1], "links are made again");
    write("[app.b]\ncommand = nope\n");
    assert!(sup.reload(now).is_err(), "an invalid file");
    assert_eq!(sup.slots.len(), 3, "changes nothing");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cron_deadlines_are_armed_and_rearmed_without_starting_anything() {
    let now = Instant::now();
    let mut web = spec("web", &[]);
    web.cron = Some(crate::cron::Schedule::parse("* * * * *").expect("valid"));
    let mut sup = Supervisor::new(vec![web, spec("plain", &[])], opts(None), None);
    sup.zone = Some(Zone::utc());
    assert_eq!(sup.next_deadline(), None, "nothing armed before a tick");
    sup.run_crons(now);
    let (at, minute) = sup.slots[0].cron_due.expect("armed");
    assert!(at > now && at <= now + Duration::from_secs(60), "{at:?}");
    assert_eq!(minute % 60, 0);
    assert_eq!(sup.next_deadline(), Some(at), "the loop sleeps until it");
    assert_eq!(sup.slots[1].cron_due, None);
    // Due, but not running: nothing starts; armed for the next minute.
    sup.slots[0].cron_due = Some((now, minute - 60));
    sup.run_crons(now);
    assert_eq!(states(&sup), ["waiting", "waiting"]);
    assert!(sup.slots[0].app.exits.is_empty());
    let (again, next) = sup.slots[0].cron_due.expect("armed");
    assert!(again > now && next >= minute);
    // The deadline came but the wall clock went back: not yet, armed again.
    sup.slots[0].cron_due = Some((now, minute + 3600));
    sup.run_crons(now);
    let (rearmed, next) = sup.slots[0].cron_due.expect("armed");
    assert!(rearmed > now && rearmed <= now + Duration::from_secs(60));
    assert!(
        next == minute || next == minute + 60,
        "the next minute by the clock now"
    );
    assert_eq!(states(&sup), ["waiting", "waiting"]);
}
