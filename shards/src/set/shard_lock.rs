//! Named locks (`LockName`: bucket, object, upload) across the shards of one node, as
//! leases (`key_lock.rs`). Every name has an owner shard (`owner = hash(name) mod
//! shards`, DESIGN.md §2); its lock lives only there. A writer on another shard asks the
//! owner through the owner's bounded mailbox; the owner takes its local lock on the
//! writer's behalf, sends back the lease, refreshes it when the writer asks, and holds it
//! until the writer's guard is dropped. No lock is ever shared between cores: only
//! messages cross. Leases of remote locks are in the owner's monotonic time, which is
//! the writer's too (one clock per process, `MonoioEnv`).
//!
//! A holder keeps its lease alive by its own progress, not by a timer: `LockGuard::keep`
//! before each step that relies on the lock refreshes the lease once it is half spent,
//! and fails when the lease was taken away. A holder stuck in a step stops refreshing,
//! so its lease expires and the next waiter gets the name; when it comes back, `keep`
//! tells it that it no longer holds it, and its commit is fenced (the lease's epoch
//! travels with the verbs, `member/local/fence.rs`).
//!
//! In a cluster (`KeyLocker::cluster`), `lock` asks a quorum of the nodes, each on its
//! owner shard of the name (`cluster_lock.rs`); a lock it could not get in time comes
//! back already lost, so the holder's first `keep` answers `LeaseLost` (503) and the
//! object layer needs no other path.
//!
//! Invariants: a granted remote lock is released when the requester's guard is dropped
//! or the requester goes away (its control channel closes); a requester that gives up
//! before the grant arrives releases it the same way; a lease once lost is never
//! reported held again by the same guard.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::{mpsc, oneshot};
use futures_util::{SinkExt, StreamExt};
use shoal_io::{Env, MonoioEnv};

use crate::member::peer::link::PeerLink;
use crate::member::verbs::write::Fence;
use crate::set::cluster_lock::{ClusterHold, ClusterLocks};
use crate::set::key_lock::{KeyGuard, KeyLocks, Lease, LeaseTime, LockMode, LockName, lease_nanos};

/// Mailbox depth per shard: lock requests waiting to be taken up by the owner.
pub const LOCK_MAILBOX_CAPACITY: usize = 1024;

/// A refresh asked of the owner: the epoch to raise its table to (a cluster holder's
/// fence), and where it answers with the new lease or `None` (lost).
type RefreshReply = (u64, oneshot::Sender<Option<Lease>>);

/// A lock request sent to the owner shard.
pub struct LockRequest {
    name: LockName,
    mode: LockMode,
    lease: Duration,
    /// The highest epoch the requester has seen (the grant is above it).
    seen_epoch: u64,
    granted: oneshot::Sender<Lease>,
    /// Refresh requests; closes when the requester drops its guard (release).
    control: mpsc::Receiver<RefreshReply>,
}

/// The lock table as one shard sees it.
#[derive(Clone)]
pub struct KeyLocker {
    local: KeyLocks,
    shard_index: usize,
    /// One sender per shard (the own entry is unused). Empty: single shard.
    mailboxes: Vec<mpsc::Sender<LockRequest>>,
    time: Rc<dyn LeaseTime>,
    /// The other nodes, when this node is one of a cluster.
    cluster: Option<Rc<ClusterLocks>>,
}

/// Where a held lock lives.
enum Held {
    Local(KeyGuard),
    /// Dropping the sender tells the owner to release.
    Remote(mpsc::Sender<RefreshReply>),
    /// On a quorum of a cluster's nodes; dropping releases every grant.
    Cluster(ClusterHold),
    /// Never granted (no quorum in time): lost from the start.
    Nothing,
}

/// Held while a name is locked, wherever the lock lives; carries its lease.
pub struct LockGuard {
    held: Held,
    lease: Cell<Lease>,
    /// The length the lease is granted and refreshed for.
    lease_len: Duration,
    /// Set once a refresh failed: the lease is gone for good.
    lost: Cell<bool>,
    time: Rc<dyn LeaseTime>,
}

