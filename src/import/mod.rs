//! `tend import FILE`: a PM2 ecosystem file read as JSON (a .json file
//! directly, a .js or .cjs file evaluated by node), then mapped to
//! init.toml text by `map` (pure, unit-tested there).
//!
//! node runs with the file's directory as its cwd (what a `require` of a
//! relative path in the file expects), stdin closed, and a deadline: a file
//! that starts a server or loops forever is killed after `NODE_TIMEOUT`.
//! Its stdout carries the JSON after a marker line, so a config that logs
//! while it loads does not spoil it.

mod map;

use std::io::Read;
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};

pub use map::{Imported, to_toml};

/// How long node may take to evaluate the file.
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most output of node read: an ecosystem file is a few KiB.
const MAX_OUTPUT: usize = 16 << 20;

/// Put before the JSON on node's stdout.
const MARKER: &str = "\n--tend-import-json--\n";

/// Evaluates `module.exports` (or an ES module's default export, for a
/// .js file in a `"type": "module"` package), then writes it as JSON after
/// the marker. An app's functions and undefined values vanish, as in
/// `JSON.stringify`.
const NODE_SCRIPT: &str = r#"
const file = require('path').resolve(process.argv[1]);
const out = (m) => {
  process.stdout.write('\n--tend-import-json--\n' + JSON.stringify(m === undefined ? null : m),
    () => process.exit(0));
};
let m;
try {
  m = require(file);
  // node 22 and later load an ES module here: its namespace object.
  if (m && m[Symbol.toStringTag] === 'Module') m = m.default;
} catch (e) {
  if (e.code !== 'ERR_REQUIRE_ESM') throw e;
  m = null;
  import(require('url').pathToFileURL(file).href).then((x) => out(x.default),
    (e) => { console.error(e); process.exit(1); });
}
if (m !== null) out(m);
"#;

/// Reads `path` and maps it; the error says what to do.
pub fn import(path: &Path, cpus: usize) -> Result<Imported, String> {
    let shown = path.display();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_else(|| shown.to_string());
    let value: serde_json::Value = if path.extension().is_some_and(|e| e == "json") {
        let text = std::fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        serde_json::from_slice(&text).map_err(|e| format!("{shown}: invalid JSON: {e}"))?
    } else {
        let json = run_node(path)?;
        serde_json::from_str(&json).map_err(|e| format!("{shown}: node gave invalid JSON: {e}"))?
    };
    to_toml(&value, &name, cpus).map_err(|e| format!("{shown}: {e}"))
}

/// `node -e NODE_SCRIPT FILE` in the file's directory: the JSON it wrote.
fn run_node(path: &Path) -> Result<String, String> {
    let shown = path.display();
    if !path.is_file() {
        return Err(format!("{shown}: no such file"));
    }
    let abs = std::path::absolute(path).map_err(|e| format!("{shown}: {e}"))?;
    let dir = abs.parent().unwrap_or(Path::new("/"));
    let spawned = Command::new("node")
        .arg("-e")
        .arg(NODE_SCRIPT)
        .arg(&abs)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{shown}: a .js ecosystem file is evaluated with node, which is not \
                 installed (not found in PATH): install node, or convert the file to \
                 JSON where node is (node -p 'JSON.stringify(require(\"./{0}\"), null, 2)' \
                 > ecosystem.json) and import that",
                path.file_name().unwrap_or_default().to_string_lossy()
            ));
        }
        Err(e) => return Err(format!("{shown}: cannot run node: {e}")),
    };
    let (Some(mut stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("{shown}: cannot read node's output"));
    };
    let deadline = Instant::now() + NODE_TIMEOUT;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_open, mut err_open) = (true, true);
    let mut timed_out = false;
    let mut buf = [0u8; 8192];
    while out_open || err_open {
        let mut fds = Vec::new();
        if out_open {
            fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLIN));
        }
        if err_open {
            fds.push(PollFd::new(stderr.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, crate::poll_set::timeout(Some(deadline))) {
            Ok(0) => {
                timed_out = true;
                break;
            }
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("{shown}: waiting for node: {e}")),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let mut i = 0;
        if out_open {
            if ready[i] {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => out_open = false,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
            i += 1;
        }
        if err_open && ready[i] {
            match stderr.read(&mut buf) {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => err.extend_from_slice(&buf[..n]),
            }
        }
        if out.len() + err.len() > MAX_OUTPUT {
            timed_out = true;
            break;
        }
    }
    if timed_out {
        // Our own child: kill(2) by its pid, then reap it.
        let _ = child.kill();
    }
    let status = child
        .wait()
        .map_err(|e| format!("{shown}: waiting for node: {e}"))?;
    if timed_out {
        return Err(format!(
            "{shown}: node did not finish evaluating it within {}s (does the file \
             start something?); convert it to JSON and import that",
            NODE_TIMEOUT.as_secs()
        ));
    }
    let out = String::from_utf8_lossy(&out);
    match out.rfind(MARKER) {
        Some(at) if status.success() => Ok(out[at + MARKER.len()..].to_string()),
        _ => {
            let err = String::from_utf8_lossy(&err);
            // node's message says where and what; its stack frames say
            // nothing about the file.
            let lines: Vec<&str> = err
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("at "))
                .take(12)
                .collect();
            let shown_lines = lines.join("\n");
            Err(format!(
                "{shown}: node could not evaluate it ({status}):\n{shown_lines}"
            ))
        }
    }
}
