//! Streaming put: the body flows stripe by stripe through hashing (MD5 + optional
//! checksum) and erasure coding into chunk records on every drive of the object's set;
//! the version becomes visible only when write-quorum drives hold it durably.
//!
//! Steps (DESIGN.md §4), each a fan-out of write verbs through the quorum engine
//! (`set::quorum`), every member within its deadline:
//! 1. Stream: each stripe is hashed, split into k data chunks, encoded into m parity
//!    chunks, and each member's record (CRC-64 bound to the record's owner, then the
//!    chunk; `stripe.rs`) is appended to its staged part file (`stage_begin`,
//!    `stage_append`) through an aligned staging buffer, whole blocks at a time.
//!    A member that fails or misses its deadline drops out of the put.
//!    Small objects (one stripe, chunk ≤ 128 KiB) skip this: their chunks go inline.
//! 2. Verify the declared length, Content-MD5 and checksum; `stage_finish` makes every
//!    part file durable.
//! 3. Commit (`commit.rs`) under the bucket's lock (shared: a bucket delete is excluded, other
//!    writes are not) and the key's lock: every member moves the staged data to the
//!    version's folder and replaces the metadata record, fenced on the record this
//!    commit read (`expect_previous`). Fewer than write quorum: every member asked
//!    rolls back (`roll_back`), and nothing new is visible.
//! 4. Move the replaced version's data folders to the trash (`remove_stale_versions`,
//!    `trash.rs`): reads that started before the commit stream the old version to the
//!    end. A member whose commit made the key's folder (a new key) has nothing to move
//!    and does not list the folder (`member/local/fresh.rs`).

use std::rc::Rc;

use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::Verb;
use crate::member::keypath::validate_key;
use crate::member::verbs::write::{DataSource, WriteVerbs};
use crate::member::{Member, MemberError, MemberResult};
use crate::object::commit::condition_holds;
use crate::object::condition::WriteCondition;
use crate::object::encode::StripeBuffers;
use crate::object::store::Store;
use crate::record::checksum::{BodyHasher, Checksum, ChecksumAlgorithm};
use crate::record::meta::{ChecksumType, ObjectInfo};
use crate::record::stripe::{Geometry, RECORD_HEADER_BYTES, RecordOwner, chunk_len_for};
use crate::set::quorum::{self, Answer, Strategy, ok_count};
use crate::topology::placement::Placement;

/// Where a put's bytes come from (a socket, a slice, a generator).
pub trait BodySource {
    /// Reads up to `buf.len()` bytes; `Ok(0)` means the body ended and was verified.
    fn read(&mut self, buf: &mut [u8]) -> impl Future<Output = std::io::Result<usize>>;

    /// Waits until body bytes (or the body's end) are at hand, so a put takes memory
    /// for bytes that arrived, not for bytes promised. A source in memory is always
    /// ready.
    fn ready(&mut self) -> impl Future<Output = std::io::Result<()>> {
        std::future::ready(Ok(()))
    }

    /// A checksum that arrived after the body (an aws-chunked trailer), once `read`
    /// returned 0.
    fn trailer_checksum(&self) -> Option<Checksum> {
        None
    }

    /// Asks the source to compute the MD5 of the bytes `read` will return, in the pass
    /// it makes over them anyway (a request body verifying its SHA-256): one pass over
    /// each byte instead of two. False if it does not; the store hashes them then.
    fn start_md5(&mut self) -> bool {
        false
    }

