//! `SimDrive`'s fault model in simulated time, as the store's simulation meets it: seeded
//! latency in virtual time, hung operations that only a timeout escapes, lost writes
//! found after a crash, writes torn by a crash while in flight, bitrot where the seed says.

use std::time::Duration;

use futures_channel::oneshot;
use shoal_io::{
    AlignedBuf, BLOCK_SIZE_BYTES, Drive, DriveError, DriveResult, Env, FaultRule, SimDrive, SimEnv,
    SimError, SimExecutor, SimFaults, timeout,
};

const MS: u64 = 1_000_000;
const BLOCK: usize = BLOCK_SIZE_BYTES;
const SECTOR: usize = 512;

fn aligned(bytes: &[u8]) -> AlignedBuf {
    let mut buf = AlignedBuf::with_capacity(bytes.len());
    buf.extend_from_slice(bytes);
    buf
}

fn faults(change: impl FnOnce(&mut SimFaults)) -> SimFaults {
    let mut faults = SimFaults::default();
    change(&mut faults);
    faults
}

/// A drive whose latency passes in `env`'s virtual time.
fn drive(env: &SimEnv, seed: u64) -> SimDrive {
    SimDrive::new("d", seed).with_env(env.clone())
}

/// A file `path` of `blocks` blocks of `byte`, synced (durable).
async fn durable_file(drive: &SimDrive, path: &str, blocks: usize, byte: u8) {
    let file = drive.create(path, 0).await.expect("create");
    let (result, _) = drive
        .write_at(&file, aligned(&vec![byte; blocks * BLOCK]), 0)
        .await;
    result.expect("write");
    drive.sync(&file).await.expect("sync");
    drive.close(file).await.expect("close");
}

fn is_eio<T>(result: &DriveResult<T>) -> bool {
    matches!(result, Err(DriveError::Io(e)) if e.raw_os_error() == Some(libc_eio()))
}

const fn libc_eio() -> i32 {
    5
}

/// Virtual time each of 40 reads took on a drive with seeded latency.
fn read_latencies_nanos(executor_seed: u64, drive_seed: u64) -> Vec<u64> {
    let executor = SimExecutor::new(executor_seed);
    let env = executor.env();
    let drive = drive(&env, drive_seed);
    executor.block_on(async move {
        drive.write_file_atomic("meta", b"m").await.expect("write");
        drive.set_faults(faults(|f| {
            f.latency = Duration::from_millis(2);
            f.latency_jitter_mean = Duration::from_millis(1);
        }));
        let mut took = Vec::new();
        for _ in 0..40 {
            let start_nanos = env.monotonic_nanos();
            drive.read_file("meta").await.expect("read");
            took.push(env.monotonic_nanos() - start_nanos);
        }
        took
    })
}

/// Latency is drawn per operation from the drive's seed and passes in virtual time: at
/// least the minimum, at most the capped tail, varied, and the same for the same seed.
#[test]
fn latency_is_seeded_and_virtual() {
    let took = read_latencies_nanos(1, 7);
    assert!(
        took.iter().all(|&t| (2 * MS..=22 * MS).contains(&t)),
        "{took:?}"
    );
    let mut distinct = took.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 30, "latencies barely vary: {took:?}");
    assert_eq!(
        took,
        read_latencies_nanos(2, 7),
        "the drive's seed alone decides"
    );
    assert_ne!(took, read_latencies_nanos(1, 8));
}

