//! Values to FlatBuffers bytes: a verb's arguments or answer laid out as one `Request`
//! or `Reply` table (`wire/schema/verbs.fbs`), and its bulk as the raw record or a
//! `List` table. Callers check the limits first (`codec.rs`); this file only lays out.
//!
//! The layout is deterministic (same value, same bytes): fields are written in one
//! fixed order and scalars equal to their default are left out, as FlatBuffers allows.

use flatbuffers::{FlatBufferBuilder, WIPOffset};

use super::kind::VerbKind;
use super::reply::VerbReply;
use super::request::VerbRequest;
use super::schema::{self, slot};
use super::shape::{
    DataSource, EntrySummary, Expect, Fence, LockAsk, LockGrant, LockTarget, PartInfo, WalkEntry,
    WalkRequest,
};

/// A finished sub-table.
type Done = WIPOffset<flatbuffers::TableFinishedWIPOffset>;

/// What follows a body as the frame's payload (besides chunk records, which the caller
/// sends itself).
pub enum Bulk<'v> {
    None,
    Record(&'v [u8]),
    Names(&'v [String]),
    Parts(&'v [PartInfo]),
    /// A walk's entries and their summaries (empty, or one per entry).
    Entries(&'v [WalkEntry], &'v [Option<EntrySummary>]),
}

/// The fields of a `Request` table one verb sets; the rest stay absent.
#[derive(Default)]
struct RequestFields<'v> {
    bucket: Option<&'v str>,
    key: Option<&'v str>,
    staging: Option<&'v str>,
    upload_id: Option<&'v str>,
    part_file: Option<&'v str>,
    version_id: Option<&'v [u8; 16]>,
    handle: u64,
    offset_bytes: u64,
    len_bytes: u64,
    size_hint_bytes: u64,
    part_number: u32,
    now_unix_nanos: u64,
    grace_nanos: u64,
    expect: Option<Expect>,
    fence: Option<Fence>,
    data: Option<&'v DataSource>,
    part: Option<&'v PartInfo>,
    walk: Option<&'v WalkRequest>,
    has_restore: bool,
    lock: Option<LockFields>,
}

/// The `Lock` table's fields.
#[derive(Default)]
struct LockFields {
    kind: u8,
    exclusive: bool,
    lease_nanos: u64,
    wait_nanos: u64,
    epoch: u64,
}

/// The body and bulk of a request.
pub fn request(value: &VerbRequest) -> (Vec<u8>, Bulk<'_>) {
    let (fields, bulk) = request_fields(value);
    let mut b = FlatBufferBuilder::with_capacity(256);
    let root = write_request(&mut b, value.kind().code(), &fields);
    b.finish_minimal(root);
    (b.finished_data().to_vec(), bulk)
}

/// The `Request` fields and the bulk of each verb.
#[allow(clippy::too_many_lines)] // one arm per verb, each a line or two: a table to read
fn request_fields(value: &VerbRequest) -> (RequestFields<'_>, Bulk<'_>) {
    use VerbRequest as R;
    let none = RequestFields::default;
    match value {
        R::ReadMeta { bucket, key } => (obj(bucket, key), Bulk::None),
        R::StageBegin {
            staging,
            part_number,
            size_hint_bytes,
        } => (
            RequestFields {
                staging: Some(staging),
                part_number: *part_number,
                size_hint_bytes: *size_hint_bytes,
                ..none()
            },
            Bulk::None,
        ),
        R::StageAppend {
            handle,
            offset_bytes,
        } => (
            RequestFields {
                handle: handle.0,
                offset_bytes: *offset_bytes,
                ..none()
            },
            Bulk::None,
        ),
        R::StageFinish { handle, len_bytes } => (
            RequestFields {
                handle: handle.0,
                len_bytes: *len_bytes,
                ..none()
            },
            Bulk::None,
        ),
        R::StageAbandon { handle } | R::CloseRecords { handle } => (
            RequestFields {
                handle: handle.0,
                ..none()
            },
            Bulk::None,
        ),
        R::StageDiscard { staging } => (
            RequestFields {
                staging: Some(staging),
                ..none()
            },
            Bulk::None,
        ),
        R::Commit(c) => (
            RequestFields {
                version_id: Some(&c.version_id),
                expect: Some(c.expect_previous),
                fence: Some(c.fence),
                data: c.data.as_ref(),
                ..obj(&c.bucket, &c.key)
            },
            Bulk::Record(&c.meta),
        ),
        R::RollBack(r) => (
            RequestFields {
                version_id: Some(&r.version_id),
                expect: Some(r.committed),
                fence: Some(r.fence),
                data: r.give_back.as_ref(),
                has_restore: r.restore.is_some(),
                ..obj(&r.bucket, &r.key)
            },
            r.restore.as_deref().map_or(Bulk::None, Bulk::Record),
        ),
        R::WriteMeta {
            bucket,
            key,
            meta,
            expect_previous,
            fence,
        } => (
            RequestFields {
                expect: Some(*expect_previous),
                fence: Some(*fence),
                ..obj(bucket, key)
            },
            Bulk::Record(meta),
        ),
        R::DeleteVersion {
            bucket,
            key,
            expect_previous,
            fence,
        } => (
            RequestFields {
                expect: Some(*expect_previous),
                fence: Some(*fence),
                ..obj(bucket, key)
            },
            Bulk::None,
        ),
        R::RetireVersions {
            bucket,
            key,
            now_unix_nanos,
            fence,
        } => (
            RequestFields {
                now_unix_nanos: *now_unix_nanos,
                fence: Some(*fence),
                ..obj(bucket, key)
            },
            Bulk::None,
        ),
        R::RemoveStaleVersions {
            bucket,
            key,
            keep,
            now_unix_nanos,
            fence,
        } => (
            RequestFields {
                version_id: Some(keep),
                now_unix_nanos: *now_unix_nanos,
                fence: Some(*fence),
                ..obj(bucket, key)
            },
            Bulk::None,
        ),
        R::HoldsVersionData {
            bucket,
            key,
            version_id,
            part_files,
        } => (
            RequestFields {
                version_id: Some(version_id),
                ..obj(bucket, key)
            },
            Bulk::Names(part_files),
        ),
        R::InstallData {
            bucket,
            key,
            version_id,
            staging,
            files,
            expect_previous,
            fence,
        } => (
            RequestFields {
                version_id: Some(version_id),
                staging: Some(staging),
                expect: Some(*expect_previous),
                fence: Some(*fence),
                ..obj(bucket, key)
            },
            Bulk::Names(files),
        ),
        R::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        } => (
            RequestFields {
                now_unix_nanos: *now_unix_nanos,
                grace_nanos: *grace_nanos,
                ..none()
            },
            Bulk::None,
        ),
        R::OpenRecords {
            bucket,
            key,
            version_id,
            part_file,
        } => (
            RequestFields {
                version_id: Some(version_id),
                part_file: Some(part_file),
                ..obj(bucket, key)
            },
            Bulk::None,
        ),
        R::ReadRecords {
            handle,
            offset_bytes,
            len_bytes,
        } => (
            RequestFields {
                handle: handle.0,
                offset_bytes: *offset_bytes,
                len_bytes: *len_bytes,
                ..none()
            },
            Bulk::None,
        ),
        R::ReadBucket { bucket }
        | R::RemoveBucketRecord { bucket }
        | R::RemoveBucket { bucket }
        | R::ReadBucketTags { bucket }
        | R::ListUploads { bucket }
        | R::ForgetUploadBucket { bucket } => (of_bucket(bucket), Bulk::None),
        R::MakeBucket { bucket, record } | R::WriteBucketTags { bucket, record } => {
            (of_bucket(bucket), Bulk::Record(record))
        }
        R::ListBuckets | R::ReadIdentity | R::ListUploadBuckets => (none(), Bulk::None),
        R::WriteUpload {
            bucket,
            upload_id,
            record,
        } => (of_upload(bucket, upload_id), Bulk::Record(record)),
        R::ReadUpload { bucket, upload_id }
        | R::RemoveUpload { bucket, upload_id }
        | R::ListParts { bucket, upload_id } => (of_upload(bucket, upload_id), Bulk::None),
        R::PutPart {
            bucket,
            upload_id,
            staging,
            part,
        } => (
            RequestFields {
                staging: Some(staging),
                part: Some(part),
                ..of_upload(bucket, upload_id)
            },
            Bulk::None,
        ),
        R::RemovePart {
            bucket,
            upload_id,
            part,
        } => (
            RequestFields {
                part: Some(part),
                ..of_upload(bucket, upload_id)
            },
            Bulk::None,
        ),
        R::PruneCompleted {
            bucket,
            key,
            version_id,
            keep,
        } => (
            RequestFields {
                version_id: Some(version_id),
                ..obj(bucket, key)
            },
            Bulk::Parts(keep),
        ),
        R::Walk { bucket, request } => (
            RequestFields {
                walk: Some(request),
                ..of_bucket(bucket)
            },
            Bulk::None,
        ),
        R::LockAcquire(ask) => (lock_acquire(ask), Bulk::None),
        R::LockRefresh {
            id,
            lease_nanos,
            fence_epoch,
        } => (
            RequestFields {
                handle: *id,
                lock: Some(LockFields {
                    lease_nanos: *lease_nanos,
                    epoch: *fence_epoch,
                    ..LockFields::default()
                }),
                ..none()
            },
            Bulk::None,
        ),
        R::LockRelease { id } => (
            RequestFields {
                handle: *id,
                ..none()
            },
            Bulk::None,
        ),
    }
}

