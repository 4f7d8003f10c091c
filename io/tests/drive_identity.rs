//! A drive whose folder is removed, recreated or unmounted under a running process:
//! nothing is ever written at the folder's path (which may now be the root disk), the
//! identity check takes the drive offline, and the drive comes back when its record
//! does. For `DirDrive` on a real directory (and a real mount where the sandbox allows
//! mounting), and for `SimDrive`'s model of the same.

use std::path::{Path, PathBuf};
use std::process::Command;

use shoal_io::{DirDrive, Drive, DriveError, RuntimeConfig, SimDrive, build_runtime};

const MARKER: &str = ".shoal/format";
const IDENTITY: &[u8] = b"drive 2 of deployment 42";

fn run<F: std::future::Future>(future: F) -> F::Output {
    let (mut runtime, _) = build_runtime(&RuntimeConfig::default()).expect("runtime");
    runtime.block_on(future)
}

/// Every write-like operation, each expected to fail; returns how many succeeded.
async fn try_writes<D: Drive>(drive: &D) -> usize {
    let mut succeeded = 0;
    if drive
        .write_file_atomic("bkt/k/_meta", b"meta")
        .await
        .is_ok()
    {
        succeeded += 1;
    }
    if let Ok(file) = drive.create(".shoal/tmp/chunk", 4096).await {
        succeeded += 1;
        let _ = drive.close(file).await;
    }
    if drive.create_dir_all("bkt/dir").await.is_ok() {
        succeeded += 1;
    }
    if drive
        .rename(".shoal/tmp/chunk", "bkt/k/_d1/part.1")
        .await
        .is_ok()
    {
        succeeded += 1;
    }
    succeeded
}

/// Names under `dir`, recursively, relative to it (empty if `dir` is missing).
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    found
}

fn formatted_drive(root: &Path) -> DirDrive {
    std::fs::create_dir_all(root).unwrap();
    let drive = DirDrive::open(root).expect("open");
    run(drive.write_file_atomic(MARKER, IDENTITY)).expect("format");
    drive
}

/// A drive folder removed at runtime is never created again by a write, and a folder
/// created again in its place gets nothing; the check says why and the drive is
/// offline; once the folder holds the record again, the drive is back and writes land.
#[test]
fn removed_folder_is_never_written_and_comes_back() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("drive2");
    let drive = formatted_drive(&root);
    run(async {
        drive
            .check_identity(MARKER, IDENTITY)
            .await
            .expect("online");
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            try_writes(&drive).await,
            0,
            "a write reached a removed drive"
        );
        assert!(!root.exists(), "a write created the removed folder again");

        std::fs::create_dir(&root).unwrap();
        assert_eq!(try_writes(&drive).await, 0);
        assert_eq!(
            tree(&root),
            Vec::<String>::new(),
            "written into the new folder"
        );
        let why = drive.check_identity(MARKER, IDENTITY).await.unwrap_err();
        assert!(why.contains("created again"), "{why}");
        assert!(matches!(
            drive.read_file(MARKER).await,
            Err(DriveError::Offline(_))
        ));
        assert_eq!(try_writes(&drive).await, 0);
        assert_eq!(tree(&root), Vec::<String>::new(), "written while offline");

        // Still no record: stays offline. The record back: online, writes land there.
        assert!(drive.check_identity(MARKER, IDENTITY).await.is_err());
        std::fs::create_dir_all(root.join(".shoal")).unwrap();
        std::fs::write(root.join(MARKER), IDENTITY).unwrap();
        drive.check_identity(MARKER, IDENTITY).await.expect("back");
        drive
            .write_file_atomic("bkt/k/_meta", b"meta")
            .await
            .unwrap();
        assert_eq!(std::fs::read(root.join("bkt/k/_meta")).unwrap(), b"meta");
    });
}

/// A record that differs (another drive mounted there) fails the check.
#[test]
fn other_record_fails_the_check() {
    let base = tempfile::tempdir().unwrap();
    let drive = formatted_drive(&base.path().join("d"));
    run(async {
        let why = drive.check_identity(MARKER, b"drive 3").await.unwrap_err();
        assert!(why.contains("another drive"), "{why}");
        assert!(matches!(
            drive.list_dir("").await,
            Err(DriveError::Offline(_))
        ));
    });
}

/// `open_existing` on a missing or an empty folder (a bare mount point) is offline
/// with the reason, and creates nothing there; on a formatted folder it is online.
#[test]
fn open_existing_creates_nothing() {
    let base = tempfile::tempdir().unwrap();
    let missing = base.path().join("missing");
    let drive = DirDrive::open_existing(&missing, MARKER);
    assert!(drive.offline_reason().unwrap().contains("does not exist"));
    assert_eq!(run(try_writes(&drive)), 0);
    assert!(!missing.exists());

    let empty = base.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let drive = DirDrive::open_existing(&empty, MARKER);
    assert!(drive.offline_reason().unwrap().contains("no .shoal/format"));
    assert_eq!(run(try_writes(&drive)), 0);
    assert_eq!(tree(&empty), Vec::<String>::new());

    let formatted = base.path().join("formatted");
    drop(formatted_drive(&formatted));
    let drive = DirDrive::open_existing(&formatted, MARKER);
    assert_eq!(drive.offline_reason(), None);
    run(drive.check_identity(MARKER, IDENTITY)).expect("online");
}

