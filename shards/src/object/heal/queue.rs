//! The heal queue of one shard: objects found damaged (by a read, by a write or delete
//! that reached write quorum but not every member, by the scanner), healed one at a
//! time by a background task (`Store::run_heal_queue`) at a bounded rate.
//!
//! Bounded (`HEAL_QUEUE_MAX`; beyond it reports are dropped and counted: the scanner
//! finds them again), first in first out, each object once.
//!
//! Persisted so a restart does not forget it, in journal files on one drive of this
//! node (the first online one): `DRIVE/.shoal/heal/q<shard>-<seq, 16 hex>`, each a
//! framed record (`codec.rs`, magic `shoalhq1`) listing objects added since the last
//! one, written whole by `write_file_atomic` at most once per `JOURNAL_INTERVAL`. An
//! object healed stays in its file until the queue is empty, then every file of the
//! shard goes: a crash mid-heal finds it again at start (healing twice is harmless).
//! Past `JOURNAL_FILES_MAX` files the queue is written anew and the old files removed.
//! At start each shard reads its own files from every drive of this node.

use std::cell::{Cell, RefCell};
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use shoal_io::{Clock, Drive, Env};

use crate::member::SetMember;
use crate::object::heal::{HealOptions, HealOutcome};
use crate::object::store::Store;
use crate::record::codec::{DecodeError, Reader, Writer, open_record};

/// How many objects may wait for healing before new reports are dropped (they are
/// found again by the next scan).
pub const HEAL_QUEUE_MAX: usize = 100_000;

/// Where the journal files live on a drive.
pub const HEAL_DIR: &str = ".shoal/heal";

const JOURNAL_MAGIC: &[u8; 8] = b"shoalhq1";
const JOURNAL_VERSION: u16 = 1;
/// Largest journal file body (below the codec's record limit).
const JOURNAL_BODY_MAX_BYTES: usize = 2 << 20;
/// Journal files of one shard before the queue is written anew.
const JOURNAL_FILES_MAX: usize = 16;
/// How often new entries are written to the journal, at most.
pub const JOURNAL_INTERVAL: Duration = Duration::from_secs(1);
/// The drain's pause between two objects (bounds its share of the drives).
pub const HEAL_PAUSE: Duration = Duration::from_millis(20);
/// The drain's wait when the queue is empty.
pub const HEAL_IDLE: Duration = Duration::from_millis(500);

/// What a shard's heal queue did since start (the metrics read it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealCounts {
    /// Objects accepted into the queue.
    pub queued: u64,
    /// Reports dropped because the queue was full.
    pub dropped: u64,
    /// Objects healed (damage found and repaired).
    pub healed: u64,
    /// Objects found whole (nothing to do).
    pub healthy: u64,
    /// Heals that failed or left damage (a member down or refusing).
    pub failed: u64,
    /// Objects whose data could not be rebuilt (more than parity lost).
    pub unreadable: u64,
    /// Objects waiting now.
    pub backlog: u64,
    /// Chunk record bytes healing read (to judge and to rebuild) and wrote (rebuilt
    /// part files), whoever asked for the heal (`heal/pace.rs` holds them to the rate).
    pub bytes_read: u64,
    pub bytes_written: u64,
}

/// The queue and its journal.
#[derive(Default)]
pub(crate) struct HealQueue {
    order: RefCell<VecDeque<(String, String)>>,
    members: RefCell<HashSet<(String, String)>>,
    /// Added since the journal was last written.
    fresh: RefCell<Vec<(String, String)>>,
    /// This shard's journal files (drive index, path); `None`: not persisted.
    journal: RefCell<Option<Journal>>,
    /// The object being healed now (reports of it are not queued again).
    healing: RefCell<Option<(String, String)>>,
    counts: Cell<HealCounts>,
    last_written_nanos: Cell<u64>,
}

struct Journal {
    shard: usize,
    next_seq: u64,
    files: Vec<(usize, String)>,
}

impl HealQueue {
    /// Adds an object unless it waits already, is being healed, or the queue is full.
    pub(crate) fn push(&self, bucket: &str, key: &str) {
        let entry = (bucket.to_owned(), key.to_owned());
        if self.healing.borrow().as_ref() == Some(&entry) || self.members.borrow().contains(&entry)
        {
            return;
        }
        let mut counts = self.counts.get();
        if self.order.borrow().len() >= HEAL_QUEUE_MAX {
            counts.dropped += 1;
        } else {
            counts.queued += 1;
            self.members.borrow_mut().insert(entry.clone());
            if self.journal.borrow().is_some() {
                self.fresh.borrow_mut().push(entry.clone());
            }
            self.order.borrow_mut().push_back(entry);
        }
        self.counts.set(counts);
    }

    fn pop(&self) -> Option<(String, String)> {
        let entry = self.order.borrow_mut().pop_front()?;
        self.members.borrow_mut().remove(&entry);
        Some(entry)
    }

