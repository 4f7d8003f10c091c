//! From records to figures, the way warp computes them, and their outputs: the text
//! report, the per-operation CSV and the JSON summary (`--benchdata`).
//!
//! Throughput: the measured phase is cut into whole 1-second segments from its start;
//! an operation's bytes and objects are spread over the segments its [start, end]
//! overlaps, in proportion to the overlap (so a 3-second GET adds a third to each).
//! The first and the last segment are dropped, as warp drops ramp-up and ramp-down,
//! when at least three remain; the average is over the kept segments and the median,
//! fastest and slowest are of them. Latency (start to end) and TTFB (start to first
//! response byte) percentiles come from HDR histograms in microseconds over every
//! successful operation. Failed operations count only as errors, never as throughput.
//!
//! Each operation kind is summarised over its own phase: the measured run, or for the
//! multipart mode's UploadParts the upload phase before it. The CompleteMultipartUpload
//! is a single operation and is reported as its latency and part count alone.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::report::ratios::{BaselineRatio, Measured};
use crate::report::record::{OpKind, Record};

const NS_PER_SEC: u64 = 1_000_000_000;
const MIB: f64 = 1_048_576.0;
/// Distinct errors printed (all are counted).
const ERRORS_SHOWN: usize = 5;
/// The latency curve: points at quantiles `1 - 10^-(k / CURVE_STEPS_PER_NINE)` for
/// `k` up to `CURVE_NINES * CURVE_STEPS_PER_NINE` (p99.99), then the maximum.
pub const CURVE_NINES: u32 = 4;
const CURVE_STEPS_PER_NINE: u32 = 10;

/// Latency figures in milliseconds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Percentiles {
    pub avg_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Throughput figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub segments: usize,
    pub segment_secs: f64,
    pub average_mib_s: f64,
    pub average_obj_s: f64,
    pub median_mib_s: f64,
    pub median_obj_s: f64,
    pub fastest_mib_s: f64,
    pub fastest_obj_s: f64,
    pub slowest_mib_s: f64,
    pub slowest_obj_s: f64,
    /// Every 1-second segment from the phase's start, the dropped edges included (for
    /// `plot`): `[MiB/s, obj/s]`.
    #[serde(default)]
    pub per_segment: Vec<[f64; 2]>,
}

/// Everything reported about one operation kind (or all together: `kind` = None).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OpSummary {
    pub kind: Option<OpKind>,
    pub requests: u64,
    pub errors: u64,
    pub bytes: u64,
    pub objects: u64,
    pub throughput: Throughput,
    pub latency: Percentiles,
    pub ttfb: Percentiles,
    /// The latency distribution for `plot`: `[percentile, ms]` pairs, percentile rising
    /// from 0 to 100 in even steps of "nines" (see [`CURVE_NINES`]).
    #[serde(default)]
    pub latency_curve: Vec<[f64; 2]>,
    pub first_errors: Vec<String>,
    /// Throughput as ratios to the machine's ceilings, when run with `--baseline`.
    #[serde(default)]
    pub baseline_ratios: Vec<BaselineRatio>,
}

impl OpSummary {
    /// What its ratios to the machine's baseline are computed from.
    pub fn measured(&self) -> Measured {
        Measured {
            kind: self.kind,
            bytes: self.bytes,
            objects: self.objects,
            average_mib_s: self.throughput.average_mib_s,
            average_obj_s: self.throughput.average_obj_s,
        }
    }
}