/// The lease of a lock was taken away (it expired while its holder was stuck and was
/// granted to another), or the owner shard is gone: the holder must not commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseLost;

impl From<LeaseLost> for crate::error::Error {
    fn from(_: LeaseLost) -> Self {
        crate::error::Error::LeaseLost
    }
}

impl KeyLocker {
    /// A locker for a process with a single shard, on the real runtime's clocks.
    pub fn single() -> Self {
        Self::single_in(MonoioEnv)
    }

    /// A locker for a process with a single shard, whose leases run in `env`'s time.
    pub fn single_in<E: Env>(env: E) -> Self {
        Self {
            local: KeyLocks::new(env.clone()),
            shard_index: 0,
            mailboxes: Vec::new(),
            time: Rc::new(env),
            cluster: None,
        }
    }

    /// A locker for shard `shard_index`, talking to the owners through `mailboxes`.
    pub fn sharded(shard_index: usize, mailboxes: Vec<mpsc::Sender<LockRequest>>) -> Self {
        Self::sharded_in(MonoioEnv, shard_index, mailboxes)
    }

    /// `sharded`, with leases in `env`'s time (one `env` for every shard).
    pub fn sharded_in<E: Env>(
        env: E,
        shard_index: usize,
        mailboxes: Vec<mpsc::Sender<LockRequest>>,
    ) -> Self {
        assert!(shard_index < mailboxes.len().max(1));
        Self {
            local: KeyLocks::new(env.clone()),
            shard_index,
            mailboxes,
            time: Rc::new(env),
            cluster: None,
        }
    }

    /// The locker of one shard of a cluster's node: `node` is this shard's sharded
    /// locker (`sharded`), `peers` has one link per node of the pool in node order
    /// (`None` for this node), so a lock is granted by a quorum (`nodes / 2 + 1`) of
    /// the nodes' owner shards (`cluster_lock.rs`).
    pub fn cluster(node: KeyLocker, peers: Vec<Option<Rc<dyn PeerLink>>>) -> Self {
        let cluster = ClusterLocks::new(&node, peers);
        Self {
            cluster: Some(Rc::new(cluster)),
            ..node
        }
    }

    /// This locker without its cluster: this node's owner shards only (what the far
    /// side of a lock verb asks).
    #[must_use]
    pub fn node(&self) -> Self {
        Self {
            cluster: None,
            ..self.clone()
        }
    }

    /// The time leases are kept in.
    pub(crate) fn time(&self) -> &Rc<dyn LeaseTime> {
        &self.time
    }

    /// The local table, for the owner-side service.
    pub fn local(&self) -> &KeyLocks {
        &self.local
    }

    /// Locks `name` in `mode` as a lease of `lease`; `owner_hash` chooses the shard
    /// that keeps the lock.
    pub async fn lock(
        &self,
        name: &LockName,
        mode: LockMode,
        owner_hash: u64,
        lease: Duration,
    ) -> LockGuard {
        if let Some(cluster) = &self.cluster {
            let held = cluster.lock(self, name, mode, owner_hash, lease).await;
            return self.guard_of(held, lease);
        }
        self.lock_node(name, mode, owner_hash, lease, 0).await
    }

    /// A guard for what a cluster lock got: lost from the start when it got nothing.
    fn guard_of(&self, held: Option<ClusterHold>, lease: Duration) -> LockGuard {
        let (held, granted, lost) = match held {
            Some(hold) => {
                let lease = hold.lease();
                (Held::Cluster(hold), lease, false)
            }
            None => (
                Held::Nothing,
                Lease {
                    epoch: 0,
                    expires_at_nanos: 0,
                },
                true,
            ),
        };
        LockGuard {
            held,
            lease: Cell::new(granted),
            lease_len: lease,
            lost: Cell::new(lost),
            time: Rc::clone(&self.time),
        }
    }

