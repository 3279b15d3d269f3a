//! init.toml (DESIGN.md "init.toml"): the command's two forms, env and
//! cwd, user, restart policies, instances and their names; `tend check`
//! names every problem with line:column and exits 2, and the shipped
//! init.toml passes it. Health checks are tested in operating::health.

use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(20);

#[test]
fn env_cwd_and_the_shell_form() {
    require_namespaces!();
    let mut cmd_env = Running::start(
        "env",
        r#"
[defaults]
env = { FROM_DEFAULTS = "d", OVERRIDDEN = "default" }

[app.shell]
command = 'echo "$FROM_DEFAULTS $OVERRIDDEN $INHERITED $(pwd)" > {dir}/out'
env = { OVERRIDDEN = "app" }
cwd = "/tmp"
restart = "never"

[app.argv]
command = ["sh", "-c", "echo \"$0 $1\" > {dir}/argv", "zero", "one  two"]
restart = "never"
"#,
    );
    assert_eq!(cmd_env.wait(T).code(), Some(0), "{}", cmd_env.log());
    // INHERITED comes from the test's own environment through unshare.
    assert_eq!(cmd_env.dir.read("out").trim(), "d app yes /tmp");
    assert_eq!(cmd_env.dir.read("argv").trim(), "zero one  two");
}

#[test]
fn user_nobody_runs_as_65534() {
    require_namespaces!(root, "to switch users");
    // The app writes as nobody into a dir made before tend starts.
    let out_dir = TempDir::new("user-out");
    std::fs::set_permissions(
        out_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let o = out_dir.path().display();
    let mut t = Running::start(
        "user",
        &format!(
            "[app.id]\ncommand = 'id -u > {o}/out; id -g >> {o}/out; echo \"$HOME $USER\" >> {o}/out'\nuser = \"nobody\"\nrestart = \"never\"\n"
        ),
    );
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    let out = lines(&out_dir.read("out"));
    assert_eq!(out[0], "65534");
    let nobody_gid = std::fs::read_to_string("/etc/passwd")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("nobody:"))
        .and_then(|l| l.split(':').nth(3).map(String::from))
        .unwrap();
    assert_eq!(out[1], nobody_gid, "the primary group of nobody");
    assert_eq!(out[2], "/nonexistent nobody");
}

