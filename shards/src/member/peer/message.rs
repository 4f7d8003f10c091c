//! The storage verbs as plain messages: one `PeerRequest` per verb call, one
//! `PeerReply` per answer, and the bulk bytes (chunk records) beside them as a payload
//! buffer, never inside. These are what a `PeerLink` carries between a `PeerMember` and
//! the far node's `serve`; the TCP link encodes them as frames (`shoal-wire`).
//!
//! Invariants:
//! - A message names buckets, keys, versions, staging ids, uploads and handles, never
//!   paths: the far node turns them into paths on its own drive.
//! - Times that mean "until" travel as time left (`FenceLeft`), since the clocks of
//!   two nodes differ; wall-clock stamps (`now_unix_nanos`) travel as they are, as
//!   they name a moment for records, not a deadline.
//! - Staged files and open part files are handles on the far side (`Handle`), valid
//!   on the connection that opened them only.
//! - Lock verbs (`LockAcquire`, `LockRefresh`, `LockRelease`) name no drive: they go
//!   to the far node's owner shard of the lock's name, and a granted lease is held by
//!   the connection (its session) under an id the requester chose, until released,
//!   lost, or the connection ends. Their lease lengths and waits travel as durations.

use std::rc::Rc;
use std::time::Duration;

use crate::member::MemberError;
use crate::member::verbs::walk::{WalkBatch, WalkRequest};
use crate::member::verbs::write::{Commit, Expect, Fence, RollBack};
use crate::record::meta::PartInfo;

/// A staged file or an open part file on the far side of one connection.
pub type Handle = u64;

/// A lease fence as it travels: its epoch and the nanoseconds left until it expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceLeft {
    pub epoch: u64,
    pub left_nanos: u64,
}

impl FenceLeft {
    /// `fence` (expiring at this node's monotonic `expires_at_nanos`) seen at `now_nanos`.
    pub fn of(fence: Fence, now_nanos: u64) -> Self {
        Self {
            epoch: fence.epoch,
            left_nanos: fence.expires_at_nanos.saturating_sub(now_nanos),
        }
    }

    /// The fence on the receiving node's monotonic clock, received at `now_nanos`.
    pub fn at(self, now_nanos: u64) -> Fence {
        Fence {
            epoch: self.epoch,
            expires_at_nanos: now_nanos.saturating_add(self.left_nanos),
        }
    }
}

/// What a lock protects, as it travels (`set::key_lock::LockName` on either side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTarget {
    Bucket(String),
    Object { bucket: String, key: String },
    Upload(String),
}

/// A lock asked of a peer node's owner shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockAsk {
    /// The requester's id for the lock on this connection (refresh and release name it).
    pub id: u64,
    pub target: LockTarget,
    pub exclusive: bool,
    /// The lease wanted.
    pub lease: Duration,
    /// How long the far side may wait for the name before answering `Busy`.
    pub wait: Duration,
    /// The highest lease epoch the requester has seen (the grant is above it).
    pub seen_epoch: u64,
}

/// A lock verb's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockAnswer {
    /// Granted (or refreshed): the lease's epoch and the nanoseconds it has left.
    Granted { epoch: u64, left_nanos: u64 },
    /// Not granted within the wait: someone else holds it.
    Busy,
    /// The lease is no longer held (refresh of one taken away, or an unknown id).
    Lost,
}

/// One verb call to one drive of a peer. Payload (if any) beside it: the blocks of a
/// `StageAppend`; a `ReadRecords` asks for `len_bytes` of payload back.
#[derive(Debug, Clone)]
pub enum PeerRequest {
    ReadMeta {
        bucket: String,
        key: String,
    },
    StageBegin {
        staging: String,
        part_number: u32,
        size_hint_bytes: u64,
    },
    StageAppend {
        staged: Handle,
        offset_bytes: u64,
    },
    StageFinish {
        staged: Handle,
        len_bytes: u64,
    },
    StageDiscard {
        staging: String,
    },
    /// `commit.fence` is not used: `fence` carries it as time left.
    Commit {
        commit: Commit,
        fence: FenceLeft,
    },
    /// `roll_back.fence` is not used: `fence` carries it as time left.
    RollBack {
        roll_back: RollBack,
        fence: FenceLeft,
    },
    WriteMeta {
        bucket: String,
        key: String,
        meta: Vec<u8>,
        expect_previous: Expect,
        fence: FenceLeft,
    },
    DeleteVersion {
        bucket: String,
        key: String,
        expect_previous: Expect,
        fence: FenceLeft,
    },
    RetireVersions {
        bucket: String,
        key: String,
        now_unix_nanos: u64,
        fence: FenceLeft,
    },
    RemoveStaleVersions {
        bucket: String,
        key: String,
        keep: [u8; 16],
        now_unix_nanos: u64,
        fence: FenceLeft,
    },
    HoldsVersionData {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        part_files: Rc<[String]>,
    },
    /// `install_data`: the i-th of `files` is staged part i + 1 of `staging`.
    InstallData {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        staging: String,
        files: Vec<String>,
        expect_previous: Expect,
        fence: FenceLeft,
    },
    SweepTrash {
        now_unix_nanos: u64,
        grace_nanos: u64,
    },
    OpenRecords {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        part_file: String,
    },
    ReadRecords {
        records: Handle,
        len_bytes: u64,
        offset_bytes: u64,
    },
    CloseRecords {
        records: Handle,
    },
    ReadBucket {
        bucket: String,
    },
    MakeBucket {
        bucket: String,
        record: Vec<u8>,
    },
    RemoveBucketRecord {
        bucket: String,
    },
    RemoveBucket {
        bucket: String,
    },
    ListBuckets,
    ReadBucketTags {
        bucket: String,
    },
    WriteBucketTags {
        bucket: String,
        record: Vec<u8>,
    },
    ReadIdentity,
    Walk {
        bucket: String,
        request: WalkRequest,
    },
    WriteUpload {
        bucket: String,
        upload_id: String,
        record: Vec<u8>,
    },
    ReadUpload {
        bucket: String,
        upload_id: String,
    },
    RemoveUpload {
        bucket: String,
        upload_id: String,
    },
    PutPart {
        bucket: String,
        upload_id: String,
        staging: String,
        part: PartInfo,
    },
    RemovePart {
        bucket: String,
        upload_id: String,
        part: PartInfo,
    },
    ListParts {
        bucket: String,
        upload_id: String,
    },
    ListUploads {
        bucket: String,
    },
    ListUploadBuckets,
    ForgetUploadBucket {
        bucket: String,
    },
    PruneCompleted {
        bucket: String,
        key: String,
        version_id: [u8; 16],
        keep: Vec<PartInfo>,
    },
    LockAcquire(LockAsk),
    /// Extends lock `id`'s lease to `lease` from now and raises the owner's epochs to
    /// `fence_epoch` (the holder's fence, the highest epoch of its quorum).
    LockRefresh {
        id: u64,
        lease: Duration,
        fence_epoch: u64,
    },
    LockRelease {
        id: u64,
    },
}

