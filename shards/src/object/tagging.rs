//! Tags: object tags live in the object's metadata and change by a metadata-only
//! update; bucket tags live in a record per drive.
//!
//! An object tag update rewrites the current version's metadata on every drive that
//! holds it, with the metadata generation bumped (the modification time stays, as in
//! S3) and the replaced copy kept as `previous`, so voting orders the two and a crash
//! mid-update leaves the old tags readable. Fewer than write quorum: the old copies are
//! put back. The data is never touched.
//!
//! Bucket tags: a record on every drive of the pool (bucket verbs; magic `SHOALBTG`:
//! update time u64 ns, then the tags); the newest record that read-quorum drives agree
//! on holds. Removing the tags writes an empty set, so an older set cannot come back.
//! A change bumps the node's bucket generation (`bucket_cache.rs`), as bucket settings.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::keypath::validate_key;
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::verbs::write::{Expect, Fence, WriteVerbs};
use crate::object::store::Store;
use crate::record::codec::{Writer, open_record};
use crate::record::meta::{DriveMeta, ObjectInfo, PreviousVersion};
use crate::set::quorum::{self, Answer, Strategy};
use crate::set::shard_lock::LockGuard;

const BUCKET_TAGS_MAGIC: &[u8; 8] = b"SHOALBTG";

/// Tags as stored: (key, value) in the order given.
pub type Tags = Vec<(String, String)>;

