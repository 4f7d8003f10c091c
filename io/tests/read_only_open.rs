//! `DirDrive::open_read_only` (the offline auditor's drives): opening creates nothing
//! (no `.shoal/tmp`, no probe file), reads work, a missing folder is `NotFound`; and
//! `locked_by_a_server` tells a held drive from a free one without writing.

use std::path::Path;

use shoal_io::{DirDrive, Drive, DriveError, RuntimeConfig, build_runtime};

fn run<F: std::future::Future>(future: F) -> F::Output {
    let (mut runtime, _) = build_runtime(&RuntimeConfig::default()).expect("runtime");
    runtime.block_on(future)
}

/// Every name under `dir` with its modification time, sorted.
fn snapshot(dir: &Path) -> Vec<(String, std::time::SystemTime)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let modified = std::fs::metadata(&next).and_then(|m| m.modified()).unwrap();
        found.push((next.display().to_string(), modified));
        if next.is_dir() {
            for entry in std::fs::read_dir(&next).unwrap().flatten() {
                stack.push(entry.path());
            }
        }
    }
    found.sort();
    found
}

/// A blank folder and a formatted one stay exactly as they were while read.
#[test]
fn opening_read_only_creates_nothing() {
    let root = tempfile::tempdir().unwrap();
    let blank = root.path().join("blank");
    std::fs::create_dir(&blank).unwrap();
    let formatted = root.path().join("formatted");
    std::fs::create_dir_all(formatted.join(".shoal")).unwrap();
    std::fs::write(formatted.join(".shoal/format"), b"record").unwrap();
    let before = snapshot(root.path());
    run(async {
        let drive = DirDrive::open_read_only(&formatted).expect("open");
        assert_eq!(drive.read_file(".shoal/format").await.unwrap(), b"record");
        assert_eq!(drive.list_dir("").await.unwrap().len(), 1);
        let drive = DirDrive::open_read_only(&blank).expect("open");
        assert!(drive.list_dir("").await.unwrap().is_empty());
        assert!(!drive.locked_by_a_server());
        let missing = DirDrive::open_read_only(&root.path().join("absent"));
        assert!(matches!(missing, Err(DriveError::NotFound)));
    });
    assert_eq!(snapshot(root.path()), before);
}

/// A drive whose lock another holder has is seen as held; once released, as free.
#[test]
fn a_held_lock_is_seen() {
    let root = tempfile::tempdir().unwrap();
    let server = DirDrive::open(root.path()).expect("open");
    let lock = server.lock_exclusive().expect("lock");
    let reader = DirDrive::open_read_only(root.path()).expect("open");
    assert!(reader.locked_by_a_server());
    drop(lock);
    assert!(!reader.locked_by_a_server());
}
