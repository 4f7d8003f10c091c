//! `shoal server`: start and stop of the shards of one node.
//!
//! Start, in order: raise the open-file limit; check that no other process listens on
//! the port (SO_REUSEPORT would silently share it); open and lock the drives; open the
//! store once on the main thread (format, clean leftovers); load credentials and TLS;
//! start one thread per shard, each pinned to its core, with its own runtime, drives,
//! store, listener (same port, SO_REUSEPORT) and lock mailbox; print the banner when
//! every shard listens. Each shard admits connections within its limits
//! (`admission.rs`), serves each in its own task isolated from panics (`conn.rs`), and
//! gives freed memory back to the OS after a burst of connections ends.
//!
//! Stop (SIGINT/SIGTERM) has two phases. Drain: each shard closes its listener (new
//! connections are refused by the kernel), lets requests in flight finish (at most
//! `STOP_GRACE`) while still serving other shards' lock requests, waits for its
//! background scanner and the fills of replaced drives to save their positions and end
//! (`object/scan/`, `object/fill/`), and reports drained.
//! Stop: once every shard drained (or `STOP_GRACE` + `STOP_BARRIER_SLACK` passed), each
//! shard's runtime ends; a request still running past the grace is abandoned before it
//! acknowledged anything. The process exits 0. Start and stop are symmetric: what a
//! shard opens, the shard closes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use shoal_http::RouteConfig;
use shoal_io::{DirDrive, DriveLock, DriverKind, SystemClock};

use crate::front::admission::{AcceptBackoff, Admission, Slot, Verdict};
use crate::front::cluster::ClusterConfig;
use crate::front::conn::ConnLimits;
use crate::front::credentials::{CredentialsSource, load_or_create};
use crate::front::handler::{Credentials, ShardContext};
use crate::front::logs::RequestLogs;
use crate::front::logs::audit::{AuditLog, AuditShard};
use crate::front::metrics::{NodeFacts, NodeMetrics};
use crate::front::peer::accept::HandedPeer;
use crate::member::local::index::owner::{IndexCall, mailboxes as index_mailboxes};
use crate::object::scan::{ScanHooks, ScanShare, Scanner};
use crate::object::store::{Store, StoreConfig};
use crate::object::trash::{TRASH_GRACE, TRASH_SWEEP_INTERVAL};
use crate::record::format::FORMAT_PATH;
use crate::set::shard_lock::{KeyLocker, LockRequest, mailboxes, serve_lock_requests};
use shoal_io::MemoryBudget;

/// How long a stopping shard waits for requests in flight.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// How much longer than the grace a drained shard waits for the others before it ends
/// anyway (a shard that never reports is stuck beyond help).
const STOP_BARRIER_SLACK: Duration = Duration::from_secs(5);
/// How often a shard checks whether a burst of connections ended (to trim the heap).
const TRIM_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Everything `shoal server` was asked for.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub address: SocketAddr,
    pub shards: usize,
    pub drives: Vec<PathBuf>,
    pub parity: Option<usize>,
    pub certs_dir: Option<PathBuf>,
    pub region: String,
    pub domains: Vec<String>,
    /// Multipart uploads older than this are removed in the background (`None`: kept).
    pub multipart_expiry: Option<Duration>,
    /// Deadlines and minimum body rate every connection must keep.
    pub conn_limits: ConnLimits,
    /// Connections one shard serves at once; more get 503 SlowDown or are closed.
    pub connections_per_shard_max: usize,
    /// Connections from one client IP address per node (each shard takes its share,
    /// rounded up); more are closed. 0: no limit.
    pub connections_per_client_max: usize,
    /// Memory one shard lets object transfers in flight hold: stripe buffers of reads
    /// (GET, copies), taken per request, and staging buffers of writes (PUT,
    /// UploadPart), taken per buffer as the body arrives (`io/src/memory_budget.rs`).
    pub request_memory_per_shard_bytes: usize,
    /// Format empty drives of a deployment that exists (see format.rs).
    pub format_new_drives: bool,
    /// What may change while the server runs (`settings.rs`).
    pub settings: crate::front::settings::Settings,
    /// `shoal --version`'s text, for the admin API.
    pub version: &'static str,
    /// Append one JSON object per request to this file (`logs/audit.rs`).
    pub audit_log: Option<PathBuf>,
    /// POST the same objects, in batches, to this http:// URL (`logs/webhook.rs`).
    pub audit_webhook: Option<String>,
    /// The commit the binary was built from (`minio_software_commit_info`).
    pub commit: String,
    /// How long a member may take per verb (`StoreConfig::member_deadline`).
    pub member_deadline: Duration,
    /// This node's place in a cluster (`None`: a single node, `drives` are the pool).
    /// With it, `drives` are this node's drives in its own order.
    pub cluster: Option<ClusterConfig>,
}

/// What every shard of a cluster node shares, once the deployment is agreed.
#[derive(Clone)]
struct ClusterPlan {
    config: ClusterConfig,
    secret: shoal_wire::handshake::ClusterSecret,
    deployment_id: crate::topology::placement::DeploymentId,
    /// Every shard's inbox of peer connections handed to it (`peer/accept.rs`).
    inboxes: Vec<mpsc::Sender<HandedPeer>>,
}

/// A lock lease lasts at least this many member deadlines (see `--member-deadline`).
const LEASE_DEADLINES_MIN: u32 = 3;

/// Longest wait between two sweeps for abandoned multipart uploads.
const UPLOAD_SWEEP_INTERVAL_MAX: Duration = Duration::from_hours(1);
/// How often each shard checks that every drive is still the drive it was formatted
/// as (a stat and a small read per drive): a removed or unmounted drive goes offline
/// within this, and one that is back comes online within this.
const DRIVE_CHECK_INTERVAL: Duration = Duration::from_secs(2);

