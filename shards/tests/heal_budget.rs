//! What healing costs is bounded: the chunk bytes a heal reads and writes keep to the
//! node's `heal-bytes-per-second` (not paced at 0, a change applies to a heal already
//! waiting, and with drives faster than the rate it gets the rate, its own I/O time
//! not added on top), and its buffers are paid for by the shard's memory budget,
//! waiting (not failing) while another holder has it.

use crate::common;

use std::cell::Cell;
use std::time::{Duration, Instant};

use common::{Backend, MIB, Sim, TestStore, body, files_under, get, put, run, store, try_put};
use futures_util::future::join;
use shoal_io::{Env, MemoryBudget, SimDrive, SimEnv, SimExecutor};
use shoal_shards::object::heal::HealPace;
use shoal_shards::object::heal::pace::BURST;
use shoal_shards::{HealOptions, HealOutcome, Store, StoreConfig};

const HEAL: HealOptions = HealOptions {
    dry_run: false,
    deep: false,
};

/// A 4-drive store (2 data, 2 parity) holding a 4 MiB object "k" (4 stripes).
async fn four_drives() -> (TestStore<SimDrive>, Vec<SimDrive>, Vec<u8>) {
    let drives = Sim { made: vec![] }.drives(4);
    let store = store(drives.clone(), 2).await;
    let data = body(7, 4 * MIB);
    put(&store, "k", &data).await;
    (store, drives, data)
}

/// Removes drive 0's chunk file of "k" (a heal then rebuilds it).
async fn lose_a_chunk_file(drives: &[SimDrive]) {
    let files = files_under(&drives[0], "bkt/k").await;
    let part = files
        .iter()
        .find(|f| f.ends_with("/part.1"))
        .expect("a part file");
    drives[0].delete_file(part);
}

/// Chunk bytes healing read and wrote so far.
fn moved(store: &TestStore<SimDrive>) -> u64 {
    let counts = store.heal_counts();
    counts.bytes_read + counts.bytes_written
}

/// Heals "k" and says how long it took and how many bytes it moved.
async fn timed_heal(store: &TestStore<SimDrive>) -> (Duration, u64) {
    let before = moved(store);
    let started = Instant::now();
    let report = store.heal_object("bkt", "k", HEAL).await.expect("heal");
    let took = started.elapsed();
    assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
    (took, moved(store) - before)
}

/// Healing X bytes at R bytes per second takes at least X/R less the account's credit
/// (`BURST`); at 0 it is not paced.
#[test]
fn heals_keep_to_the_byte_rate() {
    run(async {
        let (store, drives, data) = four_drives().await;
        let rate = 8 * MIB as u64;
        let pace = HealPace::new(rate);
        let store = store.with_heal_pace(pace.clone());
        lose_a_chunk_file(&drives).await;
        let (took, bytes) = timed_heal(&store).await;
        // Judging reads 3 members' records, rebuilding reads them again and writes one.
        assert!(bytes >= 7 * 2 * MIB as u64, "{bytes} bytes");
        let least = Duration::from_secs_f64(bytes as f64 / rate as f64).saturating_sub(BURST);
        assert!(
            took >= least,
            "{bytes} bytes in {took:?}, at least {least:?}"
        );
        assert_eq!(get(&store, "k").await.expect("get"), data);

        pace.set_bytes_per_second(0);
        lose_a_chunk_file(&drives).await;
        let (took, bytes) = timed_heal(&store).await;
        let paced = Duration::from_secs_f64(bytes as f64 / rate as f64);
        assert!(took < paced / 2, "not paced at 0: {took:?}");
    });
}

/// A heal waiting at a low rate finishes soon once the rate is raised to unlimited
/// while it waits (the setting is read again as it sleeps).
#[test]
fn a_changed_rate_applies_to_a_heal_in_progress() {
    run(async {
        let (store, drives, _) = four_drives().await;
        let pace = HealPace::new(MIB as u64);
        let store = store.with_heal_pace(pace.clone());
        lose_a_chunk_file(&drives).await;
        let raise = async {
            monoio::time::sleep(Duration::from_millis(500)).await;
            pace.set_bytes_per_second(0);
        };
        // About 14 MiB at 1 MiB/s would take 14 s.
        let ((took, _), ()) = join(timed_heal(&store), raise).await;
        assert!(
            took >= Duration::from_millis(450),
            "paced at first: {took:?}"
        );
        assert!(
            took < Duration::from_secs(4),
            "the change applied: {took:?}"
        );
    });
}

