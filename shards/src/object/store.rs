//! `Store`: the erasure-coded object store of one shard over one pool of drives.
//! Generic over the drive (`DirDrive`, `SimDrive`, later remote drives) and the clock,
//! so one test suite runs against real and simulated I/O.
//!
//! Invariants:
//! - Writers of one key are serialized by the key's lock during commit; writes into a
//!   bucket hold the bucket's lock shared while they commit, its delete holds it
//!   exclusive.
//! - Metadata is believed only when read-quorum drives agree on it (`quorum.rs`).
//! - Nothing in a drive's object tree is written except by an atomic rename or an
//!   atomic file replace; writes in progress live under `.shoal/tmp/`.
//! - A drive is used only while it proves to be the drive it was formatted as
//!   (`Drive::check_identity` against its format record, at open and in
//!   `check_drives`); one that fails is offline, and its requests count as failed
//!   for quorum, until a later check passes.

use std::cell::RefCell;
use std::rc::Rc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_erasure::Coder;
use shoal_io::{Clock, Drive, Env, MonoioEnv};

use crate::member::local::index::IndexConfig;
use crate::member::local::index::owner::{self as index_owner, IndexCall};
use crate::member::{LocalMember, Member, SetMember};

use crate::error::{Error, Result};
use crate::object::encode::staging_buf_bytes;
use crate::record::format::{FORMAT_PATH, cluster_record_for, format_drives, identity_of};
use crate::set::key_lock::{LockMode, LockName};
use crate::set::shard_lock::{KeyLocker, LockGuard};
use crate::topology::cluster::PoolTopology;
use crate::topology::layout::{PoolLayout, SetLayout};
use crate::topology::placement::{DeploymentId, Placement, object_hash};

/// Where writes in progress are staged on every drive (cleaned at start).
pub use crate::member::local::write::TMP_DIR;

/// Tunables of a store, fixed at start.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Object bytes per erasure-coded stripe.
    pub stripe_size_bytes: usize,
    /// Objects whose chunks are at most this long live inline in the metadata.
    pub inline_chunk_max_bytes: usize,
    /// Largest object a single put may write (S3: 5 GiB).
    pub object_size_max_bytes: u64,
    /// Smallest size of a multipart part other than the last (S3: 5 MiB).
    pub part_size_min_bytes: u64,
    /// Largest object CompleteMultipartUpload may assemble (S3: 5 TiB).
    pub multipart_object_max_bytes: u64,
    /// Largest total of user metadata names and values (S3: 2 KiB).
    pub user_metadata_max_bytes: usize,
    /// Parity chunks per set; `None` for the default of DESIGN.md §3.
    pub parity_chunks: Option<usize>,
    /// Remove leftovers of interrupted writes, and the trash, at open. Only the first
    /// store opened in a process may: later ones (other shards) would delete writes in
    /// progress and data that running reads still need.
    pub clean_tmp_at_open: bool,
    /// Format empty drives in a deployment that exists (replacement drives); without it
    /// they stay offline, as they may be bare mount points (format.rs).
    pub format_new_drives: bool,
    /// How long one member may take to answer one verb before it counts as failed for
    /// that request and is marked slow (the quorum engine's deadline).
    pub member_deadline: std::time::Duration,
    /// How long a lock is granted for before it must be refreshed (`set/shard_lock.rs`):
    /// a writer stuck longer than this loses its key to the next writer and is fenced.
    /// Longer than `member_deadline`, so a holder waiting on a hung member keeps it.
    pub lease_duration: std::time::Duration,
    /// Open each local drive's listing index (`member/local/index/`) as this store's
    /// own: a store alone on its node. A server's shards share each drive's index
    /// (`share_listing_indexes`) and open with this off, as does the store that only
    /// formats the drives.
    pub listing_index: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            stripe_size_bytes: 1 << 20,
            inline_chunk_max_bytes: 128 << 10,
            object_size_max_bytes: 5 << 30,
            part_size_min_bytes: 5 << 20,
            multipart_object_max_bytes: 5 << 40,
            user_metadata_max_bytes: 2 << 10,
            parity_chunks: None,
            clean_tmp_at_open: true,
            format_new_drives: false,
            member_deadline: std::time::Duration::from_secs(10),
            lease_duration: std::time::Duration::from_secs(30),
            listing_index: true,
        }
    }
}

