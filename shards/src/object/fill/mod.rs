//! The fill of a replaced drive: a drive formatted into a deployment that exists
//! carries a fill record (`record/fill.rs`), and a background task brings every
//! object of its set onto it from the other members.
//!
//! One task per drive to fill, on one shard of the node that holds the drive (drive
//! at pool position `p` is filled by shard `p mod shards`, so several new drives
//! fill on several cores; a peer's drive is its own node's to fill). It counts what
//! is left first (`count.rs`: the set's keys and their sizes from one metadata
//! record each, no chunk read), then walks every bucket of the pool in name order and
//! each in key order with the scanner's walk (`scan::walk_set`: every member of the
//! set, so a key is found whichever members hold it), skips keys that belong to
//! another set, and takes each key through `Store::heal_object`, which rebuilds
//! exactly what a member lacks under the key's lock, never over a newer version and
//! never bringing a deleted one back. Before a bucket's keys, the drive gets the
//! bucket's record if it lacks it (`restore_bucket_record`).
//!
//! Paced in objects (`FillPace`, `fill-objects-per-second`, through the scanner's
//! `Pacer`): it yields to requests (waits while the shard serves some, at most
//! `FILL_BUSY_WAIT` per object) and sleeps off its budget; bytes are healing's to
//! budget. Resumable: the record (bucket, last key done, counts) is saved on the drive
//! every `SAVE_INTERVAL` (1 s), at each bucket's end and when the shard stops, so a
//! restart repeats at most a second of keys (healing them again is harmless) and never
//! a finished bucket. Progress shows the saved counts, so what `admin info` said was
//! done stays done across a crash. Done, the record says so and the fill never runs
//! again.
//!
//! Invariants: the fill writes nothing itself but its own record and bucket records
//! (objects are written by `heal_object` alone); its position only moves forward; it
//! waits, never skips, while the drive is offline or fewer than read quorum of the
//! other members can be walked (`walk_quorum`); a key
//! whose heal failed is counted and left to the shard's heal queue.

mod count;
pub mod progress;

use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::{Either, select};
use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::{Member, MemberError, SetMember};
use crate::object::bucket::BucketInfo;
use crate::object::heal::{HealOptions, HealOutcome, HealReport, MetaFound};
use crate::object::scan::ScanHooks;
use crate::object::scan::pace::{Budget, Pacer, sleep_unless_stopping};
use crate::object::scan::{WalkQuorum, walk_set};
use crate::object::store::Store;
use crate::record::fill::{FILL_PATH, FillRecord};

pub use progress::{FillCounters, FillProgress, FillState};

/// Objects one fill takes through healing per second by default: generous, as a drive
/// with less than full redundancy should not wait; healing's own byte budget and the
/// yield to requests keep it off the foreground.
pub const OBJECTS_PER_SECOND_DEFAULT: u64 = 500;
/// Longest a fill waits for a busy shard before it heals one object anyway (so a fill
/// under steady load still moves, at about 20 objects per second).
pub const FILL_BUSY_WAIT: Duration = Duration::from_millis(50);
/// How often the record is saved while a fill runs. Progress shows what was saved
/// (so a crash never takes it back), hence often: one small atomic write a second.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);
/// How often progress is logged.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Pause before trying again (a heal that failed, a walk no member answered, the
/// drive offline).
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Heals of one key before it is left to the heal queue.
const HEAL_TRIES: u32 = 3;
/// A heal slower than this shows the fill as waiting until it ends.
const SLOW_HEAL: Duration = Duration::from_secs(3);

/// The fill's run-time setting, shared by every shard of a node (`shoal admin config
/// set fill-objects-per-second N`).
#[derive(Clone, Debug)]
pub struct FillPace(Arc<AtomicU64>);

impl Default for FillPace {
    fn default() -> Self {
        Self::new(OBJECTS_PER_SECOND_DEFAULT)
    }
}

impl FillPace {
    /// `objects_per_second` 0 pauses every fill until it is raised again.
    pub fn new(objects_per_second: u64) -> Self {
        Self(Arc::new(AtomicU64::new(objects_per_second)))
    }

