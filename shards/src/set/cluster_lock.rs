//! Locks across the nodes of a cluster (DESIGN.md §6): a name is locked when a quorum
//! (`nodes / 2 + 1`) of the nodes granted it, each on its own owner shard of the name
//! (this node through its sharded `KeyLocker`, peers by the lock verbs over their
//! `PeerLink`, answered by `lock_service.rs`). Two quorums share a node, and a node
//! grants a name to one exclusive holder at a time, so two holders never both hold a
//! quorum.
//!
//! Acquiring: one attempt asks every node at once, each allowed to wait `wait` for the
//! name; it succeeds at the quorum's grants, and fails as soon as so many nodes said
//! no (busy, refused, unreachable, timed out) that a quorum cannot come. A failed
//! attempt releases what it was granted (grants arriving later too), then backs off a
//! random time before the next, the wait doubling up to `ATTEMPT_WAIT_MAX`: two
//! requesters that split the nodes between them both let go instead of waiting for
//! each other. Past the lease's length of trying, the lock fails: the guard comes back
//! lost, and the holder's first `keep` answers `LeaseLost` (503, as a lost lease).
//! A peer whose grant reply was lost holds the name only until its lease expires (or
//! the connection ends); the requester also sends it a release of the id it chose.
//!
//! Epochs are ordered across nodes (Lamport): a grant takes `max(last + 1, wall now,
//! seen + 1)` on its node (`key_lock.rs`), where `seen` is the highest epoch this
//! shard has seen granted; the holder's fence epoch is the highest of its quorum's
//! grants; and before the lock counts as held, a quorum's tables are raised to that
//! fence (a refresh carrying it, skipped when every grant already equals it). Why the
//! next holder's fence is higher, whatever the nodes' clocks say: the next holder's
//! quorum shares a node X with a quorum that was raised to the old fence `f`, and X
//! grants the name again only after the old holder let go of it there or its lease
//! expired (after the raise: a raise goes with a refresh, which fails once taken
//! away), so X's grant to the next holder is above `f`, and its fence, the highest of
//! its grants, is too. Wall clocks only make epochs start high after a restart; skew
//! between nodes changes no order. Members keep the highest fence they accepted per
//! object (`member/local/fence.rs`), so a holder that lost its lock cannot commit over
//! the next one's version.
//!
//! Refresh: the holder refreshes every node it holds; the lease holds while a quorum
//! answers, its new expiry counted from when the refresh was sent (this node's
//! monotonic clock, so always early next to a node's own). Fewer: the lease is lost.
//!
//! Reads of committed data take no lock: only writers come here.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::member::peer::link::{PeerCall, PeerLink};
use crate::member::peer::message::{LockAnswer, LockAsk, LockTarget, PeerReply, PeerRequest};
use crate::set::key_lock::{Lease, LeaseTime, LockMode, LockName, lease_nanos};
use crate::set::shard_lock::{KeyLocker, LockGuard};

/// The first attempt's wait on each node; each next attempt's doubles.
pub const ATTEMPT_WAIT_MIN: Duration = Duration::from_millis(10);
/// The longest a node is asked to wait for a name in one attempt.
pub const ATTEMPT_WAIT_MAX: Duration = Duration::from_millis(640);
/// How much longer than its wait a lock call may take (the network, a busy peer).
pub const CALL_MARGIN: Duration = Duration::from_secs(2);
/// Attempts at most per lock (the lease's length bounds them first, normally).
pub const ATTEMPTS_MAX: u32 = 1_000;

/// The cluster as one shard's locker sees it.
pub struct ClusterLocks {
    /// One link per node of the pool, in node order; `None` for this node.
    peers: Vec<Option<Rc<dyn PeerLink>>>,
    quorum: usize,
    /// The highest epoch granted that this shard has seen (Lamport's clock).
    seen_epoch: Cell<u64>,
    /// The next lock id this shard sends (ids name its locks on each connection).
    next_id: Cell<u64>,
    rng: RefCell<SmallRng>,
    time: Rc<dyn LeaseTime>,
}

/// One node's grant of a lock held across the cluster.
enum Grant {
    /// This node's, on its owner shard.
    Own(LockGuard),
    /// A peer's, held by its connection under `id` until released. `route` (the
    /// name's owner hash) sends its refresh and release on the connection its grant
    /// came by: a grant is held by that connection's session only.
    Peer { node: usize, id: u64, route: u64 },
}

