//! `tend start|stop|restart NAME...|all`: ask, then wait until the work
//! is done. The waiting is the client's: after the request it asks for
//! `status` every `POLL` until each instance is judged or `--timeout` runs
//! out. The server keeps nothing for a waiting client (no long-lived
//! connection, no pending request, nothing for its connection caps to
//! weigh), and what the client judges is the supervisor's own state.
//!
//! The verdicts (`judge`) are pure. A run is told from the one before it by
//! the instance's `starts` count (start attempts, failed ones included):
//! the start request's answer gives the count from before it acted, so a
//! restart is never judged by the old pid, and a second attempt after the
//! request means the first one did not come up.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::client::{ask, state_text};
use super::protocol::Request;
use crate::cli::{Act, Verb};
use crate::units::format_duration;

/// How often a waiting client asks for the state.
const POLL: Duration = Duration::from_millis(100);
/// A new run of an app with neither a health check nor sd_notify is up
/// once it has run this long: "running" alone is true from the fork on,
/// and a command that dies at once (a bad flag, a taken port, a missing
/// module) must make `tend restart` fail, not print a pid already gone.
pub const SETTLE: Duration = Duration::from_secs(1);

/// Runs `act`; Ok(exit code) or an error line (exit 1, nothing printed).
pub fn run(path: &Path, act: &Act) -> Result<u8, String> {
    let began = Instant::now();
    let status = ask_ok(path, &Request::Status)?;
    let instances = resolve(&status, &act.names)?;
    let mut base = Vec::with_capacity(instances.len());
    for name in &instances {
        let reply = ask_ok(path, &act.verb.request(name))?;
        base.push(reply["starts"][name.as_str()].as_u64().unwrap_or(0));
    }
    if !act.wait {
        return Ok(0);
    }
    let deadline = began + act.timeout;
    let mut pending: Vec<(String, u64)> = instances.into_iter().zip(base).collect();
    let mut failed = false;
    // Only the instances waited for: each status costs tend a /proc pass.
    // One a reload removed makes that request fail: then all of them, where
    // its absence is a verdict.
    let only = Request::StatusOf(pending.iter().map(|(n, _)| n.clone()).collect());
    loop {
        let status = ask_ok(path, &only).or_else(|_| ask_ok(path, &Request::Status))?;
        let now = Instant::now();
        pending.retain(|(name, base)| {
            let facts = find(&status, name);
            let verdict = match judge(act.verb, facts, *base) {
                Verdict::Waiting if now >= deadline => Verdict::Bad(format!(
                    "timed out after {} (state: {})",
                    format_duration(act.timeout),
                    facts.map_or("removed".into(), state_text)
                )),
                v => v,
            };
            match verdict {
                Verdict::Waiting => true,
                Verdict::Good(line) => {
                    println!("{name}: {line}");
                    false
                }
                Verdict::Bad(line) => {
                    println!("{name}: {line}");
                    failed = true;
                    false
                }
            }
        });
        if pending.is_empty() {
            return Ok(u8::from(failed));
        }
        std::thread::sleep(POLL.min(deadline.saturating_duration_since(Instant::now())));
    }
}

/// `ask`, with a refusal turned into its error line.
fn ask_ok(path: &Path, req: &Request) -> Result<Value, String> {
    let reply = ask(path, req)?;
    if reply["ok"] != Value::Bool(true) {
        return Err(reply["error"]
            .as_str()
            .unwrap_or("the request failed")
            .to_string());
    }
    Ok(reply)
}

