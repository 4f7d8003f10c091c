//! The frame: one message on the node-to-node wire. A fixed-size header that can be
//! trusted (its own checksum) before anything it announces is read, then a small body
//! (at most `BODY_MAX_BYTES`), then raw payload bytes (at most `PAYLOAD_MAX_BYTES`) that
//! the receiver reads straight into its own aligned buffers.
//!
//! The header, 80 bytes, every integer little-endian:
//!
//! | offset | bytes | field          | meaning                                                 |
//! |-------:|------:|----------------|---------------------------------------------------------|
//! |      0 |     4 | magic          | `SHWF` (Shoal wire frame)                               |
//! |      4 |     2 | version        | protocol version, `PROTOCOL_VERSION`; any other refused |
//! |      6 |     1 | kind           | `FrameKind` (below); an unknown kind is refused         |
//! |      7 |     1 | flags          | `FLAG_MORE`; every other bit must be zero               |
//! |      8 |     8 | request id     | pairs a Reply or Cancel with its Request; a Ping's nonce |
//! |     16 |    16 | deployment id  | the sender's deployment: frames of another are refused  |
//! |     32 |     4 | target shard   | the owner shard (core) on the receiving node            |
//! |     36 |     4 | deadline ms    | milliseconds the sender still waits (Request only)      |
//! |     40 |     4 | body length    | bytes of body after the header, ≤ `BODY_MAX_BYTES`      |
//! |     44 |     4 | payload length | raw bytes after the body, ≤ `PAYLOAD_MAX_BYTES`         |
//! |     48 |     8 | body checksum  | CRC-64/NVME of the body                                 |
//! |     56 |    16 | reserved       | zero; a later version may give them a meaning           |
//! |     72 |     8 | header checksum| CRC-64/NVME of bytes 0..72                              |
//!
//! Kinds (`FrameKind`): the handshake (`handshake.rs`) is Hello, Challenge, Proof, then
//! Welcome or Refuse; after it, Request (a storage verb), Reply (its answer; `FLAG_MORE`
//! when more Reply frames of the same request follow), Cancel (the sender gave up on a
//! request: never cancel by dropping a read in flight, its bytes would be lost), and
//! Ping/Pong (liveness of an idle connection). Only Request and Reply carry payload;
//! Cancel, Ping and Pong carry no body either. Version 2 gave the Welcome a body (the
//! listener node's shard count, so a dialer can reach the owner shard of each key).
//!
//! The deadline is relative because the clocks of two nodes differ: the receiver counts
//! it from the moment the header arrived (a little later than the sender, by the transit
//! time, so the sender always gives up first). Only a Request has one, and it must.
//!
//! Checksums are CRC-64/NVME, the one Shoal already computes for every chunk block: they
//! catch torn, truncated and corrupted frames (a bug, a bad NIC or a misframed stream),
//! not forgeries; who may speak is settled by the handshake (and TLS with
//! `--certs-dir`). Payload bytes carry no frame checksum: they are chunk records, each
//! with its own CRC bound to whose record it is, checked end to end by the reader.
//!
//! Invariants: `FrameHeader::check` is the one rule set, run by the encoder and the
//! decoder alike, so whatever `encode_frame` writes `FrameHeader::decode` accepts, and
//! encoding a decoded header gives back the same bytes (the encoding is canonical).
//! Nothing here panics on bytes from the network.

use crc_fast::{CrcAlgorithm, checksum};

/// Bytes of every frame header.
pub const FRAME_HEADER_BYTES: usize = 80;
/// The first bytes of every frame.
pub const MAGIC: [u8; 4] = *b"SHWF";
/// The one protocol version this build speaks.
pub const PROTOCOL_VERSION: u16 = 2;
/// Largest body: verb messages are names, ids and small records (a key is ≤ 1 KiB).
pub const BODY_MAX_BYTES: usize = 64 << 10;
/// Largest payload of one frame. The largest payload a peer verb moves today is an
/// object's metadata record (`RECORD_BODY_MAX_BYTES`, 4 MiB, plus its framing); a
/// stripe's chunk record read or appended is at most one staging buffer (4 KiB + the
/// 8-byte record checksum + 1 MiB at one data chunk per 1 MiB stripe, block rounded).
/// 16 MiB leaves room for larger stripes and batched blocks while bounding what one
/// frame can make a receiver hold.
pub const PAYLOAD_MAX_BYTES: usize = 16 << 20;

