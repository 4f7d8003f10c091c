//! Misplaced records, on simulated and real drives: a chunk file or metadata copy moved
//! or copied to the place of another (another key, version, part, chunk index or
//! deployment; swapped between drives) is never served as what belongs there. Each
//! read returns the right bytes, rebuilt from the chunks that are in place, or fails
//! closed; never the misplaced bytes.

use crate::common;

use common::*;
use shoal_io::{Drive, SimClock};
use shoal_shards::object::multipart::{CompletePart, UploadOptions};
use shoal_shards::{Error, PutOptions, SliceSource, Store, StoreConfig, WriteCondition};

/// The path of the one file under `bkt/<key>` whose name ends with `suffix`.
async fn file_of<D: Drive>(drive: &D, key: &str, suffix: &str) -> String {
    let files: Vec<String> = files_under(drive, &format!("bkt/{key}"))
        .await
        .into_iter()
        .filter(|f| f.ends_with(suffix))
        .collect();
    assert_eq!(files.len(), 1, "{key}: files ending {suffix}: {files:?}");
    files[0].clone()
}

async fn read<D: Drive>(drive: &D, path: &str) -> Vec<u8> {
    drive.read_file(path).await.expect("read file")
}

async fn write<D: Drive>(drive: &D, path: &str, bytes: &[u8]) {
    drive
        .write_file_atomic(path, bytes)
        .await
        .expect("write file");
}

/// The read is exact, or (when more records are misplaced than parity covers) fails
/// with a clean error; it is never other bytes.
fn exact_or_closed(got: Result<Vec<u8>, Error>, want: &[u8], context: &str) {
    match got {
        Ok(bytes) => assert!(
            bytes == want,
            "{context}: WRONG BYTES ({} bytes served)",
            bytes.len()
        ),
        Err(
            Error::DataUnavailable(_)
            | Error::InsufficientReadQuorum { .. }
            | Error::VersionUndecided { .. },
        ) => {}
        Err(e) => panic!("{context}: unexpected error {e:?}"),
    }
}

/// Swapping one object's part files between two drives (two chunk indices) is
/// rebuilt around; swapping every drive's fails closed.
async fn swapped_between_drives<B: Backend>(mut backend: B) {
    let store = store(backend.drives(4), 2).await;
    let drives = store.drives();
    let data = body(1, 3 * MIB + 5);
    put(&store, "a", &data).await;
    let mut paths = Vec::new();
    let mut files = Vec::new();
    for &d in &drives {
        let path = file_of(d, "a", "/part.1").await;
        files.push(read(d, &path).await);
        paths.push(path);
    }
    for i in 0..4 {
        let j = (i + 1) % 4;
        write(drives[i], &paths[i], &files[j]).await;
        write(drives[j], &paths[j], &files[i]).await;
        let got = get(&store, "a")
            .await
            .expect("two misplaced chunks are rebuilt");
        assert!(got == data, "drives {i} and {j} swapped: WRONG BYTES");
        write(drives[i], &paths[i], &files[i]).await;
        write(drives[j], &paths[j], &files[j]).await;
    }
    for i in 0..4 {
        write(drives[i], &paths[i], &files[i ^ 1]).await;
    }
    exact_or_closed(get(&store, "a").await, &data, "every drive swapped");
}

/// Another object's part file of the same size, copied over this one's on two drives,
/// is rebuilt around; on every drive the read fails closed.
async fn copied_from_other_key<B: Backend>(mut backend: B) {
    let store = store(backend.drives(4), 2).await;
    let drives = store.drives();
    let (a, b) = (body(2, 2 * MIB + 3), body(3, 2 * MIB + 3));
    put(&store, "a", &a).await;
    put(&store, "b", &b).await;
    for (i, d) in drives.iter().copied().enumerate() {
        let from = read(d, &file_of(d, "a", "/part.1").await).await;
        write(d, &file_of(d, "b", "/part.1").await, &from).await;
        let context = format!("a's part file over b's on {} drives", i + 1);
        if i < 2 {
            assert!(get(&store, "b").await.expect(&context) == b, "{context}");
        } else {
            exact_or_closed(get(&store, "b").await, &b, &context);
        }
    }
}

