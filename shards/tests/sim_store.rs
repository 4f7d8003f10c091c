//! Deterministic simulation of a whole store (issue 11 item 7): one seeded single-thread
//! executor (`io::SimExecutor`) runs a store over simulated drives in virtual time,
//! several clients writing, reading, listing and deleting their own keys at once, and a
//! fault injector making some drives slow, hung, failing, full, forgetful (lost writes)
//! or rotting while they work; then the faults stop, every key is checked, the drives
//! crash and the store is reopened on them, and every key is checked again.
//!
//! The model is exact because each client owns its keys: for every key the set of
//! states a read may see (an acknowledged PUT's bytes, absent after an acknowledged
//! DELETE; a failed write must leave the previous state, DESIGN.md §4). Faults hit at
//! most `parity` drives of each set (chosen per seed), so everything acknowledged stays
//! readable. Healing runs all along (the shard's drain task over the heal queue,
//! through faults and the crash; then what is left queued is healed before the checks):
//! it must never change what a read may see.
//!
//! A failure prints its seed and the command that reruns exactly it (same trace hash):
//! `SHOAL_SEED=N cargo test -p shoal-shards --test suites -- sim_store::seeded`. CI runs
//! `SEEDS_DEFAULT` seeds; `scripts/sim.sh N` runs more.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_io::sim::SeedSweep;
use shoal_io::{Env, FaultRule, SimDrive, SimEnv, SimExecutor, SimFaults};
use shoal_shards::object::scan::index_audit::audit_pass;
use shoal_shards::object::scan::{ScanHooks, ScanPace};
use shoal_shards::{ByteRange, Error, ListQuery, PutOptions, SliceSource, Store, StoreConfig};

/// Seeds in the default (CI) run.
const SEEDS_DEFAULT: u64 = 1000;
/// Seeds of the mid-load crash variant in the default (CI) run.
const CRASH_SEEDS_DEFAULT: u64 = 300;
/// The latest virtual time (from the start of the load) a mid-load crash happens at.
const CRASH_AT_MAX: Duration = Duration::from_millis(40);
/// The most base latency a drive of the mid-load crash variant gets: operations take
/// time, so they overlap and a crash finds writes in flight (without it a load can
/// take no virtual time at all).
const CRASH_BASE_LATENCY_MAX: Duration = Duration::from_micros(300);
const BUCKET: &str = "sim";
/// Clients at once, each with its own keys.
const CLIENTS: usize = 3;
const KEYS_PER_CLIENT: usize = 3;
const OPS_PER_CLIENT: usize = 12;
/// Small stripes, so objects of a few hundred KiB span several.
const STRIPE_BYTES: usize = 64 << 10;
const OBJECT_MAX_BYTES: usize = 200 << 10;
/// A member slower than this fails its part of a request.
const MEMBER_DEADLINE: Duration = Duration::from_secs(2);

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

/// The fault model of one seed.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// Up to parity drives per set (the bad ones) fail, hang, fill up, rot, and lose
    /// writes they acknowledged; the others are perfect.
    Lying,
    /// Any drive fails now and then (errors, delays, hangs, full), but none lies: what
    /// it acknowledged it keeps.
    Failing,
}

/// What a read of one key may see: `None` is "absent".
#[derive(Debug, Clone)]
struct KeyModel {
    possible: Vec<Option<Rc<Vec<u8>>>>,
}

impl KeyModel {
    fn absent() -> Self {
        Self {
            possible: vec![None],
        }
    }

    fn allows(&self, seen: Option<&[u8]>) -> bool {
        self.possible
            .iter()
            .any(|p| p.as_deref().map(Vec::as_slice) == seen)
    }

    fn surely_present(&self) -> bool {
        self.possible.iter().all(Option::is_some)
    }

    fn surely_absent(&self) -> bool {
        self.possible.iter().all(Option::is_none)
    }
}

type Model = Rc<RefCell<BTreeMap<String, KeyModel>>>;

