//! The `shoal` binary: command line, configuration, start and stop of shards. Thin: no
//! request logic lives here.
#![forbid(unsafe_code)]

mod admin;
mod debug_audit;
mod debug_layout;
mod drive_list;
mod log_queue;
mod logging;

use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use shoal_io::{DirDrive, SystemClock};
use shoal_shards::{Store, StoreConfig};

/// What `shoal --version` prints after the name: package version, then the commit
/// (`-dirty` when built from a changed tree, `unknown` outside git), build profile and
/// target, all recorded by build.rs.
const VERSION_LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SHOAL_GIT_COMMIT"),
    ", ",
    env!("SHOAL_BUILD_PROFILE"),
    ", ",
    env!("SHOAL_BUILD_TARGET"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "shoal",
    version = VERSION_LONG,
    about = "S3-compatible, erasure-coded, thread-per-core object store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the S3 API from this node's drives.
    ///
    /// With no DRIVE arguments, uses four drive folders under ./shoal-data/ (created if
    /// missing). Credentials come from SHOAL_ROOT_USER / SHOAL_ROOT_PASSWORD, or are
    /// generated on first start, stored with mode 0600 on the drives and printed once.
    /// io_uring is used when the kernel allows it; MONOIO_FORCE_LEGACY_DRIVER=1 forces
    /// the epoll fallback.
    // Boxed: the server's options dwarf the other commands (clippy::large_enum_variant).
    Server(Box<ServerArgs>),
    /// Tools that drive the object store directly, without HTTP (testing, diagnosis).
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Ask a running server (HTTP or HTTPS), signed with the root credentials.
    #[command(subcommand)]
    Admin(AdminCommand),
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Version and commit, uptime, drives (state, free and total space), erasure sets and
    /// their quorums, and per shard its connections, requests and memory budget use.
    Info {
        #[command(flatten)]
        connection: admin::Connection,
        /// Print the server's JSON document as it is.
        #[arg(long)]
        json: bool,
    },
    /// The settings that can change while the server runs: log-filter (as SHOAL_LOG),
    /// log-requests (on|off), the background scanner's scan-objects-per-second,
    /// scan-deep-bytes-per-second, scan-deep-every and scan-cycle-pause, healing's
    /// heal-bytes-per-second and the fill of replaced drives' fill-objects-per-second.
    /// Every other setting is a flag of `shoal server`.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print requests as the server finishes them (time, request id, API, status,
    /// bucket/key, bytes in and out, duration, client), until interrupted or --count.
    Trace {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(flatten)]
        args: admin::TraceArgs,
    },
    /// Heal a bucket's objects (under a prefix), or every bucket's, now: each object is
    /// checked on every drive and what is missing or corrupt is rebuilt from the good
    /// chunks, as the background healing does. Waits until done; exit status 1 when
    /// anything is left damaged (or, with --dry-run, found damaged).
    Heal {
        #[command(flatten)]
        connection: admin::Connection,
        #[command(flatten)]
        args: admin::HealArgs,
    },
    /// Prometheus integration.
    #[command(subcommand)]
    Prometheus(PrometheusCommand),
}

#[derive(Subcommand)]
enum PrometheusCommand {
    /// Prints a Prometheus scrape configuration for the server, with a bearer token
    /// (HS512 JWT signed with the root secret key) valid for --expiry.
    Generate {
        /// The server's URL as Prometheus reaches it.
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        endpoint: String,
        /// How long the token is valid: `90d`, `24h`, `100y`, ...
        #[arg(long, default_value = "100y", value_parser = parse_expiry)]
        expiry: std::time::Duration,
    },
}

/// `N` followed by `s`, `m`, `h`, `d` or `y` (365 days).
fn parse_expiry(text: &str) -> Result<std::time::Duration, String> {
    let split = text.len().saturating_sub(1);
    let (number, unit) = text.split_at(split);
    let secs_per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "y" => 365 * 86_400,
        _ => return Err(format!("{text:?}: a number and a unit of s, m, h, d or y")),
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .and_then(|n| n.checked_mul(secs_per_unit))
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?}: a positive number and a unit of s, m, h, d or y"))
}

