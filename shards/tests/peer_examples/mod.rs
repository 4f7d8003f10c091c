//! One example of every `PeerRequest` and of every answer shape to it (each
//! `PeerReply` variant, each `MemberError` kind), shared by the wire form's tests
//! (`shards/tests/peer_wire.rs`) and the `peer_call` fuzz target and its seeds
//! (`fuzz/`, which include this file), so both cover every verb.
//!
//! A `Commit`'s and a `RollBack`'s own fence is the expired one a decoded request
//! carries (the lease travels as `FenceLeft`), so examples compare equal after a trip.
#![allow(dead_code)]

use std::rc::Rc;
use std::time::Duration;

use shoal_shards::member::MemberError;
use shoal_shards::member::peer::message::{
    FenceLeft, LockAnswer, LockAsk, LockTarget, PeerReply, PeerRequest,
};
use shoal_shards::member::verbs::walk::{WalkBatch, WalkEntry, WalkRequest};
use shoal_shards::member::verbs::write::{Commit, DataSource, Expect, Fence, RollBack};
use shoal_shards::record::meta::PartInfo;

pub const VERSION: [u8; 16] = *b"version-id-16-by";
const PRINT: [u8; 16] = [0xA5; 16];
pub const FENCE: FenceLeft = FenceLeft {
    epoch: 7,
    left_nanos: 2_500_000_000,
};
const NOW_UNIX_NANOS: u64 = 1_700_000_000_000_000_000;
/// Bytes a `ReadRecords` example asks for (two blocks).
pub const READ_BYTES: u64 = 8192;

fn s(text: &str) -> String {
    text.to_owned()
}

pub fn part(number: u32) -> PartInfo {
    PartInfo {
        number,
        seq: u64::from(number) << 40 | 3,
        size_bytes: 5 * 1024 * 1024 + u64::from(number),
        md5: [number as u8; 16],
        checksum: if number.is_multiple_of(2) {
            vec![]
        } else {
            vec![0xC3; 32]
        },
    }
}

/// The fence a decoded `Commit`/`RollBack` holds itself.
fn own_fence() -> Fence {
    Fence {
        epoch: FENCE.epoch,
        expires_at_nanos: 0,
    }
}

fn commit(data: Option<DataSource>, meta: Vec<u8>) -> PeerRequest {
    PeerRequest::Commit {
        commit: Commit {
            bucket: Rc::from("photos"),
            key: Rc::from("2024/cat.jpg"),
            version_id: VERSION,
            data,
            meta,
            expect_previous: Expect::Record(PRINT),
            fence: own_fence(),
        },
        fence: FENCE,
    }
}

fn roll_back(restore: Option<Rc<[u8]>>, give_back: Option<DataSource>) -> PeerRequest {
    PeerRequest::RollBack {
        roll_back: RollBack {
            bucket: Rc::from("photos"),
            key: Rc::from("a//b/"),
            version_id: VERSION,
            committed: Expect::Absent,
            restore,
            give_back,
            fence: Fence {
                epoch: u64::MAX,
                expires_at_nanos: 0,
            },
        },
        fence: FenceLeft {
            epoch: u64::MAX,
            left_nanos: 0,
        },
    }
}

fn upload_source() -> DataSource {
    DataSource::Upload {
        bucket: Rc::from("photos"),
        upload_id: Rc::from("upl-0001"),
    }
}

/// Every request, each verb at least once (the variable parts at their interesting
/// values: empty and large records, absent and present options).
pub fn requests() -> Vec<PeerRequest> {
    let mut all = object_requests();
    all.extend(bucket_requests());
    all.extend(upload_requests());
    all.extend(lock_requests());
    all
}

/// The lock verbs: each kind of name, shared and exclusive, the ranges' ends.
fn lock_requests() -> Vec<PeerRequest> {
    let ask = |id, target, exclusive| LockAsk {
        id,
        target,
        exclusive,
        lease: Duration::from_secs(30),
        wait: Duration::from_millis(10),
        seen_epoch: 1_765_000_000_000_000_000,
    };
    vec![
        PeerRequest::LockAcquire(ask(
            7,
            LockTarget::Object {
                bucket: s("photos"),
                key: s("2024/cat.jpg"),
            },
            true,
        )),
        PeerRequest::LockAcquire(ask(u64::MAX, LockTarget::Bucket(s("photos")), false)),
        PeerRequest::LockAcquire(LockAsk {
            wait: Duration::ZERO,
            seen_epoch: 0,
            ..ask(
                1,
                LockTarget::Upload(s("0000018f2a3b4c5d0123456789abcdef")),
                true,
            )
        }),
        PeerRequest::LockRefresh {
            id: 7,
            lease: Duration::from_secs(30),
            fence_epoch: 1_765_000_000_000_000_001,
        },
        PeerRequest::LockRelease { id: 7 },
    ]
}