/// What the runs did, summed over seeds: proof that the simulation exercised the store
/// (a run where every request failed would check nothing).
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    puts_acked: u64,
    puts_failed: u64,
    reads_checked: u64,
    reads_failed: u64,
    deletes_acked: u64,
    lists_checked: u64,
    /// Mid-load crashes that found requests in flight.
    crashes_mid_load: u64,
    /// Objects the heal queue repaired (during the load or after it).
    healed: u64,
    /// Listing indexes the audit after the load found wrong (and rebuilt).
    index_mismatches: u64,
}

thread_local! {
    static STATS: Cell<Stats> = Cell::new(Stats::default());
    /// Set when this seed's process crashed mid-load: from then on every request's
    /// outcome is unknown to its client, as the connection died with the server.
    static CRASHED: Cell<bool> = const { Cell::new(false) };
}

fn crashed() -> bool {
    CRASHED.with(Cell::get)
}

fn count(f: impl FnOnce(&mut Stats)) {
    STATS.with(|s| {
        let mut stats = s.get();
        f(&mut stats);
        s.set(stats);
    });
}

/// Whole-store simulation over `SEEDS_DEFAULT` seeds (or `SHOAL_SEED`/`SHOAL_SEEDS`).
#[test]
fn seeded_store_simulation() {
    let report = SeedSweep::new(
        "cargo test -p shoal-shards --test suites -- sim_store::seeded",
        SEEDS_DEFAULT,
    )
    .run(simulate);
    let stats = STATS.with(Cell::get);
    let seeds = report.trace_hashes.len() as u64;
    eprintln!("sim_store: {seeds} seeds: {stats:?}");
    // Every seed's clients attempt OPS_PER_CLIENT ops each; most must have done real work.
    assert!(
        stats.puts_acked >= seeds,
        "too few acknowledged PUTs: {stats:?}"
    );
    assert!(
        stats.reads_checked >= seeds,
        "too few checked reads: {stats:?}"
    );
    assert!(
        stats.lists_checked > 0 && stats.deletes_acked > 0,
        "{stats:?}"
    );
}

/// The same simulation, but the process crashes at a random moment of the load (every
/// drive loses what was not durable, writes in flight are torn, the store's tasks die)
/// and a new process opens the drives: every acknowledged write must be there, and a
/// request cut by the crash may have happened or not, never half.
#[test]
fn seeded_crash_simulation() {
    let report = SeedSweep::new(
        "cargo test -p shoal-shards --test suites -- sim_store::seeded_crash",
        CRASH_SEEDS_DEFAULT,
    )
    .run(|executor: &SimExecutor| {
        let env = executor.env();
        executor
            .run_until(run(env, Crash::MidLoad))
            .map_err(|e| format!("simulation did not finish: {e}"))?
    });
    let stats = STATS.with(Cell::get);
    let seeds = report.trace_hashes.len() as u64;
    eprintln!("sim_store crash: {seeds} seeds: {stats:?}");
    assert!(
        stats.crashes_mid_load * 5 >= seeds * 2,
        "too few crashes hit the load: {stats:?}"
    );
    assert!(
        stats.puts_acked >= seeds / 2,
        "too few acknowledged PUTs: {stats:?}"
    );
}

/// Seed 505 found a read answering with the version an acknowledged PUT had replaced,
/// while members holding the new one were slow (fixed in `MetaRead::agreed`).
#[test]
fn seed_505_an_acknowledged_version_never_reverts() {
    simulate(&SimExecutor::new(505)).unwrap();
}

/// Seed 1363 found a PUT that could not read the current version committing anyway,
/// its rollback then taking copies of an acknowledged version away (fixed in put's
/// commit: it refuses when the replaced version is unknown).
#[test]
fn seed_1363_a_failed_put_keeps_the_acknowledged_version() {
    simulate(&SimExecutor::new(1363)).unwrap();
}

/// Seed 1449 found an acknowledged object unreadable: a failed overwrite's roll back
/// could not restore one drive's record (so removed it) and a read rolled the version
/// forward onto a drive without its data; GET read chunks only from drives whose record
/// matched, so the removed record's drive, which still held the data, was never asked
/// (fixed in `ObjectReader`: any member may serve a chunk, its record tag decides).
#[test]
fn seed_1449_a_chunk_is_read_from_any_member_that_holds_it() {
    simulate(&SimExecutor::new(1449)).unwrap();
}