/// `io::timeout` around a read of a hung drive returns `None` at exactly the deadline in
/// virtual time; the drive's other clients stay hung until the hang is lifted, then
/// their operations complete normally.
#[test]
fn timeout_over_a_hung_read() {
    let executor = SimExecutor::new(11);
    let env = executor.env();
    let drive = drive(&env, 1);
    let answer = executor.block_on({
        let (env, drive) = (env.clone(), drive.clone());
        async move {
            drive.write_file_atomic("meta", b"v1").await.expect("write");
            drive.set_faults(faults(|f| f.hang = FaultRule::Always));
            let start_nanos = env.monotonic_nanos();
            let read = drive.read_file("meta");
            let answer = timeout(&env, Duration::from_millis(250), read).await;
            assert_eq!(env.monotonic_nanos() - start_nanos, 250 * MS);
            answer.map(|read| read.map_err(|e| e.to_string()))
        }
    });
    assert_eq!(answer, None, "a hung read has no answer");

    let (sender, receiver) = oneshot::channel();
    let reader = drive.clone();
    env.spawn(async move {
        let _ = sender.send(reader.read_file("meta").await.expect("read after release"));
    });
    let releaser = (env.clone(), drive.clone());
    env.spawn(async move {
        releaser.0.sleep(Duration::from_secs(3)).await;
        releaser.1.clear_faults();
    });
    assert_eq!(executor.block_on(receiver), Ok(b"v1".to_vec()));
    assert_eq!(
        env.monotonic_nanos(),
        3_250 * MS,
        "released exactly when the hang was lifted"
    );
}

/// A hang caught by a path rule stalls only those operations; waiting on one without a
/// timeout is a deadlock the executor reports, not a test that hangs.
#[test]
fn hang_by_path_and_the_deadlock_it_makes() {
    let executor = SimExecutor::new(2);
    let env = executor.env();
    let drive = drive(&env, 1);
    let error = executor
        .run_until(async move {
            drive
                .write_file_atomic("fast/meta", b"f")
                .await
                .expect("write");
            drive
                .write_file_atomic("slow/meta", b"s")
                .await
                .expect("write");
            drive.set_faults(faults(|f| f.hang = FaultRule::PathContains("slow".into())));
            assert_eq!(drive.read_file("fast/meta").await.expect("read"), b"f");
            drive.read_file("slow/meta").await
        })
        .map(|read| read.map_err(|e| e.to_string()))
        .expect_err("the slow read never completes");
    assert!(matches!(error, SimError::Deadlock { .. }), "{error}");
}

/// What a crash at 5 ms leaves of a 32 KiB write that takes 10 ms, over a synced file of
/// 0xAA: the file's bytes after the crash, and what the interrupted write returned.
fn crash_during_write(seed: u64) -> (Vec<u8>, bool) {
    let executor = SimExecutor::new(seed);
    let env = executor.env();
    let drive = drive(&env, seed);
    executor.block_on(durable_file(&drive, "part.1", 8, 0xAA));
    drive.set_faults(faults(|f| f.latency = Duration::from_millis(10)));
    let (sender, receiver) = oneshot::channel();
    let writer = drive.clone();
    env.spawn(async move {
        let file = writer.open("part.1").await.expect("open");
        let (result, _) = writer
            .write_at(&file, aligned(&vec![0xBB; 8 * BLOCK]), 0)
            .await;
        let _ = sender.send(is_eio(&result));
    });
    executor.block_on({
        let (env, drive) = (env.clone(), drive.clone());
        async move {
            env.sleep(Duration::from_millis(15)).await;
            assert_eq!(
                drive.writes_in_flight(),
                1,
                "open took 10 ms, the write is underway"
            );
            drive.crash();
        }
    });
    let write_failed = executor.block_on(receiver).expect("the writer reports");
    drive.clear_faults();
    let after = executor.block_on(async move { drive.read_file("part.1").await.expect("read") });
    (after, write_failed)
}

/// A crash tears a write in flight: a prefix of whole sectors of the new bytes over the
/// old ones, never anything else; how long a prefix depends on the seed; the write
/// itself reports an error (its process died).
#[test]
fn crash_tears_writes_in_flight() {
    let mut kept_sectors = Vec::new();
    for seed in 0..24 {
        let (after, write_failed) = crash_during_write(seed);
        assert!(
            write_failed,
            "seed {seed}: the interrupted write must not succeed"
        );
        assert_eq!(after.len(), 8 * BLOCK, "seed {seed}");
        let kept = after.iter().take_while(|&&b| b == 0xBB).count();
        assert!(
            after[kept..].iter().all(|&b| b == 0xAA),
            "seed {seed}: not a prefix"
        );
        assert_eq!(kept % SECTOR, 0, "seed {seed}: torn inside a sector");
        kept_sectors.push(kept / SECTOR);
    }
    let mut distinct = kept_sectors.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(
        distinct.len() >= 10,
        "prefix lengths barely vary: {kept_sectors:?}"
    );
    assert!(
        kept_sectors.iter().any(|&k| k > 0 && k < 64),
        "no partial tear: {kept_sectors:?}"
    );
}

