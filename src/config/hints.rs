//! Hints for unknown keys: PM2's names mapped to tend's, else the nearest
//! known key by edit distance. An unknown key stays an error; the hint
//! only replaces the message's list of every key with the one the user
//! likely meant. The known keys are the ones that message lists
//! (`expected one of ...`, serde's words, kept by `raw`), so a new key is
//! suggested without a second list to keep.

/// The message for `message` (in serde's words) about `key` in the section at `path`
/// (`tend`, `defaults`, `app.NAME`), when there is a hint: `unknown field
/// `X`: HINT`. None leaves the message as it is.
pub(super) fn unknown_key(path: &str, key: &str, message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let name = &rest[..rest.find('`')?];
    // An unknown key inside `[app.NAME.health]` is reported on `health`:
    // PM2's names are for the app's own table only.
    let app = name == key && (path == "defaults" || path.starts_with("app."));
    let known = expected(&rest[name.len() + 1..]);
    let hint = app
        .then(|| pm2(name))
        .flatten()
        .or_else(|| nearest(name, &known).map(|k| format!("did you mean `{k}`?")))?;
    Some(format!("unknown field `{name}`: {hint}"))
}

/// The keys serde lists after the unknown one: every `quoted` word of
/// `, expected one of `a`, `b`` or `, expected `a` or `b``.
fn expected(rest: &str) -> Vec<&str> {
    rest.split('`').skip(1).step_by(2).collect()
}

/// PM2's ecosystem keys that tend spells differently or does not have,
/// with what to write instead.
fn pm2(key: &str) -> Option<String> {
    let text = match key {
        "max_memory_restart" => {
            "PM2's max_memory_restart is `max_memory` here, a size: max_memory = \"256M\""
        }
        "script" | "args" | "interpreter" | "interpreter_args" | "node_args" => {
            "PM2's script, args and interpreter are one `command` here: \
             command = [\"node\", \"app.js\", \"--port\", \"3000\"]"
        }
        "kill_timeout" => {
            "PM2's kill_timeout is `stop_timeout` here, a duration, not milliseconds: \
             kill_timeout: 1600 is stop_timeout = \"1600ms\""
        }
        "out_file" | "error_file" | "log_file" | "merge_logs" | "combine_logs" => {
            "PM2's log files are `log = \"file\"` here (one file per instance in \
             [tend] log_dir, stdout and stderr merged, each line marked out or err; \
             log = [\"prefix\", \"file\"] also prints them) and `tend logs` reads them"
        }
        "exec_mode" => {
            "tend has no exec_mode: PM2's cluster mode is `instances` (N copies, \
             TEND_INSTANCE in their env) with `listen = [\"tcp://0.0.0.0:PORT\"]`: \
             tend binds the port and every instance takes it as fd 3"
        }
        "ignore_watch" => "PM2's ignore_watch is `watch_ignore` here",
        "autorestart" => {
            "PM2's autorestart is `restart` here: autorestart: false is \
             restart = \"never\", true is restart = \"always\" (the default)"
        }
        "exp_backoff_restart_delay" => {
            "tend always backs off: `restart_delay` is the first delay, doubled after \
             each unstable run up to `max_restart_delay`"
        }
        "name" => "an app's name is its table key: [app.NAME]",
        _ => return None,
    };
    Some(text.to_string())
}

/// The known key nearest to `name`, when it is near enough to be a typo:
/// at most one edit for short names, two for longer ones.
fn nearest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let most = if name.chars().count() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|k| (distance(name, k), *k))
        .filter(|(d, _)| *d <= most)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance with adjacent transpositions (optimal string alignment),
/// in characters.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_keys_are_the_ones_serde_lists() {
        let message = "unknown field `x`, expected one of `command`, `cwd`, `max_memory`";
        assert_eq!(expected(&message[17..]), ["command", "cwd", "max_memory"]);
        assert_eq!(expected(", expected `a` or `b`"), ["a", "b"]);
        assert!(expected(", there are no fields").is_empty());
    }

    #[test]
    fn distances() {
        let cases = [
            ("max_memry", "max_memory", 1),
            ("comand", "command", 1),
            ("stop_timout", "stop_timeout", 1),
            ("restart_dealy", "restart_delay", 1),
            ("", "cwd", 3),
            ("bogus", "user", 5),
        ];
        for (a, b, want) in cases {
            assert_eq!(distance(a, b), want, "{a} {b}");
        }
    }

    #[test]
    fn hints_for_unknown_keys() {
        let serde = |k: &str| {
            format!(
                "unknown field `{k}`, expected one of `command`, `cwd`, `max_memory`, \
                 `poll_interval`, `interval`"
            )
        };
        let app = |k: &str| unknown_key("app.web", k, &serde(k));
        let cases = [
            ("max_memry", Some("did you mean `max_memory`?")),
            ("comand", Some("did you mean `command`?")),
            ("max_memory_restart", Some("is `max_memory` here")),
            ("script", Some("one `command`")),
            ("args", Some("one `command`")),
            ("interpreter", Some("one `command`")),
            ("kill_timeout", Some("is `stop_timeout` here, a duration")),
            ("out_file", Some("log = \"file\"")),
            ("error_file", Some("log = \"file\"")),
            ("merge_logs", Some("log = \"file\"")),
            ("exec_mode", Some("`instances`")),
            ("ignore_watch", Some("is `watch_ignore` here")),
            ("autorestart", Some("restart = \"never\"")),
            ("exp_backoff_restart_delay", Some("`max_restart_delay`")),
            ("name", Some("[app.NAME]")),
            ("bogus", None),
            ("x", None),
        ];
        for (key, want) in cases {
            let got = app(key);
            match want {
                None => assert_eq!(got, None, "{key}"),
                Some(w) => {
                    let got = got.unwrap_or_default();
                    assert!(
                        got.starts_with(&format!("unknown field `{key}`: ")),
                        "{got}"
                    );
                    assert!(got.contains(w), "{key}: {got}");
                }
            }
        }
        // PM2's names only where apps are; typos everywhere.
        assert_eq!(unknown_key("tend", "name", &serde("name")), None);
        assert_eq!(
            unknown_key("tend", "pol_interval", &serde("pol_interval")).as_deref(),
            Some("unknown field `pol_interval`: did you mean `poll_interval`?")
        );
        assert_eq!(
            unknown_key("app.a", "health", &serde("intervl")).as_deref(),
            Some("unknown field `intervl`: did you mean `interval`?")
        );
        assert_eq!(unknown_key("app.a", "cwd", "invalid type"), None);
    }
}
