//! `shoal-bench`: benchmarks.
#![forbid(unsafe_code)]
fn main() {}
