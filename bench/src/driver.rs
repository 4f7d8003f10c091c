//! Runs one S3 mode end to end on the calling thread: starts the client shards, shows
//! progress while they work, then summarises, prints and saves the results.
//!
//! Progress goes to stderr: a line rewritten about once a second when stderr is a
//! terminal, otherwise a plain line every `PLAIN_PROGRESS_PERIOD` (logs stay short).
//! The report goes to stdout. Exit status: 0 when the run measured at least one
//! successful operation and prepare succeeded, 1 otherwise.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::hosts::expand_hosts;
use crate::record::{LiveCounters, LiveTotals, OpKind, Record};
use crate::report::{self, Summary};
use crate::workload::{
    Args, Mode, PHASE_CLEANUP, PHASE_PREPARE, PHASE_RUN, ShardResult, Shared, spawn_shards,
};

const TICK: Duration = Duration::from_millis(100);
const PLAIN_PROGRESS_PERIOD: Duration = Duration::from_secs(10);

/// The outcome of a run, for the binary and for tests.
pub struct RunResult {
    pub summary: Option<Summary>,
    pub records: Vec<Record>,
    pub fatal: Option<String>,
    pub warnings: Vec<String>,
}

pub fn run_mode(mode: Mode, args: &Args) -> ExitCode {
    let result = match execute(mode, args) {
        Ok(result) => result,
        Err(error) => {
            eprintln!("shoal-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    for warning in &result.warnings {
        eprintln!("shoal-bench: warning: {warning}");
    }
    if let Some(summary) = &result.summary {
        print!("{}", report::render(summary));
        if let Some(path) = &args.benchdata
            && let Err(error) = save(path, summary, &result.records)
        {
            eprintln!("shoal-bench: --benchdata: {error}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(fatal) = &result.fatal {
        eprintln!("shoal-bench: {fatal}");
        return ExitCode::FAILURE;
    }
    let succeeded = result
        .summary
        .as_ref()
        .is_some_and(|s| s.total.requests > s.total.errors);
    if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn save(path: &std::path::Path, summary: &Summary, records: &[Record]) -> Result<(), String> {
    let csv = report::benchdata_path(path, "csv");
    let json = report::benchdata_path(path, "json");
    report::write_csv(&csv, records).map_err(|e| format!("{}: {e}", csv.display()))?;
    report::write_json(&json, summary).map_err(|e| format!("{}: {e}", json.display()))?;
    eprintln!(
        "shoal-bench: wrote {} and {}",
        csv.display(),
        json.display()
    );
    Ok(())
}

/// Prepare, run and clean up; `Err` only for bad arguments.
pub fn execute(mode: Mode, args: &Args) -> Result<RunResult, String> {
    args.check()?;
    let hosts = expand_hosts(&args.host)?;
    let run_prefix: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    let shared = Arc::new(Shared::new(mode, args.clone(), hosts, run_prefix)?);
    let handles = spawn_shards(&shared);
    show_progress(&shared, &handles);
    let mut result = RunResult {
        summary: None,
        records: Vec::new(),
        fatal: None,
        warnings: Vec::new(),
    };
    for handle in handles {
        let shard: ShardResult = handle
            .join()
            .map_err(|_| "a client shard panicked".to_owned())?;
        result.records.extend(shard.records);
        result.fatal = result.fatal.or(shard.fatal);
        result.warnings.extend(shard.warnings);
    }
    if result.fatal.is_none() {
        result.records.sort_by_key(|r| r.start_ns);
        result.summary = Some(summarize(&shared, &result.records));
    }
    Ok(result)
}

fn summarize(shared: &Shared, records: &[Record]) -> Summary {
    let start_ns = shared.run_start_ns.load(Ordering::Relaxed);
    let end_ns = shared.run_end_ns.load(Ordering::Relaxed).max(start_ns);
    let mut kinds: Vec<OpKind> = records.iter().map(|r| r.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let args = &shared.args;
    Summary {
        tool: format!("shoal-bench {}", env!("CARGO_PKG_VERSION")),
        mode: shared.mode.name().to_owned(),
        hosts: shared.host_names.clone(),
        bucket: args.bucket.clone(),
        run_prefix: shared.run_prefix.clone(),
        concurrent: args.concurrent,
        shards: args.shards,
        obj_size_bytes: args.obj_size,
        payload: if args.disable_sha256_payload {
            "UNSIGNED-PAYLOAD"
        } else {
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
        }
        .to_owned(),
        duration_secs: (end_ns - start_ns) as f64 / 1e9,
        operations: kinds
            .iter()
            .map(|&k| report::summarize(records, Some(k), start_ns, end_ns))
            .collect(),
        total: report::summarize(records, None, start_ns, end_ns),
    }
}

/// Prints progress until every shard thread has ended.
fn show_progress(shared: &Shared, handles: &[std::thread::JoinHandle<ShardResult>]) {
    let terminal = std::io::stderr().is_terminal();
    let mut last_print = Instant::now();
    let mut last_totals = LiveTotals::default();
    let mut shown_phase = u8::MAX;
    while !handles.iter().all(std::thread::JoinHandle::is_finished) {
        std::thread::sleep(TICK);
        let phase = shared.phase.load(Ordering::Relaxed);
        if phase != shown_phase {
            if terminal && shown_phase == PHASE_RUN {
                eprintln!();
            }
            let what = match phase {
                PHASE_PREPARE => "preparing (bucket, objects)",
                PHASE_RUN => "running",
                PHASE_CLEANUP if !shared.args.noclear => "cleaning up",
                _ => "done",
            };
            eprintln!("shoal-bench {}: {what}", shared.mode.name());
            shown_phase = phase;
            last_print = Instant::now();
        }
        let period = if terminal {
            Duration::from_secs(1)
        } else {
            PLAIN_PROGRESS_PERIOD
        };
        if phase != PHASE_RUN || last_print.elapsed() < period {
            continue;
        }
        let totals = LiveCounters::sum(&shared.live);
        let secs = last_print.elapsed().as_secs_f64();
        let start_ns = shared.run_start_ns.load(Ordering::Relaxed);
        let elapsed = shared.epoch.elapsed().as_secs_f64() - start_ns as f64 / 1e9;
        let line = format!(
            "{elapsed:6.1}s / {:.0}s: {:8.1} ops/s, {:9.2} MiB/s, {} errors",
            shared.args.duration.as_secs_f64(),
            (totals.ops - last_totals.ops) as f64 / secs,
            (totals.bytes - last_totals.bytes) as f64 / secs / 1_048_576.0,
            totals.errors
        );
        if terminal {
            eprint!("\r{line}\x1b[K");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
        last_totals = totals;
        last_print = Instant::now();
    }
}
