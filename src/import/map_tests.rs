use serde_json::json;

use super::*;

/// The init.toml for `eco`, which must pass tend's own validation.
fn import(eco: Value) -> String {
    let toml = to_toml(&eco, "ecosystem.config.js", 8).unwrap().toml;
    if let Err(problems) = crate::config::parse(&toml) {
        panic!("{toml}\ndoes not pass tend check: {problems:?}");
    }
    toml
}

/// The lines of `toml` that are not comments.
fn keys(toml: &str) -> Vec<&str> {
    toml.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
}

#[test]
fn the_seeds_plan_is_the_readme_example() {
    let toml = import(json!({"apps": [{
        "name": "mission-control", "script": "app/server.js",
        "cwd": "/srv/mission-control", "env": {"NODE_ENV": "production"},
        "max_memory_restart": "256M", "restart_delay": 3000, "max_restarts": 10
    }]}));
    assert_eq!(
        keys(&toml),
        [
            "[app.mission-control]",
            "command = [\"node\", \"app/server.js\"]",
            "cwd = \"/srv/mission-control\"",
            "env = { NODE_ENV = \"production\" }",
            "restart_delay = \"3s\"",
            "max_restarts = 10",
            "max_memory = \"256M\"",
        ]
    );
    assert!(toml.contains("PM2's fixed delay"), "{toml}");
    assert!(!toml.contains("not mapped"), "{toml}");
}

