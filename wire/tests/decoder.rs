//! The incremental decoder as a connection meets it: a stream of frames cut anywhere
//! (one byte at a time, every split point, random pieces) decodes to the same frames,
//! payload is left to the caller, and every bad frame ends the stream with its reason.

use shoal_wire::decoder::{Decoded, Decoder, Event};
use shoal_wire::frame::{
    BODY_LEN_AT, BODY_MAX_BYTES, FLAG_MORE, FRAME_HEADER_BYTES, FrameError, FrameHeader, FrameKind,
    FrameMeta, PAYLOAD_LEN_AT, encode_frame_vec, seal_header,
};

const DEPLOYMENT_ID: [u8; 16] = *b"test-deployment!";

/// What a caller saw of one frame: its header, its body, and the payload it took.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    header: FrameHeader,
    body: Vec<u8>,
    payload: Vec<u8>,
}

/// One frame of the test stream and its encoded bytes (header, body, payload).
fn frame(meta: FrameMeta, body: &[u8], payload: &[u8]) -> (Seen, Vec<u8>) {
    let mut bytes = encode_frame_vec(&meta, body, payload.len() as u32).unwrap();
    bytes.extend_from_slice(payload);
    let header = meta.header(body, payload.len() as u32).unwrap();
    let seen = Seen {
        header,
        body: body.to_vec(),
        payload: payload.to_vec(),
    };
    (seen, bytes)
}

/// A stream with every shape of frame: empty, body only, body and payload, payload
/// only, a reply in two pieces, the largest body.
fn stream() -> (Vec<Seen>, Vec<u8>) {
    let meta = |kind| FrameMeta::new(kind, DEPLOYMENT_ID);
    let mut request = meta(FrameKind::Request);
    request.request_id = 42;
    request.target_shard = 5;
    request.deadline_ms = 2_500;
    let mut reply = meta(FrameKind::Reply);
    reply.request_id = 42;
    let mut more = reply;
    more.flags = FLAG_MORE;
    let payload: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let big_body = vec![0x5A; BODY_MAX_BYTES];
    let frames = [
        frame(meta(FrameKind::Ping), b"", b""),
        frame(meta(FrameKind::Hello), &[1; 32], b""),
        frame(request, b"append chunk records", &payload),
        frame(more, b"", &payload[..3]),
        frame(reply, b"done", b""),
        frame(meta(FrameKind::Cancel), b"", b""),
        frame(request, &big_body, &payload[..1]),
    ];
    let mut bytes = Vec::new();
    let mut seen = Vec::new();
    for (one, encoded) in frames {
        seen.push(one);
        bytes.extend_from_slice(&encoded);
    }
    (seen, bytes)
}

/// Feeds `pieces` in order as a connection would and collects what the caller sees,
/// taking payload bytes out of the pieces itself as the decoder asks.
fn decode_pieces<'a>(
    decoder: &mut Decoder,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<Seen>, FrameError> {
    let mut seen: Vec<Seen> = Vec::new();
    for piece in pieces {
        let mut rest = piece;
        loop {
            let Decoded {
                consumed_bytes,
                event,
            } = decoder.decode(rest)?;
            rest = &rest[consumed_bytes..];
            match event {
                Event::NeedMore => {
                    assert!(rest.is_empty(), "NeedMore left input behind");
                    break;
                }
                Event::Header(header) => {
                    assert!(consumed_bytes > 0, "a header takes bytes");
                    seen.push(Seen {
                        header,
                        body: Vec::new(),
                        payload: Vec::new(),
                    });
                }
                Event::Body(body) => seen.last_mut().unwrap().body = body.to_vec(),
                Event::Payload { remaining_bytes } => {
                    assert_eq!(consumed_bytes, 0, "the decoder never takes payload");
                    if rest.is_empty() {
                        break;
                    }
                    let taken = rest.len().min(remaining_bytes as usize);
                    seen.last_mut()
                        .unwrap()
                        .payload
                        .extend_from_slice(&rest[..taken]);
                    decoder.payload_read(taken);
                    rest = &rest[taken..];
                }
            }
        }
    }
    Ok(seen)
}

/// Piece lengths from a small seeded generator (xorshift), so a failure reproduces.
fn random_pieces(bytes: &[u8], seed: u64) -> Vec<&[u8]> {
    let mut state = seed | 1;
    let mut pieces = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let len = 1 + (state % 200) as usize;
        let end = bytes.len().min(at + len);
        pieces.push(&bytes[at..end]);
        at = end;
    }
    pieces
}

/// The whole stream in one piece decodes to the frames it was encoded from.
#[test]
fn a_stream_in_one_piece_decodes_to_its_frames() {
    let (expected, bytes) = stream();
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    assert_eq!(
        decode_pieces(&mut decoder, [bytes.as_slice()]),
        Ok(expected)
    );
    assert!(decoder.is_between_frames());
}

