//! Fault injection: storms.

#[allow(unused_imports)]
use crate::util::*;
