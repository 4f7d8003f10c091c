//! What the shards of a run share (settings, counters, the phase barrier, the multipart
//! upload's state) and what one shard holds for its workers (client, body, objects).
//!
//! Invariants: shards meet only at the barrier between phases; during the measured
//! phase they share atomics only (the multipart state's lock is taken between phases).
//! A shard's objects live in a `RefCell` because only that shard's thread touches them.

use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Instant;

use rand::Rng;
use rand::rngs::SmallRng;

use crate::client::conn::Tls;
use crate::client::payload::Bodies;
use crate::client::s3::{Client, ClientSettings};
use crate::client::s3xml::CompletedPart;
use crate::client::signer::Credentials;
use crate::load::args::{Args, Mode};
use crate::load::server_probe;
use crate::load::sizes::random_size;
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
    /// --server-pid: the server's CPU ticks at the start and end of the measured phase
    /// (`NOT_READ` until read, and when the process could not be read).
    pub server_cpu_start_ticks: AtomicU64,
    pub server_cpu_end_ticks: AtomicU64,
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

/// A server CPU reading not taken.
pub const NOT_READ: u64 = u64::MAX;

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
            server_cpu_start_ticks: AtomicU64::new(NOT_READ),
            server_cpu_end_ticks: AtomicU64::new(NOT_READ),
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

    /// --server-pid: reads the server's CPU ticks into `into` (left `NOT_READ` when the
    /// process cannot be read: the summary then has no server figures).
    pub(crate) fn read_server_cpu(&self, into: &AtomicU64) {
        if let Some(pid) = self.args.server_pid
            && let Ok(ticks) = server_probe::cpu_ticks(pid)
        {
            into.store(ticks, Ordering::Relaxed);
        }
    }

    pub(crate) fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

/// The upload, filled in between phases (under `Shared::multipart`'s lock).
#[derive(Debug, Default)]
pub struct MultipartState {
    pub upload_id: Option<String>,
    pub parts: Vec<CompletedPart>,
    pub completed: bool,
}

/// One shard's part of a run: its workers, its client and where its upload bodies
/// come from.
pub(crate) struct ShardContext {
    pub shared: Arc<Shared>,
    pub shard: usize,
    pub client: Rc<Client>,
    pub bodies: Rc<Bodies>,
    pub workers: Vec<usize>,
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

    /// Adds objects uploaded by prepare.
    pub fn extend(&self, objects: Vec<Object>) {
        self.objects.borrow_mut().extend(objects);
    }

    /// A random object, left in place (get/stat, where nothing deletes).
    pub fn pick(&self, rng: &mut SmallRng) -> Option<Object> {
        let objects = self.objects.borrow();
        (!objects.is_empty()).then(|| objects[rng.gen_range(0..objects.len())].clone())
    }
}

/// The size of the next object: `--obj.size`, or a random one up to it.
pub(crate) fn object_size(args: &Args, rng: &mut SmallRng) -> usize {
    if args.obj_randsize {
        random_size(rng, args.obj_size)
    } else {
        args.obj_size
    }
}
