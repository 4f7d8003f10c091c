//! Runs one S3 mode end to end on the calling thread: starts the client shards, shows
//! progress while they work (and ends the run early when --autoterm finds it stable),
//! then summarises, prints and saves the results.
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

use crate::baseline::ceilings::{self, Baseline};
use crate::load::args::{Args, Mode};
use crate::load::autoterm::AutoTerm;
use crate::load::hosts::expand_hosts;
use crate::load::server_probe;
use crate::load::shared::{
    NOT_READ, PHASE_CLEANUP, PHASE_PREPARE, PHASE_RUN, PHASE_UPLOAD, ShardResult, Shared,
};
use crate::load::workload::spawn_shards;
use crate::report::record::{LiveCounters, LiveTotals, OpKind, Record};
use crate::report::summary::{self, MultipartSummary, OpSummary, ServerCost, Summary};

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
        print!("{}", summary::render(summary));
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
    let csv = summary::benchdata_path(path, "csv");
    let json = summary::benchdata_path(path, "json");
    summary::write_csv(&csv, records).map_err(|e| format!("{}: {e}", csv.display()))?;
    summary::write_json(&json, summary).map_err(|e| format!("{}: {e}", json.display()))?;
    eprintln!(
        "shoal-bench: wrote {} and {}",
        csv.display(),
        json.display()
    );
    Ok(())
}

/// Prepare, run and clean up; `Err` only for bad arguments (or an unreadable
/// `--baseline`), before any request.
pub fn execute(mode: Mode, args: &Args) -> Result<RunResult, String> {
    let warnings = args.check(mode)?;
    if let Some(pid) = args.server_pid {
        server_probe::cpu_ticks(pid).map_err(|e| format!("--server-pid {pid}: {e}"))?;
    }
    let baseline = args
        .baseline
        .as_deref()
        .map(ceilings::read_json)
        .transpose()?;
    let hosts = expand_hosts(&args.host)?;
    let run_prefix: String = rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(8)
        .map(char::from)
        .collect();
    let shared = Arc::new(Shared::new(mode, args.clone(), hosts, run_prefix)?);
    let handles = spawn_shards(&shared);
    let autoterm_secs = show_progress(&shared, &handles);
    let mut result = RunResult {
        summary: None,
        records: Vec::new(),
        fatal: None,
        warnings,
    };
    for handle in handles {
        let shard: ShardResult = handle
            .join()
            .map_err(|_| "a client shard panicked".to_owned())?;
        result.records.extend(shard.records);
        result.fatal = result.fatal.or(shard.fatal);
        result.warnings.extend(shard.warnings);
    }
    result.records.sort_by_key(|r| r.start_ns);
    let upload_done = result.records.iter().any(|r| r.kind.is_upload_phase());
    if result.fatal.is_none() || upload_done {
        // A multipart run reports its upload even when Complete or a part failed.
        let mut summary = summarize(&shared, &result.records, baseline.as_ref());
        summary.autoterm_secs = autoterm_secs;
        result.summary = Some(summary);
    }
    Ok(result)
}

/// The `[start, end)` window a kind's throughput is measured over.
fn window(shared: &Shared, kind: OpKind, records: &[Record]) -> (u64, u64) {
    let load = |value: &std::sync::atomic::AtomicU64| value.load(Ordering::Relaxed);
    match kind {
        OpKind::Complete => records
            .iter()
            .find(|r| r.kind == OpKind::Complete)
            .map_or((0, 0), |r| (r.start_ns, r.end_ns)),
        OpKind::UploadPart => {
            let start = load(&shared.upload_start_ns);
            (start, load(&shared.upload_end_ns).max(start))
        }
        _ => {
            let start = load(&shared.run_start_ns);
            (start, load(&shared.run_end_ns).max(start))
        }
    }
}

