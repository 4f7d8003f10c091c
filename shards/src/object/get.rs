//! Reading an object: agreed metadata, then stripe by stripe, only the data chunks the
//! requested range touches. Every chunk record's CRC-64 is verified, bound to whose
//! record it must be (deployment, bucket, key, version, part, chunk index, stripe:
//! `stripe.rs`); a chunk that is missing, short, corrupt, misplaced or on a failing
//! drive is replaced by reading other chunks and reconstructing, and the object is
//! queued for healing. Never wrong bytes: with more than parity chunks lost the read
//! fails.
//!
//! Copies: a healthy chunk is verified and stays in the aligned buffer it was read into,
//! and is gathered from there into the piece `next` returns (one CPU copy); a stripe
//! that needs a rebuild moves its chunks into `chunks` first, where the coder works.
//!
//! These reads keep their own deadlines (not the quorum engine's fan-out), so they time
//! their calls on the member themselves (`MemberHealth::note_call`) and count a record
//! read whole whose checksum does not match as bitrot on its drive.
//!
//! A reader is one version: it reads the metadata once, at open, and every byte it
//! returns is of that version, even while the key is overwritten or deleted (replaced
//! data waits in the trash until readers are done, `trash.rs`).

use futures_util::future::join_all;
use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, Clock, Drive, Env, MonoioEnv};

use crate::error::{Error, Result};
use crate::member::keypath::validate_key;
use crate::member::verbs::records::RecordVerbs;
use crate::member::{Member, MemberError, MemberResult, SetMember, Verb};
use crate::object::quorum::Agreed;
use crate::object::store::Store;
use crate::record::meta::{DriveMeta, ObjectInfo};
use crate::record::stripe::{
    Geometry, RECORD_HEADER_BYTES, RecordOwner, chunk_len_for, record_checksum,
};
use crate::topology::placement::Placement;

/// One part file of an object and the object bytes it holds.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    start: u64,
    pub size_bytes: u64,
    pub file: String,
    /// The part number its records are bound to (1 for a plain object).
    pub number: u32,
}

impl Segment {
    pub(crate) fn of(info: &ObjectInfo) -> Vec<Segment> {
        if info.parts.is_empty() {
            return vec![Segment {
                start: 0,
                size_bytes: info.size_bytes,
                file: PLAIN_PART_FILE.to_owned(),
                number: 1,
            }];
        }
        let mut start = 0;
        info.parts
            .iter()
            .map(|p| {
                let segment = Segment {
                    start,
                    size_bytes: p.size_bytes,
                    file: p.file_name(),
                    number: p.number,
                };
                start += p.size_bytes;
                segment
            })
            .collect()
    }

    /// The segment holding object byte `offset` (which is inside the object). The last
    /// segment starting at or before it is never an empty one: an empty part starts
    /// where its successor does.
    fn containing(segments: &[Segment], offset: u64) -> usize {
        segments
            .partition_point(|s| s.start <= offset)
            .saturating_sub(1)
    }
}

/// The data file of a plain (single-part) object in its version folder.
pub const PLAIN_PART_FILE: &str = "part.1";

/// A byte range as S3 clients ask for it (`Range: bytes=…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last`, inclusive; `last` beyond the end is clamped.
    FromTo { first: u64, last: u64 },
    /// `first-`: to the end.
    From { first: u64 },
    /// `-n`: the last n bytes.
    Suffix { len: u64 },
}

impl ByteRange {
    /// `[start, end)` within an object of `size` bytes, or `InvalidRange`.
    pub fn resolve(self, size: u64) -> Result<(u64, u64)> {
        let (start, end) = match self {
            ByteRange::FromTo { first, last } if first <= last => {
                (first, last.saturating_add(1).min(size))
            }
            ByteRange::From { first } => (first, size),
            ByteRange::Suffix { len } if len > 0 => (size.saturating_sub(len), size),
            ByteRange::FromTo { .. } | ByteRange::Suffix { .. } => return Err(Error::InvalidRange),
        };
        if start >= size {
            return Err(Error::InvalidRange);
        }
        Ok((start, end))
    }
}

/// An open part file of a member (`RecordVerbs::Records`).
type Records<D> = <Member<D> as RecordVerbs>::Records;

