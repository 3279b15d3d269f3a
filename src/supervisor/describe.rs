//! `tend describe NAME`: everything tend knows about each instance of an
//! app: its definition as resolved (defaults applied, env values left
//! out: they may hold secrets), its counters, and how its last runs ended
//! and why. Durations and sizes are spelled as in init.toml.

use std::time::Instant;

use serde_json::{Value, json};

use super::Supervisor;
use crate::app::State;
use crate::config::{AppSpec, Id, LogMode};
use crate::control;
use crate::health::Probe;
use crate::logs::Logs;
use crate::reaper::Status;
use crate::units::{format_cpu, format_duration, format_size, signal_name};

impl Supervisor {
    /// The answer to `describe NAME`: one entry per instance.
    pub(super) fn describe(&mut self, name: &str, now: Instant) -> Value {
        let chosen = match self.select_all(&[name.to_string()]) {
            Ok(chosen) => chosen,
            Err(e) => return control::error(&e),
        };
        let mut apps = Vec::with_capacity(chosen.len());
        for i in chosen {
            let mem = self.tree_usage(i).map(|(bytes, _)| bytes);
            let slot = &self.slots[i];
            let app = &slot.app;
            let uptime = match app.state {
                State::Running { since, .. } | State::Stopping { since, .. } => {
                    Some(now.saturating_duration_since(since).as_secs_f64())
                }
                _ => None,
            };
            let exits: Vec<Value> = app
                .exits
                .iter()
                .rev()
                .map(|e| {
                    json!({
                        "ago_s": now.saturating_duration_since(e.at).as_secs_f64(),
                        "code": e.status.map(Status::code),
                        "signal": e.status.and_then(Status::signal_name),
                        "run_s": e.run.as_secs_f64(),
                        "cause": e.cause.name(),
                    })
                })
                .collect();
            let checks: Vec<Value> = app
                .checks
                .iter()
                .rev()
                .map(|c| {
                    json!({
                        "ago_s": now.saturating_duration_since(c.at).as_secs_f64(),
                        "passed": c.passed,
                        "reason": (!c.passed).then_some(c.reason.as_str()),
                    })
                })
                .collect();
            apps.push(json!({
                "name": app.spec.name,
                "app": app.spec.app,
                "instance": app.spec.instance,
                "state": app.state_name(),
                "health": app.health().filter(|_| app.main_pid().is_some()).map(|h| h.name()),
                "pid": app.main_pid().map(|p| p.as_raw()),
                "uptime_s": uptime,
                "mem": mem,
                "restarts": app.restarts,
                "restarts_in_a_row": app.restarts_in_a_row(),
                "removed": slot.retired,
                "definition": definition(slot.pending.as_ref().unwrap_or(&app.spec), &self.logs),
                "next_start_changes": slot.pending.is_some(),
                "next_cron_restart": self.next_cron(i),
                "cgroup": slot.cgroup.as_ref().map(|g| g.dir().display().to_string()),
                "exits": exits,
                "checks": checks,
            }));
        }
        json!({"ok": true, "apps": apps})
    }
}

/// An app's definition, keys as in init.toml; env keys only.
fn definition(spec: &AppSpec, logs: &Logs) -> Value {
    let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
    let id = |id: &Option<Id>| match id {
        Some(Id::Number(n)) => Some(n.to_string()),
        Some(Id::Name(n)) => Some(n.clone()),
        None => None,
    };
    let health = spec.health.as_ref().map(|h| {
        let probe = match &h.probe {
            Probe::Exec(argv) => json!({"exec": argv.iter().map(|a| text(a)).collect::<Vec<_>>()}),
            Probe::Tcp(addr) => json!({"tcp": addr.to_string()}),
            Probe::Http { addr, host, path } => {
                json!({"http": format!("http://{host}{path}"), "address": addr.to_string()})
            }
        };
        json!({
            "probe": probe,
            "interval": format_duration(h.interval),
            "timeout": format_duration(h.timeout),
            "retries": h.retries,
            "start_period": format_duration(h.start_period),
        })
    });
    json!({
        "command": spec.command.iter().map(|a| text(a)).collect::<Vec<_>>(),
        "cwd": spec.cwd.as_ref().map(|c| c.display().to_string()),
        "user": id(&spec.user),
        "group": id(&spec.group),
        "env_keys": spec.env.keys().collect::<Vec<_>>(),
        "restart": spec.restart.name(),
        "restart_delay": format_duration(spec.restart_delay),
        "max_restart_delay": format_duration(spec.max_restart_delay),
        "min_uptime": format_duration(spec.min_uptime),
        "max_restarts": spec.max_restarts,
        "max_memory": spec.max_memory.map(format_size),
        "memory_max": spec.memory_max.map(format_size),
        "cpu_max": spec.cpu_max.map(format_cpu),
        "pids_max": spec.pids_max,
        "stop_signal": signal_name(spec.stop_signal),
        "stop_timeout": format_duration(spec.stop_timeout),
        "after": spec.after,
        "listen": spec.listen.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "critical": spec.critical,
        "health": health,
        "notify": spec.notify,
        "watchdog": spec.watchdog.map(format_duration),
        "watch": spec.watch.as_ref().map(|w| json!({
            "paths": w.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            "ignore": w.ignore,
            "delay": format_duration(w.delay),
        })),
        "cron_restart": spec.cron.as_ref().map(|c| c.text.as_str()),
        "log": log_words(spec),
        "log_file": logs.path_for(spec),
    })
}

/// `log` as written: `prefix`, `file`, `json, file`.
fn log_words(spec: &AppSpec) -> String {
    let form = LogMode::NAMES
        .iter()
        .find(|(_, m)| *m == spec.log)
        .map(|(n, _)| *n);
    match (form, spec.log_file) {
        (Some(form), true) => format!("{form}, file"),
        (Some(form), false) => form.to_string(),
        (None, _) => "file".to_string(),
    }
}
