//! Tags in the store: object tags as metadata-only updates that voting orders, that a
//! failed update leaves untouched, and that overwrites and copies treat as S3 does;
//! bucket tags that survive a minority of drives.

use crate::common;

use common::*;
use shoal_io::{FaultRule, SimFaults};
use shoal_shards::object::copy::{MetadataDirective, TaggingDirective};
use shoal_shards::{Error, PutOptions, SliceSource};

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Tags are set with the object, replaced and removed without touching its bytes or
/// its modification time, and an overwrite brings its own (or none).
async fn object_tags<B: Backend>(mut backend: B) {
    let store = store(backend.drives(4), 2).await;
    for (key, size) in [("inline", 100usize), ("parts", 3 * MIB + 1)] {
        let data = body(size as u64, size);
        let options = PutOptions {
            size_bytes: Some(size as u64),
            tags: tags(&[("team", "ml")]),
            ..PutOptions::default()
        };
        let written = store
            .put_object("bkt", key, &options, &mut SliceSource(&data))
            .await
            .unwrap();
        assert_eq!(store.object_tags("bkt", key).await.unwrap().1, options.tags);
        for round in 0..3 {
            let want = tags(&[("round", &round.to_string()), ("k", "v")]);
            store
                .set_object_tags("bkt", key, want.clone())
                .await
                .unwrap();
            let info = store.head_object("bkt", key).await.unwrap();
            assert_eq!(info.tags, want);
            assert_eq!(info.mod_time_unix_nanos, written.mod_time_unix_nanos);
            assert_eq!(info.etag, written.etag);
        }
        store.set_object_tags("bkt", key, Vec::new()).await.unwrap();
        assert!(store.object_tags("bkt", key).await.unwrap().1.is_empty());
        assert_eq!(get(&store, key).await.unwrap(), data);
        store
            .set_object_tags("bkt", key, tags(&[("a", "1")]))
            .await
            .unwrap();
        put(&store, key, b"new").await;
        assert!(store.head_object("bkt", key).await.unwrap().tags.is_empty());
    }
    assert!(matches!(
        store
            .set_object_tags("bkt", "missing", tags(&[("a", "1")]))
            .await,
        Err(Error::NoSuchKey)
    ));
}

#[test]
fn object_tags_sim() {
    run(object_tags(Sim { made: Vec::new() }));
}

#[test]
fn object_tags_dir() {
    run(object_tags(Dir::new()));
}

/// A tag update that reaches fewer than write quorum drives fails and leaves the old
/// tags; one that reaches exactly write quorum wins over the stale copies.
#[test]
fn failed_update_keeps_old_tags() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let store = store(sim.drives(4), 2).await;
        put(&store, "k", b"bytes").await;
        store
            .set_object_tags("bkt", "k", tags(&[("v", "1")]))
            .await
            .unwrap();
        let failing = SimFaults {
            write_error: FaultRule::Always,
            ..SimFaults::default()
        };
        for drive in &sim.made[..2] {
            drive.set_faults(failing.clone());
        }
        let r = store.set_object_tags("bkt", "k", tags(&[("v", "2")])).await;
        assert!(
            matches!(r, Err(Error::InsufficientWriteQuorum { .. })),
            "{r:?}"
        );
        for drive in &sim.made {
            drive.clear_faults();
        }
        assert_eq!(
            store.head_object("bkt", "k").await.unwrap().tags,
            tags(&[("v", "1")])
        );
        // Write quorum of 2+2 is 3: with one drive failing the update still lands.
        sim.made[3].set_faults(failing);
        store
            .set_object_tags("bkt", "k", tags(&[("v", "3")]))
            .await
            .unwrap();
        sim.made[3].clear_faults();
        assert_eq!(
            store.head_object("bkt", "k").await.unwrap().tags,
            tags(&[("v", "3")])
        );
        assert_eq!(get(&store, "k").await.unwrap(), b"bytes");
    });
}

/// CopyObject keeps the source's tags unless told to replace them.
#[test]
fn copy_tagging_directive() {
    run(async {
        let store = store(Sim { made: Vec::new() }.drives(4), 2).await;
        let options = PutOptions {
            size_bytes: Some(3),
            tags: tags(&[("src", "1")]),
            ..PutOptions::default()
        };
        store
            .put_object("bkt", "src", &options, &mut SliceSource(b"abc"))
            .await
            .unwrap();
        let copied = store
            .copy_object(
                ("bkt", "src"),
                ("bkt", "kept"),
                (MetadataDirective::Copy, TaggingDirective::Copy),
                |_| Ok(()),
                PutOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(copied.tags, tags(&[("src", "1")]));
        let replaced = store
            .copy_object(
                ("bkt", "src"),
                ("bkt", "src"),
                (
                    MetadataDirective::Copy,
                    TaggingDirective::Replace(tags(&[("new", "2")])),
                ),
                |_| Ok(()),
                PutOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            replaced.tags,
            tags(&[("new", "2")]),
            "self-copy to change tags"
        );
    });
}

/// Bucket tags: set, replaced, removed; readable with a drive gone; gone with the
/// bucket.
#[test]
fn bucket_tags() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let store = store(sim.drives(4), 2).await;
        assert!(store.bucket_tags("bkt").await.unwrap().is_empty());
        store
            .set_bucket_tags("bkt", &tags(&[("a", "1")]))
            .await
            .unwrap();
        store
            .set_bucket_tags("bkt", &tags(&[("b", "2")]))
            .await
            .unwrap();
        sim.made[0].set_faults(SimFaults {
            gone: true,
            ..SimFaults::default()
        });
        assert_eq!(store.bucket_tags("bkt").await.unwrap(), tags(&[("b", "2")]));
        sim.made[0].clear_faults();
        store.set_bucket_tags("bkt", &[]).await.unwrap();
        assert!(store.bucket_tags("bkt").await.unwrap().is_empty());
        store
            .set_bucket_tags("bkt", &tags(&[("c", "3")]))
            .await
            .unwrap();
        store.delete_bucket("bkt").await.unwrap();
        store.make_bucket("bkt").await.unwrap();
        assert!(store.bucket_tags("bkt").await.unwrap().is_empty());
        assert!(matches!(
            store.bucket_tags("nosuch").await,
            Err(Error::NoSuchBucket)
        ));
    });
}
