//! tend: the first process of a container or a minimal VM. `main` parses the
//! command line, runs the chosen mode and turns its result into the exit
//! code; it is the only place that exits.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod cli;
mod error;
#[allow(dead_code)]
mod log;
#[allow(dead_code)]
mod reaper;
mod signals;
mod spawn;
#[allow(dead_code)] // formatters and helpers that supervisor mode uses next
mod units;
mod wrapper;

use std::process::ExitCode;

use cli::Mode;
use error::Error;

fn main() -> ExitCode {
    log::init();
    let result = cli::parse(std::env::args_os().skip(1))
        .map_err(Error::Usage)
        .and_then(run);
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = e.to_string();
            match e {
                Error::Usage(_) => eprintln!("tend: {msg}"),
                _ => log::error(&msg),
            }
            ExitCode::from(e.exit_code())
        }
    }
}

fn run(mode: Mode) -> Result<u8, Error> {
    match mode {
        Mode::Help => {
            print!("{}", cli::USAGE);
            Ok(0)
        }
        Mode::Version => {
            println!("tend {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Mode::Wrap(args) if args.is_plain() => wrapper::run(&args.command),
        Mode::Wrap(_) => Err(Error::Usage(
            "the supervisor flags (--restart, --max-memory, ...) need supervisor mode, \
             which this build does not have yet"
                .into(),
        )),
        Mode::Supervise { .. } | Mode::Check { .. } => Err(Error::Usage(
            "supervisor mode (init.toml) is not in this build yet; use tend -- CMD".into(),
        )),
    }
}
