//! Committing a staged version: under the bucket's lock (shared) and the key's lock,
//! every member moves the staged data to the version's folder and replaces the metadata
//! record, fenced on the record this commit read (`expect_previous`); short of write
//! quorum every member asked rolls back and nothing new is visible. Then the replaced
//! version's data folders go to the trash, where reads that started before the commit
//! finish. Also the clean-up of staged data that will never be committed.
//!
//! Leases: the key's lock is a lease (`set/shard_lock.rs`). Before each step that
//! changes members (the commit, its roll back, the clean-up of replaced versions) the
//! commit confirms its leases (`LockGuard::keep`), and every such verb carries the
//! key's lease (`Fence`), so a commit that was stuck past its lease while another
//! writer took the key changes nothing and answers `LeaseLost` (503).

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::Verb;
use crate::member::verbs::upload::UploadVerbs;
use crate::member::verbs::write::{
    Commit, DataSource, Expect, Fence, RollBack, WriteVerbs, fingerprint,
};
use crate::member::{Member, MemberError};
use crate::object::condition::WriteCondition;
use crate::object::put::Staged;
use crate::object::quorum::{Agreed, MetaCopy, MetaRead};
use crate::object::store::Store;
use crate::record::meta::{DriveMeta, ObjectInfo};
use crate::set::quorum::{self, Answer, Strategy, ok_count};
use crate::set::shard_lock::LockGuard;
use crate::topology::placement::Placement;

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Makes the staged version visible on write-quorum drives, or on none.
    ///
    /// The commit waits for every member's answer (or its deadline) rather than
    /// returning at write quorum (`Strategy::write`). Each member's commit is fenced by
    /// `expect_previous`, so a late one cannot overwrite a newer version; but a commit
    /// that fails quorum must take back every copy it made, and a copy made after that
    /// roll back by a member still running would leave the failed version on members
    /// that vote for it — with data equal to parity, enough for a read quorum. A member
    /// that misses its deadline costs the commit that deadline, once.
    pub(crate) async fn commit(
        &self,
        placement: Placement,
        mut info: ObjectInfo,
        staged: Staged,
        condition: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let layout = self.set_layout();
        let members = self.set_members(placement.set_index);
        // The bucket first, then the key (never the other order): a DeleteBucket
        // waits for this commit, or this commit sees the bucket gone and leaves nothing.
        let bucket_guard = match self.lock_bucket_for_write(&info.bucket).await {
            Ok(guard) => guard,
            Err(e) => {
                self.discard_staged(placement, &staged).await;
                return Err(e);
            }
        };
        let guard = self.lock_object(&info.bucket, &info.key).await;
        let previous = self.read_metas(&info.bucket, &info.key).await;
        let checked = match condition_holds(condition, &previous, layout.read_quorum())
            .and_then(|()| replaced_version(&previous, layout.read_quorum()))
        {
            // Still ours after the read (a hung member may have taken a lease's worth).
            Ok(replaced) => keep_leases(&bucket_guard, &guard).await.map(|()| replaced),
            Err(e) => Err(e),
        };
        let replaced = match checked {
            Ok(replaced) => replaced,
            Err(e) => {
                self.discard_staged(placement, &staged).await;
                return Err(e);
            }
        };
        // Later than every copy seen, whatever the clock says (DESIGN.md §4).
        info.mod_time_unix_nanos = self
            .clock
            .now_unix_nanos()
            .max(previous.newest_mod_time() + 1);
        let mut requests = self.commit_requests(
            (placement, guard.fence()),
            &info,
            &staged,
            &previous,
            replaced.as_ref(),
        );
        let committed: Vec<Option<[u8; 16]>> = requests
            .iter()
            .map(|r| r.as_ref().map(|c| fingerprint(&c.meta)))
            .collect();
        let strategy = Strategy::all(Verb::Commit, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let request = requests[index].take();
            async move {
                let request = request.ok_or(MemberError::NotAsked(NOT_STAGED))?;
                member.commit(request).await
            }
        })
        .await;
        let ok = ok_count(&answers);
        if ok < layout.write_quorum() {
            // Taken back only under the key's lease: without it another writer may
            // have written since, and what is left is no worse than a crash mid-commit.
            let kept = guard.keep().await;
            if kept.is_ok() {
                let give_back = match &staged {
                    Staged::Parts {
                        from, owned: false, ..
                    } => Some(from.clone()),
                    _ => None,
                };
                self.roll_back(
                    members,
                    (&info, guard.fence()),
                    &committed,
                    &previous.raw,
                    give_back,
                )
                .await;
            }
            self.discard_staged(placement, &staged).await;
            if let (Some(replaced), Ok(_)) = (&replaced, kept) {
                self.keep_replaced(&info.bucket, &info.key, (replaced, guard.fence()))
                    .await;
            }
            kept?;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        if ok < members.len() {
            self.queue_heal(&info.bucket, &info.key);
        }
        // Members that failed to answer in this request are not asked again in it.
        let skip: Vec<bool> = answers
            .iter()
            .zip(&previous.copies)
            .map(|(a, c)| {
                matches!(a, Answer::Err(MemberError::Timeout)) || matches!(c, MetaCopy::Failed)
            })
            .collect();
        // Replaced data goes only while the key is still ours: a version committed by
        // the next holder must never be trashed as stale (members check the fence too).
        if guard.keep().await.is_ok() {
            self.remove_stale_versions(members, (&info, guard.fence()), &skip)
                .await;
        }
        if let Staged::Parts { from, .. } = &staged {
            // Members whose commit failed still hold the folder; it is of no use now.
            self.discard_source(placement, from, &skip).await;
        }
        Ok(info)
    }

    /// Per set member, its commit of `info` (`None`: the member is left alone).
    fn commit_requests(
        &self,
        (placement, fence): (Placement, Fence),
        info: &ObjectInfo,
        staged: &Staged,
        previous: &MetaRead,
        replaced: Option<&Agreed>,
    ) -> Vec<Option<Commit>> {
        let set_size = previous.copies.len();
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        (0..set_size)
            .map(|drive_index| {
                let chunk_index = placement.chunk_of_drive(drive_index, set_size);
                let (live, data, inline_chunk) = match staged {
                    Staged::Inline(chunks) => (true, None, chunks[chunk_index].clone()),
                    Staged::Parts { from, live, .. } => {
                        (live[drive_index], Some(from.clone()), Vec::new())
                    }
                };
                // A drive whose current copy could not be read is left alone: a failed
                // commit could not put back what it never saw (it is queued for healing).
                if !live || matches!(previous.copies[drive_index], MetaCopy::Failed) {
                    return None;
                }
                // Kept so a crash mid-commit leaves the replaced version readable.
                let previous_version = replaced.map(|old| old.as_previous(drive_index));
                let meta = DriveMeta {
                    info: info.clone(),
                    chunk_index,
                    inline_chunk,
                    previous: previous_version,
                }
                .encode(&self.deployment_id);
                Some(Commit {
                    bucket: Rc::clone(&bucket),
                    key: Rc::clone(&key),
                    version_id: info.version_id,
                    data,
                    meta,
                    expect_previous: Expect::of(previous.raw[drive_index].as_deref()),
                    fence,
                })
            })
            .collect()
    }

    /// Takes a failed commit back on every member it was sent to (`committed`: the
    /// fingerprint of the record sent), including those that failed or timed out
    /// midway: each restores its previous record only if it holds the new one (a fenced
    /// verb), and removes the new data folder, or gives it back to `give_back` (a
    /// multipart upload's folder).
    async fn roll_back(
        &self,
        members: &[Rc<Member<D>>],
        (info, fence): (&ObjectInfo, Fence),
        committed: &[Option<[u8; 16]>],
        previous: &[Option<Vec<u8>>],
        give_back: Option<DataSource>,
    ) {
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let strategy = Strategy::all(Verb::RollBack, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let request = committed[index].map(|print| RollBack {
                bucket: Rc::clone(&bucket),
                key: Rc::clone(&key),
                version_id: info.version_id,
                committed: Expect::Record(print),
                restore: previous[index].as_deref().map(Rc::from),
                give_back: give_back.clone(),
                fence,
            });
            async move {
                match request {
                    Some(request) => member.roll_back(request).await,
                    None => Err(MemberError::NotAsked(NOT_COMMITTED)),
                }
            }
        })
        .await;
    }

    /// Moves every data folder of the object except the new version's to the trash,
    /// where reads that started before this commit still find it (`trash.rs`). Waits
    /// for the members (each within its deadline): one finishing after the key's lock
    /// is released could trash the folder of a version committed after this one.
    async fn remove_stale_versions(
        &self,
        members: &[Rc<Member<D>>],
        (info, fence): (&ObjectInfo, Fence),
        skip: &[bool],
    ) {
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let (keep, now) = (info.version_id, self.clock.now_unix_nanos());
        let strategy = Strategy::all(Verb::RemoveStaleVersions, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key, ask) = (Rc::clone(&bucket), Rc::clone(&key), !skip[index]);
            async move {
                if !ask {
                    return Err(MemberError::NotAsked(SKIPPED));
                }
                member
                    .remove_stale_versions(&bucket, &key, keep, now, fence)
                    .await
            }
        })
        .await;
    }

    /// Removes a put's staging from every member of the set but those `skip` names
    /// (members that failed to answer in this request), waiting for each within its
    /// deadline: when the put answers, nothing of it is left in `.shoal/tmp`.
    pub(crate) async fn discard_staging(&self, placement: Placement, staging: &str, skip: &[bool]) {
        let members = self.set_members(placement.set_index);
        let staging: Rc<str> = staging.into();
        let strategy = Strategy::all(Verb::StageDiscard, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let (staging, ask) = (
                Rc::clone(&staging),
                !skip.get(index).copied().unwrap_or(false),
            );
            async move {
                if !ask {
                    return Err(MemberError::NotAsked(SKIPPED));
                }
                member.stage_discard(&staging).await
            }
        })
        .await;
    }

    /// Removes what is left of a data source after a commit, on the members not in
    /// `skip`: a staging (`discard_staging`) or an upload's folder, waiting for each
    /// member within its deadline.
    async fn discard_source(&self, placement: Placement, source: &DataSource, skip: &[bool]) {
        match source {
            DataSource::Staging(staging) => self.discard_staging(placement, staging, skip).await,
            DataSource::Upload { bucket, upload_id } => {
                let members = self.set_members(placement.set_index);
                let strategy = Strategy::all(Verb::RemoveUpload, self.config.member_deadline);
                quorum::call(&self.env, members, strategy, |index, member| {
                    let (bucket, upload_id, ask) =
                        (Rc::clone(bucket), Rc::clone(upload_id), !skip[index]);
                    async move {
                        if !ask {
                            return Ok(());
                        }
                        member.remove_upload(&bucket, &upload_id).await
                    }
                })
                .await;
            }
        }
    }

    /// After a failed commit: a put's own staging goes, an upload's folder stays.
    pub(crate) async fn discard_staged(&self, placement: Placement, staged: &Staged) {
        if let Staged::Parts {
            from: DataSource::Staging(staging),
            owned: true,
            ..
        } = staged
        {
            self.discard_staging(placement, staging, &[]).await;
        }
    }
}

