//! Frames over one peer connection's byte stream: `FrameReader` turns bytes into
//! frames with `shoal_wire::decoder::Decoder`, `FrameWriter` writes a frame's header
//! and body, then its payload from the caller's buffer; either over plain TCP or TLS
//! (`socket.rs`).
//!
//! Payload bytes go straight from the socket into the caller's aligned buffer; only
//! the few that arrived in the same read as a header or body (at most the input
//! buffer, `INPUT_BYTES`) are copied from it. Memory per connection is bounded: one
//! input buffer and one output head, each at most a header plus the largest body.
//!
//! Before the handshake (`FrameReader::authenticated` not called) a connection is a
//! stranger's: a frame with a body over `HANDSHAKE_BODY_MAX_BYTES` or any payload is
//! refused before its body is read, and the input buffer is `HANDSHAKE_INPUT_BYTES`,
//! so a stranger holds about a kilobyte, not a frame's worth.
//!
//! Invariants: a frame's payload is taken (`read_payload` or `skip_payload`) before
//! the next frame is asked for; a stream whose framing failed is not read again (the
//! decoder keeps refusing); nothing from the network panics.

use std::io;

use shoal_io::AlignedBuf;
use shoal_wire::decoder::{Decoder, Event};
use shoal_wire::frame::{BODY_MAX_BYTES, FRAME_HEADER_BYTES, FrameHeader, FrameMeta, encode_frame};

use crate::front::peer::socket::{SocketReader, SocketWriter};

/// Bytes read from the socket at a time (a header and the largest body).
pub const INPUT_BYTES: usize = FRAME_HEADER_BYTES + BODY_MAX_BYTES;
/// Largest body before the handshake (its frames' bodies are at most 64 bytes).
pub const HANDSHAKE_BODY_MAX_BYTES: usize = 256;
/// Bytes read at a time before the handshake.
pub const HANDSHAKE_INPUT_BYTES: usize = 1024;

/// A frame's header and body; its payload is still on the stream.
#[derive(Debug)]
pub struct Frame {
    pub header: FrameHeader,
    pub body: Vec<u8>,
}

/// The receiving half of a connection.
pub struct FrameReader {
    io: SocketReader,
    decoder: Decoder,
    /// Bytes read and not yet decoded are `input[start..]`.
    input: Vec<u8>,
    start: usize,
    /// The handshake is done: full-size frames are taken.
    trusted: bool,
}

fn broken(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}

impl FrameReader {
    /// Frames of deployment `deployment_id` from `io`, a stranger's until
    /// `authenticated`.
    pub fn new(io: SocketReader, deployment_id: [u8; 16]) -> Self {
        Self {
            io,
            decoder: Decoder::new(deployment_id),
            input: Vec::with_capacity(HANDSHAKE_INPUT_BYTES),
            start: 0,
            trusted: false,
        }
    }

    /// The other end proved it belongs to the cluster: frames of every size from now.
    pub fn authenticated(&mut self) {
        self.trusted = true;
    }

    /// The next frame's header and body. `UnexpectedEof` when the stream ends (cleanly
    /// between frames or not), `InvalidData` when its framing is broken.
    pub async fn next(&mut self) -> io::Result<Frame> {
        let mut header = None;
        // Read only when the decoder asked for more: an empty body needs no byte.
        let mut need_more = self.start == self.input.len();
        loop {
            if need_more {
                self.fill().await?;
            }
            let decoded = self
                .decoder
                .decode(&self.input[self.start..])
                .map_err(broken)?;
            self.start += decoded.consumed_bytes;
            need_more = false;
            match decoded.event {
                Event::NeedMore => need_more = true,
                Event::Header(found) => {
                    self.admit(&found)?;
                    header = Some(found);
                }
                Event::Body(body) => {
                    let header = header.ok_or_else(|| broken("a body without its header"))?;
                    return Ok(Frame {
                        header,
                        body: body.to_vec(),
                    });
                }
                Event::Payload { .. } => {
                    panic!("the last frame's payload was not taken before the next frame")
                }
            }
        }
    }

