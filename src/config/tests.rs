//! Tests of the whole pipeline, text in and `Config` or rendered problems
//! out: the full example, the defaults of the contract, every problem at
//! once with its line, column and key, and the fuzz smokes. The stage
//! files test their own checks through `problems` below.

use super::*;

/// The problems of an invalid text, rendered one per line as
/// `init.toml:LINE:COL: key: message`.
pub(super) fn problems(text: &str) -> Vec<String> {
    let list = parse(text).expect_err("should be invalid");
    let p = Problems {
        file: "init.toml".into(),
        text: text.to_string(),
        list,
    };
    p.to_string().lines().map(String::from).collect()
}

#[test]
fn full_example_parses_with_defaults_merged() {
    let text = r#"
[tend]
socket = "/run/t.sock"
poll_interval = "500ms"
log_format = "json"

[defaults]
restart_delay = "3s"
env = { A = "1", B = "2" }

[app.db]
command = "exec sleep 100"

[app.web]
command = ["node", "server.js"]
log = "prefix"
cwd = "/srv"
env = { B = "3" }
user = "nobody"
group = 65534
restart = "on-failure"
max_restart_delay = "10s"
max_restarts = 4
min_uptime = "1m"
max_memory = "256M"
stop_signal = "SIGINT"
stop_timeout = "5s"
instances = 2
after = ["db"]
critical = true
"#;
    let c = parse(text).expect("valid");
    assert_eq!(c.socket, Some(PathBuf::from("/run/t.sock")));
    assert_eq!(c.poll_interval, Duration::from_millis(500));
    assert_eq!(c.log_format, LogFormat::Json);
    let names: Vec<&str> = c.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["db", "web.0", "web.1"]);
    let db = &c.apps[0];
    assert_eq!(db.command, ["/bin/sh", "-c", "exec sleep 100"]);
    assert_eq!(db.restart_delay, Duration::from_secs(3));
    assert_eq!(db.restart, Restart::Always);
    let web = &c.apps[2];
    assert_eq!(web.instance, 1);
    assert_eq!(web.app, "web");
    assert_eq!(web.command, ["node", "server.js"]);
    assert_eq!(web.env.get("A").map(String::as_str), Some("1"));
    assert_eq!(web.env.get("B").map(String::as_str), Some("3"));
    assert_eq!(web.user, Some(Id::Name("nobody".into())));
    assert_eq!(web.group, Some(Id::Number(65534)));
    assert_eq!(web.restart, Restart::OnFailure);
    assert_eq!(web.restart_delay, Duration::from_secs(3));
    assert_eq!(web.max_restart_delay, Duration::from_secs(10));
    assert_eq!(web.max_restarts, 4);
    assert_eq!(web.min_uptime, Duration::from_secs(60));
    assert_eq!(db.min_uptime, Duration::from_secs(30), "the default");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(web.max_memory, Some(256 << 20));
    assert_eq!(web.stop_signal, libc::SIGINT);
    assert_eq!(web.stop_timeout, Duration::from_secs(5));
    assert_eq!(web.after, ["db"]);
    assert!(web.critical);
    assert_eq!(web.log, LogMode::Prefix);
    assert_eq!(db.log, LogMode::Inherit);
}

#[test]
fn defaults_of_the_contract() {
    let c = parse("[app.a]\ncommand = [\"true\"]\n").expect("valid");
    assert_eq!(c.poll_interval, Duration::from_secs(1));
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.apps, [AppSpec::new("a", vec!["true".into()])]);
    // A first delay above the default cap raises the cap with it.
    let c = parse("[app.a]\ncommand = \"x\"\nrestart_delay = \"1m\"\n").expect("valid");
    assert_eq!(c.apps[0].max_restart_delay, Duration::from_secs(60));
}

