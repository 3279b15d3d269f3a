//! Fault injection: signals.

#[allow(unused_imports)]
use crate::util::*;
