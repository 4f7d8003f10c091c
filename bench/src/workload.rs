//! The S3 modes (`put`, `get`, `stat`, `delete`, `list`, `mixed`): the flags they share
//! (warp's names and defaults), and one client shard's life: prepare, run, clean up.
//!
//! Shape: `--shards` threads, each with its own monoio runtime, S3 client and
//! connections; worker `w` of `--concurrent` runs on shard `w % shards`. Shards meet
//! only at phase barriers (between phases, never on the request path):
//!
//! ```text
//! shard 0 creates the bucket | barrier | every shard uploads what its workers need |
//! barrier | every worker loops until the deadline | barrier | shard 0 removes the
//! run's objects (unless --noclear)
//! ```
//!
//! Invariants: every object this run writes is under `<run prefix>/`, a random prefix
//! per run, and each worker writes under `<run prefix>/w<worker>/`; a failed prepare
//! makes every shard skip the run but still pass each barrier (no deadlock), and the
//! cleanup still removes what was uploaded.

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::record::{LiveCounters, OpKind, Record, since_ns};
use crate::s3::{Client, ObjectBody, Outcome};
use crate::signer::Credentials;
use crate::units::{parse_duration, parse_size_bytes};

/// Phases as the progress line shows them.
pub const PHASE_PREPARE: u8 = 0;
pub const PHASE_RUN: u8 = 1;
pub const PHASE_CLEANUP: u8 = 2;
/// Largest `--concurrent`.
const WORKERS_MAX: usize = 10_000;

/// Which mode runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Put,
    Get,
    Stat,
    Delete,
    List,
    Mixed,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Put => "put",
            Mode::Get => "get",
            Mode::Stat => "stat",
            Mode::Delete => "delete",
            Mode::List => "list",
            Mode::Mixed => "mixed",
        }
    }

    /// Objects uploaded before the run when `--objects` is not given (warp's defaults).
    fn default_objects(self) -> usize {
        match self {
            Mode::Put => 0,
            Mode::Get | Mode::Stat | Mode::Mixed => 2500,
            Mode::List => 10_000,
            Mode::Delete => 25_000,
        }
    }
}

/// Flags shared by the S3 modes; names and defaults as warp's.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Hosts: comma list, `{a...b}` ranges; requests go round-robin.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub host: String,
    #[arg(long = "access-key", default_value = "")]
    pub access_key: String,
    #[arg(long = "secret-key", default_value = "")]
    pub secret_key: String,
    #[arg(long, default_value = "us-east-1")]
    pub region: String,
    #[arg(long, default_value = "warp-benchmark-bucket")]
    pub bucket: String,
    /// Concurrent operations (workers).
    #[arg(long, default_value_t = 20)]
    pub concurrent: usize,
    /// How long the measured phase runs, e.g. 10s, 1m, 5m.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Object size, e.g. 10MiB, 4KiB, 1MB.
    #[arg(long = "obj.size", default_value = "10MiB", value_parser = parse_size_bytes)]
    pub obj_size: usize,
    /// Objects uploaded before the run (get, stat, list, delete, mixed).
    #[arg(long)]
    pub objects: Option<usize>,
    /// Leave the run's objects in the bucket.
    #[arg(long)]
    pub noclear: bool,
    /// Send object bodies as UNSIGNED-PAYLOAD instead of aws-chunked signed.
    #[arg(long = "disable-sha256-payload")]
    pub disable_sha256_payload: bool,
    /// Write every operation to FILE.csv and a summary to FILE.json.
    #[arg(long)]
    pub benchdata: Option<std::path::PathBuf>,
    /// Client shards: threads, each with its own runtime and connections.
    #[arg(long, default_value_t = 1)]
    pub shards: usize,
    /// Keys per ListObjectsV2 page (list).
    #[arg(long = "max-keys", default_value_t = 1000)]
    pub max_keys: usize,
    /// Keys per DeleteObjects request (delete).
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// mixed: share of GETs.
    #[arg(long = "get-distrib", default_value_t = 45)]
    pub get_distrib: u32,
    /// mixed: share of STATs.
    #[arg(long = "stat-distrib", default_value_t = 30)]
    pub stat_distrib: u32,
    /// mixed: share of PUTs.
    #[arg(long = "put-distrib", default_value_t = 15)]
    pub put_distrib: u32,
    /// mixed: share of DELETEs.
    #[arg(long = "delete-distrib", default_value_t = 10)]
    pub delete_distrib: u32,
}