/// Flag: more Reply frames of the same request follow (a reply streamed in pieces).
pub const FLAG_MORE: u8 = 1;
/// The flag bits this version defines.
const FLAGS_KNOWN: u8 = FLAG_MORE;

/// Where each field starts (the byte table above).
pub const MAGIC_AT: usize = 0;
pub const VERSION_AT: usize = 4;
pub const KIND_AT: usize = 6;
pub const FLAGS_AT: usize = 7;
pub const REQUEST_ID_AT: usize = 8;
pub const DEPLOYMENT_ID_AT: usize = 16;
pub const TARGET_SHARD_AT: usize = 32;
pub const DEADLINE_MS_AT: usize = 36;
pub const BODY_LEN_AT: usize = 40;
pub const PAYLOAD_LEN_AT: usize = 44;
pub const BODY_CHECKSUM_AT: usize = 48;
pub const RESERVED_AT: usize = 56;
pub const HEADER_CHECKSUM_AT: usize = 72;

/// The table above as (offset, bytes) pairs, checked at compile time below.
const LAYOUT: [(usize, usize); 13] = [
    (MAGIC_AT, 4),
    (VERSION_AT, 2),
    (KIND_AT, 1),
    (FLAGS_AT, 1),
    (REQUEST_ID_AT, 8),
    (DEPLOYMENT_ID_AT, 16),
    (TARGET_SHARD_AT, 4),
    (DEADLINE_MS_AT, 4),
    (BODY_LEN_AT, 4),
    (PAYLOAD_LEN_AT, 4),
    (BODY_CHECKSUM_AT, 8),
    (RESERVED_AT, 16),
    (HEADER_CHECKSUM_AT, 8),
];

// The fields follow each other with no gap and no overlap from byte 0, and the header
// checksum closes the header.
const _: () = {
    assert!(LAYOUT[0].0 == 0);
    let mut i = 1;
    while i < LAYOUT.len() {
        assert!(LAYOUT[i].0 == LAYOUT[i - 1].0 + LAYOUT[i - 1].1);
        i += 1;
    }
    assert!(HEADER_CHECKSUM_AT + 8 == FRAME_HEADER_BYTES);
};
// Lengths travel as u32.
const _: () = assert!(BODY_MAX_BYTES < PAYLOAD_MAX_BYTES);
const _: () = assert!(PAYLOAD_MAX_BYTES < u32::MAX as usize);

/// What a frame is; the byte values are the wire's and never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameKind {
    /// Dialer → listener: opens the handshake with the dialer's challenge.
    Hello = 1,
    /// Listener → dialer: the listener's challenge and its proof.
    Challenge = 2,
    /// Dialer → listener: the dialer's proof.
    Proof = 3,
    /// Listener → dialer: the connection is authenticated.
    Welcome = 4,
    /// Either side: the handshake failed; the body is the reason, then the close.
    Refuse = 5,
    /// A storage verb for the target shard.
    Request = 6,
    /// The answer to the Request of the same request id.
    Reply = 7,
    /// The sender no longer waits for the Request of this request id.
    Cancel = 8,
    /// Is the other side alive? Answered by a Pong with the same request id.
    Ping = 9,
    /// The answer to a Ping.
    Pong = 10,
}

impl FrameKind {
    /// Every kind, in wire order.
    pub const ALL: [FrameKind; 10] = [
        FrameKind::Hello,
        FrameKind::Challenge,
        FrameKind::Proof,
        FrameKind::Welcome,
        FrameKind::Refuse,
        FrameKind::Request,
        FrameKind::Reply,
        FrameKind::Cancel,
        FrameKind::Ping,
        FrameKind::Pong,
    ];

    /// The kind a wire byte names, if any.
    pub fn from_byte(byte: u8) -> Option<FrameKind> {
        FrameKind::ALL.into_iter().find(|kind| *kind as u8 == byte)
    }

    /// Whether raw payload bytes may follow the body.
    pub fn carries_payload(self) -> bool {
        matches!(self, FrameKind::Request | FrameKind::Reply)
    }

