//! The simulated side of `io`: what tests and the deterministic simulation run on instead
//! of the kernel. A `SimExecutor` runs tasks in virtual time with a seeded schedule, its
//! `SimEnv` is the `Env` the code under test gets, and `SimDrive` is an in-memory drive
//! with a stated fault model whose latency and hangs pass in that virtual time.
//!
//! Invariant: everything here is single-threaded and draws every choice from a seed, so a
//! seed reproduces a run exactly (the trace hash shows it).

pub mod drive;
mod drive_state;
pub mod env;
pub mod executor;
pub mod faults;
pub mod seeds;
pub mod trace;

pub use drive::{SimDrive, SimFile};
pub use env::SimEnv;
pub use executor::{SIM_WALL_CLOCK_START_UNIX_NANOS, SimConfig, SimError, SimExecutor};
pub use faults::{FaultRule, SimFaults};
pub use seeds::{SeedPlan, SeedSweep, SweepReport};
pub use trace::Trace;
