//! The peer protocol's frame decoder (`shoal_wire::decoder`) on arbitrary bytes in
//! arbitrary splits, as a connection feeds it.
//!
//! Input: one mode byte, then the stream. Bit 0 of the mode: make every frame's
//! checksums right first (`wire_common.rs`), so the fuzzer reaches the rules behind
//! them; the other bits seed the piece lengths of the split feed.
//!
//! Beyond "no panic": the stream fed whole and fed in pieces gives the same frames and
//! the same refusal (decoding does not depend on the split); a NeedMore leaves no input
//! behind and a Payload event consumes nothing; and every frame decoded is exactly the
//! bytes the encoder writes for its header and body (decode ∘ encode = identity on
//! every accepted frame; the encoding is canonical).
#![no_main]

#[path = "wire_common.rs"]
mod wire_common;

use libfuzzer_sys::fuzz_target;
use shoal_wire::decoder::{Decoded, Decoder, Event};
use shoal_wire::frame::{FRAME_HEADER_BYTES, FrameError, FrameHeader, FrameMeta, encode_frame_vec};

/// The deployment the decoder expects; libFuzzer learns these bytes from the comparison.
const DEPLOYMENT_ID: [u8; 16] = *b"fuzz-deployment!";
/// Decoder calls per run: far above what any input needs, so a loop that makes no
/// progress is caught instead of hanging the fuzzer.
const STEPS_MAX: usize = 1_000_000;

/// One frame as the caller saw it, and where it started in the stream.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    start: usize,
    header: FrameHeader,
    body: Option<Vec<u8>>,
    payload_len_bytes: usize,
}

/// Feeds `pieces` in order; returns the frames seen and the refusal, if any.
fn decode<'a>(pieces: impl Iterator<Item = &'a [u8]>) -> (Vec<Seen>, Option<FrameError>) {
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    let mut seen: Vec<Seen> = Vec::new();
    let mut position = 0usize;
    let mut steps = 0usize;
    for piece in pieces {
        let mut rest = piece;
        loop {
            steps += 1;
            assert!(steps < STEPS_MAX, "the decoder makes no progress");
            let Decoded {
                consumed_bytes,
                event,
            } = match decoder.decode(rest) {
                Ok(decoded) => decoded,
                Err(refusal) => return (seen, Some(refusal)),
            };
            assert!(consumed_bytes <= rest.len());
            rest = &rest[consumed_bytes..];
            position += consumed_bytes;
            match event {
                Event::NeedMore => {
                    assert!(rest.is_empty(), "NeedMore left input behind");
                    break;
                }
                Event::Header(header) => {
                    assert!(consumed_bytes > 0, "a header takes bytes");
                    let start = position - FRAME_HEADER_BYTES;
                    seen.push(Seen {
                        start,
                        header,
                        body: None,
                        payload_len_bytes: 0,
                    });
                }
                Event::Body(body) => {
                    let frame = seen.last_mut().expect("a body follows its header");
                    assert!(frame.body.is_none(), "one body per frame");
                    assert_eq!(body.len(), frame.header.body_len_bytes as usize);
                    frame.body = Some(body.to_vec());
                }
                Event::Payload { remaining_bytes } => {
                    assert_eq!(consumed_bytes, 0, "the decoder never takes payload");
                    let frame = seen.last_mut().expect("a payload follows its header");
                    let left = frame.header.payload_len_bytes as usize - frame.payload_len_bytes;
                    assert_eq!(remaining_bytes as usize, left);
                    if rest.is_empty() {
                        break;
                    }
                    let taken = rest.len().min(left);
                    decoder.payload_read(taken);
                    frame.payload_len_bytes += taken;
                    rest = &rest[taken..];
                    position += taken;
                }
            }
        }
    }
    (seen, None)
}

/// Piece lengths from a small generator seeded by the mode byte: 1 to 97 bytes.
fn pieces(stream: &[u8], seed: u8) -> Vec<&[u8]> {
    let mut state = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
    let mut out = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let end = stream.len().min(at + 1 + (state % 97) as usize);
        out.push(&stream[at..end]);
        at = end;
    }
    out
}

fn check_canonical(stream: &[u8], frame: &Seen) {
    let Some(body) = &frame.body else { return };
    let header = frame.header;
    let meta = FrameMeta {
        kind: header.kind,
        flags: header.flags,
        request_id: header.request_id,
        deployment_id: header.deployment_id,
        target_shard: header.target_shard,
        deadline_ms: header.deadline_ms,
    };
    let encoded = encode_frame_vec(&meta, body, header.payload_len_bytes).expect("accepted");
    assert_eq!(
        &stream[frame.start..frame.start + encoded.len()],
        encoded.as_slice()
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut stream = rest.to_vec();
    if mode & 1 == 1 {
        wire_common::repair_checksums(&mut stream);
    }
    let whole = decode(std::iter::once(stream.as_slice()));
    let split = decode(pieces(&stream, mode >> 1).into_iter());
    assert_eq!(whole, split, "the split changed what was decoded");
    let bytes_one_at_a_time = decode(stream.chunks(1));
    assert_eq!(
        whole, bytes_one_at_a_time,
        "one byte at a time changed what was decoded"
    );
    for frame in &whole.0 {
        check_canonical(&stream, frame);
    }
});