/// Confirms the bucket's lease and the key's before a commit (`LeaseLost` when either
/// was taken away).
pub(crate) async fn keep_leases(bucket: &LockGuard, key: &LockGuard) -> Result<()> {
    bucket.keep().await?;
    key.keep().await?;
    Ok(())
}

/// Why a member is not sent a commit: its staged data is incomplete.
const NOT_STAGED: &str = "its staged data is incomplete";
/// Why a member is not asked to roll back (it did not commit).
const NOT_COMMITTED: &str = "it did not commit";
/// Why a member is not asked to tidy up (the caller had it skipped).
const SKIPPED: &str = "skipped by the caller";

/// The version a commit replaces (`None`: the key is new), a delete's tombstone
/// included (kept as `previous`, it keeps voting "deleted"). It must be known: a commit
/// over a version it could not establish would record no `previous`, and its rollback
/// could take copies of an acknowledged version away (found by sim_store, seed 1363).
fn replaced_version(read: &MetaRead, read_quorum: usize) -> Result<Option<Agreed>> {
    match read.agreed(read_quorum) {
        Ok(agreed) => Ok(Some(agreed)),
        Err(Error::NoSuchKey) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A condition against a metadata read: absent when no version has quorum (and nothing
/// failed) or the agreed one is a tombstone; a quorum error is returned as is, since the condition cannot be judged.
pub(crate) fn condition_holds(
    condition: &WriteCondition,
    read: &crate::object::quorum::MetaRead,
    read_quorum: usize,
) -> Result<()> {
    if condition.is_always() {
        return Ok(());
    }
    match read.agreed_object(read_quorum) {
        Ok(agreed) => condition.check(Some(&agreed.info)),
        Err(Error::NoSuchKey) => condition.check(None),
        Err(e) => Err(e),
    }
}