    /// `lock` on this node's owner shard only, granted above `seen_epoch`.
    pub async fn lock_node(
        &self,
        name: &LockName,
        mode: LockMode,
        owner_hash: u64,
        lease: Duration,
        seen_epoch: u64,
    ) -> LockGuard {
        let shards = self.mailboxes.len();
        let owner = if shards <= 1 {
            self.shard_index
        } else {
            (owner_hash % shards as u64) as usize
        };
        let (held, granted) = if owner == self.shard_index {
            let guard = self.local.lock_after(name, mode, lease, seen_epoch).await;
            let granted = guard.lease();
            (Held::Local(guard), granted)
        } else {
            self.lock_remote(owner, name, mode, (lease, seen_epoch))
                .await
        };
        LockGuard {
            held,
            lease: Cell::new(granted),
            lease_len: lease,
            lost: Cell::new(false),
            time: Rc::clone(&self.time),
        }
    }

    async fn lock_remote(
        &self,
        owner: usize,
        name: &LockName,
        mode: LockMode,
        (lease, seen_epoch): (Duration, u64),
    ) -> (Held, Lease) {
        let (granted_tx, granted_rx) = oneshot::channel();
        // One refresh at a time per guard (`keep` awaits each answer).
        let (control_tx, control_rx) = mpsc::channel(1);
        let request = LockRequest {
            name: name.clone(),
            mode,
            lease,
            seen_epoch,
            granted: granted_tx,
            control: control_rx,
        };
        let mut mailbox = self.mailboxes[owner].clone();
        // Owner shards serve locks until every shard has drained (two-phase stop,
        // server.rs), so a closed mailbox or a dropped request means the process is past
        // its drain deadline and stopping: this request waits for the end instead of
        // failing or panicking (it never got the lock, so it never commits).
        if mailbox.send(request).await.is_err() {
            std::future::pending::<()>().await;
        }
        match granted_rx.await {
            Ok(granted) => (Held::Remote(control_tx), granted),
            Err(_) => std::future::pending().await,
        }
    }
}

impl LockGuard {
    /// The lease as last granted or refreshed.
    pub fn lease(&self) -> Lease {
        self.lease.get()
    }

    /// What the verbs this holder sends carry (`member/verbs/write.rs`).
    pub fn fence(&self) -> Fence {
        let lease = self.lease.get();
        Fence {
            epoch: lease.epoch,
            expires_at_nanos: lease.expires_at_nanos,
        }
    }

    /// Confirms the lease before a step that relies on it, refreshing it once half of
    /// it is spent; `Err(LeaseLost)` when it was taken away. The fence to send with the
    /// step's verbs is `fence()` after this.
    pub async fn keep(&self) -> Result<Lease, LeaseLost> {
        if self.lost.get() {
            return Err(LeaseLost);
        }
        let lease = self.lease.get();
        let half_nanos = lease_nanos(self.lease_len) / 2;
        let now = self.time.lease_clock_nanos();
        if now.saturating_add(half_nanos) < lease.expires_at_nanos {
            return Ok(lease);
        }
        let Some(lease) = self.refresh(lease.epoch).await else {
            self.lost.set(true);
            return Err(LeaseLost);
        };
        self.lease.set(lease);
        Ok(lease)
    }

    /// Extends the lease now, raising the table that keeps it to `fence_epoch`; `None`
    /// when it was taken away. (Callers on the request path use `keep`.)
    pub async fn refresh(&self, fence_epoch: u64) -> Option<Lease> {
        match &self.held {
            Held::Local(guard) => {
                let lease = guard.refresh(self.lease_len)?;
                guard.raise(fence_epoch);
                Some(lease)
            }
            Held::Remote(control) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                let mut control = control.clone();
                control.send((fence_epoch, reply_tx)).await.ok()?;
                reply_rx.await.ok().flatten()
            }
            Held::Cluster(hold) => hold.refresh(self.lease_len).await,
            Held::Nothing => None,
        }
    }
}

/// Runs on every shard: takes the locks other shards ask for, and holds each until its
/// requester lets go, refreshing its lease when asked.
pub async fn serve_lock_requests<E: Env>(
    env: E,
    locks: KeyLocks,
    mut mailbox: mpsc::Receiver<LockRequest>,
) {
    while let Some(request) = mailbox.next().await {
        let locks = locks.clone();
        env.spawn(hold_for(locks, request));
    }
}

