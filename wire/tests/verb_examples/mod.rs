//! One example of every verb request and reply (with the variable parts at their
//! interesting values: empty and full records, absent and present options), shared by
//! the codec's tests and the `wire_verbs` fuzz seeds (`fuzz/examples/wire_verb_seeds.rs`
//! includes this file), so both cover every verb.

use shoal_wire::verb::{
    Commit, DataSource, EntrySummary, ErrorKind, Expect, Fence, Handle, LockAsk, LockGrant,
    LockTarget, PartInfo, RollBack, VerbError, VerbReply, VerbRequest, WalkBatch, WalkEntry,
    WalkRequest,
};

const VERSION: [u8; 16] = *b"version-id-16-by";
const PRINT: [u8; 16] = [0xA5; 16];
const FENCE: Fence = Fence {
    epoch: 7,
    expires_in_nanos: 2_500_000_000,
};
const NOW_UNIX_NANOS: u64 = 1_700_000_000_000_000_000;

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

fn upload_source() -> DataSource {
    DataSource::Upload {
        bucket: s("photos"),
        upload_id: s("upl-0001"),
    }
}

/// Every request verb once (some twice, with their options the other way).
#[allow(clippy::too_many_lines)] // a table of examples
pub fn requests() -> Vec<VerbRequest> {
    use VerbRequest as R;
    let (bucket, key) = (s("photos"), s("2024/06/cat.jpg"));
    vec![
        R::ReadMeta {
            bucket: bucket.clone(),
            key: key.clone(),
        },
        R::StageBegin {
            staging: s("stg-01"),
            part_number: 1,
            size_hint_bytes: 64 << 20,
        },
        R::StageAppend {
            handle: Handle(42),
            offset_bytes: 1 << 20,
        },
        R::StageFinish {
            handle: Handle(42),
            len_bytes: 3 << 20,
        },
        R::StageAbandon {
            handle: Handle(u64::MAX),
        },
        R::StageDiscard {
            staging: s("stg-01"),
        },
        R::Commit(Commit {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            data: Some(DataSource::Staging(s("stg-01"))),
            meta: b"SHOALMTA meta record".to_vec(),
            expect_previous: Expect::Absent,
            fence: FENCE,
        }),
        R::Commit(Commit {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            data: None,
            meta: vec![],
            expect_previous: Expect::Record(PRINT),
            fence: Fence {
                epoch: 0,
                expires_in_nanos: 0,
            },
        }),
        R::RollBack(RollBack {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            committed: Expect::Record(PRINT),
            restore: Some(b"previous record".to_vec()),
            give_back: Some(upload_source()),
            fence: FENCE,
        }),
        R::RollBack(RollBack {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            committed: Expect::Any,
            restore: None,
            give_back: None,
            fence: FENCE,
        }),
        R::RollBack(RollBack {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            committed: Expect::Absent,
            restore: Some(vec![]),
            give_back: None,
            fence: FENCE,
        }),
        R::WriteMeta {
            bucket: bucket.clone(),
            key: key.clone(),
            meta: vec![0, 1, 2, 255],
            expect_previous: Expect::Any,
            fence: FENCE,
        },
        R::DeleteVersion {
            bucket: bucket.clone(),
            key: key.clone(),
            expect_previous: Expect::Record(PRINT),
            fence: FENCE,
        },
        R::RetireVersions {
            bucket: bucket.clone(),
            key: key.clone(),
            now_unix_nanos: NOW_UNIX_NANOS,
            fence: FENCE,
        },
        R::RemoveStaleVersions {
            bucket: bucket.clone(),
            key: key.clone(),
            keep: VERSION,
            now_unix_nanos: NOW_UNIX_NANOS,
            fence: FENCE,
        },
        R::HoldsVersionData {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            part_files: vec![s("part.1"), s("part.2")],
        },
        R::HoldsVersionData {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            part_files: vec![],
        },
        R::InstallData {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            staging: s("0123456789abcdef0123456789abcdef"),
            files: vec![s("part.1")],
            expect_previous: Expect::Record(PRINT),
            fence: FENCE,
        },
        R::InstallData {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            staging: s("stg"),
            files: vec![],
            expect_previous: Expect::Absent,
            fence: FENCE,
        },
        R::SweepTrash {
            now_unix_nanos: NOW_UNIX_NANOS,
            grace_nanos: 3_600_000_000_000,
        },
        R::OpenRecords {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            part_file: s("part.1"),
        },
        R::ReadRecords {
            handle: Handle(0),
            offset_bytes: 0,
            len_bytes: 1 << 20,
        },
        R::CloseRecords { handle: Handle(9) },
        R::ReadBucket {
            bucket: bucket.clone(),
        },
        R::MakeBucket {
            bucket: bucket.clone(),
            record: b"SHOALBKT".to_vec(),
        },
        R::RemoveBucketRecord {
            bucket: bucket.clone(),
        },
        R::RemoveBucket {
            bucket: bucket.clone(),
        },
        R::ListBuckets,
        R::ReadBucketTags {
            bucket: bucket.clone(),
        },
        R::WriteBucketTags {
            bucket: bucket.clone(),
            record: b"SHOALBTG".to_vec(),
        },
        R::ReadIdentity,
        R::WriteUpload {
            bucket: bucket.clone(),
            upload_id: s("upl-0001"),
            record: vec![7; 300],
        },
        R::ReadUpload {
            bucket: bucket.clone(),
            upload_id: s("upl-0001"),
        },
        R::RemoveUpload {
            bucket: bucket.clone(),
            upload_id: s("upl-0001"),
        },
        R::PutPart {
            bucket: bucket.clone(),
            upload_id: s("upl-0001"),
            staging: s("stg-02"),
            part: part(1),
        },
        R::RemovePart {
            bucket: bucket.clone(),
            upload_id: s("upl-0001"),
            part: part(2),
        },
        R::ListParts {
            bucket: bucket.clone(),
            upload_id: s("upl-0001"),
        },
        R::ListUploads {
            bucket: bucket.clone(),
        },
        R::ListUploadBuckets,
        R::ForgetUploadBucket {
            bucket: bucket.clone(),
        },
        R::PruneCompleted {
            bucket: bucket.clone(),
            key: key.clone(),
            version_id: VERSION,
            keep: vec![part(1), part(2), part(10_000)],
        },
        R::Walk {
            bucket: bucket.clone(),
            request: WalkRequest {
                prefix: s("2024/"),
                start_after: s("2024/05/"),
                skip_under: Some(s("2024/05/")),
                collapse_slash: true,
                limit: 1001,
                summaries_for: Some([0x5d; 16]),
            },
        },
        R::Walk {
            bucket: bucket.clone(),
            request: WalkRequest {
                prefix: s(""),
                start_after: s(""),
                skip_under: None,
                collapse_slash: false,
                limit: 1,
                summaries_for: None,
            },
        },
        R::LockAcquire(LockAsk {
            id: 7,
            target: LockTarget::Object {
                bucket: bucket.clone(),
                key,
            },
            exclusive: true,
            lease_nanos: 30_000_000_000,
            wait_nanos: 10_000_000,
            seen_epoch: 1_765_000_000_000_000_000,
        }),
        R::LockAcquire(LockAsk {
            id: u64::MAX,
            target: LockTarget::Bucket(bucket),
            exclusive: false,
            lease_nanos: 1,
            wait_nanos: 0,
            seen_epoch: 0,
        }),
        R::LockAcquire(LockAsk {
            id: 1,
            target: LockTarget::Upload(s("0000018f2a3b4c5d0123456789abcdef")),
            exclusive: true,
            lease_nanos: 30_000_000_000,
            wait_nanos: 640_000_000,
            seen_epoch: 42,
        }),
        R::LockRefresh {
            id: 7,
            lease_nanos: 30_000_000_000,
            fence_epoch: 1_765_000_000_000_000_001,
        },
        R::LockRelease { id: 7 },
    ]
}

