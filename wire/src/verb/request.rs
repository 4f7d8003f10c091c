//! A storage verb as a request to a peer member: one variant per verb of
//! `shards/src/member/verbs/`, named as the verb, carrying the verb's arguments as
//! owned plain values.
//!
//! Payload: chunk records never live in this type. `StageAppend`'s records travel as
//! the frame's raw payload after the body and are read by the receiver straight into
//! its aligned buffer (`carries_chunks`). Everything else, records included, is part
//! of the message; how the codec lays a message out on the wire is its own concern.
//!
//! Every request is answered by exactly one `VerbReply`: the variant of the same name,
//! or `VerbReply::Error`.

use super::handle::Handle;
use super::kind::VerbKind;
use super::shape::{Commit, Expect, Fence, LockAsk, PartInfo, RollBack, WalkRequest};

/// One storage verb with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerbRequest {
    /// The object's metadata record.
    ReadMeta { bucket: String, key: String },
    /// Starts staged part file `part_number` of staging `staging`; answers a handle.
    StageBegin {
        staging: String,
        part_number: u32,
        size_hint_bytes: u64,
    },
    /// Writes the payload (whole blocks of chunk records) at `offset_bytes` of the
    /// staged file.
    StageAppend { handle: Handle, offset_bytes: u64 },
    /// Trims the staged file to `len_bytes`, makes it durable, closes the handle.
    StageFinish { handle: Handle, len_bytes: u64 },
    /// Abandons the staged file and closes the handle: what dropping a local staged
    /// file does (a write that gave up on this member).
    StageAbandon { handle: Handle },
    /// Removes staging `staging` and everything in it.
    StageDiscard { staging: String },
    /// Moves the version's data into place and replaces the metadata record, fenced.
    Commit(Commit),
    /// Puts back what a commit replaced.
    RollBack(RollBack),
    /// Replaces the object's metadata record with `meta` if it is `expect_previous`.
    WriteMeta {
        bucket: String,
        key: String,
        meta: Vec<u8>,
        expect_previous: Expect,
        fence: Fence,
    },
    /// Removes the object's metadata record if it is `expect_previous`.
    DeleteVersion {
        bucket: String,
        key: String,
        expect_previous: Expect,
        fence: Fence,
    },
    /// Moves the key's data folders to the trash (stamped `now_unix_nanos`).
    RetireVersions {
        bucket: String,
        key: String,
        now_unix_nanos: u64,
        fence: Fence,
    },
    /// Moves every data folder of the object but version `keep`'s to the trash.
    RemoveStaleVersions {
        bucket: String,
        key: String,
        keep: [u8; 16],
        now_unix_nanos: u64,
        fence: Fence,
    },
    /// Whether the version's data folder holds every file of `part_files`.
    HoldsVersionData {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        part_files: Vec<String>,
    },
    /// Installs staged part files of `staging` into the version's folder (healing):
    /// the i-th of `files` is staged part i + 1; if the record held is
    /// `expect_previous`, under `fence`. Its bulk is a `List` of the names.
    InstallData {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        staging: String,
        files: Vec<String>,
        expect_previous: Expect,
        fence: Fence,
    },
    /// Removes trash older than `grace_nanos` at `now_unix_nanos`.
    SweepTrash {
        now_unix_nanos: u64,
        grace_nanos: u64,
    },
    /// Opens part file `part_file` of the version; answers a handle.
    OpenRecords {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        part_file: String,
    },
    /// Reads `len_bytes` (whole blocks) from `offset_bytes` of the open part file; the
    /// reply's payload carries them.
    ReadRecords {
        handle: Handle,
        offset_bytes: u64,
        len_bytes: u64,
    },
    /// Closes the open part file.
    CloseRecords { handle: Handle },
    /// The bucket's record.
    ReadBucket { bucket: String },
    /// Makes the bucket here, empty, with this record.
    MakeBucket { bucket: String, record: Vec<u8> },
    /// Removes only the bucket's record.
    RemoveBucketRecord { bucket: String },
    /// Removes the bucket here.
    RemoveBucket { bucket: String },
    /// The names of the bucket records held here.
    ListBuckets,
    /// The bucket's tags record.
    ReadBucketTags { bucket: String },
    /// Replaces the bucket's tags record.
    WriteBucketTags { bucket: String, record: Vec<u8> },
    /// The member's format record.
    ReadIdentity,
    /// Writes the upload's record, creating the upload.
    WriteUpload {
        bucket: String,
        upload_id: String,
        record: Vec<u8>,
    },
    /// The upload's record.
    ReadUpload { bucket: String, upload_id: String },
    /// Removes the upload with its record and parts.
    RemoveUpload { bucket: String, upload_id: String },
    /// Puts the part staged under `staging` into the upload.
    PutPart {
        bucket: String,
        upload_id: String,
        staging: String,
        part: PartInfo,
    },
    /// Takes a part back out of the upload.
    RemovePart {
        bucket: String,
        upload_id: String,
        part: PartInfo,
    },
    /// Every part the member holds of the upload.
    ListParts { bucket: String, upload_id: String },
    /// The ids of every upload of `bucket` the member holds something of.
    ListUploads { bucket: String },
    /// The buckets the member holds uploads of.
    ListUploadBuckets,
    /// Forgets `bucket` among the buckets with uploads once it has none left.
    ForgetUploadBucket { bucket: String },
    /// Removes from the version (which was the upload) the parts not in `keep`.
    PruneCompleted {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        keep: Vec<PartInfo>,
    },
    /// One batch of the bucket's entries in key order.
    Walk {
        bucket: String,
        request: WalkRequest,
    },
    /// Locks a name on the receiver's owner shard of it, waiting at most the ask's
    /// wait; held by the connection under the ask's id.
    LockAcquire(LockAsk),
    /// Extends lock `id`'s lease by `lease_nanos` from now and raises the owner's
    /// epochs to `fence_epoch` (the holder's fence).
    LockRefresh {
        id: u64,
        lease_nanos: u64,
        fence_epoch: u64,
    },
    /// Releases lock `id` (nothing if the connection does not hold it).
    LockRelease { id: u64 },
}