/// Holds one requester's lock for it.
async fn hold_for(locks: KeyLocks, request: LockRequest) {
    let LockRequest {
        name,
        mode,
        lease,
        seen_epoch,
        granted,
        mut control,
    } = request;
    let guard = locks.lock_after(&name, mode, lease, seen_epoch).await;
    if granted.send(guard.lease()).is_err() {
        return; // the requester gave up: dropping the guard passes the name on
    }
    // `None` when the requester's guard is dropped.
    while let Some((fence_epoch, reply)) = control.next().await {
        let refreshed = guard.refresh(lease);
        if refreshed.is_some() {
            guard.raise(fence_epoch);
        }
        let _ = reply.send(refreshed);
    }
}

/// Mailboxes for `shards` shards: the senders (cloned to every shard) and each shard's
/// receiver.
pub fn mailboxes(
    shards: usize,
) -> (
    Vec<mpsc::Sender<LockRequest>>,
    Vec<mpsc::Receiver<LockRequest>>,
) {
    (0..shards)
        .map(|_| mpsc::channel(LOCK_MAILBOX_CAPACITY))
        .unzip()
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use shoal_io::SimExecutor;

    use super::*;

    const LEASE: Duration = Duration::from_secs(1);

    /// Two shards of one simulated node: the lockers, with shard 0's service running.
    fn two_shards(env: &shoal_io::SimEnv) -> (KeyLocker, KeyLocker) {
        let (senders, mut receivers) = mailboxes(2);
        let owner = KeyLocker::sharded_in(env.clone(), 0, senders.clone());
        let other = KeyLocker::sharded_in(env.clone(), 1, senders);
        let service = receivers.remove(0);
        env.spawn(serve_lock_requests(
            env.clone(),
            owner.local().clone(),
            service,
        ));
        (owner, other)
    }

    /// A lock held from another shard is kept by `keep` (a refresh message to the
    /// owner) while its holder makes progress, is lost to a waiter once the holder
    /// stops past its expiry, and the waiter's epoch is higher.
    #[test]
    fn remote_lease_refreshes_and_expires() {
        let sim = SimExecutor::new(21);
        let env = sim.env();
        sim.block_on(async {
            let (owner, other) = two_shards(&env);
            let name = LockName::object("b", "k");
            // owner_hash 0: shard 0 owns it, so shard 1's lock goes by message.
            let remote = other.lock(&name, LockMode::Exclusive, 0, LEASE).await;
            let granted = Rc::new(Cell::new(None));
            let (owner2, name2, granted2) = (owner.clone(), name.clone(), Rc::clone(&granted));
            env.spawn(async move {
                let guard = owner2.lock(&name2, LockMode::Exclusive, 0, LEASE).await;
                granted2.set(Some(guard.lease().epoch));
                std::future::pending::<()>().await; // holds it
            });
            for _ in 0..6 {
                env.sleep(LEASE / 2).await;
                assert!(
                    remote.keep().await.is_ok(),
                    "a holder making progress keeps it"
                );
            }
            assert_eq!(granted.get(), None, "granted while the holder refreshed");
            env.sleep(LEASE * 2).await; // stuck past its lease
            let epoch = granted
                .get()
                .expect("the waiter got the name at the expiry");
            assert!(epoch > remote.lease().epoch);
            assert_eq!(remote.keep().await, Err(LeaseLost));
            assert_eq!(remote.keep().await, Err(LeaseLost), "lost stays lost");
        });
    }

    /// A remote holder that drops its guard passes the name on at once, before expiry.
    #[test]
    fn dropped_remote_holder_passes_the_lock_on() {
        let sim = SimExecutor::new(22);
        let env = sim.env();
        sim.block_on(async {
            let (owner, other) = two_shards(&env);
            let name = LockName::object("b", "k");
            let remote = other.lock(&name, LockMode::Exclusive, 0, LEASE * 100).await;
            let waiting = owner.lock(&name, LockMode::Exclusive, 0, LEASE);
            let start = env.monotonic_nanos();
            drop(remote);
            let next = waiting.await;
            assert!(
                env.monotonic_nanos() - start < lease_nanos(LEASE),
                "not at an expiry"
            );
            assert!(next.keep().await.is_ok());
        });
    }
}