/// What one node answered an attempt.
enum Answer {
    Granted(u64),
    No,
}

/// A lock held on a quorum of the nodes: the grants and the fence. Dropping it
/// releases every grant.
pub struct ClusterHold {
    inner: Rc<HoldInner>,
}

struct HoldInner {
    locks: Rc<ClusterLocks>,
    grants: RefCell<Vec<Grant>>,
    /// Set once the attempt failed or the holder let go: grants arriving later are
    /// released at once.
    released: Cell<bool>,
    /// The fence epoch and this node's expiry.
    lease: Cell<Lease>,
}

impl ClusterLocks {
    /// The cluster of `peers` (one per node, `None` for this node's own entry), for a
    /// shard whose own node is reached through `node`.
    pub fn new(node: &KeyLocker, peers: Vec<Option<Rc<dyn PeerLink>>>) -> Self {
        assert!(
            peers.iter().filter(|p| p.is_none()).count() == 1,
            "exactly one node of the cluster is this one"
        );
        let time = Rc::clone(node.time());
        // Seeded from the clock: deterministic in a simulation, distinct per start.
        let seed = time.epoch_floor() ^ time.lease_clock_nanos().rotate_left(32);
        let mut rng = SmallRng::seed_from_u64(seed);
        Self {
            quorum: peers.len() / 2 + 1,
            peers,
            seen_epoch: Cell::new(0),
            next_id: Cell::new(rng.r#gen::<u64>() >> 2),
            rng: RefCell::new(rng),
            time,
        }
    }

    /// Nodes whose grants make a lock.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Locks `name` on a quorum of the nodes; `None` when that failed for the lease's
    /// length (see the module comment). `node` is this node's locker (without cluster).
    pub(crate) async fn lock(
        self: &Rc<Self>,
        node: &KeyLocker,
        name: &LockName,
        mode: LockMode,
        owner_hash: u64,
        lease: Duration,
    ) -> Option<ClusterHold> {
        let node = node.node();
        // Peers refuse longer leases; the holder's own expiry uses the same length.
        let lease = lease.min(crate::set::lock_service::LEASE_MAX);
        let give_up_at = self.now().saturating_add(lease_nanos(lease));
        let mut wait = ATTEMPT_WAIT_MIN;
        for _ in 0..ATTEMPTS_MAX {
            let ask = (name, mode, owner_hash, lease, wait);
            if let Some(hold) = self.attempt(&node, ask).await {
                return Some(hold);
            }
            let backoff_nanos = self.rng.borrow_mut().gen_range(0..=lease_nanos(wait));
            let retry_at = self.now().saturating_add(backoff_nanos);
            if retry_at >= give_up_at {
                return None;
            }
            self.time.sleep_until(retry_at).await;
            wait = (wait * 2).min(ATTEMPT_WAIT_MAX);
        }
        None
    }

    fn now(&self) -> u64 {
        self.time.lease_clock_nanos()
    }

    fn saw(&self, epoch: u64) {
        self.seen_epoch.set(self.seen_epoch.get().max(epoch));
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get().wrapping_add(1).max(1);
        self.next_id.set(id);
        id
    }

    /// One attempt: every node asked at once, the quorum's grants kept.
    async fn attempt(
        self: &Rc<Self>,
        node: &KeyLocker,
        (name, mode, owner_hash, lease, wait): (&LockName, LockMode, u64, Duration, Duration),
    ) -> Option<ClusterHold> {
        let started = self.now();
        let hold = ClusterHold {
            inner: Rc::new(HoldInner {
                locks: Rc::clone(self),
                grants: RefCell::new(Vec::new()),
                released: Cell::new(false),
                lease: Cell::new(Lease {
                    epoch: 0,
                    expires_at_nanos: started.saturating_add(lease_nanos(lease)),
                }),
            }),
        };
        let (answers_tx, mut answers) = mpsc::unbounded();
        let seen_epoch = self.seen_epoch.get();
        for (index, peer) in self.peers.iter().enumerate() {
            let (inner, tx) = (Rc::clone(&hold.inner), answers_tx.clone());
            let task: std::pin::Pin<Box<dyn Future<Output = ()>>> = match peer {
                None => {
                    let (node, name) = (node.clone(), name.clone());
                    let time = Rc::clone(&self.time);
                    Box::pin(async move {
                        let locking = node.lock_node(&name, mode, owner_hash, lease, seen_epoch);
                        let answer = match within(&*time, wait, locking).await {
                            Some(guard) => inner.keep_grant(Grant::Own(guard)),
                            None => Answer::No,
                        };
                        let _ = tx.unbounded_send(answer);
                    })
                }
                Some(link) => {
                    let ask = LockAsk {
                        id: self.next_id(),
                        target: target_of(name),
                        exclusive: mode == LockMode::Exclusive,
                        lease,
                        wait,
                        seen_epoch,
                    };
                    let peer = (Rc::clone(link), index, owner_hash);
                    Box::pin(ask_peer(peer, ask, inner, tx))
                }
            };
            self.time.spawn_task(task);
        }
        drop(answers_tx);
        let (mut granted, mut refused, mut fence) = (0, 0, Vec::new());
        while granted < self.quorum && refused <= self.peers.len() - self.quorum {
            match answers.next().await {
                Some(Answer::Granted(epoch)) => {
                    granted += 1;
                    fence.push(epoch);
                }
                Some(Answer::No) => refused += 1,
                None => break,
            }
        }
        for &epoch in &fence {
            self.saw(epoch);
        }
        if granted < self.quorum {
            hold.inner.release();
            return None;
        }
        hold.confirm(&fence, lease).await.then_some(hold)
    }
}

/// Asks node `index` over `link` for the lock; a grant goes into `inner` (or is
/// released at once when the attempt is over); a lost answer is released by id too.
async fn ask_peer(
    (link, index, route): (Rc<dyn PeerLink>, usize, u64),
    ask: LockAsk,
    inner: Rc<HoldInner>,
    answers: mpsc::UnboundedSender<Answer>,
) {
    let id = ask.id;
    let call = PeerCall {
        drive_index: 0,
        deadline: ask.wait + CALL_MARGIN,
        request: PeerRequest::LockAcquire(ask),
        route: Some(route),
    };
    let (reply, _) = link.call(call, None).await;
    let answer = match reply {
        Ok(PeerReply::Lock(LockAnswer::Granted { epoch, .. })) => {
            let grant = Grant::Peer {
                node: index,
                id,
                route,
            };
            inner.keep_grant_epoch(grant, epoch)
        }
        Ok(_) => Answer::No,
        Err(_) => {
            // It may have been granted with its answer lost: let go of it anyway.
            release_peer(&link, id, route).await;
            Answer::No
        }
    };
    let _ = answers.unbounded_send(answer);
}

/// Tells a peer to release lock `id` (its answer changes nothing here), on the
/// connection `route` chooses (the one its acquire took).
async fn release_peer(link: &Rc<dyn PeerLink>, id: u64, route: u64) {
    let call = PeerCall {
        drive_index: 0,
        deadline: CALL_MARGIN,
        request: PeerRequest::LockRelease { id },
        route: Some(route),
    };
    let _ = link.call(call, None).await;
}

/// `future`'s output if it comes within `wait` (dropped otherwise).
pub(crate) async fn within<T>(
    time: &dyn LeaseTime,
    wait: Duration,
    future: impl Future<Output = T>,
) -> Option<T> {
    let timer = time.sleep_until(time.lease_clock_nanos().saturating_add(lease_nanos(wait)));
    let future = std::pin::pin!(future);
    match futures_util::future::select(future, timer).await {
        futures_util::future::Either::Left((output, _)) => Some(output),
        futures_util::future::Either::Right(_) => None,
    }
}

/// A lock name as the lock verbs carry it.
pub fn target_of(name: &LockName) -> LockTarget {
    match name {
        LockName::Bucket(bucket) => LockTarget::Bucket(bucket.clone()),
        LockName::Object { bucket, key } => LockTarget::Object {
            bucket: bucket.clone(),
            key: key.clone(),
        },
        LockName::Upload(id) => LockTarget::Upload(id.clone()),
    }
}

/// The lock name a lock verb carries.
pub fn name_of(target: LockTarget) -> LockName {
    match target {
        LockTarget::Bucket(bucket) => LockName::Bucket(bucket),
        LockTarget::Object { bucket, key } => LockName::Object { bucket, key },
        LockTarget::Upload(id) => LockName::Upload(id),
    }
}

impl HoldInner {
    /// Keeps this node's grant, unless the attempt is over.
    fn keep_grant(&self, grant: Grant) -> Answer {
        let epoch = match &grant {
            Grant::Own(guard) => guard.lease().epoch,
            Grant::Peer { .. } => 0,
        };
        self.keep_grant_epoch(grant, epoch)
    }