/// `shoal admin prometheus generate`: the root credentials come from the environment.
fn prometheus_generate(endpoint: &str, expiry: std::time::Duration) -> Result<(), String> {
    let access_key = std::env::var("SHOAL_ROOT_USER").map_err(
        |_| "set SHOAL_ROOT_USER and SHOAL_ROOT_PASSWORD to the server's root credentials",
    )?;
    let secret_key = std::env::var("SHOAL_ROOT_PASSWORD")
        .map_err(|_| "set SHOAL_ROOT_PASSWORD to the server's root secret key")?;
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let expires = i64::try_from(now_secs.saturating_add(expiry.as_secs())).unwrap_or(i64::MAX);
    let config =
        shoal_shards::front::probe::scrape_config(endpoint, &access_key, &secret_key, expires)?;
    print!("{config}");
    Ok(())
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every run-time setting, or KEY alone.
    Get {
        #[command(flatten)]
        connection: admin::Connection,
        key: Option<String>,
    },
    /// Change a run-time setting on every shard; it lasts until the server stops.
    Set {
        #[command(flatten)]
        connection: admin::Connection,
        key: String,
        value: String,
    },
}

#[derive(Subcommand)]
enum DebugCommand {
    /// Prints the pool a drive list makes, as every node started with it derives it:
    /// nodes, erasure sets with each member as node/drive, parity, quorums, and which
    /// drives are this node's (by --address, else by this machine's interfaces and port
    /// 9000). Takes the drive arguments of `shoal server`. Exits 2 on a list the server
    /// would refuse.
    Layout(LayoutArgs),
    /// Concurrent puts and overwrites of self-describing objects; prints `ack KEY GEN`
    /// for every acknowledged put (the workload of the kill -9 test).
    Stress {
        #[command(flatten)]
        drives: DriveArgs,
        /// Distinct keys written (and overwritten).
        #[arg(long, default_value_t = 64)]
        keys: usize,
        /// Concurrent writers.
        #[arg(long, default_value_t = 16)]
        writers: usize,
        /// Stop after this many acknowledged puts.
        #[arg(long, default_value_t = u64::MAX)]
        puts_max: u64,
        /// First generation written is this plus one (keeps generations growing across runs).
        #[arg(long, default_value_t = 0)]
        generation_base: u64,
    },
    /// Times CompleteMultipartUpload of an upload with many (small) parts, on these
    /// drives, without HTTP; the part size minimum is lowered for the run.
    CompleteBench {
        #[command(flatten)]
        drives: DriveArgs,
        /// Parts per upload (S3 allows up to 10,000).
        #[arg(long, default_value_t = 10_000)]
        parts: u32,
        /// Bytes per part (completing copies no data, so size does not matter).
        #[arg(long, default_value_t = 1024)]
        part_bytes: usize,
        /// Uploads built and completed; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Reads the drives of a stopped deployment and reports every object version's
    /// state, changing nothing.
    ///
    /// States: `healthy` (every drive holds its metadata, every chunk verifies),
    /// `degraded` (readable, but something is missing, stale or corrupt), `unreadable`
    /// (a stripe has fewer verified chunks than data chunks, or no version has
    /// metadata agreement). The drives are opened read-only: nothing is formatted,
    /// repaired, swept or locked.
    ///
    /// DRIVEs as `shoal server` takes them ({A...B} ranges; the path of an
    /// http://host:port/path endpoint is read as a folder here), in any order: sets
    /// come from the drives' format records, so a cluster is audited by giving every
    /// node's drive folders from one machine. Missing, blank, unusable or other
    /// deployments' drives are reported and skipped; drives a running server holds are
    /// named (the audit goes on).
    ///
    /// Exit status: 0 all healthy; 1 a version degraded or unreadable, or a position of
    /// the pool without its drive; 2 bad arguments or no formatted drive given.
    Audit {
        /// Drive folders (or `shoal server`'s drive arguments).
        #[arg(required = true)]
        drives: Vec<String>,
        /// One JSON object per version (bucket, key, version, state, chunks_ok,
        /// chunks_total, size, set, stripes, problems per drive), then one summary line
        /// ({"summary": {"healthy", "degraded", "unreadable"}, "drives": [...]}).
        #[arg(long)]
        json: bool,
    },
    /// Reads back every stress key; prints `KEY GEN` or `KEY missing`; fails if any key
    /// holds bytes that are not exactly one generation's body.
    Verify {
        #[command(flatten)]
        drives: DriveArgs,
        #[arg(long, default_value_t = 64)]
        keys: usize,
    },
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Address and port to listen on. With the cluster form of DRIVES it also names this
    /// node among the endpoints (needed on loopback, where every 127.0.0.x is local).
    #[arg(long, default_value = "0.0.0.0:9000")]
    address: std::net::SocketAddr,
    /// Shards (one thread pinned per core, each with its own listener). Default: every
    /// available core.
    #[arg(long)]
    shards: Option<usize>,
    /// Folder with public.crt and private.key (PEM): serve HTTPS instead of HTTP.
    #[arg(long)]
    certs_dir: Option<PathBuf>,
    /// Region reported to clients and required in request signatures.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Domain for virtual-host-style requests (bucket.DOMAIN); may be repeated.
    #[arg(long = "domain")]
    domains: Vec<String>,
    #[command(flatten)]
    layout: LayoutFlags,
    /// Remove multipart uploads not completed or aborted within this age, with their
    /// parts (`90s`, `30m`, `24h`, `7d`; `0` keeps them forever).
    #[arg(long, default_value = "24h", value_parser = parse_age)]
    multipart_expiry: std::time::Duration,
    /// A connection must deliver a whole request head within this time of its accept
    /// (or of its first byte after a keep-alive pause); else it is closed.
    #[arg(long, default_value = "30s", value_parser = parse_timeout)]
    head_timeout: std::time::Duration,
    /// Longest pause between two requests of a keep-alive connection, and longest
    /// stall of a response write to a client that does not read.
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    idle_timeout: std::time::Duration,
    /// A request body must bring --body-window-min-bytes in each window of this much
    /// time the server waits for it; a slower body is cut (400 RequestTimeout).
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    body_window: std::time::Duration,
    /// How long one drive may take to answer one step of a request (a metadata read, a
    /// staged write, a commit) before it counts as failed for that request and is
    /// marked slow; a hung drive costs a request at most this per step. Writers' lock
    /// leases last at least three times this (30 s or more), so a write waiting on a
    /// hung drive keeps its key.
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    member_deadline: std::time::Duration,
    /// Minimum body bytes per --body-window (0: no minimum rate; a body read then waits
    /// at most --idle-timeout).
    #[arg(long, default_value_t = 8192)]
    body_window_min_bytes: u64,
    /// Connections one shard serves at once; when full it closes an idle one to make
    /// room, and answers 503 SlowDown (HTTP) only when all are busy.
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    connections_per_shard_max: u64,
    /// Connections from one client IP address or IPv6 /64 (per node; each shard takes its share);
    /// more are closed. Behind a load balancer or NAT every client shares an address:
    /// raise it or use 0 (no limit).
    #[arg(long, default_value_t = 1024)]
    connections_per_client_max: u64,
    /// Memory (MiB) one shard lets object transfers in flight hold. A GET takes a grant
    /// of its stripe buffers before it starts (a stripe, its chunks and a record buffer
    /// per drive: 5 MiB with 4 drives); a PUT or UploadPart one per staging buffer as its
    /// body arrives (stripe / data drives + 8 KiB each, returned once the stripe is
    /// written: at most a stripe and its parity, nothing before the body's first byte).
    /// A request that finds it full waits up to 2 s (per buffer), then gets 503 SlowDown.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    request_memory_per_shard_mib: u64,
    /// Format drive folders that are empty in a deployment that exists (replacement
    /// drives), and fill each from the other drives of its set in the background
    /// (resumable across restarts; progress in `shoal admin info`). Without it such a
    /// folder stays offline, because it may be the bare mount point of a drive that did
    /// not mount, on the root disk.
    #[arg(long)]
    format_new_drives: bool,
    /// Log lines on stderr as text or as one JSON object per line. The filter comes from
    /// SHOAL_LOG (default `info`; e.g. `SHOAL_LOG=debug,shoal_shards=trace`).
    #[arg(long, env = "SHOAL_LOG_FORMAT", value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
    /// One log line per request (request id, API, bucket, key, status, bytes in and
    /// out, duration, client); `shoal admin config set log-requests on|off` changes it
    /// while the server runs.
    #[arg(long, env = "SHOAL_LOG_REQUESTS", value_parser = clap::builder::FalseyValueParser::new())]
    log_requests: bool,
    /// Append one JSON object per request to FILE (MinIO's audit shape: time, api {name,
    /// bucket, object, status, statusCode, rx, tx, timeToResponse}, remotehost,
    /// requestID, accessKey). Written by a thread of its own: when the disk cannot keep
    /// up, records are dropped (never the requests) and the log says how many.
    #[arg(long, env = "SHOAL_AUDIT_LOG", value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// POST the audit log's objects to this http:// URL too, in batches (one JSON
    /// object per line, application/x-ndjson) at least once a second; a batch the
    /// endpoint does not accept (2xx) is lost and the log says so.
    #[arg(long, env = "SHOAL_AUDIT_WEBHOOK", value_name = "URL")]
    audit_webhook: Option<String>,
    /// Objects each scanning shard's background scanner checks per second at most
    /// (metadata on every drive of the set, and every chunk in a deep cycle); it also
    /// waits while the shard serves requests. 0 pauses it. Changed at run time with
    /// `shoal admin config set scan-objects-per-second N`.
    #[arg(long, default_value_t = shoal_shards::object::scan::pace::OBJECTS_PER_SECOND_DEFAULT)]
    scan_objects_per_second: u64,
    /// Chunk bytes each scanning shard reads per second at most in a deep cycle
    /// (default 16 MiB/s; `scan-deep-bytes-per-second` at run time).
    #[arg(long, default_value_t = shoal_shards::object::scan::pace::DEEP_BYTES_PER_SECOND_DEFAULT)]
    scan_deep_bytes_per_second: u64,
    /// A scanner cycle is deep (reads and verifies every chunk) when the last deep one
    /// finished this long ago (`7d`; `0`: every cycle; `off`: never); the first cycle
    /// of a new deployment is deep.
    #[arg(long, default_value = "7d", value_parser = parse_deep_every)]
    scan_deep_every: DeepEvery,
    /// Pause between two scanner cycles.
    #[arg(long, default_value = "60s", value_parser = parse_age)]
    scan_cycle_pause: std::time::Duration,
    /// Chunk bytes each shard's healing reads and writes per second at most (judging
    /// and rebuilding damaged objects, whoever asked: heal on sight, the scanner's
    /// findings, `shoal admin heal`); 0: unlimited. Default 64 MiB/s;
    /// `heal-bytes-per-second` at run time.
    #[arg(long, default_value_t = shoal_shards::object::heal::pace::BYTES_PER_SECOND_DEFAULT)]
    heal_bytes_per_second: u64,
    /// Objects each fill of a replaced drive (see --format-new-drives) heals per second
    /// at most; it also yields to requests (waits up to 50 ms per object while the shard
    /// serves some). 0 pauses fills. Changed at run time with `shoal admin config set
    /// fill-objects-per-second N`.
    #[arg(long, default_value_t = shoal_shards::object::fill::OBJECTS_PER_SECOND_DEFAULT)]
    fill_objects_per_second: u64,
    /// Drive folders, in the same order on every start. Default: ./shoal-data/drive{1..4}.
    /// Created if missing for a new deployment only; in one that exists a missing or
    /// empty folder is offline and the server starts degraded within quorum. Ranges
    /// {A...B} name many (/data/d{1...4}). The cluster form names every node's drives,
    /// the same on every node: http://node{1...4}:9000/data/d{1...4} (https:// too; port
    /// 9000 when none); each argument with ranges is a pool. It is parsed, laid out
    /// (see `shoal debug layout`) and this node found (by --address); every node needs
    /// SHOAL_ROOT_USER/SHOAL_ROOT_PASSWORD, the same on all. One argument per drive and
    /// no ranges gives one pool too (a cluster on one machine: scripts/cluster.sh).
    drives: Vec<String>,
}

#[derive(clap::Args)]
struct LayoutArgs {
    /// Drives as `shoal server` takes them: folders, or http(s)://HOST:PORT/PATH
    /// endpoints, with {A...B} ranges.
    #[arg(required = true)]
    drives: Vec<String>,
    /// This node's address as it appears in the endpoints (HOST:PORT).
    #[arg(long, value_name = "HOST:PORT")]
    address: Option<String>,
    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    layout: LayoutFlags,
}

/// How a pool's drives are divided into erasure sets; shared by `server` and `debug layout`.
#[derive(clap::Args)]
struct LayoutFlags {
    /// Parity chunks per erasure set. Default by set size: 1 for 2–3 drives, 2 for 4–5,
    /// 3 for 6–7, 4 for 8–16; at most half the set.
    #[arg(long)]
    parity: Option<usize>,
    /// Drives per erasure set (2–16), instead of the largest size that divides the
    /// pool's drives evenly over its nodes; must be one of those sizes. Local folders
    /// take only their default size for now.
    #[arg(long)]
    set_drive_count: Option<usize>,
}

impl LayoutFlags {
    fn choice(&self) -> shoal_shards::topology::cluster::LayoutChoice {
        shoal_shards::topology::cluster::LayoutChoice {
            set_drive_count: self.set_drive_count,
            parity_chunks: self.parity,
        }
    }
}

#[derive(clap::Args)]
struct DriveArgs {
    /// Drive folders (created if missing), in the same order every time.
    #[arg(required = true, value_parser = parse_drive)]
    drives: Vec<PathBuf>,
    /// Parity chunks per erasure set. Default by set size: 1 for 2–3 drives, 2 for 4–5,
    /// 3 for 6–7, 4 for 8–16; at most half the set.
    #[arg(long)]
    parity: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server's log output; finished last, so its final lines are written.
    let mut log_queue = None;
    let result = match cli.command {
        Command::Server(args) => {
            let choice = args.layout.choice();
            match drive_list::server_drives(&args.drives, args.address, choice) {
                Ok((drives, cluster)) => run_server(*args, drives, cluster, &mut log_queue),
                Err(message) => return usage_error(&message),
            }
        }
        Command::Debug(DebugCommand::Layout(args)) => return run_debug_layout(&args),
        Command::Debug(DebugCommand::Audit { drives, json }) => {
            return debug_audit::run(&drives, json);
        }
        Command::Admin(command) => run_admin(command),
        Command::Debug(DebugCommand::Stress {
            drives,
            keys,
            writers,
            puts_max,
            generation_base,
        }) => with_store(&drives, |store| async move {
            shoal_shards::tools::stress::run_stress(
                &store,
                keys,
                writers.max(1),
                puts_max,
                generation_base,
            )
            .await
        }),
        Command::Debug(DebugCommand::CompleteBench {
            drives,
            parts,
            part_bytes,
            runs,
        }) => with_store(&drives, |store| async move {
            shoal_shards::tools::mpu_bench::run_complete_bench(
                &store,
                parts,
                part_bytes,
                runs.max(1),
            )
            .await
        }),
        Command::Debug(DebugCommand::Verify { drives, keys }) => {
            with_store(&drives, |store| async move {
                shoal_shards::tools::stress::run_verify(&store, keys).await
            })
        }
    };
    let code = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            if tracing::dispatcher::has_been_set() {
                tracing::error!("{message}");
            } else {
                eprintln!("shoal: {message}");
            }
            ExitCode::FAILURE
        }
    };
    if let Some(queue) = log_queue {
        queue.finish();
    }
    code
}

