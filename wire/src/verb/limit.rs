//! The limits of a verb message, each a constant with its unit, and the one check that
//! both the encoder (so a sender learns at once that the receiver would refuse) and the
//! decoder (so nothing from the network exceeds them) apply to a decoded value.
//!
//! Where a limit comes from: S3 (bucket names, keys, part numbers), the file system
//! (one path component), the verbs (`WALK_LIMIT_MAX`), and the frame (`BODY_MAX_BYTES`
//! and `BULK_MAX_BYTES` are the frame's body and payload limits).

use super::reply::VerbReply;
use super::request::VerbRequest;
use super::shape::{
    DataSource, EntrySummary, LockTarget, PartInfo, WalkBatch, WalkEntry, WalkRequest,
};

/// Most bytes of a message's FlatBuffers body: the frame's body limit (64 KiB).
pub const BODY_MAX_BYTES: usize = crate::frame::BODY_MAX_BYTES;
/// Most bytes of a message's bulk (a record, or a list of names, parts or walk
/// entries) carried as the frame's payload: the frame's payload limit. A metadata
/// record holds every version of an object and the inline data of small ones (at most
/// 4 MiB today, see `frame.rs`); a list of 10000 parts is about 1 MiB.
pub const BULK_MAX_BYTES: usize = crate::frame::PAYLOAD_MAX_BYTES;
/// A bucket name: S3 allows 3..=63; the wire accepts 1..=63 (the S3 rules are the
/// front's).
pub const BUCKET_MAX_BYTES: usize = 63;
/// An object key (S3's limit); also a walk's prefix, start and entry names.
pub const KEY_MAX_BYTES: usize = 1024;
/// A name Shoal makes for a file or folder: staging ids, upload ids, part file names
/// (one path component).
pub const NAME_MAX_BYTES: usize = 255;
/// An error's message (longer ones are cut when encoded: a reply must always go out).
pub const MESSAGE_MAX_BYTES: usize = 1024;
/// A part's checksum (SHA-256 is 32 bytes; room for any S3 algorithm).
pub const CHECKSUM_MAX_BYTES: usize = 64;
/// Parts of one upload, and part files of one version (S3's limit).
pub const PARTS_MAX: usize = 10_000;
/// Most entries one walk may ask for and return (a page of S3's maximum plus one).
pub const WALK_LIMIT_MAX: u32 = 1001;
/// An object's ETag in a walk's summary (an MD5 in hex, or a multipart one with its
/// part count; room to spare).
pub const ETAG_MAX_BYTES: usize = 128;
/// Most names (buckets, upload ids) one list answer carries.
pub const NAMES_MAX: usize = 100_000;

/// A value over one of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitError {
    /// Which field.
    pub field: &'static str,
    /// Its length (bytes of a string, entries of a list, or the number itself).
    pub len: usize,
    /// The bounds it had to be in.
    pub min: usize,
    pub max: usize,
}

impl std::fmt::Display for LimitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let LimitError {
            field,
            len,
            min,
            max,
        } = self;
        write!(f, "{field}: {len} not in {min}..={max}")
    }
}

/// Checks `len` of `field` is within `min..=max`.
fn within(field: &'static str, len: usize, min: usize, max: usize) -> Result<(), LimitError> {
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(LimitError {
            field,
            len,
            min,
            max,
        })
    }
}

fn bucket(name: &str) -> Result<(), LimitError> {
    within("bucket", name.len(), 1, BUCKET_MAX_BYTES)
}

fn key(name: &str) -> Result<(), LimitError> {
    within("key", name.len(), 1, KEY_MAX_BYTES)
}

fn name(field: &'static str, name: &str) -> Result<(), LimitError> {
    within(field, name.len(), 1, NAME_MAX_BYTES)
}

fn object(bucket_name: &str, key_name: &str) -> Result<(), LimitError> {
    bucket(bucket_name)?;
    key(key_name)
}

fn upload(bucket_name: &str, upload_id: &str) -> Result<(), LimitError> {
    bucket(bucket_name)?;
    name("upload_id", upload_id)
}

fn bulk(field: &'static str, record: &[u8]) -> Result<(), LimitError> {
    within(field, record.len(), 0, BULK_MAX_BYTES)
}