fn summarize(shared: &Shared, records: &[Record], baseline: Option<&Baseline>) -> Summary {
    let mut kinds: Vec<OpKind> = records.iter().map(|r| r.kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let args = &shared.args;
    let mut operations: Vec<_> = kinds
        .iter()
        .map(|&kind| {
            let (start, end) = window(shared, kind, records);
            summary::summarize(records, Some(kind), start, end)
        })
        .collect();
    let (run_start, run_end) = window(shared, OpKind::Get, records);
    let run_records = records.iter().filter(|r| !r.kind.is_upload_phase());
    let mut total = summary::summarize(run_records, None, run_start, run_end);
    if let Some(baseline) = baseline {
        for op in operations.iter_mut().chain(std::iter::once(&mut total)) {
            op.baseline_ratios = crate::report::ratios::compute(&op.measured(), baseline);
        }
    }
    let multipart = (shared.mode == Mode::Multipart).then(|| {
        let (start, end) = window(shared, OpKind::UploadPart, records);
        MultipartSummary {
            parts: args.parts,
            part_size_bytes: args.part_size,
            upload_secs: (end - start) as f64 / 1e9,
            complete_ms: operations
                .iter()
                .find(|o| o.kind == Some(OpKind::Complete) && o.errors == 0)
                .map(|o| o.latency.max_ms),
        }
    });
    let server = server_cost(shared, &total, (run_end - run_start) as f64 / 1e9);
    Summary {
        tool: format!("shoal-bench {}", env!("CARGO_PKG_VERSION")),
        mode: shared.mode.name().to_owned(),
        hosts: shared.host_names.clone(),
        bucket: args.bucket.clone(),
        run_prefix: shared.run_prefix.clone(),
        concurrent: args.concurrent,
        shards: args.shards,
        obj_size_bytes: args.body_bytes(shared.mode),
        payload: match (args.disable_sha256_payload, args.checksum.is_some()) {
            (true, _) => "UNSIGNED-PAYLOAD",
            (false, false) => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            (false, true) => "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        }
        .to_owned(),
        duration_secs: (run_end - run_start) as f64 / 1e9,
        operations,
        total,
        obj_randsize: args.obj_randsize,
        tls: args.tls,
        checksum: args.checksum.map(|c| {
            let suffix = if c.full_object && c.algorithm.name() != "CRC64NVME" {
                "-FO"
            } else {
                ""
            };
            format!("{}{suffix}", c.algorithm.name())
        }),
        md5: args.md5,
        range: args.range,
        rps_limit: args.rps_limit,
        autoterm_secs: None,
        multipart,
        baseline: args.baseline.as_ref().map(|p| p.display().to_string()),
        server,
    }
}

/// --server-pid: the server's CPU over the measured phase, when both ends were read.
fn server_cost(shared: &Shared, total: &OpSummary, window_secs: f64) -> Option<ServerCost> {
    let pid = shared.args.server_pid?;
    let start = shared.server_cpu_start_ticks.load(Ordering::Relaxed);
    let end = shared.server_cpu_end_ticks.load(Ordering::Relaxed);
    if start == NOT_READ || end == NOT_READ {
        return None;
    }
    let cpu_secs = end.saturating_sub(start) as f64 / server_probe::TICKS_PER_SEC as f64;
    Some(ServerCost::new(pid, cpu_secs, total, window_secs))
}

/// Prints progress until every shard thread has ended; with --autoterm, stops the run
/// once it is stable and returns how long it had run.
fn show_progress(shared: &Shared, handles: &[std::thread::JoinHandle<ShardResult>]) -> Option<f64> {
    let terminal = std::io::stderr().is_terminal();
    let mut progress = Progress::new(terminal);
    let mut autoterm = shared
        .args
        .autoterm
        .then(|| AutoTerm::new(shared.args.autoterm_dur, shared.args.autoterm_pct));
    let mut stopped_secs = None;
    let by_bytes = !matches!(
        shared.mode,
        Mode::Stat | Mode::List | Mode::Delete | Mode::Anonymous
    );
    while !handles.iter().all(std::thread::JoinHandle::is_finished) {
        std::thread::sleep(TICK);
        let phase = shared.phase.load(Ordering::Relaxed);
        progress.phase(shared, phase);
        if !matches!(phase, PHASE_RUN | PHASE_UPLOAD) {
            continue;
        }
        let totals = LiveCounters::sum(&shared.live);
        let start_ns = if phase == PHASE_RUN {
            shared.run_start_ns.load(Ordering::Relaxed)
        } else {
            shared.upload_start_ns.load(Ordering::Relaxed)
        };
        let elapsed = shared.epoch.elapsed().as_secs_f64() - start_ns as f64 / 1e9;
        if phase == PHASE_RUN
            && stopped_secs.is_none()
            && let Some(auto) = &mut autoterm
        {
            let total = if by_bytes { totals.bytes } else { totals.ops };
            if auto.observe(elapsed, total as f64) {
                shared.stop.store(true, Ordering::Relaxed);
                stopped_secs = Some(elapsed);
                if terminal {
                    eprintln!(); // end the progress line being rewritten
                }
                eprintln!("shoal-bench: --autoterm: throughput stable, ending the run");
            }
        }
        progress.line(shared, phase, elapsed, totals);
    }
    stopped_secs
}

/// The progress lines.
struct Progress {
    terminal: bool,
    last_print: Instant,
    last_totals: LiveTotals,
    shown_phase: u8,
}

impl Progress {
    fn new(terminal: bool) -> Progress {
        Progress {
            terminal,
            last_print: Instant::now(),
            last_totals: LiveTotals::default(),
            shown_phase: u8::MAX,
        }
    }

    /// Announces a new phase.
    fn phase(&mut self, shared: &Shared, phase: u8) {
        if phase == self.shown_phase {
            return;
        }
        if self.terminal && matches!(self.shown_phase, PHASE_RUN | PHASE_UPLOAD) {
            eprintln!();
        }
        let what = match phase {
            PHASE_PREPARE => "preparing (bucket, objects)".to_owned(),
            PHASE_UPLOAD => format!("uploading {} parts", shared.args.parts),
            PHASE_RUN => "running".to_owned(),
            PHASE_CLEANUP if !shared.args.noclear => "cleaning up".to_owned(),
            _ => "done".to_owned(),
        };
        eprintln!("shoal-bench {}: {what}", shared.mode.name());
        self.shown_phase = phase;
        self.last_print = Instant::now();
        self.last_totals = LiveCounters::sum(&shared.live);
    }

    /// Prints the rates since the last line, if it is time to.
    fn line(&mut self, shared: &Shared, phase: u8, elapsed: f64, totals: LiveTotals) {
        let period = if self.terminal {
            Duration::from_secs(1)
        } else {
            PLAIN_PROGRESS_PERIOD
        };
        if self.last_print.elapsed() < period {
            return;
        }
        let secs = self.last_print.elapsed().as_secs_f64();
        let of = if phase == PHASE_RUN {
            format!(" / {:.0}s", shared.args.duration.as_secs_f64())
        } else {
            String::new()
        };
        let line = format!(
            "{elapsed:6.1}s{of}: {:8.1} ops/s, {:9.2} MiB/s, {} errors",
            (totals.ops - self.last_totals.ops) as f64 / secs,
            (totals.bytes - self.last_totals.bytes) as f64 / secs / 1_048_576.0,
            totals.errors
        );
        if self.terminal {
            eprint!("\r{line}\x1b[K");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
        self.last_totals = totals;
        self.last_print = Instant::now();
    }
}
