//! Multipart uploads in the store, on simulated and real drives: assembly without
//! copying, last-wins parts, every refusal S3 defines, lost part files, checksums,
//! listing, abort and the cleanup of abandoned uploads.

use crate::common;

use common::*;
use shoal_io::{Drive, SimClock};
use shoal_shards::object::multipart::{
    CompleteExpectations, CompletePart, UploadOptions, UploadsQuery, part_checksum,
};
use shoal_shards::record::meta::ChecksumType;
use shoal_shards::{
    ByteRange, Checksum, ChecksumAlgorithm, Error, PutOptions, SliceSource, Store, StoreConfig,
    WriteCondition,
};

/// Small parts and stripes so a test exercises many stripes per part cheaply.
const PART_MIN: usize = 64 << 10;

async fn mp_store<D: Drive>(drives: Vec<D>, parity: usize) -> TestStore<D> {
    let config = StoreConfig {
        parity_chunks: Some(parity),
        stripe_size_bytes: 16 << 10,
        part_size_min_bytes: PART_MIN as u64,
        ..StoreConfig::default()
    };
    let store = Store::open(drives, SimClock::new(1_700_000_000_000_000_000), 7, config)
        .await
        .expect("open store");
    store.make_bucket("bkt").await.expect("bucket");
    store
}

fn part_options(data: &[u8]) -> PutOptions {
    PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    }
}

async fn upload<D: Drive>(
    store: &TestStore<D>,
    key: &str,
    id: &str,
    n: u32,
    data: &[u8],
) -> String {
    let part = store
        .upload_part(
            ("bkt", key, id),
            n,
            &part_options(data),
            &mut SliceSource(data),
        )
        .await
        .expect("upload part");
    hex::encode(part.md5)
}

fn done(number: u32, etag: &str) -> CompletePart {
    CompletePart {
        number,
        etag: etag.to_owned(),
        checksum: None,
    }
}

/// Parts uploaded out of order, one number twice, some never listed: the object is the
/// listed parts in order with the last upload of each, byte-exact whole and in ranges
/// across part boundaries; its ETag is S3's md5-of-md5s.
async fn assembles<B: Backend>(mut backend: B) {
    let store = mp_store(backend.drives(6), 2).await;
    let key = "big/object";
    let id = store
        .create_multipart_upload("bkt", key, &UploadOptions::default())
        .await
        .unwrap()
        .upload_id;
    let sizes = [PART_MIN + 5, PART_MIN * 2, 1000];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, s)| body(i as u64, *s))
        .collect();
    let e3 = upload(&store, key, &id, 3, &bodies[2]).await;
    let _stale = upload(&store, key, &id, 1, &body(99, PART_MIN)).await;
    let e1 = upload(&store, key, &id, 1, &bodies[0]).await;
    let e2 = upload(&store, key, &id, 2, &bodies[1]).await;
    let _unused = upload(&store, key, &id, 4, &body(98, 10)).await;
    let listed = store.list_parts(("bkt", key, &id), 0, 1000).await.unwrap();
    let numbers: Vec<u32> = listed.parts.iter().map(|p| p.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    assert_eq!(
        hex::encode(listed.parts[0].md5),
        e1,
        "the last upload of part 1 wins"
    );
    let info = store
        .complete_multipart_upload(
            ("bkt", key, &id),
            &[done(1, &e1), done(2, &e2), done(3, &e3)],
            None,
            &WriteCondition::Always,
        )
        .await
        .unwrap();
    let whole: Vec<u8> = bodies.concat();
    assert_eq!(info.size_bytes, whole.len() as u64);
    assert!(info.etag.ends_with("-3"), "{}", info.etag);
    assert_eq!(get(&store, key).await.unwrap(), whole);
    for (first, last) in [
        (0, 10),
        (PART_MIN as u64, PART_MIN as u64 + 10),
        (PART_MIN as u64 + 3, 3 * PART_MIN as u64 + 100),
        (whole.len() as u64 - 1, whole.len() as u64 - 1),
    ] {
        let got = store
            .get_object("bkt", key, Some(ByteRange::FromTo { first, last }))
            .await
            .unwrap()
            .read_all()
            .await
            .unwrap();
        assert_eq!(got, whole[first as usize..=last as usize], "{first}-{last}");
    }
    // The upload is gone; only the listed parts' files remain, once per drive.
    assert!(matches!(
        store.list_parts(("bkt", key, &id), 0, 10).await,
        Err(Error::NoSuchUpload)
    ));
    for drive in store.drives() {
        let files = files_under(drive, "bkt").await;
        let parts = files.iter().filter(|f| f.contains("/p0000")).count();
        assert_eq!(parts, 3, "{files:?}");
        assert!(files_under(drive, ".shoal/multipart").await.is_empty());
    }
    // Overwriting a multipart object removes its parts.
    put(&store, key, b"small").await;
    assert_eq!(get(&store, key).await.unwrap(), b"small");
    for drive in store.drives() {
        assert!(
            !files_under(drive, "bkt")
                .await
                .iter()
                .any(|f| f.contains("/p0000"))
        );
    }
}