/// What each shard needs to start; cloned into every shard thread.
#[derive(Clone)]
struct ShardPlan {
    config: ServerConfig,
    credentials: Credentials,
    tls: Option<Arc<rustls::ServerConfig>>,
    lock_senders: Vec<mpsc::Sender<LockRequest>>,
    /// Each local drive's listing index mailbox, on the shard that owns it.
    index_senders: Vec<mpsc::Sender<IndexCall>>,
    /// One per node: a bucket change on any shard invalidates every shard's cache.
    bucket_generation: crate::object::bucket_cache::BucketGeneration,
    /// Shards that finished draining (the barrier between the two phases of a stop).
    drained: Arc<std::sync::atomic::AtomicUsize>,
    /// What the admin API shows and changes; one per node.
    admin: Arc<crate::front::admin::node::Node>,
    /// The audit log writer's queue (`--audit-log`).
    audit: Option<std::sync::mpsc::SyncSender<String>>,
    /// The node's metrics and drive health, shared by the shards (`metrics/node.rs`).
    node: Arc<NodeMetrics>,
    cluster: Option<ClusterPlan>,
}

/// What each shard receives on its own: lock requests of the other shards, and (in a
/// cluster) peer connections handed to it.
struct ShardInboxes {
    locks: mpsc::Receiver<LockRequest>,
    /// The mailboxes of the local drives whose listing index this shard owns (by the
    /// drive's ordinal; `None` for the others).
    indexes: Vec<Option<mpsc::Receiver<IndexCall>>>,
    peers: Option<mpsc::Receiver<HandedPeer>>,
}

impl ShardInboxes {
    /// Every shard's inboxes, from the receivers of each kind (one per shard).
    fn each(
        locks: Vec<mpsc::Receiver<LockRequest>>,
        indexes: Vec<Vec<Option<mpsc::Receiver<IndexCall>>>>,
        peers: Vec<Option<mpsc::Receiver<HandedPeer>>>,
    ) -> Vec<Self> {
        (locks.into_iter().zip(indexes).zip(peers))
            .map(|((locks, indexes), peers)| ShardInboxes {
                locks,
                indexes,
                peers,
            })
            .collect()
    }
}

/// Runs the server until SIGINT or SIGTERM.
#[allow(clippy::needless_pass_by_value)] // the server owns its configuration for its lifetime
pub fn run(mut config: ServerConfig) -> Result<(), String> {
    install_panic_policy();
    shoal_io::runtime::keep_large_buffers_mapped();
    let open_files_max = shoal_io::runtime::raise_open_files_limit();
    let requested_per_shard = config.connections_per_shard_max;
    let peers = config
        .cluster
        .as_ref()
        .map_or(0, |cluster| cluster.peers.len().saturating_sub(1));
    let (fitting, reserved_files) = crate::front::admission::connections_fitting(
        requested_per_shard,
        config.shards,
        config.drives.len(),
        peers,
        open_files_max,
    );
    config.connections_per_shard_max = fitting;
    let clamped = (fitting < requested_per_shard).then_some(ClampedConnections {
        requested_per_shard,
        reserved_files,
    });
    config.address = shoal_io::net::claim_port(config.address).map_err(|e| {
        format!(
            "cannot listen on {}: {e}; another process (another shoal server?) serves this \
             port: stop it or choose another --address",
            config.address
        )
    })?;
    let (drives, _locks) = open_drives(&config.drives, config.format_new_drives)?;
    let tls = load_tls(&mut config)?;
    if let Some(cluster) = config.cluster.as_mut() {
        cluster.shards = config.shards;
    }
    let (layout, offline, cluster_start) = prepare_drives(drives, &config)?;
    let (credentials, credentials_source) = credentials_of(&config, &offline)?;
    let audit = AuditLog::open(config.audit_log.as_deref(), config.audit_webhook.as_deref())?;
    let signals = block_stop_signals()?;
    let (lock_senders, lock_receivers) = mailboxes(config.shards);
    let metrics = node_metrics(&config, layout);
    let mut plan = ShardPlan::new(
        &config,
        &credentials,
        tls,
        lock_senders,
        audit.as_ref(),
        metrics,
    );
    let peer_receivers = plan.join_cluster(&config, cluster_start);
    let (index_senders, index_inboxes) = index_mailboxes(config.drives.len(), config.shards);
    plan.index_senders = index_senders;
    crate::front::probe::start_drive_probes(&plan.node, &config.drives)?;
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let mut stops = Vec::new();
    let mut threads = Vec::new();
    let inboxes = ShardInboxes::each(lock_receivers, index_inboxes, peer_receivers);
    for (shard_index, inboxes) in inboxes.into_iter().enumerate() {
        let (stop_tx, stop_rx) = oneshot::channel();
        stops.push(stop_tx);
        let (plan, ready_tx) = (plan.clone(), ready_tx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("shoal-shard-{shard_index}"))
            .spawn(move || run_shard(shard_index, &plan, inboxes, stop_rx, &ready_tx))
            .map_err(|e| format!("cannot start shard thread: {e}"))?;
        threads.push(thread);
    }
    drop(ready_tx);
    let mut drivers = Vec::new();
    for _ in 0..config.shards {
        match ready_rx.recv() {
            Ok(Ok(driver)) => drivers.push(driver),
            Ok(Err(message)) => return Err(message),
            Err(_) => return Err("a shard stopped during start".to_owned()),
        }
    }
    print_banner(
        &config,
        layout,
        &offline,
        drivers[0],
        &credentials,
        &credentials_source,
        clamped.as_ref(),
    );
    tracing::info!(address = %config.address, offline_drives = offline.len(), "serving the S3 API");
    let signal = signals
        .wait()
        .map_err(|e| format!("waiting for signals: {e}"))?;
    tracing::info!(
        signal = ?signal,
        grace_s = STOP_GRACE.as_secs(),
        "{signal:?} received; stopping (in-flight requests get up to {}s)",
        STOP_GRACE.as_secs()
    );
    drop(plan); // its audit queue end: the writer finishes once the shards' are gone too
    stop_shards(stops, threads);
    if let Some(audit) = audit {
        audit.finish();
    }
    Ok(())
}

/// A cluster node's start: the secret its peers share and the agreed deployment.
type ClusterStart = (
    shoal_wire::handshake::ClusterSecret,
    crate::topology::placement::DeploymentId,
);

