//! The index audit (`object/scan/index_audit.rs`) over simulated drives in virtual
//! time: a listing index that disagrees with its drive's records (a record removed or
//! put back behind the verbs' backs) is found by one pass, counted, and rebuilt from
//! the records, after which a pass finds nothing; writes and deletes racing with the
//! passes are never taken for a wrong index.

use crate::common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{body, sim_drives};
use shoal_io::{Drive, Env, SimDrive, SimEnv, SimExecutor};
use shoal_shards::object::scan::index_audit::audit_pass;
use shoal_shards::object::scan::{ScanHooks, ScanPace};
use shoal_shards::{PutOptions, SliceSource, Store, StoreConfig};

type SimStore = Store<SimDrive, SimEnv, SimEnv>;

/// A 2+2 store with bucket "bkt" and small objects inline in their records.
async fn new_store(drives: &[SimDrive], env: &SimEnv) -> SimStore {
    let config = StoreConfig {
        inline_chunk_max_bytes: 4 << 10,
        parity_chunks: Some(2),
        ..StoreConfig::default()
    };
    let store = Store::open_in(drives.to_vec(), env.clone(), env.clone(), 7, config)
        .await
        .expect("open store");
    store.make_bucket("bkt").await.expect("bucket");
    store
}

async fn put(store: &SimStore, key: &str, data: &[u8]) {
    let options = PutOptions {
        size_bytes: Some(data.len() as u64),
        ..PutOptions::default()
    };
    let mut source = SliceSource(data);
    store
        .put_object("bkt", key, &options, &mut source)
        .await
        .expect("put");
}

fn meta_path(key: &str) -> String {
    format!("bkt/{key}/_meta")
}

/// A pace the tests never wait on.
fn pace() -> ScanPace {
    ScanPace::new(1_000_000, 1 << 40, None, Duration::ZERO)
}

fn never() -> bool {
    false
}

/// One whole audit pass of the store's (single) shard.
async fn one_pass(store: &SimStore) {
    let hooks = ScanHooks {
        busy: &never,
        stopping: &never,
    };
    assert!(
        audit_pass(store, &pace(), &hooks).await,
        "the pass ran to its end"
    );
}

/// Waits (a bounded virtual while) until the store's listing indexes hold "bkt" whole.
async fn wait_for_indexes(store: &SimStore, env: &SimEnv) {
    for _ in 0..1000 {
        if store.listing_indexes_ready("bkt") {
            return;
        }
        env.sleep(Duration::from_millis(5)).await;
    }
    panic!("the listing indexes were not rebuilt within 5 s");
}

/// A record removed from one drive and an older record put back on another, both
/// behind the verbs' backs, leave those drives' indexes wrong: one pass finds both,
/// rebuilds them, and the next pass finds them right. Every key is compared on every
/// drive each pass.
#[test]
fn a_wrong_index_is_found_and_rebuilt() {
    let executor = SimExecutor::new(1);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            let store = new_store(&drives, &env).await;
            for i in 0..40 {
                put(&store, &format!("k{i:02}"), &body(i, 100)).await;
            }
            one_pass(&store).await;
            let clean = store.scan_progress();
            assert!(clean.index_audit_active);
            assert_eq!(clean.index_keys_audited, 4 * 40, "every key on every drive");
            assert_eq!(clean.index_mismatches, 0, "a healthy store has none");

            drives[1].delete_file(&meta_path("k07"));
            let older = drives[2].file_bytes(&meta_path("k30")).expect("record");
            put(&store, "k30", &body(300, 100)).await;
            drives[2]
                .write_file_atomic(&meta_path("k30"), &older)
                .await
                .expect("older record");
            one_pass(&store).await;
            let found = store.scan_progress();
            assert_eq!(found.index_mismatches, 2, "one per wrong drive");
            assert!(
                !store.listing_indexes_ready("bkt"),
                "the wrong indexes are rebuilt"
            );

            wait_for_indexes(&store, &env).await;
            one_pass(&store).await;
            let after = store.scan_progress();
            assert_eq!(after.index_mismatches, 2, "the rebuilt indexes agree");
            assert_eq!(
                after.index_keys_audited - found.index_keys_audited,
                4 * 40 - 1,
                "drive 1 no longer holds k07"
            );
        })
        .expect("simulation finishes");
}

/// Clients overwrite and delete keys while passes run, with drive latency so that
/// writes fall between a pass's two walks and between a record and its index entry:
/// no pass takes them for a wrong index.
#[test]
fn writes_racing_the_audit_are_not_mismatches() {
    let executor = SimExecutor::new(2);
    let env = executor.env();
    executor
        .run_until(async {
            let drives = sim_drives(&env, 4);
            for (i, drive) in drives.iter().enumerate() {
                drive.set_base_latency(Duration::from_micros(50 + 100 * i as u64));
            }
            let store = Rc::new(new_store(&drives, &env).await);
            for i in 0..30 {
                put(&store, &format!("k{i:02}"), &body(i, 100)).await;
            }
            let clients_done = Rc::new(Cell::new(0));
            for client in 0..3u64 {
                let (store, done, client_env) = (store.clone(), clients_done.clone(), env.clone());
                env.spawn(async move {
                    for op in 0..400u64 {
                        client_env
                            .sleep(Duration::from_millis(5 + (op * 13 + client) % 40))
                            .await;
                        let key = format!("k{:02}", (op * 7 + client * 11) % 30);
                        if op % 5 == 4 {
                            store.delete_object("bkt", &key).await.expect("delete");
                        } else {
                            put(&store, &key, &body(op * 3 + client, 100 + op as usize)).await;
                        }
                    }
                    done.set(done.get() + 1);
                });
            }
            let mut passes = 0;
            while clients_done.get() < 3 && passes < 1000 {
                one_pass(&store).await;
                passes += 1;
            }
            let progress = store.scan_progress();
            assert!(passes >= 3, "passes ran while the clients wrote: {passes}");
            assert!(progress.index_keys_audited > 0);
            assert!(
                progress.index_suspects_dismissed > 0,
                "writes fell between the walks: {progress:?}"
            );
            assert_eq!(progress.index_mismatches, 0, "{progress:?}");
            assert!(store.listing_indexes_ready("bkt"), "nothing was rebuilt");
        })
        .expect("simulation finishes");
}