    /// The MD5 of every byte `read` returned, if `start_md5` said yes.
    fn md5(&self) -> Option<[u8; 16]> {
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

/// A member's handle of a staged part file.
type StagedOf<D> = <Member<D> as WriteVerbs>::Staged;

/// One member's part file being written (its staging buffer is in `StripeBuffers`,
/// under the member's chunk index).
struct PartWriter<S> {
    /// `None` once the member dropped out of this put (its file is abandoned).
    staged: Option<S>,
    /// File offset where the staging buffer's first byte goes (always block-aligned).
    flushed_bytes: u64,
}

/// Whole blocks of one member's records on their way to its staged file.
struct Flush<S> {
    staged: S,
    /// The staging buffer, its length cut to the whole blocks.
    buf: AlignedBuf,
    /// Bytes staged in `buf` (whole blocks and the partial tail).
    staged_bytes: usize,
    offset_bytes: u64,
}

impl<S: 'static> PartWriter<S> {
    /// The whole blocks of `chunk`'s buffer, taken out with the file until they are
    /// written back; `None` when the member is out or has no whole block yet.
    fn take_whole_blocks(&mut self, bufs: &mut StripeBuffers, chunk: usize) -> Option<Flush<S>> {
        self.staged.as_ref()?;
        let mut buf = bufs.take(chunk);
        let staged_bytes = buf.len();
        let whole = staged_bytes / BLOCK_SIZE_BYTES * BLOCK_SIZE_BYTES;
        if whole == 0 {
            bufs.carry(chunk, buf, 0);
            return None;
        }
        buf.set_len(whole);
        Some(Flush {
            staged: self.staged.take()?,
            buf,
            staged_bytes,
            offset_bytes: self.flushed_bytes,
        })
    }
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
        let mut hasher = body_hasher(algorithm, body);
        let mut bufs = self.stripe_buffers();
        let first_len = self
            .fill_stripe(body, &mut bufs, 0, &mut hasher, options)
            .await?;
        let k = self.set_layout().data_chunks;
        let fits_inline = first_len < self.config.stripe_size_bytes
            && chunk_len_for(first_len, k) <= self.config.inline_chunk_max_bytes;
        // Chosen before streaming: the part file's records are bound to it.
        let version_id = self.random_id();
        let staged = if fits_inline {
            Staged::Inline(self.encode_inline(&mut bufs).await?)
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
                    &mut bufs,
                    first_len,
                    body,
                    &mut hasher,
                    options,
                )
                .await;
            match streamed {
                Ok(live) => Staged::Parts {
                    from: DataSource::Staging(upload.as_str().into()),
                    live,
                    owned: true,
                },
                Err(e) => {
                    self.discard_staging(placement, &upload, &[]).await;
                    return Err(e);
                }
            }
        };
        drop(bufs); // back to the pool before the commit's wait for locks and drives
        let size_bytes = hasher.len_bytes();
        let (md5, checksum) = hasher.finish_with(body.md5());
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
            tombstone: false,
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

    /// Reads stripe `stripe_index` of the body straight into the data chunks' places,
    /// hashing each read while its bytes are in cache; returns the stripe's length
    /// (short only at the body's end). With a declared length the chunk length is
    /// known before the bytes arrive; without one a short last stripe is re-split.
    pub(crate) async fn fill_stripe(
        &self,
        body: &mut impl BodySource,
        bufs: &mut StripeBuffers,
        stripe_index: u64,
        hasher: &mut BodyHasher,
        options: &PutOptions,
    ) -> Result<usize> {
        let stripe_bytes = self.config.stripe_size_bytes;
        let expected = options.size_bytes.map(|declared| {
            let done = stripe_index.saturating_mul(stripe_bytes as u64);
            usize::try_from(declared.saturating_sub(done))
                .map_or(stripe_bytes, |left| left.min(stripe_bytes))
        });
        let target = expected.unwrap_or(stripe_bytes);
        bufs.begin_stripe(chunk_len_for(target, self.set_layout().data_chunks));
        while bufs.filled_bytes() < target {
            if !bufs.next_is_held() {
                // Memory for bytes that arrived: a body that sent nothing holds none.
                body.ready().await.map_err(Error::Source)?;
                bufs.hold_next(&self.env).await?;
            }
            let want = target - bufs.filled_bytes();
            let room = bufs.next_room();
            let take = want.min(room.len());
            let room = &mut room[..take];
            let n = body.read(room).await.map_err(Error::Source)?;
            if n == 0 {
                break;
            }
            hasher.update(&room[..n]);
            bufs.advance(n);
        }
        let filled = bufs.filled_bytes();
        if filled == target && target < stripe_bytes {
            // The declared end: the body must end here too (and be verified by its
            // decoder), so read once more; a byte past it makes the length wrong.
            let mut probe = [0u8; 1];
            let n = body.read(&mut probe).await.map_err(Error::Source)?;
            hasher.update(&probe[..n]);
        }
        self.check_body_length(hasher.len_bytes(), filled < stripe_bytes, options)?;
        if filled < stripe_bytes {
            if filled > 0 {
                bufs.hold_all(&self.env).await?;
            }
            bufs.shrink_to_filled();
        }
        Ok(filled)
    }

    /// The body's length so far (`ended`: all of it) against the limits and its claim.
    fn check_body_length(&self, total: u64, ended: bool, options: &PutOptions) -> Result<()> {
        if total > self.config.object_size_max_bytes {
            return Err(Error::EntityTooLarge);
        }
        if options.size_bytes.is_some_and(|declared| total > declared) {
            return Err(Error::IncompleteBody);
        }
        if ended && options.size_bytes.is_some_and(|declared| total != declared) {
            return Err(Error::IncompleteBody);
        }
        Ok(())
    }

