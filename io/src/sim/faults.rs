//! The faults a test injects into a `SimDrive`: which operations fail, flip bits, run
//! slow or hang, and when. The model they add up to is the table at the top of
//! drive.rs.
//!
//! Invariant: a rule that draws randomness draws it from the drive's seeded RNG, so the
//! same seed and the same operations give the same faults.

use std::time::Duration;

/// When a fault fires.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum FaultRule {
    #[default]
    Never,
    Always,
    /// Only for operations on paths containing this substring.
    PathContains(String),
    /// Each operation independently, drawn from the drive's seeded RNG.
    Probability(f64),
}

/// Faults a test injects; set with [`SimDrive::set_faults`], any time.
#[derive(Debug, Clone, Default)]
pub struct SimFaults {
    /// `read_file` and `read_at` fail with EIO.
    pub read_error: FaultRule,
    /// `write_file_atomic`, `create`, `write_at`, `set_len`, `sync` and `rename` fail
    /// with EIO (nothing changes).
    pub write_error: FaultRule,
    /// One random bit of the data a read returns is flipped (the stored bytes stay).
    pub read_bit_flip: FaultRule,
    /// After this many more bytes are written (`write_at`, `write_file_atomic`), writes
    /// fail with `NoSpace`.
    pub no_space_after_bytes: Option<u64>,
    /// Added before every operation (needs a runtime with the timer enabled).
    pub latency: Duration,
    /// Every operation fails with ENODEV, as when a disk drops off the bus.
    pub gone: bool,
}