/// The previous version's part file, put back in place of the current one's, is
/// rebuilt around on two drives and fails closed on all.
async fn older_version_put_back<B: Backend>(mut backend: B) {
    let store = store(backend.drives(4), 2).await;
    let drives = store.drives();
    let (v1, v2) = (body(4, MIB + 100), body(5, MIB + 100));
    put(&store, "k", &v1).await;
    let mut old = Vec::new();
    for &d in &drives {
        old.push(read(d, &file_of(d, "k", "/part.1").await).await);
    }
    put(&store, "k", &v2).await;
    for (i, d) in drives.iter().copied().enumerate() {
        write(d, &file_of(d, "k", "/part.1").await, &old[i]).await;
        let context = format!("version 1's records on {} drives", i + 1);
        if i < 2 {
            assert!(get(&store, "k").await.expect(&context) == v2, "{context}");
        } else {
            exact_or_closed(get(&store, "k").await, &v2, &context);
        }
    }
}

/// Part 1's file of a multipart object copied over part 2's (same size) is rebuilt
/// around on two drives and fails closed on all.
async fn other_part_number<B: Backend>(mut backend: B) {
    const PART_BYTES: usize = 64 << 10;
    let config = StoreConfig {
        parity_chunks: Some(2),
        stripe_size_bytes: 16 << 10,
        part_size_min_bytes: PART_BYTES as u64,
        ..StoreConfig::default()
    };
    let store = Store::open(backend.drives(4), SimClock::new(1), 7, config)
        .await
        .expect("open");
    let drives = store.drives();
    store.make_bucket("bkt").await.expect("bucket");
    let id = store
        .create_multipart_upload("bkt", "m", &UploadOptions::default())
        .await
        .expect("create")
        .upload_id;
    let parts = [body(6, PART_BYTES), body(7, PART_BYTES)];
    let mut done = Vec::new();
    for (n, data) in (1..).zip(&parts) {
        let options = PutOptions {
            size_bytes: Some(data.len() as u64),
            ..PutOptions::default()
        };
        let part = store
            .upload_part(("bkt", "m", &id), n, &options, &mut SliceSource(data))
            .await
            .expect("upload part");
        done.push(CompletePart {
            number: n,
            etag: hex::encode(part.md5),
            checksum: None,
        });
    }
    store
        .complete_multipart_upload(("bkt", "m", &id), &done, None, &WriteCondition::Always)
        .await
        .expect("complete");
    let whole = parts.concat();
    assert!(get(&store, "m").await.expect("read") == whole);
    for (i, d) in drives.iter().copied().enumerate() {
        let one = part_file(d, "m", 1).await;
        let two = part_file(d, "m", 2).await;
        let from = read(d, &one).await;
        write(d, &two, &from).await;
        let context = format!("part 1's records as part 2's on {} drives", i + 1);
        if i < 2 {
            assert!(
                get(&store, "m").await.expect(&context) == whole,
                "{context}"
            );
        } else {
            exact_or_closed(get(&store, "m").await, &whole, &context);
        }
    }
}

/// The path of part `number`'s file of `bkt/<key>` on a drive.
async fn part_file<D: Drive>(drive: &D, key: &str, number: u32) -> String {
    let prefix = format!("p{number:05}-");
    let files: Vec<String> = files_under(drive, &format!("bkt/{key}"))
        .await
        .into_iter()
        .filter(|f| f.rsplit('/').next().is_some_and(|n| n.starts_with(&prefix)))
        .collect();
    assert_eq!(files.len(), 1, "{key} part {number}: {files:?}");
    files[0].clone()
}

/// Another key's metadata (inline data included) copied over this key's is not
/// believed: two copies are outvoted, all four fail closed.
async fn meta_from_other_key<B: Backend>(mut backend: B) {
    let store = store(backend.drives(4), 2).await;
    let drives = store.drives();
    let (a, b) = (body(8, 1000), body(9, 1000));
    put(&store, "a", &a).await;
    put(&store, "b", &b).await;
    for (i, d) in drives.iter().copied().enumerate() {
        let from = read(d, "bkt/a/_meta").await;
        write(d, "bkt/b/_meta", &from).await;
        let context = format!("a's metadata over b's on {} drives", i + 1);
        if i < 2 {
            assert!(get(&store, "b").await.expect(&context) == b, "{context}");
        } else {
            exact_or_closed(get(&store, "b").await, &b, &context);
        }
    }
}

