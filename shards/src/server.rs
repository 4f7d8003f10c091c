//! `shoal server`: start and stop of the shards of one node.
//!
//! Start, in order: open and lock the drives; open the store once on the main thread
//! (format, clean leftovers); load credentials and TLS; start one thread per shard,
//! each pinned to its core, with its own runtime, drives, store, listener (same port,
//! SO_REUSEPORT) and lock mailbox; print the banner when every shard listens. Stop
//! (SIGINT/SIGTERM): each shard stops accepting, lets requests in flight finish (at
//! most `STOP_GRACE`), and exits; the process exits 0. Start and stop are symmetric:
//! what a shard opens, the shard closes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use futures_channel::{mpsc, oneshot};
use shoal_http::RouteConfig;
use shoal_io::{DirDrive, DriveLock, DriverKind, SystemClock};

use crate::credentials::{CredentialsSource, load_or_create};
use crate::handler::{Credentials, ShardContext};
use crate::shard_lock::{KeyLocker, LockRequest, mailboxes, serve_lock_requests};
use crate::store::{Store, StoreConfig};
use crate::trash::{TRASH_GRACE, TRASH_SWEEP_INTERVAL};

/// How long a stopping shard waits for requests in flight.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Connections one shard serves at once; more are closed at accept.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 4096;

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
}

/// Longest wait between two sweeps for abandoned multipart uploads.
const UPLOAD_SWEEP_INTERVAL_MAX: Duration = Duration::from_hours(1);

/// What each shard needs to start; cloned into every shard thread.
#[derive(Clone)]
struct ShardPlan {
    config: ServerConfig,
    credentials: Credentials,
    tls: Option<Arc<rustls::ServerConfig>>,
    lock_senders: Vec<mpsc::Sender<LockRequest>>,
}

/// Runs the server until SIGINT or SIGTERM.
#[allow(clippy::needless_pass_by_value)] // the server owns its configuration for its lifetime
pub fn run(config: ServerConfig) -> Result<(), String> {
    let (drives, _locks) = open_drives(&config.drives)?;
    let (layout, offline) = prepare_store(drives, &config)?;
    let (credentials, credentials_source) = load_or_create(&config.drives)?;
    let tls = config
        .certs_dir
        .as_deref()
        .map(crate::tls::load_server_config)
        .transpose()?;
    let signals = block_stop_signals()?;
    let (lock_senders, lock_receivers) = mailboxes(config.shards);
    let plan = ShardPlan {
        config: config.clone(),
        credentials: credentials.clone(),
        tls,
        lock_senders,
    };
    let (ready_tx, ready_rx) = std_mpsc::channel();
    let mut stops = Vec::new();
    let mut threads = Vec::new();
    for (shard_index, lock_rx) in lock_receivers.into_iter().enumerate() {
        let (stop_tx, stop_rx) = oneshot::channel();
        stops.push(stop_tx);
        let (plan, ready_tx) = (plan.clone(), ready_tx.clone());
        let thread = std::thread::Builder::new()
            .name(format!("shoal-shard-{shard_index}"))
            .spawn(move || run_shard(shard_index, &plan, lock_rx, stop_rx, &ready_tx))
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
    );
    let signal = signals
        .wait()
        .map_err(|e| format!("waiting for signals: {e}"))?;
    eprintln!(
        "shoal: {signal:?} received; stopping (in-flight requests get up to {}s)",
        STOP_GRACE.as_secs()
    );
    for stop in stops {
        let _ = stop.send(());
    }
    for thread in threads {
        match thread.join() {
            Ok(Ok(served)) => eprintln!("shoal: {served}"),
            Ok(Err(message)) => eprintln!("shoal: {message}"),
            Err(_) => eprintln!("shoal: a shard panicked while stopping"),
        }
    }
    Ok(())
}

/// Opens every drive folder (creating it) and takes its lock for the process lifetime,
/// so a second server on the same drives is refused instead of sharing the port.
pub fn open_drives(paths: &[PathBuf]) -> Result<(Vec<DirDrive>, Vec<DriveLock>), String> {
    let mut drives = Vec::with_capacity(paths.len());
    let mut locks = Vec::with_capacity(paths.len());
    for path in paths {
        std::fs::create_dir_all(path).map_err(|e| format!("drive {}: {e}", path.display()))?;
        let drive = DirDrive::open(path).map_err(|e| format!("drive {}: {e}", path.display()))?;
        let lock = drive.lock_exclusive().map_err(|e| {
            format!(
                "drive {} is in use by another shoal process ({e}); stop it first",
                path.display()
            )
        })?;
        drives.push(drive);
        locks.push(lock);
    }
    Ok((drives, locks))
}

