//! One client shard's life in an S3 mode: prepare, (multipart: upload), run, clean up;
//! and what every shard shares.
//!
//! Shape: `--shards` threads, each with its own monoio runtime, S3 client and
//! connections; worker `w` of `--concurrent` runs on shard `w % shards`. Shards meet
//! only at phase barriers (between phases, never on the request path):
//!
//! ```text
//! shard 0 creates the bucket | barrier | every shard uploads what its workers need
//! (multipart: shard 0 creates the upload | barrier | every shard uploads its parts |
//! barrier | shard 0 completes) | barrier | every worker loops until the deadline (or
//! --autoterm) | barrier | shard 0 removes the run's objects (unless --noclear)
//! ```
//!
//! Invariants: every object this run writes is under `<run prefix>/`, a random prefix
//! per run, and each worker writes under `<run prefix>/w<worker>/`; a failed prepare
//! makes every shard skip the run but still pass each barrier (no deadlock), and the
//! cleanup still removes what was uploaded. The only locks are taken between phases
//! (the multipart state); during the run shards share atomics only.

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::client::conn::Tls;
use crate::client::payload::ObjectBody;
use crate::client::s3::{Client, ClientSettings};
use crate::client::signer::Credentials;
use crate::load::args::{Args, Mode};
use crate::load::multipart::{self, MultipartState};
use crate::load::sizes::random_size;
use crate::load::worker::Worker;
use crate::report::record::{LiveCounters, Record, since_ns};

/// Phases as the progress line shows them.
pub const PHASE_PREPARE: u8 = 0;
pub const PHASE_UPLOAD: u8 = 1;
pub const PHASE_RUN: u8 = 2;
pub const PHASE_CLEANUP: u8 = 3;

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
    /// multipart: the window of the UploadPart phase.
    pub upload_start_ns: AtomicU64,
    pub upload_end_ns: AtomicU64,
    /// Set by the progress loop when --autoterm finds throughput stable.
    pub stop: AtomicBool,
    pub(crate) abort: AtomicBool,
    pub(crate) barrier: Barrier,
    /// multipart: the upload and its parts (locked between phases only).
    pub(crate) multipart: Mutex<MultipartState>,
    tls: Option<Tls>,
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
        let tls = if args.tls {
            let config = crate::client::tls::client_config(args.insecure)?;
            let names = host_names
                .iter()
                .map(|host| crate::client::tls::server_name(host))
                .collect::<Result<_, _>>()?;
            Some(Tls::new(config, names))
        } else {
            None
        };
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
            upload_start_ns: AtomicU64::new(0),
            upload_end_ns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            barrier: Barrier::new(shards),
            multipart: Mutex::new(MultipartState::default()),
            tls,
        })
    }

    pub(crate) fn client(&self) -> Client {
        Client::new(ClientSettings {
            addresses: self.addresses.clone(),
            host_names: self.host_names.clone(),
            tls: self.tls.clone(),
            credentials: Credentials {
                access_key: self.args.access_key.clone(),
                secret_key: self.args.secret_key.clone(),
                region: self.args.region.clone(),
            },
            bucket: self.args.bucket.clone(),
            unsigned_payload: self.args.disable_sha256_payload,
            checksum: self.args.checksum,
        })
    }

    pub(crate) fn worker_prefix(&self, worker: usize) -> String {
        format!("{}/w{worker}/", self.run_prefix)
    }

    /// multipart: the key of the uploaded object.
    pub(crate) fn multipart_key(&self) -> String {
        format!("{}/{}", self.run_prefix, self.args.obj_name)
    }

    pub(crate) fn now_ns(&self) -> u64 {
        since_ns(self.epoch, Instant::now())
    }

    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
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

/// One shard's part of a run: its workers, its client and its body of random bytes.
pub(crate) struct ShardContext {
    pub shared: Arc<Shared>,
    pub shard: usize,
    pub client: Rc<Client>,
    pub body: Rc<ObjectBody>,
    pub workers: Vec<usize>,
}

/// One shard: the phases in order, meeting the other shards at each barrier.
async fn shard_main(shared: Arc<Shared>, shard: usize) -> ShardResult {
    let args = &shared.args;
    let context = ShardContext {
        client: Rc::new(shared.client()),
        body: Rc::new(ObjectBody::random(
            args.body_bytes(shared.mode),
            0x5EED ^ shard as u64,
            args.md5,
            args.checksum.map(|c| c.algorithm),
        )),
        workers: (shard..args.concurrent).step_by(args.shards).collect(),
        shared: Arc::clone(&shared),
        shard,
    };
    let mut result = ShardResult::default();
    if shard == 0
        && let Err(error) = context.client.create_bucket().await
    {
        let message = format!("create bucket {}: {error}", args.bucket);
        // `put` goes on (the bucket may exist and the user lack CreateBucket): its
        // PUTs then report what is wrong, as errors of the run.
        if shared.mode == Mode::Put {
            result.warnings.push(message);
        } else {
            fail(&shared, &mut result, message);
        }
    }
    shared.barrier.wait();
    let pool = if shared.mode == Mode::Multipart {
        multipart::upload(&context, &mut result).await;
        KeyPool::default()
    } else if shared.aborted() {
        KeyPool::default()
    } else {
        prepare(&context).await.unwrap_or_else(|error| {
            fail(&shared, &mut result, format!("prepare: {error}"));
            KeyPool::default()
        })
    };
    shared.barrier.wait();
    if !shared.aborted() {
        if shard == 0 {
            shared.phase.store(PHASE_RUN, Ordering::Relaxed);
            shared
                .run_start_ns
                .store(shared.now_ns(), Ordering::Relaxed);
        }
        let records = run(&context, pool).await;
        result.records.extend(records);
    }
    shared.barrier.wait();
    if shard == 0 {
        shared.run_end_ns.store(shared.now_ns(), Ordering::Relaxed);
        shared.phase.store(PHASE_CLEANUP, Ordering::Relaxed);
        cleanup(&context, &mut result).await;
    }
    result
}