    /// Keeps a grant of `epoch`, unless the attempt is over (then it is released).
    fn keep_grant_epoch(&self, grant: Grant, epoch: u64) -> Answer {
        self.locks.saw(epoch);
        if self.released.get() {
            self.locks.let_go(vec![grant]);
            return Answer::No;
        }
        self.grants.borrow_mut().push(grant);
        Answer::Granted(epoch)
    }

    /// Releases every grant, and any that arrives later.
    fn release(&self) {
        self.released.set(true);
        let grants = std::mem::take(&mut *self.grants.borrow_mut());
        self.locks.let_go(grants);
    }
}

impl ClusterLocks {
    /// Releases `grants`: this node's at once, peers' by a release call each.
    fn let_go(&self, grants: Vec<Grant>) {
        for grant in grants {
            match grant {
                Grant::Own(guard) => drop(guard),
                Grant::Peer { node, id, route } => {
                    if let Some(link) = self.peers[node].clone() {
                        self.time.spawn_task(Box::pin(async move {
                            release_peer(&link, id, route).await;
                        }));
                    }
                }
            }
        }
    }
}

impl ClusterHold {
    /// The fence epoch and this node's expiry.
    pub fn lease(&self) -> Lease {
        self.inner.lease.get()
    }

    /// Makes the highest of the quorum's grants the fence, raising the nodes to it
    /// unless every grant equals it; whether a quorum holds it.
    async fn confirm(&self, epochs: &[u64], lease: Duration) -> bool {
        let fence = epochs.iter().copied().max().unwrap_or(0);
        let mut current = self.inner.lease.get();
        current.epoch = fence;
        self.inner.lease.set(current);
        if epochs.iter().all(|&epoch| epoch == fence) {
            return true;
        }
        if self.refresh(lease).await.is_some() {
            return true;
        }
        self.inner.release();
        false
    }

