//! `PeerRequest` ↔ `VerbRequest`: the same verbs with the same arguments; the shapes
//! differ only in ownership (`Rc<str>` here, `String` on the wire), in how a fence
//! travels (a `FenceLeft` beside `Commit`/`RollBack` here, inside them on the wire)
//! and in `StageAbandon`, which the wire has and the shards side does not (refused).

use std::rc::Rc;

use shoal_wire::verb::{self as wire, Handle, VerbKind, VerbRequest};

use super::WireFormError;
use crate::member::peer::message::{FenceLeft, PeerRequest};
use crate::member::verbs::walk::WalkRequest;
use crate::member::verbs::write::{Commit, DataSource, Expect, Fence, RollBack};
use crate::record::meta::PartInfo;

/// The wire verb of `request`.
pub fn verb_of(request: &PeerRequest) -> VerbKind {
    match request {
        PeerRequest::ReadMeta { .. } => VerbKind::ReadMeta,
        PeerRequest::StageBegin { .. } => VerbKind::StageBegin,
        PeerRequest::StageAppend { .. } => VerbKind::StageAppend,
        PeerRequest::StageFinish { .. } => VerbKind::StageFinish,
        PeerRequest::StageDiscard { .. } => VerbKind::StageDiscard,
        PeerRequest::Commit { .. } => VerbKind::Commit,
        PeerRequest::RollBack { .. } => VerbKind::RollBack,
        PeerRequest::WriteMeta { .. } => VerbKind::WriteMeta,
        PeerRequest::DeleteVersion { .. } => VerbKind::DeleteVersion,
        PeerRequest::RetireVersions { .. } => VerbKind::RetireVersions,
        PeerRequest::RemoveStaleVersions { .. } => VerbKind::RemoveStaleVersions,
        PeerRequest::HoldsVersionData { .. } => VerbKind::HoldsVersionData,
        PeerRequest::InstallData { .. } => VerbKind::InstallData,
        PeerRequest::SweepTrash { .. } => VerbKind::SweepTrash,
        PeerRequest::OpenRecords { .. } => VerbKind::OpenRecords,
        PeerRequest::ReadRecords { .. } => VerbKind::ReadRecords,
        PeerRequest::CloseRecords { .. } => VerbKind::CloseRecords,
        PeerRequest::ReadBucket { .. } => VerbKind::ReadBucket,
        PeerRequest::MakeBucket { .. } => VerbKind::MakeBucket,
        PeerRequest::RemoveBucketRecord { .. } => VerbKind::RemoveBucketRecord,
        PeerRequest::RemoveBucket { .. } => VerbKind::RemoveBucket,
        PeerRequest::ListBuckets => VerbKind::ListBuckets,
        PeerRequest::ReadBucketTags { .. } => VerbKind::ReadBucketTags,
        PeerRequest::WriteBucketTags { .. } => VerbKind::WriteBucketTags,
        PeerRequest::ReadIdentity => VerbKind::ReadIdentity,
        PeerRequest::Walk { .. } => VerbKind::Walk,
        PeerRequest::WriteUpload { .. } => VerbKind::WriteUpload,
        PeerRequest::ReadUpload { .. } => VerbKind::ReadUpload,
        PeerRequest::RemoveUpload { .. } => VerbKind::RemoveUpload,
        PeerRequest::PutPart { .. } => VerbKind::PutPart,
        PeerRequest::RemovePart { .. } => VerbKind::RemovePart,
        PeerRequest::ListParts { .. } => VerbKind::ListParts,
        PeerRequest::ListUploads { .. } => VerbKind::ListUploads,
        PeerRequest::ListUploadBuckets => VerbKind::ListUploadBuckets,
        PeerRequest::ForgetUploadBucket { .. } => VerbKind::ForgetUploadBucket,
        PeerRequest::PruneCompleted { .. } => VerbKind::PruneCompleted,
        PeerRequest::LockAcquire(_) => VerbKind::LockAcquire,
        PeerRequest::LockRefresh { .. } => VerbKind::LockRefresh,
        PeerRequest::LockRelease { .. } => VerbKind::LockRelease,
    }
}