#[test]
fn assembles_sim() {
    run(assembles(Sim { made: Vec::new() }));
}

#[test]
fn assembles_dir() {
    run(assembles(Dir::new()));
}

/// Every refusal: wrong ETag, small part, unknown and aborted uploads, bad numbers and
/// order, a bad upload id; a refused Complete leaves the upload usable.
async fn refusals<B: Backend>(mut backend: B) {
    let store = mp_store(backend.drives(4), 2).await;
    let key = "k";
    let no_options = UploadOptions::default();
    let create = || store.create_multipart_upload("bkt", key, &no_options);
    let id = create().await.unwrap().upload_id;
    let e1 = upload(&store, key, &id, 1, &body(1, 100)).await;
    let e2 = upload(&store, key, &id, 2, &body(2, 100)).await;
    let complete = |parts: Vec<CompletePart>, id: String| {
        let store = &store;
        async move {
            store
                .complete_multipart_upload(("bkt", key, &id), &parts, None, &WriteCondition::Always)
                .await
        }
    };
    let r = complete(vec![done(1, &e2)], id.clone()).await;
    assert!(matches!(r, Err(Error::InvalidPart(_))), "{r:?}");
    let r = complete(vec![done(1, &e1), done(3, &e2)], id.clone()).await;
    assert!(matches!(r, Err(Error::InvalidPart(_))), "{r:?}");
    let r = complete(vec![done(1, &e1), done(2, &e2)], id.clone()).await;
    assert!(matches!(r, Err(Error::EntityTooSmall)), "{r:?}");
    let r = complete(vec![done(2, &e2), done(1, &e1)], id.clone()).await;
    assert!(matches!(r, Err(Error::InvalidPartOrder)), "{r:?}");
    let r = complete(Vec::new(), id.clone()).await;
    assert!(matches!(r, Err(Error::InvalidArgument(_))), "{r:?}");
    for bad in [0, 10_001] {
        let r = store
            .upload_part(
                ("bkt", key, &id),
                bad,
                &part_options(b"x"),
                &mut SliceSource(b"x"),
            )
            .await;
        assert!(matches!(r, Err(Error::InvalidArgument(_))), "{bad}: {r:?}");
    }
    for unknown in ["0000000000000000ffffffffffffffff", "../../../etc", ""] {
        let r = store.list_parts(("bkt", key, unknown), 0, 10).await;
        assert!(matches!(r, Err(Error::NoSuchUpload)), "{unknown}: {r:?}");
    }
    // Another key's id is not this key's upload.
    let r = store.list_parts(("bkt", "other", &id), 0, 10).await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    // Still usable after every refusal: a single small part is a valid object.
    let info = complete(vec![done(1, &e1)], id.clone()).await.unwrap();
    assert_eq!(info.size_bytes, 100);
    assert_eq!(get(&store, key).await.unwrap(), body(1, 100));
    // A retry of that Complete gets the same object (see `retried_complete`); another
    // parts list does not name a completed upload.
    let r = complete(vec![done(1, &e2)], id.clone()).await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    // Abort, then everything about the upload is gone.
    let id = create().await.unwrap().upload_id;
    let e1 = upload(&store, key, &id, 1, &body(3, 10)).await;
    store.abort_multipart_upload("bkt", key, &id).await.unwrap();
    let r = complete(vec![done(1, &e1)], id.clone()).await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    let r = store
        .upload_part(
            ("bkt", key, &id),
            2,
            &part_options(b"x"),
            &mut SliceSource(b"x"),
        )
        .await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    assert!(matches!(
        store.abort_multipart_upload("bkt", key, &id).await,
        Err(Error::NoSuchUpload)
    ));
    for drive in store.drives() {
        assert!(files_under(drive, ".shoal/multipart").await.is_empty());
    }
    assert_eq!(
        get(&store, key).await.unwrap(),
        body(1, 100),
        "the old object stays"
    );
}