/// Seed 1737 found a PUT refused with NoSuchBucket for a bucket that exists: the
/// bucket read stopped once too many drives had failed for read quorum, and the drives
/// it never asked were counted as saying "absent" (fixed in `bucket_exists_on_drives`:
/// a drive not asked is unknown, and the answer is 503, not 404).
#[test]
fn seed_1737_a_bucket_is_never_absent_for_drives_not_asked() {
    simulate(&SimExecutor::new(1737)).unwrap();
}

/// Seed 1775 (crash variant) found an overwritten version readable again: a DELETE
/// cut by the crash had removed the records of the version that replaced it on 3 of 6
/// drives, and the copies left, naming it as what they replaced, gave it read quorum
/// (fixed in `delete.rs`: a delete writes tombstones first, which vote for "deleted" and
/// for what they delete, and removes them only once every member holds one).
#[test]
fn seed_1775_a_delete_cut_by_a_crash_never_brings_back_an_overwritten_version() {
    let executor = SimExecutor::new(1775);
    let env = executor.env();
    executor
        .run_until(run(env, Crash::MidLoad))
        .expect("simulation finishes")
        .unwrap();
}

/// Seed 2951 (crash variant, 3+3, lying drives) found a key unreadable after a crash:
/// a PUT cut by it left its record on 3 members, one of which had lied about its data,
/// so the data was on 2; a read rolled the version forward over every member (fixed in
/// `roll_forward.rs`: a version short of write quorum is completed only when its data
/// reads back, and taken back when its data is proven lost).
#[test]
fn seed_2951_a_crash_cut_put_whose_data_was_lost_reads_as_the_old_state() {
    let executor = SimExecutor::new(2951);
    let env = executor.env();
    executor
        .run_until(run(env, Crash::MidLoad))
        .expect("simulation finishes")
        .unwrap();
}

/// When the process crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Crash {
    /// After the load is done and checked.
    AfterLoad,
    /// At a random moment of the load, then again after it.
    MidLoad,
}

/// One seed: build, load with faults, check, crash, reopen, check.
fn simulate(executor: &SimExecutor) -> Result<(), String> {
    let env = executor.env();
    executor
        .run_until(run(env, Crash::AfterLoad))
        .map_err(|e| format!("simulation did not finish: {e}"))?
}