/// The S3 listener's TLS with `--certs-dir`, and in a cluster the peers' (both sides).
fn load_tls(config: &mut ServerConfig) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let Some(certs_dir) = config.certs_dir.clone() else {
        return Ok(None);
    };
    let server = crate::front::tls::load_server_config(&certs_dir)?;
    if let Some(cluster) = config.cluster.as_mut() {
        cluster.tls = Some(crate::front::cluster::ClusterTls {
            client: crate::front::tls::load_peer_client_config(&certs_dir)?,
            server: server.clone(),
        });
    }
    Ok(Some(server))
}

/// The root credentials, read from and written to online drives only: never into the
/// bare mount point of a missing drive.
fn credentials_of(
    config: &ServerConfig,
    offline: &[(String, String)],
) -> Result<(Credentials, CredentialsSource), String> {
    let online: Vec<PathBuf> = (config.drives.iter())
        .filter(|path| {
            !offline
                .iter()
                .any(|(name, _)| *name == path.display().to_string())
        })
        .cloned()
        .collect();
    load_or_create(&online)
}

/// What preparing the drives found: layout, offline drives, a cluster's start.
type Prepared = (
    crate::topology::layout::PoolLayout,
    Vec<(String, String)>,
    Option<ClusterStart>,
);

/// Formats or checks the drives before any shard runs: alone on a single node, with
/// the peers in a cluster (`cluster/start.rs`). Returns the pool's layout, this node's
/// offline drives with why, and in a cluster what its shards share.
fn prepare_drives(drives: Vec<DirDrive>, config: &ServerConfig) -> Result<Prepared, String> {
    let Some(cluster) = &config.cluster else {
        let (layout, offline) = prepare_store(drives, config)?;
        return Ok((layout, offline, None));
    };
    let (credentials, _) = cluster_credentials()?;
    let secret = crate::front::cluster::secret_of(&credentials);
    let agreed = crate::front::cluster::start::agree_and_format(
        drives,
        cluster,
        &secret,
        config.address,
        config.format_new_drives,
    )?;
    let offline = (config.drives.iter().zip(&agreed.offline))
        .filter_map(|(path, why)| Some((path.display().to_string(), why.clone()?)))
        .collect();
    let layout = cluster.topology.layout;
    Ok((layout, offline, Some((secret, agreed.deployment_id))))
}

impl ShardPlan {
    /// In a cluster: what the shards share, and each shard's inbox of peer connections.
    fn join_cluster(
        &mut self,
        config: &ServerConfig,
        start: Option<ClusterStart>,
    ) -> Vec<Option<mpsc::Receiver<HandedPeer>>> {
        let (Some(cluster), Some((secret, deployment_id))) = (&config.cluster, start) else {
            return (0..config.shards).map(|_| None).collect();
        };
        let capacity = crate::front::peer::accept::inbox_capacity(
            config.shards,
            cluster.peers.len().saturating_sub(1),
        );
        let (inboxes, receivers) = crate::front::peer::accept::inboxes_of(config.shards, capacity);
        self.cluster = Some(ClusterPlan {
            config: cluster.clone(),
            secret,
            deployment_id,
            inboxes,
        });
        receivers.into_iter().map(Some).collect()
    }

    fn new(
        config: &ServerConfig,
        credentials: &Credentials,
        tls: Option<Arc<rustls::ServerConfig>>,
        lock_senders: Vec<mpsc::Sender<LockRequest>>,
        audit: Option<&AuditLog>,
        metrics: Arc<NodeMetrics>,
    ) -> Self {
        Self {
            config: config.clone(),
            credentials: credentials.clone(),
            tls,
            lock_senders,
            index_senders: Vec::new(),
            bucket_generation: crate::object::bucket_cache::BucketGeneration::new(),
            drained: Arc::default(),
            admin: crate::front::admin::node::Node::new(config.version, config.settings.clone()),
            audit: audit.map(AuditLog::sender),
            node: metrics,
            cluster: None,
        }
    }
}

/// Tells every shard to stop and waits for each, logging how it ended.
fn stop_shards(
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<Result<u64, String>>>,
) {
    for stop in stops {
        let _ = stop.send(());
    }
    for (shard, thread) in threads.into_iter().enumerate() {
        match thread.join() {
            Ok(Ok(requests)) => tracing::info!(shard, requests, "shard stopped"),
            Ok(Err(message)) => tracing::error!(shard, "shard stopped: {message}"),
            Err(_) => tracing::error!(shard, "a shard panicked while stopping"),
        }
    }
}

