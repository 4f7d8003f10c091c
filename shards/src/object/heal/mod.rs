//! Healing one object: bring every member of its set back to the version the set
//! agrees on, whole (`Store::heal_object`), and the queue of objects waiting for it
//! (`queue.rs`, drained by a background task per shard).
//!
//! Under the bucket's lock (shared) and the key's lock, as a commit: every member's
//! record is read, the version is the one the vote rule agrees on (`quorum.rs`), and
//! each member is judged: its record (agreed, missing, stale, corrupt, newer, failed)
//! and, for a version whose chunks live in part files, its data (every record read and
//! its CRC checked for its owner and place, `data.rs`). Then, only what is missing is
//! written: rebuilt part files are staged and installed into the version's folder
//! (`WriteVerbs::install_data`), then the record is written (`roll_forward`, which also
//! gives an inline version each member's own chunk).
//!
//! Invariants:
//! - Never a newer version overwritten: a member holding a version newer than the
//!   agreed one is left alone, and every write is fenced on the record the read found
//!   (`Expect`) and on the key's lease (`Fence`), confirmed before each step.
//! - Never a deleted version back: when no version is agreed nothing is written; when
//!   the agreed version is a tombstone only tombstones are written (then removed, as a
//!   delete does, once every member holds one), never data.
//! - Never a chunk that was not verified: a rebuilt chunk comes from chunks whose CRC
//!   matched; a stripe with fewer than data-chunks of them makes the object
//!   unreadable, and then nothing is changed.
//! - `dry_run` reads and judges, and writes nothing.
//!
//! Costs: the chunk bytes a heal reads and writes are charged, stripe by stripe, to
//! the shard's healing account at the node's `heal-bytes-per-second` (`pace.rs`: at
//! most `LOCKED_WAIT_MAX` slept under the key's lock per object, the rest after the
//! locks are released); its buffers (one stripe's records and chunks per member, one
//! staging buffer per member rebuilt) are paid for by a grant of the shard's memory
//! budget, taken before the locks and waited for behind requests
//! (`MemoryBudget::grant_background`), never refused.

mod data;
pub mod pace;
pub mod queue;

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::SetMember;
use crate::member::keypath::validate_key;
use crate::member::verbs::write::fingerprint;
use crate::object::heal::pace::ObjectPace;
use crate::object::quorum::{Agreed, MetaCopy, MetaRead};
use crate::object::store::Store;
use crate::record::meta::ObjectInfo;
use crate::set::shard_lock::LockGuard;

pub use pace::HealPace;
pub use queue::HealCounts;

/// How `heal_object` works.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealOptions {
    /// Judge and report, change nothing.
    pub dry_run: bool,
    /// Read and verify every chunk of every member even when the records agree and
    /// every member holds the version's files.
    pub deep: bool,
}

/// What became of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealOutcome {
    /// Every member that answered holds the agreed version whole (as far as it was
    /// read: all of it when `deep` or when anything looked amiss): nothing was written.
    /// A member that did not answer is `MetaFound::Failed` in the report.
    Healthy,
    /// Damage was found and every damaged member that could be written was repaired.
    Healed,
    /// Damage was found, and some of it is left (a member failed or refused): a later
    /// heal may finish it.
    Partial,
    /// A dry run found damage; nothing was changed.
    Damaged,
    /// No version is agreed (absent, or the bucket is gone): nothing was written.
    Absent,
    /// The agreed version is a delete's tombstone: tombstones were completed (and
    /// removed once on every member); no data was written.
    Deleted,
    /// Some stripe has fewer verified chunks than data chunks on all the members: the
    /// data cannot be rebuilt, and nothing was changed.
    Unreadable,
}

/// What a member's metadata record was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaFound {
    /// The agreed version.
    Agreed,
    /// No record.
    Missing,
    /// An older version.
    Stale,
    /// Unreadable, or not this key's or this position's record.
    Corrupt,
    /// A version newer than the agreed one (left alone).
    Newer,
    /// The member did not answer.
    Failed,
}

/// What a member's data of the agreed version was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFound {
    /// Not read: the records agree and every file is there (not `deep`), the version
    /// keeps its chunks inline or has none, or the member was left alone.
    NotChecked,
    /// Every record read back and verified.
    Whole,
    /// Some part file is missing.
    Missing,
    /// Some record is short or fails its checksum.
    Corrupt,
    /// The member failed while being read.
    Failed,
}

/// One member: what was found and what was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberHeal {
    /// The member's name (its drive, or a peer's drive).
    pub member: String,
    pub meta: MetaFound,
    pub data: DataFound,
    /// Part files rebuilt and installed.
    pub files_written: usize,
    /// Its metadata record was written.
    pub meta_written: bool,
    /// Why a repair it needed was not made.
    pub error: Option<String>,
}

