//! Fault injection: control.

#[allow(unused_imports)]
use crate::util::*;