async fn run(env: SimEnv, crash: Crash) -> Result<(), String> {
    CRASHED.with(|c| c.set(false));
    let mut rng = SmallRng::seed_from_u64(env.seed());
    let drive_count = [4, 6, 8, 12][rng.gen_range(0..4)];
    let drives: Vec<SimDrive> = (0..drive_count)
        .map(|i| SimDrive::new(&format!("d{i}"), env.seed() ^ (i as u64 + 1)).with_env(env.clone()))
        .collect();
    // A mid-load crash kills the process's handles: its tasks still scheduled after the
    // crash can no longer touch the drives the next process opens.
    let first_process: Vec<SimDrive> = match crash {
        Crash::AfterLoad => drives.clone(),
        Crash::MidLoad => drives.iter().map(SimDrive::process_handle).collect(),
    };
    let store = open(&first_process, &env, rng.r#gen()).await?;
    store
        .make_bucket(BUCKET)
        .await
        .map_err(|e| format!("make bucket: {e}"))?;
    let layout = store.layout();
    let bad = bad_drives(
        &mut rng,
        drive_count,
        layout.set.set_size(),
        layout.set.parity_chunks,
    );
    env.trace(bad.iter().fold(0, |acc, d| acc * 31 + *d as u64 + 1));
    let model: Model = Rc::default();
    for client in 0..CLIENTS {
        for k in 0..KEYS_PER_CLIENT {
            model
                .borrow_mut()
                .insert(key_name(client, k), KeyModel::absent());
        }
    }
    let store = Rc::new(store);
    let done = Rc::new(Cell::new(0));
    let failures: Rc<RefCell<Vec<String>>> = Rc::default();
    // Healing runs through the load, its faults and (crash variant) its crash: what
    // reads and writes queue is repaired while clients work.
    store.load_heal_journal(0).await;
    let healing_stopped = Rc::new(Cell::new(false));
    {
        let (store, stopped) = (store.clone(), healing_stopped.clone());
        env.spawn(async move { store.run_heal_queue(|| stopped.get() || crashed()).await });
    }
    for client in 0..CLIENTS {
        let (store, model, done, failures) =
            (store.clone(), model.clone(), done.clone(), failures.clone());
        let seed = rng.r#gen();
        env.spawn(async move {
            if let Err(why) = client_ops(&store, &model, client, seed).await {
                failures.borrow_mut().push(why);
            }
            done.set(done.get() + 1);
        });
    }
    let mode = if rng.gen_bool(0.5) {
        Mode::Lying
    } else {
        Mode::Failing
    };
    env.trace(mode as u64);
    if std::env::var_os("SIM_DEBUG").is_some() {
        eprintln!("{drive_count} drives, layout {layout:?}, mode {mode:?}, bad {bad:?}");
    }
    if crash == Crash::MidLoad {
        spawn_crash(&env, &drives, &done, env.seed());
    }
    inject_faults(&env, &drives, (mode, bad.as_slice()), &done, rng.r#gen()).await;
    healing_stopped.set(true);
    if let Some(why) = failures.borrow().first() {
        return Err(why.clone());
    }
    for drive in &drives {
        drive.clear_faults();
    }
    let store = if crashed() {
        drop(store);
        CRASHED.with(|c| c.set(false));
        let second_process: Vec<SimDrive> = drives.iter().map(SimDrive::process_handle).collect();
        let store = open(&second_process, &env, rng.r#gen()).await?;
        // A repair the crash cut is found again in the journal and finished.
        store.load_heal_journal(0).await;
        Rc::new(store)
    } else {
        store
    };
    check_after_load(&store, &model, mode, &env).await?;
    drop(store);
    for drive in &drives {
        drive.crash();
    }
    let reopened = open(&drives, &env, rng.r#gen()).await?;
    check_all(&reopened, &model, "after a crash and reopen").await?;
    // Listed from the records while the crash's listing indexes rebuild, then from them.
    list_all(&reopened, &model, "after a crash and reopen").await?;
    for _ in 0..INDEX_REBUILD_WAITS_MAX {
        if reopened.listing_indexes_ready(BUCKET) {
            return list_all(&reopened, &model, "after the listing indexes were rebuilt").await;
        }
        env.sleep(Duration::from_millis(10)).await;
    }
    Err("the listing indexes were not rebuilt after the crash".into())
}

/// With no fault left: healed, then every key read and listed as the model allows,
/// and every listing index checked against its records.
async fn check_after_load(
    store: &SimStore,
    model: &Model,
    mode: Mode,
    env: &SimEnv,
) -> Result<(), String> {
    heal_all(store).await;
    check_all(store, model, "after the load").await?;
    list_all(store, model, "after the load").await?;
    audit_indexes(store, mode, env).await
}

/// With no fault left, the index audit: every drive's listing index agrees with its
/// records whatever the load's failures did to the writes. Drives that lie may have
/// handed a rebuild damaged bytes (a record then left out of the index), so with them
/// the audit must find and rebuild such an index, and a second pass find nothing.
async fn audit_indexes(store: &SimStore, mode: Mode, env: &SimEnv) -> Result<(), String> {
    let never = || false;
    let hooks = ScanHooks {
        busy: &never,
        stopping: &never,
    };
    let pace = ScanPace::new(1_000_000, 1 << 40, None, Duration::ZERO);
    let mismatches = || store.scan_progress().index_mismatches;
    let before = mismatches();
    audit_pass(store, &pace, &hooks).await;
    let found = mismatches() - before;
    count(|s| s.index_mismatches += found);
    if found == 0 {
        return Ok(());
    }
    if matches!(mode, Mode::Failing) {
        return Err(format!(
            "the index audit found {found} listing index(es) that disagree with the records"
        ));
    }
    for _ in 0..INDEX_REBUILD_WAITS_MAX {
        if store.listing_indexes_ready(BUCKET) {
            break;
        }
        env.sleep(Duration::from_millis(10)).await;
    }
    audit_pass(store, &pace, &hooks).await;
    match mismatches() - before - found {
        0 => Ok(()),
        again => Err(format!(
            "the index audit found {again} listing index(es) wrong again after rebuilding them"
        )),
    }
}

/// Waits of 10 ms for the listing indexes to be rebuilt after the last crash.
const INDEX_REBUILD_WAITS_MAX: usize = 10_000;

/// With no fault left, a listing of the whole bucket, page by page, shows every key an
/// acknowledged PUT wrote and none an acknowledged DELETE removed.
async fn list_all(store: &SimStore, model: &Model, when: &str) -> Result<(), String> {
    let mut query = ListQuery {
        max_keys: 7,
        ..ListQuery::default()
    };
    let mut listed = std::collections::BTreeSet::new();
    for _ in 0..10_000 {
        let page = (store.list_objects(BUCKET, &query).await)
            .map_err(|e| format!("{when}: LIST failed with {e}"))?;
        listed.extend(page.objects.iter().map(|o| o.key.clone()));
        if !page.is_truncated {
            break;
        }
        query.start_after = page
            .next_start_after
            .ok_or("a truncated page names no last key")?;
    }
    for (key, expected) in model.borrow().iter() {
        check_listed(key, expected, listed.contains(key))
            .map_err(|why| format!("{when}: {why}"))?;
    }
    Ok(())
}

/// A listing showed `key` (`there`) or not: the model must allow it.
fn check_listed(key: &str, expected: &KeyModel, there: bool) -> Result<(), String> {
    if there && expected.surely_absent() {
        return Err(format!(
            "LIST shows {key}, which an acknowledged DELETE removed"
        ));
    }
    if !there && expected.surely_present() {
        return Err(format!(
            "LIST misses {key}, which an acknowledged PUT wrote"
        ));
    }
    Ok(())
}

/// Heals what is queued (bounded: healing queues nothing new once faults are gone,
/// but a member that still refuses could requeue an object).
async fn heal_all(store: &SimStore) {
    for _ in 0..CLIENTS * KEYS_PER_CLIENT * 4 {
        if !store.heal_next().await {
            break;
        }
    }
    store.write_heal_journal().await;
    let healed = store.heal_counts().healed;
    count(|s| s.healed += healed);
}

/// Crashes every drive at a random moment of the load (from a generator of its
/// own, so the seed's other choices stay what they were), unless the load ended first.
fn spawn_crash(env: &SimEnv, drives: &[SimDrive], done: &Rc<Cell<usize>>, seed: u64) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xC4A5_11ED);
    for drive in drives {
        let most = CRASH_BASE_LATENCY_MAX.as_micros() as u64;
        drive.set_base_latency(Duration::from_micros(rng.gen_range(1..=most)));
    }
    let at = Duration::from_micros(rng.gen_range(0..CRASH_AT_MAX.as_micros() as u64));
    let (env2, drives, done) = (env.clone(), drives.to_vec(), Rc::clone(done));
    env.spawn(async move {
        env2.sleep(at).await;
        if done.get() == CLIENTS {
            return;
        }
        if std::env::var_os("SIM_DEBUG").is_some() {
            eprintln!("CRASH at {at:?} into the load");
        }
        count(|s| s.crashes_mid_load += 1);
        CRASHED.with(|c| c.set(true));
        for drive in &drives {
            drive.crash();
        }
    });
}

async fn open(drives: &[SimDrive], env: &SimEnv, seed: u64) -> Result<SimStore, String> {
    let config = StoreConfig {
        stripe_size_bytes: STRIPE_BYTES,
        inline_chunk_max_bytes: 4 << 10,
        member_deadline: MEMBER_DEADLINE,
        ..StoreConfig::default()
    };
    Store::open_in(drives.to_vec(), env.clone(), env.clone(), seed, config)
        .await
        .map_err(|e| format!("open store: {e}"))
}

/// Up to `parity` drives of each set, chosen by the seed: the only ones faults touch.
fn bad_drives(rng: &mut SmallRng, count: usize, set_size: usize, parity: usize) -> Vec<usize> {
    let mut bad = Vec::new();
    for set_start in (0..count).step_by(set_size) {
        let how_many = rng.gen_range(0..=parity);
        let mut members: Vec<usize> = (set_start..set_start + set_size).collect();
        for _ in 0..how_many {
            bad.push(members.remove(rng.gen_range(0..members.len())));
        }
    }
    bad.sort_unstable();
    bad
}

fn key_name(client: usize, k: usize) -> String {
    format!("c{client}/k{k}")
}

/// Changes the faults every few virtual milliseconds, as `mode` says, until every
/// client is done; hangs are always released by a later change.
async fn inject_faults(
    env: &SimEnv,
    drives: &[SimDrive],
    (mode, bad): (Mode, &[usize]),
    done: &Cell<usize>,
    seed: u64,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    // Bounded: far more rounds than the clients need (each round is virtual time).
    for _ in 0..100_000 {
        if done.get() == CLIENTS {
            break;
        }
        match mode {
            Mode::Lying => {
                for &d in bad {
                    drives[d].set_faults(random_faults(&mut rng));
                }
            }
            Mode::Failing => {
                let d = rng.gen_range(0..drives.len());
                drives[d].set_faults(transient_faults(&mut rng));
            }
        }
        env.sleep(Duration::from_millis(rng.gen_range(1..50))).await;
    }
    for drive in drives {
        drive.clear_faults();
    }
    // Let the clients finish with clear drives (bounded).
    for _ in 0..100_000 {
        if done.get() == CLIENTS {
            return;
        }
        env.sleep(Duration::from_millis(10)).await;
    }
}

/// Faults that never lose what the drive acknowledged: failed reads and writes, a full
/// drive, delays and hangs.
fn transient_faults(rng: &mut SmallRng) -> SimFaults {
    let mut faults = SimFaults::default();
    match rng.gen_range(0..6) {
        0 => {}
        1 => faults.read_error = FaultRule::Probability(rng.gen_range(0.1..0.9)),
        2 => faults.write_error = FaultRule::Probability(rng.gen_range(0.1..0.9)),
        3 => faults.no_space_after_bytes = Some(rng.gen_range(0..200_000)),
        4 => faults.hang = FaultRule::Probability(rng.gen_range(0.1..0.5)),
        _ => faults.latency_jitter_mean = Duration::from_millis(rng.gen_range(0..400)),
    }
    faults
}

fn random_faults(rng: &mut SmallRng) -> SimFaults {
    let mut faults = SimFaults::default();
    match rng.gen_range(0..8) {
        0 => {}
        1 => faults.read_error = FaultRule::Probability(rng.gen_range(0.1..0.9)),
        2 => faults.write_error = FaultRule::Probability(rng.gen_range(0.1..0.9)),
        3 => faults.read_bit_flip = FaultRule::Probability(rng.gen_range(0.1..0.5)),
        4 => faults.no_space_after_bytes = Some(rng.gen_range(0..200_000)),
        5 => faults.hang = FaultRule::Probability(rng.gen_range(0.1..0.5)),
        6 => faults.lost_write = FaultRule::Probability(rng.gen_range(0.1..0.9)),
        _ => {
            faults.latency = Duration::from_micros(rng.gen_range(0..500));
            faults.latency_jitter_mean = Duration::from_millis(rng.gen_range(0..400));
        }
    }
    faults
}

/// One client's operations on its own keys, each checked against the model.
async fn client_ops(
    store: &SimStore,
    model: &Model,
    client: usize,
    seed: u64,
) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    for op in 0..OPS_PER_CLIENT {
        if crashed() {
            break;
        }
        let key = key_name(client, rng.gen_range(0..KEYS_PER_CLIENT));
        let context = format!("client {client} op {op} on {key}");
        match rng.gen_range(0..10) {
            0..=3 => put(store, model, &key, &mut rng).await,
            4..=6 => get(store, model, &key, &mut rng).await,
            7 => delete(store, model, &key).await,
            8 => head(store, model, &key).await,
            _ => list(store, model, client).await,
        }
        .map_err(|why| {
            if std::env::var_os("SIM_DEBUG").is_some() {
                dump(store, &key);
            }
            format!("{context}: {why}")
        })?;
        if std::env::var_os("SIM_DEBUG").is_some() {
            dump(store, &key);
            eprintln!(
                "{context}: ok; model now {:?}",
                model.borrow()[&key]
                    .possible
                    .iter()
                    .map(|p| p.as_ref().map(|b| b.len()))
                    .collect::<Vec<_>>()
            );
        }
    }
    Ok(())
}

async fn put(store: &SimStore, model: &Model, key: &str, rng: &mut SmallRng) -> Result<(), String> {
    let size = if rng.gen_bool(0.2) {
        0
    } else {
        rng.gen_range(1..OBJECT_MAX_BYTES)
    };
    let body: Vec<u8> = (0..size).map(|_| rng.r#gen()).collect();
    let options = PutOptions {
        size_bytes: Some(size as u64),
        ..PutOptions::default()
    };
    match store
        .put_object(BUCKET, key, &options, &mut SliceSource(&body))
        .await
    {
        // Ended after the crash, whatever its result: the client never heard it (the
        // connection died with the process), so it may have happened or not.
        _ if crashed() => {
            let mut model = model.borrow_mut();
            let state = model.get_mut(key).expect("every key is modelled");
            state.possible.push(Some(Rc::new(body)));
            Ok(())
        }
        Ok(info) => {
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!(
                    "PUT {key} {size}: version {:?} mod {}",
                    hex(&info.version_id),
                    info.mod_time_unix_nanos
                );
            }
            count(|s| s.puts_acked += 1);
            model.borrow_mut().insert(
                key.to_owned(),
                KeyModel {
                    possible: vec![Some(Rc::new(body))],
                },
            );
            Ok(())
        }
        // A failed write leaves the previous state (the model is unchanged).
        Err(e) if unavailable(&e) => {
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!("PUT {key} of {size} bytes failed: {e}");
            }
            count(|s| s.puts_failed += 1);
            Ok(())
        }
        Err(e) => Err(format!("PUT failed with {e}")),
    }
}

