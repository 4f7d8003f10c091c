//! `shoal-bench`: Shoal's benchmarks, one subcommand each: the warp-compatible S3 load
//! generator (`put`, `get`, `stat`, `delete`, `list`, `mixed`, `multipart`), `cmp` and
//! `plot` of saved runs, `baseline` (this machine's ceilings), and `erasure`, the
//! one-core erasure/bitrot micro-benchmark. Nothing depends on this crate.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shoal_bench::baseline::{ceilings as baseline, erasure};
use shoal_bench::load::args::{Args, Mode};
use shoal_bench::load::driver;
use shoal_bench::report::{cmp, plot};

#[derive(Parser)]
#[command(name = "shoal-bench", about = "Shoal benchmarks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Upload objects for --duration (warp put).
    Put(Args),
    /// Download prepared objects for --duration (warp get).
    Get(Args),
    /// HEAD prepared objects for --duration (warp stat).
    Stat(Args),
    /// Delete prepared objects in DeleteObjects batches of --batch (warp delete).
    Delete(Args),
    /// List each worker's prefix of prepared objects (warp list).
    List(Args),
    /// GET 45 / STAT 30 / PUT 15 / DELETE 10 over a shared set of objects (warp mixed).
    Mixed(Args),
    /// Upload one object in --parts parts of --part.size (each UploadPart measured, then
    /// the CompleteMultipartUpload), then GET random parts for --duration (warp
    /// multipart).
    Multipart(Args),
    /// Ours: HEADs without a signature, each of which must be refused with 403: the
    /// server's cost of a request it turns away, the floor under every other request.
    Anonymous(Args),
    /// Print two runs saved with --benchdata side by side, with ratios B/A.
    Cmp {
        /// JSON summary of run A.
        a: PathBuf,
        /// JSON summary of run B.
        b: PathBuf,
    },
    /// Draw runs saved with --benchdata (one or two) as an SVG: throughput over time and
    /// the latency distribution.
    Plot(plot::Args),
    /// This machine's ceilings: loopback TCP (stream and request/response), memcpy,
    /// SHA-256, MD5, CRC-64, erasure 8+4, O_DIRECT write/read; --json saves them for
    /// the modes' --baseline.
    Baseline(baseline::Args),
    /// Erasure encode/rebuild and CRC-64/NVME throughput on one core, against memcpy.
    Erasure(erasure::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (mode, args) = match cli.command {
        Command::Erasure(args) => {
            erasure::run(&args);
            return ExitCode::SUCCESS;
        }
        Command::Baseline(args) => {
            return match baseline::run(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("shoal-bench baseline: {error}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Cmp { a, b } => return cmp::run(&a, &b),
        Command::Plot(args) => return plot::run(&args),
        Command::Put(args) => (Mode::Put, args),
        Command::Get(args) => (Mode::Get, args),
        Command::Stat(args) => (Mode::Stat, args),
        Command::Delete(args) => (Mode::Delete, args),
        Command::List(args) => (Mode::List, args),
        Command::Mixed(args) => (Mode::Mixed, args),
        Command::Multipart(args) => (Mode::Multipart, args),
        Command::Anonymous(args) => (Mode::Anonymous, args),
    };
    driver::run_mode(mode, &args)
}
