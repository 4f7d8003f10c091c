//! `shoal-bench baseline`: this machine's ceilings, measured in one go, so S3 figures
//! can be read as ratios (DESIGN.md §8): loopback TCP (a stream, and HTTP-shaped
//! request/response round trips at the suite's object sizes), memcpy, per core SHA-256
//! (SigV4 payloads), MD5 (ETags), CRC-64/NVME (bitrot) and erasure encode 8+4, and
//! sequential O_DIRECT write and read in a data folder. Printed as a table (GB/s
//! figures with their ratio to memcpy); `--json FILE` also saves them as a
//! [`Baseline`], which the S3 modes take with `--baseline FILE` to report their
//! throughput as ratios to these ceilings.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shoal_erasure::{Coder, bitrot};

use crate::baseline::disk::{self, DirectIo};
use crate::baseline::net::{self, RequestResponse, Shape};
use crate::units::{format_size, parse_size_bytes};

const BUFFER_BYTES: usize = 1 << 20;
/// The key of the loopback stream figure (what `--baseline` ratios read).
pub const LOOPBACK_TCP: &str = "loopback_tcp";

#[derive(clap::Args)]
pub struct Args {
    /// Seconds spent on each figure.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
    /// Object sizes of the request/response figures (the standard suite's by default).
    #[arg(long, value_delimiter = ',', default_value = "4KiB,10MiB", value_parser = parse_size_bytes)]
    sizes: Vec<usize>,
    /// Loopback connections of the request/response figures, each a client and a
    /// server thread.
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Folder for the O_DIRECT figures (default: the system's temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Largest file the O_DIRECT figures write.
    #[arg(long = "direct-size", default_value = "1GiB", value_parser = parse_size_bytes)]
    direct_size: usize,
    /// Also save the figures as JSON, for `--baseline` of the S3 modes.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One throughput figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figure {
    /// Stable name for tools (`loopback_tcp`, `memcpy`, `sha256`...).
    pub key: String,
    pub name: String,
    pub gbps: f64,
}

/// Everything `baseline` measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baseline {
    pub tool: String,
    pub seconds_per_figure: f64,
    pub figures: Vec<Figure>,
    pub request_response: Vec<RequestResponse>,
    pub direct_io: Option<DirectIo>,
    /// Why the drive figures are missing, when they are.
    #[serde(default)]
    pub direct_io_error: Option<String>,
}

impl Baseline {
    /// The GB/s of the figure `key`.
    pub fn figure(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.gbps)
    }

    /// The request/response figure of `shape` whose payload is nearest `bytes` (on a
    /// log scale: 1 MiB is nearer 10 MiB than 4 KiB).
    pub fn nearest_request_response(&self, shape: Shape, bytes: f64) -> Option<&RequestResponse> {
        let distance =
            |r: &&RequestResponse| ((r.payload_bytes as f64).ln() - bytes.max(1.0).ln()).abs();
        self.request_response
            .iter()
            .filter(|r| r.shape == shape)
            .min_by(|a, b| distance(a).total_cmp(&distance(b)))
    }
}

pub fn read_json(path: &Path) -> Result<Baseline, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: not a baseline JSON: {e}", path.display()))
}

pub fn run(args: &Args) -> Result<(), String> {
    if args.seconds.is_nan()
        || args.seconds <= 0.0
        || args.connections == 0
        || args.sizes.is_empty()
    {
        return Err("--seconds, --connections and --sizes must be positive".to_owned());
    }
    let time = Duration::from_secs_f64(args.seconds);
    let baseline = measure(args, time);
    print!("{}", render(&baseline));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&baseline).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        eprintln!("shoal-bench baseline: wrote {}", path.display());
    }
    Ok(())
}

fn measure(args: &Args, time: Duration) -> Baseline {
    let source: Vec<u8> = (0..BUFFER_BYTES)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 13) as u8)
        .collect();
    let mut target = vec![0u8; BUFFER_BYTES];
    let figure = |key: &str, name: &str, gbps: f64| Figure {
        key: key.to_owned(),
        name: name.to_owned(),
        gbps,
    };
    let figures = vec![
        figure(
            LOOPBACK_TCP,
            "loopback TCP, 2 threads",
            net::loopback_stream(time),
        ),
        figure(
            "memcpy",
            "memcpy",
            rate(time, BUFFER_BYTES, || {
                target.copy_from_slice(black_box(&source));
                black_box(&mut target);
            }),
        ),
        figure(
            "sha256",
            "SHA-256, 1 core",
            rate(time, BUFFER_BYTES, || {
                black_box(Sha256::digest(black_box(&source)));
            }),
        ),
        figure(
            "md5",
            "MD5, 1 core",
            rate(time, BUFFER_BYTES, || {
                black_box(Md5::digest(black_box(&source)));
            }),
        ),
        figure(
            "crc64nvme",
            "CRC-64/NVME, 1 core",
            rate(time, BUFFER_BYTES, || {
                black_box(bitrot::crc64_nvme(black_box(&source)));
            }),
        ),
        figure(
            "erasure_8_4",
            "erasure encode 8+4, 1 core",
            erasure_encode(time, &source),
        ),
    ];
    let request_response = [Shape::Get, Shape::Put]
        .into_iter()
        .flat_map(|shape| args.sizes.iter().map(move |&size| (shape, size)))
        .map(|(shape, size)| net::request_response(shape, size, args.connections, time))
        .collect();
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let (direct_io, direct_io_error) = match disk::measure(&dir, time, args.direct_size as u64) {
        Ok(figures) => (Some(figures), None),
        Err(error) => (None, Some(error)),
    };
    Baseline {
        tool: format!("shoal-bench {}", env!("CARGO_PKG_VERSION")),
        seconds_per_figure: args.seconds,
        figures,
        request_response,
        direct_io,
        direct_io_error,
    }
}

