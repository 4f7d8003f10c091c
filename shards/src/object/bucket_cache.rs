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
//! `BUCKET_CACHE_TTL_NANOS`, which bounds how long a change this node cannot see
//! (another node's, once there are several; a drive replaced by hand) stays hidden.
//!
//! Invariants: only definite answers are cached (exists / does not exist), never a
//! quorum error; at most `BUCKET_CACHE_ENTRIES_MAX` entries (full: start over).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How long an entry is believed without a bucket change being seen.
pub const BUCKET_CACHE_TTL_NANOS: u64 = 1_000_000_000;
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
    /// `false`: nothing is remembered, every answer comes from the drives.
    enabled: bool,
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
            enabled: true,
        }
    }

    /// A cache that remembers nothing: for a node of a cluster, where other nodes'
    /// bucket changes do not bump this node's generation (until they are announced to
    /// peers, a cached answer could be a deleted bucket's for up to the TTL).
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The generation to record with an answer: read before the drives are.
    pub fn generation(&self) -> u64 {
        self.generation.current()
    }

    /// The cached answer, if it is still true for this node as far as it knows.
    pub fn get(&self, bucket: &str, now_nanos: u64) -> Option<bool> {
        if !self.enabled {
            return None;
        }
        let entry = *self.entries.borrow().get(bucket)?;
        let fresh = entry.generation == self.generation.current()
            && now_nanos.saturating_sub(entry.filled_nanos) < BUCKET_CACHE_TTL_NANOS;
        fresh.then_some(entry.exists)
    }

    /// Remembers an answer read from the drives after `generation` was read.
    pub fn put(&self, bucket: &str, exists: bool, generation: u64, now_nanos: u64) {
        if !self.enabled {
            return;
        }
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
}
