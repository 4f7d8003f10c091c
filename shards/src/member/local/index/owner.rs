//! The shard that owns a drive's index, and what it does with it.
//!
//! Every shard of a node writes `meta` records on every drive of the node, through its
//! own `LocalMember` of that drive; the drive's index lives on one shard only (the
//! drive's local ordinal mod shards). The owner's `LocalMember` calls the index
//! directly; the others send `IndexCall`s to the owner's mailbox (`link.rs`), so no
//! structure is shared between cores. A record change is applied before the verb that
//! made it answers, so a listing that starts after a write was acknowledged sees it.
//!
//! The owner also runs the drive's maintenance task (`maintain`): it writes frozen
//! memtables as runs, merges runs past `RUNS_MAX`, and rebuilds the buckets the index
//! does not hold whole, from a walk of their records (after an unclean stop, or when a
//! change could not be applied). Until a bucket is whole, listings walk its records.
//!
//! Stop: after every shard drained, `save` writes the index and its clean marker. A
//! change applied after that (a late verb) removes the marker again, as does a change a
//! shard could not deliver to the owner (`link.rs`): the next start rebuilds then.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::{Rc, Weak};

use futures_channel::{mpsc, oneshot};
use futures_util::StreamExt;
use shoal_io::{Drive, DriveError, Env};

use crate::member::MemberError;
use crate::member::any::Member;
use crate::member::keypath::meta_path;
use crate::member::local::index::link::entry_of;
use crate::member::local::index::{
    CLEAN_PATH, DriveIndex, IndexConfig, IndexError, IndexResult, Opened, walk,
};
use crate::member::local::{BUCKETS_DIR, LocalMember};
use crate::member::verbs::walk::{KeySummary, WalkBatch, WalkEntry, WalkRequest};
use crate::topology::placement::DeploymentId;

/// Runs of one bucket past which the maintenance task merges them.
pub const RUNS_MAX: usize = 8;
/// Calls waiting in one drive's mailbox.
pub const INDEX_MAILBOX_CAPACITY: usize = 1024;
/// Keys per walk of the records while rebuilding.
const REBUILD_BATCH_KEYS: usize = 1000;
/// Rebuilds of one bucket tried per start (a drive that fails them is listed from its
/// records).
const REBUILD_ATTEMPTS_MAX: u32 = 3;
/// Reads again of a record that did not decode, while rebuilding.
const REBUILD_REREADS_MAX: usize = 2;
/// Attempts to remove the clean marker before giving up (and saying so).
const UNSAVE_ATTEMPTS: usize = 3;

/// What another shard asks of a drive's index owner. Each carries where the owner
/// answers; a call dropped unanswered (the owner went away) counts as not applied.
pub enum IndexCall {
    /// `key`'s record is now `entry` (`None`: no record).
    Apply {
        bucket: String,
        key: String,
        entry: Option<KeySummary>,
        done: oneshot::Sender<()>,
    },
    /// `bucket` as a whole changed here.
    Bucket {
        bucket: String,
        change: BucketChange,
        done: oneshot::Sender<()>,
    },
    /// A listing's walk; `None`: walk the records instead.
    Walk {
        bucket: String,
        request: WalkRequest,
        reply: oneshot::Sender<Option<WalkBatch>>,
    },
}

/// What happened to a bucket as a whole on a drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketChange {
    /// Made, with nothing in it.
    Made,
    /// Removed with everything in it.
    Dropped,
    /// A change of its records could not be applied: rebuild it.
    Lost,
}

/// A drive's index on its owner shard.
pub struct IndexOwner<D: Drive> {
    index: DriveIndex<D>,
    deployment_id: DeploymentId,
    /// Changes applied since open; `save` checks that none came while it ran.
    changes: Cell<u64>,
    /// The clean marker is on the drive: the next change removes it first.
    saved: Cell<bool>,
    /// Saved for a stop: the maintenance task does no more.
    stopped: Cell<bool>,
    /// Buckets waiting for a rebuild.
    rebuilds: RefCell<BTreeSet<String>>,
    /// Failed rebuilds per bucket: past `REBUILD_ATTEMPTS_MAX` not tried again until
    /// the next start (listings walk its records meanwhile).
    failed: RefCell<BTreeMap<String, u32>>,
    /// Buckets made, dropped or lost since open: a rebuild that saw one starts again.
    bucket_changes: Cell<u64>,
    /// Wakes the maintenance task (one wake pending at most).
    wake: RefCell<mpsc::Sender<()>>,
}

impl<D: Drive> IndexOwner<D> {
    /// Whether `bucket`'s index holds every key of the drive.
    pub fn is_ready(&self, bucket: &str) -> bool {
        self.index.is_ready(bucket)
    }

