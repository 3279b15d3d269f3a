//! Scheduled and watched restarts (DESIGN.md), the `watch` half
//! (`cron_restart` is in `scheduled_restarts`): a change under a watched
//! path, not ignored, restarts every running instance of the app once the
//! changes have been quiet for `watch_delay`: one restart per burst,
//! counted nowhere, shown as cause `watch`. Globs, the debounce, moved
//! directories and the watch limit (ENOSPC, through a test-only seam:
//! fs.inotify.max_user_watches is global to the machine) are unit-tested
//! in src/watch/.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

fn describe(t: &Running, name: &str) -> Value {
    let out = t.ctl(&["describe", "--json", name]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["apps"][0].clone()
}

/// Waits for the `n`th watch restart of each of `apps`, then for a quiet
/// second more, and checks that there was exactly that one: each
/// instance started `starts` times in all.
fn restarted_to(t: &Running, apps: &[&str], n: usize, starts: usize) {
    for app in apps {
        t.wait_event(app, "watch", n, T);
        t.wait_event(app, "started", starts, T);
    }
    std::thread::sleep(Duration::from_millis(1200));
    for app in apps {
        assert_eq!(t.events(app, "watch").len(), n, "{app}; log:\n{}", t.log());
        assert_eq!(
            t.events(app, "started").len(),
            starts,
            "{app}; log:\n{}",
            t.log()
        );
    }
}

/// `restarted_to` when every start but the first was a watch restart.
fn restarted(t: &Running, apps: &[&str], n: usize) {
    restarted_to(t, apps, n, n + 1);
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn edits_creates_and_deletes_restart_once_per_quiet_burst() {
    require_namespaces!();
    let dir = TempDir::new("watch-bursts");
    let app = dir.join("app");
    for d in ["src/lib", "node_modules/pkg", ".git"] {
        std::fs::create_dir_all(app.join(d)).unwrap();
    }
    write(&app.join("src/a.js"), "1");
    write(&app.join("src/lib/b.js"), "1");
    write(&app.join("config.json"), "{}");
    write(&app.join("README"), "not watched");
    let t = Running::start(
        "watch-bursts",
        &format!(
            r#"
[tend]
log_format = "json"
[app.web]
command = "exec sleep 600"
cwd = "{}"
instances = 2
watch = ["src", "config.json"]
watch_ignore = ["node_modules", ".git", "*.log"]
watch_delay = "400ms"
[app.other]
command = "exec sleep 600"
"#,
            app.display()
        ),
    );
    t.wait_socket();
    let web = ["web.0", "web.1"];
    for a in web.iter().chain(&["other"]) {
        t.wait_event(a, "started", 1, T);
    }

    // 20 quick edits: one burst, one restart of each instance.
    for k in 0..20 {
        write(&app.join("src/a.js"), &k.to_string());
        std::thread::sleep(Duration::from_millis(10));
    }
    restarted(&t, &web, 1);
    let msg = &t.events("web.0", "watch")[0];
    assert!(
        msg.starts_with("watch: changes, the first ") && msg.ends_with("src/a.js: restarting"),
        "{msg}"
    );

    // A new file, then its removal, in a directory watched from the start.
    write(&app.join("src/lib/new.js"), "x");
    restarted(&t, &web, 2);
    std::fs::remove_file(app.join("src/lib/new.js")).unwrap();
    restarted(&t, &web, 3);

    // A directory made after the start is a change, and is watched.
    std::fs::create_dir(app.join("src/later")).unwrap();
    restarted(&t, &web, 4);
    write(&app.join("src/later/c.js"), "x");
    restarted(&t, &web, 5);
    std::fs::remove_file(app.join("src/later/c.js")).unwrap();
    restarted(&t, &web, 6);

    // A watched file, saved by renaming a new file over it, twice.
    for k in 0..2 {
        write(&app.join(".config.json.swp"), &format!("{{\"k\":{k}}}"));
        std::fs::rename(app.join(".config.json.swp"), app.join("config.json")).unwrap();
        restarted(&t, &web, 7 + k);
    }

    // Ignored names, unwatched places: nothing.
    write(&app.join("node_modules/pkg/index.js"), "x");
    std::fs::create_dir_all(app.join("node_modules/pkg/deep/er")).unwrap();
    write(&app.join("node_modules/pkg/deep/er/x.js"), "x");
    write(&app.join(".git/HEAD"), "ref");
    write(&app.join("src/debug.log"), "line");
    write(&app.join("src/lib/trace.log"), "line");
    std::fs::create_dir(app.join("src/node_modules")).unwrap();
    write(&app.join("src/node_modules/m.js"), "x");
    write(&app.join("README"), "edited");
    restarted(&t, &web, 8);
    assert_eq!(
        t.events("other", "started").len(),
        1,
        "other does not watch"
    );

    let d = describe(&t, "web.1");
    let exits = d["exits"].as_array().unwrap();
    assert_eq!(exits.len(), 8, "{d}");
    assert!(exits.iter().all(|e| e["cause"] == "watch"), "{d}");
    assert!(
        exits.iter().all(|e| e["signal"] == "SIGTERM"),
        "graceful: {d}"
    );
    assert_eq!(d["restarts"], 0, "counted nowhere: {d}");
    assert_eq!(d["restarts_in_a_row"], 0, "{d}");
    let w = &d["definition"]["watch"];
    assert_eq!(
        w["paths"],
        serde_json::json!([
            app.join("src").display().to_string(),
            app.join("config.json").display().to_string()
        ]),
        "relative to cwd: {d}"
    );
    assert_eq!(w["delay"], "400ms");
    let text = stdout(&t.ctl(&["describe", "web"]));
    assert!(
        text.contains("config.json; restart after 400ms quiet"),
        "{text}"
    );
    assert!(text.contains("  watch  "), "{text}");
}

#[test]
fn watch_true_with_listen_replaces_and_a_reload_changes_the_set() {
    require_namespaces!();
    let t = Running::start(
        "watch-reload",
        r#"
[tend]
log_format = "json"
[app.api]
command = "exec sleep 600"
listen = ["unix:{dir}/api.sock"]
instances = 2
watch = "src"
watch_delay = "300ms"
"#,
    );
    let dir = t.dir.path().to_path_buf();
    // Made after the start: a path not there yet is watched through its
    // directory (here the config file's, as no cwd is set).
    t.wait_socket();
    let api = ["api.0", "api.1"];
    for a in api {
        t.wait_event(a, "started", 1, T);
    }
    let pids: Vec<i64> = api
        .iter()
        .map(|a| describe(&t, a)["pid"].as_i64().unwrap())
        .collect();
    std::fs::create_dir(dir.join("src")).unwrap();
    restarted(&t, &api, 1);
    write(&dir.join("src/x.py"), "x");
    restarted(&t, &api, 2);
    for (a, old) in api.iter().zip(&pids) {
        let d = describe(&t, a);
        assert_ne!(d["pid"].as_i64(), Some(*old), "{d}");
        let causes: Vec<&str> = d["exits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["cause"].as_str().unwrap())
            .collect();
        assert_eq!(causes, ["watch", "watch"], "{d}");
    }

    // A reload that drops watch: changes no longer restart anything (the
    // reload itself replaces the changed instances once).
    let config = dir.join("init.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    write(&config, &text.replace("watch = \"src\"\n", ""));
    assert!(t.ctl(&["reload"]).status.success());
    for a in api {
        t.wait_event(a, "started", 4, T);
    }
    write(&dir.join("src/x.py"), "y");
    std::thread::sleep(Duration::from_millis(1200));
    for a in api {
        assert_eq!(t.events(a, "watch").len(), 2, "{a}; log:\n{}", t.log());
        assert_eq!(t.events(a, "started").len(), 4, "{a}; log:\n{}", t.log());
    }

    // And one that brings it back, as `true`: the config file's directory,
    // where tend's own log is (a log under a watched path must be
    // ignored, or each restart's lines would restart the app again).
    write(
        &config,
        &text.replace("watch = \"src\"", "watch = true\nwatch_ignore = \"*.log\""),
    );
    assert!(t.ctl(&["reload"]).status.success());
    for a in api {
        t.wait_event(a, "started", 5, T);
    }
    std::thread::sleep(Duration::from_millis(500));
    write(&dir.join("new-file"), "x");
    restarted_to(&t, &api, 3, 6);
}

/// The cost of watching a 10,000-file tree (1,000 directories) beside an
/// ignored node_modules of as many: tend's RSS with the watch and without.
#[test]
fn a_large_tree_under_watch_costs_tend_little_memory() {
    require_namespaces!();
    let _serial = serial();
    let dir = TempDir::new("watch-rss");
    let tree = dir.join("app");
    for top in ["src", "node_modules"] {
        for i in 0..100 {
            for j in 0..10 {
                let d = tree.join(format!("{top}/m{i}/d{j}"));
                std::fs::create_dir_all(&d).unwrap();
                for k in 0..10 {
                    write(&d.join(format!("f{k}.js")), "x");
                }
            }
        }
    }
    let rss = |watch: &str| {
        let t = Running::start(
            "watch-rss-run",
            &format!(
                "[tend]\nlog_format = \"json\"\n[app.web]\ncommand = \"exec sleep 600\"\ncwd = \"{}\"\n{watch}\n",
                tree.display()
            ),
        );
        t.wait_socket();
        t.wait_event("web", "started", 1, T);
        // The same requests in both runs, then a quiet moment.
        t.ctl(&["status"]);
        std::thread::sleep(Duration::from_millis(300));
        let kb = |field: &str| {
            status_field(t.pid(), field)
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap()
        };
        (kb("VmRSS"), kb("VmHWM"))
    };
    let (plain, plain_peak) = rss("");
    let (watched, watched_peak) = rss("watch = true");
    eprintln!(
        "tend VmRSS: {plain} kB without watch, {watched} kB watching 1,000 directories \
         (10,000 files) with node_modules ignored; peak {plain_peak} kB and {watched_peak} kB"
    );
    assert!(
        watched < plain + 3 * 1024 && watched_peak < plain_peak + 3 * 1024,
        "watching costs {} kB (peak {} kB)",
        watched.saturating_sub(plain),
        watched_peak.saturating_sub(plain_peak)
    );
}