/// A `LockAcquire`'s fields: the name in the strings, the rest in `Lock`.
fn lock_acquire(ask: &LockAsk) -> RequestFields<'_> {
    let (kind, fields) = match &ask.target {
        LockTarget::Bucket(bucket) => (1, of_bucket(bucket)),
        LockTarget::Object { bucket, key } => (2, obj(bucket, key)),
        LockTarget::Upload(upload_id) => (
            3,
            RequestFields {
                upload_id: Some(upload_id),
                ..RequestFields::default()
            },
        ),
    };
    RequestFields {
        handle: ask.id,
        lock: Some(LockFields {
            kind,
            exclusive: ask.exclusive,
            lease_nanos: ask.lease_nanos,
            wait_nanos: ask.wait_nanos,
            epoch: ask.seen_epoch,
        }),
        ..fields
    }
}

fn obj<'v>(bucket: &'v str, key: &'v str) -> RequestFields<'v> {
    RequestFields {
        bucket: Some(bucket),
        key: Some(key),
        ..RequestFields::default()
    }
}

fn of_bucket(bucket: &str) -> RequestFields<'_> {
    RequestFields {
        bucket: Some(bucket),
        ..RequestFields::default()
    }
}

fn of_upload<'v>(bucket: &'v str, upload_id: &'v str) -> RequestFields<'v> {
    RequestFields {
        bucket: Some(bucket),
        upload_id: Some(upload_id),
        ..RequestFields::default()
    }
}

