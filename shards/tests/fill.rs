//! The fill of a replaced drive (`object/fill/`) over simulated drives in virtual time:
//! a drive emptied and formatted again into the deployment is marked for a fill and
//! filled back byte for byte as the healthy writes left it (records, chunk files, its
//! bucket records); a fill stopped midway resumes from its saved place without
//! redoing a finished bucket; its progress counts only grow and are exact at the end;
//! a drive filled is never filled again, and a fresh deployment's drives never are.

use crate::common;

use std::cell::RefCell;
use std::collections::BTreeMap;

use common::{Damage, body, damage, files_under, sim_drives};
use shoal_io::{Drive, SimDrive, SimEnv, SimExecutor};
use shoal_shards::object::fill::{FillPace, FillState, run_fills};
use shoal_shards::object::scan::ScanHooks;
use shoal_shards::record::fill::{FILL_PATH, FillRecord};
use shoal_shards::{PutOptions, SliceSource, Store, StoreConfig};

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

/// Small stripes: objects of a few hundred KiB span several.
const STRIPE_BYTES: usize = 64 << 10;
const LARGE_BYTES: usize = 150_000;
/// The drive replaced (pool position).
const NEW: usize = 1;

async fn open(drives: &[SimDrive], env: &SimEnv, format_new_drives: bool) -> SimStore {
    let config = StoreConfig {
        stripe_size_bytes: STRIPE_BYTES,
        inline_chunk_max_bytes: 4 << 10,
        parity_chunks: Some(2),
        format_new_drives,
        ..StoreConfig::default()
    };
    Store::open_in(drives.to_vec(), env.clone(), env.clone(), 7, config)
        .await
        .expect("open store")
}

async fn put(store: &SimStore, bucket: &str, key: &str, data: &[u8]) {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    let mut source = SliceSource(data);
    let put = store.put_object(bucket, key, &options, &mut source);
    put.await.expect("put");
}

/// Every file of `buckets` and their records on `drive`, with its bytes.
async fn snapshot(drive: &SimDrive, buckets: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for bucket in buckets {
        let mut paths = files_under(drive, bucket).await;
        paths.push(format!(".shoal/buckets/{bucket}"));
        for path in paths {
            files.insert(path.clone(), drive.file_bytes(&path).expect("file"));
        }
    }
    files
}

async fn fill_record(drive: &SimDrive) -> Option<FillRecord> {
    let bytes = drive.read_file(FILL_PATH).await.ok()?;
    Some(FillRecord::decode(&bytes).expect("fill record"))
}

fn never() -> bool {
    false
}

/// Objects in two buckets: large ones (chunks in part files over several stripes),
/// small inline ones, and a key written then deleted. Returns the object bytes.
async fn write_objects(store: &SimStore) -> u64 {
    let mut bytes = 0;
    for bucket in ["aaa", "bbb"] {
        store.make_bucket(bucket).await.expect("bucket");
        for i in 0..6u64 {
            let len = if i % 2 == 0 {
                LARGE_BYTES
            } else {
                1000 + i as usize
            };
            put(store, bucket, &format!("k{i}"), &body(i, len)).await;
            bytes += len as u64;
        }
    }
    put(store, "aaa", "gone", &body(9, 500)).await;
    store.delete_object("aaa", "gone").await.expect("delete");
    bytes
}

/// The drive's folder emptied (format record included), as a new drive.
/// Four drives holding `write_objects`' objects, then the drives at `replaced` emptied
/// (new drives in their place).
async fn with_replaced(env: &SimEnv, replaced: &[usize]) -> Vec<SimDrive> {
    let drives = sim_drives(env, 4);
    let store = open(&drives, env, false).await;
    write_objects(&store).await;
    drop(store);
    for &position in replaced {
        replace_drive(&drives[position]).await;
    }
    drives
}

async fn replace_drive(drive: &SimDrive) {
    damage(drive, Damage::Emptied, 0).await;
    assert!(drive.list_dir("").await.unwrap_or_default().is_empty());
}