    /// Refuses, before its body is read, a frame a stranger may not send.
    fn admit(&self, header: &FrameHeader) -> io::Result<()> {
        let small = header.body_len_bytes as usize <= HANDSHAKE_BODY_MAX_BYTES;
        if self.trusted || (small && header.payload_len_bytes == 0) {
            return Ok(());
        }
        Err(broken(format!(
            "a {:?} frame of {} + {} bytes before the handshake",
            header.kind, header.body_len_bytes, header.payload_len_bytes
        )))
    }

    /// Reads the current frame's `len_bytes` of payload into `buf` (from its start;
    /// `len()` becomes `len_bytes`). `len_bytes` must be the frame's payload length and
    /// fit `buf`'s capacity. The buffer comes back whatever happens.
    pub async fn read_payload(
        &mut self,
        mut buf: AlignedBuf,
        len_bytes: usize,
    ) -> (io::Result<()>, AlignedBuf) {
        assert!(
            len_bytes <= buf.capacity(),
            "payload larger than its buffer"
        );
        let buffered = (self.input.len() - self.start).min(len_bytes);
        buf.set_len(0);
        buf.extend_from_slice(&self.input[self.start..self.start + buffered]);
        self.start += buffered;
        if buffered > 0 {
            self.decoder.payload_read(buffered);
        }
        if buffered == len_bytes {
            return (Ok(()), buf);
        }
        let (read, buf) = self.io.read_exact(buf, buffered, len_bytes).await;
        if read.is_ok() {
            self.decoder.payload_read(len_bytes - buffered);
        }
        (read, buf)
    }

    /// Reads and drops the current frame's `len_bytes` of payload (an answer nobody
    /// waits for any more), through the input buffer.
    pub async fn skip_payload(&mut self, mut len_bytes: usize) -> io::Result<()> {
        while len_bytes > 0 {
            if self.start == self.input.len() {
                self.fill().await?;
            }
            let taken = (self.input.len() - self.start).min(len_bytes);
            self.start += taken;
            if taken > 0 {
                self.decoder.payload_read(taken);
            }
            len_bytes -= taken;
        }
        Ok(())
    }

    /// Reads what the socket has into the (empty) input buffer.
    async fn fill(&mut self) -> io::Result<()> {
        self.start = 0;
        let max_bytes = if self.trusted {
            INPUT_BYTES
        } else {
            HANDSHAKE_INPUT_BYTES
        };
        let input = std::mem::take(&mut self.input);
        let (read, input) = self.io.read_some(input, max_bytes).await;
        self.input = input;
        match read? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(()),
        }
    }
}

/// The sending half of a connection.
pub struct FrameWriter {
    io: SocketWriter,
    /// A frame's header and body, encoded; grown to the largest frame sent.
    head: Vec<u8>,
}

impl FrameWriter {
    pub fn new(io: SocketWriter) -> Self {
        Self {
            io,
            head: Vec::new(),
        }
    }

