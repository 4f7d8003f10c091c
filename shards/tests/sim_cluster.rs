//! The first seeded cluster simulation (issue 12): 4 nodes × 1–3 drives in one seeded
//! executor (`io::SimExecutor`), one `Store` per node whose erasure sets span the
//! nodes (pool position p is drive p / 4 of node p % 4: local members for its own
//! drives, `PeerMember`s over a `SimLink` for the others'). A writer on one node puts
//! and deletes keys while readers on every node read and list them, and one node at a
//! time is partitioned (calls to it refused or hung until their deadline) part of the
//! time, some replies are lost after the far side acted, and every call has a seeded
//! latency. Then the network heals and every node reads every key.
//!
//! What it proves: writes succeed or fail closed (an error, and the previous state
//! stays); no read on any node answers wrong or stale bytes (read-after-write across
//! nodes); no listing misses a key that surely exists or shows one that surely does
//! not (list-after-write); nothing acknowledged is lost.
//!
//! One writing node per key: concurrent writers of one key on different nodes need
//! locks across nodes (issue 12 item 4), which do not exist yet; each node's lock
//! table only orders its own writers.
//!
//! A write that fails is in doubt, not undone: when a partition cuts the replies of a
//! commit that reached its members (seed 61: the writer's node cut off mid-commit, its
//! roll back unable to reach them), the version is on write quorum though the writer
//! saw timeouts, as with any network. So after a failed write a read may see either
//! state, but never a mix, and a write that failed before any member acted (refused,
//! a quorum of the previous version unreadable) changes nothing a read can tell from
//! the model's view.
//!
//! The model: per key, the states a read may see at rest (`possible`: an acknowledged
//! PUT's bytes or absence after an acknowledged DELETE), and a log of every state a
//! write in flight tried; a read may see what was possible when it started or any
//! state tried while it ran.
//!
//! A failure prints its seed and the command that reruns exactly it:
//! `SHOAL_SEED=N cargo test -p shoal-shards --test sim_cluster`. CI runs
//! `SEEDS_DEFAULT` seeds; `SHOAL_SEEDS=N` runs more.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use shoal_io::sim::SeedSweep;
use shoal_io::{Clock, Env, SimDrive, SimEnv, SimExecutor};
use shoal_shards::member::peer::link::PeerLink;
use shoal_shards::member::peer::sim_link::{Cut, SimLink, SimNet};
use shoal_shards::member::{LocalMember, Member, PeerMember};
use shoal_shards::{Error, ListQuery, PutOptions, SliceSource, Store, StoreConfig};

/// Seeds in the default (CI) run.
const SEEDS_DEFAULT: u64 = 100;
const NODES: usize = 4;
const BUCKET: &str = "cluster";
const KEYS: usize = 5;
const WRITES: usize = 14;
const READS_PER_NODE: usize = 14;
/// Small stripes, so objects of a few hundred KiB span several.
const STRIPE_BYTES: usize = 64 << 10;
const OBJECT_MAX_BYTES: usize = 160 << 10;
/// A member slower than this fails its part of a request.
const MEMBER_DEADLINE: Duration = Duration::from_secs(2);
/// Each way of a call takes up to this long.
const LINK_LATENCY_MAX: Duration = Duration::from_micros(400);

type SimStore = Store<SimDrive, SimEnv, SimEnv>;
type State = Option<Rc<Vec<u8>>>;

/// What reads of one key may see.
#[derive(Debug, Clone)]
struct KeyModel {
    /// The states a read may see when no write is in flight.
    possible: Vec<State>,
    /// Every state a write tried, in order (reads during a write may see it).
    tried: Vec<State>,
    /// The state a write in flight tries now.
    in_flight: Option<State>,
}

type Model = Rc<RefCell<BTreeMap<String, KeyModel>>>;

/// What a read saw may come from: the possible states at its start and the states
/// tried since.
struct ReadWindow {
    possible: Vec<State>,
    tried_from: usize,
}

