//! Healing one object (`Store::heal_object`) over simulated drives: damage done to the
//! members' files directly (a chunk file deleted, bytes flipped, a metadata record
//! removed, a write that missed a member) is repaired so that every member holds
//! exactly what a healthy write leaves (compared file by file); a deleted key stays
//! deleted; more damage than parity changes nothing; a dry run changes nothing.

use crate::common;

use std::collections::BTreeMap;

use common::{Backend, MIB, Sim, TestStore, body, files_under, get, put, run, store};
use shoal_io::{Drive, SimDrive};
use shoal_shards::{DataFound, Error, HealOptions, HealOutcome, MetaFound};

const HEAL: HealOptions = HealOptions {
    dry_run: false,
    deep: false,
};

fn sim_drives(count: usize) -> Vec<SimDrive> {
    Sim { made: vec![] }.drives(count)
}

/// Every object file of every drive, with its bytes.
async fn snapshot(drives: &[SimDrive]) -> Vec<BTreeMap<String, Vec<u8>>> {
    let mut all = Vec::new();
    for drive in drives {
        let mut files = BTreeMap::new();
        for path in files_under(drive, "bkt").await {
            files.insert(path.clone(), drive.file_bytes(&path).expect("file"));
        }
        all.push(files);
    }
    all
}

/// The path of `key`'s file ending with `suffix` on `drive`.
async fn file_of(drive: &SimDrive, key: &str, suffix: &str) -> String {
    files_under(drive, &format!("bkt/{key}"))
        .await
        .into_iter()
        .find(|f| f.ends_with(suffix))
        .unwrap_or_else(|| panic!("{key}: no file ending {suffix}"))
}

/// The drive holding `key`'s first data chunk (its part file's first record, after the
/// 8-byte checksum, starts with the object's first bytes).
async fn first_chunk_drive(drives: &[SimDrive], key: &str, data: &[u8]) -> usize {
    for (index, drive) in drives.iter().enumerate() {
        let part = drive
            .file_bytes(&file_of(drive, key, "/part.1").await)
            .expect("part file");
        if part[8..8 + 4096] == data[..4096] {
            return index;
        }
    }
    panic!("{key}: no drive holds the first data chunk")
}

async fn four_drives() -> (TestStore<SimDrive>, Vec<SimDrive>) {
    let drives = sim_drives(4);
    (store(drives.clone(), 2).await, drives)
}

/// A deleted chunk file, flipped bytes in another member's chunk file and a removed
/// metadata record on a third are all rebuilt: afterwards every drive holds exactly
/// the files, byte for byte, that the healthy write left.
#[test]
fn damaged_members_are_restored_byte_for_byte() {
    run(async {
        let (store, drives) = four_drives().await;
        let data = body(1, 3 * MIB + 17);
        put(&store, "k", &data).await;
        let healthy = snapshot(&drives).await;
        let part0 = file_of(&drives[0], "k", "/part.1").await;
        drives[0].delete_file(&part0);
        let part1 = file_of(&drives[1], "k", "/part.1").await;
        drives[1].corrupt_file(&part1, 5000);
        drives[1].corrupt_file(&part1, 2 * MIB as u64 / 4);
        drives[2].delete_file("bkt/k/_meta");
        assert_ne!(snapshot(&drives).await, healthy);

        let report = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
        assert_eq!(report.members[0].data, DataFound::Missing);
        assert_eq!(report.members[0].files_written, 1);
        assert_eq!(report.members[1].data, DataFound::Corrupt);
        assert_eq!(report.members[1].files_written, 1);
        assert_eq!(report.members[2].meta, MetaFound::Missing);
        assert!(report.members[2].meta_written);
        assert!(!report.members[3].meta_written && report.members[3].files_written == 0);
        assert_eq!(
            snapshot(&drives).await,
            healthy,
            "every file back as written"
        );
        assert!(
            files_under(&drives[0], ".shoal/tmp").await.is_empty(),
            "no staging left"
        );

        let again = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(again.outcome, HealOutcome::Healthy);
        assert!(!again.changed());
        assert_eq!(get(&store, "k").await.expect("get"), data);
    });
}