/// `request` as the wire's (moved: records are not copied, but a `RollBack`'s).
pub(super) fn to_wire(request: PeerRequest) -> Result<VerbRequest, WireFormError> {
    if request.is_lock() {
        let kind = verb_of(&request);
        return super::lock::request_to_wire(request).ok_or(WireFormError::Unsupported(kind));
    }
    Ok(match request {
        PeerRequest::ReadMeta { bucket, key } => VerbRequest::ReadMeta { bucket, key },
        PeerRequest::StageBegin {
            staging,
            part_number,
            size_hint_bytes,
        } => VerbRequest::StageBegin {
            staging,
            part_number,
            size_hint_bytes,
        },
        PeerRequest::StageAppend {
            staged,
            offset_bytes,
        } => VerbRequest::StageAppend {
            handle: Handle(staged),
            offset_bytes,
        },
        PeerRequest::StageFinish { staged, len_bytes } => VerbRequest::StageFinish {
            handle: Handle(staged),
            len_bytes,
        },
        PeerRequest::StageDiscard { staging } => VerbRequest::StageDiscard { staging },
        PeerRequest::Commit { commit, fence } => VerbRequest::Commit(commit_to_wire(commit, fence)),
        PeerRequest::RollBack { roll_back, fence } => {
            VerbRequest::RollBack(roll_back_to_wire(roll_back, fence))
        }
        PeerRequest::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        } => VerbRequest::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        },
        PeerRequest::HoldsVersionData {
            bucket,
            key,
            version_id,
            part_files,
        } => VerbRequest::HoldsVersionData {
            bucket,
            key,
            version_id,
            part_files: part_files.to_vec(),
        },
        request => return fenced_to_wire(request),
    })
}

/// The fenced verbs on one key of `to_wire`.
fn fenced_to_wire(request: PeerRequest) -> Result<VerbRequest, WireFormError> {
    Ok(match request {
        PeerRequest::WriteMeta {
            bucket,
            key,
            meta,
            expect_previous,
            fence,
        } => VerbRequest::WriteMeta {
            bucket,
            key,
            meta,
            expect_previous: expect_to_wire(expect_previous),
            fence: fence_to_wire(fence),
        },
        PeerRequest::InstallData {
            bucket,
            key,
            version_id,
            staging,
            files,
            expect_previous,
            fence,
        } => VerbRequest::InstallData {
            bucket,
            key,
            version_id,
            staging,
            files,
            expect_previous: expect_to_wire(expect_previous),
            fence: fence_to_wire(fence),
        },
        PeerRequest::DeleteVersion {
            bucket,
            key,
            expect_previous,
            fence,
        } => VerbRequest::DeleteVersion {
            bucket,
            key,
            expect_previous: expect_to_wire(expect_previous),
            fence: fence_to_wire(fence),
        },
        PeerRequest::RetireVersions {
            bucket,
            key,
            now_unix_nanos,
            fence,
        } => VerbRequest::RetireVersions {
            bucket,
            key,
            now_unix_nanos,
            fence: fence_to_wire(fence),
        },
        PeerRequest::RemoveStaleVersions {
            bucket,
            key,
            keep,
            now_unix_nanos,
            fence,
        } => VerbRequest::RemoveStaleVersions {
            bucket,
            key,
            keep,
            now_unix_nanos,
            fence: fence_to_wire(fence),
        },
        request => return records_to_wire(request),
    })
}