fn object_requests() -> Vec<PeerRequest> {
    let (bucket, key) = (s("photos"), s("2024/cat.jpg"));
    vec![
        PeerRequest::ReadMeta {
            bucket: bucket.clone(),
            key: key.clone(),
        },
        PeerRequest::StageBegin {
            staging: s("stg-01"),
            part_number: 0,
            size_hint_bytes: 1 << 30,
        },
        PeerRequest::StageAppend {
            staged: 1,
            offset_bytes: 4096,
        },
        PeerRequest::StageFinish {
            staged: u64::MAX,
            len_bytes: 12_345,
        },
        PeerRequest::StageDiscard {
            staging: s("stg-01"),
        },
        commit(Some(DataSource::Staging(Rc::from("stg-01"))), vec![7; 300]),
        commit(Some(upload_source()), vec![]),
        commit(None, vec![0x5A; 3 << 20]),
        roll_back(
            Some(Rc::from(&b"previous record"[..])),
            Some(upload_source()),
        ),
        roll_back(None, None),
        PeerRequest::WriteMeta {
            bucket: bucket.clone(),
            key: key.clone(),
            meta: vec![1, 2, 3],
            expect_previous: Expect::Any,
            fence: FENCE,
        },
        PeerRequest::DeleteVersion {
            bucket: bucket.clone(),
            key: key.clone(),
            expect_previous: Expect::Absent,
            fence: FENCE,
        },
        PeerRequest::RetireVersions {
            bucket: bucket.clone(),
            key: key.clone(),
            now_unix_nanos: NOW_UNIX_NANOS,
            fence: FENCE,
        },
        PeerRequest::RemoveStaleVersions {
            bucket: bucket.clone(),
            key: key.clone(),
            keep: VERSION,
            now_unix_nanos: NOW_UNIX_NANOS,
            fence: FENCE,
        },
        PeerRequest::HoldsVersionData {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            part_files: Rc::from(vec![s("part.1"), s("p2-0000000000000003-5-aa-x")]),
        },
        PeerRequest::InstallData {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            staging: s("0011223344556677"),
            files: vec![s("part.1")],
            expect_previous: Expect::Absent,
            fence: FENCE,
        },
        PeerRequest::SweepTrash {
            now_unix_nanos: NOW_UNIX_NANOS,
            grace_nanos: 900_000_000_000,
        },
        PeerRequest::OpenRecords {
            bucket,
            key,
            version_id: VERSION,
            part_file: s("part.1"),
        },
        PeerRequest::ReadRecords {
            records: 2,
            len_bytes: READ_BYTES,
            offset_bytes: 1 << 20,
        },
        PeerRequest::CloseRecords { records: 2 },
    ]
}

fn bucket_requests() -> Vec<PeerRequest> {
    let bucket = s("photos");
    let walk = WalkRequest {
        prefix: s("2024/"),
        start_after: s("2024/b"),
        skip_under: Some(s("2024/c/")),
        collapse_slash: true,
        limit: 1001,
        summaries_for: None,
    };
    vec![
        PeerRequest::ReadBucket {
            bucket: bucket.clone(),
        },
        PeerRequest::MakeBucket {
            bucket: bucket.clone(),
            record: b"bucket record".to_vec(),
        },
        PeerRequest::RemoveBucketRecord {
            bucket: bucket.clone(),
        },
        PeerRequest::RemoveBucket {
            bucket: bucket.clone(),
        },
        PeerRequest::ListBuckets,
        PeerRequest::ReadBucketTags {
            bucket: bucket.clone(),
        },
        PeerRequest::WriteBucketTags {
            bucket: bucket.clone(),
            record: vec![],
        },
        PeerRequest::ReadIdentity,
        PeerRequest::Walk {
            bucket: bucket.clone(),
            request: walk,
        },
        PeerRequest::Walk {
            bucket,
            request: WalkRequest {
                prefix: String::new(),
                start_after: String::new(),
                skip_under: None,
                collapse_slash: false,
                limit: 1,
                summaries_for: None,
            },
        },
    ]
}