#[test]
fn restart_window_is_accepted_ignored_and_warned_about() {
    let text = "[defaults]\nrestart_window = \"1m\"\n[app.a]\ncommand = \"x\"\nrestart_window = 60\n[app.b]\ncommand = \"x\"\n";
    let c = parse(text).expect("valid: restart_window is ignored, whatever its value");
    assert_eq!(c.apps[0].min_uptime, Duration::from_secs(30));
    assert_eq!(c.apps[1], AppSpec::new("b", c.apps[1].command.clone()));
    assert_eq!(
        c.warnings.len(),
        2,
        "once where it is written: {:?}",
        c.warnings
    );
    assert!(
        c.warnings[0].starts_with("2:18: warning: defaults.restart_window: ignored: "),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].starts_with("5:18: warning: app.a.restart_window: ignored: "),
        "{:?}",
        c.warnings
    );
    assert!(
        c.warnings[1].contains("set min_uptime instead"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn every_problem_is_reported_with_line_column_and_key() {
    let text = r#"[tend]
poll_interval = "soon"
colour = "blue"

[app.web]
command = ["x"]
restart_delay = "3x"
max_memory = "256"
stop_signal = "SIGNOPE"
restart = "sometimes"
bogus = 1
instances = 0

[app.api]
after = ["nope", "api"]
max_restarts = "ten"
"#;
    let got = problems(text);
    let want = [
        "init.toml:2:17: tend.poll_interval: invalid duration \"soon\"",
        "init.toml:3:1: tend.colour: unknown field `colour`",
        "init.toml:7:17: app.web.restart_delay: invalid duration \"3x\": unknown unit \"x\"",
        "init.toml:8:14: app.web.max_memory: invalid size \"256\": missing unit",
        "init.toml:9:15: app.web.stop_signal: invalid signal \"SIGNOPE\"",
        "init.toml:10:11: app.web.restart: invalid restart policy \"sometimes\"",
        "init.toml:11:1: app.web.bogus: unknown field `bogus`",
        "init.toml:12:13: app.web.instances: must be between 1 and 10000",
        "init.toml:14:6: app.api: missing key \"command\"",
        "init.toml:15:10: app.api.after: no app named \"nope\"",
        "init.toml:15:18: app.api.after: app \"api\" cannot wait for itself",
        "init.toml:16:16: app.api.max_restarts: invalid type: string \"ten\", expected u32",
    ];
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (g, w) in got.iter().zip(want) {
        assert!(g.starts_with(w), "\n got: {g}\nwant: {w}...");
    }
}

#[test]
fn syntax_errors_and_empty_files() {
    let got = problems("[app.web\ncommand = 1\n");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("init.toml:1:"), "{got:?}");
    let got = problems("");
    assert!(got[0].contains("no apps"), "{got:?}");
    let got = problems("[app.a]\ncommand = []\n[app.b]\ncommand = 3\n");
    assert!(got[0].contains("app.a.command: empty command"), "{got:?}");
    assert!(
        got[1].contains("app.b.command: expected an array of strings"),
        "{got:?}"
    );
    let got = problems("[app.a]\ncommand = \"x\"\nmin_uptime = \"30\"\n");
    assert!(
        got[0].contains(":3:14: app.a.min_uptime: invalid duration \"30\""),
        "{got:?}"
    );
    let got = problems("[app.\"web.0\"]\ncommand = \"x\"\n");
    assert!(got[0].contains("invalid app name"), "{got:?}");
    let got =
        problems("[app.a]\ncommand = \"x\"\nrestart_delay = \"10s\"\nmax_restart_delay = \"5s\"\n");
    assert!(
        got[0].contains("5s is shorter than restart_delay (10s)"),
        "{got:?}"
    );
}

/// Checks what holds for any text: a rejection lists problems whose
/// spans lie in the text and renders as `file:line:col: ...`; an
/// accepted config is internally consistent.
fn check_any(text: &str) -> bool {
    match parse(text) {
        Err(list) => {
            assert!(!list.is_empty());
            for p in &list {
                assert!(p.span.start <= text.len(), "span out of the text: {p:?}");
                assert!(!p.message.is_empty(), "{p:?}");
            }
            let rendered = Problems {
                file: "f".into(),
                text: text.to_string(),
                list,
            }
            .to_string();
            assert!(rendered.starts_with("f:"), "{rendered}");
            false
        }
        Ok(config) => {
            let names: Vec<&str> = config.apps.iter().map(|a| a.app.as_str()).collect();
            for app in &config.apps {
                assert!(!app.command.is_empty(), "{text}");
                for dep in &app.after {
                    assert!(names.contains(&dep.as_str()), "{text}");
                    assert_ne!(dep, &app.app, "{text}");
                }
                assert!(app.restart_delay <= app.max_restart_delay, "{text}");
                assert!((1..=crate::units::SIGRTMAX).contains(&app.stop_signal));
            }
            true
        }
    }
}

/// Fuzz target: mutations of real configs (mostly TOML syntax and
/// value errors).
#[test]
fn fuzz_mutated_configs() {
    let seeds = [
        include_str!("../../init.toml"),
        "[tend]\npoll_interval = \"1s\"\n[defaults]\nenv = { A = \"1\" }\n[app.a]\ncommand = [\"x\"]\nafter = [\"b\"]\n[app.b]\ncommand = \"y\"\ninstances = 2\n[app.b.health]\nhttp = \"http://127.0.0.1:1/\"\n",
    ];
    let tokens = [
        "[",
        "]",
        "=",
        "\"",
        "'",
        "\n",
        "{",
        "}",
        ",",
        ".",
        "app.",
        "after",
        "0s",
        "-1",
        "99999999999999999999",
        "1e9",
        "\\u",
        "\"\"\"",
        "[[app]]",
        "health",
        "command",
        "é",
        "\u{0}",
        "#",
        "true",
        "instances = 0",
    ];
    crate::fuzz::run("config-mutations", 4000, Duration::from_secs(2), |rng| {
        let mut text = seeds[rng.below(seeds.len())].to_string();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(text.len() + 1);
            let at = (0..=at)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            match rng.below(3) {
                0 => text.insert_str(at, rng.pick(&tokens)),
                1 => {
                    let end = (at + 1 + rng.below(8)).min(text.len());
                    let end = (end..=text.len())
                        .find(|&i| text.is_char_boundary(i))
                        .unwrap_or(text.len());
                    text.replace_range(at..end, "");
                }
                _ => text.insert(at, char::from(b' ' + rng.below(95) as u8)),
            }
        }
        check_any(&text);
    });
}