/// The instances `names` stand for, in the order given, each once: `all`
/// is every app; `NAME` each of its instances; `NAME.i` that one. One
/// unknown name and nothing is done.
pub fn resolve(status: &Value, names: &[String]) -> Result<Vec<String>, String> {
    let live: Vec<&Value> = status["apps"]
        .as_array()
        .map(|a| a.iter().filter(|a| a["removed"] != true).collect())
        .unwrap_or_default();
    let mut chosen = Vec::new();
    let mut seen = BTreeSet::new();
    for given in names {
        let matching: Vec<&str> = live
            .iter()
            .filter(|a| given == "all" || a["app"] == given.as_str() || a["name"] == given.as_str())
            .filter_map(|a| a["name"].as_str())
            .collect();
        if matching.is_empty() {
            let apps: Vec<&str> = live.iter().filter_map(|a| a["name"].as_str()).collect();
            let apps = apps.join(", ");
            return Err(format!(
                "no app named {given:?} (apps: {apps}); nothing was done"
            ));
        }
        for name in matching {
            if seen.insert(name.to_string()) {
                chosen.push(name.to_string());
            }
        }
    }
    Ok(chosen)
}

/// One instance's object in a status answer.
fn find<'a>(status: &'a Value, name: &str) -> Option<&'a Value> {
    status["apps"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name && a["removed"] != true)
}

/// Where one instance stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    /// Done; the line says how.
    Good(String),
    /// Will not get there; the line says why.
    Bad(String),
}

/// Judges one instance from its status object, `base` being its `starts`
/// count from before the request acted.
pub fn judge(verb: Verb, facts: Option<&Value>, base: u64) -> Verdict {
    let Some(a) = facts else {
        return match verb {
            Verb::Stop => Verdict::Good("stopped (removed by a reload)".into()),
            _ => Verdict::Bad("removed by a reload".into()),
        };
    };
    let state = a["state"].as_str().unwrap_or("?");
    let down = matches!(state, "stopped" | "exited" | "failed");
    if verb == Verb::Stop {
        return match state {
            "stopped" => Verdict::Good("stopped".into()),
            _ if down => Verdict::Good(format!("stopped (was {state})")),
            _ => Verdict::Waiting,
        };
    }
    let runs = a["starts"].as_u64().unwrap_or(0).saturating_sub(base);
    // A restart wants a run that began after it; a start takes the one
    // that is up already.
    let new_run = runs >= 1 || verb == Verb::Start;
    if runs >= 2 {
        return Verdict::Bad(format!(
            "failed to start: {} (state: {})",
            reason(a),
            state_text(a)
        ));
    }
    // Nothing but the clock says a run without checks came up.
    let unchecked = a["health"].is_null() && a["ready"].is_null();
    let settled =
        runs == 0 || !unchecked || a["uptime_s"].as_f64().unwrap_or(0.0) >= SETTLE.as_secs_f64();
    // A replacement is over once the old run is gone too.
    let replaced = a["replacing"].is_null();
    if new_run && a["up"] == true && settled && replaced {
        let pid = a["pid"].as_i64().map_or("?".into(), |p| p.to_string());
        return Verdict::Good(format!("running, pid {pid}"));
    }
    // A one-shot task (restart never or on-failure) that did its job.
    let clean = a["last_exit"]["code"] == 0 && a["last_exit"]["signal"].is_null();
    if runs == 1 && state == "exited" && clean {
        return Verdict::Good("ran and exited with code 0".into());
    }
    if runs >= 1 && (down || state == "backoff") {
        return Verdict::Bad(format!("failed to start: {} (state: {state})", reason(a)));
    }
    Verdict::Waiting
}