/// A corrupt chunk whose file is there is found only by reading (`deep`): a shallow
/// heal of an object whose records agree reads nothing, a deep one rebuilds it.
#[test]
fn deep_heal_finds_rot_that_a_shallow_one_does_not_read() {
    run(async {
        let (store, drives) = four_drives().await;
        put(&store, "k", &body(2, 2 * MIB)).await;
        let healthy = snapshot(&drives).await;
        let part = file_of(&drives[3], "k", "/part.1").await;
        drives[3].corrupt_file(&part, 100);
        let shallow = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(shallow.outcome, HealOutcome::Healthy);
        assert_eq!(shallow.members[3].data, DataFound::NotChecked);
        let deep = HealOptions { deep: true, ..HEAL };
        let report = store.heal_object("bkt", "k", deep).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
        assert_eq!(snapshot(&drives).await, healthy);
    });
}

/// A write that missed a member (it was offline during the commit) is queued and
/// healed: the member then holds the version's record and data, enough that the
/// object reads back with the two other members gone.
#[test]
fn a_write_that_missed_a_member_is_completed() {
    run(async {
        let (store, drives) = four_drives().await;
        drives[3].unmount();
        store.check_drives().await;
        let data = body(3, 3 * MIB);
        put(&store, "k", &data).await;
        drives[3].mount();
        store.check_drives().await;
        assert_eq!(
            store.heal_queue(),
            vec![("bkt".to_owned(), "k".to_owned())],
            "a commit short of every member queues the object"
        );
        assert!(files_under(&drives[3], "bkt/k").await.is_empty());
        assert!(store.heal_next().await);
        assert!(store.heal_queue().is_empty());
        assert_eq!(store.heal_counts().healed, 1);
        let on_three = files_under(&drives[3], "bkt/k").await;
        assert_eq!(on_three, files_under(&drives[0], "bkt/k").await);
        drives[0].unmount();
        drives[1].unmount();
        store.check_drives().await;
        assert_eq!(
            get(&store, "k").await.expect("read from the healed two"),
            data
        );
    });
}

/// An inline object's missing record comes back with the member's own chunk.
#[test]
fn inline_record_is_rewritten() {
    run(async {
        let (store, drives) = four_drives().await;
        put(&store, "small", b"a small inline object").await;
        let healthy = snapshot(&drives).await;
        drives[1].delete_file("bkt/small/_meta");
        drives[2].corrupt_file("bkt/small/_meta", 40);
        let report = store.heal_object("bkt", "small", HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
        assert_eq!(report.members[2].meta, MetaFound::Corrupt);
        assert_eq!(snapshot(&drives).await, healthy);
    });
}

/// More chunks lost than parity: the object is reported unreadable and no file of
/// any member changes.
#[test]
fn beyond_parity_is_unreadable_and_nothing_changes() {
    run(async {
        let (store, drives) = four_drives().await;
        put(&store, "k", &body(4, 2 * MIB)).await;
        for drive in &drives[..3] {
            let part = file_of(drive, "k", "/part.1").await;
            drive.corrupt_file(&part, 64);
        }
        drives[3].delete_file("bkt/k/_meta");
        let before = snapshot(&drives).await;
        let report = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Unreadable, "{report:?}");
        assert!(!report.changed());
        assert_eq!(snapshot(&drives).await, before);
    });
}