    pub fn deployment_id(&self) -> &DeploymentId {
        &self.deployment_id
    }

    /// Records `key`'s new record (`None`: removed).
    pub async fn apply(&self, drive: &D, bucket: &str, key: &str, entry: Option<KeySummary>) {
        self.changed(drive).await;
        if !self.index.is_ready(bucket) {
            self.want_rebuild(bucket);
        }
        self.index.apply(bucket, key, entry);
        if self.index.over_budget() {
            // The memory bound: this change answers once the frozen memtables are out.
            if let Err(e) = self.index.flush(drive).await {
                self.fail(drive, &e).await;
            }
        }
        if self.index.flush_needed() {
            self.wake();
        }
    }

    /// A change of `bucket`'s records was not seen: listings walk its records until it
    /// is rebuilt.
    pub async fn lost(&self, drive: &D, bucket: &str) {
        self.changed(drive).await;
        self.bucket_changes.set(self.bucket_changes.get() + 1);
        if let Err(e) = self.index.forget(drive, bucket).await {
            tracing::warn!(drive = drive.name(), bucket, error = %e, "listing index: cannot forget a bucket");
        }
        self.want_rebuild(bucket);
    }

    /// `bucket` as a whole changed on the drive (`BucketChange`).
    pub async fn bucket_changed(&self, drive: &D, bucket: &str, change: BucketChange) {
        match change {
            BucketChange::Lost => self.lost(drive, bucket).await,
            BucketChange::Dropped => self.dropped_bucket(drive, bucket).await,
            BucketChange::Made => {
                self.dropped_bucket(drive, bucket).await;
                self.index.mark_ready(bucket);
            }
        }
    }

    /// `bucket` and everything in it were removed from the drive.
    async fn dropped_bucket(&self, drive: &D, bucket: &str) {
        self.changed(drive).await;
        self.bucket_changes.set(self.bucket_changes.get() + 1);
        self.rebuilds.borrow_mut().remove(bucket);
        if let Err(e) = self.index.drop_bucket(drive, bucket).await {
            tracing::warn!(drive = drive.name(), bucket, error = %e, "listing index: cannot drop a bucket's runs");
        }
    }

    /// A listing's walk from the index; `None` when the records must be walked (the
    /// bucket is not whole yet, or the index failed).
    pub async fn walk(&self, drive: &D, bucket: &str, request: &WalkRequest) -> Option<WalkBatch> {
        if request.summaries_for != Some(self.deployment_id) {
            return None;
        }
        if !self.index.is_ready(bucket) {
            self.want_rebuild(bucket);
            return None;
        }
        match walk::walk(&self.index, drive, bucket, request).await {
            Ok(batch) => Some(batch),
            Err(IndexError::Corrupt(e)) => {
                tracing::warn!(drive = drive.name(), bucket, error = %e, "listing index: a run is damaged; rebuilding the bucket");
                self.lost(drive, bucket).await;
                None
            }
            Err(_) => None,
        }
    }

    /// Writes the index and its clean marker, for a stop (after every shard drained).
    pub async fn save(&self, drive: &D) {
        self.stopped.set(true);
        let before = self.changes.get();
        match self.index.save(drive).await {
            Ok(()) if self.changes.get() == before => self.saved.set(true),
            // A change came while it saved: the marker must not stand.
            Ok(()) => {
                self.saved.set(true);
                self.changed(drive).await;
            }
            Err(e) => {
                tracing::warn!(drive = drive.name(), error = %e, "listing index: not saved; the next start rebuilds it");
            }
        }
    }

    /// Before any change: the marker goes, so a crash from here on rebuilds.
    async fn changed(&self, drive: &D) {
        self.changes.set(self.changes.get() + 1);
        if self.saved.replace(false) {
            remove_clean_marker(drive).await;
        }
    }

    fn want_rebuild(&self, bucket: &str) {
        let attempts = self.failed.borrow().get(bucket).copied().unwrap_or(0);
        if attempts >= REBUILD_ATTEMPTS_MAX || self.stopped.get() {
            return;
        }
        if self.rebuilds.borrow_mut().insert(bucket.to_owned()) {
            self.wake();
        }
    }

    fn wake(&self) {
        // Full: a wake is pending already.
        let _ = self.wake.borrow_mut().try_send(());
    }

    /// The index could not write what it holds: forget every bucket (listings walk the
    /// records) and rebuild them.
    async fn fail(&self, drive: &D, error: &IndexError) {
        tracing::warn!(drive = drive.name(), %error, "listing index: cannot write runs; rebuilding its buckets");
        for bucket in self.index.bucket_names() {
            self.lost(drive, &bucket).await;
        }
    }