#[test]
fn refusals_sim() {
    run(refusals(Sim { made: Vec::new() }));
}

#[test]
fn refusals_dir() {
    run(refusals(Dir::new()));
}

/// Part files deleted from as many drives as there is parity: the object is still
/// exact. From one drive more: Complete fails with InvalidPart and nothing is visible.
async fn lost_part_files<B: Backend>(mut backend: B) {
    let store = mp_store(backend.drives(6), 2).await;
    for (lost, key) in [(2usize, "survives"), (3, "fails")] {
        let id = store
            .create_multipart_upload("bkt", key, &UploadOptions::default())
            .await
            .unwrap()
            .upload_id;
        let bodies = [body(10, PART_MIN), body(11, PART_MIN / 2 + 3)];
        let e1 = upload(&store, key, &id, 1, &bodies[0]).await;
        let e2 = upload(&store, key, &id, 2, &bodies[1]).await;
        for &drive in &store.drives()[..lost] {
            for file in files_under(drive, &format!(".shoal/multipart/bkt/{id}")).await {
                if file.contains("/p00002-") {
                    drive.remove_file(&file).await.unwrap();
                }
            }
        }
        let r = store
            .complete_multipart_upload(
                ("bkt", key, &id),
                &[done(1, &e1), done(2, &e2)],
                None,
                &WriteCondition::Always,
            )
            .await;
        if lost <= 2 {
            r.unwrap();
            assert_eq!(get(&store, key).await.unwrap(), bodies.concat());
        } else {
            assert!(matches!(r, Err(Error::InvalidPart(_))), "{r:?}");
            assert!(matches!(get(&store, key).await, Err(Error::NoSuchKey)));
        }
    }
}

#[test]
fn lost_part_files_sim() {
    run(lost_part_files(Sim { made: Vec::new() }));
}

#[test]
fn lost_part_files_dir() {
    run(lost_part_files(Dir::new()));
}

/// Composite and full-object checksums as AWS defines them; a part checksum that does
/// not match, or an algorithm the upload was not created with, is refused.
#[test]
fn checksums() {
    run(async {
        let mut dir = Dir::new();
        let store = mp_store(dir.drives(4), 1).await;
        let bodies = [body(20, PART_MIN), body(21, 777)];
        for (algorithm, composite) in [
            (ChecksumAlgorithm::Crc32c, true),
            (ChecksumAlgorithm::Sha256, true),
            (ChecksumAlgorithm::Crc32, false),
            (ChecksumAlgorithm::Crc64Nvme, false),
        ] {
            let key = format!("sum/{}", algorithm.name());
            let options = UploadOptions {
                checksum_algorithm: Some(algorithm),
                // CRC-32 defaults to composite; CRC-64/NVME is full-object only.
                checksum_type: (algorithm == ChecksumAlgorithm::Crc32)
                    .then_some(ChecksumType::FullObject),
                ..UploadOptions::default()
            };
            let id = store
                .create_multipart_upload("bkt", &key, &options)
                .await
                .unwrap()
                .upload_id;
            let mut parts = Vec::new();
            let mut part_sums = Vec::new();
            for (i, data) in bodies.iter().enumerate() {
                let sum = algorithm.digest(data);
                let options = PutOptions {
                    size_bytes: Some(data.len() as u64),
                    expected_checksum: Some(Checksum {
                        algorithm,
                        value: sum.clone(),
                    }),
                    ..PutOptions::default()
                };
                let part = store
                    .upload_part(
                        ("bkt", &key, &id),
                        i as u32 + 1,
                        &options,
                        &mut SliceSource(data),
                    )
                    .await
                    .unwrap();
                assert_eq!(part.checksum, sum);
                parts.push(CompletePart {
                    number: i as u32 + 1,
                    etag: hex::encode(part.md5),
                    checksum: Some(Checksum {
                        algorithm,
                        value: sum.clone(),
                    }),
                });
                part_sums.push(sum);
            }
            let mut wrong = parts.clone();
            wrong[1].checksum.as_mut().unwrap().value[0] ^= 1;
            let r = store
                .complete_multipart_upload(
                    ("bkt", &key, &id),
                    &wrong,
                    None,
                    &WriteCondition::Always,
                )
                .await;
            assert!(matches!(r, Err(Error::InvalidPart(_))), "{r:?}");
            let info = store
                .complete_multipart_upload(
                    ("bkt", &key, &id),
                    &parts,
                    None,
                    &WriteCondition::Always,
                )
                .await
                .unwrap();
            let expected = if composite {
                algorithm.digest(&part_sums.concat())
            } else {
                algorithm.digest(&bodies.concat())
            };
            assert_eq!(info.checksum.unwrap().value, expected, "{algorithm:?}");
        }
    });
}