/// Formats or checks the drives and cleans leftovers, once, before any shard runs.
fn prepare_store(
    drives: Vec<DirDrive>,
    config: &ServerConfig,
) -> Result<(crate::layout::PoolLayout, Vec<(String, String)>), String> {
    let store_config = StoreConfig {
        parity_chunks: config.parity,
        ..StoreConfig::default()
    };
    let (mut runtime, _) =
        shoal_io::build_runtime(&runtime_config()).map_err(|e| format!("runtime: {e}"))?;
    runtime.block_on(async {
        let store = Store::open(drives, SystemClock, rand::random(), store_config)
            .await
            .map_err(|e| e.to_string())?;
        let offline = store
            .offline_drives()
            .into_iter()
            .map(|(d, w)| (d.to_owned(), w.to_owned()))
            .collect();
        Ok((store.layout(), offline))
    })
}

fn runtime_config() -> shoal_io::RuntimeConfig {
    shoal_io::RuntimeConfig::default()
}

/// One shard: its own runtime on its own core, until told to stop. Returns a summary.
fn run_shard(
    shard_index: usize,
    plan: &ShardPlan,
    lock_rx: mpsc::Receiver<LockRequest>,
    stop_rx: oneshot::Receiver<()>,
    ready: &std_mpsc::Sender<Result<DriverKind, String>>,
) -> Result<String, String> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let _ = shoal_io::pin_current_thread_to_core(shard_index % cores);
    let (mut runtime, driver) = match shoal_io::build_runtime(&runtime_config()) {
        Ok(built) => built,
        Err(e) => {
            let _ = ready.send(Err(format!("shard {shard_index}: runtime: {e}")));
            return Err(e.to_string());
        }
    };
    runtime.block_on(async move {
        let ctx = match open_shard(shard_index, plan).await {
            Ok(ctx) => Rc::new(ctx),
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
        monoio::spawn(serve_lock_requests(ctx.store.locker_local(), lock_rx));
        if shard_index == 0
            && let Some(expiry) = plan.config.multipart_expiry
        {
            monoio::spawn(sweep_abandoned_uploads(ctx.clone(), expiry));
        }
        if shard_index == 0 {
            monoio::spawn(sweep_trash(ctx.clone()));
        }
        let _ = ready.send(Ok(driver));
        accept_loop(&ctx, &listener, plan.tls.clone(), stop_rx).await;
        drain(&ctx).await;
        Ok(format!(
            "shard {shard_index} served {} requests",
            ctx.requests_total()
        ))
    })
}

async fn open_shard(shard_index: usize, plan: &ShardPlan) -> Result<ShardContext, String> {
    let mut drives = Vec::with_capacity(plan.config.drives.len());
    for path in &plan.config.drives {
        drives.push(DirDrive::open(path).map_err(|e| format!("drive {}: {e}", path.display()))?);
    }
    let store_config = StoreConfig {
        parity_chunks: plan.config.parity,
        clean_tmp_at_open: false,
        ..StoreConfig::default()
    };
    let store = Store::open(drives, SystemClock, rand::random(), store_config)
        .await
        .map_err(|e| format!("shard {shard_index}: {e}"))?
        .with_locker(KeyLocker::sharded(shard_index, plan.lock_senders.clone()));
    let route_config = RouteConfig {
        virtual_host_domains: plan.config.domains.clone(),
    };
    Ok(ShardContext::new(
        store,
        plan.credentials.clone(),
        plan.config.region.clone(),
        route_config,
        shard_index,
    ))
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
            println!(
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

/// Accepts connections until the stop signal; each connection is its own task.
async fn accept_loop(
    ctx: &Rc<ShardContext>,
    listener: &monoio::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop_rx: oneshot::Receiver<()>,
) {
    let acceptor = tls.map(monoio_rustls::TlsAcceptor::from);
    let open = Rc::new(std::cell::Cell::new(0usize));
    loop {
        let accepted = monoio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop_rx => break,
        };
        let Ok((stream, _peer)) = accepted else {
            continue;
        };
        if open.get() >= CONNECTIONS_PER_SHARD_MAX {
            drop(stream); // over the limit: refuse by closing
            continue;
        }
        let _ = stream.set_nodelay(true);
        open.set(open.get() + 1);
        let (ctx, open, acceptor) = (ctx.clone(), open.clone(), acceptor.clone());
        monoio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    if let Ok(tls_stream) = acceptor.accept(stream).await {
                        crate::conn::serve(&ctx, tls_stream).await;
                    }
                }
                None => crate::conn::serve(&ctx, stream).await,
            }
            open.set(open.get() - 1);
        });
    }
    ctx.stop();
}

/// Waits for requests in flight to finish, at most `STOP_GRACE`.
async fn drain(ctx: &ShardContext) {
    let deadline = Instant::now() + STOP_GRACE;
    while ctx.in_flight() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(20)).await;
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
    layout: crate::layout::PoolLayout,
    offline: &[(String, String)],
    driver: DriverKind,
    credentials: &Credentials,
    source: &CredentialsSource,
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
        println!("  OFFLINE:  {drive}: {why}");
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
    println!(
        "Try it:  aws configure set aws_access_key_id <AccessKey>; aws configure set aws_secret_access_key <SecretKey>"
    );
    println!("         aws --endpoint-url {endpoint} s3 mb s3://my-bucket");
    let _ = std::io::Write::flush(&mut std::io::stdout());
}