/// The object store of one shard.
pub struct Store<D: Drive, C: Clock, E: Env = MonoioEnv> {
    /// The pool's members, in pool order (set after set): drives of this node and of
    /// peers.
    pub(crate) members: Vec<Rc<Member<D>>>,
    /// Timers and tasks (the quorum engine's deadlines, background completions).
    pub(crate) env: E,
    pub(crate) layout: PoolLayout,
    pub(crate) deployment_id: DeploymentId,
    pub(crate) config: StoreConfig,
    pub(crate) clock: C,
    pub(crate) rng: RefCell<SmallRng>,
    pub(crate) coder: RefCell<Coder>,
    locker: KeyLocker,
    /// Objects waiting for healing, and what healing did (`heal/queue.rs`).
    pub(crate) heal: crate::object::heal::queue::HealQueue,
    /// The last sequence number handed out by `next_seq`.
    last_seq: std::cell::Cell<u64>,
    /// Per drive: why it is offline (`None`: online); set at open and by `check_drives`.
    offline: RefCell<Vec<Option<String>>>,
    /// Per drive: its encoded format record, which `check_identity` compares.
    pub(crate) identities: Vec<Vec<u8>>,
    /// Which buckets exist, as this shard last read (`bucket_cache.rs`).
    pub(crate) buckets: crate::object::bucket_cache::BucketCache,
    /// Walk calls made by listings since open (tests bound the work per page).
    pub(crate) walk_calls: std::cell::Cell<u64>,
    /// Staging buffers of writes, reused stripe after stripe (`encode.rs`).
    pub(crate) stripe_pool: shoal_io::BufPool,
    /// What pays for the staging buffers (shared with the front's reads).
    pub(crate) memory: shoal_io::MemoryBudget,
    /// The background scanner's progress on this shard (`scan/`).
    pub(crate) scan: crate::object::scan::ScanCounters,
    /// Healing's byte rate (the node's setting) and this shard's account against it
    /// (`heal/pace.rs`).
    pub(crate) heal_pace: crate::object::heal::HealPace,
    pub(crate) heal_account: crate::object::heal::pace::HealAccount,
    /// The fills of replaced drives this shard runs (`fill/`).
    pub(crate) fill: crate::object::fill::FillCounters,
}

/// A drive that went offline (`offline`: why) or came back (`offline: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveChange {
    pub drive: String,
    pub offline: Option<String>,
}

/// Writes whose staging buffers a store keeps for reuse unless told otherwise.
const STAGING_BUFS_KEPT_WRITES: usize = 4;

/// What opening learned before the members are checked.
struct Opening {
    layout: PoolLayout,
    deployment_id: DeploymentId,
    /// Per member: why formatting left it offline.
    format_offline: Vec<Option<String>>,
    /// Per member: the encoded format record its drive must hold.
    identities: Vec<Vec<u8>>,
}

impl Opening {
    /// A single node's pool: identities are version 2 records.
    fn single_node(
        layout: PoolLayout,
        deployment_id: DeploymentId,
        format_offline: Vec<Option<String>>,
    ) -> Self {
        let identities = (0..layout.drive_count())
            .map(|position| identity_of(deployment_id, layout, position))
            .collect();
        Self {
            layout,
            deployment_id,
            format_offline,
            identities,
        }
    }
}

