//! Round trips of the variable parts of verb messages over generated values (any
//! UTF-8 names up to their limits, records of any bytes, lists of any length, every
//! option both ways), and decoding of arbitrary bytes, which must never panic.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use shoal_wire::verb::limit::{
    BUCKET_MAX_BYTES, CHECKSUM_MAX_BYTES, ETAG_MAX_BYTES, KEY_MAX_BYTES, MESSAGE_MAX_BYTES,
    NAME_MAX_BYTES, WALK_LIMIT_MAX,
};
use shoal_wire::verb::{
    Commit, DataSource, EntrySummary, ErrorKind, Expect, Fence, PartInfo, RollBack, VerbError,
    VerbReply, VerbRequest, WalkBatch, WalkEntry, WalkRequest, decode_reply, decode_request,
    encode_reply, encode_request,
};

/// Any UTF-8 text of `min..=max` bytes (chars drawn widely, then cut to the limit).
fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), min..=max)
        .prop_map(move |chars| {
            let mut out = String::new();
            for c in chars {
                if out.len() + c.len_utf8() > max {
                    break;
                }
                out.push(c);
            }
            out
        })
        .prop_filter("at least min bytes", move |s| s.len() >= min)
}

fn bucket() -> impl Strategy<Value = String> {
    text(1, BUCKET_MAX_BYTES)
}

fn key() -> impl Strategy<Value = String> {
    text(1, KEY_MAX_BYTES)
}

fn name() -> impl Strategy<Value = String> {
    text(1, NAME_MAX_BYTES)
}

fn record() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..2048)
}

fn expect() -> impl Strategy<Value = Expect> {
    prop_oneof![
        Just(Expect::Absent),
        Just(Expect::Any),
        any::<[u8; 16]>().prop_map(Expect::Record),
    ]
}

fn fence() -> impl Strategy<Value = Fence> {
    (any::<u64>(), any::<u64>()).prop_map(|(epoch, expires_in_nanos)| Fence {
        epoch,
        expires_in_nanos,
    })
}

fn source() -> impl Strategy<Value = DataSource> {
    prop_oneof![
        name().prop_map(DataSource::Staging),
        (bucket(), name()).prop_map(|(bucket, upload_id)| DataSource::Upload { bucket, upload_id }),
    ]
}

fn part() -> impl Strategy<Value = PartInfo> {
    (
        1..=10_000u32,
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 16]>(),
        vec(any::<u8>(), 0..=CHECKSUM_MAX_BYTES),
    )
        .prop_map(|(number, seq, size_bytes, md5, checksum)| PartInfo {
            number,
            seq,
            size_bytes,
            md5,
            checksum,
        })
}

fn commit() -> impl Strategy<Value = VerbRequest> {
    (
        bucket(),
        key(),
        any::<[u8; 16]>(),
        option::of(source()),
        record(),
        expect(),
        fence(),
    )
        .prop_map(
            |(bucket, key, version_id, data, meta, expect_previous, fence)| {
                VerbRequest::Commit(Commit {
                    bucket,
                    key,
                    version_id,
                    data,
                    meta,
                    expect_previous,
                    fence,
                })
            },
        )
}

fn roll_back() -> impl Strategy<Value = VerbRequest> {
    (
        bucket(),
        key(),
        any::<[u8; 16]>(),
        expect(),
        option::of(record()),
        option::of(source()),
        fence(),
    )
        .prop_map(
            |(bucket, key, version_id, committed, restore, give_back, fence)| {
                VerbRequest::RollBack(RollBack {
                    bucket,
                    key,
                    version_id,
                    committed,
                    restore,
                    give_back,
                    fence,
                })
            },
        )
}

fn walk_request() -> impl Strategy<Value = VerbRequest> {
    let request = (
        text(0, KEY_MAX_BYTES),
        text(0, KEY_MAX_BYTES),
        option::of(text(0, 64)),
        any::<bool>(),
        1..=WALK_LIMIT_MAX,
        option::of(any::<[u8; 16]>()),
    );
    (bucket(), request).prop_map(
        |(bucket, (prefix, start_after, skip_under, collapse_slash, limit, summaries_for))| {
            VerbRequest::Walk {
                bucket,
                request: WalkRequest {
                    prefix,
                    start_after,
                    skip_under,
                    collapse_slash,
                    limit,
                    summaries_for,
                },
            }
        },
    )
}

fn lists() -> impl Strategy<Value = VerbRequest> {
    prop_oneof![
        (bucket(), key(), any::<[u8; 16]>(), vec(name(), 0..40)).prop_map(
            |(bucket, key, version_id, part_files)| VerbRequest::HoldsVersionData {
                bucket,
                key,
                version_id,
                part_files
            }
        ),
        (bucket(), key(), any::<[u8; 16]>(), vec(part(), 0..40)).prop_map(
            |(bucket, key, version_id, keep)| VerbRequest::PruneCompleted {
                bucket,
                key,
                version_id,
                keep
            }
        ),
        (bucket(), name(), name(), part()).prop_map(|(bucket, upload_id, staging, part)| {
            VerbRequest::PutPart {
                bucket,
                upload_id,
                staging,
                part,
            }
        }),
    ]
}

