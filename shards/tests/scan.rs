//! The background scanner (`object/scan/`) over simulated drives in virtual time: it
//! finds exactly the objects damaged on the drives (metadata records removed or stale,
//! chunk files deleted; corrupt chunk bytes only in a deep cycle), reports nothing on
//! a healthy store while writes and deletes race with it, resumes a stopped cycle where
//! it stopped, and keeps to its budget of objects and bytes per second.

use crate::common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{body, sim_drives};
use shoal_io::{Drive, Env, SimDrive, SimEnv, SimExecutor};
use shoal_shards::object::scan::pace::BURST;
use shoal_shards::object::scan::{ScanHooks, ScanPace, ScanShare, Scanner};
use shoal_shards::{PutOptions, SliceSource, Store, StoreConfig};

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

/// Small stripes: objects of a few hundred KiB span several.
const STRIPE_BYTES: usize = 64 << 10;
/// An object of three stripes, its chunks in part files.
const LARGE_BYTES: usize = 150_000;
const SECOND_NANOS: u64 = 1_000_000_000;

async fn open(drives: &[SimDrive], env: &SimEnv) -> SimStore {
    let config = StoreConfig {
        stripe_size_bytes: STRIPE_BYTES,
        inline_chunk_max_bytes: 4 << 10,
        parity_chunks: Some(2),
        ..StoreConfig::default()
    };
    Store::open_in(drives.to_vec(), env.clone(), env.clone(), 7, config)
        .await
        .expect("open store")
}

/// A 2+2 store with bucket "bkt".
async fn new_store(drives: &[SimDrive], env: &SimEnv) -> SimStore {
    let store = open(drives, env).await;
    store.make_bucket("bkt").await.expect("bucket");
    store
}

async fn put<D: shoal_io::Drive, C: shoal_io::Clock, E: Env>(
    store: &Store<D, C, E>,
    key: &str,
    data: &[u8],
) -> [u8; 16] {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    let mut source = SliceSource(data);
    let put = store.put_object("bkt", key, &options, &mut source);
    put.await.expect("put").version_id
}

fn meta_path(key: &str) -> String {
    format!("bkt/{key}/_meta")
}

fn part_path(key: &str, version_id: &[u8; 16]) -> String {
    format!("bkt/{key}/_d{}/part.1", hex::encode(version_id))
}

/// Every cycle deep (`deep` true) or none, at a rate the tests never wait on.
fn pace(deep: bool) -> ScanPace {
    let deep_every = deep.then_some(Duration::ZERO);
    ScanPace::new(100_000, 1 << 40, deep_every, Duration::ZERO)
}

fn never() -> bool {
    false
}

/// Runs one whole cycle of shard 0 of 1 over `store`.
async fn one_cycle(store: &SimStore, pace: ScanPace) {
    let mut scanner = Scanner::open(store, ScanShare::single_node(0, 1), pace).await;
    let hooks = ScanHooks {
        busy: &never,
        stopping: &never,
    };
    assert!(scanner.run_cycle(&hooks).await, "the cycle ran to its end");
}

/// The keys queued for healing, sorted (the queue itself is first in, first out).
fn queued(store: &SimStore) -> Vec<String> {
    let mut keys: Vec<String> = store.heal_queue().into_iter().map(|(_, key)| key).collect();
    keys.sort();
    keys
}

/// Objects damaged in each way nobody reads are found by one cycle, exactly those;
/// corrupt chunk bytes only by a deep cycle, and the counters say so.
#[test]
fn a_cycle_finds_exactly_the_damaged_objects() {
    let executor = SimExecutor::new(1);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = new_store(&drives, &env).await;
            let mut versions = Vec::new();
            for i in 0..8 {
                versions.push(put(&store, &format!("k{i}"), &body(i, LARGE_BYTES)).await);
            }
            put(&store, "small", &body(99, 100)).await;
            // k1: one member lost its metadata record.
            drives[0].delete_file(&meta_path("k1"));
            // k2: one member holds the version the last write replaced.
            let old = drives[1].file_bytes(&meta_path("k2")).expect("record");
            put(&store, "k2", &body(22, LARGE_BYTES)).await;
            drives[1]
                .write_file_atomic(&meta_path("k2"), &old)
                .await
                .expect("old");
            // k3: one member lost a chunk file.
            drives[2].delete_file(&part_path("k3", &versions[3]));
            // k4: one member's chunk bytes rotted.
            drives[3].corrupt_file(&part_path("k4", &versions[4]), 5000);
            // small: one member lost its (inline) record.
            drives[3].delete_file(&meta_path("small"));
            one_cycle(&store, pace(false)).await;
            assert_eq!(queued(&store), ["k1", "k2", "k3", "small"]);
            let progress = store.scan_progress();
            assert_eq!(progress.objects_scanned, 9);
            assert_eq!(progress.damaged_found, 4);
            assert_eq!(
                (progress.cycles_completed, progress.deep_cycles_completed),
                (1, 0)
            );
            assert_eq!(progress.deep_bytes_read, 0, "metadata only");
            one_cycle(&store, pace(true)).await;
            assert_eq!(queued(&store), ["k1", "k2", "k3", "k4", "small"]);
            let progress = store.scan_progress();
            assert_eq!(progress.damaged_found, 4 + 5);
            assert_eq!(
                (progress.cycles_completed, progress.deep_cycles_completed),
                (2, 1)
            );
            assert!(progress.deep_bytes_read >= 4 * 4 * LARGE_BYTES as u64 / 2);
        })
        .expect("simulation ends");
}

