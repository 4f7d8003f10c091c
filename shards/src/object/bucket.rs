//! Buckets: create, delete (only when empty), list, exists.
//!
//! A bucket is a record plus a folder on every drive of the pool (the bucket verbs,
//! `member/local/bucket.rs`, keep them). It exists when at least `sets × read quorum` drives hold its
//! record, so a bucket survives the same drive losses as the objects in it.
//!
//! The record (framed by `codec`, magic `SHOALBKT`, version 2) says whose it is, so a
//! record copied under another name or from another deployment is not believed:
//!
//! | field         | encoding | meaning                              |
//! |---------------|----------|--------------------------------------|
//! | deployment id | 16 bytes | the deployment that created it       |
//! | name          | str      | the bucket (must match the file name) |
//! | created       | u64 ns   | creation time                        |
//!
//! "Does not exist" is answered only when too few drives could hold the record for it
//! to exist: a drive that fails, holds a record it cannot vouch for, or answers "not
//! found" without being this deployment's drive (`absence.rs`) counts as unknown, and
//! when unknown drives could make the difference the answer is a quorum error (503).
//!
//! Requests on objects ask `require_bucket`, which answers from the shard's bucket
//! cache (`bucket_cache.rs`) while no bucket change was seen; HeadBucket, create,
//! delete and settings changes read the drives, and the changes bump the node's bucket
//! generation before they release the bucket's lock.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::keypath::validate_bucket_name;
use crate::member::verbs::bucket::BucketVerbs;
use crate::object::list::ListQuery;
use crate::object::store::Store;
use crate::record::codec::{DecodeError, Writer, open_record};
use crate::set::quorum::{self, Answer, Strategy};
use crate::set::shard_lock::LockGuard;
use crate::topology::placement::DeploymentId;

const MAGIC: &[u8; 8] = b"SHOALBKT";
/// 2: the record carries the deployment id and the bucket name.
const VERSION: u16 = 2;

/// What one drive says about a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BucketCopy {
    /// A valid record of this bucket, created at this time.
    Found(u64),
    /// No record, from a drive that is this deployment's (or not yet checked).
    Absent,
    /// Failed, corrupt, misplaced, or "not found" from a drive that is not ours.
    Unknown,
    /// Not asked: the read stopped once the answers so far settled it (read quorum
    /// found, or too many failed or absent for it). Counts as unknown: a drive not
    /// asked is no evidence that the bucket is absent.
    NotAsked,
}

/// Counts of what the drives said about one bucket.
struct BucketVotes {
    found: usize,
    unknown: usize,
}

impl BucketVotes {
    /// Exists, does not exist, or cannot tell (unknown drives could decide it).
    fn verdict(&self, read_quorum: usize) -> Result<bool> {
        if self.found >= read_quorum {
            return Ok(true);
        }
        if self.unknown > 0 && self.found + self.unknown >= read_quorum {
            return Err(Error::InsufficientReadQuorum {
                ok: self.found,
                needed: read_quorum,
            });
        }
        Ok(false)
    }
}

/// A bucket as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketInfo {
    pub name: String,
    pub created_unix_nanos: u64,
}

pub(crate) fn bucket_record(
    deployment_id: &DeploymentId,
    bucket: &str,
    created_unix_nanos: u64,
) -> Vec<u8> {
    let mut w = Writer::default();
    w.raw(deployment_id).str(bucket).u64(created_unix_nanos);
    w.finish(MAGIC, VERSION)
}