pub(crate) fn fail(shared: &Shared, result: &mut ShardResult, message: String) {
    shared.abort.store(true, Ordering::Relaxed);
    result.fatal = Some(message);
}

/// An object of the run, with its size (sizes differ with --obj.randsize).
#[derive(Clone, Debug)]
pub(crate) struct Object {
    pub key: String,
    pub size: usize,
}

/// One shard's objects, shared by its workers (one thread: `RefCell`).
#[derive(Default)]
pub(crate) struct KeyPool {
    objects: RefCell<Vec<Object>>,
}

impl KeyPool {
    /// Takes a random object out (for DELETE, or to borrow it for a GET/STAT).
    pub fn take(&self, rng: &mut SmallRng) -> Option<Object> {
        let mut objects = self.objects.borrow_mut();
        if objects.is_empty() {
            return None;
        }
        let index = rng.gen_range(0..objects.len());
        Some(objects.swap_remove(index))
    }

    pub fn put_back(&self, object: Object) {
        self.objects.borrow_mut().push(object);
    }

    /// A random object, left in place (get/stat, where nothing deletes).
    pub fn pick(&self, rng: &mut SmallRng) -> Option<Object> {
        let objects = self.objects.borrow();
        (!objects.is_empty()).then(|| objects[rng.gen_range(0..objects.len())].clone())
    }
}

/// Uploads the objects this shard's workers need: object `n` belongs to worker
/// `n % concurrent` and lives under that worker's prefix.
async fn prepare(context: &ShardContext) -> Result<KeyPool, String> {
    let shared = &context.shared;
    let objects = shared.args.objects(shared.mode);
    let mut tasks = Vec::new();
    for &worker in &context.workers {
        let mut rng = SmallRng::seed_from_u64(0xB0D1 ^ worker as u64);
        let planned: Vec<Object> = (worker..objects)
            .step_by(shared.args.concurrent)
            .map(|n| Object {
                key: format!("{}{n}.rnd", shared.worker_prefix(worker)),
                size: object_size(&shared.args, &mut rng),
            })
            .collect();
        let (client, body) = (Rc::clone(&context.client), Rc::clone(&context.body));
        tasks.push(monoio::spawn(async move {
            for object in &planned {
                client
                    .put_object(&object.key, &body.prefix(object.size))
                    .await
                    .map_err(|e| format!("{}: {e}", object.key))?;
            }
            Ok::<Vec<Object>, String>(planned)
        }));
    }
    let pool = KeyPool::default();
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(objects) => pool.objects.borrow_mut().extend(objects),
            Err(error) => first_error = first_error.or(Some(error)),
        }
    }
    first_error.map_or(Ok(pool), Err)
}

/// The size of the next object: `--obj.size`, or a random one up to it.
pub(crate) fn object_size(args: &Args, rng: &mut SmallRng) -> usize {
    if args.obj_randsize {
        random_size(rng, args.obj_size)
    } else {
        args.obj_size
    }
}

/// The measured phase: every worker of this shard loops until the deadline.
async fn run(context: &ShardContext, pool: KeyPool) -> Vec<Record> {
    let deadline = Instant::now() + context.shared.args.duration;
    let records = Rc::new(RefCell::new(Vec::new()));
    let pool = Rc::new(pool);
    let tasks: Vec<_> = context
        .workers
        .iter()
        .map(|&index| {
            let worker = Worker::new(context, index, Rc::clone(&pool), Rc::clone(&records));
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

/// Removes the run's objects (unless --noclear) and an upload left incomplete.
async fn cleanup(context: &ShardContext, result: &mut ShardResult) {
    let shared = &context.shared;
    if let Err(error) = multipart::abort_incomplete(context).await {
        result.warnings.push(format!("cleanup: {error}"));
    }
    if shared.args.noclear {
        return;
    }
    let prefix = format!("{}/", shared.run_prefix);
    let removed = async {
        let keys = context.client.list_all(&prefix).await?;
        for batch in keys.chunks(1000) {
            context.client.delete_objects(batch).await?;
        }
        Ok::<(), String>(())
    };
    if let Err(error) = removed.await {
        result.warnings.push(format!("cleanup: {error}"));
    }
}