/// A wiped drive formatted again is marked for a fill (a fresh deployment's drives are
/// not) and filled back byte for byte; its progress is exact at the end; a filled
/// drive is not filled again.
#[test]
fn a_replaced_drive_is_filled_back_byte_for_byte() {
    let executor = SimExecutor::new(1);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = open(&drives, &env, false).await;
            for drive in &drives {
                assert_eq!(fill_record(drive).await, None, "a fresh deployment");
            }
            let bytes = write_objects(&store).await;
            let healthy = snapshot(&drives[NEW], &["aaa", "bbb"]).await;
            drop(store);
            replace_drive(&drives[NEW]).await;

            let store = open(&drives, &env, true).await;
            assert_eq!(fill_record(&drives[NEW]).await, Some(FillRecord::default()));
            assert_eq!(fill_record(&drives[0]).await, None);
            let pace = FillPace::new(100_000);
            let hooks = ScanHooks {
                busy: &never,
                stopping: &never,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;

            assert_eq!(snapshot(&drives[NEW], &["aaa", "bbb"]).await, healthy);
            let record = fill_record(&drives[NEW]).await.expect("record");
            assert!(record.done && record.finished_unix_nanos > 0, "{record:?}");
            assert_eq!((record.objects_done, record.bytes_done), (12, bytes));
            assert_eq!(record.objects_failed, 0);
            let progress = store.fill_progress();
            assert_eq!(progress.len(), 1);
            let p = &progress[0];
            assert_eq!(p.state, FillState::Done);
            assert_eq!((p.objects_done, p.objects_total), (12, 12));
            assert_eq!((p.bytes_done, p.bytes_total), (bytes, bytes));
            assert!(p.bytes_written > 0);
            drop(store);

            // Done: a restart runs no fill.
            let store = open(&drives, &env, true).await;
            run_fills(&store, (0, 1), &pace, &hooks).await;
            assert!(store.fill_progress().is_empty());
        })
        .expect("simulation ends");
}

/// A fill stopped midway saved its place; resumed by a new store it goes on from
/// there: a finished bucket is not walked again (a file removed from it meanwhile
/// stays removed), counts never go back, and the end is exact.
#[test]
fn an_interrupted_fill_resumes_where_it_stopped() {
    let executor = SimExecutor::new(2);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = open(&drives, &env, false).await;
            let bytes = write_objects(&store).await;
            let healthy = snapshot(&drives[NEW], &["aaa", "bbb"]).await;
            drop(store);
            replace_drive(&drives[NEW]).await;

            let store = open(&drives, &env, true).await;
            // Slow enough that the record is saved (each second) inside "bbb".
            let pace = FillPace::new(4);
            // Bucket "aaa" holds 6 keys: stop once progress, which shows what was saved,
            // is 2 keys into "bbb".
            let stop_after = || {
                store
                    .fill_progress()
                    .first()
                    .is_some_and(|p| p.objects_done >= 8)
            };
            let hooks = ScanHooks {
                busy: &never,
                stopping: &stop_after,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;
            let record = fill_record(&drives[NEW]).await.expect("record");
            assert!(!record.done);
            let done = record.objects_done;
            assert!((8..12).contains(&done), "{record:?}");
            let after_key = format!("k{}", done - 7);
            assert_eq!(
                (record.bucket.as_str(), record.after_key.as_str()),
                ("bbb", after_key.as_str())
            );
            let first = store.fill_progress()[0].clone();
            assert_eq!(first.objects_total, 12, "counted before filling");
            drop(store);

            // Bucket "aaa" is finished: a record removed from it now is not filled again.
            drives[NEW].delete_file("aaa/k0/_meta");
            let store = open(&drives, &env, false).await;
            let pace = FillPace::new(100_000);
            let seen = RefCell::new(Vec::new());
            let watch = || {
                if let Some(p) = store.fill_progress().first() {
                    seen.borrow_mut().push((p.objects_done, p.bytes_done));
                }
                false
            };
            let hooks = ScanHooks {
                busy: &never,
                stopping: &watch,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;

            let seen = seen.into_inner();
            assert!(
                seen.first().is_some_and(|&(objects, _)| objects >= done),
                "{seen:?}"
            );
            assert!(
                seen.windows(2)
                    .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1)
            );
            let p = &store.fill_progress()[0];
            assert_eq!(p.state, FillState::Done);
            assert_eq!((p.objects_done, p.objects_total), (12, 12));
            assert_eq!((p.bytes_done, p.bytes_total), (bytes, bytes));
            let mut now = snapshot(&drives[NEW], &["bbb"]).await;
            let expected: BTreeMap<String, Vec<u8>> = (healthy.into_iter())
                .filter(|(path, _)| path != "aaa/k0/_meta")
                .collect();
            now.extend(snapshot_first_bucket(&drives[NEW]).await);
            assert_eq!(
                now, expected,
                "bucket bbb filled, bucket aaa not walked again"
            );
        })
        .expect("simulation ends");
}