/// The node's shared metrics state. Metrics are public only when asked for with
/// `SHOAL_PROMETHEUS_AUTH_TYPE=public` (MinIO's setting).
fn node_metrics(
    config: &ServerConfig,
    layout: crate::topology::layout::PoolLayout,
) -> Arc<NodeMetrics> {
    let public_metrics = std::env::var("SHOAL_PROMETHEUS_AUTH_TYPE")
        .is_ok_and(|value| value.eq_ignore_ascii_case("public"));
    let facts = NodeFacts {
        server: config.address.to_string(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: config.commit.clone(),
        layout,
        connections_limit: (config.connections_per_shard_max * config.shards) as u64,
        public_metrics,
    };
    let names: Vec<String> = (config.drives.iter())
        .map(|d| d.display().to_string())
        .collect();
    match &config.cluster {
        None => NodeMetrics::new(facts, config.shards, &names),
        Some(cluster) => {
            NodeMetrics::new_in_pool(facts, config.shards, &names, cluster.local_positions())
        }
    }
}

/// Opens every drive folder and takes its lock for the process lifetime, so a second
/// server on the same drives is refused instead of sharing the port. Folders are
/// created only for a new deployment (no drive has a format record) or when told to
/// format new drives; otherwise a missing or empty folder is opened offline, never
/// written (it may be the bare mount point of a drive that did not mount).
pub fn open_drives(
    paths: &[PathBuf],
    format_new_drives: bool,
) -> Result<(Vec<DirDrive>, Vec<DriveLock>), String> {
    let deployment_exists = paths.iter().any(|path| path.join(FORMAT_PATH).is_file());
    let mut drives = Vec::with_capacity(paths.len());
    let mut locks = Vec::with_capacity(paths.len());
    for path in paths {
        let drive = if deployment_exists && !format_new_drives {
            DirDrive::open_existing(path, FORMAT_PATH)
        } else {
            std::fs::create_dir_all(path).map_err(|e| format!("drive {}: {e}", path.display()))?;
            DirDrive::open(path).map_err(|e| format!("drive {}: {e}", path.display()))?
        };
        if drive.offline_reason().is_none() {
            let lock = drive.lock_exclusive().map_err(|e| match e {
                // The drive's own message names the drive and the lock file already.
                shoal_io::DriveError::Io(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    format!("{e}; stop that process first")
                }
                e => format!("drive {}: cannot take its lock: {e}", path.display()),
            })?;
            locks.push(lock);
        }
        drives.push(drive);
    }
    Ok((drives, locks))
}

/// Formats or checks the drives and cleans leftovers, once, before any shard runs.
fn prepare_store(
    drives: Vec<DirDrive>,
    config: &ServerConfig,
) -> Result<(crate::topology::layout::PoolLayout, Vec<(String, String)>), String> {
    let store_config = StoreConfig {
        parity_chunks: config.parity,
        format_new_drives: config.format_new_drives,
        // Only formats: the shards open the indexes.
        listing_index: false,
        ..StoreConfig::default()
    };
    let (mut runtime, _) = shoal_io::build_runtime(&runtime_config())
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    runtime.block_on(async {
        let store = Store::open(drives, SystemClock, rand::random(), store_config)
            .await
            .map_err(|e| e.to_string())?;
        Ok((store.layout(), store.offline_drives()))
    })
}

fn runtime_config() -> shoal_io::RuntimeConfig {
    shoal_io::RuntimeConfig::default()
}

/// One shard: its own runtime on its own core, until told to stop. Returns how many
/// requests it served.
fn run_shard(
    shard_index: usize,
    plan: &ShardPlan,
    inboxes: ShardInboxes,
    stop_rx: oneshot::Receiver<()>,
    ready: &std_mpsc::Sender<Result<DriverKind, String>>,
) -> Result<u64, String> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let _ = shoal_io::pin_current_thread_to_core(shard_index % cores);
    let (mut runtime, driver) = match shoal_io::build_runtime(&runtime_config()) {
        Ok(built) => built,
        Err(e) => {
            let _ = ready.send(Err(format!(
                "shard {shard_index}: cannot start its I/O runtime: {e}"
            )));
            return Err(e.to_string());
        }
    };
    runtime.block_on(async move {
        let (ctx, peer_side) = match open_shard(shard_index, plan, inboxes.indexes).await {
            Ok((ctx, peer_side)) => (Rc::new(ctx), peer_side),
            Err(message) => {
                let _ = ready.send(Err(message.clone()));
                return Err(message);
            }
        };
        let listener = match shoal_io::net::listen(plan.config.address) {
            Ok(listener) => listener,
            Err(e) => {
                let message = format!("cannot listen on {}: {e}", plan.config.address);
                let _ = ready.send(Err(message.clone()));
                return Err(message);
            }
        };
        monoio::spawn(serve_lock_requests(
            shoal_io::MonoioEnv,
            ctx.store.locker_local(),
            inboxes.locks,
        ));
        if let (Some(cluster), Some(inbox), Some(side)) = (&plan.cluster, inboxes.peers, peer_side)
        {
            start_peer_tasks(&ctx, shard_index, cluster, inbox, side);
        }
        monoio::spawn(watch_drives(ctx.clone(), shard_index == 0));
        monoio::spawn(drain_heal_queue(ctx.clone(), shard_index));
        if shard_index == 0 {
            monoio::spawn(crate::front::probe::share_store_view(ctx.clone()));
        }
        if shard_index == 0
            && let Some(expiry) = plan.config.multipart_expiry
        {
            monoio::spawn(sweep_abandoned_uploads(ctx.clone(), expiry));
        }
        if shard_index == 0 {
            monoio::spawn(sweep_trash(ctx.clone()));
        }
        if ctx.observer.logs.needs_flush_tick() {
            monoio::spawn(flush_audit(ctx.clone()));
        }
        let scanner_done = start_scanner(&ctx, plan);
        let audit_done = start_index_audit(&ctx, plan);
        let fills_done = start_fills(&ctx, plan);
        let _ = ready.send(Ok(driver));
        accept_loop(&ctx, &listener, plan, stop_rx).await;
        drop(listener);
        drain(&ctx).await;
        // The scanner and the fills saw the stop with the drain; they save their
        // positions and end.
        let _ = monoio::time::timeout(STOP_GRACE, scanner_done).await;
        let _ = monoio::time::timeout(STOP_GRACE, audit_done).await;
        let _ = monoio::time::timeout(STOP_GRACE, fills_done).await;
        wait_for_every_shard_drained(plan).await;
        // No shard changes records any more: the indexes this shard owns are saved.
        ctx.store.save_listing_indexes().await;
        ctx.observer.logs.flush();
        Ok(ctx.requests_total())
    })
}

/// A cluster shard's peer side: peers' connections handed to it are served with its
/// local members; shard 0 also watches whether peers' drives answer (for health).
fn start_peer_tasks(
    ctx: &Rc<ShardContext>,
    shard_index: usize,
    cluster: &ClusterPlan,
    inbox: mpsc::Receiver<HandedPeer>,
    side: PeerSide,
) {
    let serve_config = cluster.config.serve_config(&cluster.secret);
    let owner_check = crate::front::peer::member_service::OwnerCheck {
        deployment_id: cluster.deployment_id,
        shard_index,
        shards: cluster.config.shards,
        counts: ctx.peer_verbs.clone(),
    };
    monoio::spawn(crate::front::cluster::shard::serve_peers(
        inbox,
        (side.local, side.desk),
        owner_check,
        serve_config,
    ));
    if shard_index == 0
        && let Some(node) = ctx.node.clone()
    {
        let watching = ctx.clone();
        monoio::spawn(crate::front::cluster::peer_watch::watch(
            cluster.config.clone(),
            cluster.secret.clone(),
            cluster.deployment_id,
            node,
            move || watching.stopping(),
        ));
    }
}