    /// One round of maintenance: frozen memtables written, runs merged, rebuilds done.
    async fn maintain(&self, member: &LocalMember<D>) {
        let drive = member.drive();
        if self.index.flush_needed()
            && let Err(e) = self.index.flush(drive).await
        {
            self.fail(drive, &e).await;
        }
        if let Err(e) = self.index.compact(drive, RUNS_MAX).await {
            tracing::warn!(drive = drive.name(), error = %e, "listing index: compaction failed");
        }
        loop {
            if self.stopped.get() {
                return;
            }
            let Some(bucket) = self.rebuilds.borrow_mut().pop_first() else {
                return;
            };
            if self.index.is_ready(&bucket) {
                continue;
            }
            match self.rebuild(member, &bucket).await {
                Ok(true) => {
                    tracing::debug!(
                        drive = drive.name(),
                        bucket,
                        "listing index: bucket rebuilt"
                    );
                }
                // The bucket changed under the walk: again.
                Ok(false) => {
                    if !self.stopped.get() {
                        self.rebuilds.borrow_mut().insert(bucket);
                    }
                }
                Err(e) => {
                    tracing::warn!(drive = drive.name(), bucket, error = %e, "listing index: rebuild failed; listings walk the bucket's records until it succeeds");
                    *self.failed.borrow_mut().entry(bucket).or_default() += 1;
                }
            }
        }
    }

    /// Rebuilds `bucket` from a walk of its records; `false` when the bucket was made,
    /// dropped or lost meanwhile, or the shard stops.
    async fn rebuild(&self, member: &LocalMember<D>, bucket: &str) -> IndexResult<bool> {
        let changes = self.bucket_changes.get();
        let drive = member.drive();
        let mut writer = self.index.begin_rebuild(drive, bucket).await?;
        let mut request = WalkRequest {
            prefix: String::new(),
            start_after: String::new(),
            skip_under: None,
            collapse_slash: false,
            limit: REBUILD_BATCH_KEYS,
            summaries_for: None,
        };
        loop {
            if self.stopped.get() || self.bucket_changes.get() != changes {
                return Ok(false);
            }
            let batch = match member.walk_records(bucket, &request).await {
                Ok(batch) => batch,
                Err(MemberError::NotFound) => WalkBatch::default(),
                Err(e) => {
                    return Err(IndexError::Drive(DriveError::Io(std::io::Error::other(
                        e.to_string(),
                    ))));
                }
            };
            for entry in &batch.entries {
                let WalkEntry::Key(key) = entry else {
                    continue;
                };
                if let Some(summary) = self.rebuilt_entry(drive, bucket, key).await? {
                    writer.push(key, &summary).await?;
                }
            }
            match batch.entries.last() {
                Some(last) if batch.truncated => request.start_after = last.name().to_owned(),
                _ => break,
            }
        }
        if self.bucket_changes.get() != changes || self.index.is_ready(bucket) || self.stopped.get()
        {
            return Ok(false);
        }
        writer.finish(&self.index).await?;
        Ok(true)
    }
}

