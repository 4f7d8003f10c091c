//! Deleting an object, in two steps under the key's lock:
//!
//! 1. A tombstone (`ObjectInfo::tombstone`: "deleted at T", T later than every copy
//!    seen) is written on every member whose record the read found, fenced on that
//!    record like a commit, keeping the deleted version as its `previous`. Tombstones
//!    on write quorum are the commit point. Short of it, each member that may hold the
//!    tombstone gets its record back (fenced on the tombstone), and the delete fails.
//! 2. The deleted data goes to the trash (GETs already streaming it finish). Then, only
//!    when every member of the set holds the tombstone, the tombstones are removed
//!    (fenced on their own bytes) with the folders left empty.
//!
//! Why a tombstone rather than removing records (found by sim_store, seed 1775): a
//! copy votes for its version and for the one it replaced (`quorum.rs`), so removing
//! records erases the votes of the newer version first, and a removal cut short by a
//! crash leaves the older version, still named as `previous` by the copies left, with
//! read quorum: an overwritten version comes back. A tombstone votes for "deleted" and
//! for what it deleted, so a crash at any point leaves the deleted version or the
//! tombstone as the answer. Its removal is safe only when no member can vote for the
//! deleted version but through a tombstone: then each removal takes one vote from both,
//! and the tombstone, newer, wins every tie. So where a member did not take it (its
//! read failed, or it refused), the tombstone stays, seen by readers as "no such key",
//! until the key's next write replaces it or the next delete removes it.
//!
//! A key with no agreed version but some leftover copies (a failed write's minority)
//! has nothing to vote for: its records are removed directly (unfenced where the read
//! failed, so a leftover does not outlive the delete), which lowers every version's
//! votes and so can bring none back. Deleting a key that does not exist succeeds, as
//! in S3.
//!
//! The fan-outs wait for every member (or its deadline) rather than returning at
//! quorum: a late write must not arrive after the key's lock is released. Every step
//! that changes members runs under the key's lease, confirmed just before
//! (`LockGuard::keep`) and carried by its verbs (`Fence`): a delete stuck past its
//! lease while another writer took the key changes nothing of that writer's version.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::keypath::validate_key;
use crate::member::verbs::write::{Expect, Fence, WriteVerbs, fingerprint};
use crate::object::condition::WriteCondition;
use crate::object::quorum::{Agreed, MetaCopy, MetaRead};
use crate::object::store::Store;
use crate::record::meta::{DriveMeta, ObjectInfo};
use crate::set::quorum::{self, Answer, Strategy};
use crate::set::shard_lock::LockGuard;
use crate::topology::placement::Placement;