    /// Every set drive's chunk of a one-stripe object (filled in `bufs`), for the
    /// metadata.
    async fn encode_inline(&self, bufs: &mut StripeBuffers) -> Result<Vec<Vec<u8>>> {
        bufs.hold_all(&self.env).await?;
        bufs.encode(&self.coder.borrow());
        Ok((0..self.set_layout().set_size())
            .map(|i| bufs.chunk(i).to_vec())
            .collect())
    }

    /// Staging buffers for one write, from the shard's pool, paid for by its budget.
    pub(crate) fn stripe_buffers(&self) -> StripeBuffers {
        StripeBuffers::new(self.set_layout(), &self.stripe_pool, &self.memory)
    }

    /// Streams every stripe into part files; returns which set drives hold a complete,
    /// synced part file.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn stream_parts(
        &self,
        placement: Placement,
        owner: RecordOwner<'_>,
        upload: &str,
        bufs: &mut StripeBuffers,
        first_len: usize,
        body: &mut impl BodySource,
        hasher: &mut BodyHasher,
        options: &PutOptions,
    ) -> Result<Vec<bool>> {
        let layout = self.set_layout();
        let drives = self.set_members(placement.set_index);
        let stripe_bytes = self.config.stripe_size_bytes;
        let full_chunk = chunk_len_for(stripe_bytes, layout.data_chunks);
        let record_bytes = (RECORD_HEADER_BYTES + full_chunk).next_multiple_of(BLOCK_SIZE_BYTES);
        // The declared length is a claim, not data: preallocate only a few stripes of
        // it, so a client that declares much and sends slowly reserves little disk.
        let size_hint = options.size_bytes.map_or(0, |s| {
            let declared = Geometry::new(s, stripe_bytes, layout.data_chunks).part_file_len();
            declared.min(PREALLOCATED_STRIPES * record_bytes as u64)
        });
        let staging: Rc<str> = upload.into();
        let strategy = Strategy::all(Verb::StageBegin, self.config.member_deadline);
        let opens = quorum::call(&self.env, drives, strategy, |_, member| {
            let staging = Rc::clone(&staging);
            async move { member.stage_begin(&staging, 1, size_hint).await }
        })
        .await;
        let mut writers: Vec<PartWriter<StagedOf<D>>> = opens
            .into_iter()
            .map(|f| PartWriter {
                staged: f.into_ok(),
                flushed_bytes: 0,
            })
            .collect();
        self.check_write_quorum(&writers)?;
        let tags: Vec<u64> = (0..layout.set_size())
            .map(|chunk_index| owner.chunk_tag(chunk_index))
            .collect();
        let mut len = first_len;
        for stripe_index in 0.. {
            bufs.hold_all(&self.env).await?;
            bufs.seal(&self.coder.borrow(), &tags, stripe_index);
            self.write_records(placement, drives, &mut writers, bufs)
                .await?;
            if len < stripe_bytes {
                break;
            }
            // Let other requests on this shard run between stripes of CPU work.
            self.env.yield_now().await;
            len = self
                .fill_stripe(body, bufs, stripe_index + 1, hasher, options)
                .await?;
            if len == 0 {
                break;
            }
        }
        let logical =
            Geometry::new(hasher.len_bytes(), stripe_bytes, layout.data_chunks).part_file_len();
        let set_size = drives.len();
        let strategy = strategy.with_verb(Verb::StageFinish);
        let finishes = quorum::call(&self.env, drives, strategy, |index, member| {
            let writer = &mut writers[index];
            let staged = writer.staged.take();
            let tail = bufs.take_tail(placement.chunk_of_drive(index, set_size));
            let offset_bytes = writer.flushed_bytes;
            async move {
                let staged = staged.ok_or(MemberError::NotAsked(DROPPED_OUT))?;
                finish_part(&member, staged, tail, offset_bytes, logical).await
            }
        })
        .await;

        let synced: Vec<bool> = finishes.iter().map(Answer::is_ok).collect();
        let ok = ok_count(&finishes);
        if ok < layout.write_quorum() {
            return Err(Error::InsufficientWriteQuorum {
                ok,
                needed: layout.write_quorum(),
            });
        }
        Ok(synced)
    }

    fn check_write_quorum(&self, writers: &[PartWriter<StagedOf<D>>]) -> Result<()> {
        let ok = writers.iter().filter(|w| w.staged.is_some()).count();
        let needed = self.set_layout().write_quorum();
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }

    /// Writes the whole blocks of this stripe's sealed records to every live member.
    /// Waits for every member (or its deadline), then gives the buffers and their grants
    /// back (the partial blocks carried); a member that misses its deadline drops out of
    /// this put.
    async fn write_records(
        &self,
        placement: Placement,
        drives: &[Rc<Member<D>>],
        writers: &mut [PartWriter<StagedOf<D>>],
        bufs: &mut StripeBuffers,
    ) -> Result<()> {
        let set_size = drives.len();
        let chunk_of = |drive_index| placement.chunk_of_drive(drive_index, set_size);
        let live: Vec<bool> = writers.iter().map(|w| w.staged.is_some()).collect();
        let mut flushes: Vec<Option<Flush<StagedOf<D>>>> = writers
            .iter_mut()
            .enumerate()
            .map(|(index, writer)| writer.take_whole_blocks(bufs, chunk_of(index)))
            .collect();
        if flushes.iter().all(Option::is_none) {
            // Not a whole block to write (a short last stripe): no drive is asked, so
            // none is timed for a call it did not get. Members already out give their
            // buffers back, as the answers below would have.
            for (index, _) in live.iter().enumerate().filter(|(_, live)| !**live) {
                bufs.forget(chunk_of(index));
            }
            return self.check_write_quorum(writers);
        }
        let strategy = Strategy::all(Verb::StageAppend, self.config.member_deadline);
        let answers = quorum::call(&self.env, drives, strategy, |index, member| {
            let (flush, live) = (flushes[index].take(), live[index]);
            async move {
                match flush {
                    Some(flush) => append_blocks(&member, flush).await.map(Some),
                    None if live => Ok(None),
                    None => Err(MemberError::NotAsked(DROPPED_OUT)),
                }
            }
        })
        .await;
        for (index, (writer, answer)) in writers.iter_mut().zip(answers).enumerate() {
            match answer {
                Answer::Ok(Some((staged, buf, whole))) => {
                    writer.staged = Some(staged);
                    writer.flushed_bytes += whole as u64;
                    bufs.carry(chunk_of(index), buf, whole);
                }
                Answer::Ok(None) => {}
                _ => {
                    writer.staged = None;
                    bufs.forget(chunk_of(index));
                }
            }
        }
        self.check_write_quorum(writers)
    }
}

