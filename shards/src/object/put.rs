//! Streaming put: the body flows stripe by stripe through hashing (MD5 + optional
//! checksum) and erasure coding into chunk records on every drive of the object's set;
//! the version becomes visible only when write-quorum drives hold it durably.
//!
//! Steps (DESIGN.md §4):
//! 1. Stream: each stripe is hashed, split into k data chunks, encoded into m parity
//!    chunks, and each drive's record (CRC-64 bound to the record's owner, then the
//!    chunk; `stripe.rs`) is appended to
//!    `.shoal/tmp/<upload>/part.1` through an aligned staging buffer (O_DIRECT).
//!    Small objects (one stripe, chunk ≤ 128 KiB) skip this: their chunks go inline.
//! 2. Verify the declared length, Content-MD5 and checksum; fdatasync every part file.
//! 3. Commit under the bucket's lock (shared: a bucket delete is excluded, other
//!    writes are not) and the key's lock: rename the upload folder to `KEY/_d<version>` and
//!    atomically replace `KEY/_meta`, on every drive. Fewer than write quorum: restore
//!    the previous metadata where it was replaced, and fail; nothing new is visible.
//! 4. Move the replaced version's data folders to the trash (`trash.rs`): reads that
//!    started before the commit stream the old version to the end.

use std::rc::Rc;

use futures_util::future::join_all;
use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::LocalMember;
use crate::member::keypath::{DATA_DIR_PREFIX, meta_path, object_dir, validate_key};
use crate::object::condition::WriteCondition;
use crate::object::encode::StripeEncoder;
use crate::object::quorum::MetaCopy;
use crate::object::store::{Store, TMP_DIR, ignore_not_found};
use crate::record::checksum::{BodyHasher, Checksum, ChecksumAlgorithm};
use crate::record::meta::{ChecksumType, DriveMeta, ObjectInfo, PreviousVersion};
use crate::record::stripe::{
    Geometry, RECORD_HEADER_BYTES, RecordOwner, chunk_len_for, record_checksum,
};
use crate::topology::placement::Placement;

/// Where a put's bytes come from (a socket, a slice, a generator).
pub trait BodySource {
    /// Reads up to `buf.len()` bytes; `Ok(0)` means the body ended and was verified.
    fn read(&mut self, buf: &mut [u8]) -> impl Future<Output = std::io::Result<usize>>;

    /// A checksum that arrived after the body (an aws-chunked trailer), once `read`
    /// returned 0.
    fn trailer_checksum(&self) -> Option<Checksum> {
        None
    }
}

/// A body held in memory (tests, small internal writes).
pub struct SliceSource<'a>(pub &'a [u8]);

impl BodySource for SliceSource<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// What the client declared about the object.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    /// Content-Length; the body must have exactly this many bytes.
    pub size_bytes: Option<u64>,
    /// Content-MD5, checked against the body before commit.
    pub content_md5: Option<[u8; 16]>,
    /// Flexible checksum to compute and store.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// The checksum the client sent (header or trailer), checked before commit.
    pub expected_checksum: Option<Checksum>,
    /// Content headers (lowercase names) and `x-amz-meta-*` user metadata.
    pub headers: Vec<(String, String)>,
    /// Object tags (`x-amz-tagging`), already validated.
    pub tags: Vec<(String, String)>,
    /// Commit only if this holds for the current version (checked under the key lock).
    pub condition: WriteCondition,
}

