//! Fault injection: output.

#[allow(unused_imports)]
use crate::util::*;
