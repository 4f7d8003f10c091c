//! The object store suite, run against simulated drives and real directories alike.

use crate::common;

use common::*;
use shoal_io::Drive;
use shoal_shards::{ByteRange, Error, ListQuery, PutOptions, SliceSource};

/// Layouts the issue names: (drives, parity).
const LAYOUTS: [(usize, usize); 6] = [(1, 0), (3, 1), (4, 2), (6, 2), (12, 4), (16, 4)];
const SIZES: [usize; 9] = [
    0,
    1,
    4095,
    4096,
    65536,
    MIB - 1,
    MIB,
    MIB + 1,
    10 * MIB + 17,
];

/// Ranges to try on an object of `size` bytes: edges, stripe boundaries, suffixes.
fn ranges(size: usize) -> Vec<ByteRange> {
    let s = size as u64;
    let mut out = vec![
        ByteRange::FromTo { first: 0, last: 0 },
        ByteRange::FromTo {
            first: s - 1,
            last: s - 1,
        },
        ByteRange::From { first: s / 2 },
        ByteRange::Suffix { len: 1000 },
        ByteRange::FromTo {
            first: s / 3,
            last: s / 3 + 5000,
        },
    ];
    if s > MIB as u64 {
        out.push(ByteRange::FromTo {
            first: MIB as u64 - 10,
            last: MIB as u64 + 10,
        });
    }
    out
}

fn slice(data: &[u8], range: ByteRange) -> &[u8] {
    let (start, end) = range.resolve(data.len() as u64).unwrap();
    &data[start as usize..end as usize]
}

async fn round_trips<B: Backend>(backend: &mut B) {
    for (drives, parity) in LAYOUTS {
        let store = backend.store(drives, parity).await;
        for (i, size) in SIZES.into_iter().enumerate() {
            let data = body(i as u64, size);
            let key = format!("dir/obj-{size}");
            put(&store, &key, &data).await;
            let info = store.head_object("bkt", &key).await.unwrap();
            assert_eq!(info.size_bytes, size as u64);
            assert_eq!(
                get(&store, &key).await.unwrap(),
                data,
                "{drives} drives, size {size}"
            );
            if size == 0 {
                continue;
            }
            for range in ranges(size) {
                let got = store
                    .get_object("bkt", &key, Some(range))
                    .await
                    .unwrap()
                    .read_all()
                    .await
                    .unwrap();
                assert_eq!(
                    got,
                    slice(&data, range),
                    "{drives} drives, size {size}, {range:?}"
                );
            }
        }
    }
}

/// Every size round-trips exactly, whole and in ranges, for every layout (simulated).
#[test]
fn round_trips_sim() {
    run(round_trips(&mut Sim { made: vec![] }));
}

/// The same on real directories through io_uring and O_DIRECT.
#[test]
fn round_trips_dir() {
    run(round_trips(&mut Dir::new()));
}

/// The same over sets where every odd member is a drive of a peer node (simulated link).
#[test]
fn round_trips_peer() {
    run(round_trips(&mut Peers { made: vec![] }));
}

/// The same with the peer's drives served over real TCP (frames, handshake, wire form).
#[test]
fn round_trips_tcp() {
    run(round_trips(&mut TcpPeers { made: vec![] }));
}

async fn survives_damage<B: Backend>(backend: &mut B) {
    let sizes = [1usize, 70_000, 3 * MIB + 5];
    for (drives, parity) in [(3usize, 1usize), (6, 2), (12, 4)] {
        for how in [
            Damage::Emptied,
            Damage::Flipped,
            Damage::Truncated,
            Damage::Deleted,
        ] {
            let store = backend.store(drives, parity).await;
            for (i, size) in sizes.iter().enumerate() {
                put(&store, &format!("k{i}"), &body(i as u64, *size)).await;
            }
            // Up to parity drives damaged: every byte still exact.
            for d in 0..parity {
                damage(backend.drive(&store, d), how, d as u64).await;
            }
            for (i, size) in sizes.iter().enumerate() {
                let got = get(&store, &format!("k{i}")).await;
                assert_eq!(
                    got.unwrap(),
                    body(i as u64, *size),
                    "{drives} drives {how:?}"
                );
                let r = ByteRange::FromTo { first: 0, last: 9 };
                let part = store
                    .get_object("bkt", &format!("k{i}"), Some(r))
                    .await
                    .unwrap()
                    .read_all()
                    .await
                    .unwrap();
                assert_eq!(part, slice(&body(i as u64, *size), r));
            }
            assert!(
                !store.heal_queue().is_empty(),
                "damage must be queued for healing"
            );
            // One more: a clean error, never wrong bytes.
            damage(backend.drive(&store, parity), how, 99).await;
            for (i, size) in sizes.iter().enumerate() {
                match get(&store, &format!("k{i}")).await {
                    Ok(bytes) => panic!(
                        "read with {} damaged drives returned {} bytes (size {size})",
                        parity + 1,
                        bytes.len()
                    ),
                    // Emptied drives also lose the bucket record: NoSuchBucket is clean too.
                    Err(
                        Error::NoSuchKey
                        | Error::NoSuchBucket
                        | Error::InsufficientReadQuorum { .. }
                        | Error::VersionUndecided { .. }
                        | Error::DataUnavailable(_),
                    ) => {}
                    Err(e) => panic!("unexpected error {e}"),
                }
            }
        }
    }
}