async fn get(store: &SimStore, model: &Model, key: &str, rng: &mut SmallRng) -> Result<(), String> {
    let expected = model.borrow()[key].clone();
    let range = (rng.gen_bool(0.3) && expected.surely_present()).then(|| {
        let first = rng.gen_range(0..OBJECT_MAX_BYTES as u64);
        ByteRange::FromTo {
            first,
            last: first + rng.gen_range(0..100_000),
        }
    });
    let result = match store.get_object(BUCKET, key, range).await {
        Ok(reader) => {
            if std::env::var_os("SIM_DEBUG").is_some() {
                let info = reader.info();
                eprintln!(
                    "GET {key} {range:?}: version {:?} size {} mod {}",
                    hex(&info.version_id),
                    info.size_bytes,
                    info.mod_time_unix_nanos
                );
            }
            reader.read_all().await.map(Some)
        }
        Err(Error::NoSuchKey) => Ok(None),
        Err(e) => Err(e),
    };
    match result {
        Ok(seen) => {
            count(|s| s.reads_checked += 1);
            check_read(&expected, seen.as_deref(), range)
        }
        Err(Error::InvalidRange) if range.is_some() => Ok(()),
        Err(_) if crashed() => Ok(()),
        Err(e) if unavailable(&e) => {
            count(|s| s.reads_failed += 1);
            Ok(())
        }
        Err(e) => Err(format!("GET failed with {e}")),
    }
}

