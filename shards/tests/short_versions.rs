//! A version whose metadata reached read quorum but not write quorum (a commit cut by a
//! crash) is decided by its data (`object/roll_forward.rs`): completed when its data
//! reads back, taken back (the version it replaced answers) when its data is proven
//! lost, and neither (503, nothing changed) while a member that failed could still hold
//! it. Built by hand on a 2+2 set of simulated drives: two of the four get the
//! replaced version's record back, as a commit cut after two members looks.

use crate::common;

use common::*;
use shoal_io::{Drive, FaultRule, SimDrive, SimFaults};
use shoal_shards::{Error, PutOptions, SliceSource};

const KEY: &str = "k";
/// Larger than inline, one stripe.
const SIZE_BYTES: usize = 300_000;

fn meta_path() -> String {
    format!("bkt/{KEY}/_meta")
}

/// The new version's part file on a drive.
fn part_path(version_id: &[u8; 16]) -> String {
    format!("bkt/{KEY}/_d{}/part.1", hex::encode(version_id))
}

async fn put_version(store: &TestStore<SimDrive>, data: &[u8]) -> [u8; 16] {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    store
        .put_object("bkt", KEY, &options, &mut SliceSource(data))
        .await
        .expect("put")
        .version_id
}

/// A 2+2 store over four of `sim`'s drives with a cut commit (`cut_commit`): the
/// drives, the store and the short version's id.
async fn short_version(sim: &mut Sim) -> (Vec<SimDrive>, TestStore<SimDrive>, [u8; 16]) {
    let drives = sim.drives(4);
    let store = store(drives.clone(), 2).await;
    let new = cut_commit(&drives, &store).await;
    (drives, store, new)
}

/// Version 1 everywhere, then version 2 committed on drives 0 and 1 only (2 and 3 hold
/// version 1's record again): read quorum, one short of write quorum. Returns the
/// drives and version 2's id.
async fn cut_commit(drives: &[SimDrive], store: &TestStore<SimDrive>) -> [u8; 16] {
    put_version(store, &body(1, SIZE_BYTES)).await;
    let old: Vec<Vec<u8>> = drives
        .iter()
        .map(|d| d.file_bytes(&meta_path()).expect("version 1's record"))
        .collect();
    let new = put_version(store, &body(2, SIZE_BYTES)).await;
    for i in 2..4 {
        drives[i]
            .write_file_atomic(&meta_path(), &old[i])
            .await
            .expect("record back");
    }
    new
}

/// Per drive, the version its record holds.
fn versions(drives: &[SimDrive], store: &TestStore<SimDrive>) -> Vec<Option<[u8; 16]>> {
    drives
        .iter()
        .map(|d| {
            let bytes = d.file_bytes(&meta_path())?;
            let meta =
                shoal_shards::record::meta::DriveMeta::decode(&bytes, &store.deployment_id());
            meta.ok().map(|m| m.info.version_id)
        })
        .collect()
}

/// The data of the short version is on drives 0 and 1 (2 of 2 needed): it is completed
/// and served, and every drive then holds it.
#[test]
fn a_short_version_whose_data_reads_back_is_completed() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let (drives, store, new) = short_version(&mut sim).await;
        for drive in &drives[2..] {
            drive.delete_file(&part_path(&new));
        }
        assert_eq!(get(&store, KEY).await.expect("read"), body(2, SIZE_BYTES));
        let head = store.head_object("bkt", KEY).await.expect("head");
        assert_eq!(head.version_id, new);
        assert_eq!(versions(&drives, &store), vec![Some(new); 4]);
    });
}

/// The short version's data is on drive 0 alone (drive 1's is corrupt, 2 and 3 have
/// none): it is taken back and version 1 answers, now and after it.
#[test]
fn a_short_version_whose_data_is_lost_is_taken_back() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let (drives, store, new) = short_version(&mut sim).await;
        for drive in &drives[2..] {
            drive.delete_file(&part_path(&new));
        }
        drives[1].corrupt_file(&part_path(&new), 100);
        assert_eq!(get(&store, KEY).await.expect("read"), body(1, SIZE_BYTES));
        let head = store.head_object("bkt", KEY).await.expect("head");
        assert_ne!(head.version_id, new);
        assert_eq!(
            drives[0].file_bytes(&part_path(&new)),
            None,
            "its data went"
        );
        assert!(versions(&drives, &store).iter().all(|v| *v != Some(new)));
        assert_eq!(get(&store, KEY).await.expect("again"), body(1, SIZE_BYTES));
    });
}

/// As above, but drive 3 still holds the short version's data and fails to read it:
/// the loss is not proven, so the read is refused (503) and nothing is taken back;
/// once drive 3 answers, the data reads back and the version is completed.
#[test]
fn a_short_version_is_not_taken_back_while_a_member_fails() {
    run(async {
        let mut sim = Sim { made: Vec::new() };
        let (drives, store, new) = short_version(&mut sim).await;
        drives[2].delete_file(&part_path(&new));
        drives[1].corrupt_file(&part_path(&new), 100);
        drives[3].set_faults(SimFaults {
            read_error: FaultRule::PathContains("/_d".into()),
            ..SimFaults::default()
        });
        let refused = get(&store, KEY).await;
        assert!(
            matches!(refused, Err(Error::DataUnavailable(_))),
            "{refused:?}"
        );
        assert!(drives[0].file_bytes(&part_path(&new)).is_some(), "kept");
        drives[3].clear_faults();
        assert_eq!(get(&store, KEY).await.expect("read"), body(2, SIZE_BYTES));
    });
}
