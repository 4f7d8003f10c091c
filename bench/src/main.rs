//! `shoal-bench`: Shoal's benchmarks, one subcommand each. Today: `erasure`, the
//! one-core erasure/bitrot micro-benchmark. The warp-compatible S3 load generator
//! joins as another subcommand later. Nothing depends on this crate.
#![forbid(unsafe_code)]

use shoal_bench::erasure;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "shoal-bench", about = "Shoal benchmarks", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Erasure encode/rebuild and CRC-64/NVME throughput on one core, against memcpy.
    Erasure(erasure::Args),
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Erasure(args) => erasure::run(&args),
    }
}