    pub(crate) fn entries(&self) -> Vec<(String, String)> {
        self.order.borrow().iter().cloned().collect()
    }

    pub(crate) fn counts(&self) -> HealCounts {
        let mut counts = self.counts.get();
        counts.backlog = self.order.borrow().len() as u64;
        counts
    }

    pub(crate) fn count(&self, change: impl FnOnce(&mut HealCounts)) {
        let mut counts = self.counts.get();
        change(&mut counts);
        self.counts.set(counts);
    }
}

/// Journal records of `entries`, each body at most `JOURNAL_BODY_MAX_BYTES`.
fn encode_journal(entries: &[(String, String)]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start;
        let mut body_bytes = 4;
        while end < entries.len() {
            let (bucket, key) = &entries[end];
            let entry_bytes = 8 + bucket.len() + key.len();
            if end > start && body_bytes + entry_bytes > JOURNAL_BODY_MAX_BYTES {
                break;
            }
            body_bytes += entry_bytes;
            end += 1;
        }
        let mut writer = Writer::default();
        writer.u32(u32::try_from(end - start).unwrap_or(u32::MAX));
        for (bucket, key) in &entries[start..end] {
            writer.str(bucket).str(key);
        }
        records.push(writer.finish(JOURNAL_MAGIC, JOURNAL_VERSION));
        start = end;
    }
    records
}