/// The table `baseline` prints.
pub fn render(baseline: &Baseline) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let memcpy = baseline.figure("memcpy").unwrap_or(f64::NAN);
    let _ = writeln!(
        out,
        "shoal-bench baseline: {:.1} s per figure; GB/s = 10^9 bytes/s",
        baseline.seconds_per_figure
    );
    let _ = writeln!(out, "{:<44} {:>12} {:>10}", "figure", "value", "x memcpy");
    for f in &baseline.figures {
        let _ = writeln!(
            out,
            "{:<44} {:>7.2} GB/s {:>10.3}",
            f.name,
            f.gbps,
            f.gbps / memcpy
        );
    }
    for r in &baseline.request_response {
        let name = format!(
            "loopback request/response, {} {}, {} conn",
            r.shape.name(),
            format_size(r.payload_bytes),
            r.connections
        );
        let _ = writeln!(out, "{name:<44} {:>8.0} op/s {:>10}", r.ops_per_sec, "-");
    }
    match (&baseline.direct_io, &baseline.direct_io_error) {
        (Some(d), _) => {
            let how = if d.o_direct { "O_DIRECT" } else { "buffered" };
            for (what, gbps) in [("write", d.write_gbps), ("read", d.read_gbps)] {
                let name = format!("sequential {what}, {how}, 1 MiB blocks");
                let _ = writeln!(out, "{name:<44} {gbps:>7.2} GB/s {:>10.3}", gbps / memcpy);
            }
            let _ = writeln!(
                out,
                "  (drive figures: {} written in {})",
                format_size(d.file_bytes as usize),
                d.dir.display()
            );
            if let Some(note) = &d.note {
                let _ = writeln!(out, "  note: {note}");
            }
        }
        (None, Some(error)) => {
            let _ = writeln!(out, "sequential write/read: not measured: {error}");
        }
        (None, None) => {}
    }
    out
}

/// GB/s of `bytes_per_op` through `op` over `time` (after a short warm-up).
fn rate(time: Duration, bytes_per_op: usize, mut op: impl FnMut()) -> f64 {
    let warm_up_end = Instant::now() + time / 10;
    while Instant::now() < warm_up_end {
        op();
    }
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < time {
        op();
        ops += 1;
    }
    ops as f64 * bytes_per_op as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// 1 MiB of object data coded 8+4 (128 KiB chunks plus a pad, see erasure.rs).
fn erasure_encode(time: Duration, source: &[u8]) -> f64 {
    let (k, m) = (8, 4);
    let chunk_bytes = source.len() / k;
    let coder = Coder::new(k, m).expect("8+4 is valid");
    let data: Vec<Vec<u8>> = source.chunks(chunk_bytes).map(<[u8]>::to_vec).collect();
    let mut parity: Vec<Vec<u8>> = (0..m).map(|_| vec![0u8; chunk_bytes]).collect();
    rate(time, source.len(), || {
        let data: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let mut parity: Vec<&mut [u8]> = parity.iter_mut().map(Vec::as_mut_slice).collect();
        coder.encode(&data, &mut parity).expect("encode");
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_response(shape: Shape, payload_bytes: usize, ops_per_sec: f64) -> RequestResponse {
        RequestResponse {
            shape,
            payload_bytes,
            connections: 1,
            ops_per_sec,
            payload_gbps: 0.0,
        }
    }

    /// The nearest request/response figure is chosen on a log scale, per shape.
    #[test]
    fn nearest_size_is_logarithmic() {
        let baseline = Baseline {
            tool: String::new(),
            seconds_per_figure: 1.0,
            figures: vec![],
            request_response: vec![
                request_response(Shape::Get, 4096, 1.0),
                request_response(Shape::Get, 10 << 20, 2.0),
                request_response(Shape::Put, 4096, 3.0),
            ],
            direct_io: None,
            direct_io_error: None,
        };
        let near = |shape, bytes: f64| {
            baseline
                .nearest_request_response(shape, bytes)
                .unwrap()
                .ops_per_sec
        };
        assert!((near(Shape::Get, 1_048_576.0) - 2.0).abs() < f64::EPSILON);
        assert!((near(Shape::Get, 65_536.0) - 1.0).abs() < f64::EPSILON);
        assert!((near(Shape::Get, 0.0) - 1.0).abs() < f64::EPSILON);
        assert!((near(Shape::Put, 1e9) - 3.0).abs() < f64::EPSILON);
        let text = serde_json::to_string(&baseline).unwrap();
        let back: Baseline = serde_json::from_str(&text).unwrap();
        assert_eq!(back.request_response.len(), 3);
        assert!(render(&back).contains("loopback request/response, GET 10 MiB, 1 conn"));
    }
}