fn source(data: Option<&DataSource>) -> Result<(), LimitError> {
    match data {
        None => Ok(()),
        Some(DataSource::Staging(staging)) => name("staging", staging),
        Some(DataSource::Upload { bucket, upload_id }) => upload(bucket, upload_id),
    }
}

fn part(part: &PartInfo) -> Result<(), LimitError> {
    within("part.number", part.number as usize, 1, PARTS_MAX)?;
    within("part.checksum", part.checksum.len(), 0, CHECKSUM_MAX_BYTES)
}

fn parts(list: &[PartInfo]) -> Result<(), LimitError> {
    within("parts", list.len(), 0, PARTS_MAX)?;
    list.iter().try_for_each(part)
}

fn names(
    field: &'static str,
    list: &[String],
    count_max: usize,
    len_max: usize,
) -> Result<(), LimitError> {
    within(field, list.len(), 0, count_max)?;
    list.iter()
        .try_for_each(|item| within(field, item.len(), 1, len_max))
}

fn walk_request(request: &WalkRequest) -> Result<(), LimitError> {
    within("walk.prefix", request.prefix.len(), 0, KEY_MAX_BYTES)?;
    within(
        "walk.start_after",
        request.start_after.len(),
        0,
        KEY_MAX_BYTES,
    )?;
    if let Some(skip) = &request.skip_under {
        within("walk.skip_under", skip.len(), 0, KEY_MAX_BYTES)?;
    }
    within(
        "walk.limit",
        request.limit as usize,
        1,
        WALK_LIMIT_MAX as usize,
    )
}

fn walk_batch(batch: &WalkBatch) -> Result<(), LimitError> {
    within(
        "walk.entries",
        batch.entries.len(),
        0,
        WALK_LIMIT_MAX as usize,
    )?;
    batch.entries.iter().try_for_each(|entry| match entry {
        WalkEntry::Key(name) | WalkEntry::Prefix(name) => {
            within("walk.entry", name.len(), 1, KEY_MAX_BYTES)
        }
    })?;
    walk_summaries(&batch.entries, &batch.summaries)
}

/// Summaries are none at all, or one per entry with at least one given (so that a
/// batch has one encoding), each of a key and within its limits.
fn walk_summaries(
    entries: &[WalkEntry],
    summaries: &[Option<EntrySummary>],
) -> Result<(), LimitError> {
    if summaries.is_empty() {
        return Ok(());
    }
    within(
        "walk.summaries",
        summaries.len(),
        entries.len(),
        entries.len(),
    )?;
    let given = summaries.iter().flatten().count();
    within("walk.summaries given", given, 1, entries.len())?;
    for (entry, summary) in entries.iter().zip(summaries) {
        let Some(summary) = summary else { continue };
        if matches!(entry, WalkEntry::Prefix(_)) {
            within("walk.summary of a prefix", 1, 0, 0)?;
        }
        within("walk.summary.etag", summary.etag.len(), 0, ETAG_MAX_BYTES)?;
    }
    Ok(())
}

/// Checks every field of a request against its limit.
pub fn check_request(request: &VerbRequest) -> Result<(), LimitError> {
    match request {
        VerbRequest::ReadMeta { bucket, key }
        | VerbRequest::DeleteVersion { bucket, key, .. }
        | VerbRequest::RetireVersions { bucket, key, .. }
        | VerbRequest::RemoveStaleVersions { bucket, key, .. } => object(bucket, key),
        VerbRequest::StageBegin {
            staging,
            part_number,
            ..
        } => {
            name("staging", staging)?;
            within("part_number", *part_number as usize, 0, PARTS_MAX)
        }
        VerbRequest::StageDiscard { staging } => name("staging", staging),
        VerbRequest::StageAppend { .. }
        | VerbRequest::StageFinish { .. }
        | VerbRequest::StageAbandon { .. }
        | VerbRequest::SweepTrash { .. }
        | VerbRequest::ReadRecords { .. }
        | VerbRequest::CloseRecords { .. }
        | VerbRequest::ListBuckets
        | VerbRequest::ReadIdentity
        | VerbRequest::ListUploadBuckets => Ok(()),
        VerbRequest::Commit(commit) => {
            object(&commit.bucket, &commit.key)?;
            source(commit.data.as_ref())?;
            bulk("meta", &commit.meta)
        }
        VerbRequest::RollBack(roll_back) => {
            object(&roll_back.bucket, &roll_back.key)?;
            source(roll_back.give_back.as_ref())?;
            bulk("restore", roll_back.restore.as_deref().unwrap_or_default())
        }
        VerbRequest::WriteMeta {
            bucket, key, meta, ..
        } => {
            object(bucket, key)?;
            bulk("meta", meta)
        }
        VerbRequest::HoldsVersionData {
            bucket,
            key,
            part_files,
            ..
        } => {
            object(bucket, key)?;
            names("part_files", part_files, PARTS_MAX, NAME_MAX_BYTES)
        }
        VerbRequest::InstallData {
            bucket,
            key,
            staging,
            files,
            ..
        } => {
            object(bucket, key)?;
            name("staging", staging)?;
            names("files", files, PARTS_MAX, NAME_MAX_BYTES)
        }
        VerbRequest::OpenRecords {
            bucket,
            key,
            part_file,
            ..
        } => {
            object(bucket, key)?;
            name("part_file", part_file)
        }
        _ => check_bucket_request(request),
    }
}