/// The root credentials of a cluster node: from the environment only, since every
/// node must hold the same.
fn cluster_credentials() -> Result<(Credentials, CredentialsSource), String> {
    crate::front::cluster::require_root_credentials()?;
    load_or_create(&[])
}

/// What answers a cluster shard's peers: its local members and the node's lock desk.
struct PeerSide {
    local: Vec<Rc<crate::member::Member<shoal_io::AnyDrive>>>,
    desk: Rc<dyn crate::member::peer::serve::LockDesk>,
}

/// The shard's store and (in a cluster) what answers its peers.
type OpenedShard = (ShardContext, Option<PeerSide>);

async fn open_shard(
    shard_index: usize,
    plan: &ShardPlan,
    index_mailboxes: Vec<Option<mpsc::Receiver<IndexCall>>>,
) -> Result<OpenedShard, String> {
    let mut drives = Vec::with_capacity(plan.config.drives.len());
    for path in &plan.config.drives {
        // Formatted (or found offline) by `prepare_store`: never created again here.
        drives.push(DirDrive::open_existing(path, FORMAT_PATH).into());
    }
    let defaults = StoreConfig::default();
    let store_config = StoreConfig {
        parity_chunks: plan.config.parity,
        clean_tmp_at_open: false,
        // The shards share each drive's index (below).
        listing_index: false,
        member_deadline: plan.config.member_deadline,
        // A holder waits at most a deadline per step: its lease outlasts a few of them.
        lease_duration: defaults
            .lease_duration
            .max(plan.config.member_deadline * LEASE_DEADLINES_MIN),
        ..defaults
    };
    let stripe_bytes = store_config.stripe_size_bytes;
    // The node's lock tables (owner shards); in a cluster a lock also needs a quorum of
    // the nodes, and peers lock in the same tables through the desk.
    let node_locker = KeyLocker::sharded(shard_index, plan.lock_senders.clone());
    let (store, peer_side) = match &plan.cluster {
        None => {
            let store = Store::open(drives, SystemClock, rand::random(), store_config).await;
            let store = store.map(|s| s.with_locker(node_locker));
            (store, None)
        }
        Some(cluster) => {
            let durations = (store_config.lease_duration, store_config.member_deadline);
            let members = crate::front::cluster::shard::members(
                shard_index,
                &cluster.config,
                (&cluster.secret, cluster.deployment_id),
                drives,
                durations,
            )?;
            let store = Store::open_cluster_in(
                members.pool,
                cluster.deployment_id,
                &cluster.config.topology,
                (SystemClock, shoal_io::MonoioEnv),
                rand::random(),
                store_config,
            );
            let locker = KeyLocker::cluster(node_locker.clone(), members.links);
            let store = store.await.map(|s| s.with_locker(locker));
            let desk =
                crate::set::lock_service::NodeLockDesk::new(&node_locker, cluster.deployment_id);
            let side = PeerSide {
                local: members.local,
                desk: Rc::new(desk),
            };
            (store, Some(side))
        }
    };
    let store = store.map_err(|e| format!("shard {shard_index}: {e}"))?;
    store
        .share_listing_indexes(
            shard_index,
            plan.config.shards,
            &plan.index_senders,
            index_mailboxes,
        )
        .await;
    let store = match plan.cluster {
        Some(_) => store.with_cluster_bucket_cache(plan.bucket_generation.clone()),
        None => store.with_bucket_generation(plan.bucket_generation.clone()),
    };
    let route_config = RouteConfig {
        virtual_host_domains: plan.config.domains.clone(),
    };
    let budget = MemoryBudget::new(plan.config.request_memory_per_shard_bytes);
    let request_bytes = request_memory_bytes(store.layout(), stripe_bytes);
    // Writes take their staging buffers from the same budget as reads (heals too);
    // every shard's healing keeps to the node's byte rate.
    let store = (store.with_memory_budget(budget.clone()))
        .with_heal_pace(plan.config.settings.heal().clone());
    let ctx = ShardContext::new(
        store,
        plan.credentials.clone(),
        plan.config.region.clone(),
        route_config,
        shard_index,
    )
    .with_memory_budget(budget, request_bytes)
    .with_node(plan.node.clone())
    .with_admin(plan.admin.clone())
    .with_logs(
        RequestLogs::new(shard_index, plan.credentials.access_key_id.clone())
            .with_node(plan.admin.clone())
            .with_audit(plan.audit.clone().map(|q| AuditShard::new(shard_index, q))),
    );
    Ok((ctx, peer_side))
}

/// What one data request holds at most: its stripe, the stripe's chunks, and one
/// aligned record buffer (a chunk and its header) per drive of the set.
fn request_memory_bytes(layout: crate::topology::layout::PoolLayout, stripe_bytes: usize) -> usize {
    let set = layout.set;
    let chunk_bytes = crate::record::stripe::chunk_len_for(stripe_bytes, set.data_chunks);
    stripe_bytes + 2 * set.set_size() * chunk_bytes
}

/// Removes abandoned multipart uploads now and then: at start, then every quarter of
/// the expiry (at most hourly). One shard does it; uploads are locked while removed.
async fn sweep_abandoned_uploads(ctx: Rc<ShardContext>, expiry: Duration) {
    let interval = (expiry / 4).clamp(Duration::from_secs(1), UPLOAD_SWEEP_INTERVAL_MAX);
    let expiry_nanos = u64::try_from(expiry.as_nanos()).unwrap_or(u64::MAX);
    loop {
        if ctx.stopping() {
            return;
        }
        let removed = ctx.store.remove_abandoned_uploads(expiry_nanos).await;
        if removed > 0 {
            tracing::info!(
                removed,
                expiry = %humanize(expiry),
                "multipart: removed {removed} upload folder(s) abandoned for over {}",
                humanize(expiry)
            );
        }
        monoio::time::sleep(interval).await;
    }
}

