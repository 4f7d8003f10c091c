//! The per-drive listing index (DESIGN.md §5): per bucket, the latest entry of every
//! key this drive holds (`KeySummary`, or `None` for "no record"), sorted, so a listing
//! reads a few blocks instead of walking key folders. It is derived from the `meta`
//! records and rebuildable from them: losing it loses nothing.
//!
//! ```text
//! DRIVE/.shoal/index/CLEAN                 written last by `save`, removed by `open`
//! DRIVE/.shoal/index/<bucket hex>/run.<seq> sorted runs (run.rs), seq as 16 hex digits;
//!                                          seq 0 is a rebuilt run, the oldest layer
//! DRIVE/.shoal/tmp/index.<bucket hex>.<seq> a run being written (a start removes it)
//! ```
//!
//! Crash rule (v1): the index on disk is trusted only after a clean `save`. `open`
//! removes the marker (durably) before anything else can change, so a crash at any
//! later point leaves no marker and the next start throws the index away and rebuilds
//! every bucket from its `meta` records.
//!
//! Memory bound per drive, with `c` the cost of an entry (`layers::entry_cost_bytes`:
//! key + ETag + 128 bytes) and W the shard's most concurrent writers:
//! - memtables, live and frozen, over all buckets: at most
//!   `drive_memtable_bytes_max` + W × `c` of the largest entry (~1.4 KiB). A bucket's live
//!   memtable freezes at `bucket_memtable_entries_max` entries or
//!   `bucket_memtable_bytes_max`; past the drive bound the largest live memtable freezes
//!   too. Freezing frees nothing until `flush` has written the run, so the caller keeps
//!   the bound: when `over_budget()` it awaits `flush` before it acknowledges the next
//!   write (at most W writers apply while one flush runs);
//! - open runs: their block indexes, one handle (~24 bytes + the first key) per ~24 KiB
//!   block, about 1/400 of the run bytes; plus one file descriptor per run;
//! - a batch in flight: one decoded block per layer it reads.

pub mod audit;
mod entry;
mod layers;
pub mod link;
pub mod owner;
mod run;
#[cfg(test)]
mod tests;
mod walk;

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use futures_util::lock::Mutex;
use shoal_io::{Drive, DriveError};

use crate::member::local::write::TMP_DIR;
use crate::member::verbs::walk::KeySummary;
use crate::record::codec::{DecodeError, Reader, Writer, open_record};
pub use layers::Start;
use layers::{BucketIndex, Frozen, Merge};
use run::{Run, RunWriter};

pub const INDEX_DIR: &str = ".shoal/index";
pub const CLEAN_PATH: &str = ".shoal/index/CLEAN";
const CLEAN_MAGIC: &[u8; 8] = b"SHOALIXC";
const CLEAN_VERSION: u16 = 1;
/// The seq of a rebuilt run: older than every flushed run (seqs from 1 on).
const REBUILT_SEQ: u64 = 0;

/// Why the index could not do something. The index is a cache of the `meta` records:
/// a caller that gets an error lists from the records instead, or rebuilds.
#[derive(Debug)]
pub enum IndexError {
    Drive(DriveError),
    /// A run or the marker did not decode.
    Corrupt(DecodeError),
    /// A run would pass a format bound (footer over 64 MiB).
    TooLarge,
    /// Freezes kept moving entries under a batch (`layers.rs`); ask again.
    Busy,
    /// The bucket's index is being rebuilt or waits for it.
    NotReady,
}

impl std::fmt::Display for IndexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IndexError::Drive(e) => write!(f, "index drive error: {e}"),
            IndexError::Corrupt(e) => write!(f, "index corrupt: {e}"),
            IndexError::TooLarge => write!(f, "index run over its format bound"),
            IndexError::Busy => write!(f, "index busy: freezes moved entries under a read"),
            IndexError::NotReady => write!(f, "bucket index not ready (rebuild needed)"),
        }
    }
}

impl std::error::Error for IndexError {}

impl From<DriveError> for IndexError {
    fn from(e: DriveError) -> Self {
        IndexError::Drive(e)
    }
}

