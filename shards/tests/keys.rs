//! Object keys that look like paths to an operating system (`.`/`..` segments,
//! backslashes) on simulated and real drives: each is stored, read, listed, tagged and
//! deleted as exactly the key it is, and nothing is ever written outside the bucket's
//! folder or Shoal's own `.shoal` folder.

use crate::common;

use common::*;
use shoal_io::Drive;
use shoal_shards::object::multipart::{CompletePart, UploadOptions};
use shoal_shards::{Error, ListQuery, SliceSource, WriteCondition};

/// Keys an attacker or a careless client might send, plus the keys they would alias
/// if they were taken as paths (`b` for `a/../b`, `x` for `./x`, …).
const KEYS: [&str; 17] = [
    "a/../b",
    "./x",
    "..",
    "a\\b",
    "a/./b",
    ".",
    "x/..",
    "../../escape",
    "a/..",
    "..\\..\\evil",
    "%2E%2E",
    ".../...",
    "b",
    "x",
    "a/b",
    "a",
    "escape",
];

/// What every drive holds outside the bucket's folder and `.shoal`: must be nothing.
async fn strays<D: Drive>(drive: &D) -> Vec<String> {
    files_under(drive, "")
        .await
        .into_iter()
        .filter(|path| !path.starts_with("bkt/") && !path.starts_with(".shoal/"))
        .collect()
}

async fn keys_are_keys<B: Backend>(mut backend: B) {
    let store = store(backend.drives(4), 2).await;
    for (i, key) in KEYS.iter().enumerate() {
        put(&store, key, &body(i as u64, 100 + i)).await;
    }
    for (i, key) in KEYS.iter().enumerate() {
        assert_eq!(
            get(&store, key).await.unwrap(),
            body(i as u64, 100 + i),
            "{key}"
        );
    }
    let listed = store
        .list_objects("bkt", &ListQuery::default())
        .await
        .unwrap();
    let mut expected: Vec<&str> = KEYS.to_vec();
    expected.sort_unstable();
    let names: Vec<&str> = listed.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(names, expected);
    let delimited = ListQuery {
        prefix: "a/".into(),
        delimiter: Some("/".into()),
        ..ListQuery::default()
    };
    let page = store.list_objects("bkt", &delimited).await.unwrap();
    let names: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(names, ["a/..", "a/b"]);
    assert_eq!(page.common_prefixes, ["a/../", "a/./"]);
    let tags = vec![("t".to_owned(), "v".to_owned())];
    store
        .set_object_tags("bkt", "..", tags.clone())
        .await
        .unwrap();
    assert_eq!(store.object_tags("bkt", "..").await.unwrap().1, tags);
    assert_eq!(
        get(&store, "..").await.unwrap(),
        body(2, 102),
        "tags kept the bytes"
    );
    for drive in store.drives() {
        assert_eq!(strays(drive).await, Vec::<String>::new());
    }
    for key in KEYS.iter().rev() {
        store.delete_object("bkt", key).await.unwrap();
        assert!(
            matches!(get(&store, key).await, Err(Error::NoSuchKey)),
            "{key}"
        );
    }
    for drive in store.drives() {
        assert_eq!(files_under(drive, "bkt").await, Vec::<String>::new());
    }
}

/// Path-like keys are stored, read, listed, tagged and deleted exactly (simulated).
#[test]
fn keys_are_keys_sim() {
    run(keys_are_keys(Sim { made: vec![] }));
}

/// The same on real directories: the operating system never resolves a key's steps.
#[test]
fn keys_are_keys_dir() {
    run(keys_are_keys(Dir::new()));
}

/// A multipart upload to a `..` key completes into that key and nowhere else.
#[test]
fn multipart_to_a_dot_dot_key() {
    run(async {
        let mut dir = Dir::new();
        let store = store(dir.drives(4), 2).await;
        let key = "../up";
        let id = store
            .create_multipart_upload("bkt", key, &UploadOptions::default())
            .await
            .unwrap()
            .upload_id;
        let data = body(7, 1000);
        let options = shoal_shards::PutOptions {
            size_bytes: Some(data.len() as u64),
            ..shoal_shards::PutOptions::default()
        };
        let part = store
            .upload_part(("bkt", key, &id), 1, &options, &mut SliceSource(&data))
            .await
            .unwrap();
        let done = CompletePart {
            number: 1,
            etag: hex::encode(part.md5),
            checksum: None,
        };
        store
            .complete_multipart_upload(("bkt", key, &id), &[done], None, &WriteCondition::Always)
            .await
            .unwrap();
        assert_eq!(get(&store, key).await.unwrap(), data);
        assert!(matches!(get(&store, "up").await, Err(Error::NoSuchKey)));
        for drive in store.drives() {
            assert_eq!(strays(drive).await, Vec::<String>::new());
        }
    });
}