/// Mounts made by a test, lazily unmounted (innermost first) when it ends.
struct Mounts(Vec<PathBuf>);

impl Drop for Mounts {
    fn drop(&mut self) {
        for target in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(target).status();
        }
    }
}

fn mount(args: &[&str], target: &Path) -> bool {
    Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .is_ok_and(|status| status.success())
}

/// A real filesystem (tmpfs, bind-mounted at the drive folder) unmounted lazily under
/// the drive: writes never reach the bare mount point; the check takes the drive
/// offline; after the filesystem is mounted again the drive is back with its data.
/// Skipped (with the reason printed) where the sandbox does not allow mounting.
#[test]
fn unmounted_filesystem_is_never_written_and_comes_back() {
    let base = tempfile::tempdir().unwrap();
    let (disk, root) = (base.path().join("disk"), base.path().join("drive2"));
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::create_dir_all(&root).unwrap();
    let mut mounts = Mounts(Vec::new());
    if !mount(&["-t", "tmpfs", "-o", "size=16m", "tmpfs"], &disk) {
        eprintln!("SKIPPED: mounting is not permitted here (mount -t tmpfs failed)");
        return;
    }
    mounts.0.push(disk.clone());
    assert!(
        mount(&["--bind", disk.to_str().unwrap()], &root),
        "bind mount"
    );
    mounts.0.push(root.clone());
    let drive = formatted_drive(&root);
    run(async {
        drive
            .check_identity(MARKER, IDENTITY)
            .await
            .expect("online");
        assert!(
            Command::new("umount")
                .arg("-l")
                .arg(&root)
                .status()
                .unwrap()
                .success()
        );
        // Before the check notices, writes still reach the drive's own filesystem.
        drive.write_file_atomic("bkt/early", b"x").await.unwrap();
        assert_eq!(
            tree(&root),
            Vec::<String>::new(),
            "write on the bare mount point"
        );
        let why = drive.check_identity(MARKER, IDENTITY).await.unwrap_err();
        assert!(why.contains("another filesystem"), "{why}");
        assert_eq!(try_writes(&drive).await, 0);
        assert_eq!(
            tree(&root),
            Vec::<String>::new(),
            "write on the bare mount point"
        );
        // The bare mount point is not the drive, whatever the checks retry.
        assert!(drive.check_identity(MARKER, IDENTITY).await.is_err());

        assert!(
            mount(&["--bind", disk.to_str().unwrap()], &root),
            "bind again"
        );
        drive.check_identity(MARKER, IDENTITY).await.expect("back");
        assert_eq!(drive.read_file("bkt/early").await.unwrap(), b"x");
        drive.write_file_atomic("bkt/late", b"y").await.unwrap();
        assert_eq!(std::fs::read(disk.join("bkt/late")).unwrap(), b"y");
    });
}

/// SimDrive models the same: after `unmount` the check takes it offline (operations
/// fail and change nothing); after `mount` the next check brings it back.
#[test]
fn sim_unmount_and_mount() {
    let drive = SimDrive::new("d2", 1);
    run(async {
        drive.write_file_atomic(MARKER, IDENTITY).await.unwrap();
        drive
            .check_identity(MARKER, IDENTITY)
            .await
            .expect("online");
        drive.unmount();
        let why = drive.check_identity(MARKER, IDENTITY).await.unwrap_err();
        assert!(why.contains("not mounted"), "{why}");
        assert_eq!(drive.offline_reason(), Some(why));
        assert_eq!(try_writes(&drive).await, 0);
        assert!(!drive.is_dir("bkt"), "written while offline");
        drive.mount();
        drive.check_identity(MARKER, IDENTITY).await.expect("back");
        assert_eq!(drive.offline_reason(), None);
        drive.write_file_atomic("bkt/k/_meta", b"m").await.unwrap();
    });
}

/// A rename whose source is gone (the drive's entries moved away under a write, after
/// its temporary file was written and before its rename) fails and makes no folder:
/// neither the target's bucket folders nor the drive's own `.shoal`.
#[test]
fn a_rename_whose_source_vanished_makes_no_folder() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("drive3");
    let drive = formatted_drive(&root);
    run(async {
        assert!(
            drive
                .rename(".shoal/tmp/gone", "bkt/k/_meta")
                .await
                .is_err()
        );
        assert!(!root.join("bkt").exists(), "the target's folders were made");
        let away = base.path().join("drive3.away");
        std::fs::create_dir(&away).unwrap();
        std::fs::rename(root.join(".shoal"), away.join(".shoal")).unwrap();
        assert!(
            drive
                .rename(".shoal/tmp/gone", ".shoal/scan")
                .await
                .is_err()
        );
        assert_eq!(tree(&root), Vec::<String>::new(), "written while gone");
        // The usual case still makes what the target lacks.
        std::fs::rename(away.join(".shoal"), root.join(".shoal")).unwrap();
        std::fs::write(root.join(".shoal/tmp-file"), b"x").unwrap();
        drive
            .rename(".shoal/tmp-file", "bkt/k/_meta")
            .await
            .unwrap();
        assert_eq!(std::fs::read(root.join("bkt/k/_meta")).unwrap(), b"x");
    });
}