fn entry() -> impl Strategy<Value = WalkEntry> {
    prop_oneof![
        key().prop_map(WalkEntry::Key),
        key().prop_map(WalkEntry::Prefix)
    ]
}

fn summary() -> impl Strategy<Value = EntrySummary> {
    (
        any::<[u8; 4]>(),
        any::<[u8; 16]>(),
        any::<(u64, u32, u64)>(),
        text(0, ETAG_MAX_BYTES),
        any::<(u8, bool)>(),
    )
        .prop_map(
            |(place, version_id, (mod_time, generation, size), etag, (checksum, tombstone))| {
                EntrySummary {
                    chunk_index: place[0],
                    data_chunks: place[1],
                    parity_chunks: place[2],
                    rotation: place[3],
                    version_id,
                    mod_time_unix_nanos: mod_time,
                    meta_generation: generation,
                    size_bytes: size,
                    etag,
                    checksum_algorithm: checksum,
                    tombstone,
                }
            },
        )
}

/// A walk's batch: entries with a summary for some keys, or none at all (the only two
/// shapes the limits allow).
fn walk_batch() -> impl Strategy<Value = WalkBatch> {
    (
        vec((entry(), option::of(summary())), 0..20),
        any::<(bool, bool)>(),
    )
        .prop_map(|(pairs, (summarised, truncated))| {
            let entries: Vec<WalkEntry> = pairs.iter().map(|(e, _)| e.clone()).collect();
            let summaries: Vec<Option<EntrySummary>> = pairs
                .into_iter()
                .map(|(entry, summary)| summary.filter(|_| matches!(entry, WalkEntry::Key(_))))
                .collect();
            let summaries = if summarised && summaries.iter().any(Option::is_some) {
                summaries
            } else {
                Vec::new()
            };
            WalkBatch {
                entries,
                summaries,
                truncated,
            }
        })
}

fn reply() -> impl Strategy<Value = VerbReply> {
    let kind = proptest::sample::select(ErrorKind::ALL.to_vec());
    prop_oneof![
        record().prop_map(|record| VerbReply::ReadMeta { record }),
        vec(bucket(), 0..40).prop_map(|buckets| VerbReply::ListBuckets { buckets }),
        vec(name(), 0..40).prop_map(|upload_ids| VerbReply::ListUploads { upload_ids }),
        vec(part(), 0..40).prop_map(|parts| VerbReply::ListParts { parts }),
        walk_batch().prop_map(VerbReply::Walk),
        (kind, text(0, MESSAGE_MAX_BYTES))
            .prop_map(|(kind, message)| VerbReply::Error(VerbError { kind, message })),
        any::<u64>().prop_map(|removed| VerbReply::SweepTrash { removed }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Requests with generated names, records, options and lists decode to themselves.
    #[test]
    fn requests_round_trip(request in prop_oneof![commit(), roll_back(), walk_request(), lists()]) {
        let message = encode_request(&request).unwrap();
        prop_assert_eq!(decode_request(&message.body, message.bulk.to_vec()), Ok(request));
    }

    /// Replies with generated records, lists and error messages decode to themselves.
    #[test]
    fn replies_round_trip(reply in reply()) {
        let message = encode_reply(&reply).unwrap();
        prop_assert_eq!(decode_reply(&message.body, message.bulk.to_vec()), Ok(reply));
    }

    /// Arbitrary bytes as body and bulk are refused or decoded, never a panic; what
    /// decodes encodes again to a message that decodes to the same value.
    #[test]
    fn arbitrary_bytes_never_panic(body in vec(any::<u8>(), 0..256), bulk in vec(any::<u8>(), 0..64)) {
        if let Ok(request) = decode_request(&body, bulk.clone()) {
            let again = encode_request(&request).unwrap();
            prop_assert_eq!(decode_request(&again.body, again.bulk.to_vec()), Ok(request));
        }
        if let Ok(reply) = decode_reply(&body, bulk) {
            let again = encode_reply(&reply).unwrap();
            prop_assert_eq!(decode_reply(&again.body, again.bulk.to_vec()), Ok(reply));
        }
    }

    /// Flipping any one byte of a valid body is refused or decodes to a valid message
    /// (one that round-trips), never a panic.
    #[test]
    fn corrupted_bodies_never_panic(request in prop_oneof![commit(), lists()], at in any::<usize>(), bit in 0..8u8) {
        let message = encode_request(&request).unwrap();
        let mut body = message.body.clone();
        let at = at % body.len();
        body[at] ^= 1 << bit;
        if let Ok(decoded) = decode_request(&body, message.bulk.to_vec()) {
            let again = encode_request(&decoded).unwrap();
            prop_assert_eq!(decode_request(&again.body, again.bulk.to_vec()), Ok(decoded));
        }
    }
}
