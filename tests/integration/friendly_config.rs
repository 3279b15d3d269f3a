//! Friendly config (DESIGN.md "Friendly config"): `tend import` of PM2
//! ecosystem files, with node and without, each output checked by `tend
//! check`, and an imported config run for real. env_file and the hints for
//! unknown keys are tested in init_toml.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(30);

/// `tend import FILE`, with PATH lacking node when `node` is false.
fn import(file: &Path, node: bool) -> Output {
    let mut cmd = tend(["import".as_ref(), file.as_os_str()]);
    if !node {
        cmd.env("PATH", "/nonexistent");
    }
    output_or_kill(cmd, T)
}

/// `import`, which must succeed; its init.toml, written next to `file`,
/// must pass `tend check`.
fn import_ok(file: &Path, node: bool) -> String {
    let out = import(file, node);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let toml = stdout(&out);
    let checked = file.with_extension("toml");
    std::fs::write(&checked, &toml).unwrap();
    let check = output_or_kill(tend(["check".as_ref(), checked.as_os_str()]), T);
    assert_eq!(
        check.status.code(),
        Some(0),
        "tend check fails on\n{toml}\n{}",
        stderr(&check)
    );
    toml
}

/// The lines of `toml` that are not comments, sorted.
fn keys(toml: &str) -> Vec<String> {
    let mut keys: Vec<String> = toml
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    keys.sort();
    keys
}

/// The first ```LANG block after `heading` in the README.
fn readme_block(heading: &str, lang: &str) -> String {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find(heading).expect("heading")..];
    let start = section.find(&format!("```{lang}\n")).expect("block") + lang.len() + 4;
    let len = section[start..].find("```").expect("block end");
    section[start..start + len].to_string()
}

#[test]
fn the_seeds_ecosystem_file_is_the_readme_example() {
    require_tool!("node", "--version");
    let dir = TempDir::new("import-seed");
    let js = dir.join("ecosystem.config.js");
    std::fs::write(&js, readme_block("### From PM2", "js")).unwrap();
    let toml = import_ok(&js, true);
    assert_eq!(
        keys(&toml),
        keys(&readme_block("### From PM2", "toml")),
        "{toml}"
    );
    assert!(!toml.contains("not mapped"), "{toml}");
}

#[test]
fn without_node_json_works_and_js_says_what_to_do() {
    let dir = TempDir::new("import-no-node");
    let json = dir.join("ecosystem.json");
    std::fs::write(
        &json,
        r#"{"apps": [{"name": "mission-control", "script": "app/server.js",
            "cwd": "/srv/mission-control", "env": {"NODE_ENV": "production"},
            "max_memory_restart": "256M", "restart_delay": 3000, "max_restarts": 10}]}"#,
    )
    .unwrap();
    let toml = import_ok(&json, false);
    assert_eq!(
        keys(&toml),
        keys(&readme_block("### From PM2", "toml")),
        "{toml}"
    );

    let js = dir.join("ecosystem.config.js");
    std::fs::write(&js, readme_block("### From PM2", "js")).unwrap();
    let out = import(&js, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    for text in [
        "ecosystem.config.js: ",
        "node",
        "not installed",
        "install node",
        "JSON",
    ] {
        assert!(err.contains(text), "{text}: {err}");
    }
}