/// A write whose future was dropped before it completed (a timeout) has no effect, not
/// even at a crash.
#[test]
fn a_dropped_write_is_not_torn() {
    for seed in 0..8 {
        let executor = SimExecutor::new(seed);
        let env = executor.env();
        let drive = drive(&env, seed);
        executor.block_on(durable_file(&drive, "part.1", 2, 0xAA));
        let file = executor.block_on(drive.open("part.1")).expect("open");
        drive.set_faults(faults(|f| f.hang = FaultRule::Always));
        let writer = drive.clone();
        executor.block_on(async move {
            let write = writer.write_at(&file, aligned(&[0xBB; 2 * BLOCK]), 0);
            assert!(
                timeout(&env, Duration::from_millis(50), write)
                    .await
                    .is_none()
            );
        });
        assert_eq!(drive.writes_in_flight(), 0);
        drive.crash();
        drive.clear_faults();
        let after = executor.block_on(drive.read_file("part.1")).expect("read");
        assert_eq!(after, vec![0xAA; 2 * BLOCK], "seed {seed}");
    }
}

/// An atomic write in flight at a crash leaves the old file or the new one, never a
/// mix; over seeds both happen.
#[test]
fn crash_during_atomic_write_is_all_or_nothing() {
    let mut outcomes = Vec::new();
    for seed in 0..16 {
        let executor = SimExecutor::new(seed);
        let env = executor.env();
        let drive = drive(&env, seed);
        executor
            .block_on(drive.write_file_atomic("meta", b"old version"))
            .expect("write");
        drive.set_faults(faults(|f| f.hang = FaultRule::Always));
        let (sender, receiver) = oneshot::channel();
        let writer = drive.clone();
        env.spawn(async move {
            let result = writer.write_file_atomic("meta", b"new version").await;
            let _ = sender.send(is_eio(&result));
        });
        let crasher = drive.clone();
        executor.block_on(async move {
            env.yield_now().await;
            assert_eq!(crasher.writes_in_flight(), 1);
            crasher.crash();
        });
        assert_eq!(
            executor.block_on(receiver),
            Ok(true),
            "the crashed writer fails"
        );
        drive.clear_faults();
        let after = executor.block_on(drive.read_file("meta")).expect("read");
        assert!(
            after == b"old version" || after == b"new version",
            "{after:?}"
        );
        outcomes.push(after == b"new version");
    }
    assert!(
        outcomes.contains(&true) && outcomes.contains(&false),
        "{outcomes:?}"
    );
}

/// Lost writes are acknowledged and read back by the process, and gone after a crash:
/// the old metadata file and the old chunk bytes are back. A later good write of the
/// same blocks is durable again.
#[test]
fn lost_writes_are_found_after_a_crash() {
    let executor = SimExecutor::new(4);
    let env = executor.env();
    let drive = drive(&env, 4);
    let d = drive.clone();
    let seen = executor.block_on(async move {
        d.write_file_atomic("meta", b"v1").await.expect("write");
        durable_file(&d, "part.1", 2, 0xAA).await;
        d.set_faults(faults(|f| f.lost_write = FaultRule::Always));
        d.write_file_atomic("meta", b"v2")
            .await
            .expect("acknowledged");
        let file = d.open("part.1").await.expect("open");
        let (result, _) = d
            .write_at(&file, aligned(&[0xBB; BLOCK]), BLOCK as u64)
            .await;
        result.expect("acknowledged");
        d.sync(&file).await.expect("synced, it says");
        let meta = d.read_file("meta").await.expect("read");
        let part = d.read_file("part.1").await.expect("read");
        vec![meta, part]
    });
    drive.crash();
    drive.clear_faults();
    let d = drive.clone();
    let (meta, part) = executor.block_on(async move {
        (
            d.read_file("meta").await.expect("read"),
            d.read_file("part.1").await.expect("read"),
        )
    });
    let mut new_part = vec![0xAA; BLOCK];
    new_part.extend_from_slice(&[0xBB; BLOCK]);
    assert_eq!(
        seen,
        vec![b"v2".to_vec(), new_part.clone()],
        "seen before the crash"
    );
    assert_eq!(meta, b"v1", "the lost metadata write is gone");
    assert_eq!(part, vec![0xAA; 2 * BLOCK], "the lost chunk write is gone");

    executor.block_on(async move {
        let file = drive.open("part.1").await.expect("open");
        let (result, _) = drive
            .write_at(&file, aligned(&[0xBB; BLOCK]), BLOCK as u64)
            .await;
        result.expect("write");
        drive.sync(&file).await.expect("sync");
        drive.crash();
        assert_eq!(drive.read_file("part.1").await.expect("read"), new_part);
    });
}