/// A part in another algorithm than the upload's, or with a wrong checksum, is refused
/// and nothing is stored.
#[test]
fn part_checksum_refusals() {
    run(async {
        let store = mp_store(Sim { made: Vec::new() }.drives(4), 1).await;
        let options = UploadOptions {
            checksum_algorithm: Some(ChecksumAlgorithm::Crc32),
            ..UploadOptions::default()
        };
        let id = store
            .create_multipart_upload("bkt", "mismatch", &options)
            .await
            .unwrap()
            .upload_id;
        let data = b"abc";
        let options = PutOptions {
            size_bytes: Some(3),
            expected_checksum: Some(Checksum {
                algorithm: ChecksumAlgorithm::Sha1,
                value: ChecksumAlgorithm::Sha1.digest(data),
            }),
            ..PutOptions::default()
        };
        let r = store
            .upload_part(
                ("bkt", "mismatch", &id),
                1,
                &options,
                &mut SliceSource(data),
            )
            .await;
        assert!(matches!(r, Err(Error::InvalidRequest(_))), "{r:?}");
        // A wrong part checksum is BadDigest.
        let options = PutOptions {
            size_bytes: Some(3),
            expected_checksum: Some(Checksum {
                algorithm: ChecksumAlgorithm::Crc32,
                value: vec![0, 0, 0, 0],
            }),
            ..PutOptions::default()
        };
        let r = store
            .upload_part(
                ("bkt", "mismatch", &id),
                1,
                &options,
                &mut SliceSource(data),
            )
            .await;
        assert!(matches!(r, Err(Error::BadDigest)), "{r:?}");
        let listed = store
            .list_parts(("bkt", "mismatch", &id), 0, 10)
            .await
            .unwrap();
        assert!(listed.parts.is_empty());
    });
}

/// ListParts pages through 2,500 parts.
#[test]
fn listing_parts() {
    run(async {
        let store = mp_store(Sim { made: Vec::new() }.drives(4), 2).await;
        let id = store
            .create_multipart_upload("bkt", "many", &UploadOptions::default())
            .await
            .unwrap()
            .upload_id;
        for n in 1..=2500u32 {
            upload(&store, "many", &id, n, &n.to_le_bytes()).await;
        }
        let mut marker = 0;
        let mut seen = Vec::new();
        loop {
            let page = store
                .list_parts(("bkt", "many", &id), marker, 1000)
                .await
                .unwrap();
            assert!(page.parts.len() <= 1000);
            seen.extend(page.parts.iter().map(|p| p.number));
            if !page.is_truncated {
                break;
            }
            marker = page.parts.last().unwrap().number;
        }
        assert_eq!(seen, (1..=2500).collect::<Vec<_>>());
    });
}