impl From<DecodeError> for IndexError {
    fn from(e: DecodeError) -> Self {
        IndexError::Corrupt(e)
    }
}

pub type IndexResult<T> = Result<T, IndexError>;

/// Memtable bounds (tests use tiny ones to make many runs).
// Every field is a bound, named with its qualifier last as STYLE.md asks.
#[allow(clippy::struct_field_names)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    pub bucket_memtable_entries_max: usize,
    pub bucket_memtable_bytes_max: usize,
    pub drive_memtable_bytes_max: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        Self {
            bucket_memtable_entries_max: 64 << 10,
            bucket_memtable_bytes_max: 8 << 20,
            drive_memtable_bytes_max: 32 << 20,
        }
    }
}

/// What `open` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The index was saved cleanly: buckets it calls ready need nothing.
    Clean,
    /// No clean marker: the index was thrown away and every bucket needs a rebuild.
    NeedsRebuild,
}

/// The index of every bucket on one drive, used from the drive's shard only.
pub struct DriveIndex<D: Drive> {
    config: IndexConfig,
    buckets: RefCell<BTreeMap<String, Rc<BucketIndex<D>>>>,
    /// The next run's seq (1 and up).
    next_seq: Cell<u64>,
    /// Bytes of live and frozen memtables over all buckets.
    memtable_bytes: Cell<usize>,
    /// Every bucket's index is whole (a clean open, or a fresh drive after rebuilds).
    complete: Cell<bool>,
    /// Buckets whose index is whole although `complete` is not (rebuilt, or ready in
    /// the last clean save).
    ready: RefCell<BTreeSet<String>>,
    /// One flush at a time, so runs are written in the order they froze; compactions
    /// and bucket removals install under it too.
    flushing: Mutex<()>,
    compacting: Cell<bool>,
    /// A compaction could not remove a run it merged: the files no longer say what
    /// memory does, so `save` must not call them clean.
    files_stale: Cell<bool>,
}

fn bucket_dir(bucket: &str) -> String {
    format!("{INDEX_DIR}/{}", hex::encode(bucket))
}

fn run_path(bucket: &str, seq: u64) -> String {
    format!("{}/run.{seq:016x}", bucket_dir(bucket))
}

fn tmp_run_path(bucket: &str, seq: u64) -> String {
    format!("{TMP_DIR}/index.{}.{seq:016x}", hex::encode(bucket))
}