/// Removes replaced and deleted versions' data once GETs that started before the
/// change cannot need it any more (`trash.rs`). One shard does it.
async fn sweep_trash(ctx: Rc<ShardContext>) {
    let grace_nanos = u64::try_from(TRASH_GRACE.as_nanos()).unwrap_or(u64::MAX);
    loop {
        monoio::time::sleep(TRASH_SWEEP_INTERVAL).await;
        if ctx.stopping() {
            return;
        }
        ctx.store.sweep_trash(grace_nanos).await;
    }
}

/// The shard's background scanner (`object/scan/`) over its share of the sets, at the
/// node's pace (`settings.rs`), waiting while requests are in flight. It ends once the
/// shard stops (saving its position); the receiver says when.
fn start_scanner(ctx: &Rc<ShardContext>, plan: &ShardPlan) -> oneshot::Receiver<()> {
    let shard_index = ctx.shard_index;
    let share = match &plan.cluster {
        None => ScanShare::single_node(shard_index, plan.config.shards),
        Some(cluster) => ScanShare {
            node_index: cluster.config.this_node,
            node_count: cluster.config.topology.nodes.len(),
            shard_index,
            shard_count: plan.config.shards,
        },
    };
    let pace = plan.config.settings.scan().clone();
    spawn_background(ctx, async move |ctx, hooks| {
        let mut scanner = Scanner::open(&ctx.store, share, pace).await;
        scanner.run(hooks).await;
    })
}

/// The audit of the listing indexes this shard owns (`object/scan/index_audit.rs`),
/// at the scanner's pace; the receiver hears when it ended for the stop.
fn start_index_audit(ctx: &Rc<ShardContext>, plan: &ShardPlan) -> oneshot::Receiver<()> {
    let pace = plan.config.settings.scan().clone();
    spawn_background(ctx, async move |ctx, hooks| {
        crate::object::scan::index_audit::run_index_audit(&ctx.store, &pace, hooks).await;
    })
}

/// Fills the replaced drives of this node that are this shard's (`object/fill/`);
/// the receiver hears when they are done or saved their place at stop.
fn start_fills(ctx: &Rc<ShardContext>, plan: &ShardPlan) -> oneshot::Receiver<()> {
    let share = (ctx.shard_index, plan.config.shards);
    let pace = plan.config.settings.fill().clone();
    spawn_background(ctx, async move |ctx, hooks| {
        crate::object::fill::run_fills(&ctx.store, share, &pace, hooks).await;
    })
}

/// Runs `work` as a task of the shard, with the hooks of background work (it waits
/// while requests are in flight and ends once the shard stops); the receiver hears
/// when it ended.
fn spawn_background(
    ctx: &Rc<ShardContext>,
    work: impl AsyncFnOnce(&ShardContext, &ScanHooks<'_>) + 'static,
) -> oneshot::Receiver<()> {
    let (done_tx, done_rx) = oneshot::channel();
    let ctx = ctx.clone();
    monoio::spawn(async move {
        let busy = || ctx.in_flight() > 0;
        let stopping = || ctx.stopping();
        let hooks = ScanHooks {
            busy: &busy,
            stopping: &stopping,
        };
        work(&ctx, &hooks).await;
        let _ = done_tx.send(());
    });
    done_rx
}

/// Heals the objects this shard found damaged (`object/heal/queue.rs`): loads what an
/// earlier run left queued, then drains the queue at a bounded rate until the shard
/// stops (checked between objects).
async fn drain_heal_queue(ctx: Rc<ShardContext>, shard_index: usize) {
    ctx.store.load_heal_journal(shard_index).await;
    ctx.store.run_heal_queue(|| ctx.stopping()).await;
}

/// Hands the shard's audit records and request lines to their writers every
/// `FLUSH_INTERVAL` (a full buffer goes at once, from the request that filled it).
async fn flush_audit(ctx: Rc<ShardContext>) {
    while !ctx.stopping() {
        monoio::time::sleep(crate::front::logs::audit::FLUSH_INTERVAL).await;
        ctx.observer.logs.flush();
    }
}

/// Checks the drives' identity every `DRIVE_CHECK_INTERVAL` until the shard stops.
/// Every shard checks its own drive handles; one of them (`log`) says what changed.
async fn watch_drives(ctx: Rc<ShardContext>, log: bool) {
    while !ctx.stopping() {
        monoio::time::sleep(DRIVE_CHECK_INTERVAL).await;
        for change in ctx.store.check_drives().await {
            if !log {
                continue;
            }
            if let Some(why) = change.offline {
                tracing::warn!(
                    drive = %change.drive,
                    reason = %why,
                    "drive {} is OFFLINE: {why}; requests continue on the other drives \
                     within quorum",
                    change.drive
                );
            } else {
                tracing::info!(drive = %change.drive, "drive {} is back ONLINE", change.drive);
            }
        }
    }
}

/// `90s`, `15m`, `24h`, `3d` as the flag was given.
pub fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        s if s % 86_400 == 0 && s > 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 && s > 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 && s > 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Accepts connections until the stop signal; each admitted connection is its own
/// task, isolated from the others' panics.
async fn accept_loop(
    ctx: &Rc<ShardContext>,
    listener: &monoio::net::TcpListener,
    plan: &ShardPlan,
    mut stop_rx: oneshot::Receiver<()>,
) {
    let acceptor = plan.tls.clone().map(monoio_rustls::TlsAcceptor::from);
    let config = &plan.config;
    let admission = Admission::new(
        config.connections_per_shard_max,
        config.connections_per_client_max.div_ceil(config.shards),
    );
    monoio::spawn(trim_memory_after_bursts(ctx.clone(), admission.clone()));
    // A cluster's peers connect on the same port: each connection is sorted first.
    let peer_inboxes = (plan.cluster.as_ref())
        .map(|cluster| Rc::new(std::cell::RefCell::new(cluster.inboxes.clone())));
    monoio::spawn(crate::front::probe::publish_metrics(
        ctx.clone(),
        admission.clone(),
    ));
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop_rx => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if shoal_io::net::is_resource_exhaustion(&e) => {
                // The connection stays queued in the kernel; retrying at once would spin.
                let pause = backoff.on_exhaustion(ctx.shard_index, &e, Instant::now());
                monoio::select! {
                    () = monoio::time::sleep(pause) => continue,
                    _ = &mut stop_rx => break,
                }
            }
            Err(_) => continue, // this one connection failed (reset before accept)
        };
        backoff.on_success(ctx.shard_index, Instant::now());
        let accepted_at = monoio::time::Instant::now();
        let limits = config.conn_limits;
        match admission.admit(peer.ip()) {
            Verdict::Admit(slot) => {
                let (ctx, acceptor) = (ctx.clone(), acceptor.clone());
                let peer_inboxes = peer_inboxes.clone();
                monoio::spawn(async move {
                    let shard_index = ctx.shard_index;
                    let stream = match peer_inboxes {
                        Some(inboxes) => {
                            let sorting = crate::front::peer::accept::sort(
                                stream,
                                &inboxes,
                                limits.head_timeout,
                            );
                            match sorting.await {
                                crate::front::peer::accept::Sorted::S3(stream) => stream,
                                crate::front::peer::accept::Sorted::Peer => return,
                            }
                        }
                        None => stream,
                    };
                    let connection =
                        serve_connection(&ctx, stream, acceptor, limits, accepted_at, slot);
                    crate::front::conn::isolate(shard_index, connection).await;
                });
            }
            // Answering over TLS would cost a handshake per refusal: just close.
            Verdict::ShardFull(Some(refusal)) if acceptor.is_none() => {
                ctx.observer.metrics.connection_rejected(false);
                let ctx = ctx.clone();
                monoio::spawn(async move {
                    let refused = crate::front::conn::refuse(&ctx, stream, limits, accepted_at);
                    crate::front::conn::isolate(ctx.shard_index, refused).await;
                    drop(refusal);
                });
            }
            Verdict::ShardFull(_) => {
                ctx.observer.metrics.connection_rejected(false);
                drop(stream);
            }
            Verdict::ClientFull => {
                ctx.observer.metrics.connection_rejected(true);
                drop(stream);
            }
        }
    }
    ctx.stop();
}