/// ListMultipartUploads pages by key then age, with prefix and delimiter.
#[test]
fn listing_uploads() {
    run(async {
        let store = mp_store(Sim { made: Vec::new() }.drives(4), 2).await;
        store
            .create_multipart_upload("bkt", "many", &UploadOptions::default())
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (i, key) in ["a/1", "a/2", "b", "b", "c/x/y"].iter().enumerate() {
            store.clock().set(1_800_000_000_000_000_000 + i as u64);
            let upload = store
                .create_multipart_upload("bkt", key, &UploadOptions::default())
                .await
                .unwrap();
            ids.push((key.to_string(), upload.upload_id));
        }
        let query = |prefix: &str, delimiter: Option<&str>, km: &str, im: &str, max| UploadsQuery {
            prefix: prefix.into(),
            delimiter: delimiter.map(Into::into),
            key_marker: km.into(),
            upload_id_marker: im.into(),
            max_uploads: max,
        };
        let all = store
            .list_multipart_uploads("bkt", &query("", None, "", "", 1000))
            .await
            .unwrap();
        let keys: Vec<&str> = all.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["a/1", "a/2", "b", "b", "c/x/y", "many"]);
        assert_eq!(
            all.uploads[2].upload_id, ids[2].1,
            "older first within a key"
        );
        let grouped = store
            .list_multipart_uploads("bkt", &query("", Some("/"), "", "", 1000))
            .await
            .unwrap();
        assert_eq!(grouped.common_prefixes, ["a/", "c/"]);
        let keys: Vec<&str> = grouped.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["b", "b", "many"]);
        // Page by two with both markers.
        let mut km = String::new();
        let mut im = String::new();
        let mut paged = Vec::new();
        loop {
            let page = store
                .list_multipart_uploads("bkt", &query("", None, &km, &im, 2))
                .await
                .unwrap();
            paged.extend(page.uploads.iter().map(|u| u.upload_id.clone()));
            if !page.is_truncated {
                break;
            }
            km = page.next_key_marker.unwrap();
            im = page.next_upload_id_marker.unwrap();
        }
        let all_ids: Vec<String> = all.uploads.iter().map(|u| u.upload_id.clone()).collect();
        assert_eq!(paged, all_ids);
        let after_b = store
            .list_multipart_uploads("bkt", &query("", None, "b", "", 1000))
            .await
            .unwrap();
        let keys: Vec<&str> = after_b.uploads.iter().map(|u| u.key.as_str()).collect();
        assert_eq!(keys, ["c/x/y", "many"]);
        // Paging with a delimiter: each prefix once, across pages of one entry.
        let (mut km, mut im) = (String::new(), String::new());
        let mut entries = Vec::new();
        loop {
            let page = store
                .list_multipart_uploads("bkt", &query("", Some("/"), &km, &im, 1))
                .await
                .unwrap();
            entries.extend(page.common_prefixes.iter().cloned());
            entries.extend(page.uploads.iter().map(|u| u.key.clone()));
            if !page.is_truncated {
                break;
            }
            km = page.next_key_marker.unwrap();
            im = page.next_upload_id_marker.unwrap();
        }
        assert_eq!(entries, ["a/", "b", "b", "c/", "many"]);
        let none = store
            .list_multipart_uploads("bkt", &query("", None, "", "", 0))
            .await
            .unwrap();
        assert!(none.uploads.is_empty() && !none.is_truncated && none.next_key_marker.is_none());
        let prefixed = store
            .list_multipart_uploads("bkt", &query("a/", None, "", "", 1000))
            .await
            .unwrap();
        assert_eq!(prefixed.uploads.len(), 2);
    });
}

/// Uploads older than the age limit are removed with their parts; younger ones stay.
#[test]
fn abandoned_uploads_are_removed() {
    run(async {
        let mut dir = Dir::new();
        let store = mp_store(dir.drives(4), 2).await;
        let t0 = 1_700_000_000_000_000_000u64;
        let hour = 3_600_000_000_000u64;
        let old = store
            .create_multipart_upload("bkt", "old", &UploadOptions::default())
            .await
            .unwrap()
            .upload_id;
        upload(&store, "old", &old, 1, b"abc").await;
        store.clock().set(t0 + 23 * hour);
        let young = store
            .create_multipart_upload("bkt", "young", &UploadOptions::default())
            .await
            .unwrap()
            .upload_id;
        store.clock().set(t0 + 25 * hour);
        let removed = store.remove_abandoned_uploads(24 * hour).await;
        assert_eq!(removed, 4, "one upload folder on each of 4 drives");
        assert!(matches!(
            store.list_parts(("bkt", "old", &old), 0, 10).await,
            Err(Error::NoSuchUpload)
        ));
        store
            .list_parts(("bkt", "young", &young), 0, 10)
            .await
            .unwrap();
    });
}

