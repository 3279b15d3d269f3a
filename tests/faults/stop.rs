//! Fault injection: stop.

#[allow(unused_imports)]
use crate::util::*;