/// A read saw `seen` of `range`: some state the model allows must give exactly that.
fn check_read(
    expected: &KeyModel,
    seen: Option<&[u8]>,
    range: Option<ByteRange>,
) -> Result<(), String> {
    let matches = expected.possible.iter().any(|p| match (p, seen) {
        (None, None) => true,
        (Some(body), Some(seen)) => match range {
            None => body.as_slice() == seen,
            Some(r) => r
                .resolve(body.len() as u64)
                .is_ok_and(|(s, e)| &body[s as usize..e as usize] == seen),
        },
        _ => false,
    });
    if matches {
        Ok(())
    } else {
        Err(format!(
            "read {} bytes ({:?}) that no acknowledged state has",
            seen.map_or(0, <[u8]>::len),
            if seen.is_some() { "present" } else { "absent" }
        ))
    }
}

async fn delete(store: &SimStore, model: &Model, key: &str) -> Result<(), String> {
    match store.delete_object(BUCKET, key).await {
        // Ended after the crash, whatever its result: unknown to the client, as a PUT.
        _ if crashed() => {
            let mut model = model.borrow_mut();
            let state = model.get_mut(key).expect("every key is modelled");
            state.possible.push(None);
            Ok(())
        }
        Ok(_) => {
            count(|s| s.deletes_acked += 1);
            model
                .borrow_mut()
                .insert(key.to_owned(), KeyModel::absent());
            Ok(())
        }
        Err(e) if unavailable(&e) => Ok(()),
        Err(e) => Err(format!("DELETE failed with {e}")),
    }
}

