//! The one integration-test binary: tend run for real, as PID 1 of a PID
//! namespace where the behaviour depends on it, with real processes and
//! real signals. Every wait has a deadline.
//!
//! The modules follow the sections of DESIGN.md, in its order, each named
//! after its section: the test of a sentence is in the module of the
//! section that says it (a module's first lines name the exceptions). The
//! whole-system runs, in a VM and in a container, come last.

#[path = "../util/mod.rs"]
mod util;

mod command_line;

mod init_toml;

mod exit_codes;

mod signals;

mod behaviour;

mod restart_counting;

mod operating;

mod friendly_config;

mod logs;

mod sockets;

mod zero_downtime;

mod scheduled_restarts;

mod watch;

mod resource_control;

mod architecture;

mod vm;

mod container;