impl<D: Drive, C: Clock> Store<D, C, MonoioEnv> {
    /// Checks or writes every drive's format, cleans leftovers of interrupted writes,
    /// and returns the store on the real runtime. `seed` seeds ids (deployment,
    /// versions, temporary names).
    pub async fn open(drives: Vec<D>, clock: C, seed: u64, config: StoreConfig) -> Result<Self> {
        Self::open_in(drives, clock, MonoioEnv, seed, config).await
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// `open` in the environment `env` (a simulation's, in tests).
    pub async fn open_in(
        drives: Vec<D>,
        clock: C,
        env: E,
        seed: u64,
        config: StoreConfig,
    ) -> Result<Self> {
        let layout = PoolLayout::for_drives(drives.len(), config.parity_chunks)?;
        let mut rng = SmallRng::seed_from_u64(seed);
        let (deployment_id, format_offline) =
            format_drives(&drives, layout, rng.r#gen(), config.format_new_drives).await?;
        let members = drives
            .into_iter()
            .map(|d| {
                let local = LocalMember::with_leases(d, env.clone(), config.lease_duration);
                Rc::new(Member::Local(local))
            })
            .collect();
        let opening = Opening::single_node(layout, deployment_id, format_offline);
        Self::assemble(members, opening, (clock, env, rng), config).await
    }

    /// A store over `members` (pool order), drives of this node and of peers, in
    /// deployment `deployment_id`: every node of a cluster opens one over the same
    /// drive list. Formats nothing: each node formats its own drives (local members
    /// are checked against their format record here; a peer's drives are its node's
    /// to check, and their failures reach this store as the verbs' errors).
    pub async fn open_members_in(
        members: Vec<Rc<Member<D>>>,
        deployment_id: DeploymentId,
        (clock, env): (C, E),
        seed: u64,
        config: StoreConfig,
    ) -> Result<Self> {
        let layout = PoolLayout::for_drives(members.len(), config.parity_chunks)?;
        let opening = Opening::single_node(layout, deployment_id, vec![None; members.len()]);
        let rng = SmallRng::seed_from_u64(seed);
        Self::assemble(members, opening, (clock, env, rng), config).await
    }

    /// A store over a cluster pool's `members` (pool order of `topology`), in
    /// deployment `deployment_id`: the layout is the topology's, and each local drive
    /// must hold its cluster format record (`cluster_record_for`). Formats nothing, as
    /// `open_members_in`.
    pub async fn open_cluster_in(
        members: Vec<Rc<Member<D>>>,
        deployment_id: DeploymentId,
        topology: &PoolTopology,
        (clock, env): (C, E),
        seed: u64,
        config: StoreConfig,
    ) -> Result<Self> {
        if members.len() != topology.drive_count() {
            return Err(Error::Format(format!(
                "{} members for a pool of {} drives",
                members.len(),
                topology.drive_count()
            )));
        }
        let identities = (0..members.len())
            .map(|position| cluster_record_for(deployment_id, topology, position).encode())
            .collect();
        let opening = Opening {
            layout: topology.layout,
            deployment_id,
            format_offline: vec![None; members.len()],
            identities,
        };
        let rng = SmallRng::seed_from_u64(seed);
        Self::assemble(members, opening, (clock, env, rng), config).await
    }

    /// Checks the local members' identities, cleans their leftovers and builds the
    /// store.
    async fn assemble(
        members: Vec<Rc<Member<D>>>,
        opening: Opening,
        (clock, env, rng): (C, E, SmallRng),
        config: StoreConfig,
    ) -> Result<Self> {
        let Opening {
            layout,
            deployment_id,
            format_offline,
            identities,
        } = opening;
        let mut offline = Vec::with_capacity(members.len());
        for ((member, identity), format_why) in members.iter().zip(&identities).zip(format_offline)
        {
            // Always checked, so a drive format_drives refused is offline in the drive too.
            let checked = match member.drive() {
                Some(drive) => drive.check_identity(FORMAT_PATH, identity).await.err(),
                None => None,
            };
            offline.push(format_why.or(checked));
        }
        check_sets_online(&members, &offline, layout)?;
        if config.clean_tmp_at_open {
            let online = members
                .iter()
                .zip(&offline)
                .filter(|(_, why)| why.is_none());
            for drive in online.filter_map(|(m, _)| m.drive()) {
                clean_tmp(drive).await;
                // No reader exists yet: replaced versions kept for readers can go.
                crate::object::trash::empty_trash(drive).await;
            }
        }
        let coder = Coder::new(layout.set.data_chunks, layout.set.parity_chunks)?;
        let stripe_pool = shoal_io::BufPool::new(
            staging_buf_bytes(config.stripe_size_bytes, layout.set.data_chunks),
            layout.set.set_size() * STAGING_BUFS_KEPT_WRITES,
        );
        let store = Self {
            members,
            locker: KeyLocker::single_in(env.clone()),
            env,
            layout,
            deployment_id,
            config,
            clock,
            rng: RefCell::new(rng),
            coder: RefCell::new(coder),
            heal: crate::object::heal::queue::HealQueue::default(),
            last_seq: std::cell::Cell::new(0),
            offline: RefCell::new(offline),
            identities,
            buckets: crate::object::bucket_cache::BucketCache::default(),
            walk_calls: std::cell::Cell::new(0),
            stripe_pool,
            memory: shoal_io::MemoryBudget::new(shoal_io::memory_budget::DEFAULT_MAX_BYTES),
            scan: crate::object::scan::ScanCounters::default(),
            heal_pace: crate::object::heal::HealPace::unlimited(),
            heal_account: crate::object::heal::pace::HealAccount::default(),
            fill: crate::object::fill::FillCounters::default(),
        };
        if store.config.listing_index {
            store.share_listing_indexes(0, 1, &[], Vec::new()).await;
        }
        Ok(store)
    }

    /// Opens the listing index of each online local drive this shard owns (local
    /// ordinal mod `shards`), answering the other shards through the drive's mailbox
    /// (`mailboxes`, by ordinal, taken for the drives owned here), and links the other
    /// drives to their owners' mailboxes (`senders`, by ordinal). A drive whose index
    /// cannot open is listed from its records.
    pub async fn share_listing_indexes(
        &self,
        shard_index: usize,
        shards: usize,
        senders: &[futures_channel::mpsc::Sender<IndexCall>],
        mut mailboxes: Vec<Option<futures_channel::mpsc::Receiver<IndexCall>>>,
    ) {
        let offline = self.offline.borrow().clone();
        let locals = (self.members.iter().zip(offline))
            .filter_map(|(member, offline)| Some((member, member.as_local()?, offline)));
        for (ordinal, (member, local, offline)) in locals.enumerate() {
            if ordinal % shards != shard_index {
                if let Some(sender) = senders.get(ordinal) {
                    local.link_remote_index(sender.clone(), self.deployment_id);
                }
                continue;
            }
            let mailbox = mailboxes.get_mut(ordinal).and_then(Option::take);
            if offline.is_some() {
                continue;
            }
            let config = IndexConfig::default();
            let opened = index_owner::own(member, &self.env, self.deployment_id, config, mailbox);
            if let Err(e) = opened.await {
                tracing::warn!(drive = member.name(), error = %e, "listing index: cannot open; listings walk this drive's records");
            }
        }
    }

    /// Whether every listing index this shard owns holds `bucket` whole (listings of it
    /// then read no folder; tests wait for a rebuild with it).
    pub fn listing_indexes_ready(&self, bucket: &str) -> bool {
        (self.members.iter())
            .filter_map(|m| m.as_local()?.index_owner())
            .all(|owner| owner.is_ready(bucket))
    }

    /// Writes every listing index this shard owns, with its clean marker: for a stop,
    /// once no shard changes records any more.
    pub async fn save_listing_indexes(&self) {
        for member in &self.members {
            if let Some(local) = member.as_local()
                && let Some(owner) = local.index_owner()
            {
                owner.save(local.drive()).await;
            }
        }
    }

    /// Uses `locker` for per-key locks (a multi-shard server shares owner shards).
    #[must_use]
    pub fn with_locker(mut self, locker: KeyLocker) -> Self {
        self.locker = locker;
        self
    }

    /// Shares the node's bucket generation with the other shards, so a bucket change on
    /// any of them invalidates this shard's bucket cache (`bucket_cache.rs`).
    #[must_use]
    pub fn with_bucket_generation(
        mut self,
        generation: crate::object::bucket_cache::BucketGeneration,
    ) -> Self {
        self.buckets = crate::object::bucket_cache::BucketCache::with_generation(generation);
        self
    }

    /// The bucket cache of a cluster node's shard: `generation` shared with this
    /// node's other shards, entries short-lived and bucket changes settled before they
    /// are answered, as other nodes' changes are not announced (`bucket_cache.rs`).
    #[must_use]
    pub fn with_cluster_bucket_cache(
        mut self,
        generation: crate::object::bucket_cache::BucketGeneration,
    ) -> Self {
        self.buckets = crate::object::bucket_cache::BucketCache::cluster(generation);
        self
    }

    /// Pays for staging buffers from `budget` (the shard's, shared with its reads), and
    /// keeps for reuse at most the buffers it can pay for.
    #[must_use]
    pub fn with_memory_budget(mut self, budget: shoal_io::MemoryBudget) -> Self {
        let buf_bytes = self.stripe_pool.buf_size_bytes();
        self.stripe_pool = shoal_io::BufPool::new(buf_bytes, budget.max_bytes() / buf_bytes);
        self.memory = budget;
        self
    }

    /// Holds healing to `pace` (the node's `heal-bytes-per-second`, shared by every
    /// shard); without it healing is not paced.
    #[must_use]
    pub fn with_heal_pace(mut self, pace: crate::object::heal::HealPace) -> Self {
        self.heal_pace = pace;
        self
    }

    /// Bytes of the budget a write holds at most while it streams: one staging buffer per
    /// member of a set (`encode.rs`), each taken as its stripe needs it.
    pub fn write_buffers_bytes(&self) -> usize {
        self.layout.set.set_size() * self.stripe_pool.buf_size_bytes()
    }

    /// The shard's pool of staging buffers (tests watch its reuse).
    pub fn stripe_pool(&self) -> &shoal_io::BufPool {
        &self.stripe_pool
    }

    /// Member walk calls made by listings since open.
    pub fn walk_calls(&self) -> u64 {
        self.walk_calls.get()
    }

    /// Takes the lock of `name` in `mode` on its owner shard, as a lease of
    /// `lease_duration` (the holder keeps it with `LockGuard::keep`).
    pub(crate) async fn lock(&self, name: &LockName, mode: LockMode) -> LockGuard {
        let owner_hash = crate::set::lock_service::owner_hash(&self.deployment_id, name);
        self.locker
            .lock(name, mode, owner_hash, self.config.lease_duration)
            .await
    }

    /// Serializes writers of one object (commit, delete, tag changes).
    pub(crate) async fn lock_object(&self, bucket: &str, key: &str) -> LockGuard {
        self.lock(&LockName::object(bucket, key), LockMode::Exclusive)
            .await
    }

    /// Serializes work on one multipart upload's folder.
    pub(crate) async fn lock_upload(&self, upload_id: &str) -> LockGuard {
        self.lock(&LockName::Upload(upload_id.to_owned()), LockMode::Exclusive)
            .await
    }

    /// Holds the bucket alone: its creation, deletion and settings.
    pub(crate) async fn lock_bucket_exclusive(&self, bucket: &str) -> LockGuard {
        self.lock(&LockName::Bucket(bucket.to_owned()), LockMode::Exclusive)
            .await
    }

    /// Holds the bucket while something is written into it: a bucket delete (which
    /// takes it exclusive) cannot run until the write committed or gave up, and the
    /// write re-checks under it that the bucket still exists.
    pub(crate) async fn lock_bucket_for_write(&self, bucket: &str) -> Result<LockGuard> {
        let guard = self
            .lock(&LockName::Bucket(bucket.to_owned()), LockMode::Shared)
            .await;
        let granted_nanos = self.env.monotonic_nanos();
        self.require_bucket_since(bucket, granted_nanos).await?;
        Ok(guard)
    }

    /// This shard's own lock table (served to other shards by `serve_lock_requests`).
    pub fn locker_local(&self) -> crate::set::key_lock::KeyLocks {
        self.locker.local().clone()
    }

    pub fn layout(&self) -> PoolLayout {
        self.layout
    }

    pub fn deployment_id(&self) -> DeploymentId {
        self.deployment_id
    }

    /// Drives offline now (since start or the last `check_drives`), with the reason.
    pub fn offline_drives(&self) -> Vec<(String, String)> {
        self.members
            .iter()
            .zip(self.offline.borrow().iter())
            .filter_map(|(d, why)| why.clone().map(|w| (d.name().to_owned(), w)))
            .collect()
    }

    /// Whether drive `position` of the pool is online (since start or the last
    /// `check_drives`).
    pub(crate) fn drive_online(&self, position: usize) -> bool {
        self.offline.borrow()[position].is_none()
    }

    /// The fills of replaced drives this shard runs or ran since start (`fill/`).
    pub fn fill_progress(&self) -> Vec<crate::object::fill::FillProgress> {
        self.fill.get()
    }

    /// Checks every drive's identity (cheap: a stat and a small read per drive); a
    /// drive that fails goes offline, one that passes again comes back. Returns the
    /// changes since the last check. Run on a timer by the server.
    pub async fn check_drives(&self) -> Vec<DriveChange> {
        let mut changes = Vec::new();
        for (position, member) in self.members.iter().enumerate() {
            // Identity is the drive's own (format at open), below the verbs: a peer's
            // drives are checked by their node.
            let Some(drive) = member.drive() else {
                continue;
            };
            let now = drive
                .check_identity(FORMAT_PATH, &self.identities[position])
                .await
                .err();
            let before = std::mem::replace(&mut self.offline.borrow_mut()[position], now.clone());
            if before.is_some() != now.is_some() {
                changes.push(DriveChange {
                    drive: member.name().to_owned(),
                    offline: now,
                });
            }
        }
        changes
    }

    /// Drive `index` of the pool when it is a drive of this node (`None`: a peer's, or
    /// no such index). Tests damage drives through it.
    pub fn drive(&self, index: usize) -> Option<&D> {
        self.members.get(index).and_then(|m| m.drive())
    }

    /// Member `index` of the pool (a node serves its local members to peers).
    pub fn member(&self, index: usize) -> Option<&Rc<Member<D>>> {
        self.members.get(index)
    }

    /// What this shard's calls met on drive `index` (errors, bitrot, latency per verb
    /// over the last minute): the drive metrics, and tests.
    pub fn drive_counts(&self, index: usize) -> crate::member::HealthCounts {
        self.members[index]
            .health()
            .counts(self.env.monotonic_nanos())
    }

    /// The pool's drives of this node, in pool order (every drive of a store of
    /// local members only; a peer's are skipped). Tests damage drives through them.
    pub fn drives(&self) -> Vec<&D> {
        self.members.iter().filter_map(|m| m.drive()).collect()
    }

    /// How many drives (members, local or on peers) the pool has.
    pub fn drive_count(&self) -> usize {
        self.members.len()
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The set an object lives in and its chunk rotation.
    pub(crate) fn placement(&self, bucket: &str, key: &str) -> Placement {
        let hash = object_hash(&self.deployment_id, bucket, key);
        Placement::of(hash, self.layout.set_count, self.layout.set.set_size())
    }

    /// The drives of set `set_index`, in set order.
    pub(crate) fn set_members(&self, set_index: usize) -> &[Rc<Member<D>>] {
        let size = self.layout.set.set_size();
        &self.members[set_index * size..(set_index + 1) * size]
    }

    pub(crate) fn set_layout(&self) -> SetLayout {
        self.layout.set
    }

    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// A number later than the clock and than every one this store handed out before,
    /// even if the clock stepped back (orders uploads of one part).
    pub(crate) fn next_seq(&self) -> u64 {
        let seq = self.clock.now_unix_nanos().max(self.last_seq.get() + 1);
        self.last_seq.set(seq);
        seq
    }

    pub(crate) fn random_id(&self) -> [u8; 16] {
        self.rng.borrow_mut().r#gen()
    }

    /// Notes an object with a missing or corrupt chunk or metadata copy, or one a
    /// write or delete left on fewer than every member: the shard's heal task repairs
    /// it (`heal/queue.rs`; bounded, `HEAL_QUEUE_MAX`).
    pub(crate) fn queue_heal(&self, bucket: &str, key: &str) {
        self.heal.push(bucket, key);
    }

    /// The background scanner's figures on this shard (metrics, `admin info`).
    pub fn scan_progress(&self) -> crate::object::scan::ScanProgress {
        self.scan.get()
    }

    /// Objects waiting for healing, oldest first.
    pub fn heal_queue(&self) -> Vec<(String, String)> {
        self.heal.entries()
    }

    /// What this shard's healing did since start, and its backlog (metrics).
    pub fn heal_counts(&self) -> crate::object::heal::HealCounts {
        self.heal.counts()
    }

    /// How many objects wait for healing (`heal_queue`'s length, without copying it).
    pub fn heal_backlog(&self) -> usize {
        self.heal.counts().backlog as usize
    }
}

/// Refuses to start when a set has fewer than write-quorum drives online, naming each
/// offline drive and why.
fn check_sets_online<D: Drive>(
    drives: &[Rc<Member<D>>],
    offline: &[Option<String>],
    layout: PoolLayout,
) -> Result<()> {
    let size = layout.set.set_size();
    for (set_index, set) in offline.chunks(size).enumerate() {
        let up = set.iter().filter(|why| why.is_none()).count();
        if up < layout.set.write_quorum() {
            let down: Vec<String> = drives[set_index * size..(set_index + 1) * size]
                .iter()
                .zip(set)
                .filter_map(|(d, why)| why.as_ref().map(|why| format!("{} ({why})", d.name())))
                .collect();
            return Err(Error::Format(format!(
                "set {set_index} has only {up} of {size} drives online and needs {} to \
                 start; offline: {}",
                layout.set.write_quorum(),
                down.join("; ")
            )));
        }
    }
    Ok(())
}

/// Removes leftovers of writes interrupted by a crash.
async fn clean_tmp<D: Drive>(drive: &D) {
    let Ok(entries) = drive.list_dir(TMP_DIR).await else {
        return;
    };
    for entry in entries {
        let path = format!("{TMP_DIR}/{}", entry.name);
        let _ = if entry.is_dir {
            drive.remove_dir_all(&path).await
        } else {
            drive.remove_file(&path).await
        };
    }
}
