//! The trace hash of a simulated run: one 64-bit value folded over every event that can
//! differ between runs (the task chosen at each step, each timer firing, events the
//! simulation adds). Two runs with the same hash made the same decisions in the same
//! order; a failing seed is reproduced when its rerun shows the same hash.
//!
//! Invariant: the fold is order-sensitive (each event is mixed into the running value,
//! not added to it), so the same events in another order give another hash.

/// Kinds of event, mixed in with the value so a poll of task 5 and a timer at 5 ns differ.
const EVENT_POLL: u64 = 1;
const EVENT_TIMER: u64 = 2;
const EVENT_USER: u64 = 3;

/// A running hash of a simulation's events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trace {
    hash: u64,
}

impl Trace {
    /// The task `id` was chosen to run.
    pub fn poll(&mut self, id: u64) {
        self.mix(EVENT_POLL, id);
    }

    /// Timers due at `deadline_nanos` fired.
    pub fn timer(&mut self, deadline_nanos: u64) {
        self.mix(EVENT_TIMER, deadline_nanos);
    }

    /// An event the simulation reports (`SimEnv::trace`).
    pub fn user(&mut self, value: u64) {
        self.mix(EVENT_USER, value);
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    fn mix(&mut self, kind: u64, value: u64) {
        let event = finalize(value ^ kind.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        self.hash = finalize(self.hash.rotate_left(5) ^ event);
    }
}

/// The MurmurHash3 64-bit finalizer: every input bit affects every output bit.
fn finalize(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::Trace;

    /// The same events in another order, or of another kind, give another hash.
    #[test]
    fn order_and_kind_matter() {
        let mut ab = Trace::default();
        ab.poll(1);
        ab.poll(2);
        let mut ba = Trace::default();
        ba.poll(2);
        ba.poll(1);
        assert_ne!(ab.hash(), ba.hash());
        let mut timer = Trace::default();
        timer.timer(1);
        timer.poll(2);
        assert_ne!(ab.hash(), timer.hash());
        let mut again = Trace::default();
        again.poll(1);
        again.poll(2);
        assert_eq!(ab, again);
    }
}