async fn head(store: &SimStore, model: &Model, key: &str) -> Result<(), String> {
    let expected = model.borrow()[key].clone();
    match store.head_object(BUCKET, key).await {
        Ok(info) => {
            let size_ok = expected.possible.iter().any(|p| {
                p.as_ref()
                    .is_some_and(|b| b.len() as u64 == info.size_bytes)
            });
            if size_ok {
                Ok(())
            } else {
                Err(format!("HEAD says {} bytes", info.size_bytes))
            }
        }
        Err(_) if crashed() => Ok(()),
        Err(Error::NoSuchKey) if expected.allows(None) => Ok(()),
        Err(Error::NoSuchKey) => Err("HEAD says absent, an acknowledged PUT says present".into()),
        Err(e) if unavailable(&e) => Ok(()),
        Err(e) => Err(format!("HEAD failed with {e}")),
    }
}

async fn list(store: &SimStore, model: &Model, client: usize) -> Result<(), String> {
    let query = ListQuery {
        prefix: format!("c{client}/"),
        ..ListQuery::default()
    };
    let page = match store.list_objects(BUCKET, &query).await {
        Ok(page) => page,
        Err(_) if crashed() => return Ok(()),
        Err(e) if unavailable(&e) => return Ok(()),
        Err(e) => return Err(format!("LIST failed with {e}")),
    };
    count(|s| s.lists_checked += 1);
    let listed: Vec<&str> = page.objects.iter().map(|o| o.key.as_str()).collect();
    let model = model.borrow();
    for (key, expected) in model.range(format!("c{client}/")..format!("c{client}0")) {
        check_listed(key, expected, listed.contains(&key.as_str()))?;
    }
    Ok(())
}