/// Streams an object's bytes (or a range of them) stripe by stripe.
pub struct ObjectReader<'a, D: Drive, C: Clock, E: Env = MonoioEnv> {
    store: &'a Store<D, C, E>,
    info: ObjectInfo,
    placement: Placement,
    /// The object's part files in order (one, `part.1`, for a plain object).
    segments: Vec<Segment>,
    /// The segment whose files are open and whose geometry `geometry` is.
    current: usize,
    geometry: Geometry,
    /// Per chunk index, the owner tag of the current segment's records.
    tags: Vec<u64>,
    /// Per set drive: its matching metadata copy, if any. Drives with one are asked
    /// first; any other may still hold the version's data (the records' tags decide).
    copies: Vec<Option<DriveMeta>>,
    files: Vec<Option<Records<D>>>,
    /// Per set drive: gave a bad answer during this read; not asked again.
    failed: Vec<bool>,
    /// Some member failed without proving its chunk bad or missing (an I/O error, a
    /// missed deadline): a `DataUnavailable` from this reader is then no proof that
    /// the version's data is lost (`Store::version_readable`).
    pub(crate) unsure: bool,
    start: u64,
    end: u64,
    next: u64,
    /// Per chunk index: where the current stripe's chunk starts in its record buffer,
    /// verified there; `None`: the chunk is in `chunks` (inline or rebuilt) or absent.
    chunk_at: Vec<Option<usize>>,
    /// Per chunk index: the chunk when it is not in its record buffer (an inline chunk,
    /// or any chunk of a stripe that was rebuilt); grown on first such use.
    chunks: Vec<Vec<u8>>,
    out: Vec<u8>,
    /// Per chunk index, the aligned buffer its records are read into; allocated on first
    /// use and reused for every stripe (no allocation per stripe).
    record_bufs: Vec<Option<AlignedBuf>>,
    record_buf_bytes: usize,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Opens an object for reading, whole or a range of it.
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<ObjectReader<'_, D, C, E>> {
        let mut reader = self.open_object(bucket, key).await?;
        reader.select(range)?;
        Ok(reader)
    }

    /// Opens the version the set agrees on now, whole: one metadata read, and every
    /// byte the reader returns is of that version. Preconditions, part numbers and
    /// ranges are judged against `reader.info()`, then `select` narrows the range.
    ///
    /// The metadata comes from as few members as agreement needs (`read_metas_quick`:
    /// write quorum, data-chunk members first, so an inline object's data chunks come
    /// with the copies read); every member is read only when those disagree or fail.
    /// A member not asked is found damaged by the scanner, not by this read.
    pub async fn open_object(&self, bucket: &str, key: &str) -> Result<ObjectReader<'_, D, C, E>> {
        validate_key(key)?;
        self.require_bucket(bucket).await?;
        let agreed = self.read_agreed(bucket, key).await?;
        Ok(self.reader_of(agreed))
    }

    /// A reader of the version `agreed`, whole.
    pub(crate) fn reader_of(&self, agreed: Agreed) -> ObjectReader<'_, D, C, E> {
        let info = agreed.info;
        let placement = self.placement(&info.bucket, &info.key);
        let set_size = info.data_chunks + info.parity_chunks;
        let segments = Segment::of(&info);
        let geometry = Geometry::new(
            segments[0].size_bytes,
            info.stripe_size_bytes,
            info.data_chunks,
        );
        let largest = segments.iter().map(|s| s.size_bytes).max().unwrap_or(0);
        let full_chunk_len = chunk_len_for(
            usize::try_from(largest)
                .map_or(info.stripe_size_bytes, |l| l.min(info.stripe_size_bytes)),
            info.data_chunks,
        );
        let tags = self.record_tags(&info, segments[0].number);
        ObjectReader {
            store: self,
            placement,
            segments,
            current: 0,
            geometry,
            tags,
            copies: agreed.copies,
            files: (0..set_size).map(|_| None).collect(),
            failed: vec![false; set_size],
            unsure: false,
            start: 0,
            end: info.size_bytes,
            next: 0,
            chunk_at: vec![None; set_size],
            chunks: vec![Vec::new(); set_size],
            out: Vec::new(),
            record_bufs: (0..set_size).map(|_| None).collect(),
            // A record starts anywhere inside a block: room for the header, the chunk
            // and the misalignment, in whole blocks.
            record_buf_bytes: (BLOCK_SIZE_BYTES + RECORD_HEADER_BYTES + full_chunk_len)
                .next_multiple_of(BLOCK_SIZE_BYTES),
            info,
        }
    }

    /// Whether every stripe of `agreed` reads back verified (rebuilt where chunks are
    /// bad), reading the whole version once: `Proven(false)` only when every member
    /// that did not give a chunk proved it bad or missing, so no member that failed or
    /// was slow could have made up for it. For the rare reads that must decide whether
    /// a version short of write quorum can be completed (`roll_forward.rs`).
    pub(crate) async fn version_readable(&self, agreed: Agreed) -> Readable {
        let mut reader = self.reader_of(agreed);
        loop {
            let more = reader.next().await.map(|piece| piece.is_some());
            match more {
                Ok(true) => {}
                Ok(false) => return Readable::Proven(true),
                Err(Error::DataUnavailable(_)) if !reader.unsure => {
                    return Readable::Proven(false);
                }
                Err(e) => return Readable::Unknown(e),
            }
        }
    }
}