/// A healthy store scanned deeply queues nothing, also while clients overwrite and
/// delete its keys during the scan: a version written after the scanner read a member
/// is not damage.
#[test]
fn a_healthy_store_scanned_deeply_while_written_reports_nothing() {
    for seed in 0..8 {
        let executor = SimExecutor::new(seed);
        let env = executor.env();
        executor
            .run_until(healthy_race(env.clone()))
            .expect("simulation ends");
    }
}

async fn healthy_race(env: SimEnv) {
    let drives = sim_drives(&env, 4);
    for drive in &drives {
        drive.set_base_latency(Duration::from_micros(200));
    }
    let store = Rc::new(new_store(&drives, &env).await);
    let keys: Vec<String> = (0..12).map(|i| format!("key{i:02}")).collect();
    for (i, key) in keys.iter().enumerate() {
        put(&store, key, &body(i as u64, LARGE_BYTES)).await;
    }
    let writes_during_scan = Rc::new(Cell::new(0u32));
    let scanning = Rc::new(Cell::new(true));
    let writer = {
        let (store, keys, env) = (store.clone(), keys.clone(), env.clone());
        let (writes, scanning) = (writes_during_scan.clone(), scanning.clone());
        async move {
            for round in 0..60u64 {
                let key = &keys[(env.random_u64() % keys.len() as u64) as usize];
                match round % 3 {
                    0 => drop(store.delete_object("bkt", key).await),
                    1 => drop(put(&store, key, &body(round, 1000 + round as usize)).await),
                    _ => drop(put(&store, key, &body(round, LARGE_BYTES)).await),
                }
                if scanning.get() {
                    writes.set(writes.get() + 1);
                }
            }
        }
    };
    let scan = async {
        one_cycle(&store, pace(true)).await;
        scanning.set(false);
    };
    futures_util::join!(writer, scan);
    assert!(writes_during_scan.get() > 3, "writes raced with the scan");
    let progress = store.scan_progress();
    assert!(
        progress.objects_scanned >= 6 && progress.deep_bytes_read > 0,
        "{progress:?}"
    );
    assert_eq!(queued(&store), Vec::<String>::new(), "seed {}", env.seed());
    assert_eq!(progress.damaged_found, 0);
}

/// A scanner stopped in the middle of a cycle saves its position; a scanner of a new
/// process on the same drives resumes after the last key checked, not from the start,
/// and finishes the same cycle.
#[test]
fn a_stopped_scan_resumes_where_it_stopped() {
    let executor = SimExecutor::new(3);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = new_store(&drives, &env).await;
            for i in 0..30 {
                put(&store, &format!("k{i:02}"), &body(i, 2000)).await;
            }
            let stop_after_twelve = || store.scan_progress().objects_scanned >= 12;
            let hooks = ScanHooks {
                busy: &never,
                stopping: &stop_after_twelve,
            };
            let share = ScanShare::single_node(0, 1);
            let mut scanner = Scanner::open(&store, share, pace(false)).await;
            scanner.run(&hooks).await;
            assert_eq!(store.scan_progress().objects_scanned, 12);
            assert_eq!(scanner.position().after_key, "k11");
            drop(scanner);
            drop(store);
            let store = open(&drives, &env).await;
            let mut scanner = Scanner::open(&store, share, pace(false)).await;
            let position = scanner.position().clone();
            assert!(position.in_cycle && position.cycle == 1, "{position:?}");
            assert_eq!(
                (position.bucket.as_str(), position.after_key.as_str()),
                ("bkt", "k11")
            );
            let hooks = ScanHooks {
                busy: &never,
                stopping: &never,
            };
            assert!(scanner.run_cycle(&hooks).await);
            let progress = store.scan_progress();
            assert_eq!(progress.objects_scanned, 18, "the 18 keys after k11 only");
            assert_eq!(progress.cycles_completed, 1);
            assert!(!scanner.position().in_cycle);
        })
        .expect("simulation ends");
}