/// One byte at a time decodes the same frames.
#[test]
fn one_byte_at_a_time_decodes_the_same() {
    let (expected, bytes) = stream();
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    assert_eq!(decode_pieces(&mut decoder, bytes.chunks(1)), Ok(expected));
}

/// Cut in two at every point of a small stream (every header, body and payload
/// boundary and every byte between), it decodes the same frames.
#[test]
fn every_split_point_decodes_the_same() {
    let meta = |kind| FrameMeta::new(kind, DEPLOYMENT_ID);
    let mut request = meta(FrameKind::Request);
    request.deadline_ms = 1;
    let (one, mut bytes) = frame(request, b"body", b"payload");
    let (two, more) = frame(meta(FrameKind::Pong), b"", b"");
    let (three, last) = frame(meta(FrameKind::Refuse), b"x", b"");
    bytes.extend_from_slice(&more);
    bytes.extend_from_slice(&last);
    let expected = vec![one, two, three];
    for split in 0..=bytes.len() {
        let mut decoder = Decoder::new(DEPLOYMENT_ID);
        let (a, b) = bytes.split_at(split);
        assert_eq!(
            decode_pieces(&mut decoder, [a, b]),
            Ok(expected.clone()),
            "split {split}"
        );
    }
}

/// Pieces of random lengths, for many seeds, decode the same frames.
#[test]
fn random_pieces_decode_the_same() {
    let (expected, bytes) = stream();
    for seed in 0..50 {
        let mut decoder = Decoder::new(DEPLOYMENT_ID);
        let pieces = random_pieces(&bytes, seed);
        assert_eq!(
            decode_pieces(&mut decoder, pieces),
            Ok(expected.clone()),
            "seed {seed}"
        );
    }
}

/// The header is yielded and checked alone: nothing past its 80 bytes is consumed
/// with it; then the body; then the payload is announced and left in the input.
#[test]
fn header_first_then_body_then_payload_left_to_the_caller() {
    let mut request = FrameMeta::new(FrameKind::Request, DEPLOYMENT_ID);
    request.deadline_ms = 9;
    let (seen, bytes) = frame(request, b"body", b"payload");
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    let step = decoder.decode(&bytes).unwrap();
    assert_eq!(
        step,
        Decoded {
            consumed_bytes: FRAME_HEADER_BYTES,
            event: Event::Header(seen.header)
        }
    );
    let step = decoder.decode(&bytes[FRAME_HEADER_BYTES..]).unwrap();
    assert_eq!(
        step,
        Decoded {
            consumed_bytes: 4,
            event: Event::Body(b"body")
        }
    );
    let payload_at = FRAME_HEADER_BYTES + 4;
    for _ in 0..2 {
        let step = decoder.decode(&bytes[payload_at..]).unwrap();
        assert_eq!(
            step,
            Decoded {
                consumed_bytes: 0,
                event: Event::Payload { remaining_bytes: 7 }
            }
        );
    }
    decoder.payload_read(3);
    let step = decoder.decode(&bytes[payload_at + 3..]).unwrap();
    assert_eq!(step.event, Event::Payload { remaining_bytes: 4 });
    assert!(!decoder.is_between_frames());
    decoder.payload_read(4);
    assert!(decoder.is_between_frames());
    assert_eq!(
        decoder.decode(&[]).unwrap(),
        Decoded {
            consumed_bytes: 0,
            event: Event::NeedMore
        }
    );
}

/// A frame with an empty body still yields its (empty) body, even with no more input.
#[test]
fn an_empty_body_is_yielded_without_input() {
    let (seen, bytes) = frame(FrameMeta::new(FrameKind::Ping, DEPLOYMENT_ID), b"", b"");
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    assert_eq!(
        decoder.decode(&bytes).unwrap().event,
        Event::Header(seen.header)
    );
    assert_eq!(
        decoder.decode(&[]).unwrap(),
        Decoded {
            consumed_bytes: 0,
            event: Event::Body(b"")
        }
    );
    assert!(decoder.is_between_frames());
}

/// A frame of another deployment is refused at its header.
#[test]
fn another_deployment_is_refused() {
    let other = *b"other-deployment";
    let (_, bytes) = frame(FrameMeta::new(FrameKind::Hello, other), b"hi", b"");
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    assert_eq!(
        decode_pieces(&mut decoder, [bytes.as_slice()]),
        Err(FrameError::WrongDeployment { found: other })
    );
}

/// A body that does not match its checksum is refused, and not yielded.
#[test]
fn a_corrupted_body_is_refused() {
    let (_, mut bytes) = frame(
        FrameMeta::new(FrameKind::Hello, DEPLOYMENT_ID),
        b"hello",
        b"",
    );
    bytes[FRAME_HEADER_BYTES + 1] ^= 0x10;
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    assert_eq!(
        decode_pieces(&mut decoder, bytes.chunks(1)),
        Err(FrameError::BodyChecksum)
    );
}

