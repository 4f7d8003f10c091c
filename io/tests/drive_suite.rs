//! One behavioural suite for every `Drive`: `DirDrive` on io_uring, on epoll with the
//! blocking pool, on epoll without one (monoio's inline syscalls), on tmpfs (buffered
//! fallback), and `SimDrive`. Then what only one of them has: the drive lock and tmp
//! cleaning of `DirDrive`; faults and crashes of `SimDrive`.

use std::path::Path;
use std::time::{Duration, Instant};

use shoal_io::{
    AlignedBuf, BLOCK_SIZE_BYTES, DirDrive, DirEntry, Drive, DriveError, DriverKind, FaultRule,
    RuntimeConfig, SimDrive, SimFaults, TargetFolder, build_runtime, driver_in_use,
};

const BLOCK: usize = BLOCK_SIZE_BYTES;

/// Bytes `seed, seed+1, ...` (wrapping), so misplaced blocks show.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
}

fn aligned(bytes: &[u8]) -> AlignedBuf {
    let mut buf = AlignedBuf::with_capacity(bytes.len());
    buf.extend_from_slice(bytes);
    buf
}

fn file(name: &str) -> DirEntry {
    DirEntry {
        name: name.to_string(),
        is_dir: false,
    }
}

fn dir(name: &str) -> DirEntry {
    DirEntry {
        name: name.to_string(),
        is_dir: true,
    }
}

fn is_not_found<T>(result: &Result<T, DriveError>) -> bool {
    matches!(result, Err(DriveError::NotFound))
}

/// Every behaviour the object store relies on, for any drive.
async fn suite<D: Drive>(drive: &D) {
    small_files(drive).await;
    chunk_files(drive).await;
    renames(drive).await;
    target_folders(drive).await;
    listing_and_removal(drive).await;
    not_found(drive).await;
    let space = drive.space().await.expect("space");
    assert!(space.total_bytes > 0 && space.free_bytes <= space.total_bytes);
}

/// Small files round-trip, empty ones too, and an atomic write replaces the old content.
async fn small_files<D: Drive>(drive: &D) {
    drive
        .write_file_atomic("bkt/obj/meta", b"v1")
        .await
        .expect("write");
    assert_eq!(drive.read_file("bkt/obj/meta").await.expect("read"), b"v1");
    drive
        .write_file_atomic("bkt/obj/meta", &pattern(10_000, 3))
        .await
        .expect("replace");
    assert_eq!(
        drive.read_file("bkt/obj/meta").await.expect("read"),
        pattern(10_000, 3)
    );
    drive
        .write_file_atomic("bkt/empty", b"")
        .await
        .expect("empty");
    assert!(
        drive
            .read_file("bkt/empty")
            .await
            .expect("read empty")
            .is_empty()
    );
    let tmp = drive.list_dir(".shoal/tmp").await.expect("tmp listing");
    assert!(
        tmp.is_empty(),
        "atomic writes leave no temporaries: {tmp:?}"
    );
}

/// Aligned writes, set_len dropping padding, full, short and past-the-end reads.
async fn chunk_files<D: Drive>(drive: &D) {
    let path = "bkt/obj/dd1/part.1";
    let len_bytes = 3 * BLOCK - 100;
    let content = pattern(3 * BLOCK, 7);
    let chunk = drive.create(path, 3 * BLOCK as u64).await.expect("create");
    let (result, _) = drive
        .write_at(&chunk, aligned(&content[..2 * BLOCK]), 0)
        .await;
    result.expect("write two blocks");
    let (result, _) = drive
        .write_at(&chunk, aligned(&content[2 * BLOCK..]), 2 * BLOCK as u64)
        .await;
    result.expect("write third block");
    drive
        .set_len(&chunk, len_bytes as u64)
        .await
        .expect("set_len");
    drive.sync(&chunk).await.expect("sync");
    drive.close(chunk).await.expect("close");

    let chunk = drive.open(path).await.expect("open");
    let (result, buf) = drive
        .read_at(&chunk, AlignedBuf::with_capacity(4 * BLOCK), 0)
        .await;
    result.expect("read all");
    assert_eq!(
        buf.as_slice(),
        &content[..len_bytes],
        "whole file, short at the end"
    );
    let (result, buf) = drive.read_at(&chunk, buf, BLOCK as u64).await;
    result.expect("read from block 1");
    assert_eq!(buf.as_slice(), &content[BLOCK..len_bytes]);
    let (result, buf) = drive
        .read_at(&chunk, AlignedBuf::with_capacity(BLOCK), 0)
        .await;
    result.expect("read one block");
    assert_eq!(
        buf.as_slice(),
        &content[..BLOCK],
        "a full buffer stops at capacity"
    );
    let (result, buf) = drive.read_at(&chunk, buf, 4 * BLOCK as u64).await;
    result.expect("read past the end");
    assert!(buf.is_empty());
    drive.close(chunk).await.expect("close");

    let chunk = drive.create(path, 0).await.expect("create truncates");
    drive.sync(&chunk).await.expect("sync");
    let (result, buf) = drive
        .read_at(&chunk, AlignedBuf::with_capacity(BLOCK), 0)
        .await;
    result.expect("read truncated");
    assert!(buf.is_empty(), "create truncates an existing file");
    drive.close(chunk).await.expect("close");
}

