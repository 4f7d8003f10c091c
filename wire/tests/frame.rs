//! The frame header as a peer meets it: what the encoder writes, the decoder reads back
//! byte for byte, and every header a peer could send wrong is refused with its reason.

use shoal_wire::frame::{
    BODY_CHECKSUM_AT, BODY_LEN_AT, BODY_MAX_BYTES, DEADLINE_MS_AT, FLAG_MORE, FLAGS_AT,
    FRAME_HEADER_BYTES, Field, FrameError, FrameHeader, FrameKind, FrameMeta, HEADER_CHECKSUM_AT,
    KIND_AT, PAYLOAD_LEN_AT, PAYLOAD_MAX_BYTES, PROTOCOL_VERSION, RESERVED_AT, VERSION_AT,
    body_checksum, encode_frame, encode_frame_vec, seal_header,
};

const DEPLOYMENT_ID: [u8; 16] = *b"test-deployment!";

fn request() -> FrameMeta {
    FrameMeta {
        kind: FrameKind::Request,
        flags: 0,
        request_id: 0x0102_0304_0506_0708,
        deployment_id: DEPLOYMENT_ID,
        target_shard: 3,
        deadline_ms: 10_000,
    }
}

fn header_of(meta: &FrameMeta, body: &[u8], payload_len_bytes: u32) -> [u8; FRAME_HEADER_BYTES] {
    let bytes = encode_frame_vec(meta, body, payload_len_bytes).expect("valid frame");
    bytes[..FRAME_HEADER_BYTES].try_into().unwrap()
}

/// A header with one field rewritten and its checksum made right again, so that only
/// the rule under test can refuse it.
fn resealed(edit: impl FnOnce(&mut [u8; FRAME_HEADER_BYTES])) -> [u8; FRAME_HEADER_BYTES] {
    let mut bytes = header_of(&request(), b"body", 7);
    edit(&mut bytes);
    seal_header(&mut bytes);
    bytes
}