/// Writes the sub-tables and strings first (FlatBuffers builds children before their
/// parent), then the `Request` table.
fn write_request(b: &mut FlatBufferBuilder, verb: u8, f: &RequestFields) -> Done {
    use schema::request as id;
    let strings = [
        (id::BUCKET, f.bucket),
        (id::KEY, f.key),
        (id::STAGING, f.staging),
        (id::UPLOAD_ID, f.upload_id),
        (id::PART_FILE, f.part_file),
    ]
    .map(|(field, text)| (field, text.map(|text| b.create_string(text))));
    let version_id = f.version_id.map(|bytes| b.create_vector(bytes.as_slice()));
    let expect = f.expect.map(|expect| write_expect(b, expect));
    let fence = f.fence.map(|fence| write_fence(b, fence));
    let data = f.data.map(|data| write_source(b, data));
    let part = f.part.map(|part| write_part(b, part));
    let walk = f.walk.map(|walk| write_walk(b, walk));
    let lock = f.lock.as_ref().map(|lock| write_lock(b, lock));
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::VERB), verb, 0);
    for (field, offset) in strings {
        if let Some(offset) = offset {
            b.push_slot_always(slot(field), offset);
        }
    }
    if let Some(offset) = version_id {
        b.push_slot_always(slot(id::VERSION_ID), offset);
    }
    for (field, value) in [
        (id::HANDLE, f.handle),
        (id::OFFSET_BYTES, f.offset_bytes),
        (id::LEN_BYTES, f.len_bytes),
        (id::SIZE_HINT_BYTES, f.size_hint_bytes),
        (id::NOW_UNIX_NANOS, f.now_unix_nanos),
        (id::GRACE_NANOS, f.grace_nanos),
    ] {
        b.push_slot::<u64>(slot(field), value, 0);
    }
    b.push_slot::<u32>(slot(id::PART_NUMBER), f.part_number, 0);
    for (field, offset) in [
        (id::EXPECT, expect),
        (id::FENCE, fence),
        (id::DATA, data),
        (id::PART, part),
        (id::WALK, walk),
        (id::LOCK, lock),
    ] {
        if let Some(offset) = offset {
            b.push_slot_always(slot(field), offset);
        }
    }
    b.push_slot::<bool>(slot(id::HAS_RESTORE), f.has_restore, false);
    b.end_table(table)
}