/// A metadata record per member of a set (`None`: none, or none to write).
type Records = [Option<Vec<u8>>];

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// The current version's tags.
    pub async fn object_tags(&self, bucket: &str, key: &str) -> Result<(ObjectInfo, Tags)> {
        let info = self.head_object(bucket, key).await?;
        let tags = info.tags.clone();
        Ok((info, tags))
    }

    /// Replaces the current version's tags (empty: removes them).
    pub async fn set_object_tags(&self, bucket: &str, key: &str, tags: Tags) -> Result<ObjectInfo> {
        validate_key(key)?;
        self.require_bucket(bucket).await?;
        let layout = self.set_layout();
        let guard = self.lock_object(bucket, key).await;
        let read = self.read_metas(bucket, key).await;
        let agreed = read.agreed_object(layout.read_quorum())?;
        let mut info = agreed.info.clone();
        info.tags = tags;
        info.meta_generation = info.meta_generation.wrapping_add(1);
        // Only a drive holding this version can carry it on (its inline chunk, its
        // data); the others are already queued for healing by the read.
        let records: Vec<Option<Vec<u8>>> = agreed
            .copies
            .iter()
            .map(|copy| copy.as_ref().map(|copy| self.retagged(&info, copy)))
            .collect();
        // The lease is confirmed now and every record is fenced on it and on the
        // record read: a writer that stalled past its lease cannot put an older
        // version back over a newer one.
        guard.keep().await?;
        let fence = guard.fence();
        let written = self
            .rewrite_metas(bucket, key, &records, &read.raw, fence)
            .await;
        let ok = written.iter().filter(|w| **w).count();
        if ok < layout.write_quorum() {
            self.restore_metas(bucket, key, &written, (&records, &read.raw), fence)
                .await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        if ok < written.len() {
            self.queue_heal(bucket, key);
        }
        Ok(info)
    }

    /// A drive's copy of the agreed version with `info` (new tags), keeping the copy
    /// it replaces as `previous`.
    fn retagged(&self, info: &ObjectInfo, copy: &DriveMeta) -> Vec<u8> {
        DriveMeta {
            info: info.clone(),
            chunk_index: copy.chunk_index,
            inline_chunk: copy.inline_chunk.clone(),
            previous: Some(PreviousVersion {
                info: copy.info.clone(),
                inline_chunk: copy.inline_chunk.clone(),
            }),
        }
        .encode(&self.deployment_id)
    }

    /// Writes each member's new record (`None`: none for that member) if it still holds
    /// the record read (`raw`); per member, whether it was written. All: whether to roll
    /// back depends on every answer, and a late write could land after the roll-back.
    async fn rewrite_metas(
        &self,
        bucket: &str,
        key: &str,
        records: &Records,
        raw: &Records,
        fence: Fence,
    ) -> Vec<bool> {
        let set_index = self.placement(bucket, key).set_index;
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let strategy = Strategy::all(Verb::WriteMeta, self.config.member_deadline);
        let members = self.set_members(set_index);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key) = (Rc::clone(&bucket), Rc::clone(&key));
            let record = records[index].clone();
            let expect = Expect::of(raw[index].as_deref());
            async move {
                let record = record.ok_or(MemberError::NotAsked("it holds no record"))?;
                member
                    .write_meta(&bucket, &key, &record, expect, fence)
                    .await
            }
        })
        .await;
        answers.iter().map(Answer::is_ok).collect()
    }

    /// Puts the old records (`previous`) back on the members that took a new one
    /// (`written`), where the new record is still there.
    async fn restore_metas(
        &self,
        bucket: &str,
        key: &str,
        written: &[bool],
        (records, previous): (&Records, &Records),
        fence: Fence,
    ) {
        let set_index = self.placement(bucket, key).set_index;
        let (bucket, key): (Rc<str>, Rc<str>) = (bucket.into(), key.into());
        let strategy = Strategy::all(Verb::WriteMeta, self.config.member_deadline);
        let members = self.set_members(set_index);
        quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key) = (Rc::clone(&bucket), Rc::clone(&key));
            let restore = match (written[index], &records[index], &previous[index]) {
                (true, Some(new), Some(old)) => Some((old.clone(), Expect::of(Some(new)))),
                _ => None,
            };
            async move {
                // Only a member that held the version was written, so it has an old
                // record to put back.
                let Some((old, expect)) = restore else {
                    return Err(MemberError::NotAsked("it took no new record"));
                };
                member.write_meta(&bucket, &key, &old, expect, fence).await
            }
        })
        .await;
    }

    /// The bucket's tags (empty if none were set).
    pub async fn bucket_tags(&self, bucket: &str) -> Result<Tags> {
        self.require_bucket(bucket).await?;
        let name: Rc<str> = bucket.into();
        let strategy = Strategy::all(Verb::ReadBucketTags, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| {
            let name = Rc::clone(&name);
            async move { member.read_bucket_tags(&name).await }
        })
        .await;
        let mut records: Vec<(u64, Tags)> = Vec::new();
        let mut failed = 0;
        for answer in answers {
            match answer.into_result().map(|bytes| decode_bucket_tags(&bytes)) {
                Ok(Some(record)) => records.push(record),
                Err(MemberError::NotFound) => {}
                Ok(None) | Err(_) => failed += 1,
            }
        }
        let quorum = self.layout.set_count * self.layout.set.read_quorum();
        let mut best: Option<&(u64, Tags)> = None;
        for candidate in &records {
            let votes = records.iter().filter(|r| *r == candidate).count();
            if votes >= quorum && best.is_none_or(|b| candidate.0 > b.0) {
                best = Some(candidate);
            }
        }
        match best {
            Some((_, tags)) => Ok(tags.clone()),
            // Failed drives might have held the newest set: cannot answer.
            None if failed > 0 && records.len() + failed >= quorum => {
                Err(Error::InsufficientReadQuorum {
                    ok: records.len(),
                    needed: quorum,
                })
            }
            None => Ok(Vec::new()),
        }
    }

    /// Replaces the bucket's tags (empty: removes them).
    pub async fn set_bucket_tags(&self, bucket: &str, tags: &[(String, String)]) -> Result<()> {
        let guard = self.lock_bucket_exclusive(bucket).await;
        let result = self.set_bucket_tags_locked(bucket, tags, &guard).await;
        self.buckets.changed();
        result
    }

    async fn set_bucket_tags_locked(
        &self,
        bucket: &str,
        tags: &[(String, String)],
        guard: &LockGuard,
    ) -> Result<()> {
        self.require_bucket(bucket).await?;
        // A holder that stalled past its lease must not write over a newer change.
        guard.keep().await?;
        let mut w = Writer::default();
        w.u64(self.clock.now_unix_nanos());
        w.u16(u16::try_from(tags.len()).expect("tag count bounded"));
        for (key, value) in tags {
            w.str(key).str(value);
        }
        let record = w.finish(BUCKET_TAGS_MAGIC, 1);
        let name: Rc<str> = bucket.into();
        // All, as before the verbs: a later change must not be overtaken by a late
        // write of this one on some drive.
        let strategy = Strategy::all(Verb::WriteBucketTags, self.config.member_deadline);
        let answers = quorum::call(&self.env, &self.members, strategy, |_, member| {
            let (name, record) = (Rc::clone(&name), record.clone());
            async move { member.write_bucket_tags(&name, record).await }
        })
        .await;
        let ok = quorum::ok_count(&answers);
        let needed = self.layout.set_count * self.layout.set.write_quorum();
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }
}

/// A bucket-tags record: (update time, tags); `None` for anything else (public so the
/// fuzz targets reach it).
pub fn decode_bucket_tags(bytes: &[u8]) -> Option<(u64, Tags)> {
    let (version, mut r) = open_record(bytes, BUCKET_TAGS_MAGIC).ok()?;
    if version != 1 {
        return None;
    }
    let updated = r.u64().ok()?;
    let count = r.u16().ok()?;
    let mut tags = Vec::with_capacity(usize::from(count.min(64)));
    for _ in 0..count {
        tags.push((r.str().ok()?.to_owned(), r.str().ok()?.to_owned()));
    }
    r.finish().ok()?;
    Some((updated, tags))
}