/// Up to m damaged drives change nothing; more give a clean error (simulated).
#[test]
fn survives_damage_sim() {
    run(survives_damage(&mut Sim { made: vec![] }));
}

/// The same on real directories.
#[test]
fn survives_damage_dir() {
    run(survives_damage(&mut Dir::new()));
}

/// The same with every odd member on a peer node: damage on the far drives too.
#[test]
fn survives_damage_peer() {
    run(survives_damage(&mut Peers { made: vec![] }));
}

/// The same with the peer's drives served over real TCP (frames, handshake, wire form).
#[test]
fn survives_damage_tcp() {
    run(survives_damage(&mut TcpPeers { made: vec![] }));
}

async fn minority_metadata<B: Backend>(backend: &mut B) {
    let store = backend.store(6, 2).await;
    put(&store, "k", b"version one").await;
    let old_meta: Vec<_> = {
        let mut v = Vec::new();
        for d in backend.all_drives(&store) {
            v.push(d.read_file("bkt/k/_meta").await.unwrap());
        }
        v
    };
    put(&store, "k", b"version two!").await;
    // Stale metadata (the old version) on one drive, corrupt on another.
    backend.all_drives(&store)[0]
        .write_file_atomic("bkt/k/_meta", &old_meta[0])
        .await
        .unwrap();
    let mut bad = old_meta[1].clone();
    bad[30] ^= 1;
    backend.all_drives(&store)[1]
        .write_file_atomic("bkt/k/_meta", &bad)
        .await
        .unwrap();
    assert_eq!(get(&store, "k").await.unwrap(), b"version two!");
    assert_eq!(store.head_object("bkt", "k").await.unwrap().size_bytes, 12);
    let page = store
        .list_objects("bkt", &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.objects.len(), 1);
    // A deleted key whose metadata survives on a minority stays deleted.
    put(&store, "gone", b"x").await;
    let leftover = backend.all_drives(&store)[2]
        .read_file("bkt/gone/_meta")
        .await
        .unwrap();
    assert!(store.delete_object("bkt", "gone").await.unwrap());
    backend.all_drives(&store)[2]
        .write_file_atomic("bkt/gone/_meta", &leftover)
        .await
        .unwrap();
    assert!(matches!(get(&store, "gone").await, Err(Error::NoSuchKey)));
    let page = store
        .list_objects("bkt", &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(
        page.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["k"]
    );
}

/// Metadata that is stale or corrupt on a minority of drives changes no answer.
#[test]
fn minority_metadata_sim() {
    run(minority_metadata(&mut Sim { made: vec![] }));
}

#[test]
fn minority_metadata_dir() {
    run(minority_metadata(&mut Dir::new()));
}

/// The same with every odd member on a peer node.
#[test]
fn minority_metadata_peer() {
    run(minority_metadata(&mut Peers { made: vec![] }));
}

/// The same with the peer's drives served over real TCP (frames, handshake, wire form).
#[test]
fn minority_metadata_tcp() {
    run(minority_metadata(&mut TcpPeers { made: vec![] }));
}

async fn listing<B: Backend>(backend: &mut B) {
    let store = backend.store(4, 2).await;
    let keys = [
        "a",
        "a-c",
        "a/b",
        "a/b/c",
        "a/d",
        "b/",
        "b//x",
        "c%d",
        "_x",
        "x/meta",
        "x",
        &"long".repeat(100),
    ];
    for k in keys {
        put(&store, k, k.as_bytes()).await;
    }
    let all = store
        .list_objects("bkt", &ListQuery::default())
        .await
        .unwrap();
    let mut sorted: Vec<&str> = keys.to_vec();
    sorted.sort_unstable();
    assert_eq!(
        all.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        sorted
    );
    let q = ListQuery {
        delimiter: Some("/".into()),
        ..ListQuery::default()
    };
    let top = store.list_objects("bkt", &q).await.unwrap();
    let top_keys: Vec<_> = top.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        top_keys,
        vec![
            "_x",
            "a",
            "a-c",
            "c%d",
            sorted.iter().find(|k| k.starts_with("long")).unwrap(),
            "x"
        ]
    );
    assert_eq!(top.common_prefixes, vec!["a/", "b/", "x/"]);
    let q = ListQuery {
        prefix: "a/".into(),
        delimiter: Some("/".into()),
        ..ListQuery::default()
    };
    let sub = store.list_objects("bkt", &q).await.unwrap();
    assert_eq!(
        sub.objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["a/b", "a/d"]
    );
    assert_eq!(sub.common_prefixes, vec!["a/b/"]);
    // Pagination with start-after walks every key exactly once.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let q = ListQuery {
            start_after: after.clone(),
            max_keys: 3,
            ..ListQuery::default()
        };
        let page = store.list_objects("bkt", &q).await.unwrap();
        seen.extend(page.objects.iter().map(|o| o.key.clone()));
        if !page.is_truncated {
            break;
        }
        after = page.next_start_after.unwrap();
    }
    assert_eq!(seen, sorted);
    // Delete prunes folders: the bucket empties completely.
    for k in keys {
        assert!(store.delete_object("bkt", k).await.unwrap());
    }
    assert!(!store.delete_object("bkt", "a").await.unwrap());
    assert!(
        store
            .list_objects("bkt", &ListQuery::default())
            .await
            .unwrap()
            .objects
            .is_empty()
    );
    store.delete_bucket("bkt").await.unwrap();
    assert!(store.list_buckets().await.unwrap().is_empty());
}