/// An empty body must still carry the empty body's checksum.
#[test]
fn an_empty_body_with_a_wrong_checksum_is_refused() {
    let (_, bytes) = frame(FrameMeta::new(FrameKind::Ping, DEPLOYMENT_ID), b"", b"");
    let mut header: [u8; FRAME_HEADER_BYTES] = bytes[..FRAME_HEADER_BYTES].try_into().unwrap();
    header[shoal_wire::frame::BODY_CHECKSUM_AT] ^= 1;
    seal_header(&mut header);
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    assert_eq!(
        decode_pieces(&mut decoder, [header.as_slice()]),
        Err(FrameError::BodyChecksum)
    );
}

/// Every refusal of the header reaches the caller through the decoder, before any body
/// byte is taken: bad magic, version, checksum, reserved bytes, kind, flags, lengths.
#[test]
fn header_refusals_come_before_the_body() {
    let (_, good) = frame(FrameMeta::new(FrameKind::Hello, DEPLOYMENT_ID), b"hi", b"");
    let header = |edit: &dyn Fn(&mut [u8; FRAME_HEADER_BYTES]), reseal: bool| {
        let mut bytes: [u8; FRAME_HEADER_BYTES] = good[..FRAME_HEADER_BYTES].try_into().unwrap();
        edit(&mut bytes);
        if reseal {
            seal_header(&mut bytes);
        }
        let mut decoder = Decoder::new(DEPLOYMENT_ID);
        // Only the header is offered: a refusal needs nothing after it.
        decode_pieces(&mut decoder, bytes.chunks(7))
    };
    let put = |at: usize, value: u32| {
        move |b: &mut [u8; FRAME_HEADER_BYTES]| b[at..at + 4].copy_from_slice(&value.to_le_bytes())
    };
    assert_eq!(
        header(&|b| b[0] = b'X', false),
        Err(FrameError::BadMagic { found: *b"XHWF" })
    );
    assert_eq!(
        header(&|b| b[4] = 9, true),
        Err(FrameError::Version { found: 9 })
    );
    assert_eq!(
        header(&|b| b[20] ^= 4, false),
        Err(FrameError::HeaderChecksum)
    );
    assert_eq!(
        header(&|b| b[60] = 1, true),
        Err(FrameError::ReservedNotZero)
    );
    assert_eq!(
        header(&|b| b[6] = 200, true),
        Err(FrameError::UnknownKind { found: 200 })
    );
    assert_eq!(
        header(&|b| b[7] = 4, true),
        Err(FrameError::UnknownFlags { found: 4 })
    );
    let too_long = BODY_MAX_BYTES as u32 + 1;
    assert_eq!(
        header(&put(BODY_LEN_AT, too_long), true),
        Err(FrameError::BodyTooLong {
            len_bytes: too_long
        })
    );
    assert_eq!(
        header(&put(PAYLOAD_LEN_AT, u32::MAX), true),
        Err(FrameError::PayloadTooLong {
            len_bytes: u32::MAX
        })
    );
}

/// After a refusal the decoder refuses forever, even perfectly good frames: the
/// stream's framing is lost and the connection must close.
#[test]
fn a_refusal_is_final() {
    let (_, good) = frame(FrameMeta::new(FrameKind::Ping, DEPLOYMENT_ID), b"", b"");
    let mut bad = good.clone();
    bad[0] = 0;
    let mut decoder = Decoder::new(DEPLOYMENT_ID);
    let refusal = FrameError::BadMagic {
        found: [0, b'H', b'W', b'F'],
    };
    assert_eq!(decode_pieces(&mut decoder, [bad.as_slice()]), Err(refusal));
    assert_eq!(decode_pieces(&mut decoder, [good.as_slice()]), Err(refusal));
    assert!(!decoder.is_between_frames());
}

/// A stream cut in the middle of a frame is not at a frame boundary (an end of stream
/// there is a truncated frame, not a clean close).
#[test]
fn a_cut_stream_is_not_between_frames() {
    let (_, bytes) = frame(
        FrameMeta::new(FrameKind::Hello, DEPLOYMENT_ID),
        b"hello",
        b"",
    );
    for cut in 1..bytes.len() {
        let mut decoder = Decoder::new(DEPLOYMENT_ID);
        decode_pieces(&mut decoder, [&bytes[..cut]]).unwrap();
        assert!(!decoder.is_between_frames(), "cut at {cut}");
    }
}

/// The committed fuzz seeds, encoded by `fuzz/make_seeds.py` from the byte table in
/// `frame.rs` alone, decode whole: the table and the code agree.
#[test]
fn fuzz_seeds_decode() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/wire_frame/");
    for (name, frames) in [("handshake", 4), ("verbs", 7)] {
        let seed = std::fs::read(format!("{corpus}{name}")).expect("seed written by make_seeds.py");
        let mut decoder = Decoder::new(*b"fuzz-deployment!");
        let seen = decode_pieces(&mut decoder, [&seed[1..]]).expect(name);
        assert_eq!(seen.len(), frames, "{name}");
        assert!(decoder.is_between_frames(), "{name}");
    }
}
