//! `shoal-bench erasure`: encode, rebuild and CRC-64/NVME throughput of one stripe on
//! one core, each against memcpy of the same bytes measured in the same run
//! (DESIGN.md §8: every claim is a ratio against a baseline).
//!
//! All figures are GB/s (10^9 bytes) of stripe data (k chunks), the median of
//! `REPETITIONS` timed slices after a warm-up. Chunk buffers live in one allocation
//! with a padded stride, never exactly 128 KiB apart: that spacing costs ISA-L ~25%
//! through cache-set conflicts (DESIGN.md pitfall) and is not what the store does.
//! The benchmark is one thread; pin it (`taskset -c 1 shoal-bench erasure`) for
//! steadier figures on a busy host.

use std::hint::black_box;
use std::time::{Duration, Instant};

use shoal_erasure::{Coder, bitrot};

use crate::units::{format_size, parse_size_bytes};

/// The layouts measured: the set sizes the store defaults to.
const LAYOUTS: [(usize, usize); 3] = [(4, 2), (8, 4), (12, 4)];
/// Timed slices per figure; the median is reported.
const REPETITIONS: usize = 7;
/// Bytes between the end of one chunk and the start of the next: three cache lines,
/// so successive chunks fall in different cache sets.
const CHUNK_PAD_BYTES: usize = 192;
const CACHE_LINE_BYTES: usize = 64;

#[derive(clap::Args)]
pub struct Args {
    /// Bytes of object data per stripe (split into k chunks), e.g. 1MiB, 256KiB.
    #[arg(long, default_value = "1MiB", value_parser = parse_size_bytes)]
    stripe_size: usize,
    /// Seconds spent timing each figure (there are 15; the default run takes ~20 s).
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
}

/// One stripe's k + m chunks in one allocation, cache-line aligned, padded stride.
struct Stripe {
    buffer: Vec<u8>,
    offset: usize,
    stride: usize,
    chunk_bytes: usize,
    chunks: usize,
}

impl Stripe {
    fn new(chunks: usize, chunk_bytes: usize) -> Stripe {
        let stride = chunk_bytes.next_multiple_of(CACHE_LINE_BYTES) + CHUNK_PAD_BYTES;
        let mut buffer = vec![0u8; stride * chunks + CACHE_LINE_BYTES];
        let offset = buffer.as_ptr().align_offset(CACHE_LINE_BYTES);
        for (index, byte) in buffer.iter_mut().enumerate() {
            *byte = (index.wrapping_mul(0x9E37_79B9) >> 13) as u8;
        }
        Stripe {
            buffer,
            offset,
            stride,
            chunk_bytes,
            chunks,
        }
    }

    fn chunks_mut(&mut self) -> Vec<&mut [u8]> {
        let area = &mut self.buffer[self.offset..self.offset + self.stride * self.chunks];
        area.chunks_exact_mut(self.stride)
            .map(|chunk| &mut chunk[..self.chunk_bytes])
            .collect()
    }
}

/// One row of the table.
struct LayoutResult {
    data_chunks: usize,
    parity_chunks: usize,
    chunk_bytes: usize,
    encode: f64,
    rebuild_one: f64,
    rebuild_all: f64,
    crc: f64,
    memcpy: f64,
}

pub fn run(args: &Args) {
    assert!(args.seconds > 0.0, "--seconds must be positive");
    let slice = Duration::from_secs_f64(args.seconds / REPETITIONS as f64);
    let results: Vec<LayoutResult> = LAYOUTS
        .iter()
        .map(|&(k, m)| measure_layout(k, m, args.stripe_size, slice))
        .collect();
    print_table(args, &results);
}

fn measure_layout(k: usize, m: usize, stripe_bytes: usize, slice: Duration) -> LayoutResult {
    let chunk_bytes = stripe_bytes.div_ceil(k);
    let data_bytes = chunk_bytes * k;
    let mut coder = Coder::new(k, m).expect("benchmark layouts are valid");
    let mut stripe = Stripe::new(k + m, chunk_bytes);
    let mut copies = Stripe::new(k, chunk_bytes);
    let mut chunks = stripe.chunks_mut();
    let mut targets = copies.chunks_mut();

    let encode = throughput(slice, data_bytes, || {
        let (data, parity) = chunks.split_at_mut(k);
        let data: [&[u8]; 16] = std::array::from_fn(|i| data.get(i).map_or(&[][..], |c| &**c));
        coder.encode(&data[..k], parity).expect("encode");
    });
    let mut rebuild = |lost: usize| {
        let present: Vec<bool> = (0..k + m).map(|index| index >= lost).collect();
        throughput(slice, data_bytes, || {
            coder
                .reconstruct_data(&mut chunks, &present)
                .expect("rebuild");
        })
    };
    let rebuild_one = rebuild(1);
    let rebuild_all = rebuild(m);
    let crc = throughput(slice, data_bytes, || {
        for chunk in &chunks[..k] {
            black_box(bitrot::crc64_nvme(black_box(chunk)));
        }
    });
    let memcpy = throughput(slice, data_bytes, || {
        for (target, chunk) in targets.iter_mut().zip(&chunks[..k]) {
            target.copy_from_slice(chunk);
        }
        black_box(&mut targets);
    });
    LayoutResult {
        data_chunks: k,
        parity_chunks: m,
        chunk_bytes,
        encode,
        rebuild_one,
        rebuild_all,
        crc,
        memcpy,
    }
}

/// GB/s of `bytes_per_op` through `op`: the median of `REPETITIONS` slices.
fn throughput(slice: Duration, bytes_per_op: usize, mut op: impl FnMut()) -> f64 {
    let warm_up_end = Instant::now() + slice / 2;
    while Instant::now() < warm_up_end {
        op();
    }
    let mut rates: Vec<f64> = (0..REPETITIONS)
        .map(|_| {
            let start = Instant::now();
            let mut ops = 0u64;
            while start.elapsed() < slice {
                op();
                ops += 1;
            }
            (ops as f64 * bytes_per_op as f64) / start.elapsed().as_secs_f64() / 1e9
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[REPETITIONS / 2]
}

fn print_table(args: &Args, results: &[LayoutResult]) {
    println!(
        "shoal-bench erasure: one core, ISA-L engine, stripe {}, median of {REPETITIONS} x {:.2} s",
        format_size(args.stripe_size),
        args.seconds / REPETITIONS as f64
    );
    println!("GB/s of stripe data (x = ratio to memcpy of the same bytes, same run)");
    println!(
        "{:<6} {:>10} {:>16} {:>16} {:>16} {:>16} {:>8}",
        "layout", "chunk", "encode", "rebuild 1 data", "rebuild m data", "crc64nvme", "memcpy"
    );
    for row in results {
        let cell = |gbps: f64| format!("{gbps:6.1} ({:4.2}x)", gbps / row.memcpy);
        println!(
            "{:<6} {:>10} {:>16} {:>16} {:>16} {:>16} {:>8.1}",
            format!("{}+{}", row.data_chunks, row.parity_chunks),
            format_size(row.chunk_bytes),
            cell(row.encode),
            cell(row.rebuild_one),
            cell(row.rebuild_all),
            cell(row.crc),
            row.memcpy
        );
    }
}