fn put_u32(bytes: &mut [u8; FRAME_HEADER_BYTES], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// The checksum is CRC-64/NVME: the algorithm's published check value for "123456789".
#[test]
fn checksum_is_crc64_nvme() {
    assert_eq!(body_checksum(b"123456789"), 0xae8b_1486_0a79_9888);
}

/// Every kind's frame decodes to the fields it was encoded with, and re-encoding the
/// decoded header gives back the same bytes.
#[test]
fn every_kind_round_trips_byte_for_byte() {
    for kind in FrameKind::ALL {
        let mut meta = FrameMeta::new(kind, DEPLOYMENT_ID);
        meta.request_id = u64::MAX - kind as u64;
        meta.target_shard = u32::MAX;
        let body: &[u8] = if kind.carries_body() {
            b"a small body"
        } else {
            b""
        };
        let payload_len_bytes = if kind.carries_payload() { 1 << 20 } else { 0 };
        if kind == FrameKind::Request {
            meta.deadline_ms = u32::MAX;
        }
        if kind == FrameKind::Reply {
            meta.flags = FLAG_MORE;
        }
        let frame = encode_frame_vec(&meta, body, payload_len_bytes).unwrap();
        assert_eq!(frame.len(), FRAME_HEADER_BYTES + body.len());
        assert_eq!(&frame[FRAME_HEADER_BYTES..], body);
        let bytes: [u8; FRAME_HEADER_BYTES] = frame[..FRAME_HEADER_BYTES].try_into().unwrap();
        let header = FrameHeader::decode(&bytes).unwrap();
        assert_eq!(meta.header(body, payload_len_bytes), Ok(header));
        assert_eq!(header.kind, kind);
        assert_eq!(header.body_len_bytes as usize, body.len());
        assert_eq!(header.payload_len_bytes, payload_len_bytes);
        assert_eq!(header.body_checksum, body_checksum(body));
        assert_eq!(header.encode(), bytes);
    }
}

/// The largest body and payload the limits allow are accepted.
#[test]
fn limits_are_inclusive() {
    let body = vec![7u8; BODY_MAX_BYTES];
    let bytes = header_of(&request(), &body, PAYLOAD_MAX_BYTES as u32);
    let header = FrameHeader::decode(&bytes).unwrap();
    assert_eq!(header.body_len_bytes as usize, BODY_MAX_BYTES);
    assert_eq!(header.payload_len_bytes as usize, PAYLOAD_MAX_BYTES);
    assert_eq!(
        header.frame_len_bytes(),
        (FRAME_HEADER_BYTES + BODY_MAX_BYTES + PAYLOAD_MAX_BYTES) as u64
    );
}

/// A header from something that is not a Shoal peer is refused by its magic.
#[test]
fn bad_magic_is_refused() {
    let mut bytes = header_of(&request(), b"", 0);
    bytes[..4].copy_from_slice(b"GET ");
    assert_eq!(
        FrameHeader::decode(&bytes),
        Err(FrameError::BadMagic { found: *b"GET " })
    );
}

/// A peer speaking another protocol version is refused, whatever else it sends.
#[test]
fn other_version_is_refused() {
    // Version 1 (a Welcome without the shard count) and the next one alike.
    for other in [1u16, PROTOCOL_VERSION + 1] {
        let bytes =
            resealed(|b| b[VERSION_AT..VERSION_AT + 2].copy_from_slice(&other.to_le_bytes()));
        assert_eq!(
            FrameHeader::decode(&bytes),
            Err(FrameError::Version { found: other })
        );
    }
}

/// One flipped bit anywhere after the version, checksum included, is caught.
#[test]
fn any_corrupted_bit_is_refused() {
    let good = header_of(&request(), b"body", 7);
    for at in KIND_AT..FRAME_HEADER_BYTES {
        for bit in 0..8 {
            let mut bytes = good;
            bytes[at] ^= 1 << bit;
            assert_eq!(
                FrameHeader::decode(&bytes),
                Err(FrameError::HeaderChecksum),
                "byte {at} bit {bit}"
            );
        }
    }
}

/// Reserved bytes must be zero, even under a correct checksum.
#[test]
fn reserved_bytes_must_be_zero() {
    for at in RESERVED_AT..HEADER_CHECKSUM_AT {
        let bytes = resealed(|b| b[at] = 0x80);
        assert_eq!(
            FrameHeader::decode(&bytes),
            Err(FrameError::ReservedNotZero),
            "byte {at}"
        );
    }
}

/// Kind bytes this version does not define are refused.
#[test]
fn unknown_kinds_are_refused() {
    for found in [0u8, 11, 0x80, 0xff] {
        let bytes = resealed(|b| b[KIND_AT] = found);
        assert_eq!(
            FrameHeader::decode(&bytes),
            Err(FrameError::UnknownKind { found })
        );
    }
}

/// Flag bits this version does not define are refused.
#[test]
fn unknown_flags_are_refused() {
    for found in [2u8, 0x80, 0xff] {
        let bytes = resealed(|b| b[FLAGS_AT] = found);
        assert_eq!(
            FrameHeader::decode(&bytes),
            Err(FrameError::UnknownFlags { found })
        );
    }
}

/// Lengths over the limits are refused from the header, before a byte of them is read.
#[test]
fn lengths_over_the_limits_are_refused() {
    let too_long = BODY_MAX_BYTES as u32 + 1;
    let bytes = resealed(|b| put_u32(b, BODY_LEN_AT, too_long));
    assert_eq!(
        FrameHeader::decode(&bytes),
        Err(FrameError::BodyTooLong {
            len_bytes: too_long
        })
    );
    let bytes = resealed(|b| put_u32(b, BODY_LEN_AT, u32::MAX));
    assert_eq!(
        FrameHeader::decode(&bytes),
        Err(FrameError::BodyTooLong {
            len_bytes: u32::MAX
        })
    );
    let too_long = PAYLOAD_MAX_BYTES as u32 + 1;
    let bytes = resealed(|b| put_u32(b, PAYLOAD_LEN_AT, too_long));
    assert_eq!(
        FrameHeader::decode(&bytes),
        Err(FrameError::PayloadTooLong {
            len_bytes: too_long
        })
    );
}

/// Each kind may carry only what it is for: no payload outside Request and Reply, no
/// body on Cancel, Ping or Pong, `FLAG_MORE` only on a Reply, a deadline only
/// (and always) on a Request.
#[test]
fn fields_a_kind_must_leave_empty_are_refused() {
    let refused = |kind: FrameKind, edit: &dyn Fn(&mut [u8; FRAME_HEADER_BYTES])| {
        let bytes = resealed(|b| {
            b[KIND_AT] = kind as u8;
            put_u32(b, DEADLINE_MS_AT, 0);
            put_u32(b, BODY_LEN_AT, 0);
            put_u32(b, PAYLOAD_LEN_AT, 0);
            edit(b);
        });
        FrameHeader::decode(&bytes)
    };
    let not_allowed = |kind, field| Err(FrameError::NotAllowed { kind, field });
    for kind in [
        FrameKind::Hello,
        FrameKind::Proof,
        FrameKind::Cancel,
        FrameKind::Ping,
    ] {
        let got = refused(kind, &|b| put_u32(b, PAYLOAD_LEN_AT, 1));
        assert_eq!(got, not_allowed(kind, Field::Payload));
    }
    for kind in [FrameKind::Cancel, FrameKind::Ping, FrameKind::Pong] {
        let got = refused(kind, &|b| put_u32(b, BODY_LEN_AT, 1));
        assert_eq!(got, not_allowed(kind, Field::Body));
    }
    for kind in [FrameKind::Request, FrameKind::Hello, FrameKind::Cancel] {
        let deadline_ms = u32::from(kind == FrameKind::Request);
        let got = refused(kind, &|b| {
            b[FLAGS_AT] = FLAG_MORE;
            put_u32(b, DEADLINE_MS_AT, deadline_ms);
        });
        assert_eq!(got, not_allowed(kind, Field::FlagMore));
    }
    for kind in [
        FrameKind::Reply,
        FrameKind::Cancel,
        FrameKind::Ping,
        FrameKind::Hello,
    ] {
        let got = refused(kind, &|b| put_u32(b, DEADLINE_MS_AT, 5));
        assert_eq!(got, not_allowed(kind, Field::Deadline));
    }
    assert_eq!(
        refused(FrameKind::Request, &|_| {}),
        Err(FrameError::DeadlineMissing)
    );
}

/// The encoder refuses what the decoder would refuse, and never writes past the
/// caller's buffer.
#[test]
fn encoder_refuses_invalid_frames() {
    let body = vec![0u8; BODY_MAX_BYTES + 1];
    assert_eq!(
        encode_frame_vec(&request(), &body, 0),
        Err(FrameError::BodyTooLong {
            len_bytes: BODY_MAX_BYTES as u32 + 1
        })
    );
    assert_eq!(
        encode_frame_vec(&request(), b"", PAYLOAD_MAX_BYTES as u32 + 1),
        Err(FrameError::PayloadTooLong {
            len_bytes: PAYLOAD_MAX_BYTES as u32 + 1
        })
    );
    let ping = FrameMeta::new(FrameKind::Ping, DEPLOYMENT_ID);
    assert_eq!(
        encode_frame_vec(&ping, b"x", 0),
        Err(FrameError::NotAllowed {
            kind: FrameKind::Ping,
            field: Field::Body
        })
    );
    let mut no_deadline = request();
    no_deadline.deadline_ms = 0;
    assert_eq!(
        encode_frame_vec(&no_deadline, b"", 0),
        Err(FrameError::DeadlineMissing)
    );
    let mut out = [0xAAu8; FRAME_HEADER_BYTES + 3];
    assert_eq!(
        encode_frame(&request(), b"four", 0, &mut out),
        Err(FrameError::BufferTooSmall {
            needed_bytes: FRAME_HEADER_BYTES + 4
        })
    );
    assert!(out.iter().all(|b| *b == 0xAA), "nothing written on refusal");
    let mut out = [0u8; FRAME_HEADER_BYTES + 10];
    assert_eq!(
        encode_frame(&request(), b"four", 9, &mut out),
        Ok(FRAME_HEADER_BYTES + 4)
    );
    assert_eq!(&out[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + 4], b"four");
    assert_eq!(
        &out[BODY_CHECKSUM_AT..BODY_CHECKSUM_AT + 8],
        &body_checksum(b"four").to_le_bytes()
    );
}