/// Listing in key order with prefixes, delimiters and pages; tricky keys included.
#[test]
fn listing_sim() {
    run(listing(&mut Sim { made: vec![] }));
}

#[test]
fn listing_dir() {
    run(listing(&mut Dir::new()));
}

/// The same with every odd member on a peer node.
#[test]
fn listing_peer() {
    run(listing(&mut Peers { made: vec![] }));
}

/// The same with the peer's drives served over real TCP (frames, handshake, wire form).
#[test]
fn listing_tcp() {
    run(listing(&mut TcpPeers { made: vec![] }));
}

async fn buckets_and_errors<B: Backend>(backend: &mut B) {
    let store = backend.store(4, 2).await;
    assert!(matches!(
        store.make_bucket("bkt").await,
        Err(Error::BucketAlreadyOwnedByYou)
    ));
    assert!(matches!(
        store.make_bucket("Bad_Name").await,
        Err(Error::InvalidBucketName(_))
    ));
    store.make_bucket("other").await.unwrap();
    let names: Vec<_> = store
        .list_buckets()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["bkt", "other"]);
    put(&store, "k", b"data").await;
    assert!(matches!(
        store.delete_bucket("bkt").await,
        Err(Error::BucketNotEmpty)
    ));
    assert!(matches!(
        store.head_object("nope", "k").await,
        Err(Error::NoSuchBucket)
    ));
    assert!(matches!(
        store.head_object("bkt", "missing").await,
        Err(Error::NoSuchKey)
    ));
    assert!(matches!(
        store.head_object("bkt", &"k".repeat(1025)).await,
        Err(Error::KeyTooLong)
    ));
    let r = ByteRange::From { first: 4 };
    assert!(matches!(
        store.get_object("bkt", "k", Some(r)).await.err(),
        Some(Error::InvalidRange)
    ));
    // Wrong digest, short body, long body: rejected, nothing visible.
    let bad_md5 = PutOptions {
        content_md5: Some([0; 16]),
        ..PutOptions::default()
    };
    let short = PutOptions {
        size_bytes: Some(10),
        ..PutOptions::default()
    };
    let long = PutOptions {
        size_bytes: Some(2),
        ..PutOptions::default()
    };
    let big = body(1, 2 * MIB + 3);
    for (options, data, expect) in [
        (&bad_md5, &big[..], "BadDigest"),
        (&short, &b"abc"[..], "IncompleteBody"),
        (&long, &big[..], "IncompleteBody"),
    ] {
        let err = store
            .put_object("bkt", "new", options, &mut SliceSource(data))
            .await
            .unwrap_err();
        assert!(format!("{err:?}").starts_with(expect), "{err:?}");
        assert!(matches!(
            store.head_object("bkt", "new").await,
            Err(Error::NoSuchKey)
        ));
    }
    for d in backend.all_drives(&store) {
        assert!(
            files_under(d, ".shoal/tmp").await.is_empty(),
            "staging left behind"
        );
    }
}

/// Bucket rules and client errors get the right error and leave nothing behind.
#[test]
fn buckets_and_errors_sim() {
    run(buckets_and_errors(&mut Sim { made: vec![] }));
}

#[test]
fn buckets_and_errors_dir() {
    run(buckets_and_errors(&mut Dir::new()));
}

/// The same with every odd member on a peer node: no staging left on the far drives.
#[test]
fn buckets_and_errors_peer() {
    run(buckets_and_errors(&mut Peers { made: vec![] }));
}

/// The same with the peer's drives served over real TCP (frames, handshake, wire form).
#[test]
fn buckets_and_errors_tcp() {
    run(buckets_and_errors(&mut TcpPeers { made: vec![] }));
}
