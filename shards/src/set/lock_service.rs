//! The far side of the lock verbs (`LockAcquire`, `LockRefresh`, `LockRelease`): a
//! node's `LockDesk` over one shard's `KeyLocker`, and per connection a
//! `LockSession` holding the leases granted to that connection's requester.
//!
//! A name is locked on this node's owner shard of it (the same owner hash as the
//! store's own locks, so a peer's request and this node's writers meet in one table),
//! waiting at most the request's `wait` (then `Busy`), granted above the requester's
//! `seen_epoch`. Refresh extends a lease and raises the table to the holder's fence.
//!
//! Invariants and bounds:
//! - At most `HELD_MAX` leases per session: one more is refused (`LockRefused`), and
//!   so is an id already held, a lease over `LEASE_MAX`, a wait over `WAIT_MAX`, an
//!   epoch at or over `EPOCH_MAX` (so a peer cannot exhaust a table's epochs).
//! - A session's leases are released when it is dropped (the connection ended), or
//!   expire: a requester that restarts or whose connection breaks never wedges a name.
//! - Nothing from the network panics.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use crate::member::peer::message::{LockAnswer, LockAsk, PeerReply, PeerRequest};
use crate::member::peer::serve::{LockDesk, PeerLocks};
use crate::set::cluster_lock::{name_of, target_of, within};
use crate::set::key_lock::{LockMode, LockName};
use crate::set::shard_lock::{KeyLocker, LockGuard};
use crate::topology::placement::DeploymentId;

/// Leases one connection may hold.
pub const HELD_MAX: usize = 4096;
/// The longest lease a peer may ask for.
pub const LEASE_MAX: Duration = Duration::from_mins(10);
/// The longest a peer may ask this node to wait for a name.
pub const WAIT_MAX: Duration = Duration::from_secs(10);
/// Epochs a peer may name are below this (wall-clock nanoseconds stay far below).
pub const EPOCH_MAX: u64 = 1 << 62;

/// The owner hash of a lock name in deployment `deployment_id` (`Store::lock`'s).
pub fn owner_hash(deployment_id: &DeploymentId, name: &LockName) -> u64 {
    crate::member::peer::route::owner_hash(deployment_id, &target_of(name))
}

/// A node's locks, as peers reach them.
pub struct NodeLockDesk {
    locker: KeyLocker,
    deployment_id: DeploymentId,
}

impl NodeLockDesk {
    /// The desk of the node whose shard has `locker` (its cluster part is not used).
    pub fn new(locker: &KeyLocker, deployment_id: DeploymentId) -> Self {
        Self {
            locker: locker.node(),
            deployment_id,
        }
    }
}

impl LockDesk for NodeLockDesk {
    fn session(&self) -> Rc<dyn PeerLocks> {
        Rc::new(LockSession {
            locker: self.locker.clone(),
            deployment_id: self.deployment_id,
            held: Rc::new(RefCell::new(BTreeMap::new())),
        })
    }
}

/// The leases of one connection, by the requester's ids.
pub struct LockSession {
    locker: KeyLocker,
    deployment_id: DeploymentId,
    /// Shared with the requests in flight: a refresh holds its guard while it runs,
    /// so a release meanwhile still ends the lease (when the refresh lets go of it).
    held: Rc<RefCell<BTreeMap<u64, Rc<LockGuard>>>>,
}

impl PeerLocks for LockSession {
    fn serve_lock(&self, request: PeerRequest) -> Pin<Box<dyn Future<Output = PeerReply>>> {
        match request {
            PeerRequest::LockAcquire(ask) => Box::pin(self.acquire(ask)),
            PeerRequest::LockRefresh {
                id,
                lease,
                fence_epoch,
            } => Box::pin(self.refresh(id, lease, fence_epoch)),
            PeerRequest::LockRelease { id } => {
                drop(self.held.borrow_mut().remove(&id));
                Box::pin(std::future::ready(PeerReply::Done))
            }
            _ => Box::pin(std::future::ready(refused("not a lock verb"))),
        }
    }
}

fn refused(why: &str) -> PeerReply {
    PeerReply::LockRefused(why.to_owned())
}

/// Why `ask` is refused, if it is.
fn check(ask: &LockAsk, held: usize) -> Option<&'static str> {
    if held >= HELD_MAX {
        return Some("this connection holds the most locks it may");
    }
    if ask.lease > LEASE_MAX || ask.lease.is_zero() {
        return Some("lease out of range");
    }
    if ask.wait > WAIT_MAX {
        return Some("wait out of range");
    }
    (ask.seen_epoch >= EPOCH_MAX).then_some("epoch out of range")
}

impl LockSession {
    fn acquire(&self, ask: LockAsk) -> impl Future<Output = PeerReply> + use<> {
        let held = Rc::clone(&self.held);
        let locker = self.locker.clone();
        let deployment_id = self.deployment_id;
        async move {
            if let Some(why) = check(&ask, held.borrow().len()) {
                return refused(why);
            }
            if held.borrow().contains_key(&ask.id) {
                return refused("lock id already held");
            }
            let name = name_of(ask.target);
            let mode = if ask.exclusive {
                LockMode::Exclusive
            } else {
                LockMode::Shared
            };
            let owner = owner_hash(&deployment_id, &name);
            let locking = locker.lock_node(&name, mode, owner, ask.lease, ask.seen_epoch);
            let Some(guard) = within(&**locker.time(), ask.wait, locking).await else {
                return PeerReply::Lock(LockAnswer::Busy);
            };
            let answer = granted(&locker, &guard);
            let mut held = held.borrow_mut();
            // Checked again: other acquires ran while this one waited.
            if held.len() >= HELD_MAX || held.contains_key(&ask.id) {
                return refused("this connection holds the most locks it may");
            }
            held.insert(ask.id, Rc::new(guard));
            answer
        }
    }

    fn refresh(
        &self,
        id: u64,
        lease: Duration,
        fence_epoch: u64,
    ) -> impl Future<Output = PeerReply> + use<> {
        let held = Rc::clone(&self.held);
        let locker = self.locker.clone();
        async move {
            if fence_epoch >= EPOCH_MAX || lease > LEASE_MAX {
                return refused("refresh out of range");
            }
            let Some(guard) = held.borrow().get(&id).cloned() else {
                return PeerReply::Lock(LockAnswer::Lost);
            };
            // Extended by the length it was granted for, which is `lease` (the
            // requester refreshes with the length it asked for).
            if guard.refresh(fence_epoch).await.is_none() {
                held.borrow_mut().remove(&id);
                return PeerReply::Lock(LockAnswer::Lost);
            }
            granted(&locker, &guard)
        }
    }
}

/// The answer for a held `guard`: its epoch and time left.
fn granted(locker: &KeyLocker, guard: &LockGuard) -> PeerReply {
    let lease = guard.lease();
    let now = locker.time().lease_clock_nanos();
    PeerReply::Lock(LockAnswer::Granted {
        epoch: lease.epoch,
        left_nanos: lease.expires_at_nanos.saturating_sub(now),
    })
}