impl ReadWindow {
    fn open(model: &Model, key: &str) -> Self {
        let model = model.borrow();
        let state = &model[key];
        let mut possible = state.possible.clone();
        possible.extend(state.in_flight.clone());
        Self {
            possible,
            tried_from: state.tried.len(),
        }
    }

    /// Every state the read may have seen, once it ended.
    fn allowed(&self, model: &Model, key: &str) -> Vec<State> {
        let model = model.borrow();
        let mut allowed = self.possible.clone();
        allowed.extend(model[key].tried[self.tried_from..].iter().cloned());
        allowed
    }
}

/// Sums over seeds: proof that the runs did real work.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    writes_acked: u64,
    writes_failed: u64,
    reads_checked: u64,
    reads_failed: u64,
    lists_checked: u64,
    partitions: u64,
}

thread_local! {
    static STATS: Cell<Stats> = Cell::new(Stats::default());
}

fn count(f: impl FnOnce(&mut Stats)) {
    STATS.with(|s| {
        let mut stats = s.get();
        f(&mut stats);
        s.set(stats);
    });
}

/// The cluster simulation over `SEEDS_DEFAULT` seeds (or `SHOAL_SEED`/`SHOAL_SEEDS`).
#[test]
fn seeded_cluster_simulation() {
    let report = SeedSweep::new(
        "cargo test -p shoal-shards --test sim_cluster",
        SEEDS_DEFAULT,
    )
    .run(|executor: &SimExecutor| {
        let env = executor.env();
        executor
            .run_until(run(env))
            .map_err(|e| format!("simulation did not finish: {e}"))?
    });
    let stats = STATS.with(Cell::get);
    let seeds = report.trace_hashes.len() as u64;
    eprintln!("sim_cluster: {seeds} seeds: {stats:?}");
    assert!(
        stats.writes_acked >= seeds * 3,
        "too few acknowledged writes: {stats:?}"
    );
    assert!(
        stats.reads_checked >= seeds * 10,
        "too few checked reads: {stats:?}"
    );
    assert!(
        stats.lists_checked >= seeds,
        "too few checked listings: {stats:?}"
    );
    assert!(
        stats.partitions >= seeds / 2,
        "too few partitions: {stats:?}"
    );
}

/// A cluster of `NODES` nodes on one simulated network.
struct Cluster {
    stores: Vec<Rc<SimStore>>,
    net: Rc<SimNet<SimDrive>>,
}

