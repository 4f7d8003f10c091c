//! `shoal-bench baseline`: this machine's ceilings, measured in one go, so S3 figures
//! can be read as ratios (DESIGN.md §8): loopback TCP between two threads, memcpy, and
//! per core SHA-256 (SigV4 payloads), MD5 (ETags), CRC-64/NVME (bitrot) and erasure
//! encode 8+4. Each figure is printed with its ratio to memcpy.
//!
//! Loopback TCP uses plain blocking sockets (one writer thread, one reader thread,
//! 1 MiB writes): the kernel's ceiling for moving bytes between two processes on this
//! host, which no S3 server on loopback can beat.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use md5::Md5;
use sha2::{Digest, Sha256};
use shoal_erasure::{Coder, bitrot};

const BUFFER_BYTES: usize = 1 << 20;

#[derive(clap::Args)]
pub struct Args {
    /// Seconds spent on each figure.
    #[arg(long, default_value_t = 1.0)]
    seconds: f64,
}

pub fn run(args: &Args) {
    assert!(args.seconds > 0.0, "--seconds must be positive");
    let time = Duration::from_secs_f64(args.seconds);
    let source: Vec<u8> = (0..BUFFER_BYTES)
        .map(|i| (i.wrapping_mul(0x9E37_79B9) >> 13) as u8)
        .collect();
    let mut target = vec![0u8; BUFFER_BYTES];
    let memcpy = rate(time, BUFFER_BYTES, || {
        target.copy_from_slice(black_box(&source));
        black_box(&mut target);
    });
    let figures = [
        ("loopback TCP, 2 threads", loopback_tcp(time)),
        ("memcpy", memcpy),
        (
            "SHA-256, 1 core",
            rate(time, BUFFER_BYTES, || {
                black_box(Sha256::digest(black_box(&source)));
            }),
        ),
        (
            "MD5, 1 core",
            rate(time, BUFFER_BYTES, || {
                black_box(Md5::digest(black_box(&source)));
            }),
        ),
        (
            "CRC-64/NVME, 1 core",
            rate(time, BUFFER_BYTES, || {
                black_box(bitrot::crc64_nvme(black_box(&source)));
            }),
        ),
        ("erasure encode 8+4, 1 core", erasure_encode(time, &source)),
    ];
    println!(
        "shoal-bench baseline: {:.1} s per figure; GB/s = 10^9 bytes/s",
        args.seconds
    );
    println!("{:<28} {:>10} {:>10}", "figure", "GB/s", "x memcpy");
    for (name, gbps) in figures {
        println!("{name:<28} {gbps:>10.2} {:>10.3}", gbps / memcpy);
    }
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

/// GB/s from a writer thread to a reader thread over 127.0.0.1.
fn loopback_tcp(time: Duration) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let writer = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect loopback");
        let buffer = vec![0x5Au8; BUFFER_BYTES];
        let end = Instant::now() + time + time / 10;
        while Instant::now() < end {
            if stream.write_all(&buffer).is_err() {
                return;
            }
        }
    });
    let (mut stream, _) = listener.accept().expect("accept loopback");
    let mut buffer = vec![0u8; BUFFER_BYTES];
    let warm_up_end = Instant::now() + time / 10;
    while Instant::now() < warm_up_end {
        let _ = stream.read(&mut buffer);
    }
    let start = Instant::now();
    let mut bytes = 0u64;
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes += n as u64,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    writer.join().expect("writer thread");
    bytes as f64 / secs / 1e9
}