/// A dry run reports the damage and changes nothing; the heal after it repairs.
#[test]
fn dry_run_changes_nothing() {
    run(async {
        let (store, drives) = four_drives().await;
        put(&store, "k", &body(5, 2 * MIB)).await;
        let healthy = snapshot(&drives).await;
        let part = file_of(&drives[2], "k", "/part.1").await;
        drives[2].delete_file(&part);
        drives[0].delete_file("bkt/k/_meta");
        let before = snapshot(&drives).await;
        let dry = HealOptions {
            dry_run: true,
            deep: true,
        };
        let report = store.heal_object("bkt", "k", dry).await.expect("dry run");
        assert_eq!(report.outcome, HealOutcome::Damaged, "{report:?}");
        assert_eq!(report.members[2].data, DataFound::Missing);
        assert_eq!(report.members[0].meta, MetaFound::Missing);
        assert!(!report.changed());
        assert_eq!(snapshot(&drives).await, before);
        let healed = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(healed.outcome, HealOutcome::Healed);
        assert_eq!(snapshot(&drives).await, healthy);
    });
}

/// A delete that missed a member (offline) leaves the old version's record there;
/// healing never brings it back: the tombstone is completed, then removed with the
/// data from every member, and the key stays absent.
#[test]
fn a_deleted_key_is_not_resurrected() {
    run(async {
        let (store, drives) = four_drives().await;
        put(&store, "k", &body(6, 2 * MIB)).await;
        drives[2].unmount();
        store.check_drives().await;
        assert!(store.delete_object("bkt", "k").await.expect("delete"));
        drives[2].mount();
        store.check_drives().await;
        assert_eq!(
            store.heal_queue(),
            vec![("bkt".to_owned(), "k".to_owned())],
            "a delete short of every member queues the key"
        );
        assert!(!files_under(&drives[2], "bkt/k").await.is_empty());
        let report = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Deleted, "{report:?}");
        assert!(report.members.iter().all(|m| m.files_written == 0));
        for drive in &drives {
            assert!(
                files_under(drive, "bkt/k").await.is_empty(),
                "{}",
                drive.name()
            );
        }
        assert!(matches!(get(&store, "k").await, Err(Error::NoSuchKey)));
        let absent = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(absent.outcome, HealOutcome::Absent);
        assert!(!absent.changed());
    });
}

/// A newer version committed while a heal of the older one runs is not overwritten:
/// the heal holds the key, the PUT commits after it, and every member ends on the
/// newer version.
#[test]
fn a_newer_version_written_during_a_heal_wins() {
    run(async {
        let (store, drives) = four_drives().await;
        put(&store, "k", &body(7, 2 * MIB)).await;
        let part = file_of(&drives[1], "k", "/part.1").await;
        drives[1].delete_file(&part);
        for drive in &drives {
            drive.set_base_latency(std::time::Duration::from_micros(200));
        }
        let newer = body(8, MIB + 3);
        let heal = store.heal_object("bkt", "k", HEAL);
        let write = common::try_put(&store, "k", &newer);
        let (healed, written) = futures_util::future::join(heal, write).await;
        healed.expect("heal");
        written.expect("put");
        assert_eq!(get(&store, "k").await.expect("get"), newer);
        drives[0].unmount();
        drives[3].unmount();
        store.check_drives().await;
        assert_eq!(get(&store, "k").await.expect("on the other two"), newer);
    });
}