/// Bucket "aaa"'s files and record on `drive` (some may be missing).
async fn snapshot_first_bucket(drive: &SimDrive) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut paths = files_under(drive, "aaa").await;
    paths.push(".shoal/buckets/aaa".to_owned());
    for path in paths {
        if let Some(bytes) = drive.file_bytes(&path) {
            files.insert(path, bytes);
        }
    }
    files
}

/// With every other member of the set gone mid-fill (in a cluster: its peers down), the
/// fill waits, its progress saying so with no rate, instead of taking the new drive's
/// empty walk for the set's (which would skip every key left and call the fill done) or
/// spending its tries on keys no quorum can decide; the members back, it fills every
/// key, none failed.
#[test]
fn a_fill_waits_while_the_other_members_are_gone() {
    let executor = SimExecutor::new(3);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = open(&drives, &env, false).await;
            let bytes = write_objects(&store).await;
            let healthy = snapshot(&drives[NEW], &["aaa", "bbb"]).await;
            drop(store);
            replace_drive(&drives[NEW]).await;

            let store = open(&drives, &env, true).await;
            let pace = FillPace::new(4);
            let others = [0, 2, 3].map(|i| drives[i].clone());
            let gone_at = RefCell::new(None::<u64>);
            let waited = RefCell::new(Vec::new());
            let hook = || {
                let Some(p) = store.fill_progress().first().cloned() else {
                    return false;
                };
                let now = shoal_io::Env::monotonic_nanos(&env);
                let mut gone_at = gone_at.borrow_mut();
                match *gone_at {
                    None if p.objects_done >= 3 => {
                        *gone_at = Some(now);
                        for drive in &others {
                            drive.set_faults(shoal_io::SimFaults {
                                gone: true,
                                ..shoal_io::SimFaults::default()
                            });
                        }
                    }
                    Some(at) if now - at > 30_000_000_000 && !waited.borrow().is_empty() => {
                        others.iter().for_each(SimDrive::clear_faults);
                    }
                    Some(at) if now - at > 20_000_000_000 => waited.borrow_mut().push(p),
                    _ => {}
                }
                false
            };
            let hooks = ScanHooks {
                busy: &never,
                stopping: &hook,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;

            let waited = waited.into_inner();
            assert!(!waited.is_empty());
            for p in &waited {
                assert_eq!(p.state, FillState::Waiting, "{p:?}");
                assert!(p.objects_done < 12, "{p:?}");
                assert_eq!((p.objects_per_second, p.eta_seconds), (0, None), "{p:?}");
            }
            let record = fill_record(&drives[NEW]).await.expect("record");
            assert!(record.done, "{record:?}");
            assert_eq!((record.objects_done, record.bytes_done), (12, bytes));
            assert_eq!(record.objects_failed, 0, "{record:?}");
            assert_eq!(snapshot(&drives[NEW], &["aaa", "bbb"]).await, healthy);
        })
        .expect("simulation ends");
}

