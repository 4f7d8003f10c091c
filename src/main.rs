//! The `shoal` binary: command line, configuration, start and stop of shards. Thin: no
//! request logic lives here.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shoal_io::{DirDrive, DriveLock, SystemClock};
use shoal_shards::{Store, StoreConfig};

#[derive(Parser)]
#[command(
    name = "shoal",
    version,
    about = "S3-compatible, erasure-coded, thread-per-core object store"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Tools that drive the object store directly, without HTTP (testing, diagnosis).
    #[command(subcommand)]
    Debug(DebugCommand),
}

#[derive(Subcommand)]
enum DebugCommand {
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
struct DriveArgs {
    /// Drive folders (created if missing), in the same order every time.
    #[arg(required = true)]
    drives: Vec<PathBuf>,
    /// Parity chunks per erasure set (default: by set size, see DESIGN.md §3).
    #[arg(long)]
    parity: Option<usize>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Debug(DebugCommand::Stress {
            drives,
            keys,
            writers,
            puts_max,
            generation_base,
        }) => with_store(&drives, |store| async move {
            shoal_shards::stress::run_stress(
                &store,
                keys,
                writers.max(1),
                puts_max,
                generation_base,
            )
            .await
        }),
        Command::Debug(DebugCommand::Verify { drives, keys }) => {
            with_store(&drives, |store| async move {
                shoal_shards::stress::run_verify(&store, keys).await
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("shoal: {message}");
            ExitCode::FAILURE
        }
    }
}

type LocalStore = Store<DirDrive, SystemClock>;

/// Opens and locks the drives, opens the store on one shard runtime, runs `work`.
fn with_store<F, Fut>(args: &DriveArgs, work: F) -> Result<(), String>
where
    F: FnOnce(LocalStore) -> Fut,
    Fut: Future<Output = shoal_shards::Result<()>>,
{
    let (drives, _locks) = open_drives(&args.drives)?;
    let config = StoreConfig {
        parity_chunks: args.parity,
        ..StoreConfig::default()
    };
    let (mut runtime, _) = shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let store = Store::open(drives, SystemClock, rand::random(), config)
            .await
            .map_err(|e| e.to_string())?;
        work(store).await.map_err(|e| e.to_string())
    })
}

/// Opens every drive folder and takes its lock, so a second process cannot share it.
fn open_drives(paths: &[PathBuf]) -> Result<(Vec<DirDrive>, Vec<DriveLock>), String> {
    let mut drives = Vec::with_capacity(paths.len());
    let mut locks = Vec::with_capacity(paths.len());
    for path in paths {
        std::fs::create_dir_all(path).map_err(|e| format!("drive {}: {e}", path.display()))?;
        let drive = DirDrive::open(path).map_err(|e| format!("drive {}: {e}", path.display()))?;
        let lock = drive.lock_exclusive().map_err(|e| {
            format!(
                "drive {} is in use by another shoal process ({e})",
                path.display()
            )
        })?;
        drives.push(drive);
        locks.push(lock);
    }
    Ok((drives, locks))
}