/// Rename replaces a file, creates missing parents, and moves directories.
async fn renames<D: Drive>(drive: &D) {
    drive.write_file_atomic("ren/a", b"new").await.expect("a");
    drive.write_file_atomic("ren/b", b"old").await.expect("b");
    drive.rename("ren/a", "ren/b").await.expect("rename over b");
    assert_eq!(drive.read_file("ren/b").await.expect("b"), b"new");
    assert!(is_not_found(&drive.read_file("ren/a").await));
    drive
        .rename("ren/b", "ren/deep/er/c")
        .await
        .expect("rename into new dirs");
    assert_eq!(drive.read_file("ren/deep/er/c").await.expect("c"), b"new");
    drive
        .rename("ren/deep", "ren/moved")
        .await
        .expect("rename a directory");
    assert_eq!(
        drive.read_file("ren/moved/er/c").await.expect("moved"),
        b"new"
    );
    assert!(is_not_found(&drive.list_dir("ren/deep").await));
    assert!(is_not_found(&drive.rename("ren/nothing", "ren/x").await));
}

/// A write into a folder that was missing says it made the folder (`Made`), one into
/// a folder that was there says so (`Existed`), for atomic writes and renames alike,
/// however deep the missing part starts.
async fn target_folders<D: Drive>(drive: &D) {
    let made = TargetFolder::Made;
    let existed = TargetFolder::Existed;
    let write = |path: &'static str| drive.write_file_atomic_into(path, b"x");
    assert_eq!(write("tf/a/meta").await.expect("new folders"), made);
    assert_eq!(write("tf/a/meta").await.expect("same folder"), existed);
    assert_eq!(write("tf/a/other").await.expect("same folder"), existed);
    assert_eq!(write("tf/b/meta").await.expect("new leaf folder"), made);
    drive
        .write_file_atomic("tf/src", b"y")
        .await
        .expect("source");
    let renamed = drive.rename_into("tf/src", "tf/c/d/e").await;
    assert_eq!(renamed.expect("into new folders"), made);
    let renamed = drive.rename_into("tf/c/d/e", "tf/c/d/f").await;
    assert_eq!(renamed.expect("within its folder"), existed);
    drive
        .create_dir_all("tf/dir/inner")
        .await
        .expect("a folder");
    let renamed = drive.rename_into("tf/dir", "tf/a/_d1").await;
    assert_eq!(renamed.expect("a folder into one there"), existed);
    let renamed = drive.rename_into("tf/a/_d1", "tf/g/_d1").await;
    assert_eq!(renamed.expect("a folder into a new one"), made);
    assert!(is_not_found(
        &drive.rename_into("tf/nothing", "tf/h/x").await
    ));
    assert!(
        is_not_found(&drive.list_dir("tf/h").await),
        "no folder for a missing source"
    );
    drive.remove_dir_all("tf").await.expect("clean up");
}