/// The JSON summary of a run.
#[allow(clippy::struct_excessive_bools)] // one per switch of the run, as given
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    pub tool: String,
    pub mode: String,
    pub hosts: Vec<String>,
    pub bucket: String,
    pub run_prefix: String,
    pub concurrent: usize,
    pub shards: usize,
    pub obj_size_bytes: usize,
    pub payload: String,
    pub duration_secs: f64,
    pub operations: Vec<OpSummary>,
    pub total: OpSummary,
    /// Sizes were random up to `obj_size_bytes` (`--obj.randsize`).
    #[serde(default)]
    pub obj_randsize: bool,
    #[serde(default)]
    pub tls: bool,
    /// `--checksum` as given (upper case), and `--md5`.
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub md5: bool,
    /// GETs were of random ranges (`--range`).
    #[serde(default)]
    pub range: bool,
    /// `--rps-limit` (0: none).
    #[serde(default)]
    pub rps_limit: f64,
    /// The measured phase was ended by `--autoterm` after this long.
    #[serde(default)]
    pub autoterm_secs: Option<f64>,
    /// The multipart mode's upload.
    #[serde(default)]
    pub multipart: Option<MultipartSummary>,
    /// The `--baseline` file the ratios are against.
    #[serde(default)]
    pub baseline: Option<String>,
    /// `--server-pid`: the server's CPU over the measured phase.
    #[serde(default)]
    pub server: Option<ServerCost>,
}

/// The server's CPU over the measured phase, per request of that phase.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ServerCost {
    pub pid: u32,
    pub cpu_secs: f64,
    /// The measured phase's requests, failed ones included (the server worked on them
    /// too), and the objects they moved (keys, for a listing).
    pub requests: u64,
    pub objects: u64,
    /// The measured phase's length: the window of the CPU reading.
    pub window_secs: f64,
    pub cpu_per_request_us: f64,
}

impl ServerCost {
    pub fn new(pid: u32, cpu_secs: f64, total: &OpSummary, window_secs: f64) -> ServerCost {
        ServerCost {
            pid,
            cpu_secs,
            requests: total.requests,
            objects: total.objects,
            window_secs,
            cpu_per_request_us: if total.requests > 0 {
                cpu_secs * 1e6 / total.requests as f64
            } else {
                0.0
            },
        }
    }
}

/// The multipart mode's upload: parts, their size, and the CompleteMultipartUpload.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MultipartSummary {
    pub parts: usize,
    pub part_size_bytes: usize,
    /// Seconds from the first UploadPart to the last one's end.
    pub upload_secs: f64,
    /// Latency of the CompleteMultipartUpload, when it succeeded.
    pub complete_ms: Option<f64>,
}

/// Summarises the records of kind `kind` (all given when `None`) of a phase
/// `[start, end)`.
pub fn summarize<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    kind: Option<OpKind>,
    start_ns: u64,
    end_ns: u64,
) -> OpSummary {
    let mut summary = OpSummary {
        kind,
        ..OpSummary::default()
    };
    let mut latency = histogram();
    let mut ttfb = histogram();
    let selected = records
        .into_iter()
        .filter(|r| kind.is_none_or(|k| r.kind == k));
    let mut ok = Vec::new();
    for record in selected {
        summary.requests += 1;
        if let Some(error) = &record.error {
            summary.errors += 1;
            if summary.first_errors.len() < ERRORS_SHOWN {
                summary
                    .first_errors
                    .push(format!("{}: {error}", record.kind.name()));
            }
            continue;
        }
        summary.bytes += record.bytes;
        summary.objects += u64::from(record.objects);
        latency.saturating_record(((record.end_ns - record.start_ns) / 1000).max(1));
        ttfb.saturating_record(((record.first_byte_ns - record.start_ns) / 1000).max(1));
        ok.push(record);
    }
    summary.latency = percentiles(&latency);
    summary.ttfb = percentiles(&ttfb);
    summary.latency_curve = latency_curve(&latency);
    summary.throughput = throughput(&ok, start_ns, end_ns);
    summary
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds")
}