/// One drive's part file being written.
struct PartWriter<F> {
    file: Option<F>,
    staging: AlignedBuf,
    /// File offset where `staging[0]` goes (always block-aligned).
    flushed_bytes: u64,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Writes an object from `body`; returns its metadata once committed.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        options: &PutOptions,
        body: &mut impl BodySource,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        self.check_put_options(options)?;
        self.require_bucket(bucket).await?;
        if !options.condition.is_always() {
            // Fail fast before streaming; the binding check is repeated under the lock.
            self.check_condition(bucket, key, &options.condition)
                .await?;
        }
        let placement = self.placement(bucket, key);
        let algorithm = options
            .checksum_algorithm
            .or(options.expected_checksum.as_ref().map(|c| c.algorithm));
        let mut hasher = BodyHasher::new(algorithm);
        let mut stripe = vec![0u8; self.config.stripe_size_bytes];
        let first_len = self
            .fill_stripe(body, &mut stripe, &mut hasher, options)
            .await?;
        let k = self.set_layout().data_chunks;
        let fits_inline = first_len < stripe.len()
            && chunk_len_for(first_len, k) <= self.config.inline_chunk_max_bytes;
        // Chosen before streaming: the part file's records are bound to it.
        let version_id = self.random_id();
        let staged = if fits_inline {
            Staged::Inline(self.encode_inline(&stripe[..first_len]))
        } else {
            let upload = hex::encode(self.random_id());
            let owner = RecordOwner {
                deployment_id: &self.deployment_id,
                bucket,
                key,
                data_id: &version_id,
                part_number: 1,
            };
            let streamed = self
                .stream_parts(
                    placement,
                    owner,
                    &upload,
                    &mut stripe,
                    first_len,
                    body,
                    &mut hasher,
                    options,
                )
                .await;
            let from = format!("{TMP_DIR}/{upload}");
            match streamed {
                Ok(live) => Staged::Parts {
                    from,
                    live,
                    owned: true,
                },
                Err(e) => {
                    self.remove_staged(placement, &from).await;
                    return Err(e);
                }
            }
        };
        let size_bytes = hasher.len_bytes();
        let (md5, checksum) = hasher.finish();
        let trailer = body.trailer_checksum();
        if let Err(e) = verify_digests(options, trailer.as_ref(), &md5, checksum.as_ref()) {
            self.discard_staged(placement, &staged).await;
            return Err(e);
        }
        let info = ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id,
            mod_time_unix_nanos: 0, // set at commit, under the lock
            size_bytes,
            etag: hex::encode(md5),
            data_chunks: k,
            parity_chunks: self.set_layout().parity_chunks,
            rotation: placement.rotation,
            stripe_size_bytes: self.config.stripe_size_bytes,
            checksum,
            checksum_type: ChecksumType::FullObject,
            headers: options.headers.clone(),
            tags: options.tags.clone(),
            meta_generation: 0,
            inline: matches!(staged, Staged::Inline(_)),
            parts: Vec::new(),
        };
        self.commit(placement, info, staged, &options.condition)
            .await
    }

    /// Evaluates `condition` against the version the set agrees on now.
    pub(crate) async fn check_condition(
        &self,
        bucket: &str,
        key: &str,
        condition: &WriteCondition,
    ) -> Result<()> {
        let read = self.read_metas(bucket, key).await;
        condition_holds(condition, &read, self.set_layout().read_quorum())
    }

    pub(crate) fn check_put_options(&self, options: &PutOptions) -> Result<()> {
        if options
            .size_bytes
            .is_some_and(|s| s > self.config.object_size_max_bytes)
        {
            return Err(Error::EntityTooLarge);
        }
        let user_bytes: usize = options
            .headers
            .iter()
            .filter(|(name, _)| name.starts_with("x-amz-meta-"))
            .map(|(name, value)| name.len() - "x-amz-meta-".len() + value.len())
            .sum();
        if user_bytes > self.config.user_metadata_max_bytes {
            return Err(Error::MetadataTooLarge);
        }
        Ok(())
    }

    /// Reads until `stripe` is full or the body ends; hashes what it read.
    pub(crate) async fn fill_stripe(
        &self,
        body: &mut impl BodySource,
        stripe: &mut [u8],
        hasher: &mut BodyHasher,
        options: &PutOptions,
    ) -> Result<usize> {
        let mut filled = 0;
        while filled < stripe.len() {
            let n = body
                .read(&mut stripe[filled..])
                .await
                .map_err(Error::Source)?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        hasher.update(&stripe[..filled]);
        let total = hasher.len_bytes();
        if total > self.config.object_size_max_bytes {
            return Err(Error::EntityTooLarge);
        }
        if options.size_bytes.is_some_and(|declared| total > declared) {
            return Err(Error::IncompleteBody);
        }
        let ended = filled < stripe.len();
        if ended && options.size_bytes.is_some_and(|declared| total != declared) {
            return Err(Error::IncompleteBody);
        }
        Ok(filled)
    }

    /// Every set drive's chunk of a one-stripe object, for the metadata.
    fn encode_inline(&self, data: &[u8]) -> Vec<Vec<u8>> {
        let layout = self.set_layout();
        let mut encoder = StripeEncoder::new(layout, chunk_len_for(data.len(), layout.data_chunks));
        encoder.encode(&self.coder.borrow(), data);
        (0..layout.set_size())
            .map(|i| encoder.chunk(i).to_vec())
            .collect()
    }

    /// Streams every stripe into part files; returns which set drives hold a complete,
    /// synced part file.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn stream_parts(
        &self,
        placement: Placement,
        owner: RecordOwner<'_>,
        upload: &str,
        stripe: &mut [u8],
        first_len: usize,
        body: &mut impl BodySource,
        hasher: &mut BodyHasher,
        options: &PutOptions,
    ) -> Result<Vec<bool>> {
        let layout = self.set_layout();
        let drives = self.set_members(placement.set_index);
        let full_chunk = chunk_len_for(stripe.len(), layout.data_chunks);
        let record_bytes = (RECORD_HEADER_BYTES + full_chunk).next_multiple_of(BLOCK_SIZE_BYTES);
        // The declared length is a claim, not data: preallocate only a few stripes of
        // it, so a client that declares much and sends slowly reserves little disk.
        let size_hint = options.size_bytes.map_or(0, |s| {
            let declared = Geometry::new(s, stripe.len(), layout.data_chunks).part_file_len();
            declared.min(PREALLOCATED_STRIPES * record_bytes as u64)
        });
        let path = format!("{TMP_DIR}/{upload}/part.1");
        let opens = join_all(drives.iter().map(|d| d.create(&path, size_hint))).await;
        let staging_bytes = record_bytes + BLOCK_SIZE_BYTES;
        let mut writers: Vec<PartWriter<D::File>> = opens
            .into_iter()
            .map(|f| PartWriter {
                file: f.ok(),
                staging: AlignedBuf::with_capacity(staging_bytes),
                flushed_bytes: 0,
            })
            .collect();
        self.check_write_quorum(&writers)?;
        let tags: Vec<u64> = (0..layout.set_size())
            .map(|chunk_index| owner.chunk_tag(chunk_index))
            .collect();
        let mut encoder = StripeEncoder::new(layout, full_chunk);
        let mut len = first_len;
        for stripe_index in 0.. {
            encoder.resize(chunk_len_for(len, layout.data_chunks));
            encoder.encode(&self.coder.borrow(), &stripe[..len]);
            let records = StripeRecords {
                encoder: &encoder,
                tags: &tags,
                stripe_index,
            };
            self.write_records(placement, drives, &mut writers, records)
                .await?;
            if len < stripe.len() {
                break;
            }
            // Let other requests on this shard run between stripes of CPU work.
            self.env.yield_now().await;
            len = self.fill_stripe(body, stripe, hasher, options).await?;
            if len == 0 {
                break;
            }
        }
        let logical =
            Geometry::new(hasher.len_bytes(), stripe.len(), layout.data_chunks).part_file_len();
        let finishes = drives
            .iter()
            .zip(writers.iter_mut())
            .map(|(d, w)| finish_part(d.drive(), w, logical));
        let synced: Vec<bool> = join_all(finishes).await;
        let ok = synced.iter().filter(|s| **s).count();
        if ok < layout.write_quorum() {
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        Ok(synced)
    }

    fn check_write_quorum(&self, writers: &[PartWriter<D::File>]) -> Result<()> {
        let ok = writers.iter().filter(|w| w.file.is_some()).count();
        let needed = self.set_layout().write_quorum();
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }

    /// Appends this stripe's record to every live drive, writing whole blocks.
    async fn write_records(
        &self,
        placement: Placement,
        drives: &[Rc<LocalMember<D>>],
        writers: &mut [PartWriter<D::File>],
        records: StripeRecords<'_>,
    ) -> Result<()> {
        let set_size = drives.len();
        let writes =
            drives
                .iter()
                .zip(writers.iter_mut())
                .enumerate()
                .map(|(drive_index, (d, w))| {
                    let chunk_index = placement.chunk_of_drive(drive_index, set_size);
                    let chunk = records.encoder.chunk(chunk_index);
                    let checksum =
                        record_checksum(records.tags[chunk_index], records.stripe_index, chunk);
                    append_record(d.drive(), w, checksum, chunk)
                });
        join_all(writes).await;
        self.check_write_quorum(writers)
    }
}