/// The record, bucket and walk verbs of `to_wire`.
fn records_to_wire(request: PeerRequest) -> Result<VerbRequest, WireFormError> {
    Ok(match request {
        PeerRequest::OpenRecords {
            bucket,
            key,
            version_id,
            part_file,
        } => VerbRequest::OpenRecords {
            bucket,
            key,
            version_id,
            part_file,
        },
        PeerRequest::ReadRecords {
            records,
            len_bytes,
            offset_bytes,
        } => VerbRequest::ReadRecords {
            handle: Handle(records),
            offset_bytes,
            len_bytes,
        },
        PeerRequest::CloseRecords { records } => VerbRequest::CloseRecords {
            handle: Handle(records),
        },
        PeerRequest::ReadBucket { bucket } => VerbRequest::ReadBucket { bucket },
        PeerRequest::MakeBucket { bucket, record } => VerbRequest::MakeBucket { bucket, record },
        PeerRequest::RemoveBucketRecord { bucket } => VerbRequest::RemoveBucketRecord { bucket },
        PeerRequest::RemoveBucket { bucket } => VerbRequest::RemoveBucket { bucket },
        PeerRequest::ListBuckets => VerbRequest::ListBuckets,
        PeerRequest::ReadBucketTags { bucket } => VerbRequest::ReadBucketTags { bucket },
        PeerRequest::WriteBucketTags { bucket, record } => {
            VerbRequest::WriteBucketTags { bucket, record }
        }
        PeerRequest::ReadIdentity => VerbRequest::ReadIdentity,
        PeerRequest::Walk { bucket, request } => VerbRequest::Walk {
            bucket,
            request: walk_to_wire(request)?,
        },
        request => upload_to_wire(request),
    })
}

/// The upload verbs of `to_wire` (every other verb is matched before).
fn upload_to_wire(request: PeerRequest) -> VerbRequest {
    match request {
        PeerRequest::WriteUpload {
            bucket,
            upload_id,
            record,
        } => VerbRequest::WriteUpload {
            bucket,
            upload_id,
            record,
        },
        PeerRequest::ReadUpload { bucket, upload_id } => {
            VerbRequest::ReadUpload { bucket, upload_id }
        }
        PeerRequest::RemoveUpload { bucket, upload_id } => {
            VerbRequest::RemoveUpload { bucket, upload_id }
        }
        PeerRequest::PutPart {
            bucket,
            upload_id,
            staging,
            part,
        } => VerbRequest::PutPart {
            bucket,
            upload_id,
            staging,
            part: part_to_wire(part),
        },
        PeerRequest::RemovePart {
            bucket,
            upload_id,
            part,
        } => VerbRequest::RemovePart {
            bucket,
            upload_id,
            part: part_to_wire(part),
        },
        PeerRequest::ListParts { bucket, upload_id } => {
            VerbRequest::ListParts { bucket, upload_id }
        }
        PeerRequest::ListUploads { bucket } => VerbRequest::ListUploads { bucket },
        PeerRequest::ListUploadBuckets => VerbRequest::ListUploadBuckets,
        PeerRequest::ForgetUploadBucket { bucket } => VerbRequest::ForgetUploadBucket { bucket },
        PeerRequest::PruneCompleted {
            bucket,
            key,
            version_id,
            keep,
        } => VerbRequest::PruneCompleted {
            bucket,
            key,
            version_id,
            keep: keep.into_iter().map(part_to_wire).collect(),
        },
        other => unreachable!("{:?} is matched before", verb_of(&other)),
    }
}