/// Every reply shape once (the errors in every kind).
pub fn replies() -> Vec<VerbReply> {
    use VerbReply as R;
    let mut replies = vec![
        R::ReadMeta {
            record: b"SHOALMTA record".to_vec(),
        },
        R::StageBegin { handle: Handle(1) },
        R::StageAppend,
        R::StageFinish,
        R::StageAbandon,
        R::StageDiscard,
        R::Commit,
        R::RollBack,
        R::WriteMeta,
        R::DeleteVersion,
        R::RetireVersions,
        R::RemoveStaleVersions,
        R::HoldsVersionData { held: true },
        R::HoldsVersionData { held: false },
        R::InstallData,
        R::SweepTrash { removed: 12 },
        R::OpenRecords {
            handle: Handle(1 << 40),
        },
        R::ReadRecords,
        R::CloseRecords,
        R::ReadBucket { record: vec![] },
        R::MakeBucket,
        R::RemoveBucketRecord,
        R::RemoveBucket,
        R::ListBuckets {
            buckets: vec![s("a-bucket"), s("photos")],
        },
        R::ListBuckets { buckets: vec![] },
        R::ReadBucketTags {
            record: b"tags".to_vec(),
        },
        R::WriteBucketTags,
        R::ReadIdentity {
            record: b"SHOALFMT identity".to_vec(),
        },
        R::WriteUpload,
        R::ReadUpload {
            record: b"SHOALUPL".to_vec(),
        },
        R::RemoveUpload,
        R::PutPart,
        R::RemovePart,
        R::ListParts {
            parts: vec![part(3), part(4)],
        },
        R::ListUploads {
            upload_ids: vec![s("upl-0001"), s("upl-0002")],
        },
        R::ListUploadBuckets {
            buckets: vec![s("photos")],
        },
        R::ForgetUploadBucket,
        R::PruneCompleted,
        R::Walk(WalkBatch {
            entries: vec![
                WalkEntry::Key(s("2024/06/cat.jpg")),
                WalkEntry::Prefix(s("2024/07/")),
            ],
            summaries: vec![],
            truncated: true,
        }),
        summarised_walk(),
        R::Walk(WalkBatch::default()),
        R::LockAcquire {
            grant: Some(LockGrant {
                epoch: 1_765_000_000_000_000_001,
                expires_in_nanos: 29_999_000_000,
            }),
        },
        R::LockAcquire { grant: None },
        R::LockRefresh {
            grant: Some(LockGrant {
                epoch: 5,
                expires_in_nanos: 0,
            }),
        },
        R::LockRefresh { grant: None },
        R::LockRelease,
    ];
    for kind in ErrorKind::ALL {
        let message = format!("{kind:?} on drive /mnt/disk1");
        replies.push(R::Error(VerbError { kind, message }));
    }
    replies.push(R::Error(VerbError {
        kind: ErrorKind::Stale,
        message: s(""),
    }));
    replies
}

/// A walk's batch with a key's summary (and a prefix and a key without one).
fn summarised_walk() -> VerbReply {
    VerbReply::Walk(WalkBatch {
        entries: vec![
            WalkEntry::Key(s("2024/06/cat.jpg")),
            WalkEntry::Prefix(s("2024/07/")),
            WalkEntry::Key(s("2024/07")),
        ],
        summaries: vec![
            Some(EntrySummary {
                chunk_index: 3,
                data_chunks: 2,
                parity_chunks: 2,
                rotation: 1,
                version_id: VERSION,
                mod_time_unix_nanos: 1_765_000_000_000_000_000,
                meta_generation: 2,
                size_bytes: 4096,
                etag: s("d41d8cd98f00b204e9800998ecf8427e"),
                checksum_algorithm: 2,
                tombstone: false,
            }),
            None,
            None,
        ],
        truncated: false,
    })
}
