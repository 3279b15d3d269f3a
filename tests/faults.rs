//! Fault injection (issue 7): tend as PID 1 under storms of signals,
//! crashes, failed execs and forks, floods of output and of control
//! clients, log files on a full disk or in a dir that cannot be made,
//! hostile stop behaviour and a /proc that changes under it. Every test is
//! bounded in time and in what it spawns, and runs alone (they load the
//! machine, and some measure tend's RSS and CPU). Tests that print a line
//! starting with `FIGURE` report the number RELIABILITY.md quotes:
//! `cargo test --test faults -- --nocapture 2>&1 | grep FIGURE`.

#[path = "util/mod.rs"]
mod util;

mod faults {
    pub mod control;
    pub mod logs;
    pub mod output;
    pub mod procfs;
    pub mod resources;
    pub mod signals;
    pub mod stop;
    pub mod storms;
}
