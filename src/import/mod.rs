//! `tend import FILE`: a PM2 ecosystem file read as JSON (a .json file
//! directly, a .js or .cjs file evaluated by node), then mapped to
//! init.toml text by `map` (pure, unit-tested there).
//!
//! node runs with the file's directory as its cwd (what a `require` of a
//! relative path in the file expects), in a session of its own, and with a
//! deadline: a file that loops forever is killed after `NODE_TIMEOUT` (one
//! that starts a timer or a server is ended by the script's own exit once
//! the JSON is written). Its stdout and stderr share one pipe; the JSON
//! follows a marker line, so a config that logs while it loads does not
//! spoil it, and on failure the pipe holds node's message.

mod map;

use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::wait::WaitStatus;

use crate::spawn::{Launch, Session, spawn};

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

/// Reads `path` and maps it; the error, naming the file, says what to do.
pub fn import(path: &Path, cpus: usize) -> Result<Imported, String> {
    read(path, cpus).map_err(|e| format!("{}: {e}", path.display()))
}

fn read(path: &Path, cpus: usize) -> Result<Imported, String> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let json = if path.extension().is_some_and(|e| e == "json") {
        std::fs::read_to_string(path)
            .map_err(|e| e.to_string())?
            .into_bytes()
    } else {
        run_node(path, &name)?
    };
    let value: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| format!("invalid JSON: {e}"))?;
    to_toml(&value, &name, cpus)
}

/// `node -e NODE_SCRIPT NAME` in the file's directory: the JSON it wrote.
/// (Bytes, parsed by `from_slice` like every JSON tend reads: `from_str`
/// would add a second copy of serde_json's parser to the binary.)
fn run_node(path: &Path, name: &str) -> Result<Vec<u8>, String> {
    if !path.is_file() {
        return Err("no such file".into());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // One pipe for node's stdout and stderr: the JSON after the marker, or
    // node's message when it failed.
    let (reader, writer) = nix::unistd::pipe().map_err(|e| e.to_string())?;
    let writer2 = writer.try_clone().map_err(|e| e.to_string())?;
    // Through tend's own spawn: one way to start a process in the binary.
    // In a session of its own, and killed if tend dies (Ctrl-C).
    let argv = ["node", "-e", NODE_SCRIPT, name].map(std::ffi::OsString::from);
    let mut launch = Launch::new(&argv, Session::New);
    launch.cwd = Some(dir);
    launch.output = Some((writer, writer2));
    launch.die_with_tend = true;
    let pid = match spawn(&launch) {
        Ok(pid) => pid,
        Err(e) if e.source.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "a .js ecosystem file is evaluated with node, which is not installed \
                 (not found in PATH): install node, or convert the file to JSON where \
                 node is (node -p 'JSON.stringify(require(\"./{name}\"), null, 2)' > \
                 ecosystem.json) and import that"
            ));
        }
        Err(e) => return Err(format!("cannot run node: {}", e.source)),
    };
    // The pipe's write ends are the child's alone now: EOF when it exits.
    drop(launch);
    let deadline = Instant::now() + NODE_TIMEOUT;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    // Until EOF: node has exited (or closed both, which it never does).
    let finished = loop {
        let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
        let ready = poll(&mut fds, crate::poll_set::timeout(Some(deadline)));
        if ready == Ok(0) || out.len() > MAX_OUTPUT {
            break false;
        }
        match nix::unistd::read(&reader, &mut buf) {
            Ok(0) => break true,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    };
    if !finished {
        // Our own child, not yet reaped: its pid is still its own.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    // Reaped here; tend has no other children in this mode.
    let code = match nix::sys::wait::waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        Ok(_) => -1,
        Err(e) => return Err(e.to_string()),
    };
    if !finished {
        return Err(format!(
            "node did not finish evaluating it within {}s (does the file start \
             something?); convert it to JSON and import that",
            NODE_TIMEOUT.as_secs()
        ));
    }
    let out = String::from_utf8_lossy(&out);
    match out.rfind(MARKER) {
        Some(at) if code == 0 => Ok(out[at + MARKER.len()..].as_bytes().to_vec()),
        _ => {
            // node's message says where and what; its stack frames say
            // nothing about the file.
            let lines: Vec<&str> = out
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("at "))
                .take(12)
                .collect();
            Err(format!(
                "node could not evaluate it (exit code {code}):\n{}",
                lines.join("\n")
            ))
        }
    }
}