fn write_lock(b: &mut FlatBufferBuilder, lock: &LockFields) -> Done {
    use schema::lock as id;
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::KIND), lock.kind, 0);
    b.push_slot::<bool>(slot(id::EXCLUSIVE), lock.exclusive, false);
    b.push_slot::<u64>(slot(id::LEASE_NANOS), lock.lease_nanos, 0);
    b.push_slot::<u64>(slot(id::WAIT_NANOS), lock.wait_nanos, 0);
    b.push_slot::<u64>(slot(id::EPOCH), lock.epoch, 0);
    b.end_table(table)
}

fn write_expect(b: &mut FlatBufferBuilder, expect: Expect) -> Done {
    use schema::expect as id;
    let (kind, record) = match expect {
        Expect::Absent => (1u8, None),
        Expect::Record(print) => (2, Some(b.create_vector(print.as_slice()))),
        Expect::Any => (3, None),
    };
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::KIND), kind, 0);
    if let Some(record) = record {
        b.push_slot_always(slot(id::RECORD), record);
    }
    b.end_table(table)
}

fn write_fence(b: &mut FlatBufferBuilder, fence: Fence) -> Done {
    use schema::fence as id;
    let table = b.start_table();
    b.push_slot::<u64>(slot(id::EPOCH), fence.epoch, 0);
    b.push_slot::<u64>(slot(id::EXPIRES_IN_NANOS), fence.expires_in_nanos, 0);
    b.end_table(table)
}

fn write_source(b: &mut FlatBufferBuilder, data: &DataSource) -> Done {
    use schema::source as id;
    let (kind, fields) = match data {
        DataSource::Staging(staging) => (1u8, [(id::STAGING, staging.as_str())].to_vec()),
        DataSource::Upload { bucket, upload_id } => (
            2,
            [
                (id::BUCKET, bucket.as_str()),
                (id::UPLOAD_ID, upload_id.as_str()),
            ]
            .to_vec(),
        ),
    };
    let strings: Vec<_> = fields
        .into_iter()
        .map(|(field, text)| (field, b.create_string(text)))
        .collect();
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::KIND), kind, 0);
    for (field, offset) in strings {
        b.push_slot_always(slot(field), offset);
    }
    b.end_table(table)
}

fn write_part(b: &mut FlatBufferBuilder, part: &PartInfo) -> Done {
    use schema::part as id;
    let md5 = b.create_vector(part.md5.as_slice());
    let checksum = b.create_vector(part.checksum.as_slice());
    let table = b.start_table();
    b.push_slot::<u32>(slot(id::NUMBER), part.number, 0);
    b.push_slot::<u64>(slot(id::SEQ), part.seq, 0);
    b.push_slot::<u64>(slot(id::SIZE_BYTES), part.size_bytes, 0);
    b.push_slot_always(slot(id::MD5), md5);
    b.push_slot_always(slot(id::CHECKSUM), checksum);
    b.end_table(table)
}

