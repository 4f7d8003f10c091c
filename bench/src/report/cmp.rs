//! `shoal-bench cmp A.json B.json`: two runs saved with `--benchdata`, side by side per
//! operation kind, with the ratio B/A of each figure (above 1 means B is higher: better
//! for throughput, worse for latency).

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use crate::report::summary::{OpSummary, Summary, read_json};

pub fn run(a: &Path, b: &Path) -> ExitCode {
    match (read_json(a), read_json(b)) {
        (Ok(a), Ok(b)) => {
            print!("{}", render(&a, &b));
            ExitCode::SUCCESS
        }
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("shoal-bench cmp: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The comparison table.
pub fn render(a: &Summary, b: &Summary) -> String {
    let mut out = String::new();
    for (name, run) in [("A", a), ("B", b)] {
        let _ = writeln!(
            out,
            "{name}: {} {} B x {} concurrent, {}, {:.1} s, hosts {}",
            run.mode,
            run.obj_size_bytes,
            run.concurrent,
            run.payload,
            run.duration_secs,
            run.hosts.join(",")
        );
    }
    let mut rows: Vec<(String, &OpSummary, Option<&OpSummary>)> = a
        .operations
        .iter()
        .map(|op| {
            let name = op
                .kind
                .map_or("ALL", crate::report::record::OpKind::name)
                .to_owned();
            (name, op, b.operations.iter().find(|o| o.kind == op.kind))
        })
        .collect();
    if a.operations.len() > 1 {
        rows.push(("ALL".to_owned(), &a.total, Some(&b.total)));
    }
    let _ = writeln!(
        out,
        "\n{:<8} {:<16} {:>12} {:>12} {:>8}",
        "op", "figure", "A", "B", "B/A"
    );
    for (name, op_a, op_b) in rows {
        let Some(op_b) = op_b else {
            let _ = writeln!(out, "{name:<8} (only in A)");
            continue;
        };
        let figures = [
            (
                "avg MiB/s",
                op_a.throughput.average_mib_s,
                op_b.throughput.average_mib_s,
            ),
            (
                "median MiB/s",
                op_a.throughput.median_mib_s,
                op_b.throughput.median_mib_s,
            ),
            (
                "avg obj/s",
                op_a.throughput.average_obj_s,
                op_b.throughput.average_obj_s,
            ),
            (
                "median obj/s",
                op_a.throughput.median_obj_s,
                op_b.throughput.median_obj_s,
            ),
            ("p50 ms", op_a.latency.p50_ms, op_b.latency.p50_ms),
            ("p99 ms", op_a.latency.p99_ms, op_b.latency.p99_ms),
            ("p99.9 ms", op_a.latency.p999_ms, op_b.latency.p999_ms),
            ("ttfb p50 ms", op_a.ttfb.p50_ms, op_b.ttfb.p50_ms),
            ("errors", op_a.errors as f64, op_b.errors as f64),
        ];
        for (figure, x, y) in figures {
            let ratio = if x > 0.0 {
                format!("{:.2}x", y / x)
            } else {
                "-".to_owned()
            };
            let _ = writeln!(out, "{name:<8} {figure:<16} {x:>12.2} {y:>12.2} {ratio:>8}");
        }
    }
    out
}