/// CompleteMultipartUpload honours If-None-Match and If-Match; a refused one keeps the
/// upload for a later attempt.
#[test]
fn conditional_complete() {
    run(async {
        let store = mp_store(Sim { made: Vec::new() }.drives(4), 2).await;
        put(&store, "k", b"first").await;
        let id = store
            .create_multipart_upload("bkt", "k", &UploadOptions::default())
            .await
            .unwrap()
            .upload_id;
        let e1 = upload(&store, "k", &id, 1, b"second").await;
        let parts = [done(1, &e1)];
        let r = store
            .complete_multipart_upload(
                ("bkt", "k", &id),
                &parts,
                None,
                &WriteCondition::IfNoneMatchAny,
            )
            .await;
        assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
        let r = store
            .complete_multipart_upload(
                ("bkt", "k", &id),
                &parts,
                None,
                &WriteCondition::IfMatch("0".repeat(32)),
            )
            .await;
        assert!(matches!(r, Err(Error::PreconditionFailed)), "{r:?}");
        let current = store.head_object("bkt", "k").await.unwrap().etag;
        store
            .complete_multipart_upload(
                ("bkt", "k", &id),
                &parts,
                None,
                &WriteCondition::IfMatch(current),
            )
            .await
            .unwrap();
        assert_eq!(get(&store, "k").await.unwrap(), b"second");
    });
}

/// A retried Complete of an upload that already completed answers the object it made
/// (same ETag, version and checksum), even when the retry carries a condition the new
/// object now fails; once the key is overwritten, or for another parts list, the upload
/// is gone (NoSuchUpload).
async fn retried_complete<B: Backend>(mut backend: B) {
    let store = mp_store(backend.drives(4), 2).await;
    let options = UploadOptions {
        checksum_algorithm: Some(ChecksumAlgorithm::Crc32c),
        ..UploadOptions::default()
    };
    let id = store
        .create_multipart_upload("bkt", "k", &options)
        .await
        .unwrap()
        .upload_id;
    let bodies = [body(40, PART_MIN), body(41, 99)];
    let e1 = upload(&store, "k", &id, 1, &bodies[0]).await;
    let e2 = upload(&store, "k", &id, 2, &bodies[1]).await;
    let parts = [done(1, &e1), done(2, &e2)];
    let complete = |parts: &[CompletePart], condition: WriteCondition| {
        let (store, id, parts) = (&store, &id, parts.to_vec());
        async move {
            store
                .complete_multipart_upload(("bkt", "k", id), &parts, None, &condition)
                .await
        }
    };
    let first = complete(&parts, WriteCondition::IfNoneMatchAny)
        .await
        .unwrap();
    for _ in 0..2 {
        let again = complete(&parts, WriteCondition::IfNoneMatchAny)
            .await
            .unwrap();
        assert_eq!(
            (
                &again.etag,
                again.version_id,
                &again.checksum,
                again.size_bytes
            ),
            (
                &first.etag,
                first.version_id,
                &first.checksum,
                first.size_bytes
            )
        );
    }
    assert_eq!(get(&store, "k").await.unwrap(), bodies.concat());
    let r = complete(&parts[..1], WriteCondition::Always).await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    let r = complete(&[done(1, &e1), done(2, &e1)], WriteCondition::Always).await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    put(&store, "k", b"overwritten").await;
    let r = complete(&parts, WriteCondition::Always).await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
    assert_eq!(get(&store, "k").await.unwrap(), b"overwritten");
    // Another key's upload id never answers for this key.
    let r = store
        .complete_multipart_upload(("bkt", "other", &id), &parts, None, &WriteCondition::Always)
        .await;
    assert!(matches!(r, Err(Error::NoSuchUpload)), "{r:?}");
}

#[test]
fn retried_complete_sim() {
    run(retried_complete(Sim { made: Vec::new() }));
}

#[test]
fn retried_complete_dir() {
    run(retried_complete(Dir::new()));
}

