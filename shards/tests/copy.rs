//! CopyObject in the store: streamed copies of any size, metadata directives, copying
//! onto itself, and source conditions.

use crate::common;

use common::*;
use shoal_shards::object::copy::{MetadataDirective, TaggingDirective};
use shoal_shards::{Error, PutOptions};

/// Copies are byte-exact at every size; COPY keeps metadata, REPLACE replaces it.
#[test]
fn copies_are_exact() {
    run(async {
        let mut dir = Dir::new(); // keeps the drive folders alive for the test
        let store = store(dir.drives(6), 2).await;
        for (i, size) in [0usize, 10, 300_000, 3 * MIB + 7].into_iter().enumerate() {
            let data = body(i as u64, size);
            let options = PutOptions {
                size_bytes: Some(size as u64),
                headers: vec![
                    ("content-type".into(), "text/x".into()),
                    ("x-amz-meta-a".into(), "1".into()),
                ],
                ..PutOptions::default()
            };
            let key = format!("src{i}");
            store
                .put_object("bkt", &key, &options, &mut shoal_shards::SliceSource(&data))
                .await
                .unwrap();
            let copied = store
                .copy_object(
                    ("bkt", &key),
                    ("bkt", &format!("dst/{i}")),
                    (MetadataDirective::Copy, TaggingDirective::Copy),
                    |_| Ok(()),
                    PutOptions::default(),
                )
                .await
                .unwrap();
            assert_eq!(get(&store, &format!("dst/{i}")).await.unwrap(), data);
            assert_eq!(copied.headers, options.headers);
            let replaced = MetadataDirective::Replace(vec![("x-amz-meta-b".into(), "2".into())]);
            let info = store
                .copy_object(
                    ("bkt", &key),
                    ("bkt", &key),
                    (replaced, TaggingDirective::Copy),
                    |_| Ok(()),
                    PutOptions::default(),
                )
                .await
                .unwrap();
            assert_eq!(
                info.headers,
                vec![("x-amz-meta-b".to_owned(), "2".to_owned())]
            );
            assert_eq!(
                get(&store, &key).await.unwrap(),
                data,
                "self-copy keeps the bytes"
            );
        }
    });
}

/// Refusals: onto itself without changes, a failing source condition, a missing source.
#[test]
fn copy_refusals() {
    run(async {
        let store = store(Sim { made: vec![] }.drives(4), 2).await;
        put(&store, "k", b"data").await;
        let same = store
            .copy_object(
                ("bkt", "k"),
                ("bkt", "k"),
                (MetadataDirective::Copy, TaggingDirective::Copy),
                |_| Ok(()),
                PutOptions::default(),
            )
            .await;
        assert!(matches!(same, Err(Error::InvalidCopy(_))), "{same:?}");
        let refused = store
            .copy_object(
                ("bkt", "k"),
                ("bkt", "k2"),
                (MetadataDirective::Copy, TaggingDirective::Copy),
                |_| Err(Error::PreconditionFailed),
                PutOptions::default(),
            )
            .await;
        assert!(matches!(refused, Err(Error::PreconditionFailed)));
        assert!(matches!(get(&store, "k2").await, Err(Error::NoSuchKey)));
        let missing = store
            .copy_object(
                ("bkt", "nope"),
                ("bkt", "k3"),
                (MetadataDirective::Copy, TaggingDirective::Copy),
                |_| Ok(()),
                PutOptions::default(),
            )
            .await;
        assert!(matches!(missing, Err(Error::NoSuchKey)));
    });
}
