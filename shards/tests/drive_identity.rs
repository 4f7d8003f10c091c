//! The store over drives that change under it: a drive unmounted or removed goes
//! offline at the next `check_drives`, requests continue within quorum and nothing
//! lands on that drive's path, and the drive comes back when its filesystem does. At
//! open, an empty drive in a deployment that exists is left offline (it may be a bare
//! mount point) unless `format_new_drives` is set; beyond quorum, open names the drives.

use crate::common;

use common::{Backend, Dir, Sim, TestStore, files_under, get, put, run, store};
use shoal_io::{Drive, SimClock, SimDrive};
use shoal_shards::object::store::DriveChange;
use shoal_shards::{Error, Store, StoreConfig};

fn sim_drives(count: usize) -> Vec<SimDrive> {
    Sim { made: vec![] }.drives(count)
}

async fn reopen<D: Drive>(drives: Vec<D>, format_new_drives: bool) -> Result<TestStore<D>, Error> {
    let config = StoreConfig {
        parity_chunks: Some(2),
        format_new_drives,
        ..StoreConfig::default()
    };
    Store::open(drives, SimClock::new(1_700_000_000_000_000_000), 7, config).await
}

/// An unmounted drive goes offline at the check (one change, naming it), puts and gets
/// continue on the other three (2+2), nothing is written to it while offline, and it
/// is back (and written again) after it is mounted.
#[test]
fn unmounted_drive_goes_offline_and_comes_back() {
    run(async {
        let drives = sim_drives(4);
        let store = store(drives.clone(), 2).await;
        let big = common::body(1, 3 << 20);
        put(&store, "before", &big).await;
        assert_eq!(store.check_drives().await, vec![]);

        drives[1].unmount();
        let changes = store.check_drives().await;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].drive, "sim:d1");
        assert!(changes[0].offline.as_ref().unwrap().contains("not mounted"));
        assert_eq!(store.offline_drives().len(), 1);

        put(&store, "during", &big).await;
        put(&store, "small", b"inline").await;
        assert_eq!(get(&store, "before").await.unwrap(), big);
        assert_eq!(get(&store, "during").await.unwrap(), big);
        assert_eq!(get(&store, "small").await.unwrap(), b"inline");
        assert!(
            !drives[1].is_dir("bkt/during"),
            "written to an offline drive"
        );
        assert!(
            !drives[1].is_dir("bkt/small"),
            "written to an offline drive"
        );
        assert_eq!(
            store.check_drives().await,
            vec![],
            "no change: still offline"
        );

        drives[1].mount();
        assert_eq!(
            store.check_drives().await,
            vec![DriveChange {
                drive: "sim:d1".to_owned(),
                offline: None
            }]
        );
        assert!(store.offline_drives().is_empty());
        put(&store, "after", &big).await;
        assert!(drives[1].is_dir("bkt/after"), "the drive is used again");
        assert_eq!(get(&store, "during").await.unwrap(), big);
    });
}

/// A real drive folder removed under the store: puts succeed within quorum, the folder
/// is never created again, and the check takes the drive offline.
#[test]
fn removed_drive_folder_is_not_recreated() {
    run(async {
        let mut backend = Dir::new();
        let drives = backend.drives(4);
        let removed = drives[2].root().to_path_buf();
        let store = store(drives, 2).await;
        put(&store, "before", &common::body(2, 300_000)).await;
        std::fs::remove_dir_all(&removed).unwrap();

        let big = common::body(3, 3 << 20);
        put(&store, "during", &big).await;
        assert!(!removed.exists(), "a put created the removed drive folder");
        let changes = store.check_drives().await;
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert!(changes[0].offline.as_ref().unwrap().contains("removed"));
        put(&store, "later", b"small").await;
        assert!(!removed.exists(), "a put created the removed drive folder");
        assert_eq!(get(&store, "during").await.unwrap(), big);
        assert_eq!(
            get(&store, "before").await.unwrap(),
            common::body(2, 300_000)
        );
    });
}

/// An empty drive in a deployment that exists is not formatted at open: it is offline
/// with the reason and nothing is written to it, the store serves within quorum; with
/// `format_new_drives` it is formatted and used.
#[test]
fn empty_drive_in_existing_deployment_is_not_formatted() {
    run(async {
        let mut drives = sim_drives(4);
        let store = store(drives.clone(), 2).await;
        put(&store, "k", b"data").await;
        drop(store);

        drives[3] = SimDrive::new("d3", 99); // the bare mount point, or a new drive
        let store = reopen(drives.clone(), false).await.expect("degraded open");
        let offline = store.offline_drives();
        assert_eq!(offline.len(), 1, "{offline:?}");
        assert_eq!(offline[0].0, "sim:d3");
        assert!(offline[0].1.contains("Not formatted"), "{}", offline[0].1);
        assert_eq!(get(&store, "k").await.unwrap(), b"data");
        put(&store, "k2", b"more").await;
        assert_eq!(drives[3].file_bytes(".shoal/format"), None);
        assert_eq!(files_under(&drives[3], "").await, Vec::<String>::new());
        drop(store);

        drives[3].crash(); // a restart: the new process opens the drive afresh
        let store = reopen(drives.clone(), true)
            .await
            .expect("open, formatting");
        assert!(store.offline_drives().is_empty());
        assert!(drives[3].file_bytes(".shoal/format").is_some());
        put(&store, "k3", b"new").await;
        assert!(drives[3].is_dir("bkt/k3"));
    });
}

/// Beyond quorum, open refuses with a message that names every offline drive and why.
#[test]
fn open_beyond_quorum_names_the_drives() {
    run(async {
        let mut drives = sim_drives(4);
        drop(store(drives.clone(), 2).await);
        drives[1] = SimDrive::new("d1", 98);
        drives[2].unmount();
        let Err(Error::Format(message)) = reopen(drives, false).await else {
            panic!("open must be refused with 2 of 4 drives");
        };
        assert!(message.contains("2 of 4 drives online"), "{message}");
        assert!(message.contains("sim:d1 (it is empty"), "{message}");
        assert!(
            message.contains("sim:d2 (it has no .shoal/format"),
            "{message}"
        );
    });
}