impl Args {
    /// Objects prepare uploads: none for `put`, whatever `--objects` says.
    pub fn objects(&self, mode: Mode) -> usize {
        if mode == Mode::Put {
            return 0;
        }
        self.objects.unwrap_or(mode.default_objects())
    }

    pub fn check(&self) -> Result<(), String> {
        if !(1..=WORKERS_MAX).contains(&self.concurrent) {
            return Err(format!("--concurrent must be in 1..={WORKERS_MAX}"));
        }
        if self.shards == 0 || self.shards > self.concurrent {
            return Err("--shards must be in 1..=--concurrent".to_owned());
        }
        if !(1..=1000).contains(&self.max_keys) || !(1..=1000).contains(&self.batch) {
            return Err("--max-keys and --batch must be in 1..=1000".to_owned());
        }
        let weights = self.get_distrib + self.stat_distrib + self.put_distrib + self.delete_distrib;
        if weights == 0 {
            return Err("the mixed distribution must not be all zero".to_owned());
        }
        Ok(())
    }
}

/// What every shard shares: read-only settings, counters, and the phase barrier.
pub struct Shared {
    pub mode: Mode,
    pub args: Args,
    pub addresses: Vec<SocketAddr>,
    pub host_names: Vec<String>,
    pub run_prefix: String,
    pub epoch: Instant,
    pub live: Vec<LiveCounters>,
    pub phase: AtomicU8,
    pub run_start_ns: AtomicU64,
    pub run_end_ns: AtomicU64,
    abort: AtomicBool,
    barrier: Barrier,
}

/// What a shard hands back when it ends.
#[derive(Default)]
pub struct ShardResult {
    pub records: Vec<Record>,
    pub fatal: Option<String>,
    pub warnings: Vec<String>,
}

impl Shared {
    pub fn new(
        mode: Mode,
        args: Args,
        host_names: Vec<String>,
        run_prefix: String,
    ) -> Result<Shared, String> {
        let mut addresses = Vec::new();
        for host in &host_names {
            let address = host
                .to_socket_addrs()
                .map_err(|e| format!("{host}: {e}"))?
                .next()
                .ok_or_else(|| format!("{host}: no address"))?;
            addresses.push(address);
        }
        let shards = args.shards;
        Ok(Shared {
            mode,
            args,
            addresses,
            host_names,
            run_prefix,
            epoch: Instant::now(),
            live: (0..shards).map(|_| LiveCounters::default()).collect(),
            phase: AtomicU8::new(PHASE_PREPARE),
            run_start_ns: AtomicU64::new(0),
            run_end_ns: AtomicU64::new(0),
            abort: AtomicBool::new(false),
            barrier: Barrier::new(shards),
        })
    }

    fn client(&self) -> Client {
        let credentials = Credentials {
            access_key: self.args.access_key.clone(),
            secret_key: self.args.secret_key.clone(),
            region: self.args.region.clone(),
        };
        Client::new(
            self.addresses.clone(),
            self.host_names.clone(),
            credentials,
            self.args.bucket.clone(),
            self.args.disable_sha256_payload,
        )
    }

    fn worker_prefix(&self, worker: usize) -> String {
        format!("{}/w{worker}/", self.run_prefix)
    }
}

/// Starts the shards' threads; the caller joins them.
pub fn spawn_shards(shared: &Arc<Shared>) -> Vec<std::thread::JoinHandle<ShardResult>> {
    (0..shared.args.shards)
        .map(|shard| {
            let shared = Arc::clone(shared);
            std::thread::Builder::new()
                .name(format!("bench-shard-{shard}"))
                .spawn(move || {
                    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
                        .enable_timer()
                        .build()
                        .expect("monoio runtime");
                    runtime.block_on(shard_main(shared, shard))
                })
                .expect("spawn shard thread")
        })
        .collect()
}