/// Listings are sorted with kinds; directories are removed whole or only when empty.
async fn listing_and_removal<D: Drive>(drive: &D) {
    drive.write_file_atomic("lst/b", b"b").await.expect("b");
    drive.write_file_atomic("lst/a", b"a").await.expect("a");
    drive.create_dir_all("lst/c/inner").await.expect("dirs");
    drive
        .create_dir_all("lst/c/inner")
        .await
        .expect("dirs again");
    let listed = drive.list_dir("lst").await.expect("list");
    assert_eq!(listed, vec![file("a"), file("b"), dir("c")]);
    let root = drive.list_dir("").await.expect("root");
    assert!(
        root.contains(&dir(".shoal")) && root.contains(&dir("lst")),
        "{root:?}"
    );

    assert!(!drive.remove_dir_if_empty("lst/c").await.expect("not empty"));
    assert!(
        drive
            .remove_dir_if_empty("lst/c/inner")
            .await
            .expect("empty")
    );
    assert_eq!(drive.list_dir("lst/c").await.expect("c"), vec![]);
    drive.remove_file("lst/a").await.expect("remove a");
    assert_eq!(
        drive.list_dir("lst").await.expect("list"),
        vec![file("b"), dir("c")]
    );
    drive.remove_dir_all("lst").await.expect("remove all");
    assert!(is_not_found(&drive.list_dir("lst").await));
    assert!(is_not_found(&drive.remove_dir_all("lst").await));
}

/// Missing things are `NotFound`, not some other error.
async fn not_found<D: Drive>(drive: &D) {
    assert!(is_not_found(&drive.read_file("nope/meta").await));
    assert!(is_not_found(&drive.open("nope/part.1").await));
    assert!(is_not_found(&drive.remove_file("nope/meta").await));
    assert!(is_not_found(&drive.list_dir("nope").await));
    assert!(is_not_found(&drive.remove_dir_if_empty("nope").await));
}

fn run_dir_suite(drive: &DirDrive, config: &RuntimeConfig, expect: DriverKind) {
    let (mut runtime, kind) = build_runtime(config).expect("runtime");
    assert_eq!(kind, expect);
    runtime.block_on(async {
        assert_eq!(driver_in_use(), expect);
        suite(drive).await;
    });
}

/// The driver the default runtime gets here: io_uring unless the host blocks it.
fn default_driver() -> DriverKind {
    if monoio::utils::detect_uring() {
        DriverKind::IoUring
    } else {
        DriverKind::Epoll
    }
}

/// DirDrive passes the suite on the default driver (io_uring) with O_DIRECT.
#[test]
fn dir_drive_io_uring() {
    let root = tempfile::tempdir().expect("tempdir");
    let drive = DirDrive::open(root.path()).expect("open drive");
    assert!(drive.direct_io(), "ext4 under /tmp takes O_DIRECT");
    run_dir_suite(&drive, &RuntimeConfig::default(), default_driver());
}

/// DirDrive passes the suite on epoll, its I/O on the blocking pool.
#[test]
fn dir_drive_epoll_with_pool() {
    let root = tempfile::tempdir().expect("tempdir");
    let config = RuntimeConfig {
        force_epoll: true,
        ..RuntimeConfig::default()
    };
    let drive = DirDrive::open(root.path()).expect("open drive");
    run_dir_suite(&drive, &config, DriverKind::Epoll);
}

/// DirDrive passes the suite on a plain monoio epoll runtime (inline syscalls, no pool).
#[test]
fn dir_drive_epoll_without_pool() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("legacy runtime");
    let drive = DirDrive::open(root.path()).expect("open drive");
    runtime.block_on(async {
        assert_eq!(driver_in_use(), DriverKind::Epoll);
        suite(&drive).await;
    });
}

/// Buffered I/O (the fallback when a filesystem refuses O_DIRECT) passes the suite too.
#[test]
fn dir_drive_buffered() {
    let root = tempfile::tempdir().expect("tempdir");
    let drive = DirDrive::open_buffered(root.path()).expect("open drive");
    assert!(!drive.direct_io());
    run_dir_suite(&drive, &RuntimeConfig::default(), default_driver());
}

