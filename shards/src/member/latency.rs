//! How long each storage verb took on one member lately, as one shard saw it: the
//! source of `minio_node_drive_latency_us` ("mean over the last minute").
//!
//! Kept cheap: time is cut into windows of [`WINDOW_NANOS`]; [`WINDOWS`] slots hold the
//! sum and count of each verb in the current window and the ones just before it. A
//! sample lands in the slot of its window (reusing a slot clears what an older window
//! left there); a reading adds up the slots of the last [`WINDOWS`] windows. So "the last
//! minute" is the current window and the five before it: between 50 and 60 seconds.
//!
//! Invariants: plain `Cell`s of one shard (no sharing); one table allocated at start,
//! none per sample; time comes from the caller (`Env::monotonic_nanos`), never a clock
//! read here, so the simulation stays deterministic.

use std::cell::Cell;

use crate::member::verb::{VERB_COUNT, Verb};

/// Length of one window.
pub const WINDOW_NANOS: u64 = 10_000_000_000;
/// Windows a reading covers (the current one included): six of ten seconds.
pub const WINDOWS: usize = 6;

/// One verb's calls over the windows read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerbTotal {
    pub sum_nanos: u64,
    pub count: u64,
}

impl VerbTotal {
    pub fn add(&mut self, other: VerbTotal) {
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
        self.count = self.count.saturating_add(other.count);
    }

    /// The mean latency in microseconds, or `None` without calls.
    pub fn mean_micros(self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_nanos as f64 / self.count as f64 / 1_000.0)
    }
}

/// Per verb, latency sums and counts of the recent windows.
#[derive(Debug)]
pub struct VerbLatency {
    /// Per slot: 1 + the number of the window it holds (0: never used).
    windows: [Cell<u64>; WINDOWS],
    /// `WINDOWS * VERB_COUNT` cells, slot-major.
    cells: Box<[Cell<VerbTotal>]>,
}

impl Default for VerbLatency {
    fn default() -> Self {
        Self {
            windows: Default::default(),
            cells: (0..WINDOWS * VERB_COUNT)
                .map(|_| Cell::new(VerbTotal::default()))
                .collect(),
        }
    }
}

impl VerbLatency {
    /// A call of `verb` that took `elapsed_nanos` and ended at `now_nanos`.
    pub fn record(&self, verb: Verb, now_nanos: u64, elapsed_nanos: u64) {
        let window = now_nanos / WINDOW_NANOS + 1;
        let slot = (window % WINDOWS as u64) as usize;
        if self.windows[slot].get() != window {
            self.windows[slot].set(window);
            for cell in &self.cells[slot * VERB_COUNT..(slot + 1) * VERB_COUNT] {
                cell.set(VerbTotal::default());
            }
        }
        let cell = &self.cells[slot * VERB_COUNT + verb.index()];
        let mut total = cell.get();
        total.add(VerbTotal {
            sum_nanos: elapsed_nanos,
            count: 1,
        });
        cell.set(total);
    }

    /// Per verb (in `Verb::ALL` order), the calls of the last [`WINDOWS`] windows up to
    /// `now_nanos`.
    pub fn totals(&self, now_nanos: u64) -> Vec<VerbTotal> {
        let current = now_nanos / WINDOW_NANOS + 1;
        let mut totals = vec![VerbTotal::default(); VERB_COUNT];
        for (slot, window) in self.windows.iter().enumerate() {
            let window = window.get();
            let recent = window != 0 && window <= current && current - window < WINDOWS as u64;
            if !recent {
                continue;
            }
            let cells = &self.cells[slot * VERB_COUNT..(slot + 1) * VERB_COUNT];
            for (total, cell) in totals.iter_mut().zip(cells) {
                total.add(cell.get());
            }
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND_NANOS: u64 = 1_000_000_000;

    /// Samples of the last minute are averaged per verb; older windows drop out of the
    /// reading and their slots are reused without leaking old sums.
    #[test]
    fn the_mean_covers_the_last_minute_only() {
        let latency = VerbLatency::default();
        let start = 1_000 * SECOND_NANOS;
        latency.record(Verb::ReadMeta, start, 100_000);
        latency.record(Verb::ReadMeta, start + 5 * SECOND_NANOS, 300_000);
        latency.record(Verb::Commit, start + 20 * SECOND_NANOS, 2_000_000);
        let now = start + 30 * SECOND_NANOS;
        let totals = latency.totals(now);
        let read = totals[Verb::ReadMeta.index()];
        assert_eq!(read.count, 2);
        assert_eq!(read.mean_micros(), Some(200.0));
        assert_eq!(totals[Verb::Commit.index()].mean_micros(), Some(2_000.0));
        assert_eq!(totals[Verb::Walk.index()].mean_micros(), None);
        let later = start + 60 * SECOND_NANOS;
        let totals = latency.totals(later);
        assert_eq!(totals[Verb::ReadMeta.index()].count, 0, "60 s ago");
        assert_eq!(totals[Verb::Commit.index()].count, 1, "40 s ago");
        latency.record(Verb::Commit, later, 4_000_000);
        let totals = latency.totals(later);
        assert_eq!(
            totals[Verb::ReadMeta.index()].count,
            0,
            "its slot was reused and cleared"
        );
        assert_eq!(totals[Verb::Commit.index()].mean_micros(), Some(3_000.0));
        assert!(
            latency
                .totals(later + 61 * SECOND_NANOS)
                .iter()
                .all(|t| t.count == 0)
        );
    }

    /// A reading at a time before the samples (another shard's clock never is, but a
    /// window from "the future" must not count twice) leaves them out.
    #[test]
    fn windows_ahead_of_the_reading_are_left_out() {
        let latency = VerbLatency::default();
        latency.record(Verb::Walk, 100 * SECOND_NANOS, 1_000);
        assert_eq!(
            latency.totals(50 * SECOND_NANOS)[Verb::Walk.index()].count,
            0
        );
        assert_eq!(
            latency.totals(100 * SECOND_NANOS)[Verb::Walk.index()].count,
            1
        );
    }
}
