//! A peer member's answer to one `VerbRequest`: the verb's success shape in the variant
//! of the same name, or the error it answered instead.
//!
//! Payload: `ReadRecords`' chunk records never live in this type; they travel as the
//! frame's raw payload after the body, exactly the `len_bytes` asked for
//! (`carries_chunks`).

use super::error::VerbError;
use super::handle::Handle;
use super::kind::VerbKind;
use super::request::VerbRequest;
use super::shape::{LockGrant, PartInfo, WalkBatch};

/// The answer to one storage verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerbReply {
    ReadMeta {
        record: Vec<u8>,
    },
    /// The staged file's handle on the receiver.
    StageBegin {
        handle: Handle,
    },
    StageAppend,
    StageFinish,
    StageAbandon,
    StageDiscard,
    Commit,
    RollBack,
    WriteMeta,
    InstallData,
    DeleteVersion,
    RetireVersions,
    RemoveStaleVersions,
    HoldsVersionData {
        held: bool,
    },
    /// How many version folders went.
    SweepTrash {
        removed: u64,
    },
    /// The open part file's handle on the receiver.
    OpenRecords {
        handle: Handle,
    },
    /// The records follow as the payload.
    ReadRecords,
    CloseRecords,
    ReadBucket {
        record: Vec<u8>,
    },
    MakeBucket,
    RemoveBucketRecord,
    RemoveBucket,
    /// Sorted.
    ListBuckets {
        buckets: Vec<String>,
    },
    ReadBucketTags {
        record: Vec<u8>,
    },
    WriteBucketTags,
    ReadIdentity {
        record: Vec<u8>,
    },
    WriteUpload,
    ReadUpload {
        record: Vec<u8>,
    },
    RemoveUpload,
    PutPart,
    RemovePart,
    /// In no order.
    ListParts {
        parts: Vec<PartInfo>,
    },
    ListUploads {
        upload_ids: Vec<String>,
    },
    ListUploadBuckets {
        buckets: Vec<String>,
    },
    ForgetUploadBucket,
    PruneCompleted,
    Walk(WalkBatch),
    /// The lease, or `None`: the name stayed busy for the whole wait.
    LockAcquire {
        grant: Option<LockGrant>,
    },
    /// The lease extended, or `None`: it is no longer held.
    LockRefresh {
        grant: Option<LockGrant>,
    },
    LockRelease,
    /// The verb failed on the member.
    Error(VerbError),
}

impl VerbReply {
    /// Which verb this answers (`None`: an error, which answers any).
    pub fn kind(&self) -> Option<VerbKind> {
        Some(match self {
            VerbReply::ReadMeta { .. } => VerbKind::ReadMeta,
            VerbReply::StageBegin { .. } => VerbKind::StageBegin,
            VerbReply::StageAppend => VerbKind::StageAppend,
            VerbReply::StageFinish => VerbKind::StageFinish,
            VerbReply::StageAbandon => VerbKind::StageAbandon,
            VerbReply::StageDiscard => VerbKind::StageDiscard,
            VerbReply::Commit => VerbKind::Commit,
            VerbReply::RollBack => VerbKind::RollBack,
            VerbReply::WriteMeta => VerbKind::WriteMeta,
            VerbReply::InstallData => VerbKind::InstallData,
            VerbReply::DeleteVersion => VerbKind::DeleteVersion,
            VerbReply::RetireVersions => VerbKind::RetireVersions,
            VerbReply::RemoveStaleVersions => VerbKind::RemoveStaleVersions,
            VerbReply::HoldsVersionData { .. } => VerbKind::HoldsVersionData,
            VerbReply::SweepTrash { .. } => VerbKind::SweepTrash,
            VerbReply::OpenRecords { .. } => VerbKind::OpenRecords,
            VerbReply::ReadRecords => VerbKind::ReadRecords,
            VerbReply::CloseRecords => VerbKind::CloseRecords,
            VerbReply::ReadBucket { .. } => VerbKind::ReadBucket,
            VerbReply::MakeBucket => VerbKind::MakeBucket,
            VerbReply::RemoveBucketRecord => VerbKind::RemoveBucketRecord,
            VerbReply::RemoveBucket => VerbKind::RemoveBucket,
            VerbReply::ListBuckets { .. } => VerbKind::ListBuckets,
            VerbReply::ReadBucketTags { .. } => VerbKind::ReadBucketTags,
            VerbReply::WriteBucketTags => VerbKind::WriteBucketTags,
            VerbReply::ReadIdentity { .. } => VerbKind::ReadIdentity,
            VerbReply::WriteUpload => VerbKind::WriteUpload,
            VerbReply::ReadUpload { .. } => VerbKind::ReadUpload,
            VerbReply::RemoveUpload => VerbKind::RemoveUpload,
            VerbReply::PutPart => VerbKind::PutPart,
            VerbReply::RemovePart => VerbKind::RemovePart,
            VerbReply::ListParts { .. } => VerbKind::ListParts,
            VerbReply::ListUploads { .. } => VerbKind::ListUploads,
            VerbReply::ListUploadBuckets { .. } => VerbKind::ListUploadBuckets,
            VerbReply::ForgetUploadBucket => VerbKind::ForgetUploadBucket,
            VerbReply::PruneCompleted => VerbKind::PruneCompleted,
            VerbReply::Walk(_) => VerbKind::Walk,
            VerbReply::LockAcquire { .. } => VerbKind::LockAcquire,
            VerbReply::LockRefresh { .. } => VerbKind::LockRefresh,
            VerbReply::LockRelease => VerbKind::LockRelease,
            VerbReply::Error(_) => return None,
        })
    }

    /// Whether this is a possible answer to `request`: its own verb's shape or an
    /// error. A reply that is not is a protocol violation by the peer.
    pub fn answers(&self, request: &VerbRequest) -> bool {
        self.kind().is_none_or(|kind| kind == request.kind())
    }

    /// Whether chunk records follow the body as the frame's payload (only a successful
    /// `ReadRecords`).
    pub fn carries_chunks(&self) -> bool {
        matches!(self, VerbReply::ReadRecords)
    }
}