/// Whether a version's data can be read (`Store::version_readable`).
pub(crate) enum Readable {
    Proven(bool),
    /// Members failed in ways that prove nothing: the answer is this error.
    Unknown(Error),
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Per chunk index, the tag bound into the records of part `part_number`.
    fn record_tags(&self, info: &ObjectInfo, part_number: u32) -> Vec<u64> {
        let owner = RecordOwner {
            deployment_id: &self.deployment_id,
            bucket: &info.bucket,
            key: &info.key,
            data_id: &info.version_id,
            part_number,
        };
        (0..info.data_chunks + info.parity_chunks)
            .map(|chunk_index| owner.chunk_tag(chunk_index))
            .collect()
    }
}

impl<D: Drive, C: Clock, E: Env> ObjectReader<'_, D, C, E> {
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// `[start, end)` of the object this reader returns.
    pub fn range(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// Narrows the reader to `range` of its version (`None`: the whole object), or
    /// `InvalidRange`. Only before the first `next`.
    pub fn select(&mut self, range: Option<ByteRange>) -> Result<()> {
        assert_eq!(self.next, self.start, "select before reading");
        let (start, end) = match range {
            Some(r) => r.resolve(self.info.size_bytes)?,
            None => (0, self.info.size_bytes),
        };
        (self.start, self.end, self.next) = (start, end, start);
        Ok(())
    }

    /// The next piece of the requested bytes; `None` when all were returned.
    pub async fn next(&mut self) -> Result<Option<&[u8]>> {
        if self.next >= self.end {
            return Ok(None);
        }
        let segment = Segment::containing(&self.segments, self.next);
        if segment != self.current {
            self.switch_segment(segment).await;
        }
        let Segment {
            start: segment_start,
            size_bytes: segment_size,
            ..
        } = self.segments[segment];
        let local = self.next - segment_start;
        let local_end = self.end.min(segment_start + segment_size) - segment_start;
        let stripe_size = self.info.stripe_size_bytes as u64;
        let stripe = local / stripe_size;
        let stripe_start = stripe * stripe_size;
        let from = (local - stripe_start) as usize;
        let to = (local_end.min(stripe_start + stripe_size) - stripe_start) as usize;
        self.load_stripe(stripe, from, to).await?;
        let chunk_len = self.geometry.chunk_len(stripe);
        self.out.clear();
        for i in from / chunk_len..to.div_ceil(chunk_len) {
            let chunk_start = i * chunk_len;
            let a = from.max(chunk_start) - chunk_start;
            let b = to.min(chunk_start + chunk_len) - chunk_start;
            let piece = match self.chunk_at[i] {
                Some(at) => {
                    let buf = self.record_bufs[i].as_ref().expect("a verified record");
                    &buf.as_slice()[at + a..at + b]
                }
                None => &self.chunks[i][a..b],
            };
            self.out.extend_from_slice(piece);
        }
        self.next = segment_start + stripe_start + to as u64;
        Ok(Some(&self.out))
    }

    /// The next piece as a buffer of its own, for a writer that takes ownership (a
    /// socket write): the reader gathers into `spare` from now on, so the piece is not
    /// copied again on its way out. `None` when all were returned.
    pub async fn next_owned(&mut self, spare: Vec<u8>) -> Result<Option<Vec<u8>>> {
        if self.next().await?.is_none() {
            return Ok(None);
        }
        Ok(Some(std::mem::replace(&mut self.out, spare)))
    }

    /// Closes the current part's files and reads `segment` from now on; every drive
    /// gets a fresh chance (one missing part file says nothing of the others).
    pub(crate) async fn switch_segment(&mut self, segment: usize) {
        let members = self.store.set_members(self.placement.set_index);
        for (member, file) in members.iter().zip(self.files.iter_mut()) {
            if let Some(file) = file.take() {
                member.close_records(file).await;
            }
        }
        self.failed.fill(false);
        self.current = segment;
        self.tags = self
            .store
            .record_tags(&self.info, self.segments[segment].number);
        self.geometry = Geometry::new(
            self.segments[segment].size_bytes,
            self.info.stripe_size_bytes,
            self.info.data_chunks,
        );
    }

    /// Reads the whole requested range into one buffer (tests, small objects).
    pub async fn read_all(mut self) -> Result<Vec<u8>> {
        let mut all = Vec::with_capacity((self.end - self.start) as usize);
        while let Some(piece) = self.next().await? {
            all.extend_from_slice(piece);
        }
        Ok(all)
    }

    /// Makes `self.chunks[i]` hold data chunk i of `stripe` for every i that overlaps
    /// stripe bytes `from..to`, reading more chunks and decoding when some are bad.
    async fn load_stripe(&mut self, stripe: u64, from: usize, to: usize) -> Result<()> {
        let (k, set_size) = (self.info.data_chunks, self.chunks.len());
        let chunk_len = self.geometry.chunk_len(stripe);
        let wanted: Vec<usize> = (from / chunk_len..to.div_ceil(chunk_len)).collect();
        self.chunk_at.fill(None);
        let mut present = vec![false; set_size];
        let mut tried = vec![false; set_size];
        // A chunk on a member marked slow is rebuilt from the others instead of waited
        // for (asked last, if the others cannot make up for it).
        let (asked, on_slow): (Vec<usize>, Vec<usize>) =
            wanted.iter().partition(|&&i| !self.on_slow_member(i));
        self.read_chunks(stripe, &asked, &mut present, &mut tried)
            .await;
        if wanted.iter().all(|&i| present[i]) {
            return Ok(());
        }
        if asked.iter().any(|&i| !present[i]) || on_slow.is_empty() {
            self.store.queue_heal(&self.info.bucket, &self.info.key);
        }
        loop {
            let have = present.iter().filter(|p| **p).count();
            if have >= k {
                break;
            }
            let more = self.more_chunks(&tried, k - have);
            if more.is_empty() {
                return Err(Error::DataUnavailable(format!(
                    "stripe {stripe}: only {have} of {k} needed chunks readable"
                )));
            }
            self.read_chunks(stripe, &more, &mut present, &mut tried)
                .await;
        }
        self.gather_for_rebuild(chunk_len);
        let mut slices: Vec<&mut [u8]> = self
            .chunks
            .iter_mut()
            .map(|c| &mut c[..chunk_len])
            .collect();
        let mut coder = self.store.coder.borrow_mut();
        coder.reconstruct_data(&mut slices, &present)?;
        Ok(())
    }

    /// Moves the chunks read in place into `chunks`, where the coder rebuilds the rest
    /// (a degraded stripe keeps this one copy).
    fn gather_for_rebuild(&mut self, chunk_len: usize) {
        for (i, chunk) in self.chunks.iter_mut().enumerate() {
            if chunk.len() < chunk_len {
                chunk.resize(chunk_len, 0);
            }
            if let Some(at) = self.chunk_at[i].take() {
                let buf = self.record_bufs[i].as_ref().expect("a verified record");
                chunk[..chunk_len].copy_from_slice(&buf.as_slice()[at..at + chunk_len]);
            }
        }
    }

    /// Whether chunk `index` lives on a member marked slow.
    fn on_slow_member(&self, index: usize) -> bool {
        if self.info.inline {
            return false;
        }
        let drive = self.placement.drive_of_chunk(index, self.chunks.len());
        let members = self.store.set_members(self.placement.set_index);
        members[drive]
            .health()
            .is_slow(self.store.env.monotonic_nanos())
    }

    /// Up to `count` chunk indices not tried yet, those whose drive holds the
    /// version's metadata and is not marked slow first.
    fn more_chunks(&self, tried: &[bool], count: usize) -> Vec<usize> {
        let set_size = self.chunks.len();
        let members = self.store.set_members(self.placement.set_index);
        let now = self.store.env.monotonic_nanos();
        let mut untried: Vec<usize> = (0..set_size).filter(|&i| !tried[i]).collect();
        untried.sort_by_key(|&i| {
            let drive = self.placement.drive_of_chunk(i, set_size);
            (
                self.copies[drive].is_none(),
                members[drive].health().is_slow(now),
            )
        });
        untried.truncate(count);
        untried
    }

    /// Reads chunks `indices` of `stripe` concurrently into `self.chunks`; each member
    /// has its deadline, and one that misses it is marked slow and not asked again.
    pub(crate) async fn read_chunks(
        &mut self,
        stripe: u64,
        indices: &[usize],
        present: &mut [bool],
        tried: &mut [bool],
    ) {
        let set_size = self.chunks.len();
        let chunk_len = self.geometry.chunk_len(stripe);
        let mut to_open = Vec::new();
        for &i in indices {
            tried[i] = true;
            let drive = self.placement.drive_of_chunk(i, set_size);
            if self.info.inline {
                present[i] = self.copy_inline(drive, i, chunk_len);
            } else if !self.failed[drive] && self.files[drive].is_none() {
                to_open.push(drive);
            }
        }
        if self.info.inline {
            return;
        }
        self.open_files(&to_open).await;
        let offset = self.geometry.record_offset(stripe);
        let members = self.store.set_members(self.placement.set_index);
        let (env, deadline) = (&self.store.env, self.store.config.member_deadline);
        let reads = indices.iter().map(|&i| {
            let drive_index = self.placement.drive_of_chunk(i, set_size);
            let file = if self.failed[drive_index] {
                None
            } else {
                self.files[drive_index].as_ref()
            };
            let buf = self.record_bufs[i]
                .take()
                .unwrap_or_else(|| AlignedBuf::with_capacity(self.record_buf_bytes));
            let place = RecordPlace {
                offset,
                chunk_len,
                tag: self.tags[i],
                stripe,
            };
            let member = &*members[drive_index];
            async move {
                let Some(file) = file else {
                    return (Some(buf), RecordRead::Bad);
                };
                let started_nanos = env.monotonic_nanos();
                let read = shoal_io::timeout(env, deadline, read_record(member, file, buf, &place));
                let (buf, read) = match read.await {
                    Some((buf, read)) => (Some(buf), read),
                    None => (None, Err(MemberError::Timeout)),
                };
                let error = read.as_ref().err();
                (member.health()).note_call(
                    Verb::ReadRecords,
                    started_nanos,
                    env.monotonic_nanos(),
                    error,
                );
                // A read that failed proves nothing of the chunk; one that came back
                // short or with a bad checksum proves it bad.
                let chunk = match (&buf, &read) {
                    (Some(buf), Ok(())) => {
                        verify_record(member, buf, &place).map_or(RecordRead::Bad, RecordRead::At)
                    }
                    _ => RecordRead::Failed,
                };
                (buf, chunk)
            }
        });
        let results = join_all(reads).await;
        for (&i, (buf, chunk)) in indices.iter().zip(results) {
            let drive_index = self.placement.drive_of_chunk(i, set_size);
            match (&buf, chunk) {
                (Some(_), RecordRead::At(at)) => {
                    // Verified in place: it stays in its record buffer.
                    self.chunk_at[i] = Some(at);
                    present[i] = true;
                }
                (_, RecordRead::Failed) => {
                    self.unsure = true;
                    self.failed[drive_index] = true;
                }
                _ => self.failed[drive_index] = true,
            }
            // A read cut at its deadline took its buffer with it: a new one next time.
            self.record_bufs[i] = buf;
        }
    }

    fn copy_inline(&mut self, drive: usize, chunk: usize, chunk_len: usize) -> bool {
        match &self.copies[drive] {
            Some(copy) if copy.inline_chunk.len() == chunk_len => {
                let place = &mut self.chunks[chunk];
                if place.len() < chunk_len {
                    place.resize(chunk_len, 0);
                }
                place[..chunk_len].copy_from_slice(&copy.inline_chunk);
                true
            }
            _ => false,
        }
    }

    /// Opens the current part file on each of `drives` at once, each within the member
    /// deadline; a drive that cannot open it is not asked again during this part.
    async fn open_files(&mut self, drives: &[usize]) {
        if drives.is_empty() {
            return;
        }
        let members = self.store.set_members(self.placement.set_index);
        let (env, deadline) = (&self.store.env, self.store.config.member_deadline);
        let (info, file) = (&self.info, &self.segments[self.current].file);
        let opens = drives.iter().map(|&drive_index| {
            let member = &*members[drive_index];
            async move {
                let started_nanos = env.monotonic_nanos();
                let open = member.open_records(&info.bucket, &info.key, info.version_id, file);
                let opened = shoal_io::timeout(env, deadline, open)
                    .await
                    .unwrap_or(Err(MemberError::Timeout));
                (member.health()).note_call(
                    Verb::OpenRecords,
                    started_nanos,
                    env.monotonic_nanos(),
                    opened.as_ref().err(),
                );
                opened
            }
        });
        let opened: Vec<MemberResult<Records<D>>> = join_all(opens).await;
        for (&drive_index, result) in drives.iter().zip(opened) {
            match result {
                Ok(file) => self.files[drive_index] = Some(file),
                Err(e) => {
                    self.unsure |= !matches!(e, MemberError::NotFound);
                    self.failed[drive_index] = true;
                }
            }
        }
    }
}

