//! The index audit: the scanner's check that each drive's listing index agrees with
//! the `meta` records it is derived from (DESIGN.md §5). An index that misses a change
//! would make listings wrong without any record being damaged, so the object scan
//! (`mod.rs`) cannot see it.
//!
//! Every shard audits the drives of this node whose index it owns (drive k on shard
//! k mod shards, `member/local/index/owner.rs`), whatever its share of the sets: in a
//! cluster, each node's drives are audited by that node. A pass walks every bucket of
//! the pool on each such drive in batches (`LocalMember::audit_index_batch`), at the
//! scanner's pace and waiting while the shard serves requests. A key compared reads one
//! record on one drive where an object scanned reads one on every member of its set,
//! so a set's size of keys counts as one object. Passes follow one another with the
//! scanner's cycle pause between.
//!
//! A difference is only a suspect (a write may be between its record and its index
//! entry). Suspects are looked at again after `CONFIRM_DELAY`; one whose record did not
//! change and which the index still gets wrong is confirmed, and the bucket's index is
//! forgotten and rebuilt from the records (listings walk the records meanwhile). Each
//! confirmation is logged and counted (`shoal_scan_index_mismatches_total`).
//!
//! Invariants: the audit never writes a record; the only change it makes is a rebuild
//! of an index, which is safe while writes go on. Nothing of it is persisted: a restart
//! begins a new pass (an unclean stop rebuilds every index anyway).

use std::time::Duration;

use shoal_io::{Clock, Drive, Env};

use crate::member::verbs::walk::WALK_LIMIT_MAX;
use crate::member::{LocalMember, Member};
use crate::object::scan::pace::{Pacer, ScanHooks, ScanPace, sleep_unless_stopping};
use crate::object::store::Store;

/// Keys one audit batch compares.
const AUDIT_BATCH_KEYS: usize = 250;
/// How long after a difference is seen it is looked at again: longer than a write
/// takes between its record and its index entry, short enough that a pass's batches
/// do not wait long.
pub const CONFIRM_DELAY: Duration = Duration::from_secs(2);

const _: () = assert!(AUDIT_BATCH_KEYS <= WALK_LIMIT_MAX);

/// Audits the listing indexes this shard owns, pass after pass, until the shard stops.
/// Returns at once when the shard owns none.
pub async fn run_index_audit<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    pace: &ScanPace,
    hooks: &ScanHooks<'_>,
) {
    if !store.members.iter().any(|m| owned_index(m).is_some()) {
        return;
    }
    loop {
        if !audit_pass(store, pace, hooks).await {
            return;
        }
        if !sleep_unless_stopping(&store.env, pace.cycle_pause(), hooks).await {
            return;
        }
    }
}

/// One pass over every bucket of every drive whose index this shard owns. False when
/// the shard began to stop.
pub async fn audit_pass<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    pace: &ScanPace,
    hooks: &ScanHooks<'_>,
) -> bool {
    let mut pacer = Pacer::default();
    let buckets = match store.list_buckets().await {
        Ok(buckets) => buckets,
        Err(e) => {
            tracing::debug!(%e, "index audit: cannot list buckets; pass skipped");
            return true;
        }
    };
    for member in &store.members {
        let Some(local) = owned_index(member) else {
            continue;
        };
        store.scan.update(|p| p.index_audit_active = true);
        for bucket in &buckets {
            if !audit_bucket(store, local, &bucket.name, (pace, &mut pacer, hooks)).await {
                return false;
            }
        }
    }
    true
}

/// One drive's index of `bucket`, batch after batch. False when the shard began to stop.
async fn audit_bucket<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    local: &LocalMember<D>,
    bucket: &str,
    (pace, pacer, hooks): (&ScanPace, &mut Pacer, &ScanHooks<'_>),
) -> bool {
    let env = &store.env;
    let mut after = String::new();
    loop {
        if !pacer.before_object(env, pace, hooks).await {
            return false;
        }
        // Not ready (being rebuilt) or not walkable: nothing to check this pass.
        let Some(batch) = local
            .audit_index_batch(bucket, &after, AUDIT_BATCH_KEYS)
            .await
        else {
            return true;
        };
        store
            .scan
            .update(|p| p.index_keys_audited += batch.keys as u64);
        if !batch.suspects.is_empty() {
            if !sleep_unless_stopping(env, CONFIRM_DELAY, hooks).await {
                return false;
            }
            for suspect in &batch.suspects {
                if local.audit_index_confirm(bucket, suspect).await {
                    tracing::warn!(
                        drive = local.drive().name(),
                        bucket,
                        key = suspect.key,
                        record = ?suspect.record,
                        indexed = ?suspect.indexed,
                        "listing index disagrees with the key's record; rebuilding the bucket's index from its records"
                    );
                    store.scan.update(|p| p.index_mismatches += 1);
                    local.index_lost(bucket).await;
                    return true;
                }
                store.scan.update(|p| p.index_suspects_dismissed += 1);
            }
        }
        // A key costs one record read on one drive; an object of the scan, one on every
        // member of its set.
        let objects = batch.keys.div_ceil(store.layout.set.set_size()) as u64;
        if !pacer.charge(env, pace, (objects, 0), hooks).await {
            return false;
        }
        match batch.next {
            Some(next) => after = next,
            None => return true,
        }
    }
}

/// The member as a local drive whose index this shard owns.
fn owned_index<D: Drive>(member: &Member<D>) -> Option<&LocalMember<D>> {
    let local = member.as_local()?;
    local.index_owner().is_some().then_some(local)
}