impl PeerRequest {
    /// The lease time left this request carries, if it is a fenced verb.
    pub fn fence_mut(&mut self) -> Option<&mut FenceLeft> {
        use PeerRequest as R;
        match self {
            R::Commit { fence, .. }
            | R::RollBack { fence, .. }
            | R::WriteMeta { fence, .. }
            | R::DeleteVersion { fence, .. }
            | R::RetireVersions { fence, .. }
            | R::RemoveStaleVersions { fence, .. }
            | R::InstallData { fence, .. } => Some(fence),
            _ => None,
        }
    }

    /// Takes `elapsed_nanos` (spent since the request was built, before it is sent)
    /// off the lease time it carries: the far side counts what is left from receipt.
    pub fn age_fence(&mut self, elapsed_nanos: u64) {
        if let Some(fence) = self.fence_mut() {
            fence.left_nanos = fence.left_nanos.saturating_sub(elapsed_nanos);
        }
    }

    /// Whether this is a lock verb (served by the node's locks, not by a drive).
    pub fn is_lock(&self) -> bool {
        matches!(
            self,
            PeerRequest::LockAcquire(_)
                | PeerRequest::LockRefresh { .. }
                | PeerRequest::LockRelease { .. }
        )
    }
}

/// The far side's answer to one `PeerRequest`. A `ReadRecords` that succeeded comes
/// with its bytes as payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerReply {
    /// The verb succeeded and returns nothing.
    Done,
    /// A record's bytes (metadata, bucket, tags, upload, identity).
    Bytes(Vec<u8>),
    /// Names (buckets, uploads, upload buckets).
    Names(Vec<String>),
    /// A new staged file or open part file.
    Opened(Handle),
    /// `holds_version_data`'s answer.
    Holds(bool),
    /// `sweep_trash`'s count.
    Count(u64),
    Walk(WalkBatch),
    Parts(Vec<PartInfo>),
    /// A lock verb's answer.
    Lock(LockAnswer),
    /// A lock verb the far node would not carry out (too many locks held by this
    /// connection, an argument out of range), and why: nothing was granted.
    LockRefused(String),
    /// The verb failed on the far drive with this error.
    Failed(MemberError),
}

impl PeerReply {
    /// The reply's kind, for "unexpected reply" errors.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerReply::Done => "done",
            PeerReply::Bytes(_) => "bytes",
            PeerReply::Names(_) => "names",
            PeerReply::Opened(_) => "opened",
            PeerReply::Holds(_) => "holds",
            PeerReply::Count(_) => "count",
            PeerReply::Walk(_) => "walk",
            PeerReply::Parts(_) => "parts",
            PeerReply::Lock(_) => "lock",
            PeerReply::LockRefused(_) => "lock refused",
            PeerReply::Failed(_) => "failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fence's expiry crosses nodes as time left: the far node's expiry is its own
    /// receive time plus what was left, whatever the two clocks read.
    #[test]
    fn fence_travels_as_time_left() {
        let fence = Fence {
            epoch: 7,
            expires_at_nanos: 1_000_500,
        };
        let sent = FenceLeft::of(fence, 1_000_000);
        assert_eq!(sent.left_nanos, 500);
        let received = sent.at(42);
        assert_eq!((received.epoch, received.expires_at_nanos), (7, 542));
        let expired = FenceLeft::of(fence, 2_000_000);
        assert_eq!(expired.left_nanos, 0, "expired stays expired");
        assert_eq!(expired.at(u64::MAX).expires_at_nanos, u64::MAX);
    }

    /// Time spent before sending comes off a fenced verb's lease, never below zero;
    /// other verbs carry none.
    #[test]
    fn waiting_to_send_ages_the_fence() {
        let fence = FenceLeft {
            epoch: 3,
            left_nanos: 1_000,
        };
        let mut request = PeerRequest::DeleteVersion {
            bucket: "b".to_owned(),
            key: "k".to_owned(),
            expect_previous: Expect::Absent,
            fence,
        };
        request.age_fence(400);
        assert_eq!(
            request.fence_mut().map(|f| (f.epoch, f.left_nanos)),
            Some((3, 600))
        );
        request.age_fence(10_000);
        assert_eq!(request.fence_mut().map(|f| f.left_nanos), Some(0));
        let mut unfenced = PeerRequest::SweepTrash {
            now_unix_nanos: 1,
            grace_nanos: 2,
        };
        unfenced.age_fence(5);
        assert!(unfenced.fence_mut().is_none());
    }
}