/// The creation time in a record, if it is this deployment's record of `bucket`.
fn decode_bucket_record(
    deployment_id: &DeploymentId,
    bytes: &[u8],
    bucket: &str,
) -> std::result::Result<u64, DecodeError> {
    let (version, mut r) = open_record(bytes, MAGIC)?;
    if version != VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    if r.array::<16>()? != *deployment_id || r.str()? != bucket {
        return Err(DecodeError::Invalid("bucket record of another bucket"));
    }
    let created = r.u64()?;
    r.finish()?;
    Ok(created)
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    fn bucket_read_quorum(&self) -> usize {
        self.layout.set_count * self.layout.set.read_quorum()
    }

    fn bucket_write_quorum(&self) -> usize {
        self.layout.set_count * self.layout.set.write_quorum()
    }

    /// Creates a bucket; `BucketAlreadyOwnedByYou` if it exists. Anything left under
    /// the name by an earlier bucket (a delete that lost drives, a crash) is removed
    /// first: a new bucket starts empty.
    pub async fn make_bucket(&self, bucket: &str) -> Result<()> {
        validate_bucket_name(bucket)?;
        let guard = self.lock_bucket_exclusive(bucket).await;
        let result = self.make_bucket_locked(bucket, &guard).await;
        // Under the lock, so no shard believes an answer from before the change.
        self.bucket_changed(&result).await;
        result
    }

    /// After a bucket's creation or deletion, before its lock is released: every
    /// shard's cached answers are old, and on a cluster the answer waits until no node
    /// can believe one from before the change (`bucket_cache.rs`). A change refused
    /// before it wrote anything has nothing to wait for.
    async fn bucket_changed(&self, result: &Result<()>) {
        self.buckets.changed();
        let wrote_nothing = matches!(
            result,
            Err(Error::BucketAlreadyOwnedByYou
                | Error::NoSuchBucket
                | Error::BucketNotEmpty
                | Error::InvalidBucketName(_))
        );
        let settle_nanos = self.buckets.settle_nanos();
        if settle_nanos > 0 && !wrote_nothing {
            self.env
                .sleep(std::time::Duration::from_nanos(settle_nanos))
                .await;
        }
    }

    async fn make_bucket_locked(&self, bucket: &str, guard: &LockGuard) -> Result<()> {
        if self.bucket_exists_on_drives(bucket).await? {
            return Err(Error::BucketAlreadyOwnedByYou);
        }
        // The answer above holds only while the lease does.
        guard.keep().await?;
        let record = bucket_record(&self.deployment_id, bucket, self.clock.now_unix_nanos());
        let name: Rc<str> = bucket.into();
        // All: a create short of quorum removes its records, which no late write may
        // outrun.
        let strategy = Strategy::all(Verb::MakeBucket, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| {
            let (name, record) = (Rc::clone(&name), record.clone());
            async move { member.make_bucket(&name, record).await }
        })
        .await;
        let ok = quorum::ok_count(&answers);
        if ok < self.bucket_write_quorum() {
            let strategy = strategy.with_verb(Verb::RemoveBucketRecord);
            quorum::call(&self.env, &self.members, strategy, |_, member| {
                let name = Rc::clone(&name);
                async move { member.remove_bucket_record(&name).await }
            })
            .await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: self.bucket_write_quorum(),
            });
        }
        Ok(())
    }

    /// Every asked drive's answer about `bucket`, in pool order: drives are asked until
    /// read quorum holds a valid record; short of that, every drive is asked (the read
    /// stops asking once quorum cannot be found, but only answers from enough drives
    /// prove that the bucket is absent). "Not found" is checked against the drive's
    /// format record when the answer could depend on it.
    async fn read_bucket_copies(&self, bucket: &str) -> Vec<BucketCopy> {
        let strategy = Strategy::read(
            Verb::ReadBucket,
            self.bucket_read_quorum(),
            self.config.member_deadline,
        );
        let mut copies = self.ask_bucket(bucket, strategy, None).await;
        let found = copies
            .iter()
            .filter(|c| matches!(c, BucketCopy::Found(_)))
            .count();
        if found < self.bucket_read_quorum() {
            let rest: Vec<bool> = copies.iter().map(|c| *c == BucketCopy::NotAsked).collect();
            if rest.contains(&true) {
                let strategy = Strategy::all(Verb::ReadBucket, self.config.member_deadline);
                let more = self.ask_bucket(bucket, strategy, Some(&rest)).await;
                for ((copy, answer), asked) in copies.iter_mut().zip(more).zip(rest) {
                    if asked {
                        *copy = answer;
                    }
                }
            }
            self.confirm_absent(&mut copies).await;
        }
        copies
    }

    /// Asks the members (those marked in `only`, or all) for `bucket`'s record.
    async fn ask_bucket(
        &self,
        bucket: &str,
        strategy: Strategy,
        only: Option<&[bool]>,
    ) -> Vec<BucketCopy> {
        let name: Rc<str> = bucket.into();
        let deployment_id = self.deployment_id;
        let answers = quorum::call(&self.env, &self.members, strategy, |index, member| {
            let name = Rc::clone(&name);
            let ask = only.is_none_or(|only| only[index]);
            async move {
                if !ask {
                    return Err(MemberError::NotAsked("asked before"));
                }
                let bytes = member.read_bucket(&name).await?;
                decode_bucket_record(&deployment_id, &bytes, &name)
                    .map(Some)
                    .map_err(|e| MemberError::Corrupt(e.to_string()))
            }
        })
        .await;
        answers
            .into_iter()
            .map(|answer| match answer {
                Answer::Ok(Some(created)) => BucketCopy::Found(created),
                Answer::Err(MemberError::NotFound) => BucketCopy::Absent,
                Answer::Err(MemberError::NotAsked(_))
                | Answer::Ok(None)
                | Answer::NotAsked
                | Answer::Running => BucketCopy::NotAsked,
                Answer::Err(_) => BucketCopy::Unknown,
            })
            .collect()
    }

    /// Turns each `Absent` from a drive that is not this deployment's into `Unknown`.
    async fn confirm_absent(&self, copies: &mut [BucketCopy]) {
        let absent: Vec<usize> = (0..copies.len())
            .filter(|&i| copies[i] == BucketCopy::Absent)
            .collect();
        for (position, ours) in absent.iter().zip(self.drives_are_ours(&absent).await) {
            if !ours {
                copies[*position] = BucketCopy::Unknown;
            }
        }
    }

    /// True when a quorum of drives holds the bucket's record; false only when enough
    /// of this deployment's drives say it does not; otherwise a quorum error. Always
    /// read from the drives (HeadBucket tells the truth about them now), and remembered
    /// in the shard's bucket cache for the requests that follow.
    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool> {
        if validate_bucket_name(bucket).is_err() {
            return Ok(false);
        }
        let now_nanos = self.env.monotonic_nanos();
        let generation = self.buckets.generation();
        let exists = self.bucket_exists_on_drives(bucket).await?;
        self.buckets.put(bucket, exists, generation, now_nanos);
        Ok(exists)
    }

    /// `bucket_exists` for requests on the bucket's objects: answered from the shard's
    /// bucket cache while no bucket change was seen and the entry is fresh (on a
    /// cluster, also read since `since_nanos`: `BucketCache::get_since`).
    async fn bucket_exists_cached(&self, bucket: &str, since_nanos: u64) -> Result<bool> {
        if validate_bucket_name(bucket).is_err() {
            return Ok(false);
        }
        let now_nanos = self.env.monotonic_nanos();
        match self.buckets.get_since(bucket, now_nanos, since_nanos) {
            Some(exists) => Ok(exists),
            None => self.bucket_exists(bucket).await,
        }
    }

    /// `bucket_exists` read from the drives, past the cache.
    async fn bucket_exists_on_drives(&self, bucket: &str) -> Result<bool> {
        let copies = self.read_bucket_copies(bucket).await;
        let votes = BucketVotes {
            found: copies
                .iter()
                .filter(|c| matches!(c, BucketCopy::Found(_)))
                .count(),
            unknown: copies
                .iter()
                .filter(|c| matches!(c, BucketCopy::Unknown | BucketCopy::NotAsked))
                .count(),
        };
        votes.verdict(self.bucket_read_quorum())
    }

    /// `Ok` if the bucket exists, `NoSuchBucket` if not; read from the drives.
    pub async fn head_bucket(&self, bucket: &str) -> Result<()> {
        if self.bucket_exists(bucket).await? {
            Ok(())
        } else {
            Err(Error::NoSuchBucket)
        }
    }

    /// `Ok` if the bucket exists, `NoSuchBucket` if not, for requests on its objects
    /// (from the bucket cache when it may answer).
    pub(crate) async fn require_bucket(&self, bucket: &str) -> Result<()> {
        self.require_bucket_since(bucket, 0).await
    }

    /// `require_bucket` for a writer's re-check under the bucket's shared lock, granted
    /// at `granted_nanos`: on a cluster a cached answer counts only if its read began
    /// after the grant.
    pub(crate) async fn require_bucket_since(
        &self,
        bucket: &str,
        granted_nanos: u64,
    ) -> Result<()> {
        if self.bucket_exists_cached(bucket, granted_nanos).await? {
            Ok(())
        } else {
            Err(Error::NoSuchBucket)
        }
    }

    /// Deletes an empty bucket. Holds the bucket's lock exclusive, so no write into
    /// the bucket commits between the emptiness check and the removal (writers hold
    /// it shared while they commit and re-check that the bucket exists). Uploads in
    /// progress go with the bucket, as in S3 (general purpose buckets).
    pub async fn delete_bucket(&self, bucket: &str) -> Result<()> {
        let guard = self.lock_bucket_exclusive(bucket).await;
        let result = self.delete_bucket_locked(bucket, &guard).await;
        // Under the lock: a writer waiting for it re-checks with the change seen.
        self.bucket_changed(&result).await;
        result
    }

    async fn delete_bucket_locked(
        &self,
        bucket: &str,
        guard: &crate::set::shard_lock::LockGuard,
    ) -> Result<()> {
        if !self.bucket_exists_on_drives(bucket).await? {
            return Err(Error::NoSuchBucket);
        }
        let probe = ListQuery {
            max_keys: 1,
            ..ListQuery::default()
        };
        if !self.list_objects(bucket, &probe).await?.objects.is_empty() {
            return Err(Error::BucketNotEmpty);
        }
        // Still exclusive after the check (a lease lost meanwhile may have let a
        // writer in): else nothing is removed.
        guard.keep().await?;
        let name: Rc<str> = bucket.into();
        // All: the removal must be complete on every drive that answers before the
        // generation is bumped and the lock released.
        let strategy = Strategy::all(Verb::RemoveBucket, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| {
            let name = Rc::clone(&name);
            async move { member.remove_bucket(&name).await }
        })
        .await;
        let ok = quorum::ok_count(&answers);
        if ok < self.bucket_write_quorum() {
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: self.bucket_write_quorum(),
            });
        }
        Ok(())
    }

    /// Every bucket held by a quorum of drives, in name order; a quorum error when
    /// drives that could not answer might hide or show a bucket.
    pub async fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let names = self.bucket_names_by_drive().await;
        let unknown = names.iter().filter(|n| n.is_none()).count();
        let mut votes: std::collections::BTreeMap<String, usize> =
            std::collections::BTreeMap::new();
        for entries in names.into_iter().flatten() {
            for name in entries {
                *votes.entry(name).or_default() += 1;
            }
        }
        // A bucket no answering drive lists could still exist on the others.
        BucketVotes { found: 0, unknown }.verdict(self.bucket_read_quorum())?;
        let mut buckets = Vec::new();
        for (name, found) in votes {
            let verdict = BucketVotes { found, unknown }.verdict(self.bucket_read_quorum())?;
            if verdict && validate_bucket_name(&name).is_ok() {
                let created_unix_nanos = self.bucket_created(&name).await;
                buckets.push(BucketInfo {
                    name,
                    created_unix_nanos,
                });
            }
        }
        Ok(buckets)
    }

    /// Per drive, the bucket record names it holds (`None`: it cannot answer).
    async fn bucket_names_by_drive(&self) -> Vec<Option<Vec<String>>> {
        let strategy = Strategy::all(Verb::ListBuckets, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| async move {
            member.list_buckets().await
        })
        .await;
        let mut names = Vec::with_capacity(answers.len());
        for (position, answer) in answers.into_iter().enumerate() {
            names.push(match answer {
                Answer::Ok(entries) => Some(entries),
                // No bucket was ever made here, if the drive is ours.
                Answer::Err(MemberError::NotFound) if self.drive_is_ours(position).await => {
                    Some(Vec::new())
                }
                _ => None,
            });
        }
        names
    }

    /// Creation time from the first drive with a valid record.
    async fn bucket_created(&self, bucket: &str) -> u64 {
        let name: Rc<str> = bucket.into();
        let deployment_id = self.deployment_id;
        let strategy = Strategy::read(Verb::ReadBucket, 1, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| {
            let name = Rc::clone(&name);
            async move {
                let bytes = member.read_bucket(&name).await?;
                decode_bucket_record(&deployment_id, &bytes, &name)
                    .map_err(|e| MemberError::Corrupt(e.to_string()))
            }
        })
        .await;
        answers.into_iter().find_map(Answer::into_ok).unwrap_or(0)
    }
}