/// Where `rot_random_bit` hit on a drive of three files, for a drive seed: the file, the
/// offset, and how many bits differ in each file after a crash (so only durable rot).
fn rot(seed: u64) -> (String, u64, Vec<u32>) {
    let executor = SimExecutor::new(0);
    let drive = SimDrive::new("rot", seed);
    let names = ["a/meta", "b/meta", "c/part.1"];
    let contents: Vec<Vec<u8>> = (0u8..3).map(|i| vec![i; 100 + usize::from(i)]).collect();
    let d = drive.clone();
    let written = contents.clone();
    executor.block_on(async move {
        for (name, content) in names.iter().zip(&written) {
            d.write_file_atomic(name, content).await.expect("write");
        }
    });
    let (path, offset) = drive.rot_random_bit().expect("there is data to rot");
    drive.crash();
    let flipped = executor.block_on(async move {
        let mut flipped = Vec::new();
        for (name, content) in names.iter().zip(&contents) {
            let now = drive.read_file(name).await.expect("read");
            flipped.push(
                now.iter()
                    .zip(content)
                    .map(|(a, b)| (a ^ b).count_ones())
                    .sum(),
            );
        }
        flipped
    });
    (path, offset, flipped)
}

/// Bitrot where the seed says: exactly one bit of one file changes, durably, at the
/// reported place; the same seed hits the same bit, other seeds other files.
#[test]
fn random_bitrot_is_one_durable_bit() {
    let mut hit_files = Vec::new();
    for seed in 0..12 {
        let (path, offset, flipped) = rot(seed);
        assert_eq!(flipped.iter().sum::<u32>(), 1, "seed {seed}: {flipped:?}");
        let index = ["a/meta", "b/meta", "c/part.1"]
            .iter()
            .position(|n| *n == path);
        assert_eq!(flipped[index.expect("a known file")], 1, "seed {seed}");
        assert!(offset < 103);
        assert_eq!(
            rot(seed),
            (path.clone(), offset, flipped),
            "seed {seed} again"
        );
        hit_files.push(path);
    }
    hit_files.sort();
    hit_files.dedup();
    assert_eq!(hit_files.len(), 3, "every file gets hit by some seed");
}

/// A hung drive hangs its identity check too (it reads a file): only a timeout around
/// it tells the store anything; after the hang is lifted the check passes.
#[test]
fn identity_check_hangs_with_the_drive() {
    let executor = SimExecutor::new(9);
    let env = executor.env();
    let drive = drive(&env, 9);
    executor.block_on(async move {
        drive
            .write_file_atomic(".shoal/format", b"id")
            .await
            .expect("write");
        drive.set_faults(faults(|f| f.hang = FaultRule::Always));
        let check = drive.check_identity(".shoal/format", b"id");
        assert_eq!(timeout(&env, Duration::from_secs(1), check).await, None);
        drive.clear_faults();
        assert_eq!(drive.check_identity(".shoal/format", b"id").await, Ok(()));
    });
}
