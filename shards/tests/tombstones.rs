//! A delete that could not reach every member leaves its tombstones on the others
//! (`object/delete.rs`): every reader must see such a key as absent (GET, HEAD, copy
//! source, tagging, conditions, listing), a later delete or DeleteObjects of it must
//! succeed and take the tombstones away, a write over it must work, and DeleteBucket on
//! a bucket that holds only tombstones must succeed. Run on simulated drives, one of
//! which refuses writes while the delete runs.

use crate::common;

use common::*;
use shoal_io::{FaultRule, SimDrive, SimFaults};
use shoal_shards::object::copy::{MetadataDirective, TaggingDirective};
use shoal_shards::{Error, ListQuery, PutOptions, WriteCondition};

/// The metadata record of `key` in bucket `bkt` on a drive.
fn meta_of(drive: &SimDrive, key: &str) -> Option<Vec<u8>> {
    drive.file_bytes(&format!("bkt/{key}/_meta"))
}

/// Deletes `key` while drive 0 refuses every write: the delete commits on the other
/// three (write quorum of 2+2) and leaves its tombstones there.
async fn delete_leaving_tombstones(store: &TestStore<SimDrive>, drives: &[SimDrive], key: &str) {
    drives[0].set_faults(SimFaults {
        write_error: FaultRule::Always,
        ..SimFaults::default()
    });
    assert!(
        store
            .delete_object("bkt", key)
            .await
            .expect("delete commits")
    );
    drives[0].clear_faults();
    assert!(
        meta_of(&drives[0], key).is_some(),
        "drive 0 kept the version"
    );
    for (i, drive) in drives.iter().enumerate().skip(1) {
        assert!(
            meta_of(drive, key).is_some(),
            "a tombstone stays on drive {i}"
        );
    }
}

fn listed(page: &shoal_shards::ListPage) -> Vec<&str> {
    page.objects.iter().map(|o| o.key.as_str()).collect()
}

/// Every reader sees a key with tombstones left as absent; a write over it is the key's
/// new version.
#[test]
fn left_tombstones_read_as_no_such_key_everywhere() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let drives = sim.drives(4);
        let store = store(drives.clone(), 2).await;
        put(&store, "gone", &body(1, 300_000)).await;
        put(&store, "kept", &body(2, 10)).await;
        delete_leaving_tombstones(&store, &drives, "gone").await;

        assert!(matches!(get(&store, "gone").await, Err(Error::NoSuchKey)));
        assert!(matches!(
            store.head_object("bkt", "gone").await,
            Err(Error::NoSuchKey)
        ));
        assert!(matches!(
            store.object_tags("bkt", "gone").await,
            Err(Error::NoSuchKey)
        ));
        assert!(matches!(
            store.set_object_tags("bkt", "gone", Vec::new()).await,
            Err(Error::NoSuchKey)
        ));
        let copied = store
            .copy_object(
                ("bkt", "gone"),
                ("bkt", "copy"),
                (MetadataDirective::Copy, TaggingDirective::Copy),
                |_| Ok(()),
                PutOptions::default(),
            )
            .await;
        assert!(matches!(copied, Err(Error::NoSuchKey)), "{copied:?}");
        // If-None-Match: * succeeds over a deleted key, as over one never written.
        let options = PutOptions {
            size_bytes: Some(5),
            condition: WriteCondition::IfNoneMatchAny,
            ..PutOptions::default()
        };
        let page = store
            .list_objects("bkt", &ListQuery::default())
            .await
            .expect("list");
        assert_eq!(listed(&page), vec!["kept"]);
        store
            .put_object(
                "bkt",
                "gone",
                &options,
                &mut shoal_shards::SliceSource(b"again"),
            )
            .await
            .expect("a write over the tombstone");
        assert_eq!(get(&store, "gone").await.expect("new version"), b"again");
    });
}

/// A second delete of a key with tombstones left (alone or in a DeleteObjects batch,
/// which deletes key by key) succeeds, says nothing existed, and removes every record
/// once every member holds its tombstone.
#[test]
fn deleting_a_deleted_key_again_removes_its_tombstones() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let drives = sim.drives(4);
        let store = store(drives.clone(), 2).await;
        put(&store, "k", &body(3, 1000)).await;
        delete_leaving_tombstones(&store, &drives, "k").await;
        assert!(!store.delete_object("bkt", "k").await.expect("delete again"));
        for (i, drive) in drives.iter().enumerate() {
            assert_eq!(meta_of(drive, "k"), None, "no record left on drive {i}");
        }
        assert!(matches!(get(&store, "k").await, Err(Error::NoSuchKey)));
    });
}

/// DeleteBucket on a bucket whose only keys are deleted ones with tombstones left
/// succeeds (it is empty to S3), and the bucket is gone.
#[test]
fn a_bucket_holding_only_tombstones_can_be_deleted() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let drives = sim.drives(4);
        let store = store(drives.clone(), 2).await;
        put(&store, "a/x", &body(4, 200_000)).await;
        put(&store, "b", &body(5, 10)).await;
        delete_leaving_tombstones(&store, &drives, "a/x").await;
        delete_leaving_tombstones(&store, &drives, "b").await;
        store.delete_bucket("bkt").await.expect("an empty bucket");
        assert!(matches!(
            store.list_objects("bkt", &ListQuery::default()).await,
            Err(Error::NoSuchBucket)
        ));
    });
}