fn percentiles(histogram: &Histogram<u64>) -> Percentiles {
    if histogram.is_empty() {
        return Percentiles::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Percentiles {
        avg_ms: histogram.mean() / 1000.0,
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        p999_ms: ms(histogram.value_at_quantile(0.999)),
        max_ms: ms(histogram.max()),
    }
}

/// `[percentile, ms]` points of a histogram (see [`CURVE_NINES`]); empty when it is.
fn latency_curve(histogram: &Histogram<u64>) -> Vec<[f64; 2]> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let mut curve: Vec<[f64; 2]> = (0..=CURVE_NINES * CURVE_STEPS_PER_NINE)
        .map(|k| {
            let quantile = 1.0 - 10f64.powf(-f64::from(k) / f64::from(CURVE_STEPS_PER_NINE));
            let ms = histogram.value_at_quantile(quantile) as f64 / 1000.0;
            [quantile * 100.0, ms]
        })
        .collect();
    curve.push([100.0, histogram.max() as f64 / 1000.0]);
    curve
}

/// Segmented throughput (see the file header).
fn throughput(ok: &[&Record], start_ns: u64, end_ns: u64) -> Throughput {
    let segments_all = (end_ns.saturating_sub(start_ns) / NS_PER_SEC).max(1) as usize;
    let mut bytes = vec![0f64; segments_all];
    let mut objects = vec![0f64; segments_all];
    let segment_of = |ns: u64| (ns.saturating_sub(start_ns) / NS_PER_SEC) as usize;
    for record in ok {
        let (first, last) = (segment_of(record.start_ns), segment_of(record.end_ns));
        let span = (record.end_ns - record.start_ns).max(1) as f64;
        for segment in first..=last.min(segments_all - 1) {
            let from = (start_ns + segment as u64 * NS_PER_SEC).max(record.start_ns);
            let to = (start_ns + (segment as u64 + 1) * NS_PER_SEC).min(record.end_ns);
            let share = if first == last {
                1.0
            } else {
                to.saturating_sub(from) as f64 / span
            };
            bytes[segment] += record.bytes as f64 * share;
            objects[segment] += f64::from(record.objects) * share;
        }
    }
    let kept = if segments_all >= 3 {
        1..segments_all - 1
    } else {
        0..segments_all
    };
    let mut rates: Vec<(f64, f64)> = kept.map(|s| (bytes[s] / MIB, objects[s])).collect();
    let count = rates.len();
    let average_mib_s = rates.iter().map(|r| r.0).sum::<f64>() / count as f64;
    let average_obj_s = rates.iter().map(|r| r.1).sum::<f64>() / count as f64;
    rates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let by_objects = |rates: &mut Vec<(f64, f64)>| rates.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (median_mib_s, fastest_mib_s, slowest_mib_s) =
        (rates[count / 2].0, rates[count - 1].0, rates[0].0);
    by_objects(&mut rates);
    Throughput {
        segments: count,
        segment_secs: 1.0,
        average_mib_s,
        average_obj_s,
        median_mib_s,
        median_obj_s: rates[count / 2].1,
        fastest_mib_s,
        fastest_obj_s: rates[count - 1].1,
        slowest_mib_s,
        slowest_obj_s: rates[0].1,
        per_segment: bytes
            .iter()
            .zip(&objects)
            .map(|(&b, &o)| [b / MIB, o])
            .collect(),
    }
}

