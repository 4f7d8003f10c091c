//! The loopback figures of `shoal-bench baseline`: the stream ceiling (one writer
//! thread, one reader thread, 1 MiB writes over 127.0.0.1) and the request/response
//! rate of an HTTP-shaped ping-pong, the ceiling of any S3 server's operation rate on
//! loopback at a given object size and number of connections.
//!
//! Ping-pong: each connection is a client thread and a server thread with blocking
//! sockets (TCP_NODELAY). One operation is one round trip with the byte counts of an
//! S3 request: GET-shaped, a [`REQUEST_HEAD_BYTES`] request head answered by a
//! [`RESPONSE_HEAD_BYTES`] head and the payload; PUT-shaped, the head and the payload
//! answered by a bare response head. Heads are fixed-size, so neither side parses:
//! what is measured is the kernel's cost of the exchange, with no server work at all.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A signed S3 request head is about this long (SigV4 Authorization, x-amz-* headers).
pub const REQUEST_HEAD_BYTES: usize = 512;
/// An S3 response head (ETag, Last-Modified, Content-Length, request id...).
pub const RESPONSE_HEAD_BYTES: usize = 256;
const STREAM_BUFFER_BYTES: usize = 1 << 20;

/// Which way the payload goes in a ping-pong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shape {
    /// The payload comes back with the response.
    #[serde(rename = "GET")]
    Get,
    /// The payload goes with the request.
    #[serde(rename = "PUT")]
    Put,
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Get => "GET",
            Shape::Put => "PUT",
        }
    }

    /// Bytes the client sends and then receives in one operation.
    fn bytes(self, payload_bytes: usize) -> (usize, usize) {
        match self {
            Shape::Get => (REQUEST_HEAD_BYTES, RESPONSE_HEAD_BYTES + payload_bytes),
            Shape::Put => (REQUEST_HEAD_BYTES + payload_bytes, RESPONSE_HEAD_BYTES),
        }
    }
}

/// One ping-pong figure.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestResponse {
    pub shape: Shape,
    pub payload_bytes: usize,
    pub connections: usize,
    pub ops_per_sec: f64,
    /// Payload GB/s at that rate.
    pub payload_gbps: f64,
}

/// GB/s from a writer thread to a reader thread over 127.0.0.1.
pub fn loopback_stream(time: Duration) -> f64 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let writer = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(address).expect("connect loopback");
        let buffer = vec![0x5Au8; STREAM_BUFFER_BYTES];
        let end = Instant::now() + time + time / 10;
        while Instant::now() < end {
            if stream.write_all(&buffer).is_err() {
                return;
            }
        }
    });
    let (mut stream, _) = listener.accept().expect("accept loopback");
    let mut buffer = vec![0u8; STREAM_BUFFER_BYTES];
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

/// Round trips per second over `connections` loopback connections at once.
pub fn request_response(
    shape: Shape,
    payload_bytes: usize,
    connections: usize,
    time: Duration,
) -> RequestResponse {
    assert!(connections > 0);
    let clients: Vec<_> = (0..connections)
        .map(|_| std::thread::spawn(move || ping_pong_connection(shape, payload_bytes, time)))
        .collect();
    let ops_per_sec: f64 = clients
        .into_iter()
        .map(|c| c.join().expect("ping-pong thread"))
        .sum();
    RequestResponse {
        shape,
        payload_bytes,
        connections,
        ops_per_sec,
        payload_gbps: ops_per_sec * payload_bytes as f64 / 1e9,
    }
}

/// One connection's round trips per second (after a warm-up of a tenth of `time`).
fn ping_pong_connection(shape: Shape, payload_bytes: usize, time: Duration) -> f64 {
    let (request_bytes, response_bytes) = shape.bytes(payload_bytes);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept loopback");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let mut request = vec![0u8; request_bytes];
        let response = vec![0x5Au8; response_bytes];
        while stream.read_exact(&mut request).is_ok() {
            if stream.write_all(&response).is_err() {
                return;
            }
        }
    });
    let mut stream = TcpStream::connect(address).expect("connect loopback");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let request = vec![0xA5u8; request_bytes];
    let mut response = vec![0u8; response_bytes];
    let mut round_trip = || {
        stream.write_all(&request).expect("loopback write");
        stream.read_exact(&mut response).expect("loopback read");
    };
    let warm_up_end = Instant::now() + time / 10;
    while Instant::now() < warm_up_end {
        round_trip();
    }
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < time {
        round_trip();
        ops += 1;
    }
    let rate = ops as f64 / start.elapsed().as_secs_f64();
    let _ = stream.shutdown(Shutdown::Both);
    server.join().expect("ping-pong server thread");
    rate
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both shapes complete round trips, and larger payloads take longer.
    #[test]
    fn ping_pong_measures_round_trips() {
        let time = Duration::from_millis(100);
        let small = request_response(Shape::Get, 4096, 1, time);
        assert!(small.ops_per_sec > 0.0);
        let large = request_response(Shape::Put, 4 << 20, 2, time);
        assert!(large.ops_per_sec > 0.0 && large.ops_per_sec < small.ops_per_sec);
        assert_eq!(large.connections, 2);
        assert!(loopback_stream(time) > 0.0);
    }
}
