//! The seeded cluster simulation (issue 12): 4 nodes × 1–3 drives in one seeded
//! executor (`io::SimExecutor`), one `Store` per node whose erasure sets span the
//! nodes (pool position p is drive p / 4 of node p % 4: local members for its own
//! drives, `PeerMember`s over a `SimLink` for the others'), locking across the nodes
//! (`KeyLocker::cluster`: a quorum of the nodes' lock tables, reached by the lock
//! verbs over the same links), each node's wall clock off by a seeded skew of up to
//! `SKEW_MAX` either way. Every node races to create the bucket (exactly one wins);
//! then writers on every node put and delete the same keys while readers on every
//! node read and list them, and every node races to create a second bucket (at most
//! one wins: a race under faults may leave none). One node at a time is partitioned
//! (calls to it refused or hung until their deadline) part of the time, some replies
//! are lost after the far side acted, and every call has a seeded latency. Then the
//! network heals and every node reads every key.
//!
//! What it proves: writes succeed or fail closed (an error, and the previous state
//! stays); no read on any node answers wrong or stale bytes (read-after-write across
//! nodes); no listing misses a key that surely exists or shows one that surely does
//! not (list-after-write), nor one with a size it cannot have; nothing acknowledged is
//! lost.
//!
//! Writers of one key on different nodes are ordered by the cluster's locks: an
//! acknowledged write is what a later read sees, unless a write that overlapped it in
//! time came after it (the model allows exactly those).
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
//! PUT's bytes or absence after an acknowledged DELETE, with the states of the writes
//! that overlapped it), and a log of every state a write tried; a read may see what was
//! possible when it started, what was in flight then, or any state tried while it ran.
//!
//! `thirty_two_creators_of_one_bucket` races 32 CreateBucket calls spread over the 4
//! nodes with no faults: exactly one succeeds, the others answer
//! `BucketAlreadyOwnedByYou` (what `make_bucket` answers for an existing bucket: one
//! account, so S3's answer to its owner).
//!
//! A failure prints its seed and the command that reruns exactly it:
//! `SHOAL_SEED=N cargo test -p shoal-shards --test suites -- sim_cluster::`. CI runs
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
use shoal_shards::set::lock_service::NodeLockDesk;
use shoal_shards::set::shard_lock::KeyLocker;
use shoal_shards::{Error, ListQuery, PutOptions, SliceSource, Store, StoreConfig};

/// Seeds in the default (CI) run.
const SEEDS_DEFAULT: u64 = 500;
const NODES: usize = 4;
const BUCKET: &str = "cluster";
const KEYS: usize = 5;
/// Writes per writer (one writer on each node).
const WRITES: usize = 6;
/// A node's wall clock is off by up to this much, either way.
const SKEW_MAX: Duration = Duration::from_secs(5);
const READS_PER_NODE: usize = 14;
/// Small stripes, so objects of a few hundred KiB span several.
const STRIPE_BYTES: usize = 64 << 10;
const OBJECT_MAX_BYTES: usize = 160 << 10;
/// A member slower than this fails its part of a request.
const MEMBER_DEADLINE: Duration = Duration::from_secs(2);
/// Each way of a call takes up to this long.
const LINK_LATENCY_MAX: Duration = Duration::from_micros(400);

type SimStore = Store<SimDrive, SkewEnv, SimEnv>;

/// The simulation's environment with this node's wall clock off by `skew_nanos`
/// (monotonic time, timers and tasks as they are: clock skew is between wall clocks).
#[derive(Clone)]
struct SkewEnv {
    env: SimEnv,
    skew_nanos: i64,
}

impl Clock for SkewEnv {
    fn now_unix_nanos(&self) -> u64 {
        self.env
            .now_unix_nanos()
            .saturating_add_signed(self.skew_nanos)
    }
}

impl Env for SkewEnv {
    fn monotonic_nanos(&self) -> u64 {
        self.env.monotonic_nanos()
    }

    fn sleep(&self, duration: Duration) -> impl std::future::Future<Output = ()> + 'static {
        self.env.sleep(duration)
    }

    fn spawn<F: std::future::Future<Output = ()> + 'static>(&self, task: F) {
        self.env.spawn(task);
    }

    fn yield_now(&self) -> impl std::future::Future<Output = ()> + 'static {
        self.env.yield_now()
    }
}
type State = Option<Rc<Vec<u8>>>;

