//! Operating (DESIGN.md "Operating"): a running tend through its control
//! socket, and readiness: health checks (init.toml leaves them to this
//! section) and sd_notify; a tend that is not PID 1 next to others.

mod commands;

mod socket;

mod health;

mod notify;

mod one_tend;

mod waiting;

mod inspect;