/// Where a record is and whose it must be (also healing's, `heal/data.rs`).
pub(crate) struct RecordPlace {
    pub offset: u64,
    pub chunk_len: usize,
    /// The owner tag of the chunk index read.
    pub tag: u64,
    pub stripe: u64,
}

/// What reading one chunk record found.
enum RecordRead {
    /// Whole, and its checksum matches for this owner and stripe: the chunk starts here.
    At(usize),
    /// Short, or its checksum does not match (or the member gave no file): bad.
    Bad,
    /// The member failed to read it (an I/O error, its deadline): nothing is known.
    Failed,
}

impl RecordPlace {
    /// Where the aligned read starts, and where the record starts in what it reads.
    pub(crate) fn aligned(&self) -> (u64, usize) {
        let block = BLOCK_SIZE_BYTES as u64;
        let aligned_start = self.offset / block * block;
        (aligned_start, (self.offset - aligned_start) as usize)
    }
}

/// Reads the blocks holding one chunk record into `buf` (the storage verb alone, so its
/// time is the drive's: the checksum is verified after, `verify_record`).
pub(crate) async fn read_record<M: SetMember>(
    member: &M,
    file: &M::Records,
    buf: AlignedBuf,
    place: &RecordPlace,
) -> (AlignedBuf, MemberResult<()>) {
    let (aligned_start, skip) = place.aligned();
    assert!(
        skip + RECORD_HEADER_BYTES + place.chunk_len <= buf.capacity(),
        "record buffer sized for the largest record"
    );
    let (result, buf) = member.read_records(file, buf, aligned_start).await;
    (buf, result)
}

/// Where the chunk starts in `buf`, if the record read is whole and its checksum
/// matches for this owner and stripe. A whole record whose checksum does not match is
/// counted as bitrot on the member.
pub(crate) fn verify_record<M: SetMember>(
    member: &M,
    buf: &AlignedBuf,
    place: &RecordPlace,
) -> Option<usize> {
    let (_, skip) = place.aligned();
    let needed = skip + RECORD_HEADER_BYTES + place.chunk_len;
    // Cut short: the file ends early (a torn or truncated part), not a checksum failure.
    let bytes = buf.as_slice().get(skip..needed)?;
    let (crc, chunk) = bytes.split_at(RECORD_HEADER_BYTES);
    let expected = record_checksum(place.tag, place.stripe, chunk);
    if crc.try_into().map(u64::from_le_bytes).ok() != Some(expected) {
        member.health().note_bitrot();
        return None;
    }
    Some(skip + RECORD_HEADER_BYTES)
}