/// A crash between the fill record and the format record leaves a drive holding only
/// a fill record (here one of a fill under way, the worst case): the drive counts as
/// blank, so it is formatted and marked again from zero, not resumed from that
/// record's place, and filled back whole.
#[test]
fn a_crash_between_marking_and_formatting_leaves_a_blank_drive() {
    let executor = SimExecutor::new(4);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = open(&drives, &env, false).await;
            write_objects(&store).await;
            let healthy = snapshot(&drives[NEW], &["aaa", "bbb"]).await;
            drop(store);
            replace_drive(&drives[NEW]).await;
            // What the crash left: a fill record of a fill under way, and no format.
            let stale = FillRecord {
                bucket: "bbb".to_owned(),
                after_key: "k3".to_owned(),
                objects_done: 10,
                ..FillRecord::default()
            };
            let bytes = stale.encode();
            let marked = drives[NEW].write_file_atomic(FILL_PATH, &bytes);
            marked.await.expect("fill record");

            let store = open(&drives, &env, true).await;
            assert_eq!(fill_record(&drives[NEW]).await, Some(FillRecord::default()));
            let pace = FillPace::new(100_000);
            let hooks = ScanHooks {
                busy: &never,
                stopping: &never,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;
            assert_eq!(snapshot(&drives[NEW], &["aaa", "bbb"]).await, healthy);
            let record = fill_record(&drives[NEW]).await.expect("record");
            assert!(record.done && record.objects_done == 12, "{record:?}");
        })
        .expect("simulation ends");
}

/// A fill paused at run time (`fill-objects-per-second` 0) shows as waiting with no
/// rate and no ETA, not as filling at its last rate; raised again, it finishes.
#[test]
fn a_paused_fill_shows_as_waiting() {
    let executor = SimExecutor::new(5);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = with_replaced(&env, &[NEW]).await;

            let store = open(&drives, &env, true).await;
            let pace = FillPace::new(2);
            let paused = RefCell::new(Vec::new());
            let hook = || {
                let Some(p) = store.fill_progress().first().cloned() else {
                    return false;
                };
                let now = shoal_io::Env::monotonic_nanos(&env);
                if p.objects_done >= 5
                    && paused.borrow().is_empty()
                    && pace.objects_per_second() > 0
                {
                    pace.set_objects_per_second(0);
                    paused.borrow_mut().push((now, p));
                    return false;
                }
                let since = paused.borrow().first().map(|&(at, _)| at);
                if let Some(at) = since
                    && pace.objects_per_second() == 0
                    && now - at > 20_000_000_000
                {
                    paused.borrow_mut().push((now, p));
                    pace.set_objects_per_second(100_000);
                }
                false
            };
            let hooks = ScanHooks {
                busy: &never,
                stopping: &hook,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;

            let paused = paused.into_inner();
            assert_eq!(paused.len(), 2, "{paused:?}");
            let p = &paused[1].1;
            assert_eq!(p.state, FillState::Waiting, "{p:?}");
            assert_eq!((p.objects_per_second, p.eta_seconds), (0, None), "{p:?}");
            let record = fill_record(&drives[NEW]).await.expect("record");
            assert!(record.done && record.objects_done == 12, "{record:?}");
        })
        .expect("simulation ends");
}

/// Two replaced drives filled by one shard fill one after the other; the second is
/// shown `queued` (no totals counted, no ETA) from the start, not missing, and both
/// end done.
#[test]
fn a_second_fill_of_a_shard_shows_as_queued() {
    let executor = SimExecutor::new(6);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = with_replaced(&env, &[NEW, NEW + 1]).await;

            let store = open(&drives, &env, true).await;
            let pace = FillPace::new(100_000);
            let seen = RefCell::new(None);
            let hook = || {
                let progress = store.fill_progress();
                if seen.borrow().is_none() && progress.iter().any(|p| p.state == FillState::Filling)
                {
                    *seen.borrow_mut() = Some(progress);
                }
                false
            };
            let hooks = ScanHooks {
                busy: &never,
                stopping: &hook,
            };
            run_fills(&store, (0, 1), &pace, &hooks).await;

            let seen = seen.into_inner().expect("a fill was seen filling");
            assert_eq!(seen.len(), 2, "{seen:?}");
            let states: Vec<_> = seen.iter().map(|p| p.state).collect();
            assert_eq!(states, [FillState::Filling, FillState::Queued], "{seen:?}");
            let queued = &seen[1];
            assert_eq!(
                (
                    queued.objects_total,
                    queued.eta_seconds,
                    queued.objects_per_second
                ),
                (queued.objects_done, None, 0)
            );
            let done: Vec<_> = store.fill_progress().iter().map(|p| p.state).collect();
            assert_eq!(done, [FillState::Done, FillState::Done]);
        })
        .expect("simulation ends");
}