/// With a budget smaller than a heal's buffers the heal still runs (alone), it waits
/// (does not fail) while another holder has the budget, holds a grant while it runs,
/// and gives it back.
#[test]
fn heal_buffers_are_charged_to_the_memory_budget() {
    run(async {
        let (store, drives, data) = four_drives().await;
        let budget = MemoryBudget::new(4096);
        let store = (store.with_memory_budget(budget.clone()))
            .with_heal_pace(HealPace::new(16 * MIB as u64));
        lose_a_chunk_file(&drives).await;
        let held = budget.try_grant(1).expect("the budget is free");
        let done = Cell::new(false);
        let most_held = Cell::new(0);
        let heal = async {
            let healed = timed_heal(&store).await;
            done.set(true);
            healed
        };
        let watch = async {
            monoio::time::sleep(Duration::from_millis(400)).await;
            assert!(!done.get(), "the heal waits while the budget is held");
            assert_eq!(budget.used_bytes(), 1, "and holds nothing meanwhile");
            drop(held);
            while !done.get() {
                most_held.set(most_held.get().max(budget.used_bytes()));
                monoio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        let ((took, _), ()) = join(heal, watch).await;
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(
            most_held.get() > 4096,
            "a grant for its buffers: {}",
            most_held.get()
        );
        assert_eq!(budget.used_bytes(), 0, "given back");
        assert_eq!(get(&store, "k").await.expect("get"), data);
    });
}

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

/// Removes drive 0's part files of `keys`, heals them one after another: (virtual)
/// seconds taken and chunk bytes moved.
async fn heal_all(
    store: &SimStore,
    drives: &[SimDrive],
    keys: &[String],
    env: &SimEnv,
) -> (f64, u64) {
    for key in keys {
        let files = files_under(&drives[0], &format!("bkt/{key}")).await;
        for part in files.iter().filter(|f| f.ends_with("/part.1")) {
            drives[0].delete_file(part);
        }
    }
    let counts = store.heal_counts();
    let before = counts.bytes_read + counts.bytes_written;
    let started = env.monotonic_nanos();
    for key in keys {
        let report = store.heal_object("bkt", key, HEAL).await.expect("heal");
        assert_eq!(report.outcome, HealOutcome::Healed, "{report:?}");
    }
    let took = (env.monotonic_nanos() - started) as f64 / 1e9;
    let counts = store.heal_counts();
    (took, counts.bytes_read + counts.bytes_written - before)
}

/// In virtual time, drives whose every operation takes 2 ms: healing objects one after
/// another at a rate the drives beat takes about bytes/rate, not bytes/rate plus the
/// time the heal spends in its own reads and writes (an account that forgave that time
/// delivered about half the rate set).
#[test]
fn drives_faster_than_the_rate_get_the_rate() {
    let executor = SimExecutor::new(5);
    let env = executor.env();
    executor
        .run_until(async {
            let drives: Vec<SimDrive> = (0..4)
                .map(|i| SimDrive::new(&format!("d{i}"), i + 1).with_env(env.clone()))
                .collect();
            let config = StoreConfig {
                parity_chunks: Some(2),
                ..StoreConfig::default()
            };
            let pace = HealPace::unlimited();
            let store = Store::open_in(drives.clone(), env.clone(), env.clone(), 7, config)
                .await
                .expect("open store")
                .with_heal_pace(pace.clone());
            store.make_bucket("bkt").await.expect("bucket");
            let keys: Vec<String> = (0..12).map(|i| format!("k{i}")).collect();
            for (i, key) in keys.iter().enumerate() {
                try_put(&store, key, &body(i as u64, 4 * MIB))
                    .await
                    .expect("put");
            }
            for drive in &drives {
                drive.set_base_latency(Duration::from_millis(2));
            }
            let (unpaced, bytes) = heal_all(&store, &drives, &keys, &env).await;
            let rate = 64 * MIB as u64;
            let ideal = bytes as f64 / rate as f64;
            // The test means something only if the I/O time is a fair share of it.
            assert!(
                unpaced > ideal / 4.0,
                "I/O {unpaced} s, {ideal} s at the rate"
            );
            assert!(
                unpaced < ideal / 1.5,
                "I/O {unpaced} s, {ideal} s at the rate"
            );
            pace.set_bytes_per_second(rate);
            let (paced, moved) = heal_all(&store, &drives, &keys, &env).await;
            assert_eq!(moved, bytes);
            assert!(
                paced < ideal * 1.05,
                "{bytes} bytes took {paced} s at the rate, {ideal} s ideal, {unpaced} s of I/O"
            );
            assert!(
                paced > ideal - BURST.as_secs_f64(),
                "{paced} s, {ideal} s ideal"
            );
            for (i, key) in keys.iter().enumerate() {
                let read = store.get_object("bkt", key, None).await.expect("get");
                assert_eq!(
                    read.read_all().await.expect("read"),
                    body(i as u64, 4 * MIB)
                );
            }
        })
        .expect("the simulation ends");
}