/// Concurrent atomic writes on io_uring are group-committed: each waits for two flushes
/// of its filesystem (its bytes, then its name), and writes in flight together share
/// them, across drives on one filesystem too, so 64 writes on two drives cost far fewer
/// than 128 flushes, and every write reads back whole.
#[test]
fn dir_drive_small_writes_share_flushes() {
    const WRITES: usize = 32;
    if default_driver() != DriverKind::IoUring {
        eprintln!("no io_uring here; group commit not exercised");
        return;
    }
    let root = tempfile::tempdir().expect("tempdir");
    let drives = ["a", "b"].map(|name| {
        let folder = root.path().join(name);
        std::fs::create_dir(&folder).expect("folder");
        DirDrive::open(&folder).expect("open drive")
    });
    let (mut runtime, _) = build_runtime(&RuntimeConfig::default()).expect("runtime");
    let (flushes, waits) = runtime.block_on(async {
        let before = shoal_io::dir_drive::group_commit_counts();
        let writes = (0..WRITES).flat_map(|i| {
            drives.iter().map(move |drive| {
                let (path, body) = (format!("bkt/k{i}/meta"), pattern(300 + i, i as u8));
                async move { drive.write_file_atomic(&path, &body).await }
            })
        });
        for written in futures_util::future::join_all(writes).await {
            written.expect("written");
        }
        let after = shoal_io::dir_drive::group_commit_counts();
        (after.0 - before.0, after.1 - before.1)
    });
    for name in ["a", "b"] {
        for i in 0..WRITES {
            let file = root.path().join(format!("{name}/bkt/k{i}/meta"));
            let read = std::fs::read(&file).expect("read back");
            assert_eq!(read, pattern(300 + i, i as u8), "write {i} on drive {name}");
        }
    }
    assert_eq!(
        waits,
        2 * 2 * WRITES as u64,
        "two flushes awaited per write"
    );
    assert!(
        flushes >= 2,
        "a write's bytes and its name are flushed apart"
    );
    assert!(
        flushes <= (WRITES / 2) as u64,
        "{flushes} flushes for {} writes in flight together",
        2 * WRITES
    );
}

/// On tmpfs (O_DIRECT only since Linux 6.6) the drive finds a mode that passes the suite.
#[test]
fn dir_drive_tmpfs() {
    let shm = Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("no /dev/shm here; tmpfs not exercised");
        return;
    }
    let root = tempfile::tempdir_in(shm).expect("tempdir");
    let drive = DirDrive::open(root.path()).expect("open drive");
    run_dir_suite(&drive, &RuntimeConfig::default(), default_driver());
}

/// SimDrive passes the same suite.
#[test]
fn sim_drive_suite() {
    let (mut runtime, _) = build_runtime(&RuntimeConfig::default()).expect("runtime");
    runtime.block_on(suite(&SimDrive::new("suite", 1)));
}

/// A second lock on a drive fails with a message naming it; dropping the first frees it.
#[test]
fn dir_drive_lock_is_exclusive() {
    let root = tempfile::tempdir().expect("tempdir");
    let drive = DirDrive::open(root.path()).expect("open");
    let other = DirDrive::open(root.path()).expect("open again");
    let lock = drive.lock_exclusive().expect("first lock");
    let Err(DriveError::Io(e)) = other.lock_exclusive() else {
        panic!("second lock must fail");
    };
    assert!(
        e.to_string().contains("in use by another shoal process"),
        "{e}"
    );
    drop(lock);
    other.lock_exclusive().expect("lock after release");
}

/// clean_tmp empties `.shoal/tmp/` (files and directories) and keeps the rest.
#[test]
fn dir_drive_clean_tmp() {
    let root = tempfile::tempdir().expect("tempdir");
    let drive = DirDrive::open(root.path()).expect("open");
    std::fs::write(root.path().join(".shoal/tmp/left.tmp"), b"x").expect("tmp file");
    std::fs::create_dir_all(root.path().join(".shoal/tmp/upload/1")).expect("tmp dir");
    std::fs::write(root.path().join("keep"), b"x").expect("other file");
    drive.clean_tmp().expect("clean");
    assert_eq!(
        std::fs::read_dir(root.path().join(".shoal/tmp"))
            .expect("tmp")
            .count(),
        0
    );
    assert!(root.path().join("keep").exists());
}

// ----- SimDrive only: faults and crashes -----

fn sim_runtime() -> shoal_io::ShardRuntime {
    build_runtime(&RuntimeConfig::default()).expect("runtime").0
}

fn is_eio<T>(result: &Result<T, DriveError>) -> bool {
    matches!(result, Err(DriveError::Io(e)) if e.raw_os_error() == Some(libc_eio()))
}

const fn libc_eio() -> i32 {
    5 // EIO on Linux
}

fn faults(change: impl FnOnce(&mut SimFaults)) -> SimFaults {
    let mut faults = SimFaults::default();
    change(&mut faults);
    faults
}

