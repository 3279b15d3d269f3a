//! The one integration-test binary: tend run for real, as PID 1 of a PID
//! namespace where the behaviour depends on it, with real processes and
//! real signals. Every wait has a deadline.

mod container;
mod control;
mod health;
mod host;
mod supervisor;
mod util;
mod vm;
mod wrapper;
