//! A member's memory of lease epochs: for each object, the highest epoch of the key's
//! lock it accepted a fenced verb under (`Fence`, `verbs/write.rs`). A verb is refused
//! (`Stale`) when its lease has expired by the member's clock, or when its epoch is
//! older than the one remembered for its object; so a writer whose lease was taken away
//! (it hung past its expiry and the next waiter got the lock) can never overwrite the
//! newer holder's version, even where `expect_previous` cannot tell (`Expect::Any`, a
//! roll back of a copy it could not read back, a record that came back to the same
//! bytes).
//!
//! Bounded memory: an entry is forgotten once it is older than the longest lease
//! (`remember`, the store's lease duration). Why that is safe: let a verb with epoch `e`
//! arrive after the entry for a newer epoch `e'` (accepted at time `t'`) was forgotten,
//! so after `t' + remember`. The owner granted `e'` only once `e`'s lease had ended
//! (released, or expired and revoked), so `e`'s expiry is at most the grant of `e'`,
//! which is before `t'`: `e` expired more than a lease ago and the expiry check refuses
//! it, memory or not. Its holder refuses it too: a holder checks its own lease
//! (`LockGuard::keep`) before every step, so such a verb is only ever a late one. The
//! argument tolerates a skew between the holder's and the member's clocks of up to one
//! lease (one clock per node today: the holder and the local member share it).
//!
//! Limits (stated so the simulation can attack them): the check is made when a verb
//! starts; drive operations of a verb already accepted are not recalled, so a lease
//! should outlast a member deadline (the default 30 s against 10 s). Each shard has its
//! own `LocalMember` of a drive and so its own memory: across shards of one node a
//! stale holder is stopped by its own lease check and by `expect_previous`, and the
//! peer member (one owner shard per key per node) will hold the memory for all.
//! Memory: at most one entry per object written within one lease, kept by a 64-bit
//! hash of its name (about 50 bytes with its place in the age queue: 10,000 writes a
//! second with a 30 s lease cost a member about 15 MB). Two objects whose hashes
//! collide share an entry, which can only refuse a verb (a 503), never admit one.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::rc::Rc;

use crate::member::verbs::write::Fence;
use crate::member::{MemberError, MemberResult};

/// Monotonic nanoseconds of the node (`Env::monotonic_nanos`).
pub type MonotonicNanos = Rc<dyn Fn() -> u64>;

#[derive(Clone, Copy)]
struct Accepted {
    epoch: u64,
    at_nanos: u64,
}

/// What one member remembers of the leases it accepted verbs under.
pub struct EpochMemory {
    now: MonotonicNanos,
    remember_nanos: u64,
    /// Hashes object names to entry keys (keyed per member: no crafted collisions).
    names: RandomState,
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    /// By the hash of `bucket/key`.
    by_object: HashMap<u64, Accepted>,
    /// Objects in the order they were last accepted (times never decrease).
    ages: VecDeque<(u64, u64)>,
}

impl EpochMemory {
    /// A memory on clock `now` that forgets entries older than `remember_nanos` (the
    /// longest lease granted).
    pub fn new(now: MonotonicNanos, remember_nanos: u64) -> Self {
        Self {
            now,
            remember_nanos,
            names: RandomState::new(),
            state: RefCell::new(State::default()),
        }
    }

    /// Accepts a verb on `bucket/key` under `fence`, or refuses it (`Stale`) when its
    /// lease has expired or a newer one was accepted for the object.
    pub fn admit(&self, bucket: &str, key: &str, fence: Fence) -> MemberResult<()> {
        let now = (self.now)();
        if fence.expires_at_nanos <= now {
            return Err(MemberError::Stale);
        }
        let mut state = self.state.borrow_mut();
        state.forget_before(now.saturating_sub(self.remember_nanos));
        // Each `str` is hashed with a terminator, so the pair is unambiguous.
        let object = self.names.hash_one((bucket, key));
        if let Some(known) = state.by_object.get(&object)
            && fence.epoch < known.epoch
        {
            return Err(MemberError::Stale);
        }
        let accepted = Accepted {
            epoch: fence.epoch,
            at_nanos: now,
        };
        state.by_object.insert(object, accepted);
        state.ages.push_back((now, object));
        Ok(())
    }