    /// Whether a body may follow the header.
    pub fn carries_body(self) -> bool {
        !matches!(self, FrameKind::Cancel | FrameKind::Ping | FrameKind::Pong)
    }
}

/// A header field that a frame of some kind must leave empty (zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Body,
    Payload,
    Deadline,
    FlagMore,
}

/// Why a frame was refused. Any refusal ends the connection: a byte stream cannot be
/// resynchronised once a frame boundary is in doubt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Not a Shoal frame (or the stream lost its framing).
    BadMagic { found: [u8; 4] },
    /// A protocol version this build does not speak.
    Version { found: u16 },
    /// The header's bytes do not match its checksum.
    HeaderChecksum,
    /// A reserved byte is not zero.
    ReservedNotZero,
    /// A kind byte this version does not define.
    UnknownKind { found: u8 },
    /// A flag bit this version does not define.
    UnknownFlags { found: u8 },
    /// The body length is over `BODY_MAX_BYTES`.
    BodyTooLong { len_bytes: u32 },
    /// The payload length is over `PAYLOAD_MAX_BYTES`.
    PayloadTooLong { len_bytes: u32 },
    /// A field that frames of this kind must leave zero is not.
    NotAllowed { kind: FrameKind, field: Field },
    /// A Request without a deadline.
    DeadlineMissing,
    /// A frame of another deployment (a node of another cluster, or a stray client).
    WrongDeployment { found: [u8; 16] },
    /// The body does not match the header's body checksum.
    BodyChecksum,
    /// Encoding only: the caller's buffer cannot hold header and body.
    BufferTooSmall { needed_bytes: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadMagic { found } => write!(f, "not a Shoal frame (magic {found:02x?})"),
            FrameError::Version { found } => write!(
                f,
                "peer speaks protocol version {found}, this node {PROTOCOL_VERSION}"
            ),
            FrameError::HeaderChecksum => write!(f, "frame header checksum mismatch"),
            FrameError::ReservedNotZero => write!(f, "frame header reserved bytes not zero"),
            FrameError::UnknownKind { found } => write!(f, "unknown frame kind {found}"),
            FrameError::UnknownFlags { found } => write!(f, "unknown frame flags {found:#04x}"),
            FrameError::BodyTooLong { len_bytes } => {
                write!(f, "frame body of {len_bytes} bytes (max {BODY_MAX_BYTES})")
            }
            FrameError::PayloadTooLong { len_bytes } => {
                write!(
                    f,
                    "frame payload of {len_bytes} bytes (max {PAYLOAD_MAX_BYTES})"
                )
            }
            FrameError::NotAllowed { kind, field } => {
                write!(f, "a {kind:?} frame may not carry {field:?}")
            }
            FrameError::DeadlineMissing => write!(f, "request frame without a deadline"),
            FrameError::WrongDeployment { .. } => write!(f, "frame of another deployment"),
            FrameError::BodyChecksum => write!(f, "frame body checksum mismatch"),
            FrameError::BufferTooSmall { needed_bytes } => {
                write!(f, "frame needs a buffer of {needed_bytes} bytes")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A frame header, decoded and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub kind: FrameKind,
    pub flags: u8,
    pub request_id: u64,
    pub deployment_id: [u8; 16],
    pub target_shard: u32,
    pub deadline_ms: u32,
    pub body_len_bytes: u32,
    pub payload_len_bytes: u32,
    pub body_checksum: u64,
}

impl FrameHeader {
    /// The header's bytes, its checksum included. The header must pass `check`: the
    /// encoder (`encode_frame`) checks it first, so only a defect gets here otherwise.
    pub fn encode(&self) -> [u8; FRAME_HEADER_BYTES] {
        assert_eq!(self.check(), Ok(()), "encoding an invalid frame header");
        let mut bytes = [0u8; FRAME_HEADER_BYTES];
        bytes[MAGIC_AT..VERSION_AT].copy_from_slice(&MAGIC);
        bytes[VERSION_AT..KIND_AT].copy_from_slice(&PROTOCOL_VERSION.to_le_bytes());
        bytes[KIND_AT] = self.kind as u8;
        bytes[FLAGS_AT] = self.flags;
        bytes[REQUEST_ID_AT..DEPLOYMENT_ID_AT].copy_from_slice(&self.request_id.to_le_bytes());
        bytes[DEPLOYMENT_ID_AT..TARGET_SHARD_AT].copy_from_slice(&self.deployment_id);
        put_u32(&mut bytes, TARGET_SHARD_AT, self.target_shard);
        put_u32(&mut bytes, DEADLINE_MS_AT, self.deadline_ms);
        put_u32(&mut bytes, BODY_LEN_AT, self.body_len_bytes);
        put_u32(&mut bytes, PAYLOAD_LEN_AT, self.payload_len_bytes);
        bytes[BODY_CHECKSUM_AT..RESERVED_AT].copy_from_slice(&self.body_checksum.to_le_bytes());
        seal_header(&mut bytes);
        bytes
    }

    /// Reads and checks a header: magic, version and checksum before any field is
    /// believed, then reserved bytes, kind, flags, limits and the rules of its kind.
    /// The deployment is the receiver's to check (`Decoder` does).
    pub fn decode(bytes: &[u8; FRAME_HEADER_BYTES]) -> Result<FrameHeader, FrameError> {
        let magic: [u8; 4] = field(bytes, MAGIC_AT);
        if magic != MAGIC {
            return Err(FrameError::BadMagic { found: magic });
        }
        let version = u16::from_le_bytes(field(bytes, VERSION_AT));
        if version != PROTOCOL_VERSION {
            return Err(FrameError::Version { found: version });
        }
        if u64::from_le_bytes(field(bytes, HEADER_CHECKSUM_AT)) != header_checksum(bytes) {
            return Err(FrameError::HeaderChecksum);
        }
        if bytes[RESERVED_AT..HEADER_CHECKSUM_AT]
            .iter()
            .any(|b| *b != 0)
        {
            return Err(FrameError::ReservedNotZero);
        }
        let kind = FrameKind::from_byte(bytes[KIND_AT]).ok_or(FrameError::UnknownKind {
            found: bytes[KIND_AT],
        })?;
        let header = FrameHeader {
            kind,
            flags: bytes[FLAGS_AT],
            request_id: u64::from_le_bytes(field(bytes, REQUEST_ID_AT)),
            deployment_id: field(bytes, DEPLOYMENT_ID_AT),
            target_shard: u32::from_le_bytes(field(bytes, TARGET_SHARD_AT)),
            deadline_ms: u32::from_le_bytes(field(bytes, DEADLINE_MS_AT)),
            body_len_bytes: u32::from_le_bytes(field(bytes, BODY_LEN_AT)),
            payload_len_bytes: u32::from_le_bytes(field(bytes, PAYLOAD_LEN_AT)),
            body_checksum: u64::from_le_bytes(field(bytes, BODY_CHECKSUM_AT)),
        };
        header.check()?;
        Ok(header)
    }

    /// The rules every header obeys, whoever wrote it: known flags, lengths within the
    /// limits, and the fields its kind must leave zero.
    pub fn check(&self) -> Result<(), FrameError> {
        if self.flags & !FLAGS_KNOWN != 0 {
            return Err(FrameError::UnknownFlags { found: self.flags });
        }
        if self.body_len_bytes as usize > BODY_MAX_BYTES {
            return Err(FrameError::BodyTooLong {
                len_bytes: self.body_len_bytes,
            });
        }
        if self.payload_len_bytes as usize > PAYLOAD_MAX_BYTES {
            return Err(FrameError::PayloadTooLong {
                len_bytes: self.payload_len_bytes,
            });
        }
        let not_allowed = |field| {
            Err(FrameError::NotAllowed {
                kind: self.kind,
                field,
            })
        };
        if self.body_len_bytes != 0 && !self.kind.carries_body() {
            return not_allowed(Field::Body);
        }
        if self.payload_len_bytes != 0 && !self.kind.carries_payload() {
            return not_allowed(Field::Payload);
        }
        if self.flags & FLAG_MORE != 0 && self.kind != FrameKind::Reply {
            return not_allowed(Field::FlagMore);
        }
        match (self.kind, self.deadline_ms) {
            (FrameKind::Request, 0) => Err(FrameError::DeadlineMissing),
            (FrameKind::Request, _) | (_, 0) => Ok(()),
            _ => not_allowed(Field::Deadline),
        }
    }

    /// Bytes of the whole frame: header, body and payload.
    pub fn frame_len_bytes(&self) -> u64 {
        FRAME_HEADER_BYTES as u64
            + u64::from(self.body_len_bytes)
            + u64::from(self.payload_len_bytes)
    }
}

/// What the sender of a frame chooses; `encode_frame` derives the rest (lengths and
/// checksums) from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    pub kind: FrameKind,
    pub flags: u8,
    pub request_id: u64,
    pub deployment_id: [u8; 16],
    pub target_shard: u32,
    pub deadline_ms: u32,
}