/// The wire's request as the shards side's; `StageAbandon` has no message here.
pub(super) fn from_wire(request: VerbRequest) -> Result<PeerRequest, WireFormError> {
    if super::lock::is_lock(request.kind()) {
        let kind = request.kind();
        return super::lock::request_from_wire(request).ok_or(WireFormError::Unsupported(kind));
    }
    Ok(match request {
        VerbRequest::ReadMeta { bucket, key } => PeerRequest::ReadMeta { bucket, key },
        VerbRequest::StageBegin {
            staging,
            part_number,
            size_hint_bytes,
        } => PeerRequest::StageBegin {
            staging,
            part_number,
            size_hint_bytes,
        },
        VerbRequest::StageAppend {
            handle,
            offset_bytes,
        } => PeerRequest::StageAppend {
            staged: handle.0,
            offset_bytes,
        },
        VerbRequest::StageFinish { handle, len_bytes } => PeerRequest::StageFinish {
            staged: handle.0,
            len_bytes,
        },
        VerbRequest::StageAbandon { .. } => {
            return Err(WireFormError::Unsupported(VerbKind::StageAbandon));
        }
        VerbRequest::StageDiscard { staging } => PeerRequest::StageDiscard { staging },
        VerbRequest::Commit(commit) => commit_from_wire(commit),
        VerbRequest::RollBack(roll_back) => roll_back_from_wire(roll_back),
        VerbRequest::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        } => PeerRequest::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        },
        VerbRequest::HoldsVersionData {
            bucket,
            key,
            version_id,
            part_files,
        } => PeerRequest::HoldsVersionData {
            bucket,
            key,
            version_id,
            part_files: Rc::from(part_files),
        },
        request => return fenced_from_wire(request),
    })
}

/// The fenced verbs on one key of `from_wire`.
fn fenced_from_wire(request: VerbRequest) -> Result<PeerRequest, WireFormError> {
    Ok(match request {
        VerbRequest::WriteMeta {
            bucket,
            key,
            meta,
            expect_previous,
            fence,
        } => PeerRequest::WriteMeta {
            bucket,
            key,
            meta,
            expect_previous: expect_from_wire(expect_previous),
            fence: fence_from_wire(fence),
        },
        VerbRequest::InstallData {
            bucket,
            key,
            version_id,
            staging,
            files,
            expect_previous,
            fence,
        } => PeerRequest::InstallData {
            bucket,
            key,
            version_id,
            staging,
            files,
            expect_previous: expect_from_wire(expect_previous),
            fence: fence_from_wire(fence),
        },
        VerbRequest::DeleteVersion {
            bucket,
            key,
            expect_previous,
            fence,
        } => PeerRequest::DeleteVersion {
            bucket,
            key,
            expect_previous: expect_from_wire(expect_previous),
            fence: fence_from_wire(fence),
        },
        VerbRequest::RetireVersions {
            bucket,
            key,
            now_unix_nanos,
            fence,
        } => PeerRequest::RetireVersions {
            bucket,
            key,
            now_unix_nanos,
            fence: fence_from_wire(fence),
        },
        VerbRequest::RemoveStaleVersions {
            bucket,
            key,
            keep,
            now_unix_nanos,
            fence,
        } => PeerRequest::RemoveStaleVersions {
            bucket,
            key,
            keep,
            now_unix_nanos,
            fence: fence_from_wire(fence),
        },
        request => return records_from_wire(request),
    })
}

/// The record, bucket and walk verbs of `from_wire`.
fn records_from_wire(request: VerbRequest) -> Result<PeerRequest, WireFormError> {
    Ok(match request {
        VerbRequest::OpenRecords {
            bucket,
            key,
            version_id,
            part_file,
        } => PeerRequest::OpenRecords {
            bucket,
            key,
            version_id,
            part_file,
        },
        VerbRequest::ReadRecords {
            handle,
            offset_bytes,
            len_bytes,
        } => PeerRequest::ReadRecords {
            records: handle.0,
            len_bytes,
            offset_bytes,
        },
        VerbRequest::CloseRecords { handle } => PeerRequest::CloseRecords { records: handle.0 },
        VerbRequest::ReadBucket { bucket } => PeerRequest::ReadBucket { bucket },
        VerbRequest::MakeBucket { bucket, record } => PeerRequest::MakeBucket { bucket, record },
        VerbRequest::RemoveBucketRecord { bucket } => PeerRequest::RemoveBucketRecord { bucket },
        VerbRequest::RemoveBucket { bucket } => PeerRequest::RemoveBucket { bucket },
        VerbRequest::ListBuckets => PeerRequest::ListBuckets,
        VerbRequest::ReadBucketTags { bucket } => PeerRequest::ReadBucketTags { bucket },
        VerbRequest::WriteBucketTags { bucket, record } => {
            PeerRequest::WriteBucketTags { bucket, record }
        }
        VerbRequest::ReadIdentity => PeerRequest::ReadIdentity,
        VerbRequest::Walk { bucket, request } => PeerRequest::Walk {
            bucket,
            request: walk_from_wire(request)?,
        },
        request => upload_from_wire(request),
    })
}