/// A delete's tombstone as each member is sent it: the record and its fingerprint
/// (`None`: the member is not sent one, its read failed).
type Tombstones = Vec<Option<(Vec<u8>, [u8; 16])>>;

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
        let guard = self.lock_object(bucket, key).await;
        let read = self.read_metas(bucket, key).await;
        crate::object::commit::condition_holds(condition, &read, self.set_layout().read_quorum())?;
        let deleted = match read.agreed(self.set_layout().read_quorum()) {
            Ok(agreed) => agreed,
            Err(Error::NoSuchKey) if !read.any_present() => return Ok(false),
            Err(Error::NoSuchKey) => {
                self.remove_leftovers((bucket, key), placement, &read, &guard)
                    .await?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        guard.keep().await?;
        let tombstones = self.tombstones_over(placement, &read, &deleted);
        let held = self
            .write_tombstones(
                (bucket, key),
                placement,
                &read,
                (&tombstones, guard.fence()),
            )
            .await;
        let ok = held.iter().filter(|h| **h).count();
        if ok < self.set_layout().write_quorum() {
            // Only under the lease: without it another writer may have written since.
            guard.keep().await?;
            self.take_back_tombstones(
                (bucket, key),
                placement,
                &read,
                (&tombstones, guard.fence()),
            )
            .await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: self.set_layout().write_quorum(),
            });
        }
        // The delete has committed. Its data goes only while the key is ours (the next
        // holder's version stays); else it is left for the next commit's clean-up.
        let everywhere = held.iter().all(|h| *h);
        if !everywhere {
            // Tombstones left where a member missed one: healing completes them.
            self.queue_heal(bucket, key);
        }
        if guard.keep().await.is_ok() {
            let prints: Vec<Option<[u8; 16]>> = tombstones
                .iter()
                .map(|t| t.as_ref().map(|(_, print)| *print).filter(|_| everywhere))
                .collect();
            self.retire((bucket, key), placement, (&prints, guard.fence()))
                .await;
        }
        Ok(!deleted.info.tombstone)
    }

    /// Per member, the tombstone over `deleted` (the agreed version): its own chunk
    /// index, and `deleted` as `previous` with this member's inline chunk of it.
    fn tombstones_over(
        &self,
        placement: Placement,
        read: &MetaRead,
        deleted: &Agreed,
    ) -> Tombstones {
        let layout = self.set_layout();
        let set_size = read.copies.len();
        let info = ObjectInfo::tombstone(
            (&deleted.info.bucket, &deleted.info.key),
            self.random_id(),
            // Later than every copy seen, whatever the clock says (DESIGN.md §4).
            self.clock.now_unix_nanos().max(read.newest_mod_time() + 1),
            (layout.data_chunks, layout.parity_chunks, placement.rotation),
        );
        (0..set_size)
            .map(|index| {
                if matches!(read.copies[index], MetaCopy::Failed | MetaCopy::NotAsked) {
                    return None;
                }
                let previous = deleted.as_previous(index);
                let meta = DriveMeta {
                    info: info.clone(),
                    chunk_index: placement.chunk_of_drive(index, set_size),
                    inline_chunk: Vec::new(),
                    previous: Some(previous),
                }
                .encode(&self.deployment_id);
                let print = fingerprint(&meta);
                Some((meta, print))
            })
            .collect()
    }

    /// Writes each member's tombstone, fenced on the record the read found; per
    /// member, whether it now holds its tombstone.
    async fn write_tombstones(
        &self,
        (bucket, key): (&str, &str),
        placement: Placement,
        read: &MetaRead,
        (tombstones, fence): (&Tombstones, Fence),
    ) -> Vec<bool> {
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::WriteMeta, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key) = (Rc::clone(&bucket), Rc::clone(&key));
            let write = tombstones[index].as_ref().map(|(meta, _)| meta.clone());
            let expect = Expect::of(read.raw[index].as_deref());
            async move {
                match write {
                    Some(meta) => member
                        .write_meta(&bucket, &key, &meta, expect, fence)
                        .await
                        .map(|()| true),
                    None => Err(MemberError::NotAsked(NO_TOMBSTONE)),
                }
            }
        })
        .await;
        answers
            .into_iter()
            .map(|a| matches!(a, Answer::Ok(true)))
            .collect()
    }

    /// After a delete short of write quorum: every member sent a tombstone (one that
    /// failed or timed out may have written it anyway) gets back the record the read
    /// found, fenced on its tombstone, so the deleted version keeps its votes.
    async fn take_back_tombstones(
        &self,
        (bucket, key): (&str, &str),
        placement: Placement,
        read: &MetaRead,
        (tombstones, fence): (&Tombstones, Fence),
    ) {
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::WriteMeta, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key) = (Rc::clone(&bucket), Rc::clone(&key));
            let sent = tombstones[index]
                .as_ref()
                .map(|(_, print)| Expect::Record(*print));
            let restore = read.raw[index].clone();
            async move {
                match (sent, restore) {
                    (None, _) => Err(MemberError::NotAsked(NO_TOMBSTONE)),
                    (Some(sent), Some(meta)) => {
                        member.write_meta(&bucket, &key, &meta, sent, fence).await
                    }
                    (Some(sent), None) => member.delete_version(&bucket, &key, sent, fence).await,
                }
            }
        })
        .await;
    }

    /// After the commit point: on every member, the tombstone is removed where
    /// `prints` names it (fenced on it), then the key's data goes to the trash and
    /// the folders left empty are removed.
    pub(crate) async fn retire(
        &self,
        (bucket, key): (&str, &str),
        placement: Placement,
        (prints, fence): (&[Option<[u8; 16]>], Fence),
    ) {
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::RetireVersions, self.config.member_deadline);
        let now = self.clock.now_unix_nanos();
        quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key, print) = (Rc::clone(&bucket), Rc::clone(&key), prints[index]);
            async move {
                if let Some(print) = print {
                    // A tombstone that could not be removed stays: it still says deleted.
                    let _ = member
                        .delete_version(&bucket, &key, Expect::Record(print), fence)
                        .await;
                }
                member.retire_versions(&bucket, &key, now, fence).await
            }
        })
        .await;
    }

    /// Removes the copies of a key that no version can reach read quorum on (a failed
    /// write's minority): each fenced on what the read found, unfenced where the read
    /// failed; then the data and the empty folders. Short of write quorum the
    /// leftovers that stay are still too few to be believed.
    async fn remove_leftovers(
        &self,
        (bucket, key): (&str, &str),
        placement: Placement,
        read: &MetaRead,
        guard: &LockGuard,
    ) -> Result<()> {
        guard.keep().await?;
        let fence = guard.fence();
        let expects = expected_records(read);
        let (bucket_rc, key_rc): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::DeleteVersion, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key, expect) = (Rc::clone(&bucket_rc), Rc::clone(&key_rc), expects[index]);
            async move { member.delete_version(&bucket, &key, expect, fence).await }
        })
        .await;
        guard.keep().await?;
        let prints = vec![None; members.len()];
        self.retire((bucket, key), placement, (&prints, fence))
            .await;
        Ok(())
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

/// Why a member is not sent a tombstone, nor asked to take one back: its read failed.
const NO_TOMBSTONE: &str = "its record could not be read";
