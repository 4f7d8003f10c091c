//! Tags: object tags live in the object's metadata and change by a metadata-only
//! update; bucket tags live in a record per drive.
//!
//! An object tag update rewrites the current version's metadata on every drive that
//! holds it, with the metadata generation bumped (the modification time stays, as in
//! S3) and the replaced copy kept as `previous`, so voting orders the two and a crash
//! mid-update leaves the old tags readable. Fewer than write quorum: the old copies are
//! put back. The data is never touched.
//!
//! Bucket tags: `DRIVE/.shoal/bucket-tags/NAME` on every drive (magic `SHOALBTG`:
//! update time u64 ns, then the tags); the newest record that read-quorum drives agree
//! on holds. Removing the tags writes an empty set, so an older set cannot come back.

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, DriveError, Env};

use crate::error::{Error, Result};
use crate::member::keypath::{meta_path, validate_key};
use crate::object::put::undo_meta;
use crate::object::store::{Store, ignore_not_found};
use crate::record::codec::{Writer, open_record};
use crate::record::meta::{DriveMeta, ObjectInfo, PreviousVersion};

const BUCKET_TAGS_DIR: &str = ".shoal/bucket-tags";
const BUCKET_TAGS_MAGIC: &[u8; 8] = b"SHOALBTG";

/// Tags as stored: (key, value) in the order given.
pub type Tags = Vec<(String, String)>;

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
        let _guard = self.lock_object(bucket, key).await;
        let read = self.read_metas(bucket, key).await;
        let agreed = read.agreed(layout.read_quorum())?;
        let mut info = agreed.info.clone();
        info.tags = tags;
        info.meta_generation = info.meta_generation.wrapping_add(1);
        let placement = self.placement(bucket, key);
        let drives = self.set_members(placement.set_index);
        let meta_file = meta_path(bucket, key);
        let writes = drives.iter().zip(&agreed.copies).map(|(drive, copy)| {
            // Only a drive holding this version can carry it on (its inline chunk, its
            // data); the others are already queued for healing by the read.
            let meta = copy.as_ref().map(|copy| {
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
            });
            let meta_file = &meta_file;
            async move {
                match meta {
                    Some(bytes) => drive.write_file_atomic(meta_file, &bytes).await.is_ok(),
                    None => false,
                }
            }
        });
        let written: Vec<bool> = join_all(writes).await;
        let ok = written.iter().filter(|w| **w).count();
        if ok < layout.write_quorum() {
            let undo = drives
                .iter()
                .zip(&written)
                .zip(&read.raw)
                .filter(|((_, w), _)| **w)
                .map(|((drive, _), raw)| undo_meta(drive.drive(), &meta_file, raw.as_deref()));
            join_all(undo).await;
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        if ok < drives.len() {
            self.queue_heal(bucket, key);
        }
        Ok(info)
    }

    /// The bucket's tags (empty if none were set).
    pub async fn bucket_tags(&self, bucket: &str) -> Result<Tags> {
        self.require_bucket(bucket).await?;
        let path = format!("{BUCKET_TAGS_DIR}/{bucket}");
        let reads = join_all(self.members.iter().map(|d| d.read_file(&path))).await;
        let mut records: Vec<(u64, Tags)> = Vec::new();
        let mut failed = 0;
        for read in reads {
            match read.map(|bytes| decode_bucket_tags(&bytes)) {
                Ok(Some(record)) => records.push(record),
                Err(DriveError::NotFound) => {}
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
        let _guard = self.lock_bucket_exclusive(bucket).await;
        self.require_bucket(bucket).await?;
        let mut w = Writer::default();
        w.u64(self.clock.now_unix_nanos());
        w.u16(u16::try_from(tags.len()).expect("tag count bounded"));
        for (key, value) in tags {
            w.str(key).str(value);
        }
        let record = w.finish(BUCKET_TAGS_MAGIC, 1);
        let path = format!("{BUCKET_TAGS_DIR}/{bucket}");
        let writes = self
            .members
            .iter()
            .map(|d| d.write_file_atomic(&path, &record));
        let ok = join_all(writes).await.iter().filter(|r| r.is_ok()).count();
        let needed = self.layout.set_count * self.layout.set.write_quorum();
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }

    /// Forgets a deleted bucket's tags (a bucket made again later starts without).
    pub(crate) async fn remove_bucket_tags(&self, drive: &D, bucket: &str) -> Result<()> {
        ignore_not_found(
            drive
                .remove_file(&format!("{BUCKET_TAGS_DIR}/{bucket}"))
                .await,
        )
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