    /// Refreshes every grant for `lease` from now, raising each node to the fence;
    /// the new lease when a quorum still holds it (`None`: lost).
    pub async fn refresh(&self, lease: Duration) -> Option<Lease> {
        // As when acquired: peers refuse longer leases.
        let lease = lease.min(crate::set::lock_service::LEASE_MAX);
        let started = self.inner.locks.now();
        let fence = self.inner.lease.get().epoch;
        let grants = std::mem::take(&mut *self.inner.grants.borrow_mut());
        let locks = Rc::clone(&self.inner.locks);
        let mut refreshing: FuturesUnordered<_> = grants
            .into_iter()
            .map(|grant| refresh_grant(&locks, grant, lease, fence))
            .collect();
        let mut held = 0;
        while let Some((grant, kept)) = refreshing.next().await {
            if kept {
                held += 1;
                self.inner.grants.borrow_mut().push(grant);
            } else {
                locks.let_go(vec![grant]);
            }
        }
        if held < locks.quorum || self.inner.released.get() {
            return None;
        }
        let lease = Lease {
            epoch: fence,
            expires_at_nanos: started.saturating_add(lease_nanos(lease)),
        };
        self.inner.lease.set(lease);
        Some(lease)
    }
}

/// Refreshes one grant; the grant and whether it is still held.
async fn refresh_grant(
    locks: &ClusterLocks,
    grant: Grant,
    lease: Duration,
    fence: u64,
) -> (Grant, bool) {
    match grant {
        Grant::Own(guard) => {
            let kept = guard.refresh(fence).await.is_some();
            (Grant::Own(guard), kept)
        }
        Grant::Peer { node, id, route } => {
            let Some(link) = locks.peers[node].clone() else {
                return (Grant::Peer { node, id, route }, false);
            };
            let call = PeerCall {
                drive_index: 0,
                deadline: CALL_MARGIN,
                request: PeerRequest::LockRefresh {
                    id,
                    lease,
                    fence_epoch: fence,
                },
                route: Some(route),
            };
            let (reply, _) = link.call(call, None).await;
            let kept = matches!(reply, Ok(PeerReply::Lock(LockAnswer::Granted { .. })));
            (Grant::Peer { node, id, route }, kept)
        }
    }
}

impl Drop for ClusterHold {
    fn drop(&mut self) {
        self.inner.release();
    }
}

#[cfg(test)]
mod tests {
    use shoal_io::{Clock, Env, SimDrive, SimEnv, SimExecutor};