/// One admitted connection: TLS handshake (bounded by the head timeout, and ended if
/// the connection is evicted meanwhile) then requests. Its slot is given back when the
/// connection ends (also on a panic: the unwind drops it).
async fn serve_connection(
    ctx: &ShardContext,
    stream: monoio::net::TcpStream,
    acceptor: Option<monoio_rustls::TlsAcceptor>,
    limits: ConnLimits,
    accepted_at: monoio::time::Instant,
    slot: Slot,
) {
    let _ = stream.set_nodelay(true);
    // Each branch boxed: a plain connection does not carry the (larger) TLS state.
    match acceptor {
        Some(acceptor) => {
            let deadline = accepted_at + limits.head_timeout;
            let handshake = monoio::time::timeout_at(deadline, acceptor.accept(stream));
            let handshake = monoio::select! {
                handshake = handshake => handshake,
                () = slot.evicted() => return,
            };
            if let Ok(Ok(tls_stream)) = handshake {
                Box::pin(crate::front::conn::serve(
                    ctx,
                    tls_stream,
                    limits,
                    accepted_at,
                    slot,
                ))
                .await;
            }
        }
        None => {
            Box::pin(crate::front::conn::serve(
                ctx,
                stream,
                limits,
                accepted_at,
                slot,
            ))
            .await;
        }
    }
}

/// Gives freed heap memory back to the OS when a burst of connections has ended, so
/// the memory an attack (or a load peak) made the shard allocate does not stay resident.
async fn trim_memory_after_bursts(ctx: Rc<ShardContext>, admission: Admission) {
    while !ctx.stopping() {
        monoio::time::sleep(TRIM_CHECK_INTERVAL).await;
        if admission.burst_ended() {
            shoal_io::runtime::release_free_memory();
        }
    }
}

/// A panic inside a connection's task is caught there and ends that connection only
/// (`conn::isolate`). A panic anywhere else (a shard's lock mailbox, its runtime, the
/// main thread) leaves state nothing vouches for: report it and abort the process, as
/// the release profile did before it unwound.
fn install_panic_policy() {
    std::panic::set_hook(Box::new(|info| {
        report_panic(info);
        if !crate::front::conn::in_isolated_task() {
            tracing::error!("internal error outside any connection; stopping the process");
            std::process::abort();
        }
    }));
}

/// The panic as one log event (where, what, which thread; the backtrace when
/// RUST_BACKTRACE asks for it), so a JSON log stays one JSON object per line. The
/// connection's own event (`conn.rs`) adds the request id.
fn report_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = (payload.downcast_ref::<&str>().copied())
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("panic");
    let location = info.location().map(ToString::to_string).unwrap_or_default();
    let thread = std::thread::current();
    let backtrace = std::backtrace::Backtrace::capture();
    let backtrace = match backtrace.status() {
        std::backtrace::BacktraceStatus::Captured => backtrace.to_string(),
        _ => String::new(),
    };
    tracing::error!(
        thread = thread.name().unwrap_or("unnamed"),
        %location,
        panic = message,
        backtrace,
        "internal error (panic) at {location}: {message}"
    );
}

/// Waits for requests in flight to finish, at most `STOP_GRACE`.
async fn drain(ctx: &ShardContext) {
    let deadline = Instant::now() + STOP_GRACE;
    while ctx.in_flight() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The barrier between drain and stop: this shard has drained; it keeps serving lock
/// requests of shards still draining until all have (or the slack ran out).
async fn wait_for_every_shard_drained(plan: &ShardPlan) {
    use std::sync::atomic::Ordering;
    plan.drained.fetch_add(1, Ordering::AcqRel);
    let deadline = Instant::now() + STOP_GRACE + STOP_BARRIER_SLACK;
    while plan.drained.load(Ordering::Acquire) < plan.config.shards && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SIGINT and SIGTERM are blocked in every thread (inherited by shards) and taken by
/// the main thread with sigwait, so no handler runs on a shard.
fn block_stop_signals() -> Result<nix::sys::signal::SigSet, String> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None)
        .map_err(|e| format!("blocking signals: {e}"))?;
    Ok(set)
}