/// Metadata and part files of the same bucket and key from another deployment, copied
/// over this deployment's, are never served (inline and part-file objects).
async fn from_other_deployment<B: Backend>(mut ours: B, mut theirs: B, size: usize) {
    let store = store(ours.drives(4), 2).await;
    let drives = store.drives();
    let config = StoreConfig {
        parity_chunks: Some(2),
        ..StoreConfig::default()
    };
    let foreign = Store::open(theirs.drives(4), SimClock::new(1), 4242, config)
        .await
        .expect("open the other deployment");
    let foreign_drives = foreign.drives();
    foreign.make_bucket("bkt").await.expect("bucket");
    assert_ne!(store.deployment_id(), foreign.deployment_id());
    // Several keys: placement differs between deployments, and only keys placed alike
    // would have fooled the position checks alone.
    for n in 0..16 {
        let key = format!("k{n}");
        let (mine, other) = (body(100 + n, size), body(200 + n, size));
        put(&store, &key, &mine).await;
        put(&foreign, &key, &other).await;
        for (&d, &f) in drives.iter().zip(&foreign_drives) {
            for path in files_under(d, &format!("bkt/{key}")).await {
                d.remove_file(&path).await.expect("remove ours");
            }
            for path in files_under(f, &format!("bkt/{key}")).await {
                write(d, &path, &read(f, &path).await).await;
            }
        }
        if let Ok(got) = get(&store, &key).await {
            assert!(
                got != other,
                "{key} ({size} bytes): the other deployment's object was served"
            );
        }
    }
}

#[test]
fn swapped_between_drives_sim() {
    run(swapped_between_drives(Sim { made: vec![] }));
}

#[test]
fn swapped_between_drives_dir() {
    run(swapped_between_drives(Dir::new()));
}

#[test]
fn copied_from_other_key_sim() {
    run(copied_from_other_key(Sim { made: vec![] }));
}

#[test]
fn copied_from_other_key_dir() {
    run(copied_from_other_key(Dir::new()));
}

#[test]
fn older_version_put_back_sim() {
    run(older_version_put_back(Sim { made: vec![] }));
}

#[test]
fn older_version_put_back_dir() {
    run(older_version_put_back(Dir::new()));
}

#[test]
fn other_part_number_sim() {
    run(other_part_number(Sim { made: vec![] }));
}

#[test]
fn other_part_number_dir() {
    run(other_part_number(Dir::new()));
}

#[test]
fn meta_from_other_key_sim() {
    run(meta_from_other_key(Sim { made: vec![] }));
}

#[test]
fn meta_from_other_key_dir() {
    run(meta_from_other_key(Dir::new()));
}

#[test]
fn from_other_deployment_sim() {
    run(async {
        from_other_deployment(Sim { made: vec![] }, Sim { made: vec![] }, 1000).await;
        from_other_deployment(Sim { made: vec![] }, Sim { made: vec![] }, MIB + 1).await;
    });
}

#[test]
fn from_other_deployment_dir() {
    run(async {
        from_other_deployment(Dir::new(), Dir::new(), 1000).await;
        from_other_deployment(Dir::new(), Dir::new(), MIB + 1).await;
    });
}

/// Two drive folders swapped between positions while the server was down are found by
/// their format records at start: the store refuses to open, naming the drive.
#[test]
fn swapped_drive_folders_refused_at_start() {
    run(async {
        let root = tempfile::tempdir().expect("tempdir");
        let folders: Vec<std::path::PathBuf> =
            (0..4).map(|i| root.path().join(format!("d{i}"))).collect();
        let open = |folders: &[std::path::PathBuf]| -> Vec<shoal_io::DirDrive> {
            folders
                .iter()
                .map(|f| {
                    std::fs::create_dir_all(f).expect("drive folder");
                    shoal_io::DirDrive::open(f).expect("open drive")
                })
                .collect()
        };
        let store = store(open(&folders), 2).await;
        put(&store, "a", &body(10, MIB)).await;
        drop(store);
        let aside = root.path().join("aside");
        std::fs::rename(&folders[0], &aside).expect("swap");
        std::fs::rename(&folders[1], &folders[0]).expect("swap");
        std::fs::rename(&aside, &folders[1]).expect("swap");
        let config = StoreConfig {
            parity_chunks: Some(2),
            ..StoreConfig::default()
        };
        match Store::open(open(&folders), SimClock::new(1), 1, config).await {
            Ok(_) => panic!("a store opened over swapped drive folders"),
            Err(Error::Format(why)) => assert!(
                why.contains(&folders[0].display().to_string()) && why.contains("drive 1"),
                "{why}"
            ),
            Err(e) => panic!("unexpected error {e:?}"),
        }
    });
}