/// Every attribute of the mapping, in a .cjs file that needs node: a
/// comment, a computed value, a function (dropped, as by JSON.stringify),
/// a require of a file next to it.
#[test]
fn every_attribute_maps_and_passes_check() {
    require_tool!("node", "--version");
    let dir = TempDir::new("import-all");
    std::fs::write(dir.join("shared.json"), r#"{"NODE_ENV": "production"}"#).unwrap();
    let cjs = dir.join("ecosystem.config.cjs");
    std::fs::write(
        &cjs,
        r#"// every key tend import maps
const shared = require("./shared.json");
console.log("noise on stdout while loading");
module.exports = {
  apps: [{
    name: "api server",
    script: "server.js",
    args: "--port 3000 'two words'",
    node_args: ["--max-old-space-size=512"],
    cwd: "/srv/api",
    env: Object.assign({ PORT: 3000, DEBUG: false }, shared),
    env_production: { API_URL: "https://example.com/$x" },
    instances: "max",
    exec_mode: "cluster",
    max_memory_restart: 256 * 1024 * 1024,
    exp_backoff_restart_delay: 100,
    max_restarts: 5,
    min_uptime: "10s",
    kill_timeout: 1600,
    cron_restart: "0 3 * * *",
    watch: ["src"],
    ignore_watch: ["node_modules"],
    watch_delay: 500,
    stop_exit_codes: [0],
    out_file: "/var/log/api.out.log",
    error_file: "/var/log/api.err.log",
    merge_logs: true,
    wait_ready: true,
    post_start: () => "functions vanish",
  }, {
    name: "worker",
    script: "worker.py",
    interpreter: "python3",
    interpreter_args: "-u",
    restart_delay: 1500,
    autorestart: false,
    instances: 3,
  }],
  deploy: { production: { user: "node" } },
};
"#,
    )
    .unwrap();
    let toml = import_ok(&cjs, true);
    let lines: Vec<&str> = toml.lines().collect();
    for want in [
        "[app.api-server]",
        r#"command = ["node", "--max-old-space-size=512", "server.js", "--port", "3000", "two words"]"#,
        r#"cwd = "/srv/api""#,
        r#"env = { DEBUG = false, NODE_ENV = "production", PORT = 3000 }"#,
        r#"restart = "on-failure""#,
        r#"restart_delay = "100ms""#,
        r#"max_restart_delay = "15s""#,
        r#"min_uptime = "10s""#,
        "max_restarts = 5",
        r#"max_memory = "256M""#,
        r#"stop_timeout = "1600ms""#,
        r#"log = "file""#,
        r#"cron_restart = "0 3 * * *""#,
        r#"# watch = ["src"]  (not yet supported by this tend)"#,
        r#"# watch_ignore = ["node_modules"]  (not yet supported by this tend)"#,
        r#"# watch_delay = "500ms"  (not yet supported by this tend)"#,
        "#   API_URL=\"https://example.com/\\$x\"",
        "# not mapped: deploy (tend does not deploy)",
        "[app.worker]",
        r#"command = ["python3", "-u", "worker.py"]"#,
        r#"restart = "never""#,
        r#"restart_delay = "1500ms""#,
        "instances = 3",
    ] {
        assert!(lines.contains(&want), "{want}\n{toml}");
    }
    // instances "max": this machine's CPU count.
    // SAFETY: sysconf(3) only reads.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    assert!(
        lines.contains(&format!("instances = {cpus}").as_str()),
        "{toml}"
    );
    let flat = toml.replace("\n#   ", " ");
    for note in [
        "PM2's name \"api server\" is api-server here",
        "env_file = \"production.env\"",
        "listen = [\"tcp://0.0.0.0:PORT\"]",
        "counted these instances from the CPUs",
        "tend always backs off",
        "PM2's stop_exit_codes",
        "out_file \"/var/log/api.out.log\" error_file \"/var/log/api.err.log\"",
        "[tend] log_dir",
        "# not mapped: wait_ready (tend's way: notify = true",
        "PM2's fixed delay",
    ] {
        assert!(flat.contains(note), "{note}\n{toml}");
    }
    assert!(!toml.contains("post_start"), "{toml}");
    assert!(!toml.contains("noise"), "{toml}");
}

#[test]
fn node_failures_are_errors_with_nodes_message() {
    require_tool!("node", "--version");
    let dir = TempDir::new("import-errors");
    let bad = dir.join("bad.config.js");
    std::fs::write(&bad, "module.exports = { apps: [\n").unwrap();
    let out = import(&bad, true);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("bad.config.js: node could not evaluate it"),
        "{err}"
    );
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.lines().all(|l| l.starts_with("tend: ")), "{err}");

    // A .js file of an ES-module package: its default export.
    std::fs::create_dir(dir.join("esm")).unwrap();
    std::fs::write(dir.join("esm/package.json"), r#"{"type": "module"}"#).unwrap();
    let esm = dir.join("esm/ecosystem.config.js");
    std::fs::write(&esm, "export default [{ name: 'e', script: 'e.js' }];\n").unwrap();
    assert!(import_ok(&esm, true).contains("[app.e]\n"));

    let none = import(&dir.join("nothing.js"), true);
    assert_eq!(none.status.code(), Some(2));
    assert!(stderr(&none).contains("nothing.js: no such file"));
    let json = dir.join("bad.json");
    std::fs::write(&json, "{\"apps\": [}").unwrap();
    let out = import(&json, false);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.json: invalid JSON"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn node_that_never_finishes_is_stopped() {
    require_tool!("node", "--version");
    let dir = TempDir::new("import-loop");
    let js = dir.join("loop.config.js");
    std::fs::write(&js, "for (;;) {}\n").unwrap();
    let started = std::time::Instant::now();
    let out = import(&js, true);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("did not finish"), "{}", stderr(&out));
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// An imported config runs: both apps come up, the instances named.
#[test]
fn an_imported_config_runs() {
    require_namespaces!();
    let dir = TempDir::new("import-run");
    std::fs::write(
        dir.join("worker.sh"),
        "echo \"$GREETING\" > worker.out; exec sleep 1000\n",
    )
    .unwrap();
    let json = dir.join("ecosystem.json");
    std::fs::write(
        &json,
        r#"{"apps": [
            {"name": "web", "script": "sleep", "args": "1000", "interpreter": "none",
             "instances": 2, "kill_timeout": 2000, "max_memory_restart": "512M",
             "out_file": "web.log"},
            {"name": "worker", "script": "worker.sh", "cwd": "DIR",
             "env": {"GREETING": "hi"}, "restart_delay": 500, "min_uptime": 5000,
             "bogus": 1}
        ]}"#
        .replace("DIR", &dir.path().display().to_string()),
    )
    .unwrap();
    let toml = import_ok(&json, false);
    // Log files under the test's dir, not /var/log.
    let config = format!("[tend]\nlog_dir = \"{{dir}}/logs\"\n\n{toml}");
    let t = Running::start("import-run", &config);
    t.wait_socket();
    let ok = wait_until(T, || {
        let v = status_json(&t);
        ["web.0", "web.1", "worker"]
            .iter()
            .all(|n| app(&v, n)["state"] == "running")
    });
    assert!(ok, "{}\n{}", status_json(&t), t.log());
    assert!(t.dir.join("logs/web.0.log").exists(), "{}", t.log());
    assert_eq!(dir.read("worker.out").trim(), "hi");
}