/// `shoal admin ...`: one request to a running server (or a Prometheus configuration).
fn run_admin(command: AdminCommand) -> Result<(), String> {
    match command {
        AdminCommand::Info { connection, json } => admin::info(&connection, json),
        AdminCommand::Config(ConfigCommand::Get { connection, key }) => {
            admin::config_get(&connection, key.as_deref())
        }
        AdminCommand::Config(ConfigCommand::Set {
            connection,
            key,
            value,
        }) => admin::config_set(&connection, &key, &value),
        AdminCommand::Trace { connection, args } => admin::trace(&connection, &args),
        AdminCommand::Heal { connection, args } => admin::heal(&connection, &args),
        AdminCommand::Prometheus(PrometheusCommand::Generate { endpoint, expiry }) => {
            prometheus_generate(&endpoint, expiry)
        }
    }
}

/// A drive list or address that cannot be used: said on stderr, exit status 2 (as
/// for any other bad argument).
fn usage_error(message: &str) -> ExitCode {
    eprintln!("shoal: error: {message}");
    ExitCode::from(2)
}

/// `shoal debug layout`: the pool, as text or JSON.
fn run_debug_layout(args: &LayoutArgs) -> ExitCode {
    let found = drive_list::pool(&args.drives, args.layout.choice()).and_then(|topology| {
        debug_layout::find_this_node(&topology, args.address.as_deref())
            .map(|this_node| (topology, this_node))
    });
    let (topology, this_node) = match found {
        Ok(found) => found,
        Err(message) => return usage_error(&message),
    };
    if args.json {
        println!("{:#}", debug_layout::json(&topology, &this_node));
    } else {
        print!("{}", debug_layout::text(&topology, &this_node));
    }
    ExitCode::SUCCESS
}

