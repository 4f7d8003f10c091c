//! The only crate that touches the kernel: the per-shard runtime, io_uring-backed drive
//! I/O with O_DIRECT, 4 KiB-aligned buffers, and a simulated drive for tests.
//!
//! Invariants:
//! - Nothing here knows about HTTP, S3 or erasure coding.
//! - Every path handed to a [`Drive`] is relative to the drive root and has no `.`/`..`
//!   segments; drives assert it (the object store validates keys before they get here).
//! - A buffer handed to a write or read belongs to the kernel until the call returns it.
#![deny(unsafe_code)] // allowed per block in buf.rs and the real drive, each with a SAFETY comment

pub mod any_drive;
pub mod buf;
pub mod buf_pool;
pub mod clock;
pub mod dir_drive;
mod dir_sync;
pub mod drive;
pub mod env;
pub mod handoff;
pub mod memory_budget;
pub mod net;
mod open_ring;
mod ring_fs;
pub mod runtime;
pub mod sim;

pub use any_drive::{AnyDrive, AnyFile};
pub use buf::{AlignedBuf, BLOCK_SIZE_BYTES};
pub use buf_pool::BufPool;
pub use clock::{Clock, SimClock, SystemClock};
pub use dir_drive::{DirDrive, DirFile, DriveLock};
pub use drive::{
    DirEntry, Drive, DriveError, DriveResult, SpaceInfo, TargetFolder,
    descriptors_exhausted_within, no_space_within,
};
pub use env::{Env, MonoioEnv, timeout};
pub use memory_budget::{GRANT_WAIT_MAX, MemoryBudget, MemoryGrant};
pub use runtime::{
    DriverKind, RuntimeConfig, ShardRuntime, build_runtime, driver_in_use,
    pin_current_thread_to_core, raise_memlock_limit,
};
pub use sim::{FaultRule, SimConfig, SimDrive, SimEnv, SimError, SimExecutor, SimFaults, SimFile};