impl MemberHeal {
    /// Whether the member needs a repair: a record or data of the agreed version
    /// missing or bad (a member holding a newer version, or whose record could not be
    /// read, is left alone).
    pub fn damaged(&self) -> bool {
        if matches!(self.meta, MetaFound::Newer | MetaFound::Failed) {
            return false;
        }
        matches!(
            self.meta,
            MetaFound::Missing | MetaFound::Stale | MetaFound::Corrupt
        ) || matches!(self.data, DataFound::Missing | DataFound::Corrupt)
    }

    fn repaired(&self) -> bool {
        self.error.is_none()
    }
}

/// What `heal_object` found and did, per member in set order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealReport {
    pub bucket: String,
    pub key: String,
    /// The agreed version (a tombstone's id for a deleted key); `None`: none agreed.
    pub version_id: Option<[u8; 16]>,
    pub outcome: HealOutcome,
    pub members: Vec<MemberHeal>,
    /// Bytes of part files written (rebuilt records).
    pub bytes_written: u64,
}

impl HealReport {
    /// Whether anything was written.
    pub fn changed(&self) -> bool {
        self.members
            .iter()
            .any(|m| m.meta_written || m.files_written > 0)
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Heals `bucket/key` (see the module's text): per member, the agreed version's
    /// record and data written where missing, stale or corrupt. `Err` when the version
    /// cannot be decided now (a quorum error), or members failed in ways that prove
    /// nothing while the data looked lost.
    pub async fn heal_object(
        &self,
        bucket: &str,
        key: &str,
        options: HealOptions,
    ) -> Result<HealReport> {
        validate_key(key)?;
        // Before any lock: what the shard's healing owes is paid, and the buffers'
        // memory granted (behind the requests that wait for it).
        self.heal_account.settle(&self.env, &self.heal_pace).await;
        let grant = (self.memory)
            .grant_background(self.heal_buffers_bytes(), &self.env)
            .await;
        let result = self.heal_locked(bucket, key, options).await;
        drop(grant);
        self.heal_account.settle(&self.env, &self.heal_pace).await;
        result
    }

    /// `heal_object` under the bucket's and the key's locks.
    async fn heal_locked(
        &self,
        bucket: &str,
        key: &str,
        options: HealOptions,
    ) -> Result<HealReport> {
        let mut report = HealReport {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: None,
            outcome: HealOutcome::Absent,
            members: Vec::new(),
            bytes_written: 0,
        };
        // Writing into the bucket: its lock (shared), then the key's, as a commit.
        let bucket_guard = match self.lock_bucket_for_write(bucket).await {
            Ok(guard) => guard,
            Err(Error::NoSuchBucket) => return Ok(report),
            Err(e) => return Err(e),
        };
        let guard = self.lock_object(bucket, key).await;
        let pace = ObjectPace::default();
        let guards = Guards {
            bucket: &bucket_guard,
            key: &guard,
            pace: &pace,
        };
        let read = self.read_metas(bucket, key).await;
        let agreed = match read.agreed(self.set_layout().read_quorum()) {
            Ok(agreed) => agreed,
            // Absence on quorum wins: no version is written back.
            Err(Error::NoSuchKey) => return Ok(report),
            Err(e) => return Err(e),
        };
        report.version_id = Some(agreed.info.version_id);
        report.members = self.judge_members(&read, &agreed.info);
        if agreed.info.tombstone {
            self.heal_tombstone(
                (bucket, key),
                &read,
                &agreed,
                (&mut report, guards),
                options,
            )
            .await?;
            return Ok(report);
        }
        self.heal_version((bucket, key), read, &agreed, (&mut report, guards), options)
            .await?;
        Ok(report)
    }

    /// Each member's record judged against the agreed version `info`.
    fn judge_members(&self, read: &MetaRead, info: &ObjectInfo) -> Vec<MemberHeal> {
        let placement = self.placement(&info.bucket, &info.key);
        let members = self.set_members(placement.set_index);
        let order = |i: &ObjectInfo| (i.mod_time_unix_nanos, i.meta_generation);
        read.copies
            .iter()
            .zip(members)
            .map(|(copy, member)| {
                let meta = match copy {
                    MetaCopy::Valid(m) if m.info == *info => MetaFound::Agreed,
                    MetaCopy::Valid(m) if order(&m.info) > order(info) => MetaFound::Newer,
                    MetaCopy::Valid(_) => MetaFound::Stale,
                    MetaCopy::Missing => MetaFound::Missing,
                    MetaCopy::Bad => MetaFound::Corrupt,
                    MetaCopy::Failed | MetaCopy::NotAsked => MetaFound::Failed,
                };
                MemberHeal {
                    member: member.name().to_owned(),
                    meta,
                    data: DataFound::NotChecked,
                    files_written: 0,
                    meta_written: false,
                    error: None,
                }
            })
            .collect()
    }

    /// A live version: data first (rebuilt part files installed), then records.
    async fn heal_version(
        &self,
        (bucket, key): (&str, &str),
        mut read: MetaRead,
        agreed: &Agreed,
        (report, guards): (&mut HealReport, Guards<'_>),
        options: HealOptions,
    ) -> Result<()> {
        if !agreed.info.inline {
            let proceed = self
                .heal_data(&read, agreed, (&mut *report, guards), options)
                .await?;
            if !proceed {
                return Ok(());
            }
        }
        let damaged = report.members.iter().any(MemberHeal::damaged);
        if !damaged {
            report.outcome = HealOutcome::Healthy;
            return Ok(());
        }
        if options.dry_run {
            report.outcome = HealOutcome::Damaged;
            return Ok(());
        }
        // Records go only where the data is in place and nothing newer is held: the
        // others are hidden from roll forward as if they had not answered.
        for (copy, member) in read.copies.iter_mut().zip(&report.members) {
            let needs_record = matches!(
                member.meta,
                MetaFound::Missing | MetaFound::Stale | MetaFound::Corrupt
            );
            if !needs_record || member.error.is_some() {
                *copy = MetaCopy::Failed;
            }
        }
        if read.copies.iter().any(|c| !matches!(c, MetaCopy::Failed)) {
            guards.keep().await?;
            let written = self
                .roll_forward(bucket, key, &read, (agreed, guards.key.fence()))
                .await;
            record_meta_writes(report, &read, written);
        }
        report.outcome = outcome_of(&report.members);
        Ok(())
    }

    /// The agreed version is a tombstone: it is written where missing (no data ever
    /// is), and once every member holds it the tombstones go, as a delete's do.
    async fn heal_tombstone(
        &self,
        (bucket, key): (&str, &str),
        read: &MetaRead,
        agreed: &Agreed,
        (report, guards): (&mut HealReport, Guards<'_>),
        options: HealOptions,
    ) -> Result<()> {
        report.outcome = HealOutcome::Deleted;
        let everywhere = |read: &MetaRead| {
            read.copies
                .iter()
                .all(|c| matches!(c, MetaCopy::Valid(m) if m.info == agreed.info))
        };
        if options.dry_run {
            return Ok(());
        }
        let reread;
        let current = if everywhere(read) {
            read
        } else {
            guards.keep().await?;
            let written = self
                .roll_forward(bucket, key, read, (agreed, guards.key.fence()))
                .await;
            record_meta_writes(report, read, written);
            reread = self.read_metas(bucket, key).await;
            &reread
        };
        if everywhere(current) {
            guards.keep().await?;
            let prints: Vec<Option<[u8; 16]>> = current
                .raw
                .iter()
                .map(|r| r.as_deref().map(fingerprint))
                .collect();
            let placement = self.placement(bucket, key);
            self.retire((bucket, key), placement, (&prints, guards.key.fence()))
                .await;
        }
        Ok(())
    }
}

/// The two leases a heal holds (bucket shared, key exclusive), and the object's share
/// of the wait it may sleep under them (`pace.rs`).
#[derive(Clone, Copy)]
pub(crate) struct Guards<'a> {
    bucket: &'a LockGuard,
    key: &'a LockGuard,
    pace: &'a ObjectPace,
}

impl Guards<'_> {
    /// Confirms both leases before a step that writes.
    async fn keep(&self) -> Result<()> {
        crate::object::commit::keep_leases(self.bucket, self.key).await
    }
}

/// Notes, per member, the records roll forward wrote (or why it could not).
fn record_meta_writes(report: &mut HealReport, read: &MetaRead, written: Result<Vec<bool>>) {
    let asked = read.copies.iter().map(|c| !matches!(c, MetaCopy::Failed));
    match written {
        Ok(written) => {
            for ((member, asked), ok) in report.members.iter_mut().zip(asked).zip(written) {
                if ok {
                    member.meta_written = true;
                } else if asked && member.error.is_none() {
                    member.error = Some("its record could not be written".to_owned());
                }
            }
        }
        Err(e) => {
            for (member, asked) in report.members.iter_mut().zip(asked) {
                if asked && member.error.is_none() {
                    member.error = Some(format!("records not written: {e}"));
                }
            }
        }
    }
}

/// Healed when every damaged member was repaired, else partial.
fn outcome_of(members: &[MemberHeal]) -> HealOutcome {
    let damaged: Vec<&MemberHeal> = members.iter().filter(|m| m.damaged()).collect();
    if damaged.is_empty() {
        HealOutcome::Healthy
    } else if damaged.iter().all(|m| m.repaired()) {
        HealOutcome::Healed
    } else {
        HealOutcome::Partial
    }
}

/// The shared name of a part file list (members are asked for these files).
pub(crate) fn part_file_names(info: &ObjectInfo) -> Rc<[String]> {
    if info.parts.is_empty() {
        vec![crate::object::get::PLAIN_PART_FILE.to_owned()].into()
    } else {
        info.parts
            .iter()
            .map(crate::record::meta::PartInfo::file_name)
            .collect()
    }
}