#[test]
fn restart_policies_never_and_on_failure() {
    require_namespaces!();
    let mut t = Running::start(
        "policies",
        r#"
[defaults]
restart_delay = "0s"
max_restarts = 1

[app.never]
command = "echo run >> {dir}/never; exit 3"
restart = "never"

[app.ok]
command = "echo run >> {dir}/ok; exit 0"
restart = "on-failure"

[app.bad]
command = "echo run >> {dir}/bad; exit 1"
restart = "on-failure"

[app.killed]
command = "echo run >> {dir}/killed; kill -9 $$"
restart = "on-failure"
"#,
    );
    let status = t.wait(T);
    let runs = |f: &str| t.dir.read(f).lines().count();
    assert_eq!(runs("never"), 1, "{}", t.log());
    assert_eq!(runs("ok"), 1, "on-failure does not restart a clean exit");
    assert_eq!(runs("bad"), 2, "on-failure restarts a non-zero exit");
    assert_eq!(runs("killed"), 2, "on-failure restarts a death by signal");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn instances_get_their_names_and_numbers() {
    require_namespaces!();
    let mut t = Running::start(
        "instances",
        "[tend]\nlog_format = \"json\"\n[app.web]\ncommand = 'echo \"$TEND_APP $TEND_INSTANCE\" >> {dir}/ids'\ninstances = 3\nrestart = \"never\"\n",
    );
    assert_eq!(t.wait(T).code(), Some(0));
    let mut ids = lines(&t.dir.read("ids"));
    ids.sort();
    assert_eq!(ids, ["web.0 0", "web.1 1", "web.2 2"]);
    for i in 0..3 {
        assert_eq!(t.events(&format!("web.{i}"), "started").len(), 1);
    }
}

#[test]
fn check_reports_every_problem_with_line_and_column() {
    let dir = TempDir::new("check");
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[app.web]\ncommand = \"x\"\nrestart_delay = \"3x\"\nbogus = true\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &bad.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let b = bad.display();
    assert!(
        err.contains(&format!(
            "{b}:3:17: app.web.restart_delay: invalid duration \"3x\""
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{b}:4:1: app.web.bogus: unknown field `bogus`")),
        "{err}"
    );

    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[app.web]\ncommand = [\"sh\", \"-c\", \"true\"]\ninstances = 2\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &good.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok, 2 apps: web.0, web.1"));

    // Starting on a bad file: exit 2 before anything runs.
    let out = output_or_kill(tend(["-c", &bad.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(2));
    assert!(!stderr(&out).contains("started"));
}

#[test]
fn the_shipped_init_toml_is_valid() {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/init.toml");
    let out = output_or_kill(tend(["check", file]), T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn env_values_may_be_numbers_and_booleans() {
    let dir = TempDir::new("env-numbers");
    let file = dir.join("init.toml");
    let text = "[app.web]\ncommand = 'echo \"$PORT $RATIO $DEBUG\" > {dir}/out'\nenv = { PORT = 3101, RATIO = 1.5, DEBUG = true }\nrestart = \"never\"\n";
    std::fs::write(&file, text).unwrap();
    let out = output_or_kill(tend(["check", &file.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok, 1 app: web"), "{}", stdout(&out));

    require_namespaces!();
    let mut t = Running::start("env-numbers", text);
    assert_eq!(t.wait(T).code(), Some(0), "{}", t.log());
    assert_eq!(t.dir.read("out").trim(), "3101 1.5 true");
}

#[test]
fn check_hints_at_what_an_unknown_key_meant() {
    let dir = TempDir::new("check-hints");
    let file = dir.join("init.toml");
    std::fs::write(
        &file,
        "[app.web]\ncommand = \"x\"\nmax_memry = \"256M\"\n\n[app.pm2]\ncommand = \"x\"\nmax_memory_restart = \"256M\"\nrestart_delay = 3000\n",
    )
    .unwrap();
    let out = output_or_kill(tend(["check", &file.display().to_string()]), T);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let f = file.display();
    for want in [
        format!(
            "{f}:3:1: app.web.max_memry: unknown field `max_memry`: did you mean `max_memory`?"
        ),
        format!(
            "{f}:7:1: app.pm2.max_memory_restart: unknown field `max_memory_restart`: PM2's max_memory_restart is `max_memory` here"
        ),
        format!(
            "{f}:8:17: app.pm2.restart_delay: invalid duration 3000: missing unit (ms, s, m or h): write \"3s\" or \"3000ms\""
        ),
    ] {
        assert!(err.contains(&want), "want {want}\n got {err}");
    }
}

#[test]
fn env_file_values_reach_the_app_and_env_wins_over_them() {
    require_namespaces!();
    // `prep` writes the file; `web` fails to start until it is there (a
    // missing env_file is a failed start), then reads it: env files are
    // read at each start, relative to the config file's directory when
    // the app has no `cwd`.
    let mut t = Running::start(
        "env-file",
        r#"
[app.prep]
command = '''printf '# made by prep\nexport FROM_FILE=file\nBOTH=file\nQUOTED="a \\"b\\" #c" # comment\n' > {dir}/app.env'''
restart = "never"

[app.web]
command = 'echo "$FROM_FILE|$BOTH|$QUOTED" > {dir}/out'
env_file = "app.env"
env = { BOTH = "env" }
restart = "on-failure"
restart_delay = "100ms"
max_restart_delay = "100ms"
max_restarts = 50

[app.missing]
command = "true"
cwd = "/"
env_file = ["nonexistent.env"]
restart = "never"
"#,
    );
    t.wait(T);
    assert_eq!(
        t.dir.read("out").trim(),
        "file|env|a \"b\" #c",
        "{}",
        t.log()
    );
    assert!(
        t.log()
            .contains("cannot start: env_file /nonexistent.env: No such file"),
        "{}",
        t.log()
    );

    // `tend check` warns about the missing file and exits 0.
    let out = output_or_kill(
        tend(["check", &t.dir.join("init.toml").display().to_string()]),
        T,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: app.missing.env_file: /nonexistent.env: No such file"),
        "{}",
        stderr(&out)
    );
}
