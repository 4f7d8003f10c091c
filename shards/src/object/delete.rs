//! Deleting an object: under the key's lock, every member removes its metadata record
//! (the commit point), moves the data folders to the trash (GETs already streaming them
//! finish) and removes folders left empty up to the bucket (`WriteVerbs::delete_version`).
//! Deleting a key that does not exist succeeds, as in S3.
//!
//! Each member's removal is fenced on the record this delete read from it, so it never
//! removes a record written since. The fan-out waits for every member (or its
//! deadline) rather than returning at quorum: a member whose record could not be read
//! is asked unfenced (as it always was, so a leftover copy does not outlive the
//! delete), and an unfenced removal must not arrive after the key's lock is released.
//!
//! Every step that changes members runs under the key's lease, confirmed just before
//! (`LockGuard::keep`) and carried by its verbs (`Fence`): a delete stuck past its
//! lease while another writer took the key removes nothing of that writer's version.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::keypath::validate_key;
use crate::member::verbs::write::{Expect, WriteVerbs};
use crate::object::condition::WriteCondition;
use crate::object::quorum::{MetaCopy, MetaRead};
use crate::object::store::Store;
use crate::set::quorum::{self, Strategy, ok_count};

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Deletes `bucket/key`. Returns whether a version existed.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<bool> {
        self.delete_object_if(bucket, key, &WriteCondition::Always)
            .await
    }

    /// Deletes `bucket/key` if `condition` holds for its current version (`If-Match`).
    pub async fn delete_object_if(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<bool> {
        validate_key(key)?;
        self.require_bucket(bucket).await?;
        let placement = self.placement(bucket, key);
        let layout = self.set_layout();
        let guard = self.lock_object(bucket, key).await;
        let read = self.read_metas(bucket, key).await;
        crate::object::commit::condition_holds(condition, &read, layout.read_quorum())?;
        let anything_there = read.any_present();
        let existed = match read.agreed(layout.read_quorum()) {
            Ok(_) => true,
            Err(Error::NoSuchKey) if !anything_there => return Ok(false),
            Err(Error::NoSuchKey) => false, // a minority leftover: clean it up below
            Err(e) => return Err(e),
        };
        guard.keep().await?;
        let fence = guard.fence();
        let expects = expected_records(&read);
        let (bucket_rc, key_rc): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let now = self.clock.now_unix_nanos();
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::DeleteVersion, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key, expect) = (Rc::clone(&bucket_rc), Rc::clone(&key_rc), expects[index]);
            async move { member.delete_version(&bucket, &key, expect, fence).await }
        })
        .await;
        let ok = ok_count(&answers);
        if ok < layout.write_quorum() {
            // Put the records back where they went: a delete short of quorum must leave
            // the version as it was (found by sim_store, seed 130). Only under the lease:
            // without it another writer may have written since.
            guard.keep().await?;
            let fence = guard.fence();
            let strategy = strategy.with_verb(Verb::WriteMeta);
            quorum::call(&self.env, members, strategy, |index, member| {
                let restore = answers[index]
                    .is_ok()
                    .then(|| read.raw[index].clone())
                    .flatten();
                let (bucket, key) = (Rc::clone(&bucket_rc), Rc::clone(&key_rc));
                async move {
                    match restore {
                        Some(meta) => {
                            member
                                .write_meta(&bucket, &key, &meta, Expect::Absent, fence)
                                .await
                        }
                        None => Err(MemberError::NotAsked(NOTHING_TO_RESTORE)),
                    }
                }
            })
            .await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        // The delete has committed. Its data goes only while the key is ours (the next
        // holder's version stays); else it is left for the next commit's clean-up.
        if guard.keep().await.is_ok() {
            let fence = guard.fence();
            let strategy = strategy.with_verb(Verb::RetireVersions);
            quorum::call(&self.env, members, strategy, |_, member| {
                let (bucket, key) = (Rc::clone(&bucket_rc), Rc::clone(&key_rc));
                async move { member.retire_versions(&bucket, &key, now, fence).await }
            })
            .await;
        }
        Ok(existed)
    }
}

/// Per member, the record a fenced change expects: what the read found, or anything
/// where the read failed.
pub(crate) fn expected_records(read: &MetaRead) -> Vec<Expect> {
    read.copies
        .iter()
        .zip(&read.raw)
        .map(|(copy, raw)| match copy {
            MetaCopy::Failed | MetaCopy::NotAsked => Expect::Any,
            MetaCopy::Valid(_) | MetaCopy::Missing | MetaCopy::Bad => Expect::of(raw.as_deref()),
        })
        .collect()
}

/// Why a member is not asked to put a record back (it took none away).
const NOTHING_TO_RESTORE: &str = "it removed nothing";