pub(crate) enum Staged {
    /// Every chunk, by chunk index.
    Inline(Vec<Vec<u8>>),
    /// A folder of part files, renamed to the version's data folder at commit.
    Parts {
        /// The folder on every set member.
        from: DataSource,
        /// Per set drive, whether its folder is complete and synced.
        live: Vec<bool>,
        /// A put's own staging (removed if the put fails), or a multipart upload's
        /// folder (kept, so the client may retry or abort).
        owned: bool,
    },
}

/// Why a member is not asked for the rest of a put.
const DROPPED_OUT: &str = "dropped out of this write";

/// Writes one member's whole blocks; gives back the file, the buffer (its length
/// back at all it staged) and how many bytes were written.
async fn append_blocks<D: Drive>(
    member: &Member<D>,
    flush: Flush<StagedOf<D>>,
) -> MemberResult<(StagedOf<D>, AlignedBuf, usize)> {
    let whole = flush.buf.len();
    let (result, mut buf) = member
        .stage_append(&flush.staged, flush.buf, flush.offset_bytes)
        .await;
    result?;
    buf.set_len(flush.staged_bytes);
    Ok((flush.staged, buf, whole))
}

/// Writes the last partial block (in its one-block buffer), trims the padding, makes
/// the file durable and closes it.
async fn finish_part<D: Drive>(
    member: &Member<D>,
    staged: StagedOf<D>,
    mut tail: AlignedBuf,
    offset_bytes: u64,
    logical_len_bytes: u64,
) -> MemberResult<()> {
    if !tail.is_empty() {
        tail.pad_to_block();
        let (result, _) = member.stage_append(&staged, tail, offset_bytes).await;
        result?;
    }
    member.stage_finish(staged, logical_len_bytes).await
}

/// The hasher of a body: MD5 included unless the source computes it.
pub(crate) fn body_hasher(
    algorithm: Option<ChecksumAlgorithm>,
    body: &mut impl BodySource,
) -> BodyHasher {
    if body.start_md5() {
        BodyHasher::without_md5(algorithm)
    } else {
        BodyHasher::new(algorithm)
    }
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

/// Stripes of a part file preallocated before any arrive; the rest is allocated as
/// written.
const PREALLOCATED_STRIPES: u64 = 4;