    use super::*;
    use crate::member::peer::serve::LockDesk;
    use crate::member::peer::sim_link::{Cut, SimLink, SimNet};
    use crate::set::lock_service::NodeLockDesk;

    const LEASE: Duration = Duration::from_secs(2);

    /// The simulation's time with this node's wall clock off by `skew_nanos`.
    #[derive(Clone)]
    struct Skewed {
        env: SimEnv,
        skew_nanos: i64,
    }

    impl Clock for Skewed {
        fn now_unix_nanos(&self) -> u64 {
            self.env
                .now_unix_nanos()
                .saturating_add_signed(self.skew_nanos)
        }
    }

    impl Env for Skewed {
        fn monotonic_nanos(&self) -> u64 {
            self.env.monotonic_nanos()
        }
        fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + 'static {
            self.env.sleep(duration)
        }
        fn spawn<F: Future<Output = ()> + 'static>(&self, task: F) {
            self.env.spawn(task);
        }
        fn yield_now(&self) -> impl Future<Output = ()> + 'static {
            self.env.yield_now()
        }
    }

    type Link = SimLink<SimDrive, SimEnv>;

    /// A cluster of nodes whose wall clocks are off by `skews_secs`: each node's
    /// cluster locker, and the links, by (from, to).
    struct Nodes {
        lockers: Vec<KeyLocker>,
        net: Rc<SimNet<SimDrive>>,
        links: Vec<Vec<Option<Rc<Link>>>>,
    }

    fn nodes(env: &SimEnv, skews_secs: &[i64]) -> Nodes {
        let net: Rc<SimNet<SimDrive>> = Rc::new(SimNet::default());
        net.set_latency_max(Duration::from_micros(300));
        let count = skews_secs.len();
        let own: Vec<KeyLocker> = skews_secs
            .iter()
            .enumerate()
            .map(|(node, &skew)| {
                let time = Skewed {
                    env: env.clone(),
                    skew_nanos: skew * 1_000_000_000,
                };
                net.add_node(Vec::new());
                let locker = KeyLocker::sharded_in(time, 0, Vec::new());
                net.set_lock_desk(node, Rc::new(NodeLockDesk::new(&locker, [7; 16])));
                locker
            })
            .collect();
        let links: Vec<Vec<_>> = (0..count)
            .map(|from| {
                (0..count)
                    .map(|to| {
                        let link = SimLink::new(env.clone(), Rc::clone(&net), (from, to), 9);
                        (from != to).then(|| Rc::new(link))
                    })
                    .collect()
            })
            .collect();
        let lockers = own
            .into_iter()
            .enumerate()
            .map(|(from, locker)| {
                let peers = links[from]
                    .iter()
                    .map(|l| l.clone().map(|l| l as Rc<dyn PeerLink>))
                    .collect();
                KeyLocker::cluster(locker, peers)
            })
            .collect();
        Nodes {
            lockers,
            net,
            links,
        }
    }

    fn key() -> LockName {
        LockName::object("b", "k")
    }

    /// A holder on one node keeps the others' writers out until it lets go; the next
    /// holder, on another node, gets a higher fence.
    #[test]
    fn a_quorum_lock_excludes_every_other_node() {
        let sim = SimExecutor::new(31);
        let env = sim.env();
        sim.block_on(async {
            let cluster = nodes(&env, &[0, 0, 0]);
            let first = cluster.lockers[0]
                .lock(&key(), LockMode::Exclusive, 0, LEASE * 100)
                .await;
            assert!(first.keep().await.is_ok());
            let granted = Rc::new(Cell::new(None));
            let (locker, granted2, env2) =
                (cluster.lockers[1].clone(), Rc::clone(&granted), env.clone());
            env.spawn(async move {
                let guard = locker
                    .lock(&key(), LockMode::Exclusive, 0, LEASE * 100)
                    .await;
                let kept = guard.keep().await.is_ok();
                granted2.set(Some((guard.lease().epoch, kept, env2.monotonic_nanos())));
                std::future::pending::<()>().await;
            });
            env.sleep(Duration::from_secs(5)).await;
            assert_eq!(granted.get(), None, "granted while another node held it");
            let released_at = env.monotonic_nanos();
            let epoch = first.lease().epoch;
            drop(first);
            env.sleep(Duration::from_secs(2)).await;
            let (next_epoch, kept, at) = granted.get().expect("granted once released");
            assert!(kept);
            assert!(next_epoch > epoch, "{next_epoch} <= {epoch}");
            assert!(at - released_at < 1_000_000_000, "granted at the release");
        });
    }

    /// Fences grow strictly from holder to holder across nodes whose wall clocks are
    /// minutes apart (the slow clock's node holds after the fast one's): Lamport's rule
    /// and the raise to the fence, not the clocks, order them.
    #[test]
    fn fences_grow_across_skewed_clocks() {
        let sim = SimExecutor::new(32);
        let env = sim.env();
        sim.block_on(async {
            let cluster = nodes(&env, &[600, -600, 0, 300, -300]);
            let mut last = 0;
            for round in 0..40 {
                let node = (round * 3) % 5;
                let guard = cluster.lockers[node]
                    .lock(&key(), LockMode::Exclusive, 0, LEASE)
                    .await;
                assert!(guard.keep().await.is_ok(), "round {round}");
                let fence = guard.fence().epoch;
                assert!(
                    fence > last,
                    "round {round} on node {node}: {fence} <= {last}"
                );
                last = fence;
            }
        });
    }

    /// With most nodes cut off, no quorum comes: after trying for the lease's length
    /// the guard is lost from the start (`LeaseLost`, a 503), and nothing is left held:
    /// once healed, another node locks at once.
    #[test]
    fn no_quorum_is_a_lost_lease_and_leaves_nothing_held() {
        let sim = SimExecutor::new(33);
        let env = sim.env();
        sim.block_on(async {
            let cluster = nodes(&env, &[0, 0, 0]);
            cluster.net.partition(1, Some(Cut::Refuse));
            cluster.net.partition(2, Some(Cut::Hang));
            let started = env.monotonic_nanos();
            let guard = cluster.lockers[0]
                .lock(&key(), LockMode::Exclusive, 0, LEASE)
                .await;
            let waited = Duration::from_nanos(env.monotonic_nanos() - started);
            assert!(waited >= LEASE && waited < LEASE * 4, "{waited:?}");
            assert_eq!(guard.keep().await, Err(crate::set::shard_lock::LeaseLost));
            cluster.net.partition_none();
            env.sleep(CALL_MARGIN * 2).await;
            let started = env.monotonic_nanos();
            let other = cluster.lockers[1]
                .lock(&key(), LockMode::Exclusive, 0, LEASE * 100)
                .await;
            assert!(other.keep().await.is_ok());
            assert!(env.monotonic_nanos() - started < 1_000_000_000);
        });
    }

    /// A holder whose connections break loses its peers' grants at once (the far
    /// sessions end), not at their expiry: its refresh fails, and another node locks.
    #[test]
    fn a_broken_connection_releases_its_leases() {
        let sim = SimExecutor::new(34);
        let env = sim.env();
        sim.block_on(async {
            let cluster = nodes(&env, &[0, 0, 0]);
            let held = cluster.lockers[0]
                .lock(&key(), LockMode::Exclusive, 0, LEASE * 100)
                .await;
            for link in cluster.links[0].iter().flatten() {
                link.reconnect();
            }
            let started = env.monotonic_nanos();
            let other = cluster.lockers[1]
                .lock(&key(), LockMode::Exclusive, 0, LEASE * 100)
                .await;
            assert!(other.keep().await.is_ok());
            assert!(env.monotonic_nanos() - started < lease_nanos(LEASE));
            assert!(held.refresh(held.lease().epoch).await.is_none());
        });
    }

    /// A lease longer than peers grant (`LEASE_MAX`) is cut to it, not refused: the
    /// lock is had and kept, its expiry counted from the cut length.
    #[test]
    fn a_lease_over_the_peers_limit_is_cut_to_it() {
        use crate::set::lock_service::LEASE_MAX;
        let sim = SimExecutor::new(37);
        let env = sim.env();
        sim.block_on(async {
            let cluster = nodes(&env, &[0, 0, 0]);
            let guard = cluster.lockers[0]
                .lock(&key(), LockMode::Exclusive, 0, LEASE_MAX * 3)
                .await;
            assert!(guard.keep().await.is_ok());
            let expires_at = guard.lease().expires_at_nanos;
            let cut_at = env.monotonic_nanos() + lease_nanos(LEASE_MAX);
            assert!(expires_at <= cut_at, "{expires_at} > {cut_at}");
            env.sleep(LEASE_MAX / 2).await;
            assert!(
                guard.refresh(guard.lease().epoch).await.is_some(),
                "refreshed"
            );
        });
    }

    /// Shared holders on different nodes hold together; an exclusive one waits.
    #[test]
    fn shared_holders_share_across_nodes() {
        let sim = SimExecutor::new(35);
        let env = sim.env();
        sim.block_on(async {
            let cluster = nodes(&env, &[0, 0, 0, 0]);
            let bucket = LockName::Bucket("b".into());
            let mut shared = Vec::new();
            for locker in &cluster.lockers {
                let guard = locker.lock(&bucket, LockMode::Shared, 0, LEASE * 100).await;
                assert!(guard.keep().await.is_ok());
                shared.push(guard);
            }
            let exclusive = cluster.lockers[0].lock(&bucket, LockMode::Exclusive, 0, LEASE);
            let exclusive = crate::set::cluster_lock::within(
                &**cluster.lockers[0].time(),
                LEASE / 2,
                exclusive,
            );
            assert!(exclusive.await.is_none(), "exclusive while shared held");
            drop(shared);
            let guard = cluster.lockers[2]
                .lock(&bucket, LockMode::Exclusive, 0, LEASE)
                .await;
            assert!(guard.keep().await.is_ok());
        });
    }

    /// A connection holds at most `HELD_MAX` leases; bad asks are refused, never a
    /// panic: a lease of zero, an epoch past the bound, an id already held.
    #[test]
    fn a_session_is_bounded_and_refuses_bad_asks() {
        use crate::set::lock_service::{EPOCH_MAX, HELD_MAX};
        let sim = SimExecutor::new(36);
        let env = sim.env();
        sim.block_on(async {
            let locker = KeyLocker::sharded_in(env.clone(), 0, Vec::new());
            let session = NodeLockDesk::new(&locker, [1; 16]).session();
            let ask = |id: u64, key: &str| LockAsk {
                id,
                target: LockTarget::Object {
                    bucket: "b".into(),
                    key: key.into(),
                },
                exclusive: true,
                lease: LEASE,
                wait: Duration::ZERO,
                seen_epoch: 0,
            };
            for id in 1..=HELD_MAX as u64 {
                let reply = session
                    .serve_lock(PeerRequest::LockAcquire(ask(id, &id.to_string())))
                    .await;
                assert!(matches!(reply, PeerReply::Lock(LockAnswer::Granted { .. })));
            }
            let over = session
                .serve_lock(PeerRequest::LockAcquire(ask(0, "x")))
                .await;
            assert!(matches!(over, PeerReply::LockRefused(_)), "{over:?}");
            let again = session
                .serve_lock(PeerRequest::LockAcquire(ask(1, "y")))
                .await;
            assert!(matches!(again, PeerReply::LockRefused(_)), "{again:?}");
            let session = NodeLockDesk::new(&locker, [1; 16]).session();
            let mut zero = ask(1, "z");
            zero.lease = Duration::ZERO;
            let mut far = ask(2, "z");
            far.seen_epoch = EPOCH_MAX;
            for bad in [zero, far] {
                let reply = session.serve_lock(PeerRequest::LockAcquire(bad)).await;
                assert!(matches!(reply, PeerReply::LockRefused(_)), "{reply:?}");
            }
            let busy = session
                .serve_lock(PeerRequest::LockAcquire(ask(3, "1")))
                .await;
            assert_eq!(busy, PeerReply::Lock(LockAnswer::Busy), "held by the first");
            let lost = session
                .serve_lock(PeerRequest::LockRefresh {
                    id: 99,
                    lease: LEASE,
                    fence_epoch: 1,
                })
                .await;
            assert_eq!(lost, PeerReply::Lock(LockAnswer::Lost));
        });
    }
}