/// The text report, close to warp's layout.
pub fn render(summary: &Summary) -> String {
    let mut out = String::new();
    let sizes = if summary.obj_randsize {
        format!("objects up to {} B (random sizes)", summary.obj_size_bytes)
    } else {
        format!("objects {} B", summary.obj_size_bytes)
    };
    let _ = writeln!(
        out,
        "shoal-bench {}: {} hosts{}, bucket {}, {} concurrent on {} client shard(s), {sizes}, {} payload, {:.1} s measured",
        summary.mode,
        summary.hosts.len(),
        if summary.tls { " (TLS)" } else { "" },
        summary.bucket,
        summary.concurrent,
        summary.shards,
        summary.payload,
        summary.duration_secs
    );
    let mut extras = Vec::new();
    if let Some(checksum) = &summary.checksum {
        extras.push(format!("checksum {checksum}"));
    }
    if summary.md5 {
        extras.push("Content-MD5".to_owned());
    }
    if summary.range {
        extras.push("random ranges".to_owned());
    }
    if summary.rps_limit > 0.0 {
        extras.push(format!("rate limit {} req/s", summary.rps_limit));
    }
    if let Some(secs) = summary.autoterm_secs {
        extras.push(format!("ended by --autoterm after {secs:.1} s"));
    }
    if let Some(m) = &summary.multipart {
        extras.push(format!(
            "{} parts of {} B uploaded in {:.1} s",
            m.parts, m.part_size_bytes, m.upload_secs
        ));
    }
    if !extras.is_empty() {
        let _ = writeln!(out, "  with {}", extras.join(", "));
    }
    for op in &summary.operations {
        render_op(op, summary.concurrent, &mut out);
    }
    if summary
        .operations
        .iter()
        .filter(|o| o.kind.is_some_and(|k| !k.is_upload_phase()))
        .count()
        > 1
    {
        render_op(&summary.total, summary.concurrent, &mut out);
    }
    if let Some(server) = &summary.server {
        let _ = writeln!(
            out,
            "\nServer (pid {}): {:.2} CPU-s over {:.1} s for {} requests: {:.1} us of CPU \
             per request, {:.2} cores busy",
            server.pid,
            server.cpu_secs,
            server.window_secs,
            server.requests,
            server.cpu_per_request_us,
            server.cpu_secs / server.window_secs.max(1e-9)
        );
    }
    if let Some(baseline) = &summary.baseline {
        let _ = writeln!(out, "\n(ratios against the baseline in {baseline})");
    }
    out
}

/// The CompleteMultipartUpload: one latency and its part count.
fn render_complete(op: &OpSummary, out: &mut String) {
    let _ = writeln!(out, "\n----------------------------------------");
    if op.errors > 0 {
        let _ = writeln!(out, "Operation: COMPLETE (CompleteMultipartUpload) failed:");
        for error in &op.first_errors {
            let _ = writeln!(out, " * {error}");
        }
        return;
    }
    let _ = writeln!(
        out,
        "Operation: COMPLETE. CompleteMultipartUpload of {} parts: {:.3} ms",
        op.objects, op.latency.max_ms
    );
}

fn render_op(op: &OpSummary, concurrent: usize, out: &mut String) {
    if op.kind == Some(OpKind::Complete) {
        render_complete(op, out);
        return;
    }
    let name = op.kind.map_or("Cluster Total", OpKind::name);
    let t = &op.throughput;
    let _ = writeln!(out, "\n----------------------------------------");
    let _ = writeln!(out, "Operation: {name}. Concurrency: {concurrent}");
    let _ = writeln!(
        out,
        "* Average: {:.2} MiB/s, {:.2} obj/s",
        t.average_mib_s, t.average_obj_s
    );
    let _ = writeln!(
        out,
        "* Requests: {} ok, {} errors",
        op.requests - op.errors,
        op.errors
    );
    let _ = writeln!(
        out,
        "\nThroughput, split into {} x {}s:",
        t.segments, t.segment_secs
    );
    let _ = writeln!(
        out,
        " * Fastest: {:.2} MiB/s, {:.2} obj/s",
        t.fastest_mib_s, t.fastest_obj_s
    );
    let _ = writeln!(
        out,
        " * 50% Median: {:.2} MiB/s, {:.2} obj/s",
        t.median_mib_s, t.median_obj_s
    );
    let _ = writeln!(
        out,
        " * Slowest: {:.2} MiB/s, {:.2} obj/s",
        t.slowest_mib_s, t.slowest_obj_s
    );
    crate::report::ratios::render(&op.baseline_ratios, out);
    if op.kind.is_some() {
        let line = |p: &Percentiles| {
            format!(
                "Avg: {:.3}ms, 50%: {:.3}ms, 90%: {:.3}ms, 99%: {:.3}ms, 99.9%: {:.3}ms, Slowest: {:.3}ms",
                p.avg_ms, p.p50_ms, p.p90_ms, p.p99_ms, p.p999_ms, p.max_ms
            )
        };
        let _ = writeln!(out, "\nRequests considered: {}:", op.requests - op.errors);
        let _ = writeln!(out, " * Latency: {}", line(&op.latency));
        let _ = writeln!(out, " * TTFB:    {}", line(&op.ttfb));
    }
    if op.errors > 0 {
        let _ = writeln!(
            out,
            "\nErrors: {} (first {} distinct):",
            op.errors,
            op.first_errors.len()
        );
        for error in &op.first_errors {
            let _ = writeln!(out, " * {error}");
        }
    }
}

