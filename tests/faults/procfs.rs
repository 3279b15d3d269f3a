//! Fault injection: procfs.

#[allow(unused_imports)]
use crate::util::*;