/// An expectation Complete must refuse, and whether an error is the right refusal.
type Refusal = (CompleteExpectations, fn(&Error) -> bool);

/// Every way `right` can be wrong: value, part count, type, size, algorithm.
fn refusals_of(right: &CompleteExpectations) -> Vec<Refusal> {
    let composite = right.checksum_type == Some(ChecksumType::Composite);
    let other = if composite {
        ChecksumType::FullObject
    } else {
        ChecksumType::Composite
    };
    let mut flipped = right.clone();
    flipped.checksum.as_mut().unwrap().value[0] ^= 1;
    let sha256 = Checksum {
        algorithm: ChecksumAlgorithm::Sha256,
        value: vec![0; 32],
    };
    vec![
        (flipped, |e| matches!(e, Error::BadDigest)),
        (
            CompleteExpectations {
                checksum_parts: Some(3),
                ..right.clone()
            },
            |e| matches!(e, Error::BadDigest),
        ),
        (
            CompleteExpectations {
                checksum_type: Some(other),
                ..right.clone()
            },
            |e| matches!(e, Error::InvalidRequest(_)),
        ),
        (
            CompleteExpectations {
                size_bytes: Some(1),
                ..right.clone()
            },
            |e| matches!(e, Error::InvalidRequest(_)),
        ),
        (
            CompleteExpectations {
                checksum: Some(sha256),
                checksum_parts: None,
                ..right.clone()
            },
            |e| matches!(e, Error::InvalidRequest(_)),
        ),
    ]
}

/// Complete checks what its headers declare: the composite value with its `-N` part
/// count, the full-object value, the checksum type and the object size; a mismatch is
/// refused and the upload stays. A part read by number has that part's checksum.
#[test]
fn complete_expectations() {
    run(async {
        let store = mp_store(Sim { made: Vec::new() }.drives(4), 2).await;
        let bodies = [body(50, PART_MIN), body(51, 1234)];
        for (algorithm, kind) in [
            (ChecksumAlgorithm::Sha1, ChecksumType::Composite),
            (ChecksumAlgorithm::Crc32, ChecksumType::Composite),
            (ChecksumAlgorithm::Crc32c, ChecksumType::FullObject),
            (ChecksumAlgorithm::Crc64Nvme, ChecksumType::FullObject),
        ] {
            let key = format!("x/{}", algorithm.name());
            let options = UploadOptions {
                checksum_algorithm: Some(algorithm),
                checksum_type: Some(kind),
                ..UploadOptions::default()
            };
            let id = store
                .create_multipart_upload("bkt", &key, &options)
                .await
                .unwrap()
                .upload_id;
            let mut parts = Vec::new();
            for (i, data) in bodies.iter().enumerate() {
                let number = i as u32 + 1;
                parts.push(done(number, &upload(&store, &key, &id, number, data).await));
            }
            let sums: Vec<Vec<u8>> = bodies.iter().map(|b| algorithm.digest(b)).collect();
            let composite = kind == ChecksumType::Composite;
            let value = if composite {
                algorithm.digest(&sums.concat())
            } else {
                algorithm.digest(&bodies.concat())
            };
            let right = CompleteExpectations {
                checksum: Some(Checksum { algorithm, value }),
                checksum_parts: composite.then_some(2),
                checksum_type: Some(kind),
                size_bytes: Some((PART_MIN + 1234) as u64),
            };
            let complete = |expected: CompleteExpectations| {
                let (store, key, id, parts) = (&store, key.clone(), id.clone(), parts.clone());
                async move {
                    store
                        .complete_multipart_upload_expecting(
                            ("bkt", &key, &id),
                            &parts,
                            &expected,
                            &WriteCondition::Always,
                        )
                        .await
                }
            };
            for (expected, is_right_error) in refusals_of(&right) {
                let r = complete(expected.clone()).await;
                assert!(r.as_ref().is_err_and(is_right_error), "{expected:?}: {r:?}");
            }
            let info = complete(right).await.unwrap();
            for (i, sum) in sums.iter().enumerate() {
                let part = part_checksum(&info, i as u32 + 1).unwrap();
                assert_eq!((part.algorithm, &part.value), (algorithm, sum));
            }
            assert_eq!(part_checksum(&info, 3), None);
        }
    });
}
