//! What the quorum engine remembers about a member between requests: whether it missed
//! a deadline lately ("slow"), so reads ask other members first until it has had time
//! to recover; and, for operators, how its verbs went (latency per verb over the last
//! minute, deadlines missed, I/O errors, refusals while offline, chunk records that
//! failed their checksum). Per shard, no sharing: each shard learns on its own, and the
//! metrics add the shards up when scraped.

use std::cell::Cell;

use crate::member::MemberError;
use crate::member::latency::{VerbLatency, VerbTotal};
use crate::member::verb::Verb;

/// How long a member that missed a deadline is asked last by reads.
pub const SLOW_PENALTY_NANOS: u64 = 30_000_000_000;

/// A member's recent behaviour, as this shard saw it.
#[derive(Debug, Default)]
pub struct MemberHealth {
    /// Monotonic time until which the member counts as slow (0: never was).
    slow_until_nanos: Cell<u64>,
    /// Deadlines missed since start (for operators and tests).
    timeouts: Cell<u64>,
    /// Verbs that failed with an I/O error since start.
    io_errors: Cell<u64>,
    /// Verbs refused because the member was unreachable (drive offline) since start.
    unavailable: Cell<u64>,
    /// Chunk records read whole whose checksum did not match, since start.
    bitrot: Cell<u64>,
    /// Calls that change the drive, running past their deadline (`set/quorum.rs`).
    overdue_changes: Cell<usize>,
    latency: VerbLatency,
}

/// A copy of a member's counters, for the metrics.
#[derive(Debug, Clone, Default)]
pub struct HealthCounts {
    pub timeouts: u64,
    pub io_errors: u64,
    pub unavailable: u64,
    pub bitrot: u64,
    /// Calls that change the drive running past their deadline now.
    pub overdue_changes: u64,
    /// Per verb (`Verb::ALL` order), calls of the last minute.
    pub latency: Vec<VerbTotal>,
}

impl MemberHealth {
    /// Notes a missed deadline at monotonic time `now_nanos`.
    pub fn mark_slow(&self, now_nanos: u64) {
        self.slow_until_nanos
            .set(now_nanos.saturating_add(SLOW_PENALTY_NANOS));
        self.timeouts.set(self.timeouts.get() + 1);
    }

    /// Whether the member missed a deadline within the penalty before `now_nanos`.
    pub fn is_slow(&self, now_nanos: u64) -> bool {
        now_nanos < self.slow_until_nanos.get()
    }

    /// Deadlines this member missed since start.
    pub fn timeouts(&self) -> u64 {
        self.timeouts.get()
    }

    /// Calls that change the drive still running past their deadline.
    pub fn overdue_changes(&self) -> usize {
        self.overdue_changes.get()
    }

    /// One more (`true`) or one fewer call that changes the drive runs past its deadline.
    pub fn note_overdue_change(&self, more: bool) {
        let count = self.overdue_changes.get();
        self.overdue_changes.set(if more {
            count + 1
        } else {
            count.saturating_sub(1)
        });
    }

    /// A call of `verb` asked at `started_nanos` ended at `now_nanos` (answered, or
    /// cut at its deadline) with `error`. Every call is timed; a missed deadline marks
    /// the member slow (and counts it, `mark_slow`), wherever the call ran: a write's
    /// calls left to finish in the background too. An error the caller made up for a
    /// member it did not ask is not a call at all.
    pub fn note_call(
        &self,
        verb: Verb,
        started_nanos: u64,
        now_nanos: u64,
        error: Option<&MemberError>,
    ) {
        let counter = match error {
            Some(MemberError::NotAsked(_)) => return,
            Some(MemberError::Timeout) => {
                self.mark_slow(now_nanos);
                None
            }
            Some(MemberError::Io(_)) => Some(&self.io_errors),
            Some(MemberError::Unreachable(_)) => Some(&self.unavailable),
            _ => None,
        };
        if let Some(counter) = counter {
            counter.set(counter.get() + 1);
        }
        // The bench build that measures what observing costs keeps no latency figures.
        #[cfg(not(feature = "no-observe"))]
        self.latency
            .record(verb, now_nanos, now_nanos.saturating_sub(started_nanos));
        #[cfg(feature = "no-observe")]
        let _ = (verb, started_nanos);
    }

    /// A chunk record read whole from this member failed its checksum.
    pub fn note_bitrot(&self) {
        self.bitrot.set(self.bitrot.get() + 1);
    }

    /// The counters now (latency over the last minute before `now_nanos`).
    pub fn counts(&self, now_nanos: u64) -> HealthCounts {
        HealthCounts {
            timeouts: self.timeouts.get(),
            io_errors: self.io_errors.get(),
            unavailable: self.unavailable.get(),
            bitrot: self.bitrot.get(),
            overdue_changes: self.overdue_changes.get() as u64,
            latency: self.latency.totals(now_nanos),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls are timed per verb and their failures classified: I/O errors and refusals
    /// while offline are counted, a missed deadline marks the member slow, other answers
    /// are only timed, calls never made ignored.
    #[test]
    fn calls_are_timed_and_classified() {
        let health = MemberHealth::default();
        let t = 5_000_000_000;
        health.note_call(Verb::ReadMeta, t, t + 2_000, None);
        health.note_call(Verb::ReadMeta, t, t + 4_000, Some(&MemberError::NotFound));
        health.note_call(
            Verb::Commit,
            t,
            t + 1_000,
            Some(&MemberError::Io("eio".into())),
        );
        let offline = MemberError::Unreachable("offline".into());
        health.note_call(Verb::Commit, t, t + 1_000, Some(&offline));
        health.note_call(
            Verb::Walk,
            t,
            t + 9_000,
            Some(&MemberError::NotAsked("out")),
        );
        health.note_bitrot();
        assert!(!health.is_slow(t + 10_000));
        health.note_call(Verb::Walk, t, t + 5_000, Some(&MemberError::Timeout));
        assert!(
            health.is_slow(t + 10_000),
            "a missed deadline marks it slow"
        );
        let counts = health.counts(t + 10_000);
        assert_eq!(
            (counts.io_errors, counts.unavailable, counts.bitrot),
            (1, 1, 1)
        );
        assert_eq!(counts.timeouts, 1);
        let read = counts.latency[Verb::ReadMeta.index()];
        assert_eq!(read.mean_micros(), Some(3.0));
        assert_eq!(counts.latency[Verb::Commit.index()].count, 2);
        assert_eq!(
            counts.latency[Verb::Walk.index()].count,
            1,
            "the timeout only"
        );
    }
}
