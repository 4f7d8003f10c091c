//! The clean-up after a commit (`remove_stale_versions`): an overwrite leaves only the
//! new version's data folder in the key's folder, a version folder some earlier writer
//! left behind goes at the next commit of the key, and a commit that made the key's
//! folder (a new key) lists no folder at all to find out.

use crate::common;

use common::{Backend, Dir, MIB, Peers, Sim, TcpPeers, TestStore, body, get, put, run};
use shoal_io::{AlignedBuf, Drive, SimDrive};

/// The data folders (`_d…`) in key `k`'s folder on `drive`.
async fn version_folders<D: Drive>(drive: &D) -> Vec<String> {
    let Ok(entries) = drive.list_dir("bkt/k").await else {
        return Vec::new();
    };
    entries
        .into_iter()
        .filter(|e| e.is_dir && e.name.starts_with("_d"))
        .map(|e| e.name)
        .collect()
}

/// What is in `drive`'s trash.
async fn trash<D: Drive>(drive: &D) -> Vec<String> {
    let entries = drive.list_dir(".shoal/trash").await.unwrap_or_default();
    entries.into_iter().map(|e| e.name).collect()
}

/// Overwrites of a key with part files, then inline: each leaves exactly the current
/// version's data folder (none for an inline version) and the replaced one in the trash.
async fn overwrite_leaves_one_version<B: Backend>(backend: &mut B) {
    let store = backend.store(4, 2).await;
    let large = 3 * MIB + 5;
    put(&store, "k", &body(1, large)).await;
    let first: Vec<Vec<String>> = folders_per_drive(backend, &store).await;
    for folders in &first {
        assert_eq!(folders.len(), 1, "one version folder: {folders:?}");
    }
    put(&store, "k", &body(2, large)).await;
    for (drive, before) in backend.all_drives(&store).into_iter().zip(&first) {
        let now = version_folders(drive).await;
        assert_eq!(
            now.len(),
            1,
            "one version folder after the overwrite: {now:?}"
        );
        assert_ne!(&now, before, "the new version's folder, not the old one");
        let trashed = trash(drive).await;
        assert!(
            trashed.iter().any(|t| t.starts_with(&before[0])),
            "the replaced version went to the trash: {trashed:?}"
        );
    }
    put(&store, "k", b"small now").await;
    for drive in backend.all_drives(&store) {
        assert_eq!(version_folders(drive).await, Vec::<String>::new());
    }
    assert_eq!(get(&store, "k").await.unwrap(), b"small now");
}

async fn folders_per_drive<B: Backend>(backend: &B, store: &TestStore<B::D>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for drive in backend.all_drives(store) {
        out.push(version_folders(drive).await);
    }
    out
}

#[test]
fn overwrite_leaves_one_version_sim() {
    run(overwrite_leaves_one_version(&mut Sim { made: vec![] }));
}

#[test]
fn overwrite_leaves_one_version_dir() {
    run(overwrite_leaves_one_version(&mut Dir::new()));
}

#[test]
fn overwrite_leaves_one_version_peer() {
    run(overwrite_leaves_one_version(&mut Peers { made: vec![] }));
}

/// A version folder with no record naming it — what a crash between a commit's data
/// rename and its record leaves, or a delete that crashed before retiring its data —
/// goes to the trash at the next commit of the key, inline or not, though the key has
/// no record anywhere (the commit does not make the key's folder, so it looks).
async fn leftover_goes_at_next_put<B: Backend>(backend: &mut B, size: usize) {
    let store = backend.store(4, 2).await;
    let orphan = format!("_d{}", "ab".repeat(16));
    for drive in backend.all_drives(&store) {
        let file = drive
            .create(&format!("bkt/k/{orphan}/part.1"), 0)
            .await
            .expect("leftover part file");
        let mut buf = AlignedBuf::with_capacity(4096);
        buf.extend_from_slice(&[7; 4096]);
        let (written, _) = drive.write_at(&file, buf, 0).await;
        written.expect("leftover bytes");
        drive.sync(&file).await.expect("leftover synced");
        drive.close(file).await.expect("leftover closed");
        assert_eq!(version_folders(drive).await, vec![orphan.clone()]);
    }
    let data = body(3, size);
    put(&store, "k", &data).await;
    for drive in backend.all_drives(&store) {
        let folders = version_folders(drive).await;
        assert!(
            !folders.contains(&orphan),
            "leftover still there: {folders:?}"
        );
        let trashed = trash(drive).await;
        assert!(
            trashed.iter().any(|t| t.starts_with(&orphan)),
            "leftover in the trash: {trashed:?}"
        );
    }
    assert_eq!(get(&store, "k").await.unwrap(), data);
}

#[test]
fn leftover_goes_at_next_inline_put_sim() {
    run(leftover_goes_at_next_put(&mut Sim { made: vec![] }, 4096));
}

#[test]
fn leftover_goes_at_next_put_sim() {
    run(leftover_goes_at_next_put(
        &mut Sim { made: vec![] },
        3 * MIB,
    ));
}

#[test]
fn leftover_goes_at_next_inline_put_dir() {
    run(leftover_goes_at_next_put(&mut Dir::new(), 4096));
}

#[test]
fn leftover_goes_at_next_put_dir() {
    run(leftover_goes_at_next_put(&mut Dir::new(), 3 * MIB));
}

#[test]
fn leftover_goes_at_next_inline_put_peer() {
    run(leftover_goes_at_next_put(&mut Peers { made: vec![] }, 4096));
}

/// The `list_dir` calls a PUT of `size` bytes at `key` makes on each drive.
async fn listings_of_put<B: Backend<D = SimDrive>>(
    backend: &B,
    store: &TestStore<SimDrive>,
    key: &str,
    size: usize,
) -> Vec<u64> {
    let before: Vec<u64> = backend
        .all_drives(store)
        .iter()
        .map(|d| d.list_dir_calls())
        .collect();
    put(store, key, &body(size as u64, size)).await;
    backend
        .all_drives(store)
        .iter()
        .zip(before)
        .map(|(d, b)| d.list_dir_calls() - b)
        .collect()
}

/// A PUT of a new key, inline or in part files, lists no folder on any drive (its
/// commit made the key's folder); an overwrite still looks for the replaced version.
async fn new_key_lists_nothing<B: Backend<D = SimDrive>>(backend: &mut B) {
    let store = backend.store(4, 2).await;
    for (key, size) in [("small", 4096), ("large", 3 * MIB), ("a/b/c", 10)] {
        let listed = listings_of_put(backend, &store, key, size).await;
        assert_eq!(listed, vec![0; 4], "new key {key}, {size} bytes");
    }
    let listed = listings_of_put(backend, &store, "large", 3 * MIB).await;
    assert_eq!(
        listed,
        vec![1; 4],
        "an overwrite lists the key's folder once"
    );
    assert_eq!(
        get(&store, "large").await.unwrap(),
        body(3 * MIB as u64, 3 * MIB)
    );
}

#[test]
fn new_key_lists_nothing_sim() {
    run(new_key_lists_nothing(&mut Sim { made: vec![] }));
}

#[test]
fn new_key_lists_nothing_peer() {
    run(new_key_lists_nothing(&mut Peers { made: vec![] }));
}

#[test]
fn new_key_lists_nothing_tcp() {
    run(new_key_lists_nothing(&mut TcpPeers { made: vec![] }));
}