impl FrameMeta {
    /// A frame of `kind` with every optional field zero.
    pub fn new(kind: FrameKind, deployment_id: [u8; 16]) -> FrameMeta {
        FrameMeta {
            kind,
            flags: 0,
            request_id: 0,
            deployment_id,
            target_shard: 0,
            deadline_ms: 0,
        }
    }

    /// The header of this frame with `body` and `payload_len_bytes` of payload.
    pub fn header(&self, body: &[u8], payload_len_bytes: u32) -> Result<FrameHeader, FrameError> {
        let body_len_bytes = u32::try_from(body.len())
            .ok()
            .filter(|len| *len as usize <= BODY_MAX_BYTES)
            .ok_or(FrameError::BodyTooLong {
                len_bytes: u32::try_from(body.len()).unwrap_or(u32::MAX),
            })?;
        let header = FrameHeader {
            kind: self.kind,
            flags: self.flags,
            request_id: self.request_id,
            deployment_id: self.deployment_id,
            target_shard: self.target_shard,
            deadline_ms: self.deadline_ms,
            body_len_bytes,
            payload_len_bytes,
            body_checksum: checksum(CrcAlgorithm::Crc64Nvme, body),
        };
        header.check()?;
        Ok(header)
    }
}

/// Writes a frame's header and body into `out`; returns the bytes written. The
/// `payload_len_bytes` payload bytes that the header announces are the caller's to send
/// right after (from its own buffers, never copied here).
pub fn encode_frame(
    meta: &FrameMeta,
    body: &[u8],
    payload_len_bytes: u32,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let header = meta.header(body, payload_len_bytes)?;
    let needed_bytes = FRAME_HEADER_BYTES + body.len();
    let Some(out) = out.get_mut(..needed_bytes) else {
        return Err(FrameError::BufferTooSmall { needed_bytes });
    };
    out[..FRAME_HEADER_BYTES].copy_from_slice(&header.encode());
    out[FRAME_HEADER_BYTES..].copy_from_slice(body);
    Ok(needed_bytes)
}