    /// Objects remembered now (for tests of the bound).
    pub fn len(&self) -> usize {
        let mut state = self.state.borrow_mut();
        state.forget_before(((self.now)()).saturating_sub(self.remember_nanos));
        state.by_object.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl State {
    /// Forgets entries last accepted before `oldest_nanos`.
    fn forget_before(&mut self, oldest_nanos: u64) {
        while let Some((at, _)) = self.ages.front()
            && *at < oldest_nanos
        {
            let (at, object) = self.ages.pop_front().expect("front exists");
            // Only if not accepted again since (a later place in the queue keeps it).
            if self
                .by_object
                .get(&object)
                .is_some_and(|a| a.at_nanos == at)
            {
                self.by_object.remove(&object);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    fn memory(remember_nanos: u64) -> (EpochMemory, Rc<Cell<u64>>) {
        let clock = Rc::new(Cell::new(1_000));
        let now = Rc::clone(&clock);
        (
            EpochMemory::new(Rc::new(move || now.get()), remember_nanos),
            clock,
        )
    }

    fn fence(epoch: u64, expires_at_nanos: u64) -> Fence {
        Fence {
            epoch,
            expires_at_nanos,
        }
    }

    /// An older epoch than one accepted is refused; the same or a newer one passes;
    /// other objects are independent.
    #[test]
    fn older_epochs_are_refused() {
        let (memory, _) = memory(100);
        assert_eq!(memory.admit("b", "k", fence(10, 2_000)), Ok(()));
        assert_eq!(
            memory.admit("b", "k", fence(9, 2_000)),
            Err(MemberError::Stale)
        );
        assert_eq!(memory.admit("b", "k", fence(10, 2_000)), Ok(()));
        assert_eq!(memory.admit("b", "other", fence(9, 2_000)), Ok(()));
        assert_eq!(memory.admit("b", "k", fence(11, 2_000)), Ok(()));
        assert_eq!(
            memory.admit("b", "k", fence(10, 2_000)),
            Err(MemberError::Stale)
        );
    }

    /// A lease that has expired by the member's clock is refused.
    #[test]
    fn expired_leases_are_refused() {
        let (memory, clock) = memory(100);
        assert_eq!(
            memory.admit("b", "k", fence(1, 1_000)),
            Err(MemberError::Stale)
        );
        clock.set(1_500);
        assert_eq!(
            memory.admit("b", "k", fence(2, 1_400)),
            Err(MemberError::Stale)
        );
        assert!(memory.is_empty(), "a refused verb leaves nothing behind");
    }

    /// Entries go once older than a lease, so memory stays bounded by the objects
    /// written within one lease; an older epoch arriving after that is still refused,
    /// by its own expiry (the argument of the module comment).
    #[test]
    fn memory_is_bounded_and_forgetting_is_safe() {
        let (memory, clock) = memory(100);
        for i in 0..50 {
            memory
                .admit("b", &format!("k{i}"), fence(20, 1_100))
                .unwrap();
        }
        assert_eq!(memory.len(), 50);
        clock.set(1_050);
        memory.admit("b", "k0", fence(21, 1_150)).unwrap();
        clock.set(1_120);
        assert_eq!(
            memory.len(),
            1,
            "only the entry accepted within a lease is kept"
        );
        clock.set(1_200);
        assert!(memory.is_empty());
        // Epoch 20's lease (at most until 1_100) ended before 21 was granted.
        assert_eq!(
            memory.admit("b", "k0", fence(20, 1_100)),
            Err(MemberError::Stale)
        );
    }
}