/// Installs the log output (kept in `log_queue` for `main` to finish), then serves
/// `drives` until stopped.
fn run_server(
    args: ServerArgs,
    drives: Vec<PathBuf>,
    cluster: Option<shoal_shards::front::cluster::ClusterConfig>,
    log_queue: &mut Option<log_queue::LogQueue>,
) -> Result<(), String> {
    let (logging, queue) = logging::init(args.log_format, args.log_requests)?;
    *log_queue = Some(queue);
    let scan = shoal_shards::object::scan::ScanPace::new(
        args.scan_objects_per_second,
        args.scan_deep_bytes_per_second,
        args.scan_deep_every.0,
        args.scan_cycle_pause,
    );
    let heal = shoal_shards::object::heal::HealPace::new(args.heal_bytes_per_second);
    let fill = shoal_shards::object::fill::FillPace::new(args.fill_objects_per_second);
    let settings = shoal_shards::front::settings::Settings::new(Arc::new(logging))
        .with_scan(scan)
        .with_heal(heal)
        .with_fill(fill);
    shoal_shards::front::server::run(server_config(args, (drives, cluster), settings))
}

fn server_config(
    args: ServerArgs,
    (drives, cluster): (
        Vec<PathBuf>,
        Option<shoal_shards::front::cluster::ClusterConfig>,
    ),
    settings: shoal_shards::front::settings::Settings,
) -> shoal_shards::front::server::ServerConfig {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    shoal_shards::front::server::ServerConfig {
        address: args.address,
        shards: args.shards.unwrap_or(cores).max(1),
        drives,
        parity: args.layout.parity,
        certs_dir: args.certs_dir,
        region: args.region,
        domains: args.domains,
        multipart_expiry: Some(args.multipart_expiry).filter(|d| !d.is_zero()),
        conn_limits: shoal_shards::front::conn::ConnLimits {
            head_timeout: args.head_timeout,
            idle_timeout: args.idle_timeout,
            body_window: args.body_window,
            body_window_min_bytes: args.body_window_min_bytes,
        },
        connections_per_shard_max: usize::try_from(args.connections_per_shard_max)
            .unwrap_or(usize::MAX),
        connections_per_client_max: usize::try_from(args.connections_per_client_max)
            .unwrap_or(usize::MAX),
        request_memory_per_shard_bytes: usize::try_from(args.request_memory_per_shard_mib)
            .map_or(usize::MAX, |mib| mib.saturating_mul(1 << 20)),
        commit: env!("SHOAL_GIT_COMMIT").to_owned(),
        format_new_drives: args.format_new_drives,
        member_deadline: args.member_deadline,
        settings,
        version: VERSION_LONG,
        audit_log: args.audit_log,
        audit_webhook: args.audit_webhook,
        cluster,
    }
}