/// Fuzz target: well-formed TOML built from tend's own keys with values
/// of every kind, so that validation, not the TOML parser, is what
/// gets exercised: wrong types, out-of-range numbers, unknown and
/// cyclic `after`, instances, health checks, durations and sizes.
#[test]
fn fuzz_generated_configs() {
    const APP_KEYS: [&str; 24] = [
        "command",
        "cwd",
        "env",
        "env_file",
        "user",
        "restart",
        "restart_delay",
        "max_restart_delay",
        "max_restarts",
        "min_uptime",
        "restart_window",
        "max_memory",
        "stop_signal",
        "stop_timeout",
        "instances",
        "after",
        "critical",
        "log",
        "notify",
        "watchdog",
        "health",
        "command",
        "comand",
        "restart",
    ];
    const TEND_KEYS: [&str; 8] = [
        "poll_interval",
        "log_format",
        "socket",
        "vm",
        "hostname",
        "root_rw",
        "socket_group",
        "pol_interval",
    ];
    const HEALTH_KEYS: [&str; 8] = [
        "command",
        "tcp",
        "http",
        "interval",
        "timeout",
        "retries",
        "start_period",
        "exec",
    ];
    const NAMES: [&str; 5] = ["a", "b", "web", "db", "a.b"];
    const STRINGS: [&str; 24] = [
        "\"1s\"",
        "\"0s\"",
        "\"100ms\"",
        "\"2m\"",
        "\"-1s\"",
        "\"1.5s\"",
        "\"256M\"",
        "\"1G\"",
        "\"0K\"",
        "\"SIGTERM\"",
        "\"SIGRTMIN+3\"",
        "\"SIGRTMIN+31\"",
        "\"99\"",
        "\"always\"",
        "\"never\"",
        "\"on-failure\"",
        "\"prefix\"",
        "\"json\"",
        "\"nobody\"",
        "\"root:root\"",
        "\"127.0.0.1:1\"",
        "\"http://127.0.0.1:1/x\"",
        "\"\"",
        "\"/tmp\"",
    ];
    fn value(rng: &mut crate::fuzz::Rng, depth: usize) -> String {
        match rng.below(if depth > 1 { 5 } else { 7 }) {
            0 => rng.pick(&STRINGS).to_string(),
            1 => rng
                .pick(&["0", "1", "-1", "3", "65536", "4294967296", "1e3", "0.5"])
                .to_string(),
            2 => rng.pick(&["true", "false"]).to_string(),
            3 => format!("\"{}\"", rng.pick(&NAMES)),
            4 => "1979-05-27T07:32:00Z".to_string(),
            5 => {
                let n = rng.below(4);
                let items: Vec<String> = (0..n).map(|_| value(rng, depth + 1)).collect();
                format!("[{}]", items.join(", "))
            }
            _ => {
                let n = rng.below(3);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("{} = {}", rng.pick(&NAMES), value(rng, depth + 1)))
                    .collect();
                format!("{{ {} }}", items.join(", "))
            }
        }
    }
    /// A value of the right type for `key`, mostly in range.
    fn well_typed(rng: &mut crate::fuzz::Rng, key: &str) -> String {
        let duration = [
            "\"0s\"",
            "\"100ms\"",
            "\"1s\"",
            "\"3s\"",
            "\"1m\"",
            "\"10h\"",
        ];
        match key {
            "restart_delay" | "max_restart_delay" | "min_uptime" | "restart_window"
            | "stop_timeout" | "watchdog" => rng.pick(&duration).to_string(),
            "max_memory" => rng
                .pick(&["\"64M\"", "\"1G\"", "\"512K\"", "\"0\""])
                .to_string(),
            "max_restarts" | "instances" => rng
                .pick(&["0", "1", "2", "3", "10000", "10001"])
                .to_string(),
            "restart" => rng
                .pick(&["\"always\"", "\"never\"", "\"on-failure\""])
                .to_string(),
            "stop_signal" => rng
                .pick(&["\"TERM\"", "\"SIGRTMIN+3\"", "\"15\"", "\"SIGKILL\""])
                .to_string(),
            "critical" | "notify" => rng.pick(&["true", "false"]).to_string(),
            "log" => rng.pick(&["\"prefix\"", "\"inherit\""]).to_string(),
            "after" => {
                let n = rng.below(3);
                let items: Vec<String> = (0..n)
                    .map(|_| format!("\"{}\"", rng.pick(&NAMES)))
                    .collect();
                format!("[{}]", items.join(", "))
            }
            "env" => format!(
                "{{ {} = {} }}",
                rng.pick(&["A", "PATH", "B_1"]),
                rng.pick(&["\"v\"", "3101", "1.5", "true", "-0.0", "inf", "[1]"])
            ),
            "user" => rng
                .pick(&["\"nobody\"", "\"0\"", "\"root:root\"", "\"65534\""])
                .to_string(),
            "cwd" => "\"/tmp\"".to_string(),
            "env_file" => rng
                .pick(&["\".env\"", "[\"a.env\", \"/b.env\"]", "\"\"", "[]"])
                .to_string(),
            "command" => rng
                .pick(&["\"echo hi\"", "[\"/bin/true\", \"x\"]"])
                .to_string(),
            _ => value(rng, 0),
        }
    }
    let mut accepted = 0;
    crate::fuzz::run("config-generated", 3000, Duration::from_secs(2), |rng| {
        let mut text = String::new();
        if rng.chance(3) {
            text.push_str("[tend]\n");
            for _ in 0..rng.below(4) {
                let v = value(rng, 0);
                text.push_str(&format!("{} = {v}\n", rng.pick(&TEND_KEYS)));
            }
        }
        if rng.chance(3) {
            text.push_str("[defaults]\n");
            for _ in 0..rng.below(4) {
                let v = value(rng, 0);
                text.push_str(&format!("{} = {v}\n", rng.pick(&APP_KEYS)));
            }
        }
        for _ in 0..rng.below(4) {
            text.push_str(&format!("[app.{}]\n", rng.pick(&NAMES)));
            if !rng.chance(5) {
                text.push_str("command = [\"/bin/true\"]\n");
            }
            for _ in 0..rng.below(6) {
                let key = rng.pick(&APP_KEYS);
                let v = if rng.chance(4) {
                    value(rng, 0)
                } else {
                    well_typed(rng, key)
                };
                text.push_str(&format!("{key} = {v}\n"));
            }
            if rng.chance(4) {
                text.push_str(&format!("[app.{}.health]\n", rng.pick(&NAMES)));
                for _ in 0..rng.below(4) {
                    let v = value(rng, 0);
                    text.push_str(&format!("{} = {v}\n", rng.pick(&HEALTH_KEYS)));
                }
            }
        }
        if std::env::var_os("TEND_FUZZ_SHOW").is_some() {
            eprintln!("{text}");
        }
        accepted += usize::from(check_any(&text));
    });
    println!("fuzz config-generated: {accepted} inputs accepted");
    assert!(accepted > 0, "the generator never reaches a valid config");
}

