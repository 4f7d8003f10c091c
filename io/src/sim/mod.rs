//! The simulated side of `io`: what tests and the deterministic simulation run on instead
//! of the kernel. Everything here is single-threaded and seeded, so a seed reproduces a
//! run exactly.

pub mod drive;

pub use drive::{FaultRule, SimDrive, SimFaults, SimFile};