/// `encode_frame` into a new `Vec` (for frames off the data path: the handshake, tests).
pub fn encode_frame_vec(
    meta: &FrameMeta,
    body: &[u8],
    payload_len_bytes: u32,
) -> Result<Vec<u8>, FrameError> {
    let mut out = vec![0u8; FRAME_HEADER_BYTES + body.len().min(BODY_MAX_BYTES)];
    let written = encode_frame(meta, body, payload_len_bytes, &mut out)?;
    out.truncate(written);
    Ok(out)
}

/// CRC-64/NVME of a header's bytes before its checksum field.
pub fn header_checksum(bytes: &[u8; FRAME_HEADER_BYTES]) -> u64 {
    checksum(CrcAlgorithm::Crc64Nvme, &bytes[..HEADER_CHECKSUM_AT])
}

/// Writes a header's checksum field over its other bytes (the encoder's last step;
/// public so that fuzz targets can build frames whose checksum passes).
pub fn seal_header(bytes: &mut [u8; FRAME_HEADER_BYTES]) {
    let sum = header_checksum(bytes);
    bytes[HEADER_CHECKSUM_AT..].copy_from_slice(&sum.to_le_bytes());
}

/// CRC-64/NVME of a body, as the header's body checksum holds it.
pub fn body_checksum(body: &[u8]) -> u64 {
    checksum(CrcAlgorithm::Crc64Nvme, body)
}

fn field<const N: usize>(bytes: &[u8; FRAME_HEADER_BYTES], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn put_u32(bytes: &mut [u8; FRAME_HEADER_BYTES], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}