/// Every key reads as the model says, with no fault left: nothing may be unavailable.
async fn check_all(store: &SimStore, model: &Model, when: &str) -> Result<(), String> {
    let model = model.borrow().clone();
    for (key, expected) in &model {
        let seen = match store.get_object(BUCKET, key, None).await {
            Ok(reader) => reader
                .read_all()
                .await
                .map_err(|e| format!("{when}: GET {key} failed mid-way: {e}"))
                .map(Some)?,
            Err(Error::NoSuchKey) => None,
            Err(e) => return Err(format!("{when}: GET {key} failed: {e}")),
        };
        check_read(expected, seen.as_deref(), None)
            .map_err(|why| format!("{when}: {key}: {why}"))?;
    }
    Ok(())
}

/// Errors a request may end with while drives fail: the store could not reach quorum
/// or rebuild the data, and said so.
fn unavailable(e: &Error) -> bool {
    matches!(
        e,
        Error::InsufficientWriteQuorum { .. }
            | Error::InsufficientReadQuorum { .. }
            | Error::VersionUndecided { .. }
            | Error::DataUnavailable(_)
            | Error::Drive(_)
    )
}

/// A version id in hex, for the debug log.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// With `SIM_DEBUG` set: each drive's metadata copy of `key` (version/previous, `-`
/// for none), after each operation on it. Plain keys only (no escaped segments).
fn dump(store: &SimStore, key: &str) {
    use std::fmt::Write;
    let id = store.deployment_id();
    let mut line = String::new();
    for drive in store.drives() {
        let Some(bytes) = drive.file_bytes(&format!("{BUCKET}/{key}/_meta")) else {
            line.push_str(" -");
            continue;
        };
        match shoal_shards::record::meta::DriveMeta::decode(&bytes, &id) {
            Ok(m) => {
                let previous = m.previous.map(|p| hex(&p.info.version_id)[..4].to_owned());
                let _ = write!(
                    line,
                    " {}/{}",
                    &hex(&m.info.version_id)[..4],
                    previous.unwrap_or_default()
                );
            }
            Err(_) => line.push_str(" BAD"),
        }
    }
    eprintln!("  {key}:{line}");
}