fn write_walk(b: &mut FlatBufferBuilder, walk: &WalkRequest) -> Done {
    use schema::walk as id;
    let prefix = b.create_string(&walk.prefix);
    let start_after = b.create_string(&walk.start_after);
    let skip_under = walk.skip_under.as_deref().map(|skip| b.create_string(skip));
    let summaries_for = walk
        .summaries_for
        .map(|deployment| b.create_vector(deployment.as_slice()));
    let table = b.start_table();
    b.push_slot_always(slot(id::PREFIX), prefix);
    b.push_slot_always(slot(id::START_AFTER), start_after);
    if let Some(skip_under) = skip_under {
        b.push_slot_always(slot(id::SKIP_UNDER), skip_under);
    }
    b.push_slot::<bool>(slot(id::COLLAPSE_SLASH), walk.collapse_slash, false);
    b.push_slot::<u32>(slot(id::LIMIT), walk.limit, 0);
    if let Some(summaries_for) = summaries_for {
        b.push_slot_always(slot(id::SUMMARIES_FOR), summaries_for);
    }
    b.end_table(table)
}

/// The body and bulk of a reply; an error's message is cut to `message_max_bytes` (at
/// a character boundary).
pub fn reply(value: &VerbReply, message_max_bytes: usize) -> (Vec<u8>, Bulk<'_>) {
    use schema::reply as id;
    let mut b = FlatBufferBuilder::with_capacity(128);
    let error = match value {
        VerbReply::Error(error) => {
            let message = cut(&error.message, message_max_bytes);
            Some(write_error(&mut b, error.kind.code(), message))
        }
        _ => None,
    };
    let (handle, held, removed, truncated, bulk) = reply_fields(value);
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::VERB), value.kind().map_or(0, VerbKind::code), 0);
    if let Some(error) = error {
        b.push_slot_always(slot(id::ERROR), error);
    }
    b.push_slot::<u64>(slot(id::HANDLE), handle, 0);
    b.push_slot::<bool>(slot(id::HELD), held, false);
    b.push_slot::<u64>(slot(id::REMOVED), removed, 0);
    b.push_slot::<bool>(slot(id::TRUNCATED), truncated, false);
    if let Some(grant) = lock_grant(value) {
        b.push_slot::<bool>(slot(id::GRANTED), true, false);
        b.push_slot::<u64>(slot(id::EPOCH), grant.epoch, 0);
        b.push_slot::<u64>(slot(id::EXPIRES_IN_NANOS), grant.expires_in_nanos, 0);
    }
    let root = b.end_table(table);
    b.finish_minimal(root);
    (b.finished_data().to_vec(), bulk)
}

/// The lease a lock verb's answer carries, if any.
fn lock_grant(value: &VerbReply) -> Option<LockGrant> {
    match value {
        VerbReply::LockAcquire { grant } | VerbReply::LockRefresh { grant } => *grant,
        _ => None,
    }
}

/// A reply's scalars (handle, held, removed, truncated) and its bulk.
fn reply_fields(value: &VerbReply) -> (u64, bool, u64, bool, Bulk<'_>) {
    match value {
        VerbReply::ReadMeta { record }
        | VerbReply::ReadBucket { record }
        | VerbReply::ReadBucketTags { record }
        | VerbReply::ReadIdentity { record }
        | VerbReply::ReadUpload { record } => (0, false, 0, false, Bulk::Record(record)),
        VerbReply::StageBegin { handle } | VerbReply::OpenRecords { handle } => {
            (handle.0, false, 0, false, Bulk::None)
        }
        VerbReply::HoldsVersionData { held } => (0, *held, 0, false, Bulk::None),
        VerbReply::SweepTrash { removed } => (0, false, *removed, false, Bulk::None),
        VerbReply::ListBuckets { buckets } | VerbReply::ListUploadBuckets { buckets } => {
            (0, false, 0, false, Bulk::Names(buckets))
        }
        VerbReply::ListUploads { upload_ids } => (0, false, 0, false, Bulk::Names(upload_ids)),
        VerbReply::ListParts { parts } => (0, false, 0, false, Bulk::Parts(parts)),
        VerbReply::Walk(batch) => (
            0,
            false,
            0,
            batch.truncated,
            Bulk::Entries(&batch.entries, &batch.summaries),
        ),
        _ => (0, false, 0, false, Bulk::None),
    }
}