fn not_found_is_ok(result: Result<(), DriveError>) -> IndexResult<()> {
    match result {
        Ok(()) | Err(DriveError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl<D: Drive> DriveIndex<D> {
    /// An empty index whose buckets are all whole (a drive with no objects yet).
    pub fn empty(config: IndexConfig) -> Self {
        Self::with(config, BTreeMap::new(), 1, true, BTreeSet::new())
    }

    fn with(
        config: IndexConfig,
        buckets: BTreeMap<String, Rc<BucketIndex<D>>>,
        next_seq: u64,
        complete: bool,
        ready: BTreeSet<String>,
    ) -> Self {
        assert!(
            next_seq > REBUILT_SEQ,
            "flushed runs are newer than rebuilt ones"
        );
        Self {
            config,
            buckets: RefCell::new(buckets),
            next_seq: Cell::new(next_seq),
            memtable_bytes: Cell::new(0),
            complete: Cell::new(complete),
            ready: RefCell::new(ready),
            flushing: Mutex::new(()),
            compacting: Cell::new(false),
            files_stale: Cell::new(false),
        }
    }

    /// Opens the drive's index: loads it if the last stop saved it cleanly (then
    /// removes the marker), else throws it away (every bucket needs a rebuild).
    pub async fn open(drive: &D, config: IndexConfig) -> IndexResult<(Self, Opened)> {
        match drive.read_file(CLEAN_PATH).await {
            Ok(bytes) => {
                if let Ok(loaded) = Self::load(drive, config, &bytes).await {
                    drive.remove_file(CLEAN_PATH).await?;
                    return Ok((loaded, Opened::Clean));
                }
            }
            Err(DriveError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        Self::discard(drive).await?;
        let index = Self::with(config, BTreeMap::new(), 1, false, BTreeSet::new());
        Ok((index, Opened::NeedsRebuild))
    }

    /// Removes everything under the index folder. The folder is first renamed under
    /// `.shoal/tmp/` (durably) so no run of it can reappear after a crash.
    async fn discard(drive: &D) -> IndexResult<()> {
        let discarded = format!("{TMP_DIR}/index.discarded");
        not_found_is_ok(drive.remove_dir_all(&discarded).await)?;
        not_found_is_ok(drive.rename(INDEX_DIR, &discarded).await)?;
        not_found_is_ok(drive.remove_dir_all(&discarded).await)
    }

    async fn load(drive: &D, config: IndexConfig, clean: &[u8]) -> IndexResult<Self> {
        let (complete, ready) = decode_clean(clean)?;
        let mut buckets = BTreeMap::new();
        let mut next_seq = 1;
        for dir in drive.list_dir(INDEX_DIR).await? {
            if !dir.is_dir {
                continue;
            }
            let bucket = hex::decode(&dir.name)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(IndexError::Corrupt(DecodeError::Invalid(
                    "bucket folder name",
                )))?;
            if !complete && !ready.contains(&bucket) {
                drive.remove_dir_all(&bucket_dir(&bucket)).await?;
                continue;
            }
            let runs = Self::load_runs(drive, &bucket).await?;
            next_seq = runs.iter().map(|r| r.seq + 1).fold(next_seq, u64::max);
            buckets.insert(bucket, Rc::new(BucketIndex::new(runs)));
        }
        Ok(Self::with(config, buckets, next_seq, complete, ready))
    }

    /// A bucket's runs, newest first.
    async fn load_runs(drive: &D, bucket: &str) -> IndexResult<Vec<Rc<Run<D>>>> {
        let dir = bucket_dir(bucket);
        let mut runs = Vec::new();
        for file in drive.list_dir(&dir).await? {
            let seq = file
                .name
                .strip_prefix("run.")
                .filter(|s| s.len() == 16)
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or(IndexError::Corrupt(DecodeError::Invalid("run file name")))?;
            runs.push(Rc::new(
                Run::open(drive, format!("{dir}/{}", file.name), seq).await?,
            ));
        }
        runs.sort_by_key(|run| std::cmp::Reverse(run.seq));
        Ok(runs)
    }

    /// Whether `bucket`'s index holds every key the drive has (else a listing must
    /// walk the records, and a rebuild is due).
    pub fn is_ready(&self, bucket: &str) -> bool {
        self.complete.get() || self.ready.borrow().contains(bucket)
    }

    fn bucket(&self, bucket: &str) -> Rc<BucketIndex<D>> {
        let mut buckets = self.buckets.borrow_mut();
        let index = buckets
            .entry(bucket.to_owned())
            .or_insert_with(|| Rc::new(BucketIndex::new(Vec::new())));
        Rc::clone(index)
    }

    /// Records the newest entry of `key` (after its `meta` changed on this drive).
    pub fn apply(&self, bucket: &str, key: &str, entry: Option<KeySummary>) {
        let index = self.bucket(bucket);
        let (added, freed) = index.apply(key, entry);
        self.memtable_bytes
            .set(self.memtable_bytes.get() + added - freed);
        if index.live_len() >= self.config.bucket_memtable_entries_max
            || index.live_bytes() >= self.config.bucket_memtable_bytes_max
        {
            self.freeze(&index);
        }
        if self.over_budget() {
            self.freeze_largest();
        }
    }

    fn freeze(&self, index: &BucketIndex<D>) -> Option<Rc<Frozen>> {
        let frozen = index.freeze(self.next_seq.get())?;
        self.next_seq.set(self.next_seq.get() + 1);
        Some(frozen)
    }

    /// Freezes live memtables, largest first, until the live ones hold at most half
    /// the drive's bound, so the next `flush` brings the drive under it.
    fn freeze_largest(&self) {
        let mut live: Vec<(usize, Rc<BucketIndex<D>>)> = self
            .buckets
            .borrow()
            .values()
            .map(|b| (b.live_bytes(), Rc::clone(b)))
            .collect();
        live.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
        let mut live_bytes: usize = live.iter().map(|(bytes, _)| bytes).sum();
        for (bytes, index) in live {
            if live_bytes <= self.config.drive_memtable_bytes_max / 2 {
                break;
            }
            self.freeze(&index);
            live_bytes -= bytes;
        }
    }

    /// Memtables hold more than the drive's bound: the caller awaits `flush`.
    pub fn over_budget(&self) -> bool {
        self.memtable_bytes.get() > self.config.drive_memtable_bytes_max
    }

    /// Frozen memtables wait to be written.
    pub fn flush_needed(&self) -> bool {
        self.buckets
            .borrow()
            .values()
            .any(|b| !b.layers.borrow().frozen.is_empty())
    }

    /// Bytes of live and frozen memtables (tests check the bound).
    pub fn memtable_bytes(&self) -> usize {
        self.memtable_bytes.get()
    }

    /// Writes every frozen memtable as a run, oldest first.
    pub async fn flush(&self, drive: &D) -> IndexResult<()> {
        let _flushing = self.flushing.lock().await;
        // Bounded: each pass writes what is frozen now; later freezes wait for the next.
        let pending: Vec<(String, Rc<BucketIndex<D>>, Rc<Frozen>)> = self
            .buckets
            .borrow()
            .iter()
            .flat_map(|(name, index)| {
                let frozen: Vec<Rc<Frozen>> = index.layers.borrow().frozen.clone();
                frozen
                    .into_iter()
                    .rev()
                    .map(move |f| (name.clone(), Rc::clone(index), f))
            })
            .collect();
        for (bucket, index, frozen) in pending {
            let run = self.write_frozen(drive, &bucket, &frozen).await?;
            index.install_flushed(Rc::new(run));
            self.memtable_bytes
                .set(self.memtable_bytes.get() - frozen.bytes);
        }
        Ok(())
    }

    async fn write_frozen(&self, drive: &D, bucket: &str, frozen: &Frozen) -> IndexResult<Run<D>> {
        let tmp = tmp_run_path(bucket, frozen.seq);
        let path = run_path(bucket, frozen.seq);
        let mut writer = RunWriter::create(drive, tmp.clone()).await?;
        let written = async {
            for (key, entry) in &frozen.entries {
                writer.push(key, entry.as_ref()).await?;
            }
            writer.finish(&path).await
        }
        .await;
        if let Err(e) = written {
            let _ = drive.remove_file(&tmp).await;
            return Err(e);
        }
        Run::open(drive, path, frozen.seq).await
    }

    /// The next `limit` keys of `bucket` with `prefix`, from `start`, whose newest
    /// entry on this drive is a summary (tombstones included: they are data).
    pub async fn batch(
        &self,
        drive: &D,
        bucket: &str,
        start: Start<'_>,
        prefix: &str,
        limit: usize,
    ) -> IndexResult<Vec<(String, KeySummary)>> {
        if !self.is_ready(bucket) {
            return Err(IndexError::NotReady);
        }
        let index = self.buckets.borrow().get(bucket).cloned();
        match index {
            Some(index) => index.batch(drive, start, prefix, limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// The buckets the index holds anything of.
    pub fn bucket_names(&self) -> Vec<String> {
        self.buckets.borrow().keys().cloned().collect()
    }

    /// Calls `bucket`'s index whole: it was made just now, with nothing in it.
    pub fn mark_ready(&self, bucket: &str) {
        if !self.complete.get() {
            self.ready.borrow_mut().insert(bucket.to_owned());
        }
    }

    /// Forgets what the index holds of `bucket` and calls it not whole, so listings
    /// walk its records until it is rebuilt: a change of its records was not seen.
    pub async fn forget(&self, drive: &D, bucket: &str) -> IndexResult<()> {
        if self.complete.replace(false) {
            let others = self.buckets.borrow().keys().cloned().collect();
            *self.ready.borrow_mut() = others;
        }
        self.drop_bucket(drive, bucket).await
    }

    /// Forgets a removed bucket and its runs.
    pub async fn drop_bucket(&self, drive: &D, bucket: &str) -> IndexResult<()> {
        let _flushing = self.flushing.lock().await;
        if let Some(index) = self.buckets.borrow_mut().remove(bucket) {
            let layers = index.layers.borrow();
            let bytes = layers.live_bytes + layers.frozen.iter().map(|f| f.bytes).sum::<usize>();
            self.memtable_bytes.set(self.memtable_bytes.get() - bytes);
        }
        self.ready.borrow_mut().remove(bucket);
        not_found_is_ok(drive.remove_dir_all(&bucket_dir(bucket)).await)
    }

    /// Writes every memtable out and marks the index clean, the marker last: for a
    /// stop. Applies after it are lost to the next start (which then finds the marker
    /// and trusts a stale index), so the caller stops applying first.
    pub async fn save(&self, drive: &D) -> IndexResult<()> {
        let buckets: Vec<Rc<BucketIndex<D>>> = self.buckets.borrow().values().cloned().collect();
        for index in buckets {
            self.freeze(&index);
        }
        self.flush(drive).await?;
        if self.files_stale.get() {
            return Err(IndexError::Drive(DriveError::Io(std::io::Error::other(
                "a merged run could not be removed",
            ))));
        }
        let record = encode_clean(self.complete.get(), &self.ready.borrow());
        Ok(drive.write_file_atomic(CLEAN_PATH, &record).await?)
    }

    /// Merges the runs of every bucket that has more than `runs_max` into one, so a
    /// batch reads one block per run from few runs. Tombstones are dropped only when
    /// the bucket is ready: then no rebuilt run can come under the merged one. A second
    /// call while one runs returns at once.
    pub async fn compact(&self, drive: &D, runs_max: usize) -> IndexResult<()> {
        if self.compacting.replace(true) {
            return Ok(());
        }
        let due: Vec<(String, Rc<BucketIndex<D>>)> = self
            .buckets
            .borrow()
            .iter()
            .filter(|(_, index)| index.layers.borrow().runs.len() > runs_max.max(1))
            .map(|(name, index)| (name.clone(), Rc::clone(index)))
            .collect();
        let mut result = Ok(());
        for (bucket, index) in due {
            result = self.compact_bucket(drive, &bucket, &index).await;
            if result.is_err() {
                break;
            }
        }
        self.compacting.set(false);
        result
    }

    async fn compact_bucket(
        &self,
        drive: &D,
        bucket: &str,
        index: &Rc<BucketIndex<D>>,
    ) -> IndexResult<()> {
        let runs: Vec<Rc<Run<D>>> = index.layers.borrow().runs.clone();
        let seq = runs.first().expect("a bucket due has runs").seq;
        let drop_tombstones = self.is_ready(bucket);
        let tmp = format!("{}.merged", tmp_run_path(bucket, seq));
        let mut writer = RunWriter::create(drive, tmp.clone()).await?;
        let mut merge = Merge::new(&[], &runs, Start::After(""), "");
        let merged = async {
            while let Some((key, entry)) = merge.next_entry(drive).await? {
                if entry.is_some() || !drop_tombstones {
                    writer.push(&key, entry.as_ref()).await?;
                }
            }
            IndexResult::Ok(())
        }
        .await;
        if let Err(e) = merged {
            let _ = drive.remove_file(&tmp).await;
            return Err(e);
        }
        let _installing = self.flushing.lock().await;
        let still_there = (self.buckets.borrow().get(bucket)).is_some_and(|b| Rc::ptr_eq(b, index));
        if !still_there {
            drop(writer);
            return not_found_is_ok(drive.remove_file(&tmp).await);
        }
        // Over the newest merged run's file: readers holding it keep their descriptor.
        let path = run_path(bucket, seq);
        writer.finish(&path).await?;
        index.replace_runs(&runs, Rc::new(Run::open(drive, path, seq).await?));
        for old in &runs[1..] {
            if let Err(e) = drive.remove_file(&old.path).await {
                self.files_stale.set(true);
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// Starts rebuilding `bucket` from a walk of its records in key order; the run it
    /// writes becomes the oldest layer, under every `apply` made meanwhile.
    pub async fn begin_rebuild<'d>(
        &self,
        drive: &'d D,
        bucket: &str,
    ) -> IndexResult<RebuildWriter<'d, D>> {
        assert!(
            !self.is_ready(bucket),
            "rebuilding a bucket whose index is whole"
        );
        let writer = RunWriter::create(drive, tmp_run_path(bucket, REBUILT_SEQ)).await?;
        Ok(RebuildWriter {
            drive,
            bucket: bucket.to_owned(),
            writer,
        })
    }
}

/// A rebuild in progress: entries in key order, then `finish`.
pub struct RebuildWriter<'d, D: Drive> {
    drive: &'d D,
    bucket: String,
    writer: RunWriter<'d, D>,
}

impl<D: Drive> RebuildWriter<'_, D> {
    /// The next key of the walk (keys strictly increase).
    pub async fn push(&mut self, key: &str, summary: &KeySummary) -> IndexResult<()> {
        self.writer.push(key, Some(summary)).await
    }

    /// Installs the run under the bucket's other layers; the bucket is ready.
    pub async fn finish(self, index: &DriveIndex<D>) -> IndexResult<()> {
        let path = run_path(&self.bucket, REBUILT_SEQ);
        self.writer.finish(&path).await?;
        let run = Run::open(self.drive, path, REBUILT_SEQ).await?;
        index.bucket(&self.bucket).install_oldest(Rc::new(run));
        index.ready.borrow_mut().insert(self.bucket);
        Ok(())
    }
}

fn encode_clean(complete: bool, ready: &BTreeSet<String>) -> Vec<u8> {
    let mut writer = Writer::default();
    writer.u8(u8::from(complete));
    writer.u32(u32::try_from(ready.len()).expect("buckets per drive fit in u32"));
    for bucket in ready {
        writer.str(bucket);
    }
    writer.finish(CLEAN_MAGIC, CLEAN_VERSION)
}

/// The clean marker: whether every bucket is whole, else which buckets are.
pub fn decode_clean(bytes: &[u8]) -> Result<(bool, BTreeSet<String>), DecodeError> {
    let (version, mut reader) = open_record(bytes, CLEAN_MAGIC)?;
    if version != CLEAN_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let complete = match reader.u8()? {
        0 => false,
        1 => true,
        _ => return Err(DecodeError::Invalid("complete flag")),
    };
    let count = reader.u32()?;
    let mut ready = BTreeSet::new();
    for _ in 0..count {
        ready.insert(reader.str()?.to_owned());
    }
    reader.finish()?;
    Ok((complete, ready))
}

/// Feeds untrusted bytes to every decoder of the index (the fuzz target `index_run`):
/// a whole run, a block made valid around the bytes (so entries are reached past the
/// checksum), bare entries, and the clean marker. Never panics.
pub fn fuzz_index_decoders(data: &[u8]) {
    let _ = run::decode_run(data);
    let _ = run::RunHeader::decode(data);
    let _ = decode_clean(data);
    let mut reader = Reader::new(data);
    let mut previous = String::new();
    let mut count = 0u32;
    while let Ok((key, _)) = entry::decode_entry(&mut reader, &previous) {
        previous = key;
        count += 1;
    }
    let mut block = Vec::with_capacity(data.len() + 10);
    block.extend_from_slice(&run::RUN_FORMAT_VERSION.to_le_bytes());
    block.extend_from_slice(&count.to_le_bytes());
    block.extend_from_slice(data);
    let crc = run::crc32c(&block);
    block.extend_from_slice(&crc.to_le_bytes());
    let mut first = Reader::new(data);
    let first_key = entry::decode_entry(&mut first, "").map_or(String::new(), |(k, _)| k);
    let handle = run::BlockHandle {
        first_key,
        offset: run::HEADER_LEN_BYTES as u64,
        len_bytes: u32::try_from(block.len()).unwrap_or(u32::MAX),
        entries_count: count,
    };
    let _ = run::decode_block(&block, &handle);
}