/// A local drive folder for the debug tools, which open drives directly: endpoints
/// (`http://host:port/dir`) and ranges (`drive{1...4}`) are `shoal server`'s forms,
/// refused here rather than taken as a folder named like them.
fn parse_drive(text: &str) -> Result<PathBuf, String> {
    if text.starts_with("http://") || text.starts_with("https://") {
        return Err(format!(
            "{text:?}: the debug tools open this node's drive folders; give folders"
        ));
    }
    if text.contains('{') || text.contains('}') {
        return Err(format!(
            "{text:?}: the debug tools take no ranges; list each folder (a shell expands \
             drive{{1..4}})"
        ));
    }
    Ok(PathBuf::from(text))
}

/// Like [`parse_age`], but a timeout of zero would close every connection: refused.
fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    match parse_age(text)? {
        d if d.is_zero() => Err(format!("{text:?}: a timeout must be at least 1s")),
        d => Ok(d),
    }
}

/// `--scan-deep-every`: a duration, or `None` for `off`.
#[derive(Clone, Copy, Debug)]
struct DeepEvery(Option<std::time::Duration>);

fn parse_deep_every(text: &str) -> Result<DeepEvery, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(DeepEvery(None));
    }
    parse_age(text).map(|d| DeepEvery(Some(d)))
}