/// The bucket and upload verbs of `check_request`.
fn check_bucket_request(request: &VerbRequest) -> Result<(), LimitError> {
    match request {
        VerbRequest::ReadBucket { bucket: b }
        | VerbRequest::RemoveBucketRecord { bucket: b }
        | VerbRequest::RemoveBucket { bucket: b }
        | VerbRequest::ReadBucketTags { bucket: b }
        | VerbRequest::ListUploads { bucket: b }
        | VerbRequest::ForgetUploadBucket { bucket: b } => bucket(b),
        VerbRequest::MakeBucket { bucket: b, record }
        | VerbRequest::WriteBucketTags { bucket: b, record } => {
            bucket(b)?;
            bulk("record", record)
        }
        VerbRequest::WriteUpload {
            bucket,
            upload_id,
            record,
        } => {
            upload(bucket, upload_id)?;
            bulk("record", record)
        }
        VerbRequest::ReadUpload { bucket, upload_id }
        | VerbRequest::RemoveUpload { bucket, upload_id }
        | VerbRequest::ListParts { bucket, upload_id } => upload(bucket, upload_id),
        VerbRequest::PutPart {
            bucket,
            upload_id,
            staging,
            part: p,
        } => {
            upload(bucket, upload_id)?;
            name("staging", staging)?;
            part(p)
        }
        VerbRequest::RemovePart {
            bucket,
            upload_id,
            part: p,
        } => {
            upload(bucket, upload_id)?;
            part(p)
        }
        VerbRequest::PruneCompleted {
            bucket, key, keep, ..
        } => {
            object(bucket, key)?;
            parts(keep)
        }
        VerbRequest::Walk { bucket: b, request } => {
            bucket(b)?;
            walk_request(request)
        }
        VerbRequest::LockAcquire(ask) => match &ask.target {
            LockTarget::Bucket(b) => bucket(b),
            LockTarget::Object { bucket, key } => object(bucket, key),
            LockTarget::Upload(upload_id) => name("upload_id", upload_id),
        },
        // The object verbs, checked by `check_request`.
        _ => Ok(()),
    }
}

/// Checks every field of a reply against its limit.
pub fn check_reply(reply: &VerbReply) -> Result<(), LimitError> {
    match reply {
        VerbReply::ReadMeta { record }
        | VerbReply::ReadBucket { record }
        | VerbReply::ReadBucketTags { record }
        | VerbReply::ReadIdentity { record }
        | VerbReply::ReadUpload { record } => bulk("record", record),
        VerbReply::ListBuckets { buckets } | VerbReply::ListUploadBuckets { buckets } => {
            names("buckets", buckets, NAMES_MAX, BUCKET_MAX_BYTES)
        }
        VerbReply::ListUploads { upload_ids } => {
            names("upload_ids", upload_ids, NAMES_MAX, NAME_MAX_BYTES)
        }
        VerbReply::ListParts { parts: list } => parts(list),
        VerbReply::Walk(batch) => walk_batch(batch),
        VerbReply::Error(error) => within("message", error.message.len(), 0, MESSAGE_MAX_BYTES),
        _ => Ok(()),
    }
}