/// `text` cut to at most `max_bytes`, at a character boundary.
fn cut(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

fn write_error(b: &mut FlatBufferBuilder, kind: u8, message: &str) -> Done {
    use schema::error as id;
    let message = b.create_string(message);
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::KIND), kind, 0);
    b.push_slot_always(slot(id::MESSAGE), message);
    b.end_table(table)
}

/// The bytes of a list bulk as a `List` table (empty for no bulk; a record as is).
pub fn bulk<'v>(bulk: &Bulk<'v>) -> std::borrow::Cow<'v, [u8]> {
    use schema::list as id;
    use std::borrow::Cow;
    let mut b = FlatBufferBuilder::with_capacity(1024);
    let (field, list) = match bulk {
        Bulk::None => return Cow::Borrowed(&[]),
        Bulk::Record(record) => return Cow::Borrowed(record),
        Bulk::Names(names) => {
            let names: Vec<_> = names.iter().map(|name| b.create_string(name)).collect();
            (id::NAMES, b.create_vector(&names).as_union_value())
        }
        Bulk::Parts(parts) => {
            let parts: Vec<_> = parts.iter().map(|part| write_part(&mut b, part)).collect();
            (id::PARTS, b.create_vector(&parts).as_union_value())
        }
        Bulk::Entries(entries, summaries) => {
            let entries: Vec<_> = entries
                .iter()
                .enumerate()
                .map(|(i, entry)| {
                    let summary = summaries.get(i).and_then(Option::as_ref);
                    write_entry(&mut b, entry, summary)
                })
                .collect();
            (id::ENTRIES, b.create_vector(&entries).as_union_value())
        }
    };
    let table = b.start_table();
    b.push_slot_always(slot(field), list);
    let root = b.end_table(table);
    b.finish_minimal(root);
    Cow::Owned(b.finished_data().to_vec())
}

fn write_entry(
    b: &mut FlatBufferBuilder,
    entry: &WalkEntry,
    summary: Option<&EntrySummary>,
) -> Done {
    use schema::entry as id;
    let (kind, name) = match entry {
        WalkEntry::Key(name) => (1u8, name),
        WalkEntry::Prefix(name) => (2, name),
    };
    let name = b.create_string(name);
    let summary = summary.map(|summary| write_summary(b, summary));
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::KIND), kind, 0);
    b.push_slot_always(slot(id::NAME), name);
    if let Some(summary) = summary {
        b.push_slot_always(slot(id::SUMMARY), summary);
    }
    b.end_table(table)
}

fn write_summary(b: &mut FlatBufferBuilder, summary: &EntrySummary) -> Done {
    use schema::summary as id;
    let version_id = b.create_vector(summary.version_id.as_slice());
    let etag = b.create_string(&summary.etag);
    let table = b.start_table();
    b.push_slot::<u8>(slot(id::CHUNK_INDEX), summary.chunk_index, 0);
    b.push_slot::<u8>(slot(id::DATA_CHUNKS), summary.data_chunks, 0);
    b.push_slot::<u8>(slot(id::PARITY_CHUNKS), summary.parity_chunks, 0);
    b.push_slot::<u8>(slot(id::ROTATION), summary.rotation, 0);
    b.push_slot_always(slot(id::VERSION_ID), version_id);
    b.push_slot::<u64>(
        slot(id::MOD_TIME_UNIX_NANOS),
        summary.mod_time_unix_nanos,
        0,
    );
    b.push_slot::<u32>(slot(id::META_GENERATION), summary.meta_generation, 0);
    b.push_slot::<u64>(slot(id::SIZE_BYTES), summary.size_bytes, 0);
    b.push_slot_always(slot(id::ETAG), etag);
    b.push_slot::<u8>(slot(id::CHECKSUM_ALGORITHM), summary.checksum_algorithm, 0);
    b.push_slot::<bool>(slot(id::TOMBSTONE), summary.tombstone, false);
    b.end_table(table)
}