    /// Writes one frame: `meta`'s header with `body`, then `payload`'s `len()` bytes.
    /// The payload buffer comes back whatever happens. An invalid frame (a body over
    /// the limit) is an `InvalidInput` error and nothing is written.
    pub async fn send(
        &mut self,
        meta: &FrameMeta,
        body: &[u8],
        payload: Option<AlignedBuf>,
    ) -> (io::Result<()>, Option<AlignedBuf>) {
        let payload_len = payload.as_ref().map_or(0, AlignedBuf::len);
        let Ok(payload_len_bytes) = u32::try_from(payload_len) else {
            return (Err(io::ErrorKind::InvalidInput.into()), payload);
        };
        let mut head = std::mem::take(&mut self.head);
        head.resize(FRAME_HEADER_BYTES + body.len().min(BODY_MAX_BYTES), 0);
        let written = match encode_frame(meta, body, payload_len_bytes, &mut head) {
            Ok(written) => written,
            Err(error) => {
                self.head = head;
                return (
                    Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        error.to_string(),
                    )),
                    payload,
                );
            }
        };
        head.truncate(written);
        let (sent, head) = self.io.write_all(head).await;
        self.head = head;
        if let Err(error) = sent {
            return (Err(error), payload);
        }
        let Some(payload) = payload.filter(|buf| !buf.is_empty()) else {
            return (self.io.flush().await, None);
        };
        let (sent, payload) = self.io.write_all_aligned(payload).await;
        (sent, Some(payload))
    }

    /// Writes raw bytes (a handshake frame encoded by `shoal_wire::handshake`).
    pub async fn send_raw(&mut self, bytes: Vec<u8>) -> io::Result<()> {
        let (sent, _) = self.io.write_all(bytes).await;
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::front::peer::socket::plain;
    use shoal_wire::frame::FrameKind;

    const DEPLOYMENT: [u8; 16] = [7; 16];

    fn request(id: u64) -> FrameMeta {
        let mut meta = FrameMeta::new(FrameKind::Request, DEPLOYMENT);
        meta.request_id = id;
        meta.deadline_ms = 1000;
        meta
    }

    /// Frames written one after another, with and without payload, small and larger
    /// than the input buffer, come back in order with every byte; a skipped payload
    /// leaves the next frame intact.
    #[test]
    fn frames_round_trip_over_a_socket() {
        let mut runtime = crate::front::peer::test_runtime();
        runtime.block_on(async {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = listener.local_addr().expect("address");
            let sender = monoio::spawn(async move {
                let stream = monoio::net::TcpStream::connect(address)
                    .await
                    .expect("connect");
                let mut writer = FrameWriter::new(plain(stream).1);
                let sizes = [0usize, 5, 100_000, 3 << 20, 17];
                for (id, size) in sizes.iter().enumerate() {
                    let payload = (*size > 0).then(|| {
                        let mut buf = AlignedBuf::with_capacity(*size);
                        let bytes: Vec<u8> = (0..*size).map(|i| (i % 251) as u8).collect();
                        buf.extend_from_slice(&bytes);
                        buf
                    });
                    let body = vec![id as u8; id * 10];
                    let (sent, _) = writer.send(&request(id as u64), &body, payload).await;
                    sent.expect("send");
                }
            });
            let (stream, _) = listener.accept().await.expect("accept");
            let mut reader = FrameReader::new(plain(stream).0, DEPLOYMENT);
            reader.authenticated();
            for id in 0..5u64 {
                let frame = reader.next().await.expect("a frame");
                assert_eq!(frame.header.request_id, id);
                assert_eq!(frame.body, vec![id as u8; id as usize * 10]);
                let len = frame.header.payload_len_bytes as usize;
                if id == 2 {
                    reader.skip_payload(len).await.expect("skip");
                    continue;
                }
                let (read, buf) = reader
                    .read_payload(AlignedBuf::with_capacity(len.max(1)), len)
                    .await;
                read.expect("payload");
                assert_eq!(buf.len(), len);
                assert!(
                    buf.as_slice()
                        .iter()
                        .enumerate()
                        .all(|(i, b)| *b == (i % 251) as u8)
                );
            }
            sender.await;
            let end = reader.next().await.expect_err("the stream ended");
            assert_eq!(end.kind(), io::ErrorKind::UnexpectedEof);
        });
    }

    /// A frame of another deployment breaks the stream: an error, never a frame.
    #[test]
    fn another_deployment_is_refused() {
        let mut runtime = crate::front::peer::test_runtime();
        runtime.block_on(async {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let address = listener.local_addr().expect("address");
            let sender = monoio::spawn(async move {
                let stream = monoio::net::TcpStream::connect(address)
                    .await
                    .expect("connect");
                let mut writer = FrameWriter::new(plain(stream).1);
                let mut meta = request(1);
                meta.deployment_id = [9; 16];
                let (sent, _) = writer.send(&meta, b"x", None).await;
                sent.expect("send");
            });
            let (stream, _) = listener.accept().await.expect("accept");
            let mut reader = FrameReader::new(plain(stream).0, DEPLOYMENT);
            reader.authenticated();
            let error = reader.next().await.expect_err("refused");
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            sender.await;
        });
    }
}