/// Over simulated seconds the scanner checks at most its budget of objects per second
/// (and reads at most its budget of bytes in a deep cycle), and nearly nothing while
/// the shard is busy.
#[test]
fn the_scan_keeps_to_its_budget() {
    let executor = SimExecutor::new(4);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = new_store(&drives, &env).await;
            for i in 0..200 {
                put(&store, &format!("k{i:03}"), &body(i, LARGE_BYTES)).await;
            }
            let (rate, seconds) = (10, 3);
            let objects = run_for(
                &store,
                &env,
                ScanPace::new(rate, 1 << 40, None, Duration::ZERO),
                seconds,
                false,
            )
            .await;
            // A new pacer starts with `BURST` of credit.
            let burst_objects = rate * BURST.as_millis() as u64 / 1000;
            assert!(
                objects <= rate * seconds + burst_objects + 1 && objects >= rate * seconds * 8 / 10,
                "{objects} objects in {seconds} s at {rate}/s"
            );
            // A new cycle, deep from its start.
            for drive in &drives {
                drive.delete_file(".shoal/scan-shard-0");
            }
            let bytes_per_second = 1 << 20;
            let deep = ScanPace::new(
                100_000,
                bytes_per_second,
                Some(Duration::ZERO),
                Duration::ZERO,
            );
            let before = store.scan_progress().deep_bytes_read;
            run_for(&store, &env, deep, seconds, false).await;
            let read = store.scan_progress().deep_bytes_read - before;
            // One stripe of every member (a chunk record each) may be read ahead of the budget.
            let stripe_read = 4 * (STRIPE_BYTES / 2 + 8) as u64;
            let burst_bytes = bytes_per_second * BURST.as_millis() as u64 / 1000;
            assert!(
                read <= bytes_per_second * seconds + burst_bytes + stripe_read
                    && read >= bytes_per_second * seconds / 2,
                "{read} bytes in {seconds} s at {bytes_per_second}/s"
            );
            let busy_seconds = 12;
            let objects = run_for(
                &store,
                &env,
                ScanPace::new(1000, 1 << 40, None, Duration::ZERO),
                busy_seconds,
                true,
            )
            .await;
            assert!(
                (2..=3).contains(&objects),
                "{objects} objects while busy for {busy_seconds} s"
            );
        })
        .expect("simulation ends");
}

/// Runs the scanner for `seconds` of virtual time (the shard busy throughout when
/// `busy`); returns how many objects it checked.
async fn run_for(store: &SimStore, env: &SimEnv, pace: ScanPace, seconds: u64, busy: bool) -> u64 {
    let before = store.scan_progress().objects_scanned;
    let end = env.monotonic_nanos() + seconds * SECOND_NANOS;
    let time_up = || env.monotonic_nanos() >= end;
    let busy_hook = move || busy;
    let hooks = ScanHooks {
        busy: &busy_hook,
        stopping: &time_up,
    };
    let mut scanner = Scanner::open(store, ScanShare::single_node(0, 1), pace).await;
    scanner.run(&hooks).await;
    store.scan_progress().objects_scanned - before
}

/// Over a set whose odd members are a second node's drives (reached over a simulated
/// peer link), a cycle finds a chunk file lost and a record removed on the peer's drives
/// and on this node's, and nothing else.
#[test]
fn a_cycle_over_peer_members_finds_their_damage() {
    common::run(async {
        let mut peers = common::Peers { made: Vec::new() };
        let store = common::Backend::store(&mut peers, 4, 2).await;
        let mut versions = Vec::new();
        for i in 0..4 {
            // Above the default inline limit: chunks in part files.
            versions.push(put(&store, &format!("k{i}"), &body(i, 600_000)).await);
        }
        peers.made[1].delete_file(&part_path("k1", &versions[1]));
        peers.made[3].delete_file(&meta_path("k2"));
        peers.made[0].delete_file(&meta_path("k3"));
        let mut scanner = Scanner::open(&store, ScanShare::single_node(0, 1), pace(false)).await;
        let hooks = ScanHooks {
            busy: &never,
            stopping: &never,
        };
        assert!(scanner.run_cycle(&hooks).await);
        let keys: Vec<String> = store.heal_queue().into_iter().map(|(_, key)| key).collect();
        assert_eq!(keys, ["k1", "k2", "k3"]);
        assert_eq!(store.scan_progress().objects_scanned, 4);
    });
}

/// A deep cycle that walked its set without read quorum of the members answering
/// (keys only they hold were not seen) is not counted as deep: the next cycle is deep
/// again, and once the members answer it counts.
#[test]
fn a_deep_cycle_without_quorum_is_not_counted() {
    let executor = SimExecutor::new(1);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = new_store(&drives, &env).await;
            for i in 0..3 {
                put(&store, &format!("k{i}"), &body(i, 100)).await;
            }
            for drive in &drives[1..] {
                drive.unmount();
            }
            one_cycle(&store, pace(true)).await;
            let progress = store.scan_progress();
            assert_eq!(
                (progress.cycles_completed, progress.deep_cycles_completed),
                (1, 0),
                "one member of four answered: not a deep cycle"
            );
            assert_eq!(progress.last_deep_finished_unix_nanos, 0);
            for drive in &drives[1..] {
                drive.mount();
            }
            one_cycle(&store, pace(true)).await;
            let progress = store.scan_progress();
            assert_eq!(
                (progress.cycles_completed, progress.deep_cycles_completed),
                (2, 1)
            );
        })
        .expect("simulation ends");
}