/// `path` with its extension replaced by `extension`.
pub fn benchdata_path(path: &Path, extension: &str) -> std::path::PathBuf {
    let mut path = path.to_path_buf();
    if matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("csv" | "json")
    ) {
        path.set_extension("");
    }
    let mut name = path.into_os_string();
    name.push(".");
    name.push(extension);
    name.into()
}

/// Every operation as a CSV row; times in nanoseconds since the run's epoch.
pub fn write_csv(path: &Path, records: &[Record]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(
        out,
        "op,worker,start_ns,first_byte_ns,end_ns,bytes,objects,error"
    )?;
    for r in records {
        let error = r.error.as_deref().unwrap_or("").replace('"', "\"\"");
        writeln!(
            out,
            "{},{},{},{},{},{},{},\"{error}\"",
            r.kind.name(),
            r.worker,
            r.start_ns,
            r.first_byte_ns,
            r.end_ns,
            r.bytes,
            r.objects
        )?;
    }
    out.flush()
}

pub fn write_json(path: &Path, summary: &Summary) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
    std::fs::write(path, text + "\n")
}

pub fn read_json(path: &Path) -> Result<Summary, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(start_s: f64, end_s: f64, bytes: u64, error: bool) -> Record {
        let ns = |s: f64| Duration::from_secs_f64(s).as_nanos() as u64;
        Record {
            kind: OpKind::Get,
            worker: 0,
            start_ns: ns(start_s),
            first_byte_ns: ns(start_s),
            end_ns: ns(end_s),
            bytes,
            objects: 1,
            error: error.then(|| "boom".into()),
        }
    }

    /// Edge segments are dropped, long ops are spread over their segments, and
    /// errors count as errors only.
    #[test]
    fn segments_like_warp() {
        let mib = 1 << 20;
        let mut records: Vec<Record> = (0..5)
            .map(|s| record(f64::from(s) + 0.1, f64::from(s) + 0.2, mib, false))
            .collect();
        records.push(record(1.5, 3.5, 2 * mib, false)); // 0.5 in s1, 1.0 in s2, 0.5 in s3
        records.push(record(2.0, 2.1, 99 * mib, true));
        let summary = summarize(&records, Some(OpKind::Get), 0, 5_000_000_000);
        let t = &summary.throughput;
        assert_eq!((summary.requests, summary.errors, t.segments), (7, 1, 3));
        assert!((t.median_mib_s - 1.5).abs() < 1e-9, "{t:?}");
        assert!((t.fastest_mib_s - 2.0).abs() < 1e-9, "{t:?}");
        assert!((t.average_mib_s - 5.0 / 3.0).abs() < 1e-9, "{t:?}");
        assert_eq!(summary.first_errors, vec!["GET: boom"]);
    }

    /// `--benchdata x` and `--benchdata x.json` name the same pair of files.
    #[test]
    fn benchdata_paths() {
        assert_eq!(
            benchdata_path(Path::new("a/run"), "csv"),
            Path::new("a/run.csv")
        );
        assert_eq!(
            benchdata_path(Path::new("run.json"), "csv"),
            Path::new("run.csv")
        );
    }
}