/// What reads of one key may see.
#[derive(Debug, Clone)]
struct KeyModel {
    /// The states a read may see when no write is in flight.
    possible: Vec<State>,
    /// Every state a write tried, in order (reads during a write may see it).
    tried: Vec<State>,
    /// The states writes in flight try now, by write.
    in_flight: BTreeMap<u64, State>,
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
        possible.extend(state.in_flight.values().cloned());
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
    /// Bucket races run, and their winners (exactly one each without faults).
    bucket_races: u64,
    bucket_winners: u64,
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
        "cargo test -p shoal-shards --test suites -- sim_cluster::",
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
    assert!(
        stats.bucket_races >= seeds * 2 && stats.bucket_winners >= seeds,
        "bucket races not run: {stats:?}"
    );
}

/// 32 concurrent CreateBucket calls of one name, spread over the 4 nodes, with no
/// faults but the links' latency: exactly one succeeds and every other answers
/// `BucketAlreadyOwnedByYou`, and the bucket exists on every node afterwards.
#[test]
fn thirty_two_creators_of_one_bucket() {
    const CREATORS: usize = 32;
    for seed in [1, 2, 3] {
        let executor = SimExecutor::new(seed);
        let env = executor.env();
        let answers = executor
            .run_until(async {
                let mut rng = SmallRng::seed_from_u64(seed);
                let cluster = build(&env, 2, &mut rng).await.expect("cluster");
                cluster.net.set_latency_max(LINK_LATENCY_MAX);
                let racing = (0..CREATORS).map(|i| {
                    let store = Rc::clone(&cluster.stores[i % NODES]);
                    async move { store.make_bucket("contested").await }
                });
                let answers = futures_util::future::join_all(racing).await;
                for store in &cluster.stores {
                    assert!(matches!(store.bucket_exists("contested").await, Ok(true)));
                }
                answers
            })
            .expect("the race ends");
        let won = answers.iter().filter(|a| a.is_ok()).count();
        assert_eq!(won, 1, "seed {seed}: {answers:?}");
        assert!(
            answers
                .iter()
                .all(|a| matches!(a, Ok(()) | Err(Error::BucketAlreadyOwnedByYou))),
            "seed {seed}: {answers:?}"
        );
    }
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
    // No faults yet: exactly one of the racing creators wins.
    let winners = race_bucket(stores, BUCKET).await?;
    if winners != 1 {
        return Err(format!("{winners} creators of {BUCKET} won, not one"));
    }
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
                    in_flight: BTreeMap::new(),
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
    let write_ids = Rc::new(Cell::new(0u64));
    for (node, node_store) in stores.iter().enumerate() {
        let (store, m, seed) = (Rc::clone(node_store), Rc::clone(&model), rng.r#gen());
        let ids = Rc::clone(&write_ids);
        task(
            format!("writer on node {node}"),
            Box::pin(async move { write_load(&store, &m, &ids, seed).await }),
        );
        let (store, m, seed) = (Rc::clone(node_store), Rc::clone(&model), rng.r#gen());
        task(
            format!("reader on node {node}"),
            Box::pin(async move { read_load(&store, &m, seed).await }),
        );
    }
    let racers: Vec<Rc<SimStore>> = stores.clone();
    task(
        "bucket race under faults".to_owned(),
        Box::pin(async move {
            let winners = race_bucket(&racers, "raced").await?;
            if winners > 1 {
                return Err(format!("{winners} creators of one bucket won"));
            }
            Ok(())
        }),
    );
    partitions(&env, &cluster.net, &done, 2 * NODES + 1, &mut rng).await;
    if let Some(why) = failures.borrow().first() {
        return Err(why.clone());
    }
    cluster.net.partition_none();
    cluster.net.set_drop_reply_per_million(0);
    final_check(stores, &model).await
}

/// Every store creates `bucket` at once; how many succeeded. Each other answer is
/// `BucketAlreadyOwnedByYou` or a refusal under faults (503).
async fn race_bucket(stores: &[Rc<SimStore>], bucket: &str) -> Result<u64, String> {
    let racing = stores.iter().map(|store| {
        let (store, bucket) = (Rc::clone(store), bucket.to_owned());
        async move { store.make_bucket(&bucket).await }
    });
    let answers = futures_util::future::join_all(racing).await;
    let mut winners = 0;
    for answer in answers {
        match answer {
            Ok(()) => winners += 1,
            Err(Error::BucketAlreadyOwnedByYou) => {}
            Err(e) if unavailable(&e) => {}
            Err(e) => return Err(format!("create {bucket}: {e}")),
        }
    }
    count(|s| {
        s.bucket_races += 1;
        s.bucket_winners += winners;
    });
    Ok(winners)
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
        let skew_max_nanos = i64::try_from(SKEW_MAX.as_nanos()).expect("small");
        let clock = SkewEnv {
            env: env.clone(),
            skew_nanos: rng.gen_range(-skew_max_nanos..=skew_max_nanos),
        };
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
        // One shard per node: its own table, the cluster's quorum over the links.
        let own = KeyLocker::sharded_in(clock.clone(), 0, Vec::new());
        net.set_lock_desk(node, Rc::new(NodeLockDesk::new(&own, deployment_id)));
        let peers = (0..NODES)
            .map(|to| (to != node).then(|| Rc::clone(&links[to])))
            .collect();
        let store = Store::open_members_in(
            members,
            deployment_id,
            (clock, env.clone()),
            rng.r#gen(),
            node_config,
        )
        .await
        .map_err(|e| format!("open node {node}: {e}"))?
        .with_locker(KeyLocker::cluster(own, peers));
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

/// What a write may have left once it ended: its own state, and every state of a write
/// that overlapped it (in flight when it started, or started while it ran), since the
/// locks may have ordered any of them after it.
struct WriteWindow {
    id: u64,
    overlapping: Vec<State>,
    tried_from: usize,
}

impl WriteWindow {
    fn open(model: &Model, key: &str, id: u64, state: &State) -> Self {
        let mut model = model.borrow_mut();
        let modelled = model.get_mut(key).expect("modelled");
        let window = Self {
            id,
            overlapping: modelled.in_flight.values().cloned().collect(),
            tried_from: modelled.tried.len() + 1,
        };
        modelled.tried.push(state.clone());
        modelled.in_flight.insert(id, state.clone());
        window
    }

    /// Ends the write: acknowledged (`true`) or in doubt.
    fn close(self, model: &Model, key: &str, state: State, acked: bool) {
        let mut model = model.borrow_mut();
        let modelled = model.get_mut(key).expect("modelled");
        modelled.in_flight.remove(&self.id);
        if acked {
            let mut possible = vec![state];
            possible.extend(self.overlapping);
            possible.extend(modelled.tried[self.tried_from..].iter().cloned());
            modelled.possible = possible;
        } else {
            modelled.possible.push(state);
        }
    }
}

/// A writer: PUTs (sometimes empty) and DELETEs of the keys, one at a time.
async fn write_load(
    store: &SimStore,
    model: &Model,
    ids: &Cell<u64>,
    seed: u64,
) -> Result<(), String> {
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
        ids.set(ids.get() + 1);
        let window = WriteWindow::open(model, &key, ids.get(), &state);
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
        match result {
            Ok(()) => {
                if std::env::var_os("SIM_DEBUG").is_some() {
                    let len = state.as_ref().map(|b| b.len());
                    eprintln!("write {op} of {key} ({len:?} bytes) acked");
                }
                count(|s| s.writes_acked += 1);
                window.close(model, &key, state, true);
            }
            // A failed write is in doubt (see the module comment): either state.
            Err(e) if unavailable(&e) => {
                window.close(model, &key, state.clone(), false);
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
        let object = page.objects.iter().find(|o| o.key == key);
        // Listed with the size of a state it may have (the size a listing shows comes
        // from the members' summaries when they agree), or absent if it may be.
        let fits = |state: &State| match (state, object) {
            (Some(bytes), Some(o)) => bytes.len() as u64 == o.size_bytes,
            (None, None) => true,
            _ => false,
        };
        if !allowed.iter().any(fits) {
            return Err(format!(
                "LIST shows {key}: {:?} bytes; allowed sizes {:?}",
                object.map(|o| o.size_bytes),
                allowed
                    .iter()
                    .map(|a| a.as_ref().map(|b| b.len()))
                    .collect::<Vec<_>>()
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