    pub fn objects_per_second(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set_objects_per_second(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

impl Budget for FillPace {
    fn objects_per_second(&self) -> u64 {
        FillPace::objects_per_second(self)
    }

    fn bytes_per_second(&self) -> u64 {
        u64::MAX
    }

    fn busy_wait_max(&self) -> Duration {
        FILL_BUSY_WAIT
    }
}

/// Runs, one after the other, the fills of this shard's drives (shard `shard_index`
/// of `shard_count` fills the local drives at positions `p` with
/// `p mod shard_count == shard_index` whose record says "to fill"). Returns when they
/// are done or the shard stops (each saves its record first).
pub async fn run_fills<D: Drive, C: Clock, E: Env>(
    store: &Store<D, C, E>,
    (shard_index, shard_count): (usize, usize),
    pace: &FillPace,
    hooks: &ScanHooks<'_>,
) {
    let mut fillers = Vec::new();
    for position in 0..store.drive_count() {
        if position % shard_count.max(1) != shard_index {
            continue;
        }
        let Some(drive) = store.drive(position) else {
            continue;
        };
        let Some(record) = crate::record::fill::load(drive).await else {
            continue;
        };
        if record.done {
            continue;
        }
        let mut filler = Filler::new(store, position, record, pace.clone());
        // Shown at once, so a drive waiting its turn is not missing from `info`.
        filler.publish(FillState::Queued);
        fillers.push(filler);
    }
    for mut filler in fillers {
        if !filler.run(hooks).await {
            return;
        }
    }
}

/// The fill of one drive.
pub struct Filler<'s, D: Drive, C: Clock, E: Env> {
    store: &'s Store<D, C, E>,
    /// The drive's pool position.
    position: usize,
    set_index: usize,
    record: FillRecord,
    /// The record as last saved on the drive: what progress shows, so the counts a
    /// client saw never go back, not even across a crash.
    saved: FillRecord,
    pace: FillPace,
    pacer: Pacer,
    progress: FillProgress,
    window: progress::RateWindow,
    saved_at_nanos: u64,
    logged_at_nanos: u64,
}

impl<'s, D: Drive, C: Clock, E: Env> Filler<'s, D, C, E> {
    pub fn new(
        store: &'s Store<D, C, E>,
        position: usize,
        record: FillRecord,
        pace: FillPace,
    ) -> Self {
        let now = store.env.monotonic_nanos();
        let progress = FillProgress {
            drive: store.members[position].name().to_owned(),
            ..FillProgress::default()
        };
        Self {
            store,
            position,
            set_index: position / store.layout.set.set_size(),
            saved: record.clone(),
            record,
            pace,
            pacer: Pacer::default(),
            progress,
            window: progress::RateWindow::default(),
            saved_at_nanos: now,
            logged_at_nanos: now,
        }
    }

    /// The record as it stands.
    pub fn record(&self) -> &FillRecord {
        &self.record
    }

    /// Counts what is left, then fills bucket after bucket from the record's place.
    /// True when done; false when the shard began to stop (the record is saved).
    pub async fn run(&mut self, hooks: &ScanHooks<'_>) -> bool {
        if self.record.started_unix_nanos == 0 {
            self.record.started_unix_nanos = self.store.clock.now_unix_nanos();
        }
        tracing::info!(
            drive = %self.progress.drive,
            set = self.set_index,
            bucket = %self.record.bucket,
            after_key = %self.record.after_key,
            objects_done = self.record.objects_done,
            "fill of a replaced drive: starts (counting what is left)"
        );
        self.publish(FillState::Counting);
        let Some(buckets) = self.buckets(hooks).await else {
            return false;
        };
        let Some((objects_left, bytes_left)) = self.count_left(&buckets, hooks).await else {
            return false;
        };
        self.progress.objects_total = self.record.objects_done + objects_left;
        self.progress.bytes_total = self.record.bytes_done + bytes_left;
        tracing::info!(
            drive = %self.progress.drive,
            objects_left,
            bytes_left,
            "fill of a replaced drive: counted; filling"
        );
        self.publish(FillState::Filling);
        let from = self.record.bucket.clone();
        for bucket in buckets.iter().filter(|b| b.name >= from) {
            if bucket.name != self.record.bucket {
                self.record.bucket.clone_from(&bucket.name);
                self.record.after_key.clear();
            }
            self.restore_bucket_record(bucket).await;
            if !self.fill_bucket(hooks).await {
                self.save().await;
                return false;
            }
            self.save().await;
        }
        self.finish().await;
        true
    }

    async fn finish(&mut self) {
        self.record.done = true;
        self.record.finished_unix_nanos = self.store.clock.now_unix_nanos();
        self.save().await;
        // Nothing is left: what was done is the whole.
        self.progress.objects_total = self.saved.objects_done;
        self.progress.bytes_total = self.saved.bytes_done;
        self.publish(FillState::Done);
        tracing::info!(
            drive = %self.progress.drive,
            objects = self.record.objects_done,
            bytes = self.record.bytes_done,
            bytes_written = self.record.bytes_written,
            objects_failed = self.record.objects_failed,
            "fill of a replaced drive: done"
        );
    }

    /// The pool's buckets, in name order; tried again until the shard stops.
    async fn buckets(&mut self, hooks: &ScanHooks<'_>) -> Option<Vec<BucketInfo>> {
        loop {
            match self.store.list_buckets().await {
                Ok(buckets) => return Some(buckets),
                Err(e) => {
                    tracing::warn!(drive = %self.progress.drive, %e, "fill: cannot list buckets; trying again");
                    self.publish(FillState::Waiting);
                }
            }
            if !sleep_unless_stopping(&self.store.env, RETRY_PAUSE, hooks).await {
                return None;
            }
        }
    }

    /// The record's bucket, after the record's key. False when stopping.
    async fn fill_bucket(&mut self, hooks: &ScanHooks<'_>) -> bool {
        let bucket: Rc<str> = self.record.bucket.as_str().into();
        // Said once per wait, not every second of a long one.
        let mut warned = false;
        loop {
            let after = &self.record.after_key;
            let walked = walk_set(
                self.store,
                self.set_index,
                &bucket,
                after,
                self.walk_quorum(),
            );
            let Some((keys, more)) = walked.await else {
                if !warned {
                    tracing::warn!(drive = %self.progress.drive, bucket = %bucket, "fill: too few members of the set answer the walk; waiting for them");
                    warned = true;
                }
                self.publish(FillState::Waiting);
                if !sleep_unless_stopping(&self.store.env, RETRY_PAUSE, hooks).await {
                    return false;
                }
                continue;
            };
            warned = false;
            for key in keys {
                if self.store.placement(&bucket, &key).set_index != self.set_index {
                    // Another set's key left here: not this set's to fill.
                    self.record.after_key = key;
                    continue;
                }
                if !self.fill_key(&bucket, &key, hooks).await {
                    return false;
                }
            }
            if !more {
                return true;
            }
        }
    }

    /// What a walk of the set must hear before the fill believes it: read quorum of
    /// members other than the drive filled. That drive answers at once and holds
    /// nothing; heard alone (its peers not yet reachable, say) it would make every
    /// bucket look empty and end the fill with nothing filled. Every acknowledged key
    /// is on write quorum of members, so read quorum of the others include one that
    /// holds it whenever the key can be healed at all.
    pub(super) fn walk_quorum(&self) -> WalkQuorum {
        let set = self.store.layout.set;
        WalkQuorum {
            skip: Some(self.position % set.set_size()),
            answers_min: set.read_quorum().min(set.set_size() - 1),
        }
    }

    /// Heals one key onto the drive and moves the record past it. False when stopping
    /// (a key healed is counted first).
    async fn fill_key(&mut self, bucket: &str, key: &str, hooks: &ScanHooks<'_>) -> bool {
        if !self.wait_online(hooks).await {
            return false;
        }
        if !self.before_object(hooks).await {
            return false;
        }
        let Some((failed, bytes_written)) = self.heal_key(bucket, key, hooks).await else {
            return false;
        };
        let size = self.object_size(bucket, key, true).await;
        let r = &mut self.record;
        r.objects_done += 1;
        r.bytes_done += size;
        r.bytes_written += bytes_written;
        if failed {
            r.objects_failed += 1;
            self.store.queue_heal(bucket, key);
        }
        key.clone_into(&mut r.after_key);
        self.tick().await;
        let env = &self.store.env;
        self.pacer.charge(env, &self.pace, (1, 0), hooks).await
    }

    /// The pacer's wait before an object; while fills are paused
    /// (`fill-objects-per-second` 0) the fill shows as waiting, not at its last rate.
    /// False when stopping.
    pub(super) async fn before_object(&mut self, hooks: &ScanHooks<'_>) -> bool {
        if self.pace.objects_per_second() == 0 {
            self.publish(FillState::Waiting);
        }
        let env = &self.store.env;
        self.pacer.before_object(env, &self.pace, hooks).await
    }

    /// `heal_object` until the drive holds the key (or it is proven unreadable, or
    /// `HEAL_TRIES` failed): whether the drive was left without it, and the bytes the
    /// heal wrote. While the set cannot decide the key's version (too few members
    /// answer: peers down or cut off) it waits, as for the walk, and no try is spent:
    /// giving up then would count every key of the batch in hand as failed while the
    /// peers are away. `None` when stopping.
    async fn heal_key(
        &mut self,
        bucket: &str,
        key: &str,
        hooks: &ScanHooks<'_>,
    ) -> Option<(bool, u64)> {
        let me = self.position % self.store.layout.set.set_size();
        let mut attempt = 0;
        let mut waiting = false;
        while attempt < HEAL_TRIES {
            let store = self.store;
            let healed = store.heal_object(bucket, key, HealOptions::default());
            let why = match self.await_heal(healed).await {
                Ok(report) => {
                    let member = report.members.get(me);
                    let missed =
                        member.is_some_and(|m| m.meta == MetaFound::Failed || m.error.is_some());
                    if report.outcome == HealOutcome::Unreadable {
                        tracing::warn!(
                            bucket,
                            key,
                            "fill: object unreadable (more than parity lost); not filled"
                        );
                        return Some((true, 0));
                    }
                    if !missed {
                        return Some((false, report.bytes_written));
                    }
                    member
                        .and_then(|m| m.error.clone())
                        .unwrap_or_else(|| "the drive did not answer".to_owned())
                }
                Err(e) if set_undecided(&e) => {
                    if !waiting {
                        tracing::warn!(drive = %self.progress.drive, bucket, key, %e, "fill: the set cannot decide the key now; waiting for its members");
                        waiting = true;
                    }
                    self.publish(FillState::Waiting);
                    if !sleep_unless_stopping(&self.store.env, RETRY_PAUSE, hooks).await {
                        return None;
                    }
                    continue;
                }
                Err(e) => e.to_string(),
            };
            attempt += 1;
            if attempt == HEAL_TRIES {
                tracing::warn!(bucket, key, %why, "fill: key not filled; left to the heal queue");
                return Some((true, 0));
            }
            if !sleep_unless_stopping(&self.store.env, RETRY_PAUSE, hooks).await {
                return None;
            }
        }
        Some((true, 0))
    }

    /// Awaits a heal. One slower than `SLOW_HEAL` (its lock or reads waiting on members
    /// that do not answer: a lock gives up only after a lease, 30 s or more) shows the
    /// fill as waiting meanwhile, so progress does not go on claiming the last rate.
    async fn await_heal(
        &mut self,
        heal: impl Future<Output = Result<HealReport>>,
    ) -> Result<HealReport> {
        let mut heal = std::pin::pin!(heal);
        loop {
            let timer = std::pin::pin!(self.store.env.sleep(SLOW_HEAL));
            match select(heal.as_mut(), timer).await {
                Either::Left((result, _)) => return result,
                Either::Right(((), _)) => self.publish(FillState::Waiting),
            }
        }
    }

    /// Waits while the drive is offline. False when stopping.
    async fn wait_online(&mut self, hooks: &ScanHooks<'_>) -> bool {
        if self.store.drive_online(self.position) {
            return true;
        }
        tracing::warn!(drive = %self.progress.drive, "fill: the drive is offline; waiting");
        self.publish(FillState::Waiting);
        while !self.store.drive_online(self.position) {
            if !sleep_unless_stopping(&self.store.env, RETRY_PAUSE, hooks).await {
                return false;
            }
        }
        self.publish(FillState::Filling);
        true
    }

    /// After a key: the record saved when due, progress published (as saved) and
    /// logged when due.
    async fn tick(&mut self) {
        let now = self.store.env.monotonic_nanos();
        if now.saturating_sub(self.saved_at_nanos) >= nanos(SAVE_INTERVAL) {
            self.save().await;
        }
        let r = &self.saved;
        self.window.note(now, r.bytes_done, r.objects_done);
        let p = &mut self.progress;
        // Keys written since the count (after the fill's place) are done beyond it.
        p.objects_total = p.objects_total.max(r.objects_done);
        p.bytes_total = p.bytes_total.max(r.bytes_done);
        self.publish(FillState::Filling);
        if now.saturating_sub(self.logged_at_nanos) >= nanos(LOG_INTERVAL) {
            self.logged_at_nanos = now;
            let p = &self.progress;
            tracing::info!(
                drive = %p.drive,
                objects_done = p.objects_done,
                objects_left = p.objects_left(),
                bytes_done = p.bytes_done,
                bytes_left = p.bytes_left(),
                bytes_per_second = p.bytes_per_second,
                eta_seconds = ?p.eta_seconds,
                "fill of a replaced drive: progress"
            );
        }
    }

    /// Copies the saved record's counts, the rates and `state` into the shard's
    /// counters.
    fn publish(&mut self, state: FillState) {
        let now = self.store.env.monotonic_nanos();
        let r = &self.saved;
        // Waiting moves nothing: no rate, so no ETA, until the fill moves again.
        let (bytes_per_second, objects_per_second) =
            if matches!(state, FillState::Waiting | FillState::Queued) {
                (0, 0)
            } else {
                self.window.rates(now, r.bytes_done, r.objects_done)
            };
        let p = &mut self.progress;
        p.state = state;
        p.objects_done = r.objects_done;
        p.bytes_done = r.bytes_done;
        p.bytes_written = r.bytes_written;
        p.objects_failed = r.objects_failed;
        p.started_unix_nanos = self.record.started_unix_nanos;
        p.bytes_per_second = bytes_per_second;
        p.objects_per_second = objects_per_second;
        p.eta_seconds = progress::eta_seconds(p);
        if state == FillState::Queued {
            // Not counted yet: nothing is known to be left, and no ETA.
            p.objects_total = r.objects_done;
            p.bytes_total = r.bytes_done;
            p.eta_seconds = None;
        }
        self.store.fill.set(self.position, p.clone());
    }

    /// Writes the record to the drive it describes (atomic replace).
    async fn save(&mut self) {
        self.saved_at_nanos = self.store.env.monotonic_nanos();
        let Some(drive) = self.store.drive(self.position) else {
            return;
        };
        match drive
            .write_file_atomic(FILL_PATH, &self.record.encode())
            .await
        {
            Ok(()) => self.saved.clone_from(&self.record),
            Err(e) => tracing::warn!(drive = %self.progress.drive, %e, "fill: record not saved"),
        }
    }

    /// Gives the drive `bucket`'s record when it lacks it, under the bucket's lock
    /// (exclusive: no create or delete of it meanwhile), if the bucket still exists.
    async fn restore_bucket_record(&self, bucket: &BucketInfo) {
        let Member::Local(local) = &*self.store.members[self.position] else {
            return;
        };
        if !matches!(
            local.read_bucket(&bucket.name).await,
            Err(MemberError::NotFound)
        ) {
            return;
        }
        let guard = self.store.lock_bucket_exclusive(&bucket.name).await;
        if !matches!(self.store.bucket_exists(&bucket.name).await, Ok(true))
            || guard.keep().await.is_err()
        {
            return;
        }
        let record = crate::object::bucket::bucket_record(
            &self.store.deployment_id,
            &bucket.name,
            bucket.created_unix_nanos,
        );
        if let Err(e) = local.restore_bucket_record(&bucket.name, &record).await {
            tracing::warn!(drive = %self.progress.drive, bucket = %bucket.name, %e, "fill: bucket record not written");
        }
    }
}

/// Whether a heal failed because too few members answered to decide the key's
/// version, or to lock it: nothing is wrong with the key, its set is out of reach for
/// now (or its lock busy past a lease, which passes too).
fn set_undecided(error: &Error) -> bool {
    matches!(
        error,
        Error::InsufficientReadQuorum { .. }
            | Error::InsufficientWriteQuorum { .. }
            | Error::VersionUndecided { .. }
            | Error::LeaseLost
    )
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