/// One shard: the phases in order, meeting the other shards at each barrier.
async fn shard_main(shared: Arc<Shared>, shard: usize) -> ShardResult {
    let client = Rc::new(shared.client());
    let mut result = ShardResult::default();
    let workers: Vec<usize> = (shard..shared.args.concurrent)
        .step_by(shared.args.shards)
        .collect();
    let body = Rc::new(ObjectBody::random(
        shared.args.obj_size,
        0x5EED ^ shard as u64,
    ));
    if shard == 0
        && let Err(error) = client.create_bucket().await
    {
        // `put` goes on (the bucket may exist and the user lack CreateBucket): its
        // PUTs then report what is wrong, as errors of the run.
        if shared.mode == Mode::Put {
            result
                .warnings
                .push(format!("create bucket {}: {error}", shared.args.bucket));
        } else {
            fail(
                &shared,
                &mut result,
                format!("create bucket {}: {error}", shared.args.bucket),
            );
        }
    }
    shared.barrier.wait();
    let pool = if shared.abort.load(Ordering::Relaxed) {
        KeyPool::default()
    } else {
        match prepare(&shared, &client, &body, &workers).await {
            Ok(pool) => pool,
            Err(error) => {
                fail(&shared, &mut result, format!("prepare: {error}"));
                KeyPool::default()
            }
        }
    };
    shared.barrier.wait();
    if !shared.abort.load(Ordering::Relaxed) {
        if shard == 0 {
            shared.phase.store(PHASE_RUN, Ordering::Relaxed);
            shared
                .run_start_ns
                .store(since_ns(shared.epoch, Instant::now()), Ordering::Relaxed);
        }
        result.records = run(&shared, shard, &client, &body, &workers, pool).await;
    }
    shared.barrier.wait();
    if shard == 0 {
        shared
            .run_end_ns
            .store(since_ns(shared.epoch, Instant::now()), Ordering::Relaxed);
        shared.phase.store(PHASE_CLEANUP, Ordering::Relaxed);
        if !shared.args.noclear
            && let Err(error) = cleanup(&client, &format!("{}/", shared.run_prefix)).await
        {
            result.warnings.push(format!("cleanup: {error}"));
        }
    }
    result
}

fn fail(shared: &Shared, result: &mut ShardResult, message: String) {
    shared.abort.store(true, Ordering::Relaxed);
    result.fatal = Some(message);
}

/// Keys of one shard's objects, shared by its workers (one thread: `RefCell`).
#[derive(Default)]
struct KeyPool {
    keys: RefCell<Vec<String>>,
}

impl KeyPool {
    /// Takes a random key out (for DELETE, or to borrow it for a GET/STAT).
    fn take(&self, rng: &mut SmallRng) -> Option<String> {
        let mut keys = self.keys.borrow_mut();
        if keys.is_empty() {
            return None;
        }
        let index = rng.gen_range(0..keys.len());
        Some(keys.swap_remove(index))
    }

    fn put_back(&self, key: String) {
        self.keys.borrow_mut().push(key);
    }

    /// A random key, left in place (get/stat, where nothing deletes).
    fn pick(&self, rng: &mut SmallRng) -> Option<String> {
        let keys = self.keys.borrow();
        (!keys.is_empty()).then(|| keys[rng.gen_range(0..keys.len())].clone())
    }
}

/// Uploads the objects this shard's workers need: object `n` belongs to worker
/// `n % concurrent` and lives under that worker's prefix.
async fn prepare(
    shared: &Arc<Shared>,
    client: &Rc<Client>,
    body: &Rc<ObjectBody>,
    workers: &[usize],
) -> Result<KeyPool, String> {
    let objects = shared.args.objects(shared.mode);
    let mut tasks = Vec::new();
    for &worker in workers {
        let keys: Vec<String> = (worker..objects)
            .step_by(shared.args.concurrent)
            .map(|n| format!("{}{n}.rnd", shared.worker_prefix(worker)))
            .collect();
        let (client, body) = (Rc::clone(client), Rc::clone(body));
        tasks.push(monoio::spawn(async move {
            for key in &keys {
                client
                    .put_object(key, &body)
                    .await
                    .map_err(|e| format!("{key}: {e}"))?;
            }
            Ok::<Vec<String>, String>(keys)
        }));
    }
    let pool = KeyPool::default();
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(keys) => pool.keys.borrow_mut().extend(keys),
            Err(error) => first_error = first_error.or(Some(error)),
        }
    }
    first_error.map_or(Ok(pool), Err)
}

