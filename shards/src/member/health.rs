//! What the quorum engine remembers about a member between requests: whether it missed
//! a deadline lately ("slow"), so reads ask other members first until it has had time
//! to recover. Per shard, no sharing: each shard learns on its own.

use std::cell::Cell;

/// How long a member that missed a deadline is asked last by reads.
pub const SLOW_PENALTY_NANOS: u64 = 30_000_000_000;

/// A member's recent behaviour, as this shard saw it.
#[derive(Debug, Default)]
pub struct MemberHealth {
    /// Monotonic time until which the member counts as slow (0: never was).
    slow_until_nanos: Cell<u64>,
    /// Deadlines missed since start (for operators and tests).
    timeouts: Cell<u64>,
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
}
