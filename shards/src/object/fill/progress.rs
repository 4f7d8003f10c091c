//! The progress of a drive's fill, as `shoal admin info` and the metrics show it, and
//! the rate window its rate and ETA come from.
//!
//! `FillCounters` lives in the shard's `Store` (plain cells: only the shard's own tasks
//! touch them), one entry per drive this shard fills or filled since start; the
//! shard's publishing task copies them into the node's metrics slot once a second.
//! Counts of work done are the persisted record's (`record/fill.rs`), so they never go
//! back across a restart; what is left is counted at the start of each run.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};

/// Where a fill is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FillState {
    /// Counting the objects and bytes left (metadata only).
    #[default]
    Counting,
    /// Healing the set's objects onto the drive.
    Filling,
    /// Waiting: the drive is offline, too few members of its set answer, or fills are
    /// paused (`fill-objects-per-second` 0).
    Waiting,
    /// Every object of the set was taken through healing.
    Done,
    /// Not started: another drive of the same shard fills first (fills of one shard
    /// run one after another). Totals are not counted yet: they equal what is done.
    Queued,
}

impl FillState {
    pub fn name(self) -> &'static str {
        match self {
            FillState::Counting => "counting",
            FillState::Filling => "filling",
            FillState::Waiting => "waiting",
            FillState::Done => "done",
            FillState::Queued => "queued",
        }
    }
}

/// One drive's fill at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FillProgress {
    /// The drive's name (its folder).
    pub drive: String,
    pub state: FillState,
    /// Keys of the drive's set taken through healing (persisted).
    pub objects_done: u64,
    /// `objects_done` plus what is left (counted at the start of this run).
    pub objects_total: u64,
    /// Object bytes of the keys done (persisted).
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Chunk bytes rebuilt by the fill's heals (persisted).
    pub bytes_written: u64,
    /// Keys whose heal failed, left to the heal queue (persisted).
    pub objects_failed: u64,
    /// Object bytes done per second over the last `RATE_WINDOW_NANOS`.
    pub bytes_per_second: u64,
    /// Keys done per second over the same window.
    pub objects_per_second: u64,
    /// Seconds left at that rate (`None`: no rate yet).
    pub eta_seconds: Option<u64>,
    /// When the fill first ran (Unix nanoseconds).
    pub started_unix_nanos: u64,
}

impl FillProgress {
    pub fn objects_left(&self) -> u64 {
        self.objects_total.saturating_sub(self.objects_done)
    }

    pub fn bytes_left(&self) -> u64 {
        self.bytes_total.saturating_sub(self.bytes_done)
    }
}

/// The shard's fills (in its `Store`), by pool position of the drive.
#[derive(Debug, Default)]
pub struct FillCounters(RefCell<BTreeMap<usize, FillProgress>>);

impl FillCounters {
    /// Every fill of this shard, in pool order.
    pub fn get(&self) -> Vec<FillProgress> {
        self.0.borrow().values().cloned().collect()
    }

    pub(crate) fn set(&self, position: usize, progress: FillProgress) {
        self.0.borrow_mut().insert(position, progress);
    }
}

/// How far back the rate looks.
pub const RATE_WINDOW_NANOS: u64 = 30_000_000_000;
/// Samples are taken at most this often.
const SAMPLE_EVERY_NANOS: u64 = 1_000_000_000;

/// Recent (time, bytes done, objects done) samples: at most one per second over
/// `RATE_WINDOW_NANOS`, so at most ~31 entries.
#[derive(Debug, Default)]
pub(crate) struct RateWindow(VecDeque<(u64, u64, u64)>);

impl RateWindow {
    /// Notes the counts at `now_nanos` (monotonic).
    pub(crate) fn note(&mut self, now_nanos: u64, bytes: u64, objects: u64) {
        if self
            .0
            .back()
            .is_some_and(|&(at, ..)| now_nanos.saturating_sub(at) < SAMPLE_EVERY_NANOS)
        {
            return;
        }
        self.0.push_back((now_nanos, bytes, objects));
        while self
            .0
            .front()
            .is_some_and(|&(at, ..)| now_nanos.saturating_sub(at) > RATE_WINDOW_NANOS)
        {
            self.0.pop_front();
        }
    }

    /// Bytes and objects per second from the oldest sample to (`now_nanos`, counts).
    pub(crate) fn rates(&self, now_nanos: u64, bytes: u64, objects: u64) -> (u64, u64) {
        let Some(&(at, bytes_then, objects_then)) = self.0.front() else {
            return (0, 0);
        };
        let elapsed = now_nanos.saturating_sub(at);
        if elapsed < SAMPLE_EVERY_NANOS {
            return (0, 0);
        }
        let per_second = |delta: u64| {
            u64::try_from(u128::from(delta) * 1_000_000_000 / u128::from(elapsed))
                .unwrap_or(u64::MAX)
        };
        (
            per_second(bytes.saturating_sub(bytes_then)),
            per_second(objects.saturating_sub(objects_then)),
        )
    }
}

/// Seconds to finish `progress` at its rates: by bytes when bytes move, else by
/// objects; `None` without a rate.
pub(crate) fn eta_seconds(progress: &FillProgress) -> Option<u64> {
    if progress.objects_left() == 0 {
        return Some(0);
    }
    if progress.bytes_per_second > 0 && progress.bytes_left() > 0 {
        return Some(progress.bytes_left().div_ceil(progress.bytes_per_second));
    }
    (progress.objects_per_second > 0).then(|| {
        progress
            .objects_left()
            .div_ceil(progress.objects_per_second)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    /// The rate is the change over the window; the ETA follows bytes, then objects.
    #[test]
    fn rate_and_eta_follow_the_window() {
        let mut window = RateWindow::default();
        window.note(0, 0, 0);
        window.note(S / 2, 50, 1); // too soon: not kept
        window.note(10 * S, 1000, 10);
        assert_eq!(window.rates(10 * S, 1000, 10), (100, 1));
        window.note(30 * S, 3000, 30);
        window.note(45 * S, 4500, 45);
        // The first samples fell out of the 30 s window.
        assert_eq!(window.rates(45 * S, 4500, 45), (100, 1));
        let mut progress = FillProgress {
            objects_done: 45,
            objects_total: 55,
            bytes_done: 4500,
            bytes_total: 5500,
            bytes_per_second: 100,
            objects_per_second: 1,
            ..FillProgress::default()
        };
        assert_eq!(eta_seconds(&progress), Some(10));
        progress.bytes_per_second = 0;
        assert_eq!(eta_seconds(&progress), Some(10));
        progress.objects_per_second = 0;
        assert_eq!(eta_seconds(&progress), None);
        progress.objects_done = 55;
        assert_eq!(eta_seconds(&progress), Some(0));
    }
}