/// The objects a journal record lists.
pub fn decode_journal(bytes: &[u8]) -> Result<Vec<(String, String)>, DecodeError> {
    let (version, mut reader): (u16, Reader<'_>) = open_record(bytes, JOURNAL_MAGIC)?;
    if version != JOURNAL_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let count = reader.u32()? as usize;
    let mut entries = Vec::with_capacity(count.min(HEAL_QUEUE_MAX));
    for _ in 0..count {
        let bucket = reader.str()?.to_owned();
        let key = reader.str()?.to_owned();
        entries.push((bucket, key));
    }
    reader.finish()?;
    Ok(entries)
}

/// The shard's journal file name prefix.
fn journal_prefix(shard: usize) -> String {
    format!("q{shard}-")
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Persists this shard's heal queue (as shard `shard` of the node) and loads what
    /// an earlier run left queued. Files that cannot be read or decoded are skipped
    /// (and removed with the others once the queue is empty).
    pub async fn load_heal_journal(&self, shard: usize) {
        let prefix = journal_prefix(shard);
        let mut files = Vec::new();
        let mut next_seq = 0;
        let mut found = Vec::new();
        for (index, member) in self.members.iter().enumerate() {
            let Some(drive) = member.drive() else {
                continue;
            };
            let Ok(entries) = drive.list_dir(HEAL_DIR).await else {
                continue;
            };
            for entry in entries.iter().filter(|e| e.name.starts_with(&prefix)) {
                let path = format!("{HEAL_DIR}/{}", entry.name);
                let seq = u64::from_str_radix(&entry.name[prefix.len()..], 16).unwrap_or(0);
                next_seq = next_seq.max(seq + 1);
                if let Ok(bytes) = drive.read_file(&path).await
                    && let Ok(entries) = decode_journal(&bytes)
                {
                    found.extend(entries);
                }
                files.push((index, path));
            }
        }
        *self.heal.journal.borrow_mut() = Some(Journal {
            shard,
            next_seq,
            files,
        });
        for (bucket, key) in found {
            self.heal.push(&bucket, &key);
        }
        // Already in the files: not written again.
        self.heal.fresh.borrow_mut().clear();
    }

    /// Writes what was queued since the last call to the journal; once the queue is
    /// empty, removes the journal's files. Best effort: a drive that refuses leaves
    /// the queue in memory only (the scanner finds damage again).
    pub async fn write_heal_journal(&self) {
        if self.heal.journal.borrow().is_none() {
            return;
        }
        if self.heal.order.borrow().is_empty() {
            self.heal.fresh.borrow_mut().clear();
            self.clear_journal().await;
            return;
        }
        let too_many = self
            .heal
            .journal
            .borrow()
            .as_ref()
            .is_some_and(|j| j.files.len() >= JOURNAL_FILES_MAX);
        let entries = if too_many {
            self.heal.fresh.borrow_mut().clear();
            self.heal.entries()
        } else {
            std::mem::take(&mut *self.heal.fresh.borrow_mut())
        };
        if entries.is_empty() {
            return;
        }
        let old = if too_many {
            self.heal
                .journal
                .borrow_mut()
                .as_mut()
                .map(|j| std::mem::take(&mut j.files))
                .unwrap_or_default()
        } else {
            Vec::new()
        };
        for record in encode_journal(&entries) {
            self.write_journal_file(&record).await;
        }
        self.remove_journal_files(old).await;
    }

    async fn write_journal_file(&self, record: &[u8]) {
        let offline = self.offline_drives();
        let target = self.members.iter().enumerate().find(|(_, m)| {
            m.drive().is_some() && !offline.iter().any(|(name, _)| name == m.name())
        });
        let Some((index, member)) = target else {
            return;
        };
        let Some(drive) = member.drive() else {
            return;
        };
        let path = {
            let mut journal = self.heal.journal.borrow_mut();
            let Some(journal) = journal.as_mut() else {
                return;
            };
            let path = format!(
                "{HEAL_DIR}/{}{:016x}",
                journal_prefix(journal.shard),
                journal.next_seq
            );
            journal.next_seq += 1;
            path
        };
        if drive.write_file_atomic(&path, record).await.is_ok()
            && let Some(journal) = self.heal.journal.borrow_mut().as_mut()
        {
            journal.files.push((index, path));
        }
    }

    async fn clear_journal(&self) {
        let files = self
            .heal
            .journal
            .borrow_mut()
            .as_mut()
            .map(|j| std::mem::take(&mut j.files))
            .unwrap_or_default();
        self.remove_journal_files(files).await;
    }

    async fn remove_journal_files(&self, files: Vec<(usize, String)>) {
        for (index, path) in files {
            if let Some(drive) = self.members[index].drive() {
                let _ = drive.remove_file(&path).await;
            }
        }
    }

    /// Heals the next queued object (deeply: it was reported damaged); `false` when
    /// the queue was empty.
    pub async fn heal_next(&self) -> bool {
        let Some((bucket, key)) = self.heal.pop() else {
            return false;
        };
        *self.heal.healing.borrow_mut() = Some((bucket.clone(), key.clone()));
        let options = HealOptions {
            dry_run: false,
            deep: true,
        };
        let result = self.heal_object(&bucket, &key, options).await;
        *self.heal.healing.borrow_mut() = None;
        self.heal
            .count(|c| match result.as_ref().map(|r| &r.outcome) {
                Ok(HealOutcome::Healed) => c.healed += 1,
                Ok(HealOutcome::Healthy | HealOutcome::Absent | HealOutcome::Deleted) => {
                    c.healthy += 1;
                }
                Ok(HealOutcome::Unreadable) => c.unreadable += 1,
                Ok(HealOutcome::Partial | HealOutcome::Damaged) | Err(_) => c.failed += 1,
            });
        match result {
            Ok(report) if report.outcome != HealOutcome::Healthy => {
                tracing::info!(
                    bucket = %bucket,
                    key = %key,
                    outcome = ?report.outcome,
                    bytes_written = report.bytes_written,
                    "heal: {bucket}/{key}: {:?}",
                    report.outcome
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(bucket = %bucket, key = %key, "heal: {bucket}/{key} failed: {e}");
            }
        }
        true
    }

    /// Drains the heal queue until `stopping` says so: one object at a time, a pause
    /// between objects, a longer one while the queue is empty; the journal written at
    /// most once per `JOURNAL_INTERVAL`. The server runs one per shard.
    pub async fn run_heal_queue(&self, stopping: impl Fn() -> bool) {
        while !stopping() {
            let now = self.env.monotonic_nanos();
            let interval = u64::try_from(JOURNAL_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
            if now.saturating_sub(self.heal.last_written_nanos.get()) >= interval {
                self.heal.last_written_nanos.set(now);
                self.write_heal_journal().await;
            }
            if stopping() {
                return;
            }
            let pause = if self.heal_next().await {
                HEAL_PAUSE
            } else {
                HEAL_IDLE
            };
            self.env.sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Journal records give back the entries they were made of, split where large,
    /// and a damaged record is refused.
    #[test]
    fn journal_round_trip() {
        let entries: Vec<(String, String)> = (0..3000)
            .map(|i| ("bkt".to_owned(), format!("{i:01000}")))
            .collect();
        let records = encode_journal(&entries);
        assert!(records.len() > 1, "split past the body limit");
        let back: Vec<(String, String)> = records
            .iter()
            .flat_map(|r| decode_journal(r).expect("decodes"))
            .collect();
        assert_eq!(back, entries);
        let mut bad = records[0].clone();
        bad[20] ^= 1;
        assert!(decode_journal(&bad).is_err());
    }

    /// The queue keeps each object once, in order, and counts what it drops when full.
    #[test]
    fn queue_dedups_and_bounds() {
        let queue = HealQueue::default();
        queue.push("b", "k1");
        queue.push("b", "k2");
        queue.push("b", "k1");
        assert_eq!(queue.entries().len(), 2);
        assert_eq!(queue.pop(), Some(("b".to_owned(), "k1".to_owned())));
        assert_eq!(queue.counts().queued, 2);
        for i in 0..HEAL_QUEUE_MAX + 5 {
            queue.push("b", &format!("x{i}"));
        }
        assert_eq!(queue.entries().len(), HEAL_QUEUE_MAX);
        assert!(queue.counts().dropped >= 5);
    }
}
