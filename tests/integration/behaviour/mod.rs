//! Behaviour that users count on (DESIGN.md "Behaviour that users count
//! on"): one module per group of its bullets, in their order. Output going
//! straight through is tested in logs, a bad config at reload in
//! operating::commands, never panicking by the fault tests (tests/faults),
//! the VM in vm.

mod reaping;

mod trees;

mod shutdown;

mod children;

mod failed_starts;