/// Read errors fire always, only on matching paths, or never, and clear again.
#[test]
fn sim_read_errors() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("reads", 1);
        drive
            .write_file_atomic("good/meta", b"g")
            .await
            .expect("good");
        drive
            .write_file_atomic("bad/meta", b"b")
            .await
            .expect("bad");
        drive.set_faults(faults(|f| f.read_error = FaultRule::Always));
        assert!(is_eio(&drive.read_file("good/meta").await));
        drive.set_faults(faults(|f| {
            f.read_error = FaultRule::PathContains("bad/".into());
        }));
        assert!(is_eio(&drive.read_file("bad/meta").await));
        assert_eq!(drive.read_file("good/meta").await.expect("good"), b"g");
        let chunk = drive
            .create("bad/part.1", 0)
            .await
            .expect("create is not a read");
        let (result, buf) = drive
            .read_at(&chunk, AlignedBuf::with_capacity(BLOCK), 0)
            .await;
        assert!(is_eio(&result) && buf.is_empty());
        drive.clear_faults();
        assert_eq!(drive.read_file("bad/meta").await.expect("bad"), b"b");
    });
}

/// Probabilistic faults follow the seed: same seed, same pattern; p=0 never fires.
#[test]
fn sim_probability_is_seeded() {
    let pattern_for = |seed| {
        sim_runtime().block_on(async move {
            let drive = SimDrive::new("p", seed);
            drive.write_file_atomic("f", b"x").await.expect("write");
            drive.set_faults(faults(|f| f.read_error = FaultRule::Probability(0.5)));
            let mut fired = Vec::new();
            for _ in 0..64 {
                fired.push(drive.read_file("f").await.is_err());
            }
            fired
        })
    };
    let first = pattern_for(9);
    assert_eq!(first, pattern_for(9));
    assert!(first.contains(&true) && first.contains(&false));
    sim_runtime().block_on(async {
        let drive = SimDrive::new("p0", 9);
        drive.write_file_atomic("f", b"x").await.expect("write");
        drive.set_faults(faults(|f| f.read_error = FaultRule::Probability(0.0)));
        for _ in 0..64 {
            drive.read_file("f").await.expect("p=0 never fires");
        }
    });
}

/// Write errors fail writes and change nothing.
#[test]
fn sim_write_errors() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("writes", 1);
        drive.write_file_atomic("m", b"old").await.expect("write");
        let chunk = drive.create("c", 0).await.expect("create");
        drive.set_faults(faults(|f| f.write_error = FaultRule::Always));
        assert!(is_eio(&drive.write_file_atomic("m", b"new").await));
        let (result, _) = drive.write_at(&chunk, aligned(&[1; BLOCK]), 0).await;
        assert!(is_eio(&result));
        assert!(is_eio(&drive.sync(&chunk).await));
        assert!(is_eio(&drive.create("d", 0).await));
        drive.clear_faults();
        assert_eq!(drive.read_file("m").await.expect("read"), b"old");
        assert_eq!(drive.file_bytes("c"), Some(vec![]));
    });
}

/// A bit flip changes exactly one bit of what a read returns, not what is stored.
#[test]
fn sim_bit_flips() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("flips", 3);
        let content = pattern(2 * BLOCK, 1);
        drive.write_file_atomic("m", &content).await.expect("write");
        let chunk = drive.create("c", 0).await.expect("create");
        let (result, _) = drive.write_at(&chunk, aligned(&content), 0).await;
        result.expect("write_at");
        drive.set_faults(faults(|f| f.read_bit_flip = FaultRule::Always));
        let differing_bits = |read: &[u8]| -> u32 {
            read.iter()
                .zip(&content)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum()
        };
        assert_eq!(
            differing_bits(&drive.read_file("m").await.expect("read")),
            1
        );
        let (result, buf) = drive
            .read_at(&chunk, AlignedBuf::with_capacity(2 * BLOCK), 0)
            .await;
        result.expect("read_at");
        assert_eq!(differing_bits(buf.as_slice()), 1);
        assert_eq!(drive.file_bytes("m"), Some(content));
    });
}

/// Writes fail with NoSpace once the byte budget is spent.
#[test]
fn sim_no_space() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("full", 1);
        drive.set_faults(faults(|f| f.no_space_after_bytes = Some(BLOCK as u64 + 10)));
        let chunk = drive.create("c", 0).await.expect("create");
        let (result, buf) = drive.write_at(&chunk, aligned(&[1; BLOCK]), 0).await;
        result.expect("within budget");
        drive
            .write_file_atomic("m", &[0; 10])
            .await
            .expect("exactly the budget");
        let (result, _) = drive.write_at(&chunk, buf, BLOCK as u64).await;
        assert!(matches!(result, Err(DriveError::NoSpace)));
        assert!(matches!(
            drive.write_file_atomic("n", b"x").await,
            Err(DriveError::NoSpace)
        ));
    });
}