/// A whole number with a unit: `s`, `m`, `h` or `d` (`0` alone is allowed).
fn parse_age(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let seconds_per = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{text:?}: use a number and s, m, h or d (e.g. 24h)"
            ));
        }
    };
    let count: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: use a number and s, m, h or d (e.g. 24h)"))?;
    count
        .checked_mul(seconds_per)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

type LocalStore = Store<DirDrive, SystemClock>;

/// Opens and locks the drives, opens the store on one shard runtime, runs `work`.
fn with_store<F, Fut>(args: &DriveArgs, work: F) -> Result<(), String>
where
    F: FnOnce(Rc<LocalStore>) -> Fut,
    Fut: Future<Output = shoal_shards::Result<()>>,
{
    let (drives, _locks) = shoal_shards::front::server::open_drives(&args.drives, false)?;
    let config = StoreConfig {
        parity_chunks: args.parity,
        // Debug tools only: lets complete-bench build big uploads of small parts.
        part_size_min_bytes: 0,
        ..StoreConfig::default()
    };
    let (mut runtime, _) = shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let store = Rc::new(
            Store::open(drives, SystemClock, rand::random(), config)
                .await
                .map_err(|e| e.to_string())?,
        );
        let done = work(Rc::clone(&store)).await.map_err(|e| e.to_string());
        // As a server's stop does: the next start loads the listing indexes instead of
        // rebuilding them from every record (a change after this removes the marker).
        store.save_listing_indexes().await;
        done
    })
}