/// One encoded stripe and what its records are bound to.
struct StripeRecords<'a> {
    encoder: &'a StripeEncoder,
    /// Per chunk index, the owner tag of its records.
    tags: &'a [u64],
    stripe_index: u64,
}

pub(crate) enum Staged {
    /// Every chunk, by chunk index.
    Inline(Vec<Vec<u8>>),
    /// A folder of part files, renamed to the version's data folder at commit.
    Parts {
        /// The folder on every set drive.
        from: String,
        /// Per set drive, whether its folder is complete and synced.
        live: Vec<bool>,
        /// A put's own staging (removed if the put fails), or a multipart upload's
        /// folder (kept, so the client may retry or abort).
        owned: bool,
    },
}

/// Appends one record (bound checksum + chunk) and writes out every whole block staged.
/// A failed drive drops out of this put (its file is closed by drop).
async fn append_record<D: Drive>(
    drive: &D,
    w: &mut PartWriter<D::File>,
    checksum: u64,
    chunk: &[u8],
) {
    let Some(file) = &w.file else { return };
    w.staging.extend_from_slice(&checksum.to_le_bytes());
    w.staging.extend_from_slice(chunk);
    let staged = w.staging.len();
    let whole = staged / BLOCK_SIZE_BYTES * BLOCK_SIZE_BYTES;
    if whole == 0 {
        return;
    }
    let mut buf = std::mem::replace(&mut w.staging, AlignedBuf::with_capacity(0));
    buf.set_len(whole);
    let (result, mut buf) = drive.write_at(file, buf, w.flushed_bytes).await;
    if result.is_err() {
        w.file = None;
        return;
    }
    buf.spare_all().copy_within(whole..staged, 0);
    buf.set_len(staged - whole);
    w.staging = buf;
    w.flushed_bytes += whole as u64;
}

