//! The faults a test injects into a `SimDrive`: which operations fail, flip bits, run
//! slow or hang, and when. The model they add up to is the table at the top of
//! drive.rs.
//!
//! Invariant: a rule that draws randomness draws it from the drive's seeded RNG, so the
//! same seed and the same operations give the same faults.

use std::time::Duration;

use rand::Rng;
use rand::rngs::SmallRng;

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
    /// The least time every operation takes: in the simulation's virtual time once the
    /// drive has an env (`SimDrive::with_env`), else on monoio's timer (which then needs
    /// a runtime with the timer enabled).
    pub latency: Duration,
    /// Mean of a random extra time added to `latency` per operation, exponentially
    /// distributed (a long tail of slow operations), capped at 20 times the mean.
    pub latency_jitter_mean: Duration,
    /// An operation this rule catches when it starts never completes until the rule is
    /// set back to `Never` (`set_faults`/`clear_faults`); after a crash it fails.
    pub hang: FaultRule,
    /// `write_at` and `write_file_atomic` succeed and the process sees the new bytes,
    /// but no `sync` ever makes them durable: after a crash the old bytes are back.
    pub lost_write: FaultRule,
    /// Every operation fails with ENODEV, as when a disk drops off the bus.
    pub gone: bool,
}

/// The unit a torn write is cut at: a write in flight at a crash keeps whole sectors.
pub const SECTOR_SIZE_BYTES: usize = 512;

/// The longest extra latency, in means: bounds the tail so a run's length stays bounded.
const LATENCY_JITTER_CAP_MEANS: f64 = 20.0;

impl SimFaults {
    /// How long the next operation takes: `latency` plus a draw from the jitter
    /// distribution (no draw, so no RNG use, when the jitter is zero).
    pub(crate) fn draw_latency(&self, rng: &mut SmallRng) -> Duration {
        if self.latency_jitter_mean.is_zero() {
            return self.latency;
        }
        // Inverse transform sampling: -ln(1 - u) is exponential with mean 1.
        let u: f64 = rng.r#gen();
        let means = (-(1.0 - u).ln()).min(LATENCY_JITTER_CAP_MEANS);
        self.latency + self.latency_jitter_mean.mul_f64(means)
    }
}

/// A write that has started and not yet completed: what a crash may tear.
#[derive(Debug)]
pub(crate) enum Flight {
    /// `write_at`: `data` for inode `inode` at `offset`.
    Write {
        inode: u64,
        offset: u64,
        data: Vec<u8>,
    },
    /// `write_file_atomic`: the whole new content of `path`.
    Atomic { path: String, data: Vec<u8> },
}

/// How many bytes of a `len`-byte write in flight reach the platter at a crash: a random
/// number of whole sectors, from none to all.
pub(crate) fn torn_prefix_len(len: usize, rng: &mut SmallRng) -> usize {
    let sectors = len / SECTOR_SIZE_BYTES;
    rng.gen_range(0..=sectors) * SECTOR_SIZE_BYTES
}