/// The upload verbs of `from_wire` (every other verb is matched before).
fn upload_from_wire(request: VerbRequest) -> PeerRequest {
    match request {
        VerbRequest::WriteUpload {
            bucket,
            upload_id,
            record,
        } => PeerRequest::WriteUpload {
            bucket,
            upload_id,
            record,
        },
        VerbRequest::ReadUpload { bucket, upload_id } => {
            PeerRequest::ReadUpload { bucket, upload_id }
        }
        VerbRequest::RemoveUpload { bucket, upload_id } => {
            PeerRequest::RemoveUpload { bucket, upload_id }
        }
        VerbRequest::PutPart {
            bucket,
            upload_id,
            staging,
            part,
        } => PeerRequest::PutPart {
            bucket,
            upload_id,
            staging,
            part: part_from_wire(part),
        },
        VerbRequest::RemovePart {
            bucket,
            upload_id,
            part,
        } => PeerRequest::RemovePart {
            bucket,
            upload_id,
            part: part_from_wire(part),
        },
        VerbRequest::ListParts { bucket, upload_id } => {
            PeerRequest::ListParts { bucket, upload_id }
        }
        VerbRequest::ListUploads { bucket } => PeerRequest::ListUploads { bucket },
        VerbRequest::ListUploadBuckets => PeerRequest::ListUploadBuckets,
        VerbRequest::ForgetUploadBucket { bucket } => PeerRequest::ForgetUploadBucket { bucket },
        VerbRequest::PruneCompleted {
            bucket,
            key,
            version_id,
            keep,
        } => PeerRequest::PruneCompleted {
            bucket,
            key,
            version_id,
            keep: keep.into_iter().map(part_from_wire).collect(),
        },
        other => unreachable!("{} is matched before", other.kind().name()),
    }
}

fn commit_to_wire(commit: Commit, fence: FenceLeft) -> wire::Commit {
    wire::Commit {
        bucket: commit.bucket.to_string(),
        key: commit.key.to_string(),
        version_id: commit.version_id,
        data: commit.data.map(source_to_wire),
        meta: commit.meta,
        expect_previous: expect_to_wire(commit.expect_previous),
        fence: fence_to_wire(fence),
    }
}

fn roll_back_to_wire(roll_back: RollBack, fence: FenceLeft) -> wire::RollBack {
    wire::RollBack {
        bucket: roll_back.bucket.to_string(),
        key: roll_back.key.to_string(),
        version_id: roll_back.version_id,
        committed: expect_to_wire(roll_back.committed),
        restore: roll_back.restore.map(|record| record.to_vec()),
        give_back: roll_back.give_back.map(source_to_wire),
        fence: fence_to_wire(fence),
    }
}

/// A decoded `Commit`: its own `fence` is an expired one (see the module's invariants);
/// the lease travels as the request's `FenceLeft`.
fn commit_from_wire(commit: wire::Commit) -> PeerRequest {
    let fence = fence_from_wire(commit.fence);
    PeerRequest::Commit {
        commit: Commit {
            bucket: Rc::from(commit.bucket),
            key: Rc::from(commit.key),
            version_id: commit.version_id,
            data: commit.data.map(source_from_wire),
            meta: commit.meta,
            expect_previous: expect_from_wire(commit.expect_previous),
            fence: expired(fence),
        },
        fence,
    }
}