/// The measured phase: every worker of this shard loops until the deadline.
async fn run(
    shared: &Arc<Shared>,
    shard: usize,
    client: &Rc<Client>,
    body: &Rc<ObjectBody>,
    workers: &[usize],
    pool: KeyPool,
) -> Vec<Record> {
    let deadline = Instant::now() + shared.args.duration;
    let records = Rc::new(RefCell::new(Vec::new()));
    let pool = Rc::new(pool);
    let tasks: Vec<_> = workers
        .iter()
        .map(|&worker| {
            let worker = Worker {
                shared: Arc::clone(shared),
                shard,
                index: worker,
                client: Rc::clone(client),
                body: Rc::clone(body),
                pool: Rc::clone(&pool),
                records: Rc::clone(&records),
                rng: SmallRng::seed_from_u64(worker as u64),
                sequence: 0,
            };
            monoio::spawn(worker.run(deadline))
        })
        .collect();
    for task in tasks {
        task.await;
    }
    Rc::try_unwrap(records)
        .map(RefCell::into_inner)
        .unwrap_or_default()
}

/// One worker of the measured phase.
struct Worker {
    shared: Arc<Shared>,
    shard: usize,
    index: usize,
    client: Rc<Client>,
    body: Rc<ObjectBody>,
    pool: Rc<KeyPool>,
    records: Rc<RefCell<Vec<Record>>>,
    rng: SmallRng,
    sequence: u64,
}

/// What one operation did, before it becomes a record.
struct Done {
    kind: OpKind,
    result: Result<Outcome, String>,
    bytes: u64,
    objects: u32,
}

impl Worker {
    async fn run(mut self, deadline: Instant) {
        while Instant::now() < deadline {
            let start = Instant::now();
            let Some(done) = self.one_operation().await else {
                return; // nothing left to do (delete ran out of objects)
            };
            self.record(start, done);
        }
    }

    fn record(&self, start: Instant, done: Done) {
        let end = Instant::now();
        let epoch = self.shared.epoch;
        let (first_byte, error, bytes, objects) = match done.result {
            Ok(outcome) => (outcome.first_byte.min(end), None, done.bytes, done.objects),
            Err(error) => (end, Some(error.into_boxed_str()), 0, 0),
        };
        let record = Record {
            kind: done.kind,
            worker: self.index as u32,
            start_ns: since_ns(epoch, start),
            first_byte_ns: since_ns(epoch, first_byte.max(start)),
            end_ns: since_ns(epoch, end),
            bytes,
            objects,
            error,
        };
        self.shared.live[self.shard].add(&record);
        self.records.borrow_mut().push(record);
    }

    async fn one_operation(&mut self) -> Option<Done> {
        match self.shared.mode {
            Mode::Put => Some(self.put().await),
            Mode::Get => {
                let key = self.pool.pick(&mut self.rng)?;
                Some(self.get(&key).await)
            }
            Mode::Stat => {
                let key = self.pool.pick(&mut self.rng)?;
                Some(self.stat(&key).await)
            }
            Mode::Delete => self.delete_batch().await,
            Mode::List => Some(self.list().await),
            Mode::Mixed => Some(self.mixed().await),
        }
    }

    fn next_key(&mut self) -> String {
        self.sequence += 1;
        format!(
            "{}p{}.rnd",
            self.shared.worker_prefix(self.index),
            self.sequence
        )
    }

    async fn put(&mut self) -> Done {
        let key = self.next_key();
        let result = self.client.put_object(&key, &self.body).await;
        if result.is_ok() && self.shared.mode == Mode::Mixed {
            self.pool.put_back(key);
        }
        Done {
            kind: OpKind::Put,
            result,
            bytes: self.body.data.len() as u64,
            objects: 1,
        }
    }

