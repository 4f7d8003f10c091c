//! `shoal-bench plot A.json [B.json] -o out.svg`: one SVG with two charts of runs saved
//! with `--benchdata`: throughput over time (every 1-second segment of the measured
//! phase, one line per run; MiB/s, or obj/s when no run moved object bytes) and the
//! latency distribution (latency against percentile, one line per run and operation
//! kind, the percentile axis in "nines" so the tail gets as much room as the median).
//!
//! SVG only, drawn by `plotters` without its font stack: text is left to the viewer's
//! `sans-serif`, so nothing here needs fontconfig or freetype.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use plotters::prelude::*;

use crate::report::record::OpKind;
use crate::report::summary::{CURVE_NINES, Summary, read_json};

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 900;
/// Where the maximum sits on the percentile axis, past the last nine.
const MAX_AT: f64 = CURVE_NINES as f64 + 0.5;
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// JSON summaries written by --benchdata (one or two).
    #[arg(required = true, num_args = 1..=2)]
    pub runs: Vec<PathBuf>,
    /// The SVG file to write.
    #[arg(short = 'o', long = "output", default_value = "plot.svg")]
    pub output: PathBuf,
}

pub fn run(args: &Args) -> ExitCode {
    let mut runs = Vec::new();
    for path in &args.runs {
        match read_json(path) {
            Ok(summary) => runs.push((label(path, &summary), summary)),
            Err(error) => {
                eprintln!("shoal-bench plot: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    match draw(&runs, &args.output) {
        Ok(()) => {
            eprintln!("shoal-bench plot: wrote {}", args.output.display());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("shoal-bench plot: {}: {error}", args.output.display());
            ExitCode::FAILURE
        }
    }
}

/// A run's legend name: its file's stem and what it ran.
fn label(path: &Path, summary: &Summary) -> String {
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    format!(
        "{stem} ({} {} B x {})",
        summary.mode, summary.obj_size_bytes, summary.concurrent
    )
}

/// Percentile (0..=100) to the position on the "nines" axis: 90 -> 1, 99 -> 2, ...
fn nines(percentile: f64) -> f64 {
    if percentile >= 100.0 {
        return MAX_AT;
    }
    (-(1.0 - percentile / 100.0).log10()).min(f64::from(CURVE_NINES))
}

fn nines_label(x: f64) -> String {
    if (x - MAX_AT).abs() < 1e-6 {
        return "max".to_owned();
    }
    if (x - x.round()).abs() > 1e-6 || x < 0.0 {
        return String::new();
    }
    let percentile = 100.0 * (1.0 - 10f64.powf(-x.round()));
    let text = format!("{percentile:.4}");
    format!("{}%", text.trim_end_matches('0').trim_end_matches('.'))
}

/// Draws both charts into `output`.
pub fn draw(runs: &[(String, Summary)], output: &Path) -> Result<(), Box<dyn Error>> {
    let root = SVGBackend::new(output, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(HEIGHT / 2);
    draw_throughput(runs, &top)?;
    draw_latency(runs, &bottom)?;
    root.present()?;
    Ok(())
}

fn draw_throughput(
    runs: &[(String, Summary)],
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
) -> Result<(), Box<dyn Error>> {
    let by_bytes = runs.iter().any(|(_, s)| s.total.bytes > 0);
    let (column, unit) = if by_bytes { (0, "MiB/s") } else { (1, "obj/s") };
    let series: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|(_, s)| {
            s.total
                .throughput
                .per_segment
                .iter()
                .enumerate()
                .map(|(i, rates)| (i as f64 + 0.5, rates[column]))
                .collect()
        })
        .collect();
    let x_max = series.iter().map(Vec::len).max().unwrap_or(1).max(1) as f64;
    let y_max = series
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(0.0, f64::max)
        .max(1e-3)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("Throughput per 1 s segment ({unit})"),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the measured phase (first and last segments are not averaged)")
        .y_desc(unit)
        .draw()?;
    for (i, ((name, _), points)) in runs.iter().zip(series).enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn draw_latency(
    runs: &[(String, Summary)],
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
) -> Result<(), Box<dyn Error>> {
    let mut lines: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for (name, summary) in runs {
        for op in &summary.operations {
            let kind = op.kind.map_or("all", OpKind::name);
            let points = op
                .latency_curve
                .iter()
                .map(|&[percentile, ms]| (nines(percentile), ms.max(1e-3)))
                .collect();
            lines.push((format!("{name} {kind}"), points));
        }
    }
    let values = || lines.iter().flat_map(|l| &l.1).map(|p| p.1);
    let y_min = values().fold(f64::INFINITY, f64::min);
    let y_max = values().fold(0.0, f64::max);
    let (y_min, y_max) = if y_min.is_finite() {
        (y_min * 0.8, y_max * 1.25)
    } else {
        (0.1, 1.0)
    };
    let mut chart = ChartBuilder::on(area)
        .caption("Latency distribution (ms, log scale)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..MAX_AT, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_labels(2 * CURVE_NINES as usize + 2)
        .x_label_formatter(&|x| nines_label(*x))
        .x_desc("percentile")
        .y_desc("ms")
        .draw()?;
    for (i, (name, points)) in lines.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::record::Record;
    use crate::report::summary::{OpSummary, summarize};

    #[test]
    fn nines_axis() {
        assert!(nines(0.0).abs() < 1e-9);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert!((nines(100.0) - MAX_AT).abs() < 1e-9);
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
        assert_eq!(nines_label(MAX_AT), "max");
        assert_eq!(nines_label(1.5), "");
    }

    /// A summary with segments and a curve draws into a non-empty SVG.
    #[test]
    fn draws_svg() {
        let records: Vec<Record> = (0..50u64)
            .map(|i| Record {
                kind: OpKind::Get,
                worker: 0,
                start_ns: i * 100_000_000,
                first_byte_ns: i * 100_000_000 + 1_000_000,
                end_ns: i * 100_000_000 + (i + 1) * 1_000_000,
                bytes: 1 << 20,
                objects: 1,
                error: None,
            })
            .collect();
        let op: OpSummary = summarize(&records, Some(OpKind::Get), 0, 5_000_000_000);
        assert_eq!(op.throughput.per_segment.len(), 5);
        assert!(!op.latency_curve.is_empty());
        let summary = Summary {
            mode: "get".into(),
            operations: vec![op.clone()],
            total: OpSummary { kind: None, ..op },
            ..Summary::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("p.svg");
        let runs = vec![("a".to_owned(), summary.clone()), ("b".to_owned(), summary)];
        draw(&runs, &out).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");
    }
}
