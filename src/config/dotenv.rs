//! `env_file`: dotenv's KEY=VALUE lines, parsed by a pure function and
//! read by the supervisor at each start of the app (so an edit applies at
//! the next restart, and a missing file fails that start, not the boot).
//!
//! The format is the common subset of dotenv, docker's `--env-file` and
//! systemd's `EnvironmentFile`: `#` comments and blank lines, an optional
//! `export ` before the key, values bare (trimmed, ` #` starts a comment),
//! in single quotes (as written) or in double quotes (`\n`, `\t`, `\"`,
//! `\\` and `\$` escapes). A value does not continue onto the next line.

use std::path::Path;

/// The variables of `text`, in file order (a later line wins), or the
/// first bad line as `line N: reason`.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut vars = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}", i + 1);
        let line = line
            .strip_prefix("export")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad("expected KEY=VALUE"));
        };
        let key = key.trim_end();
        let valid_key = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'));
        if !valid_key {
            // The line is not echoed: it may hold a secret (a `:` typed
            // for `=` puts a whole URL with its password in the "name").
            return Err(bad(
                "not a variable name before '=': use letters, digits and '_'",
            ));
        }
        let value = value.trim_start();
        let (value, rest) = match value.chars().next() {
            Some(q @ ('"' | '\'')) => quoted(&value[1..], q)
                .ok_or_else(|| bad(&format!("no closing {q} on this line")))?,
            _ => {
                let end = value.find(" #").or_else(|| value.find("\t#"));
                (
                    value[..end.unwrap_or(value.len())].trim_end().to_string(),
                    "",
                )
            }
        };
        let rest = rest.trim_start();
        if !rest.is_empty() && !rest.starts_with('#') {
            return Err(bad("text after the closing quote"));
        }
        if value.contains('\0') {
            return Err(bad("a value cannot hold a NUL byte"));
        }
        vars.push((key.to_string(), value));
    }
    Ok(vars)
}

/// The value inside quotes `q` at the start of `s` (after the opening
/// quote) and what follows the closing one; None when it does not close.
fn quoted(s: &str, q: char) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Some((value, &s[i + 1..]));
        }
        if c == '\\' && q == '"' {
            match chars.next()?.1 {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                e @ ('"' | '\\' | '$') => value.push(e),
                other => {
                    value.push('\\');
                    value.push(other);
                }
            }
        } else {
            value.push(c);
        }
    }
    None
}

/// The largest env file read: anything bigger is not a dotenv file.
const MAX_FILE: u64 = 1 << 20;

/// Reads and parses one env file; the error starts with its path. Only a
/// regular file of at most 1 MiB is read: tend reads it in its loop, where
/// a FIFO or /dev/zero must not hang or exhaust PID 1.
pub fn read(path: &Path) -> Result<Vec<(String, String)>, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| at(&e))?;
    if !meta.is_file() {
        return Err(at(&"not a regular file"));
    }
    if meta.len() > MAX_FILE {
        return Err(at(&"larger than 1 MiB"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| at(&e))?;
    parse(&text).map_err(|e| at(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_regular_file_is_read() {
        let err = read(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err, "/dev/zero: not a regular file");
        assert!(read(Path::new("/nonexistent/.env")).is_err());
    }

    #[test]
    fn lines_of_every_form() {
        let text = "\
# a comment
  
PORT=3101
export NODE_ENV=production
SPACED = around  # a comment
HASH=a#b
SINGLE='it''s $HOME \\n'
DOUBLE=\"line\\none \\\"quoted\\\" \\$X\"   # comment
EMPTY=
EMPTY_QUOTES=\"\"
export_NAME=1
URL=postgres://u:p@h/db?x=1
PORT=3102
";
        let want = [
            ("PORT", "3101"),
            ("NODE_ENV", "production"),
            ("SPACED", "around"),
            ("HASH", "a#b"),
            ("SINGLE", "it"),
            ("DOUBLE", "line\none \"quoted\" $X"),
            ("EMPTY", ""),
            ("EMPTY_QUOTES", ""),
            ("export_NAME", "1"),
            ("URL", "postgres://u:p@h/db?x=1"),
            ("PORT", "3102"),
        ];
        // SINGLE: `'it'` then `'s ...` is not a comment.
        let got = parse(&text.replace("SINGLE='it''s $HOME \\n'\n", "")).unwrap();
        let want: Vec<(String, String)> = want
            .iter()
            .filter(|(k, _)| *k != "SINGLE")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            parse("S='as $IS \\n' # c\n").unwrap(),
            [("S".to_string(), "as $IS \\n".to_string())]
        );
        assert_eq!(parse("A=1\r\nB=2\r\n").unwrap().len(), 2);
    }

    #[test]
    fn bad_lines_are_named() {
        let cases = [
            ("A=1\nnot a pair\n", "line 2: expected KEY=VALUE"),
            (
                "1A=x\n",
                "line 1: not a variable name before '=': use letters, digits and '_'",
            ),
            (
                "=x\n",
                "line 1: not a variable name before '=': use letters, digits and '_'",
            ),
            ("A=\"open\n", "line 1: no closing \" on this line"),
            ("A='open\n", "line 1: no closing ' on this line"),
            ("A=\"x\" y\n", "line 1: text after the closing quote"),
            ("A=\"\\\n", "line 1: no closing \" on this line"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Err(want.to_string()), "{text:?}");
        }
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read(Path::new("/nonexistent/.env")).unwrap_err();
        assert!(err.starts_with("/nonexistent/.env: No such file"), "{err}");
    }
}
