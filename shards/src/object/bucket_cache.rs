//! The per-shard bucket cache: whether a bucket exists, remembered so that requests do
//! not read every drive's bucket record each time (`require_bucket`).
//!
//! Invalidation across the shards of a node is a generation number shared by them: a
//! bucket create, delete or settings change bumps it after its drive work and before it
//! releases the bucket's lock (so before it answers), and an entry is believed only
//! while the generation is still the one read before the drives were read for it. So a
//! DeleteBucket answered on one shard is seen by the next request on any shard, and a
//! CreateBucket likewise; a change racing a fill leaves the entry stale at birth, never
//! believed.
//!
//! Why an atomic and not a message to each shard: checking costs one load of a cache
//! line that changes only on bucket changes, so it stays in every core's cache (shared
//! state, no lock, no contention); the write side is rare. Entries also expire after
//! `BUCKET_CACHE_TTL_NANOS`, which bounds how long a change this node cannot see (a
//! drive replaced by hand) stays hidden.
//!
//! Across the nodes of a cluster, invalidation is by time, not by message: entries live
//! `CLUSTER_BUCKET_CACHE_TTL_NANOS`, stamped when their drive read *began*, and a node
//! that changed a bucket's existence keeps the bucket's lock and waits that long (plus
//! `CLUSTER_SETTLE_MARGIN_NANOS`) before it answers (`settle`). An entry on another node
//! that could hold the old answer came from a read begun before the change reached
//! write quorum, so it has expired by then; a read begun after it sees the change
//! (quorums intersect). Why not announce changes to peers: an announcement needs every
//! peer's acknowledgement, and a partitioned peer can still read a quorum of drives
//! through the others, so a node would have to wait out the TTL for it anyway; waiting
//! always is the same bound with no new message and no failure case. The price: a
//! bucket create or delete on a cluster answers `CLUSTER_BUCKET_CACHE_TTL_NANOS` later
//! (bucket changes are rare; objects' requests are not), and each shard re-reads each
//! bucket it serves a few times a second. Monotonic clocks of different machines run at
//! the same rate to within parts per million, which the margin covers many times over.
//!
//! Invariants: only definite answers are cached (exists / does not exist), never a
//! quorum error; at most `BUCKET_CACHE_ENTRIES_MAX` entries (full: start over).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long an entry is believed without a bucket change being seen.
pub const BUCKET_CACHE_TTL_NANOS: u64 = 1_000_000_000;
/// How long an entry is believed on a node of a cluster (see the module's text).
pub const CLUSTER_BUCKET_CACHE_TTL_NANOS: u64 = 250_000_000;
/// What a cluster node waits beyond the TTL after a bucket change: other machines'
/// monotonic clocks running slower than this one's (by far less), and an entry's
/// stamp taken a little after its read began.
pub const CLUSTER_SETTLE_MARGIN_NANOS: u64 = 50_000_000;
/// Most buckets remembered per shard.
pub const BUCKET_CACHE_ENTRIES_MAX: usize = 4096;

/// The node's bucket generation, shared by its shards.
#[derive(Clone, Debug, Default)]
pub struct BucketGeneration(Arc<AtomicU64>);

impl BucketGeneration {
    pub fn new() -> Self {
        Self::default()
    }

    /// The generation now. Acquire pairs with `bump`'s release.
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Marks every shard's cached answers as old.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

#[derive(Clone, Copy)]
struct Entry {
    generation: u64,
    exists: bool,
    filled_nanos: u64,
}

/// One shard's cached bucket answers.
pub(crate) struct BucketCache {
    generation: BucketGeneration,
    entries: RefCell<HashMap<String, Entry>>,
    /// How long an entry is believed.
    ttl_nanos: u64,
    /// `true` on a node of a cluster: a change is answered only once every other
    /// node's entries from before it have expired (`settle_nanos`).
    cluster: bool,
}

impl Default for BucketCache {
    fn default() -> Self {
        Self::with_generation(BucketGeneration::default())
    }
}

impl BucketCache {
    pub fn with_generation(generation: BucketGeneration) -> Self {
        Self {
            generation,
            entries: RefCell::default(),
            ttl_nanos: BUCKET_CACHE_TTL_NANOS,
            cluster: false,
        }
    }

    /// The cache of a cluster node's shard: other nodes' changes do not bump
    /// `generation`, so entries live `CLUSTER_BUCKET_CACHE_TTL_NANOS` and a change
    /// settles before it is answered (see the module's text).
    pub fn cluster(generation: BucketGeneration) -> Self {
        Self {
            ttl_nanos: CLUSTER_BUCKET_CACHE_TTL_NANOS,
            cluster: true,
            ..Self::with_generation(generation)
        }
    }