/// A multipart object's part files (a missing one, a corrupt one) are rebuilt under
/// their own names.
#[test]
fn multipart_part_files_are_rebuilt() {
    use shoal_shards::object::multipart::{CompletePart, UploadOptions};
    use shoal_shards::{PutOptions, SliceSource, WriteCondition};
    run(async {
        let (store, drives) = four_drives().await;
        let id = store
            .create_multipart_upload("bkt", "mp", &UploadOptions::default())
            .await
            .expect("create")
            .upload_id;
        let mut parts = Vec::new();
        let mut whole = Vec::new();
        for number in 1..=2u32 {
            let data = body(10 + u64::from(number), 5 * MIB + number as usize);
            let options = PutOptions {
                size_bytes: Some(data.len() as u64),
                ..PutOptions::default()
            };
            let part = store
                .upload_part(
                    ("bkt", "mp", &id),
                    number,
                    &options,
                    &mut SliceSource(&data),
                )
                .await
                .expect("part");
            parts.push(CompletePart {
                number,
                etag: hex::encode(part.md5),
                checksum: None,
            });
            whole.extend_from_slice(&data);
        }
        store
            .complete_multipart_upload(("bkt", "mp", &id), &parts, None, &WriteCondition::Always)
            .await
            .expect("complete");
        let healthy = snapshot(&drives).await;
        let files = files_under(&drives[2], "bkt/mp").await;
        let second = files
            .iter()
            .find(|f| f.contains("/p00002-"))
            .expect("part 2");
        drives[2].delete_file(second);
        let first = files_under(&drives[3], "bkt/mp").await;
        let first = first
            .iter()
            .find(|f| f.contains("/p00001-"))
            .expect("part 1");
        drives[3].corrupt_file(first, 10);
        let report = store.heal_object("bkt", "mp", HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
        assert_eq!(report.members[2].files_written, 1);
        assert_eq!(report.members[3].files_written, 1);
        assert_eq!(snapshot(&drives).await, healthy);
        assert_eq!(get(&store, "mp").await.expect("get"), whole);
    });
}

/// The same repairs when the damaged members are drives of another node (odd
/// positions, reached over loopback TCP through the peer protocol): their files come
/// back byte for byte through `install_data` and `write_meta` on the wire.
#[test]
fn members_on_a_peer_node_are_restored_over_the_wire() {
    run(async {
        let drives = sim_drives(4);
        let store = common::tcp_peer_store(drives.clone(), 2).await;
        let data = body(20, 3 * MIB + 1);
        put(&store, "k", &data).await;
        let healthy = snapshot(&drives).await;
        let part = file_of(&drives[1], "k", "/part.1").await;
        drives[1].delete_file(&part);
        drives[3].delete_file("bkt/k/_meta");
        let report = store.heal_object("bkt", "k", HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
        assert_eq!(report.members[1].files_written, 1);
        assert!(report.members[3].meta_written);
        assert_eq!(snapshot(&drives).await, healthy);
        assert_eq!(get(&store, "k").await.expect("get"), data);
    });
}

/// The heal queue survives a restart: what a read queued is in the shard's journal
/// under `.shoal/heal`, a store opened again on the drives loads it and heals the
/// object, and the journal's files go once the queue is empty.
#[test]
fn the_heal_queue_survives_a_restart() {
    use shoal_io::SimClock;
    use shoal_shards::{Store, StoreConfig};
    run(async {
        let (store, drives) = four_drives().await;
        store.load_heal_journal(0).await;
        let data = body(30, 2 * MIB);
        put(&store, "k", &data).await;
        let healthy = snapshot(&drives).await;
        // A record the read asks for (it asks data-chunk members first).
        let at = first_chunk_drive(&drives, "k", &data).await;
        drives[at].delete_file("bkt/k/_meta");
        get(&store, "k").await.expect("get");
        assert_eq!(store.heal_queue(), vec![("bkt".to_owned(), "k".to_owned())]);
        store.write_heal_journal().await;
        let journal: Vec<String> =
            futures_util::future::join_all(drives.iter().map(|d| files_under(d, ".shoal/heal")))
                .await
                .concat();
        assert_eq!(journal.len(), 1, "{journal:?}");
        drop(store);

        let config = StoreConfig {
            parity_chunks: Some(2),
            ..StoreConfig::default()
        };
        let clock = SimClock::new(1_700_000_000_000_000_000);
        let store = Store::open(drives.clone(), clock, 43, config)
            .await
            .expect("reopen");
        assert!(store.heal_queue().is_empty());
        store.load_heal_journal(0).await;
        assert_eq!(store.heal_queue(), vec![("bkt".to_owned(), "k".to_owned())]);
        assert!(store.heal_next().await);
        assert_eq!(store.heal_counts().healed, 1);
        assert_eq!(snapshot(&drives).await, healthy);
        store.write_heal_journal().await;
        for drive in &drives {
            assert!(files_under(drive, ".shoal/heal").await.is_empty());
        }
    });
}