    async fn get(&mut self, key: &str) -> Done {
        let expected = self.body.data.len() as u64;
        let result = self.client.get_object(key).await.and_then(|outcome| {
            if outcome.body_bytes == expected {
                Ok(outcome)
            } else {
                Err(format!(
                    "GET {key}: {} bytes, expected {expected}",
                    outcome.body_bytes
                ))
            }
        });
        // The bytes actually received (a short body is also an error above).
        let bytes = result.as_ref().map_or(0, |outcome| outcome.body_bytes);
        Done {
            kind: OpKind::Get,
            result,
            bytes,
            objects: 1,
        }
    }

    async fn stat(&mut self, key: &str) -> Done {
        let result = self.client.head_object(key).await;
        Done {
            kind: OpKind::Stat,
            result,
            bytes: 0,
            objects: 1,
        }
    }

    async fn delete_batch(&mut self) -> Option<Done> {
        let keys: Vec<String> = (0..self.shared.args.batch)
            .map_while(|_| self.pool.take(&mut self.rng))
            .collect();
        if keys.is_empty() {
            return None;
        }
        let result = self.client.delete_objects(&keys).await;
        Some(Done {
            kind: OpKind::Delete,
            result,
            bytes: 0,
            objects: keys.len() as u32,
        })
    }

    /// Lists the worker's own prefix to its end; an error if the count is not what
    /// prepare uploaded.
    async fn list(&mut self) -> Done {
        let prefix = self.shared.worker_prefix(self.index);
        let objects = self.shared.args.objects(Mode::List);
        let expected = (self.index..objects)
            .step_by(self.shared.args.concurrent)
            .count();
        let mut token: Option<String> = None;
        let mut seen = 0usize;
        let mut first = None;
        let result = loop {
            match self
                .client
                .list_objects_v2(&prefix, self.shared.args.max_keys, token.as_deref())
                .await
            {
                Ok((outcome, page)) => {
                    seen += page.keys.len();
                    let outcome = first.get_or_insert(outcome);
                    match page.next_continuation_token {
                        Some(next) => token = Some(next),
                        None if seen == expected => {
                            break Ok(Outcome {
                                first_byte: outcome.first_byte,
                                body_bytes: 0,
                                body: Vec::new(),
                            });
                        }
                        None => {
                            break Err(format!("LIST {prefix}: {seen} keys, expected {expected}"));
                        }
                    }
                }
                Err(error) => break Err(error),
            }
        };
        Done {
            kind: OpKind::List,
            result,
            bytes: 0,
            objects: seen as u32,
        }
    }

    /// One operation drawn from the distribution. GET/STAT borrow their key from the
    /// pool while in flight, so a concurrent DELETE never removes an object being read.
    async fn mixed(&mut self) -> Done {
        let args = &self.shared.args;
        let weights = [
            args.get_distrib,
            args.stat_distrib,
            args.put_distrib,
            args.delete_distrib,
        ];
        let mut draw = self.rng.gen_range(0..weights.iter().sum::<u32>());
        let choice = weights.iter().position(|&w| {
            let hit = draw < w;
            draw = draw.saturating_sub(w);
            hit
        });
        let Some(key) = (choice != Some(2))
            .then(|| self.pool.take(&mut self.rng))
            .flatten()
        else {
            return self.put().await; // a PUT, or the pool ran dry
        };
        match choice {
            Some(0) => {
                let done = self.get(&key).await;
                self.pool.put_back(key);
                done
            }
            Some(1) => {
                let done = self.stat(&key).await;
                self.pool.put_back(key);
                done
            }
            _ => {
                let result = self.client.delete_object(&key).await;
                Done {
                    kind: OpKind::Delete,
                    result,
                    bytes: 0,
                    objects: 1,
                }
            }
        }
    }
}

/// Removes every object under `prefix`, 1000 keys per DeleteObjects.
async fn cleanup(client: &Client, prefix: &str) -> Result<(), String> {
    let keys = client.list_all(prefix).await?;
    for batch in keys.chunks(1000) {
        client.delete_objects(batch).await?;
    }
    Ok(())
}