    /// How long a bucket change must wait, after its drive work and before its answer,
    /// for no node to believe an answer from before it: zero on a single node (the
    /// generation did it), the TTL and its margin on a cluster.
    pub fn settle_nanos(&self) -> u64 {
        if self.cluster {
            self.ttl_nanos + CLUSTER_SETTLE_MARGIN_NANOS
        } else {
            0
        }
    }

    /// The generation to record with an answer: read before the drives are.
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// The cached answer, if it is still true for this node as far as it knows.
    pub fn get(&self, bucket: &str, now_nanos: u64) -> Option<bool> {
        let entry = *self.entries.borrow().get(bucket)?;
        let fresh = entry.generation == self.generation.current()
            && now_nanos.saturating_sub(entry.filled_nanos) < self.ttl_nanos;
        fresh.then_some(entry.exists)
    }

    /// The cached answer, if still true as far as this node knows and, on a cluster,
    /// read since `since_nanos` (this shard's clock; 0: any). A writer's re-check under
    /// the bucket's shared lock passes the time it was granted. Why: the settle wait protects other nodes only while
    /// the changer holds the bucket's lock; a changer that dies during the wait loses
    /// its grants at once (its connections close), so a writer may be granted the
    /// lock right after a delete's removal while its own entry from before still
    /// lives. Every change that wrote finished before any later grant, so a read
    /// begun after the grant sees it.
    pub fn get_since(&self, bucket: &str, now_nanos: u64, since_nanos: u64) -> Option<bool> {
        if self.cluster {
            let entry = *self.entries.borrow().get(bucket)?;
            if entry.filled_nanos < since_nanos {
                return None;
            }
        }
        self.get(bucket, now_nanos)
    }

    /// Remembers an answer read from the drives after `generation` and `now_nanos`
    /// were read (the stamp is when the read began, which the cluster rule needs).
    pub fn put(&self, bucket: &str, exists: bool, generation: u64, now_nanos: u64) {
        let mut entries = self.entries.borrow_mut();
        if entries.len() >= BUCKET_CACHE_ENTRIES_MAX && !entries.contains_key(bucket) {
            entries.clear();
        }
        entries.insert(
            bucket.to_owned(),
            Entry {
                generation,
                exists,
                filled_nanos: now_nanos,
            },
        );
    }

    /// After a bucket change on this shard: every shard's entries are old.
    pub fn changed(&self) {
        self.generation.bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bump on one shard's handle makes every shard's entries stale.
    #[test]
    fn bump_invalidates_other_shards() {
        let shared = BucketGeneration::new();
        let (a, b) = (
            BucketCache::with_generation(shared.clone()),
            BucketCache::with_generation(shared),
        );
        let g = b.generation();
        b.put("bkt", true, g, 0);
        assert_eq!(b.get("bkt", 1), Some(true));
        a.changed();
        assert_eq!(b.get("bkt", 1), None);
    }

    /// An answer filled across a change (generation read before it) is never believed,
    /// and entries expire.
    #[test]
    fn stale_fill_and_expiry() {
        let cache = BucketCache::default();
        let before = cache.generation();
        cache.changed();
        cache.put("bkt", false, before, 0);
        assert_eq!(cache.get("bkt", 0), None);
        cache.put("bkt", false, cache.generation(), 0);
        assert_eq!(cache.get("bkt", BUCKET_CACHE_TTL_NANOS - 1), Some(false));
        assert_eq!(cache.get("bkt", BUCKET_CACHE_TTL_NANOS), None);
    }

    /// On a cluster node entries live the short TTL, and a change waits it out with its
    /// margin; a single node's change needs no wait.
    #[test]
    fn cluster_entries_expire_before_a_change_is_answered() {
        let single = BucketCache::default();
        assert_eq!(single.settle_nanos(), 0);
        let cache = BucketCache::cluster(BucketGeneration::new());
        cache.put("bkt", true, cache.generation(), 0);
        assert_eq!(
            cache.get("bkt", CLUSTER_BUCKET_CACHE_TTL_NANOS - 1),
            Some(true)
        );
        assert_eq!(cache.get("bkt", CLUSTER_BUCKET_CACHE_TTL_NANOS), None);
        assert!(cache.settle_nanos() > CLUSTER_BUCKET_CACHE_TTL_NANOS);
    }

    /// Under a bucket lock granted at time G, a cluster node believes only answers read
    /// from G on (a changer may have died during its settle wait); one node believes
    /// any fresh answer (its changers die with it).
    #[test]
    fn a_writer_under_the_lock_believes_only_answers_read_since_its_grant() {
        let cluster = BucketCache::cluster(BucketGeneration::new());
        cluster.put("bkt", true, cluster.generation(), 100);
        assert_eq!(cluster.get_since("bkt", 150, 101), None);
        assert_eq!(cluster.get_since("bkt", 150, 100), Some(true));
        let single = BucketCache::default();
        single.put("bkt", true, single.generation(), 100);
        assert_eq!(single.get_since("bkt", 150, 101), Some(true));
    }
}