#[test]
fn env_values_may_be_numbers_and_booleans() {
    let text = "[defaults]\nenv = { DEBUG = true, RATIO = 1.5 }\n[app.a]\ncommand = \"x\"\nenv = { PORT = 3101, NAME = \"web\", BIG = 1e3, NEG = -7, OFF = false }\n";
    let c = parse(text).expect("valid");
    let env: Vec<(&str, &str)> = c.apps[0]
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("BIG", "1000.0"),
            ("DEBUG", "true"),
            ("NAME", "web"),
            ("NEG", "-7"),
            ("OFF", "false"),
            ("PORT", "3101"),
            ("RATIO", "1.5"),
        ]
    );
}

#[test]
fn env_arrays_and_tables_are_named_with_their_place() {
    let got = problems(
        "[defaults]\nenv = { LIST = [1] }\n[app.a]\ncommand = \"x\"\n[app.a.env]\nPORT = 3101\nT = { x = 1 }\n",
    );
    let want = [
        "init.toml:2:16: app.a.env.LIST: invalid type: array, expected a string, number or boolean",
        "init.toml:7:5: app.a.env.T: invalid type: table, expected a string, number or boolean",
    ];
    assert_eq!(got, want);
}

#[test]
fn a_bare_integer_duration_says_what_to_write() {
    let got = problems(
        "[tend]\npoll_interval = 2\n[app.a]\ncommand = \"x\"\nrestart_delay = 3000\nstop_timeout = 1.5\n[app.a.health]\ntcp = \"127.0.0.1:1\"\ninterval = 10\n",
    );
    let want = [
        "init.toml:2:17: tend.poll_interval: invalid duration 2: missing unit (ms, s, m or h): write \"2s\"",
        "init.toml:5:17: app.a.restart_delay: invalid duration 3000: missing unit (ms, s, m or h): write \"3s\" or \"3000ms\"",
        "init.toml:6:16: app.a.stop_timeout: invalid type: floating point `1.5`, expected a string",
        "init.toml:9:12: app.a.health: invalid duration 10: missing unit (ms, s, m or h): write \"10s\"",
    ];
    assert_eq!(got, want);
}