fn roll_back_from_wire(roll_back: wire::RollBack) -> PeerRequest {
    let fence = fence_from_wire(roll_back.fence);
    PeerRequest::RollBack {
        roll_back: RollBack {
            bucket: Rc::from(roll_back.bucket),
            key: Rc::from(roll_back.key),
            version_id: roll_back.version_id,
            committed: expect_from_wire(roll_back.committed),
            restore: roll_back.restore.map(Rc::from),
            give_back: roll_back.give_back.map(source_from_wire),
            fence: expired(fence),
        },
        fence,
    }
}

/// The fence a decoded `Commit`/`RollBack` holds itself: `fence`'s epoch, expired at
/// monotonic time 0, until the server applies the time left.
fn expired(fence: FenceLeft) -> Fence {
    Fence {
        epoch: fence.epoch,
        expires_at_nanos: 0,
    }
}

fn fence_to_wire(fence: FenceLeft) -> wire::Fence {
    wire::Fence {
        epoch: fence.epoch,
        expires_in_nanos: fence.left_nanos,
    }
}

fn fence_from_wire(fence: wire::Fence) -> FenceLeft {
    FenceLeft {
        epoch: fence.epoch,
        left_nanos: fence.expires_in_nanos,
    }
}

fn expect_to_wire(expect: Expect) -> wire::Expect {
    match expect {
        Expect::Absent => wire::Expect::Absent,
        Expect::Record(print) => wire::Expect::Record(print),
        Expect::Any => wire::Expect::Any,
    }
}

fn expect_from_wire(expect: wire::Expect) -> Expect {
    match expect {
        wire::Expect::Absent => Expect::Absent,
        wire::Expect::Record(print) => Expect::Record(print),
        wire::Expect::Any => Expect::Any,
    }
}

fn source_to_wire(source: DataSource) -> wire::DataSource {
    match source {
        DataSource::Staging(staging) => wire::DataSource::Staging(staging.to_string()),
        DataSource::Upload { bucket, upload_id } => wire::DataSource::Upload {
            bucket: bucket.to_string(),
            upload_id: upload_id.to_string(),
        },
    }
}

fn source_from_wire(source: wire::DataSource) -> DataSource {
    match source {
        wire::DataSource::Staging(staging) => DataSource::Staging(Rc::from(staging)),
        wire::DataSource::Upload { bucket, upload_id } => DataSource::Upload {
            bucket: Rc::from(bucket),
            upload_id: Rc::from(upload_id),
        },
    }
}

pub(super) fn part_to_wire(part: PartInfo) -> wire::PartInfo {
    wire::PartInfo {
        number: part.number,
        seq: part.seq,
        size_bytes: part.size_bytes,
        md5: part.md5,
        checksum: part.checksum,
    }
}

pub(super) fn part_from_wire(part: wire::PartInfo) -> PartInfo {
    PartInfo {
        number: part.number,
        seq: part.seq,
        size_bytes: part.size_bytes,
        md5: part.md5,
        checksum: part.checksum,
    }
}

fn walk_to_wire(request: WalkRequest) -> Result<wire::WalkRequest, WireFormError> {
    let limit = u32::try_from(request.limit).map_err(|_| WireFormError::Range {
        field: "walk.limit",
    })?;
    Ok(wire::WalkRequest {
        prefix: request.prefix,
        start_after: request.start_after,
        skip_under: request.skip_under,
        collapse_slash: request.collapse_slash,
        limit,
        summaries_for: request.summaries_for,
    })
}

fn walk_from_wire(request: wire::WalkRequest) -> Result<WalkRequest, WireFormError> {
    let limit = usize::try_from(request.limit).map_err(|_| WireFormError::Range {
        field: "walk.limit",
    })?;
    Ok(WalkRequest {
        prefix: request.prefix,
        start_after: request.start_after,
        skip_under: request.skip_under,
        collapse_slash: request.collapse_slash,
        limit,
        summaries_for: request.summaries_for,
    })
}