impl VerbRequest {
    /// Which verb this is.
    pub fn kind(&self) -> VerbKind {
        match self {
            VerbRequest::ReadMeta { .. } => VerbKind::ReadMeta,
            VerbRequest::StageBegin { .. } => VerbKind::StageBegin,
            VerbRequest::StageAppend { .. } => VerbKind::StageAppend,
            VerbRequest::StageFinish { .. } => VerbKind::StageFinish,
            VerbRequest::StageAbandon { .. } => VerbKind::StageAbandon,
            VerbRequest::StageDiscard { .. } => VerbKind::StageDiscard,
            VerbRequest::Commit(_) => VerbKind::Commit,
            VerbRequest::RollBack(_) => VerbKind::RollBack,
            VerbRequest::WriteMeta { .. } => VerbKind::WriteMeta,
            VerbRequest::DeleteVersion { .. } => VerbKind::DeleteVersion,
            VerbRequest::RetireVersions { .. } => VerbKind::RetireVersions,
            VerbRequest::RemoveStaleVersions { .. } => VerbKind::RemoveStaleVersions,
            VerbRequest::HoldsVersionData { .. } => VerbKind::HoldsVersionData,
            VerbRequest::InstallData { .. } => VerbKind::InstallData,
            VerbRequest::SweepTrash { .. } => VerbKind::SweepTrash,
            VerbRequest::OpenRecords { .. } => VerbKind::OpenRecords,
            VerbRequest::ReadRecords { .. } => VerbKind::ReadRecords,
            VerbRequest::CloseRecords { .. } => VerbKind::CloseRecords,
            VerbRequest::ReadBucket { .. } => VerbKind::ReadBucket,
            VerbRequest::MakeBucket { .. } => VerbKind::MakeBucket,
            VerbRequest::RemoveBucketRecord { .. } => VerbKind::RemoveBucketRecord,
            VerbRequest::RemoveBucket { .. } => VerbKind::RemoveBucket,
            VerbRequest::ListBuckets => VerbKind::ListBuckets,
            VerbRequest::ReadBucketTags { .. } => VerbKind::ReadBucketTags,
            VerbRequest::WriteBucketTags { .. } => VerbKind::WriteBucketTags,
            VerbRequest::ReadIdentity => VerbKind::ReadIdentity,
            VerbRequest::WriteUpload { .. } => VerbKind::WriteUpload,
            VerbRequest::ReadUpload { .. } => VerbKind::ReadUpload,
            VerbRequest::RemoveUpload { .. } => VerbKind::RemoveUpload,
            VerbRequest::PutPart { .. } => VerbKind::PutPart,
            VerbRequest::RemovePart { .. } => VerbKind::RemovePart,
            VerbRequest::ListParts { .. } => VerbKind::ListParts,
            VerbRequest::ListUploads { .. } => VerbKind::ListUploads,
            VerbRequest::ListUploadBuckets => VerbKind::ListUploadBuckets,
            VerbRequest::ForgetUploadBucket { .. } => VerbKind::ForgetUploadBucket,
            VerbRequest::PruneCompleted { .. } => VerbKind::PruneCompleted,
            VerbRequest::Walk { .. } => VerbKind::Walk,
            VerbRequest::LockAcquire(_) => VerbKind::LockAcquire,
            VerbRequest::LockRefresh { .. } => VerbKind::LockRefresh,
            VerbRequest::LockRelease { .. } => VerbKind::LockRelease,
        }
    }

    /// Whether chunk records follow the body as the frame's payload (only
    /// `StageAppend`); every other request has an empty payload.
    pub fn carries_chunks(&self) -> bool {
        matches!(self, VerbRequest::StageAppend { .. })
    }
}