#[test]
fn commands_as_pm2_runs_them() {
    let cases = [
        (json!({"script": "app.js"}), r#"["node", "app.js"]"#),
        (
            json!({"script": "app.js", "args": "--port 3000 'a b'"}),
            r#"["node", "app.js", "--port", "3000", "a b"]"#,
        ),
        (
            json!({"script": "app.js", "args": ["-x", 5], "node_args": "--max-old-space-size=512"}),
            r#"["node", "--max-old-space-size=512", "app.js", "-x", "5"]"#,
        ),
        (
            json!({"script": "worker.py", "interpreter": "/usr/bin/python3",
                   "interpreter_args": ["-u"]}),
            r#"["/usr/bin/python3", "-u", "worker.py"]"#,
        ),
        (json!({"script": "run.sh"}), r#"["bash", "run.sh"]"#),
        (
            json!({"script": "npm", "args": "run start"}),
            r#"["npm", "run", "start"]"#,
        ),
        (
            json!({"script": "./bin/server", "interpreter": "none"}),
            r#"["./bin/server"]"#,
        ),
        (
            json!({"script": "app.js", "interpreter": "bun"}),
            r#"["bun", "app.js"]"#,
        ),
        (
            json!({"script": "s.js", "args": r#"say "hi \"you\"" a\ b"#}),
            r#"["node", "s.js", "say", "hi \"you\"", "a b"]"#,
        ),
    ];
    for (app, want) in cases {
        let toml = import(json!([app]));
        assert!(
            toml.contains(&format!("command = {want}\n")),
            "{app}: {toml}"
        );
    }
    // Arguments for an interpreter that is not there are named.
    let toml = import(json!([{"script": "./server", "node_args": "--inspect"}]));
    assert!(toml.contains("command = [\"./server\"]"), "{toml}");
    assert!(
        toml.contains("# not mapped: node_args (the script runs without an interpreter)"),
        "{toml}"
    );
}

#[test]
fn names_are_made_valid_and_unique() {
    let toml = import(json!({"apps": [
        {"name": "api server", "script": "a.js"},
        {"name": "api-server", "script": "b.js"},
        {"name": "@scope/web!", "script": "c.js"},
        {"script": "/srv/worker.js"},
        {"name": "...", "script": "d.js"},
    ]}));
    let tables: Vec<&str> = toml.lines().filter(|l| l.starts_with("[app.")).collect();
    assert_eq!(
        tables,
        [
            "[app.api-server]",
            "[app.api-server-2]",
            "[app.scope-web]",
            "[app.worker]",
            "[app.app]"
        ]
    );
    assert!(toml.contains("# PM2's name \"api server\" is api-server here"));
    assert!(toml.contains("# PM2's name \"api-server\" is api-server-2 here"));
    assert!(toml.contains("(and one per app)"));
}

#[test]
fn every_attribute() {
    let toml = import(json!({"apps": [{
        "name": "api", "script": "server.js", "args": ["--port", "3000"],
        "node_args": "--enable-source-maps", "cwd": "/srv/api",
        "uid": "www-data", "gid": 33,
        "env": {"NODE_ENV": "production", "PORT": 3000, "DEBUG": false, "RATIO": 1.5},
        "env_production": {"NODE_ENV": "production", "GREETING": "hello $USER"},
        "instances": "max", "exec_mode": "cluster",
        "max_memory_restart": 268435456, "exp_backoff_restart_delay": 100,
        "restart_delay": 5000, "max_restarts": 5, "min_uptime": "10s",
        "kill_timeout": 1600, "cron_restart": "0 3 * * *",
        "watch": ["src", "config"], "ignore_watch": ["node_modules", "*.log"],
        "watch_delay": 1000, "autorestart": true, "stop_exit_codes": [0, 3],
        "out_file": "/var/log/api.out.log", "error_file": "/var/log/api.err.log",
        "merge_logs": true, "log_date_format": "YYYY-MM-DD", "wait_ready": true,
        "bogus_key": 1
    }]}));
    let has = |line: &str| assert!(toml.lines().any(|l| l == line), "{line}:\n{toml}");
    has(r#"command = ["node", "--enable-source-maps", "server.js", "--port", "3000"]"#);
    has(r#"cwd = "/srv/api""#);
    has(r#"user = "www-data""#);
    has("group = 33");
    has("[app.api.env]");
    has(r#"NODE_ENV = "production""#);
    has("PORT = 3000");
    has("DEBUG = false");
    has(r#"RATIO = "1.5""#);
    has("instances = 8");
    has(r#"max_memory = "256M""#);
    has(r#"restart_delay = "100ms""#);
    has(r#"max_restart_delay = "15s""#);
    has("max_restarts = 5");
    has(r#"min_uptime = "10s""#);
    has(r#"stop_timeout = "1600ms""#);
    has(r#"restart = "on-failure""#);
    has(r#"log = "file""#);
    has(r#"cron_restart = "0 3 * * *""#);
    has(r#"watch = ["src", "config"]"#);
    has(r#"watch_ignore = ["node_modules", "*.log"]"#);
    has(r#"watch_delay = "1s""#);
    has("#   GREETING=\"hello \\$USER\"");
    has("# not mapped: bogus_key (no tend equivalent)");
    has("# not mapped: restart_delay (exp_backoff_restart_delay takes its place, as in");
    for text in [
        "env_file = \"production.env\"",
        "counted these instances from the CPUs",
        "listen = [\"tcp://0.0.0.0:PORT\"]",
        "tend always backs off",
        "after any other code (also those listed)",
        "out_file \"/var/log/api.out.log\" error_file",
        "[tend] log_dir",
        "not mapped: log_date_format",
        "not mapped: wait_ready (tend's way: notify = true",
    ] {
        let flat = toml.replace("\n#  ", "");
        assert!(flat.contains(text), "{text}:\n{toml}");
    }
    // Every comment line fits 79 columns but for a long word.
    for line in toml.lines() {
        assert!(
            line.len() <= 79 || !line.starts_with("# ") || !line.contains(' '),
            "{line}"
        );
    }
}

#[test]
fn values_pm2_writes_in_other_ways() {
    let one = |app: Value| import(json!([app]));
    let cases = [
        (
            json!({"script": "a", "autorestart": false}),
            "restart = \"never\"",
        ),
        (
            json!({"script": "a", "restart_delay": "1500"}),
            "restart_delay = \"1500ms\"",
        ),
        (
            json!({"script": "a", "restart_delay": 0}),
            "restart_delay = \"0s\"",
        ),
        (
            json!({"script": "a", "min_uptime": 60000}),
            "min_uptime = \"1m\"",
        ),
        (
            json!({"script": "a", "max_memory_restart": "1G"}),
            "max_memory = \"1G\"",
        ),
        (
            json!({"script": "a", "max_memory_restart": "512mb"}),
            "max_memory = \"512M\"",
        ),
        (
            json!({"script": "a", "max_memory_restart": 1000}),
            "max_memory = \"1000B\"",
        ),
        (json!({"script": "a", "instances": -1}), "instances = 7"),
        (json!({"script": "a", "instances": 0}), "instances = 8"),
        (json!({"script": "a", "instances": "4"}), "instances = 4"),
        (
            json!({"script": "a", "exp_backoff_restart_delay": 20000}),
            "max_restart_delay = \"20s\"",
        ),
        (
            json!({"script": "a", "stop_exit_codes": 0}),
            "restart = \"on-failure\"",
        ),
        (
            json!({"script": "a", "port": 8080}),
            "env = { PORT = 8080 }",
        ),
        (json!({"script": "a", "watch": true}), "watch = true"),
        (
            json!({"script": "a", "watch": ["."], "ignore_watch": ["[\\/\\\\]\\./"], "watch_delay": 0}),
            "not mapped: ignore_watch (a list: a pattern with '/')",
        ),
        (
            json!({"script": "a", "out_file": "/dev/null"}),
            "log = \"file\"",
        ),
        (json!({"script": "a", "cwd": "relative"}), "a relative cwd"),
        (
            json!({"script": "a", "env": {"weird key": "x\"\\\n\u{1}"}}),
            r#"env = { "weird key" = "x\"\\\n\u0001" }"#,
        ),
    ];
    for (app, want) in cases {
        let toml = one(app.clone());
        assert!(toml.contains(want), "{app}: {want}\n{toml}");
    }
    // A count as written needs no note.
    assert!(!one(json!({"script": "a", "instances": 4})).contains("CPUs"));
    let bad = [
        (
            json!({"script": "a", "instances": "lots"}),
            "not mapped: instances (\"lots\": not a number of instances)",
        ),
        (
            json!({"script": "a", "min_uptime": 0}),
            "not mapped: min_uptime (0: tend needs more than 0s)",
        ),
        (
            json!({"script": "a", "min_uptime": "soon"}),
            "not mapped: min_uptime (\"soon\": not milliseconds",
        ),
        (
            json!({"script": "a", "max_memory_restart": "lots"}),
            "not mapped: max_memory_restart",
        ),
        (
            json!({"script": "a", "restart_delay": -5}),
            "not mapped: restart_delay (-5: out of range)",
        ),
        (
            json!({"script": "a", "stop_exit_codes": [2]}),
            "not mapped: stop_exit_codes (only exit code 0 leaves an app down",
        ),
        (
            json!({"script": "a", "autorestart": false, "stop_exit_codes": [0]}),
            "not mapped: stop_exit_codes (restart is \"never\" already)",
        ),
        (
            json!({"script": "a", "env": {"A": {"b": 1}}}),
            "not mapped: env.A (an object: not a string",
        ),
        (
            json!({"script": "a", "ignore_watch": ["x"]}),
            "not mapped: ignore_watch (watch is off)",
        ),
        (
            json!({"script": "a", "exec_mode": "weird"}),
            "not mapped: exec_mode (\"weird\": neither",
        ),
        (
            json!({"script": "a", "args": "'open"}),
            "not mapped: args (\"'open\": an unclosed ')",
        ),
        (
            json!({"script": "a", "env": {"PORT": "1"}, "port": 2}),
            "not mapped: port (env sets PORT already)",
        ),
    ];
    for (app, want) in bad {
        let toml = one(app.clone());
        let flat = toml.replace("\n#  ", "");
        assert!(flat.contains(want), "{app}: {want}\n{toml}");
    }
}

#[test]
fn shapes_of_the_file() {
    // An exported array, one app alone, `apps` as one object.
    for eco in [
        json!([{"name": "a", "script": "a.js"}]),
        json!({"name": "a", "script": "a.js"}),
        json!({"apps": {"name": "a", "script": "a.js"}}),
    ] {
        assert!(import(eco.clone()).contains("[app.a]\n"), "{eco}");
    }
    let toml = import(json!({"apps": [{"script": "a.js"}], "deploy": {"production": {}}}));
    assert!(
        toml.contains("# not mapped: deploy (tend does not deploy)"),
        "{toml}"
    );
    // An app without a script is skipped, said so; the others stay.
    let got = to_toml(
        &json!({"apps": [{"name": "x"}, {"name": "y", "script": "y.js"}]}),
        "e.json",
        1,
    )
    .unwrap();
    assert_eq!(got.apps, 1);
    assert!(
        got.toml
            .contains("# skipped: the app \"x\" has no `script`"),
        "{}",
        got.toml
    );
    let errors = [
        (json!({"apps": []}), "no app to import"),
        (json!({"apps": [{"name": "x"}]}), "no app to import"),
        (json!({"apps": 3}), "`apps` is a number"),
        (json!({"other": 1}), "no apps: expected { apps: [...] }"),
        (json!("text"), "the file gives a string"),
        (json!(null), "the file gives null"),
        (json!([1]), "apps[0] is a number, not an app"),
    ];
    for (eco, want) in errors {
        let err = to_toml(&eco, "e.json", 1).unwrap_err();
        assert!(err.contains(want), "{eco}: {err}");
    }
}

#[test]
fn counts_what_was_not_mapped() {
    let got = to_toml(
        &json!({"apps": [{"script": "a", "pmx": true, "vizion": false}], "deploy": {}}),
        "e",
        1,
    )
    .unwrap();
    assert_eq!(got.unmapped, 3);
    assert_eq!(got.apps, 1);
}

#[test]
fn control_characters_never_reach_a_comment_raw() {
    let toml = import(json!({"apps": [{
        "name": "a\u{1}b\nc", "script": "a", "x\u{7}y": 1,
        "env_dev": {"K\u{2}": "v\u{3}\nw"}
    }]}));
    for line in toml.lines() {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "{line:?}"
        );
    }
}

#[test]
fn words_split_as_a_shell_would() {
    let cases: [(&str, &[&str]); 6] = [
        ("", &[]),
        ("  a  b ", &["a", "b"]),
        ("'a b' c", &["a b", "c"]),
        (r#""a \"b\" \n""#, &[r#"a "b" \n"#]),
        (r"a\ b", &["a b"]),
        ("x'y'\"z\"", &["xyz"]),
    ];
    for (text, want) in cases {
        assert_eq!(split_words(text).unwrap(), want, "{text}");
    }
    assert!(split_words("\"open").is_err());
}