#[test]
fn min_uptime_0s_is_refused_because_a_crash_loop_would_never_end() {
    assert_eq!(
        problems("[app.a]\ncommand = \"x\"\nmin_uptime = \"0s\"\n"),
        [
            "init.toml:3:14: app.a.min_uptime: must be longer than 0s: with 0s every run is \
          stable, and a crash loop never ends"
        ]
    );
}

#[test]
fn log_takes_one_form_or_a_form_and_file() {
    let text = r#"
[tend]
log_dir = "/srv/logs"
[defaults]
log_keep = 2
[app.a]
command = "x"
log = "json"
[app.b]
command = "x"
log = "file"
log_max_size = "1M"
[app.c]
command = "x"
log = ["prefix", "file"]
log_timestamps = true
[app.d]
command = "x"
"#;
    let config = parse(text).unwrap();
    assert_eq!(config.log_dir, Some(PathBuf::from("/srv/logs")));
    let got: Vec<(LogMode, bool, bool, u64, u32)> = config
        .apps
        .iter()
        .map(|a| {
            (
                a.log,
                a.log_file,
                a.log_timestamps,
                a.log_max_size,
                a.log_keep,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (LogMode::Json, false, false, 10 << 20, 2),
            (LogMode::Quiet, true, false, 1 << 20, 2),
            (LogMode::Prefix, true, true, 10 << 20, 2),
            (LogMode::Inherit, false, false, 10 << 20, 2),
        ]
    );
}

#[test]
fn bad_log_settings_say_what_is_accepted() {
    let cases = [
        (
            r#"log = "syslog""#,
            "invalid log mode \"syslog\": expected \"inherit\"",
        ),
        (
            r#"log = ["prefix", "json"]"#,
            "two stdout forms in one list",
        ),
        (r#"log = ["file", "file"]"#, "\"file\" twice"),
        (r#"log = []"#, "empty list"),
        (
            r#"log = ["inherit", "file"]"#,
            "\"inherit\" and \"file\" exclude each other",
        ),
        (r#"log = 3"#, "expected a string or an array of strings"),
        (r#"log_max_size = "0K""#, "must be larger than 0"),
        (r#"log_max_size = "ten""#, "log_max_size"),
        (r#"log_keep = -1"#, "log_keep"),
    ];
    for (line, want) in cases {
        let text = format!("[app.a]\ncommand = \"x\"\n{line}\n");
        let got = problems(&text).join("\n");
        assert!(got.contains(want), "{line}: {got}");
        assert!(got.contains("init.toml:3:"), "{line}: {got}");
    }
}

#[test]
fn listen_addresses_are_checked_with_their_place() {
    let text =
        "[app.a]\ncommand = \"x\"\nlisten = [\"tcp://0.0.0.0:8080\", \"unix:/run/a.sock\"]\n";
    let listen: Vec<String> = parse(text).unwrap().apps[0]
        .listen
        .iter()
        .map(|l| l.to_string())
        .collect();
    assert_eq!(listen, ["tcp://0.0.0.0:8080", "unix:/run/a.sock"]);
    let bad = "[app.a]\ncommand = \"x\"\nlisten = [\"tcp://0.0.0.0:8080\", \"http://x\", \"tcp://0.0.0.0:8080\"]\n";
    let got = problems(bad);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].starts_with("init.toml:3:33: app.a.listen: invalid address \"http://x\""),
        "{got:?}"
    );
    assert!(
        got[1].starts_with("init.toml:3:45: app.a.listen: tcp://0.0.0.0:8080 is listed twice"),
        "{got:?}"
    );
}

#[test]
fn cgroup_keys_are_typed_and_checked_where_written() {
    let c = parse(
        "[tend]\ncgroups = \"on\"\n[defaults]\npids_max = 64\n[app.web]\ncommand = \"x\"\n\
         memory_max = \"512M\"\ncpu_max = \"150%\"\n[app.db]\ncommand = \"y\"\n",
    )
    .expect("valid");
    assert_eq!(c.cgroups, Cgroups::On);
    let (web, db) = (&c.apps[0], &c.apps[1]);
    assert_eq!(web.memory_max, Some(512 << 20));
    assert_eq!(web.cpu_max, Some(150_000));
    assert_eq!((web.pids_max, db.pids_max), (Some(64), Some(64)));
    assert_eq!((db.memory_max, db.cpu_max), (None, None));
    assert_eq!(
        parse("[app.a]\ncommand = \"x\"\n").unwrap().cgroups,
        Cgroups::Auto
    );

    let got = problems(
        "[tend]\ncgroups = \"yes\"\n[app.web]\ncommand = \"x\"\ncpu_max = \"50\"\n\
         pids_max = 0\nmemory_max = \"1Q\"\n",
    );
    assert_eq!(
        got,
        [
            "init.toml:2:11: tend.cgroups: invalid value \"yes\": expected auto, on or off",
            "init.toml:5:11: app.web.cpu_max: invalid CPU limit \"50\": expected a percent of one core, like \"50%\" or \"150%\"",
            "init.toml:6:12: app.web.pids_max: must be at least 1",
            "init.toml:7:14: app.web.memory_max: invalid size \"1Q\": unknown unit \"Q\" (use K, M, G or T)",
        ]
    );
}
