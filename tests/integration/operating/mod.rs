//! Operating (DESIGN.md "Operating"): a running tend through its control
//! socket, and readiness: health checks (init.toml leaves them to this
//! section) and sd_notify.

mod commands;

mod socket;

mod health;

mod notify;