/// Why the last run ended: the start error, or its exit.
fn reason(a: &Value) -> String {
    if let Some(e) = a["spawn_error"].as_str() {
        return e.to_string();
    }
    let last = &a["last_exit"];
    match (last["signal"].as_str(), last["code"].as_i64()) {
        (Some(sig), _) => format!("killed by {sig} before it was up"),
        (None, Some(code)) => format!("exited with code {code} before it was up"),
        (None, None) => "ended before it was up".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inst(state: &str, starts: u64, up: bool, pid: Option<i64>) -> Value {
        json!({"name": "web", "app": "web", "state": state, "starts": starts, "up": up,
               "pid": pid, "uptime_s": 1.0, "health": null, "ready": null, "spawn_error": null,
               "last_exit": {"code": 1, "signal": null}, "removed": false})
    }

    #[test]
    fn verdicts() {
        use Verb::*;
        use Verdict::*;
        let good = |s: &str| Good(s.to_string());
        let bad = |s: &str| Bad(s.to_string());
        let mut young = inst("running", 4, true, Some(8));
        young["uptime_s"] = json!(0.2);
        let mut replacing = inst("running", 4, true, Some(8));
        replacing["replacing"] = json!(7);
        let cases = [
            // A start of what is up already is done at once.
            (
                Start,
                inst("running", 3, true, Some(7)),
                3,
                good("running, pid 7"),
            ),
            // A restart is not judged by the old run...
            (Restart, inst("running", 3, true, Some(7)), 3, Waiting),
            (Restart, inst("stopping", 3, false, Some(7)), 3, Waiting),
            // ... nor by a new one that is not up yet.
            (Restart, inst("running", 4, false, Some(8)), 3, Waiting),
            (
                Restart,
                inst("running", 4, true, Some(8)),
                3,
                good("running, pid 8"),
            ),
            // A replacement: up, but the old run is still there.
            (Restart, replacing.clone(), 3, Waiting),
            (
                Restart,
                inst("backoff", 4, false, None),
                3,
                bad("failed to start: exited with code 1 before it was up (state: backoff)"),
            ),
            // Crashed and started again before we looked.
            (
                Start,
                inst("running", 5, true, Some(9)),
                3,
                bad("failed to start: exited with code 1 before it was up (state: running)"),
            ),
            (Start, inst("waiting", 3, false, None), 3, Waiting),
            // Without checks, a new run is up once it has lasted SETTLE.
            (Start, young.clone(), 3, Waiting),
            (Start, young.clone(), 4, good("running, pid 8")),
            (Restart, young, 3, Waiting),
            (Stop, inst("stopping", 3, false, Some(7)), 3, Waiting),
            (Stop, inst("stopped", 3, false, None), 3, good("stopped")),
            (
                Stop,
                inst("failed", 3, false, None),
                3,
                good("stopped (was failed)"),
            ),
        ];
        for (verb, facts, base, want) in cases {
            assert_eq!(judge(verb, Some(&facts), base), want, "{verb:?} {facts}");
        }
        // A one-shot task that did its job within SETTLE is a good start;
        // one that failed is not.
        let mut task = inst("exited", 4, false, None);
        task["last_exit"] = json!({"code": 0, "signal": null});
        assert_eq!(
            judge(Start, Some(&task), 3),
            good("ran and exited with code 0")
        );
        assert_eq!(
            judge(Start, Some(&inst("exited", 4, false, None)), 3),
            bad("failed to start: exited with code 1 before it was up (state: exited)")
        );
        let mut e = inst("backoff", 1, false, None);
        e["spawn_error"] = json!("cannot start: no such user");
        assert_eq!(
            judge(Start, Some(&e), 0),
            bad("failed to start: cannot start: no such user (state: backoff)")
        );
    }

    #[test]
    fn names_resolve_to_instances_once() {
        let status = json!({"apps": [
            {"name": "web.0", "app": "web", "removed": false},
            {"name": "web.1", "app": "web", "removed": false},
            {"name": "db", "app": "db", "removed": false},
            {"name": "old", "app": "old", "removed": true},
        ]});
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resolve(&status, &names(&["web.1", "web"])),
            Ok(names(&["web.1", "web.0"]))
        );
        assert_eq!(
            resolve(&status, &names(&["all"])),
            Ok(names(&["web.0", "web.1", "db"]))
        );
        let err = resolve(&status, &names(&["db", "old"])).unwrap_err();
        assert!(
            err.contains("no app named \"old\" (apps: web.0, web.1, db); nothing was done"),
            "{err}"
        );
    }
}