/// Writes the last partial block, trims the padding, fdatasyncs and closes.
async fn finish_part<D: Drive>(
    drive: &D,
    w: &mut PartWriter<D::File>,
    logical_len_bytes: u64,
) -> bool {
    let Some(file) = w.file.take() else {
        return false;
    };
    if !w.staging.is_empty() {
        let mut buf = std::mem::replace(&mut w.staging, AlignedBuf::with_capacity(0));
        buf.pad_to_block();
        let (result, _) = drive.write_at(&file, buf, w.flushed_bytes).await;
        if result.is_err() {
            return false;
        }
    }
    let synced = async {
        drive.set_len(&file, logical_len_bytes).await?;
        drive.sync(&file).await
    };
    let ok = synced.await.is_ok();
    drive.close(file).await.is_ok() && ok
}

pub(crate) fn verify_digests(
    options: &PutOptions,
    trailer: Option<&Checksum>,
    md5: &[u8; 16],
    checksum: Option<&Checksum>,
) -> Result<()> {
    if options.content_md5.is_some_and(|expected| &expected != md5) {
        return Err(Error::BadDigest);
    }
    if let Some(expected) = options.expected_checksum.as_ref().or(trailer)
        && checksum != Some(expected)
    {
        return Err(Error::BadDigest);
    }
    Ok(())
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Makes the staged version visible on write-quorum drives, or on none.
    pub(crate) async fn commit(
        &self,
        placement: Placement,
        mut info: ObjectInfo,
        staged: Staged,
        condition: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let layout = self.set_layout();
        let drives = self.set_members(placement.set_index);
        // The bucket first, then the key (never the other order): a DeleteBucket
        // waits for this commit, or this commit sees the bucket gone and leaves nothing.
        let _bucket_guard = match self.lock_bucket_for_write(&info.bucket).await {
            Ok(guard) => guard,
            Err(e) => {
                self.discard_staged(placement, &staged).await;
                return Err(e);
            }
        };
        let _guard = self.lock_object(&info.bucket, &info.key).await;
        let previous = self.read_metas(&info.bucket, &info.key).await;
        if let Err(e) = condition_holds(condition, &previous, layout.read_quorum()) {
            self.discard_staged(placement, &staged).await;
            return Err(e);
        }
        // Later than every copy seen, whatever the clock says (DESIGN.md §4).
        info.mod_time_unix_nanos = self
            .clock
            .now_unix_nanos()
            .max(previous.newest_mod_time() + 1);
        let dir = object_dir(&info.bucket, &info.key);
        let data_dir = format!("{dir}/{DATA_DIR_PREFIX}{}", hex::encode(info.version_id));
        let meta_file = meta_path(&info.bucket, &info.key);
        let replaced = previous.agreed(layout.read_quorum()).ok();
        let commits = drives.iter().enumerate().map(|(drive_index, drive)| {
            let chunk_index = placement.chunk_of_drive(drive_index, drives.len());
            let (live, from, inline_chunk) = match &staged {
                Staged::Inline(chunks) => (true, None, chunks[chunk_index].clone()),
                Staged::Parts { from, live, .. } => {
                    (live[drive_index], Some(from.as_str()), Vec::new())
                }
            };
            // A drive whose current copy could not be read is left alone: a failed
            // commit could not put back what it never saw (it is queued for healing).
            let live = live && !matches!(previous.copies[drive_index], MetaCopy::Failed);
            // Kept so a crash mid-commit leaves the replaced version readable.
            let previous = replaced.as_ref().map(|old| PreviousVersion {
                info: old.info.clone(),
                inline_chunk: old.copies[drive_index]
                    .as_ref()
                    .map(|c| c.inline_chunk.clone())
                    .unwrap_or_default(),
            });
            let meta = DriveMeta {
                info: info.clone(),
                chunk_index,
                inline_chunk,
                previous,
            }
            .encode(&self.deployment_id);
            let (data_dir, meta_file) = (&data_dir, &meta_file);
            async move {
                if !live {
                    return false;
                }
                if let Some(from) = from
                    && drive.rename(from, data_dir).await.is_err()
                {
                    return false;
                }
                drive.write_file_atomic(meta_file, &meta).await.is_ok()
            }
        });
        let committed: Vec<bool> = join_all(commits).await;
        let ok = committed.iter().filter(|c| **c).count();
        if ok < layout.write_quorum() {
            let give_back = match &staged {
                Staged::Parts {
                    from, owned: false, ..
                } => Some(from.as_str()),
                _ => None,
            };
            self.roll_back(
                drives,
                &committed,
                &previous.raw,
                &meta_file,
                (&data_dir, give_back),
            )
            .await;
            self.discard_staged(placement, &staged).await;
            if let Some(replaced) = &replaced {
                self.keep_replaced(&info.bucket, &info.key, replaced).await;
            }
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        if ok < drives.len() {
            self.queue_heal(&info.bucket, &info.key);
        }
        self.remove_stale_data_dirs(drives, &dir, &data_dir).await;
        if let Staged::Parts { from, .. } = &staged {
            // Drives whose rename failed still hold the folder; it is of no use now.
            self.remove_staged(placement, from).await;
        }
        Ok(info)
    }

    /// Restores the previous metadata where the new one was written, and removes the
    /// new data folder, or renames it back to `give_back` (a multipart upload's folder).
    async fn roll_back(
        &self,
        drives: &[Rc<LocalMember<D>>],
        committed: &[bool],
        previous: &[Option<Vec<u8>>],
        meta_file: &str,
        (data_dir, give_back): (&str, Option<&str>),
    ) {
        let undo =
            drives
                .iter()
                .zip(committed)
                .zip(previous)
                .map(|((drive, done), old)| async move {
                    if !*done {
                        return;
                    }
                    undo_meta(drive.drive(), meta_file, old.as_deref()).await;
                    let _ = match give_back {
                        Some(folder) => drive.rename(data_dir, folder).await,
                        None => drive.remove_dir_all(data_dir).await,
                    };
                });
        join_all(undo).await;
    }

    /// Moves every data folder of the object except the current version's to the
    /// trash, where reads that started before this commit still find it (`trash.rs`).
    /// (See `undo_meta` for how a failed commit is taken back.)
    async fn remove_stale_data_dirs(&self, drives: &[Rc<LocalMember<D>>], dir: &str, keep: &str) {
        let cleanups = drives.iter().map(|drive| async move {
            let Ok(entries) = drive.list_dir(dir).await else {
                return;
            };
            for entry in entries {
                let path = format!("{dir}/{}", entry.name);
                if entry.is_dir && entry.name.starts_with(DATA_DIR_PREFIX) && path != keep {
                    self.move_to_trash(drive, &path).await;
                }
            }
        });
        join_all(cleanups).await;
    }

    /// Removes a staging folder from every drive of the set.
    pub(crate) async fn remove_staged(&self, placement: Placement, from: &str) {
        let drives = self.set_members(placement.set_index);
        join_all(drives.iter().map(|d| d.remove_dir_all(from))).await;
    }

    /// After a failed commit: a put's own staging goes, an upload's folder stays.
    async fn discard_staged(&self, placement: Placement, staged: &Staged) {
        if let Staged::Parts {
            from, owned: true, ..
        } = staged
        {
            self.remove_staged(placement, from).await;
        }
    }
}

/// Attempts to put back a drive's previous metadata copy after a failed commit.
const UNDO_ATTEMPTS: usize = 3;
/// Stripes of a part file preallocated before any arrive; the rest is allocated as
/// written.
const PREALLOCATED_STRIPES: u64 = 4;

/// Takes back a new metadata copy: restore the previous bytes (a few attempts), else
/// remove the copy. A missing copy votes for nothing, so the failed version can never
/// win a read quorum from it — even when data equals parity and read quorum is half the
/// set — while the replaced version keeps the votes of every other drive.
pub(crate) async fn undo_meta<D: Drive>(drive: &D, meta_file: &str, previous: Option<&[u8]>) {
    if let Some(bytes) = previous {
        for _ in 0..UNDO_ATTEMPTS {
            if drive.write_file_atomic(meta_file, bytes).await.is_ok() {
                return;
            }
        }
    }
    for _ in 0..UNDO_ATTEMPTS {
        if ignore_not_found(drive.remove_file(meta_file).await).is_ok() {
            return;
        }
    }
}

/// A condition against a metadata read: absent when no version has quorum (and nothing
/// failed); a quorum error is returned as is, since the condition cannot be judged.
pub(crate) fn condition_holds(
    condition: &WriteCondition,
    read: &crate::object::quorum::MetaRead,
    read_quorum: usize,
) -> Result<()> {
    if condition.is_always() {
        return Ok(());
    }
    match read.agreed(read_quorum) {
        Ok(agreed) => condition.check(Some(&agreed.info)),
        Err(Error::NoSuchKey) => condition.check(None),
        Err(e) => Err(e),
    }
}