async fn run(env: SimEnv) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(env.seed());
    let drives_per_node = rng.gen_range(1..=3);
    if std::env::var_os("SIM_DEBUG").is_some() {
        eprintln!("{drives_per_node} drives per node");
    }
    let cluster = build(&env, drives_per_node, &mut rng).await?;
    cluster.net.set_latency_max(LINK_LATENCY_MAX);
    let stores = &cluster.stores;
    let writer = rng.gen_range(0..NODES);
    stores[writer]
        .make_bucket(BUCKET)
        .await
        .map_err(|e| format!("make bucket: {e}"))?;
    if rng.gen_bool(0.5) {
        cluster
            .net
            .set_drop_reply_per_million(rng.gen_range(1_000..30_000));
    }
    let model: Model = Rc::new(RefCell::new(
        (0..KEYS)
            .map(|k| {
                let state = KeyModel {
                    possible: vec![None],
                    tried: Vec::new(),
                    in_flight: None,
                };
                (key_name(k), state)
            })
            .collect(),
    ));
    let done = Rc::new(Cell::new(0usize));
    let failures: Rc<RefCell<Vec<String>>> = Rc::default();
    let task =
        |name: String,
         work: std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>>>>| {
            let (done, failures) = (Rc::clone(&done), Rc::clone(&failures));
            env.spawn(async move {
                if let Err(why) = work.await {
                    failures.borrow_mut().push(format!("{name}: {why}"));
                }
                done.set(done.get() + 1);
            });
        };
    let (store, m, seed) = (Rc::clone(&stores[writer]), Rc::clone(&model), rng.r#gen());
    task(
        format!("writer on node {writer}"),
        Box::pin(async move { write_load(&store, &m, seed).await }),
    );
    for (node, store) in stores.iter().enumerate() {
        let (store, m, seed) = (Rc::clone(store), Rc::clone(&model), rng.r#gen());
        task(
            format!("reader on node {node}"),
            Box::pin(async move { read_load(&store, &m, seed).await }),
        );
    }
    partitions(&env, &cluster.net, &done, NODES + 1, &mut rng).await;
    if let Some(why) = failures.borrow().first() {
        return Err(why.clone());
    }
    cluster.net.partition_none();
    cluster.net.set_drop_reply_per_million(0);
    final_check(stores, &model).await
}

/// Formats the drives as one deployment, then opens a store on every node over the
/// whole pool: its own drives local, the others' behind links.
async fn build(
    env: &SimEnv,
    drives_per_node: usize,
    rng: &mut SmallRng,
) -> Result<Cluster, String> {
    let config = StoreConfig {
        stripe_size_bytes: STRIPE_BYTES,
        member_deadline: MEMBER_DEADLINE,
        ..StoreConfig::default()
    };
    let pool = NODES * drives_per_node;
    // Pool position p is drive p / NODES of node p % NODES: a set spans the nodes.
    let drives: Vec<SimDrive> = (0..pool)
        .map(|p| {
            let name = format!("n{}/d{}", p % NODES, p / NODES);
            SimDrive::new(&name, env.seed() ^ (p as u64 + 1)).with_env(env.clone())
        })
        .collect();
    let formatted = Store::open_in(
        drives.clone(),
        env.clone(),
        env.clone(),
        rng.r#gen(),
        config.clone(),
    )
    .await
    .map_err(|e| format!("format: {e}"))?;
    let deployment_id = formatted.deployment_id();
    drop(formatted);
    let net: Rc<SimNet<SimDrive>> = Rc::new(SimNet::default());
    let local: Vec<Rc<Member<SimDrive>>> = drives
        .iter()
        .map(|d| {
            let member = LocalMember::with_leases(d.clone(), env.clone(), config.lease_duration);
            Rc::new(Member::Local(member))
        })
        .collect();
    for node in 0..NODES {
        net.add_node(local.iter().skip(node).step_by(NODES).cloned().collect());
    }
    let mut stores = Vec::with_capacity(NODES);
    for node in 0..NODES {
        let links: Vec<Rc<dyn PeerLink>> = (0..NODES)
            .map(|to| {
                let link = SimLink::new(env.clone(), Rc::clone(&net), (node, to), rng.r#gen());
                Rc::new(link) as Rc<dyn PeerLink>
            })
            .collect();
        let members = (0..pool)
            .map(|p| {
                let owner = p % NODES;
                if owner == node {
                    return Rc::clone(&local[p]);
                }
                let clock_env = env.clone();
                let now = Rc::new(move || clock_env.monotonic_nanos());
                let name = format!("n{owner}/d{}", p / NODES);
                let drive_index = u32::try_from(p / NODES).expect("few drives");
                let peer = PeerMember::new(
                    name,
                    drive_index,
                    Rc::clone(&links[owner]),
                    now,
                    MEMBER_DEADLINE,
                );
                Rc::new(Member::Peer(peer))
            })
            .collect();
        let node_config = StoreConfig {
            clean_tmp_at_open: false,
            ..config.clone()
        };
        let store = Store::open_members_in(
            members,
            deployment_id,
            (env.clone(), env.clone()),
            rng.r#gen(),
            node_config,
        )
        .await
        .map_err(|e| format!("open node {node}: {e}"))?;
        stores.push(Rc::new(store));
    }
    Ok(Cluster { stores, net })
}

fn key_name(k: usize) -> String {
    format!("dir/key-{k}")
}

/// Whether `e` is a refusal a client may get while members are cut off (503s).
fn unavailable(e: &Error) -> bool {
    matches!(
        e,
        Error::InsufficientWriteQuorum { .. }
            | Error::InsufficientReadQuorum { .. }
            | Error::VersionUndecided { .. }
            | Error::DataUnavailable(_)
            | Error::LeaseLost
            | Error::Drive(_)
    )
}

/// The writer: PUTs (sometimes empty) and DELETEs of its keys, one at a time.
async fn write_load(store: &SimStore, model: &Model, seed: u64) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    for op in 0..WRITES {
        let key = key_name(rng.gen_range(0..KEYS));
        let state: State = if rng.gen_bool(0.8) {
            let size = if rng.gen_bool(0.2) {
                0
            } else {
                rng.gen_range(1..OBJECT_MAX_BYTES)
            };
            Some(Rc::new((0..size).map(|_| rng.r#gen()).collect()))
        } else {
            None
        };
        {
            let mut model = model.borrow_mut();
            let modelled = model.get_mut(&key).expect("modelled");
            modelled.tried.push(state.clone());
            modelled.in_flight = Some(state.clone());
        }
        let result = match &state {
            Some(body) => {
                let options = PutOptions {
                    size_bytes: Some(body.len() as u64),
                    ..PutOptions::default()
                };
                let mut source = SliceSource(body);
                let put = store.put_object(BUCKET, &key, &options, &mut source);
                put.await.map(|_| ())
            }
            None => store.delete_object(BUCKET, &key).await.map(|_| ()),
        };
        model
            .borrow_mut()
            .get_mut(&key)
            .expect("modelled")
            .in_flight = None;
        match result {
            Ok(()) => {
                if std::env::var_os("SIM_DEBUG").is_some() {
                    let len = state.as_ref().map(|b| b.len());
                    eprintln!("write {op} of {key} ({len:?} bytes) acked");
                }
                count(|s| s.writes_acked += 1);
                model.borrow_mut().get_mut(&key).expect("modelled").possible = vec![state];
            }
            // A failed write is in doubt (see the module comment): either state.
            Err(e) if unavailable(&e) => {
                let mut model = model.borrow_mut();
                model
                    .get_mut(&key)
                    .expect("modelled")
                    .possible
                    .push(state.clone());
                if std::env::var_os("SIM_DEBUG").is_some() {
                    let len = state.as_ref().map(|b| b.len());
                    eprintln!(
                        "write {op} of {key} ({len:?} bytes) failed: {e:?} at {} ms",
                        store.clock().now_unix_nanos() / 1_000_000
                    );
                }
                count(|s| s.writes_failed += 1);
            }
            Err(e) => return Err(format!("write {op} of {key} failed with {e}")),
        }
    }
    Ok(())
}

/// A reader: GETs and listings from its node, each checked against the model.
async fn read_load(store: &SimStore, model: &Model, seed: u64) -> Result<(), String> {
    let mut rng = SmallRng::seed_from_u64(seed);
    for _ in 0..READS_PER_NODE {
        if rng.gen_bool(0.2) {
            list_checked(store, model).await?;
        } else {
            let key = key_name(rng.gen_range(0..KEYS));
            read_checked(store, model, &key).await?;
        }
    }
    Ok(())
}

/// Reads `key` and checks what it saw; a refusal (503) is allowed.
async fn read_checked(store: &SimStore, model: &Model, key: &str) -> Result<(), String> {
    let window = ReadWindow::open(model, key);
    let seen = match store.get_object(BUCKET, key, None).await {
        Ok(reader) => reader.read_all().await.map(Some),
        Err(Error::NoSuchKey) => Ok(None),
        Err(e) => Err(e),
    };
    let seen = match seen {
        Ok(seen) => seen,
        Err(e) if unavailable(&e) => {
            count(|s| s.reads_failed += 1);
            return Ok(());
        }
        Err(e) => return Err(format!("GET {key}: {e}")),
    };
    let allowed = window.allowed(model, key);
    if !allowed
        .iter()
        .any(|a| a.as_deref().map(Vec::as_slice) == seen.as_deref())
    {
        let lens: Vec<_> = allowed
            .iter()
            .map(|a| a.as_ref().map(|b| b.len()))
            .collect();
        let seen_len = seen.as_ref().map(Vec::len);
        return Err(format!(
            "GET {key} saw {seen_len:?} bytes; allowed {lens:?}"
        ));
    }
    count(|s| s.reads_checked += 1);
    Ok(())
}

/// Lists the bucket and checks every key: listed only if it may exist, and listed if
/// it surely exists.
async fn list_checked(store: &SimStore, model: &Model) -> Result<(), String> {
    let windows: Vec<(String, ReadWindow)> = (0..KEYS)
        .map(|k| (key_name(k), ReadWindow::open(model, &key_name(k))))
        .collect();
    let page = match store.list_objects(BUCKET, &ListQuery::default()).await {
        Ok(page) => page,
        Err(e) if unavailable(&e) => return Ok(()),
        Err(e) => return Err(format!("LIST: {e}")),
    };
    for (key, window) in windows {
        let allowed = window.allowed(model, &key);
        let listed = page.objects.iter().any(|o| o.key == key);
        if !allowed.iter().any(|a| a.is_some() == listed) {
            return Err(format!(
                "LIST shows {key}: {listed}; allowed presence {:?}",
                allowed.iter().map(Option::is_some).collect::<Vec<_>>()
            ));
        }
    }
    count(|s| s.lists_checked += 1);
    Ok(())
}

/// Cuts one node at a time off for a while, until the `tasks` are done.
async fn partitions(
    env: &SimEnv,
    net: &SimNet<SimDrive>,
    done: &Cell<usize>,
    tasks: usize,
    rng: &mut SmallRng,
) {
    // Bounded: a load that never ends is reported by the executor's deadlock check,
    // and this loop ends after this many rounds whatever happens.
    for _ in 0..10_000 {
        if done.get() == tasks {
            return;
        }
        env.sleep(Duration::from_millis(rng.gen_range(1..40))).await;
        if rng.gen_bool(0.4) {
            let node = rng.gen_range(0..NODES);
            let cut = if rng.gen_bool(0.5) {
                Cut::Refuse
            } else {
                Cut::Hang
            };
            net.partition(node, Some(cut));
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!(
                    "{} ms: node {node} cut ({cut:?})",
                    env.monotonic_nanos() / 1_000_000
                );
            }
            count(|s| s.partitions += 1);
            env.sleep(Duration::from_millis(rng.gen_range(1..3_000)))
                .await;
            net.partition(node, None);
            if std::env::var_os("SIM_DEBUG").is_some() {
                eprintln!(
                    "{} ms: node {node} healed",
                    env.monotonic_nanos() / 1_000_000
                );
            }
        }
    }
}

/// After the network healed: every node reads every key, and sees exactly the state
/// the model allows (nothing acknowledged lost, no failed write visible).
async fn final_check(stores: &[Rc<SimStore>], model: &Model) -> Result<(), String> {
    for (node, store) in stores.iter().enumerate() {
        for k in 0..KEYS {
            let key = key_name(k);
            let window = ReadWindow::open(model, &key);
            let seen = match store.get_object(BUCKET, &key, None).await {
                Ok(reader) => reader.read_all().await.map(Some),
                Err(Error::NoSuchKey) => Ok(None),
                Err(e) => Err(e),
            }
            .map_err(|e| format!("final GET {key} on node {node}: {e}"))?;
            let allowed = window.possible;
            if !allowed
                .iter()
                .any(|a| a.as_deref().map(Vec::as_slice) == seen.as_deref())
            {
                return Err(format!(
                    "final GET {key} on node {node} saw {:?} bytes",
                    seen.map(|s| s.len())
                ));
            }
        }
        list_checked(store, model).await?;
    }
    Ok(())
}