/// Latency delays every operation by at least the configured time.
#[test]
fn sim_latency() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("slow", 1);
        drive.set_faults(faults(|f| f.latency = Duration::from_millis(20)));
        let started = Instant::now();
        drive.write_file_atomic("m", b"x").await.expect("write");
        drive.read_file("m").await.expect("read");
        assert!(started.elapsed() >= Duration::from_millis(40));
    });
}

/// A gone drive fails every operation, and comes back when the fault clears.
#[test]
fn sim_drive_gone() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("gone", 1);
        drive.write_file_atomic("m", b"x").await.expect("write");
        let handle = drive.clone();
        handle.set_faults(faults(|f| f.gone = true));
        assert!(matches!(drive.read_file("m").await, Err(DriveError::Io(_))));
        assert!(matches!(drive.list_dir("").await, Err(DriveError::Io(_))));
        assert!(matches!(drive.space().await, Err(DriveError::Io(_))));
        assert!(matches!(drive.open("m").await, Err(DriveError::Io(_))));
        handle.clear_faults();
        assert_eq!(drive.read_file("m").await.expect("back"), b"x");
    });
}

/// A crash keeps atomic writes, synced bytes and synced names; drops everything else.
#[test]
fn sim_crash_keeps_only_durable_state() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("crash", 1);
        drive
            .write_file_atomic("b/k/meta", b"v1")
            .await
            .expect("v1");
        drive
            .write_file_atomic("b/k/meta", b"v2")
            .await
            .expect("v2");
        let synced = drive.create("b/k/d/part.1", 0).await.expect("create");
        let (result, _) = drive.write_at(&synced, aligned(&[1; BLOCK]), 0).await;
        result.expect("write");
        drive.sync(&synced).await.expect("sync");
        let (result, _) = drive
            .write_at(&synced, aligned(&[2; BLOCK]), BLOCK as u64)
            .await;
        result.expect("unsynced write");
        let unsynced = drive.create("b/k/d/part.2", 0).await.expect("create");
        let (result, _) = drive.write_at(&unsynced, aligned(&[3; BLOCK]), 0).await;
        result.expect("write");
        drive.create_dir_all("b/empty").await.expect("dir");
        drive.remove_file("b/k/meta").await.expect("durable remove");

        drive.crash();
        // remove_file is durable (a delete commits by removing metadata).
        assert!(matches!(
            drive.read_file("b/k/meta").await,
            Err(DriveError::NotFound)
        ));
        assert_eq!(drive.file_bytes("b/k/d/part.1"), Some(vec![1; BLOCK]));
        assert_eq!(drive.file_bytes("b/k/d/part.2"), None);
        assert!(!drive.is_dir("b/empty"));
        let (result, _) = drive
            .read_at(&synced, AlignedBuf::with_capacity(BLOCK), 0)
            .await;
        assert!(result.is_err(), "handles from before the crash are dead");
    });
}

/// A rename is durable when it returns, and moves durable content with it.
#[test]
fn sim_crash_keeps_renames() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("rename", 1);
        let chunk = drive
            .create(".shoal/tmp/up/part.1", 0)
            .await
            .expect("create");
        let (result, _) = drive.write_at(&chunk, aligned(&[5; BLOCK]), 0).await;
        result.expect("write");
        drive.sync(&chunk).await.expect("sync");
        drive
            .rename(".shoal/tmp/up", "b/k/dd")
            .await
            .expect("rename dir");
        drive.crash();
        assert_eq!(drive.file_bytes("b/k/dd/part.1"), Some(vec![5; BLOCK]));
        assert!(!drive.is_dir(".shoal/tmp/up"));
    });
}

/// The direct helpers corrupt, truncate and delete files durably.
#[test]
fn sim_helpers() {
    sim_runtime().block_on(async {
        let drive = SimDrive::new("helpers", 1);
        drive
            .write_file_atomic("a/m", &[0; 8])
            .await
            .expect("write");
        drive.corrupt_file("a/m", 3);
        drive.truncate_file("a/m", 5);
        drive.crash();
        assert_eq!(drive.read_file("a/m").await.expect("read"), [0, 0, 0, 1, 0]);
        assert!(drive.is_dir("a") && drive.is_dir("") && !drive.is_dir("a/m"));
        drive.delete_file("a/m");
        assert!(is_not_found(&drive.read_file("a/m").await));
        assert_eq!(drive.file_bytes("a/m"), None);
    });
}
