//! The scanner's progress on one shard, as the metrics and `shoal admin info` show it.
//!
//! `ScanCounters` lives in the shard's `Store` (plain cells: only the shard's own
//! tasks touch them); the shard's publishing task copies a `ScanProgress` of it into
//! the node's metrics slot once a second. Counts of work (`objects_scanned`,
//! `damaged_found`, …) start at zero with the process; `cycles_completed`,
//! `deep_cycles_completed` and the times come from the persisted position, so they
//! stay true across restarts.

use std::cell::Cell;

/// One shard's scanner figures at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanProgress {
    /// Whether this shard scans anything (it is given at least one set).
    pub active: bool,
    /// Objects checked since the process started.
    pub objects_scanned: u64,
    /// Objects found damaged (and queued for healing) since the process started.
    pub damaged_found: u64,
    /// Objects the scanner could not judge (a member failed or did not answer) since
    /// the process started; they are looked at again next cycle.
    pub objects_unverified: u64,
    /// Chunk bytes read and verified by deep cycles since the process started.
    pub deep_bytes_read: u64,
    /// Cycles completed by this shard's scanner, ever (persisted).
    pub cycles_completed: u64,
    /// Deep cycles completed, ever (persisted).
    pub deep_cycles_completed: u64,
    /// The cycle in progress is deep.
    pub cycle_deep: bool,
    /// When the cycle in progress started (Unix nanoseconds; 0: none in progress).
    pub cycle_started_unix_nanos: u64,
    /// How long the last completed cycle took (nanoseconds; 0: none yet).
    pub last_cycle_nanos: u64,
    /// When the last deep cycle finished (Unix nanoseconds; 0: never).
    pub last_deep_finished_unix_nanos: u64,
    /// Whether this shard audits listing indexes (it owns at least one drive's).
    pub index_audit_active: bool,
    /// Keys the index audit compared with their records since the process started.
    pub index_keys_audited: u64,
    /// Listing indexes found to disagree with their records (each then rebuilt) since
    /// the process started.
    pub index_mismatches: u64,
    /// Differences the audit saw once and not on its second look (writes in flight);
    /// for tests, not exported.
    pub index_suspects_dismissed: u64,
}

/// The shard's live counters (in its `Store`).
#[derive(Debug, Default)]
pub struct ScanCounters(Cell<ScanProgress>);

impl ScanCounters {
    pub fn get(&self) -> ScanProgress {
        self.0.get()
    }

    pub(crate) fn update(&self, change: impl FnOnce(&mut ScanProgress)) {
        let mut progress = self.0.get();
        change(&mut progress);
        self.0.set(progress);
    }
}