fn print_banner(
    config: &ServerConfig,
    layout: crate::topology::layout::PoolLayout,
    offline: &[(String, String)],
    driver: DriverKind,
    credentials: &Credentials,
    source: &CredentialsSource,
    clamped: Option<&ClampedConnections>,
) {
    let scheme = if config.certs_dir.is_some() {
        "https"
    } else {
        "http"
    };
    let shown_host = if config.address.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        config.address.ip().to_string()
    };
    let endpoint = format!("{scheme}://{shown_host}:{}", config.address.port());
    println!(
        "Shoal {} — S3 API at {endpoint} (listening on {})",
        env!("CARGO_PKG_VERSION"),
        config.address
    );
    println!("  region:   {}", config.region);
    println!(
        "  drives:   {}",
        config
            .drives
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  erasure:  {} set(s) of {} drives, {} data + {} parity chunks per stripe",
        layout.set_count,
        layout.set.set_size(),
        layout.set.data_chunks,
        layout.set.parity_chunks
    );
    for (drive, why) in offline {
        println!("  OFFLINE:  {drive}: {why}; serving degraded on the other drives");
    }
    if !offline.is_empty() {
        println!(
            "            (a drive comes back online by itself when its folder holds its format \
             record again; an empty new drive is formatted only with --format-new-drives)"
        );
    }
    let driver = match driver {
        DriverKind::IoUring => "io_uring",
        DriverKind::Epoll => "epoll (io_uring unavailable; file I/O on a small thread pool)",
    };
    println!(
        "  shards:   {} (one per core, each with its own runtime and listener), I/O driver: {driver}",
        config.shards
    );
    match config.multipart_expiry {
        Some(expiry) => println!(
            "  uploads:  multipart uploads abandoned for {} are removed",
            humanize(expiry)
        ),
        None => println!("  uploads:  abandoned multipart uploads are kept (expiry off)"),
    }
    match source {
        CredentialsSource::Environment => {
            println!("  credentials: from SHOAL_ROOT_USER / SHOAL_ROOT_PASSWORD");
        }
        CredentialsSource::Stored(path) => {
            println!("  credentials: stored in {} (mode 0600)", path.display());
        }
        CredentialsSource::Generated(paths) => {
            println!("  credentials: generated for this new deployment; shown only this once:");
            println!("    AccessKey: {}", credentials.access_key_id);
            println!("    SecretKey: {}", credentials.secret_access_key);
            println!(
                "    (stored with mode 0600 in {} and the other drives)",
                paths[0].display()
            );
        }
    }
    print_limits(config, clamped);
    print_try_it(&endpoint, config, credentials, source);
    let _ = std::io::Write::flush(&mut std::io::stdout());
}

/// Lines to paste into a shell exactly as printed: they point the AWS CLI and SDKs at
/// this server through environment variables of that shell only, so nothing in the
/// user's ~/.aws changes. The secret is printed only when the banner prints it anyway
/// (first start); otherwise the line reads it from where it is kept.
fn print_try_it(
    endpoint: &str,
    config: &ServerConfig,
    credentials: &Credentials,
    source: &CredentialsSource,
) {
    let secret = match source {
        CredentialsSource::Generated(_) => shell_quote(&credentials.secret_access_key),
        CredentialsSource::Environment => "\"$SHOAL_ROOT_PASSWORD\"".to_owned(),
        CredentialsSource::Stored(path) => {
            format!("\"$(sed -n 2p {})\"", shell_quote(&absolute(path)))
        }
    };
    let region = shell_quote(&config.region);
    println!("Try it (paste into a shell; this changes nothing in ~/.aws):");
    println!(
        "  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY={secret} AWS_REGION={region} AWS_DEFAULT_REGION={region}",
        shell_quote(&credentials.access_key_id)
    );
    if let Some(certs_dir) = &config.certs_dir {
        let cert = absolute(&certs_dir.join("public.crt"));
        println!(
            "  # self-signed certificate? then also: export AWS_CA_BUNDLE={}",
            shell_quote(&cert)
        );
    }
    println!("  aws s3 mb s3://demo");
}

/// `path` made absolute against the current folder (the pasting shell may be elsewhere).
fn absolute(path: &std::path::Path) -> String {
    std::path::absolute(path)
        .unwrap_or_else(|_| path.to_owned())
        .display()
        .to_string()
}

/// `text` as one shell word: unchanged when it is plain, else in single quotes.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// The per-shard connection limit was lowered to fit the open-file limit.
struct ClampedConnections {
    requested_per_shard: usize,
    reserved_files: usize,
}

/// The limits in force: open files, connections, and the connection deadlines.
fn print_limits(config: &ServerConfig, clamped: Option<&ClampedConnections>) {
    let open_files_max = shoal_io::runtime::open_files_limit();
    let limits = &config.conn_limits;
    let per_client = match config.connections_per_client_max {
        0 => "no limit per client address".to_owned(),
        max => format!("{max} per client address"),
    };
    println!(
        "  limits:   open files: {open_files_max}; connections: {} per shard, {per_client}",
        config.connections_per_shard_max
    );
    if let Some(clamped) = clamped {
        println!(
            "  WARNING:  connections per shard lowered from {} to {} to fit the open-file \
             limit ({open_files_max}, of which {} are kept for drive files and peers); raise \
             `ulimit -n` (hard) for more",
            clamped.requested_per_shard, config.connections_per_shard_max, clamped.reserved_files
        );
    }
    println!(
        "  memory:   object transfers in flight hold at most {} MiB per shard (then 503 SlowDown)",
        config.request_memory_per_shard_bytes >> 20
    );
    println!(
        "  timeouts: head {}, idle {}, body at least {} bytes per {}",
        humanize(limits.head_timeout),
        humanize(limits.idle_timeout),
        limits.body_window_min_bytes,
        humanize(limits.body_window)
    );
}