impl<D: Drive> IndexOwner<D> {
    /// `key`'s entry as a rebuild reads it. A record that cannot be read fails the
    /// rebuild (left out, its key would lose this drive's vote in every listing). One
    /// that does not decode as this deployment's record of the key is read again a few
    /// times, so that bytes damaged on the way once (found by sim_store's index audit,
    /// seed 186) are told from a record damaged on the drive or another deployment's:
    /// those stay out, as they count for nothing in a full read either (the scanner
    /// finds a damaged record and heals it, which indexes it again).
    async fn rebuilt_entry(
        &self,
        drive: &D,
        bucket: &str,
        key: &str,
    ) -> IndexResult<Option<KeySummary>> {
        for _ in 0..=REBUILD_REREADS_MAX {
            let bytes = match drive.read_file(&meta_path(bucket, key)).await {
                Ok(bytes) => bytes,
                Err(DriveError::NotFound) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            if let Some(summary) = entry_of(&bytes, &self.deployment_id, bucket, key) {
                return Ok(Some(summary));
            }
        }
        Ok(None)
    }
}

/// Removes the clean marker (a few attempts); a marker left behind would make the next
/// start trust an index that misses changes, so failing is logged as an error.
pub(crate) async fn remove_clean_marker<D: Drive>(drive: &D) {
    for _ in 0..UNSAVE_ATTEMPTS {
        match drive.remove_file(CLEAN_PATH).await {
            Ok(()) | Err(DriveError::NotFound) => return,
            Err(_) => {}
        }
    }
    tracing::error!(
        drive = drive.name(),
        "listing index: cannot remove the clean marker; remove {CLEAN_PATH} by hand before the next start"
    );
}

/// Opens the index of `member`'s drive on this shard (its owner), starts its
/// maintenance task and, when other shards reach it, the task that answers `mailbox`.
/// A bucket the index does not hold whole is rebuilt in the background.
pub async fn own<D: Drive, E: Env>(
    member: &Rc<Member<D>>,
    env: &E,
    deployment_id: DeploymentId,
    config: IndexConfig,
    mailbox: Option<mpsc::Receiver<IndexCall>>,
) -> IndexResult<()> {
    let Some(local) = member.as_local() else {
        return Ok(());
    };
    let drive = local.drive();
    let (index, opened) = DriveIndex::open(drive, config).await?;
    let mut rebuilds = BTreeSet::new();
    if opened == Opened::NeedsRebuild {
        match drive.list_dir(BUCKETS_DIR).await {
            Ok(entries) => rebuilds.extend(entries.into_iter().map(|e| e.name)),
            Err(DriveError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let (wake, woken) = mpsc::channel(0);
    let owner = IndexOwner {
        index,
        deployment_id,
        changes: Cell::new(0),
        saved: Cell::new(false),
        stopped: Cell::new(false),
        rebuilds: RefCell::new(rebuilds),
        failed: RefCell::new(BTreeMap::new()),
        bucket_changes: Cell::new(0),
        wake: RefCell::new(wake),
    };
    if !owner.rebuilds.borrow().is_empty() {
        owner.wake();
    }
    local.link_index(super::link::IndexLink::Own(Rc::new(owner)));
    env.spawn(maintain(Rc::downgrade(member), woken));
    if let Some(mailbox) = mailbox {
        env.spawn(serve(Rc::downgrade(member), mailbox, env.clone()));
    }
    Ok(())
}

/// The drive's maintenance task: a round per wake, until the member is gone.
async fn maintain<D: Drive>(member: Weak<Member<D>>, mut woken: mpsc::Receiver<()>) {
    while woken.next().await.is_some() {
        let Some(member) = member.upgrade() else {
            return;
        };
        if let Some(local) = member.as_local()
            && let Some(owner) = local.index_owner()
        {
            owner.maintain(local).await;
        }
    }
}

/// Answers other shards' calls, each in its own task (a walk reading blocks does not
/// hold up changes), until every other shard's member is gone.
async fn serve<D: Drive, E: Env>(
    member: Weak<Member<D>>,
    mut mailbox: mpsc::Receiver<IndexCall>,
    env: E,
) {
    while let Some(call) = mailbox.next().await {
        // Gone: the call is dropped unanswered, which its sender counts as not applied.
        let Some(member) = member.upgrade() else {
            return;
        };
        env.spawn(async move { answer(&member, call).await });
    }
}

async fn answer<D: Drive>(member: &Member<D>, call: IndexCall) {
    let Some(local) = member.as_local() else {
        return;
    };
    let Some(owner) = local.index_owner() else {
        return;
    };
    let drive = local.drive();
    match call {
        IndexCall::Apply {
            bucket,
            key,
            entry,
            done,
        } => {
            owner.apply(drive, &bucket, &key, entry).await;
            let _ = done.send(());
        }
        IndexCall::Bucket {
            bucket,
            change,
            done,
        } => {
            owner.bucket_changed(drive, &bucket, change).await;
            let _ = done.send(());
        }
        IndexCall::Walk {
            bucket,
            request,
            reply,
        } => {
            let _ = reply.send(owner.walk(drive, &bucket, &request).await);
        }
    }
}

/// One mailbox per local drive of this node: the senders (by the drive's ordinal) for
/// every shard, and per shard the receivers of the drives it owns (drive k on shard
/// k mod `shards`; `None` at the others' ordinals).
#[allow(clippy::type_complexity)]
pub fn mailboxes(
    drives: usize,
    shards: usize,
) -> (
    Vec<mpsc::Sender<IndexCall>>,
    Vec<Vec<Option<mpsc::Receiver<IndexCall>>>>,
) {
    let mut per_shard: Vec<Vec<Option<mpsc::Receiver<IndexCall>>>> = (0..shards)
        .map(|_| (0..drives).map(|_| None).collect())
        .collect();
    let mut senders = Vec::with_capacity(drives);
    for k in 0..drives {
        let (sender, receiver) = mpsc::channel(INDEX_MAILBOX_CAPACITY);
        senders.push(sender);
        per_shard[k % shards.max(1)][k] = Some(receiver);
    }
    (senders, per_shard)
}