fn upload_requests() -> Vec<PeerRequest> {
    let (bucket, upload_id) = (s("photos"), s("upl-0001"));
    vec![
        PeerRequest::WriteUpload {
            bucket: bucket.clone(),
            upload_id: upload_id.clone(),
            record: b"upload record".to_vec(),
        },
        PeerRequest::ReadUpload {
            bucket: bucket.clone(),
            upload_id: upload_id.clone(),
        },
        PeerRequest::RemoveUpload {
            bucket: bucket.clone(),
            upload_id: upload_id.clone(),
        },
        PeerRequest::PutPart {
            bucket: bucket.clone(),
            upload_id: upload_id.clone(),
            staging: s("stg-02"),
            part: part(1),
        },
        PeerRequest::RemovePart {
            bucket: bucket.clone(),
            upload_id: upload_id.clone(),
            part: part(10_000),
        },
        PeerRequest::ListParts {
            bucket: bucket.clone(),
            upload_id,
        },
        PeerRequest::ListUploads {
            bucket: bucket.clone(),
        },
        PeerRequest::ListUploadBuckets,
        PeerRequest::ForgetUploadBucket {
            bucket: bucket.clone(),
        },
        PeerRequest::PruneCompleted {
            bucket,
            key: s("big.bin"),
            version_id: VERSION,
            keep: (1..=3).map(part).collect(),
        },
    ]
}

/// The success answer to `request` (`Done` for verbs that answer nothing; a
/// `ReadRecords`' bytes are its payload).
pub fn success(request: &PeerRequest) -> PeerReply {
    match request {
        PeerRequest::ReadMeta { .. } => PeerReply::Bytes(vec![0x11; 70_000]),
        PeerRequest::ReadBucket { .. } | PeerRequest::ReadUpload { .. } => {
            PeerReply::Bytes(b"record".to_vec())
        }
        PeerRequest::ReadBucketTags { .. } => PeerReply::Bytes(vec![]),
        PeerRequest::ReadIdentity => PeerReply::Bytes(b"format record".to_vec()),
        PeerRequest::StageBegin { .. } => PeerReply::Opened(1),
        PeerRequest::OpenRecords { .. } => PeerReply::Opened(u64::MAX),
        PeerRequest::HoldsVersionData { .. } => PeerReply::Holds(true),
        PeerRequest::SweepTrash { .. } => PeerReply::Count(42),
        PeerRequest::ListBuckets | PeerRequest::ListUploadBuckets => {
            PeerReply::Names(vec![s("a-bucket"), s("photos")])
        }
        PeerRequest::ListUploads { .. } => PeerReply::Names(vec![]),
        PeerRequest::ListParts { .. } => PeerReply::Parts(vec![part(2), part(1)]),
        PeerRequest::Walk { .. } => PeerReply::Walk(WalkBatch {
            entries: vec![WalkEntry::Key(s("2024/a")), WalkEntry::Prefix(s("2024/b/"))],
            summaries: vec![],
            truncated: true,
        }),
        PeerRequest::LockAcquire(_) | PeerRequest::LockRefresh { .. } => {
            PeerReply::Lock(LockAnswer::Granted {
                epoch: 1_765_000_000_000_000_001,
                left_nanos: 29_999_000_000,
            })
        }
        _ => PeerReply::Done,
    }
}

/// Every kind of error a far member answers (not `NotAsked`: the caller's own).
pub fn errors() -> Vec<MemberError> {
    vec![
        MemberError::Unreachable(s("drive offline: /mnt/d3")),
        MemberError::Timeout,
        MemberError::Stale,
        MemberError::Corrupt(s("chunk record checksum")),
        MemberError::NotFound,
        MemberError::Full,
        MemberError::Io(s("EIO")),
    ]
}

/// Every request with every answer it may get: its success, and each error.
pub fn answers() -> Vec<(PeerRequest, PeerReply)> {
    let mut all = Vec::new();
    for request in requests() {
        all.push((request.clone(), success(&request)));
        match request {
            PeerRequest::LockAcquire(_) => {
                all.push((request.clone(), PeerReply::Lock(LockAnswer::Busy)));
            }
            PeerRequest::LockRefresh { .. } => {
                all.push((request.clone(), PeerReply::Lock(LockAnswer::Lost)));
            }
            _ => {}
        }
        for error in errors() {
            all.push((request.clone(), PeerReply::Failed(error)));
        }
    }
    all
}
