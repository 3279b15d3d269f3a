//! Looking at and nudging running apps without restarting them: `tend
//! signal` to a main process or a whole tree, `tend status NAME...`, the
//! CPU and MEM columns, and `tend describe` with the causes of past exits.

use std::time::Duration;

use serde_json::Value;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

/// How many lines of {dir}/got say `who`.
fn got(t: &Running, who: &str) -> usize {
    t.dir.read("got").lines().filter(|l| *l == who).count()
}

#[test]
fn signal_reaches_the_main_process_or_the_tree_and_restarts_nothing() {
    require_namespaces!();
    // The main shell and its child each trap USR1; sleeps are short so the
    // traps run soon (a shell runs a trap once its foreground job ends).
    let t = Running::start(
        "signal",
        r#"
[tend]
log_format = "json"
[app.trap]
command = """
trap 'echo main >> {dir}/got' USR1
sh -c 'trap "echo child >> {dir}/got" USR1; touch {dir}/child-up; while :; do sleep 0.05; done' &
while :; do sleep 0.05; done
"""
[app.idle]
command = "exec sleep 600"
"#,
    );
    t.wait_socket();
    assert!(wait_until(T, || t.dir.join("child-up").exists()));
    let before = app(&status_json(&t), "trap");

    let out = t.ctl(&["signal", "USR1", "trap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        format!("trap: SIGUSR1 sent to pid {}\n", before["pid"])
    );
    assert!(wait_until(T, || got(&t, "main") == 1), "{}", t.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        got(&t, "child"),
        0,
        "only the main process: {}",
        t.dir.read("got")
    );

    let out = t.ctl(&["signal", "--tree", "SIGUSR1", "trap"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("sent to the tree of pid"),
        "{}",
        stdout(&out)
    );
    assert!(
        wait_until(T, || got(&t, "main") == 2 && got(&t, "child") == 1),
        "{}",
        t.dir.read("got")
    );

    // Nothing restarted, nothing counted.
    let after = app(&status_json(&t), "trap");
    assert_eq!(after["pid"], before["pid"]);
    assert_eq!(after["state"], "running");
    assert_eq!(after["restarts"], 0);
    assert_eq!(t.events("trap", "started").len(), 1, "{}", t.log());
    assert_eq!(t.events("trap", "signal").len(), 2, "{}", t.log());

    // An unknown name: nothing sent at all.
    let out = t.ctl(&["signal", "USR1", "trap", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no app named \"nope\""),
        "{}",
        stderr(&out)
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        got(&t, "main"),
        2,
        "nothing sent for a request naming an unknown app"
    );

    // An instance not running: said, exit 1; the others still get it.
    assert!(t.ctl(&["stop", "idle"]).status.success());
    assert!(wait_until(T, || app(&status_json(&t), "idle")["state"] == "stopped"));
    let out = t.ctl(&["signal", "USR1", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("idle: not running (stopped), nothing sent"),
        "{}",
        stdout(&out)
    );
    assert!(
        wait_until(T, || got(&t, "main") == 3),
        "{}",
        t.dir.read("got")
    );

    // A bad signal name is a usage error, before anything is asked.
    let out = t.ctl(&["signal", "BOGUS", "trap"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn status_names_limit_the_table_and_json() {
    require_namespaces!();
    let t = Running::start(
        "status-names",
        "[app.web]\ncommand = \"exec sleep 600\"\ninstances = 2\n[app.db]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["status", "--json"];
        all.extend_from_slice(args);
        let out = t.ctl(&all);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        v["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&[]), ["web.0", "web.1", "db"]);
    assert_eq!(names(&["web"]), ["web.0", "web.1"]);
    assert_eq!(names(&["db", "web.1"]), ["web.1", "db"]);

    let out = t.ctl(&["status", "web.0"]);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.lines().nth(1).unwrap().starts_with("web.0 "), "{text}");

    let out = t.ctl(&["status", "web", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no app named \"nope\" (apps: web.0, web.1, db)"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn cpu_is_the_trees_share_of_one_core_since_the_last_status() {
    require_namespaces!();
    let _alone = serial();
    // The busy loop runs in a child of the main shell: the tree's CPU counts.
    let t = Running::start(
        "cpu",
        "[app.busy]\ncommand = \"sh -c 'while :; do :; done' & wait\"\n[app.idle]\ncommand = \"exec sleep 600\"\n",
    );
    t.wait_socket();
    assert!(wait_until(T, || app(&status_json(&t), "busy")["cpu_s"]
        .as_f64()
        .is_some_and(|s| s > 0.0)));
    // Two samples a second apart: the second is the CPU of that second.
    status_json(&t);
    std::thread::sleep(Duration::from_secs(1));
    let v = status_json(&t);
    let (busy, idle) = (app(&v, "busy"), app(&v, "idle"));
    assert!(busy["cpu"].as_f64().unwrap() > 50.0, "{busy}");
    assert!(idle["cpu"].as_f64().unwrap() < 5.0, "{idle}");
    assert!(busy["cpu_s"].as_f64().unwrap() > 0.5, "{busy}");
    assert!(idle["cpu_s"].as_f64().unwrap() < 0.5, "{idle}");
    assert_eq!(busy["mem"], busy["rss"], "mem is the tree's RSS, rss kept");
    assert!(busy["mem"].as_u64().unwrap() > 0, "{busy}");

    // The table shows the same, as a percentage.
    let out = t.ctl(&["status", "idle"]);
    let text = stdout(&out);
    let cells: Vec<&str> = text.lines().nth(1).unwrap().split_whitespace().collect();
    assert!(cells[5].ends_with('%'), "{text}");
    assert!(
        cells[5].trim_end_matches('%').parse::<f64>().unwrap() < 5.0,
        "{text}"
    );
}

#[test]
fn describe_shows_the_definition_and_why_each_run_ended() {
    require_namespaces!();
    // The first run goes over max_memory (dd holds 150M); the next ones sleep.
    let t = Running::start(
        "describe",
        r#"
[tend]
poll_interval = "200ms"
log_format = "json"

[app.hog]
command = "if [ -e {dir}/hogged ]; then exec sleep 600; fi; touch {dir}/hogged; dd if=/dev/zero bs=150M count=1 2>/dev/null | sleep 60"
max_memory = "64M"
stop_timeout = "2s"
env = { SECRET_TOKEN = "hunter2", PORT = "3101" }
"#,
    );
    t.wait_socket();
    t.wait_event("hog", "memory_limit", 1, T);
    t.wait_event("hog", "started", 2, T);
    assert!(t.ctl(&["stop", "hog"]).status.success());
    t.wait_event("hog", "stopped", 1, T);

    let out = t.ctl(&["describe", "--json", "hog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &v["apps"][0];
    assert_eq!(a["name"], "hog");
    assert_eq!(a["state"], "stopped");
    assert_eq!(a["restarts"], 1, "{a}");
    let d = &a["definition"];
    assert_eq!(d["max_memory"], "64M");
    assert_eq!(d["stop_timeout"], "2s");
    assert_eq!(d["command"][0], "/bin/sh", "{d}");
    let keys: Vec<&str> = d["env_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys, ["PORT", "SECRET_TOKEN"]);
    let exits = a["exits"].as_array().unwrap();
    let causes: Vec<&str> = exits.iter().map(|e| e["cause"].as_str().unwrap()).collect();
    assert_eq!(causes, ["by hand", "memory"], "newest first: {a}");
    assert_eq!(exits[1]["signal"], "SIGTERM", "a graceful stop: {a}");

    let out = t.ctl(&["describe", "hog"]);
    let text = stdout(&out);
    assert!(!text.contains("hunter2"), "env values stay out: {text}");
    assert!(text.contains("  env         PORT SECRET_TOKEN\n"), "{text}");
    assert!(text.contains("  max_memory  64M\n"), "{text}");
    let memory_line = text.lines().find(|l| l.ends_with("  memory")).unwrap_or("");
    assert!(memory_line.contains("SIGTERM  ran "), "{text}");

    let out = t.ctl(&["describe", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no app named \"nope\""),
        "{}",
        stderr(&out)
    );
}
