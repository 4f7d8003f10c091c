//! The codec between verb messages and the bytes of a frame: `encode_request` /
//! `encode_reply` give a [`Message`] (the FlatBuffers body and the bulk that travels as
//! the frame's payload), `decode_request` / `decode_reply` take them back, and
//! `request_kind` / `reply_kind` read only the verb of a body, so a receiver knows
//! whether the payload that follows is chunk records (to read straight into an
//! aligned buffer) or bulk (to hand to the decoder).
//!
//! ```text
//! frame body    FlatBuffers `Request` / `Reply` table     ≤ BODY_MAX_BYTES (64 KiB)
//! frame payload one of, fixed by the verb:                ≤ BULK_MAX_BYTES (16 MiB)
//!               nothing
//!               a record, raw (meta, bucket, tags, identity, upload records)
//!               a FlatBuffers `List` table (names, parts, walk entries)
//!               chunk records, raw (StageAppend request, ReadRecords reply): the
//!               caller's own; the codec never sees them
//! ```
//!
//! Decoding is bounded and never panics: sizes are checked first, then the crate's
//! `Verifier` runs over the whole buffer under [`body_options`]/[`bulk_options`]
//! (depth, number of tables, apparent size), then fields are read and every limit of
//! `limit.rs` is checked. Every refusal is a [`DecodeError`].

use std::borrow::Cow;

use flatbuffers::{InvalidFlatbuffer, VerifierOptions};

use super::decode;
use super::encode;
use super::kind::VerbKind;
use super::limit::{
    self, BODY_MAX_BYTES, BULK_MAX_BYTES, LimitError, MESSAGE_MAX_BYTES, PARTS_MAX,
};
use super::reply::VerbReply;
use super::request::VerbRequest;
use super::schema;

/// A verb message as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'v> {
    /// The frame's body: a FlatBuffers `Request` or `Reply`.
    pub body: Vec<u8>,
    /// The frame's payload when the verb has bulk (else empty; chunk records are sent
    /// by the caller instead). Borrowed for a record, built for a list.
    pub bulk: Cow<'v, [u8]>,
}

/// Why a value could not be encoded (the receiver would refuse it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    /// A field is over its limit.
    Limit(LimitError),
    /// The body came out larger than `BODY_MAX_BYTES`.
    BodyTooLarge { len_bytes: usize },
    /// The bulk came out larger than `BULK_MAX_BYTES`.
    BulkTooLarge { len_bytes: usize },
}

/// Why bytes could not be decoded into a verb message.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeError {
    /// The body is longer than `BODY_MAX_BYTES`.
    BodyTooLarge { len_bytes: usize },
    /// The bulk is longer than `BULK_MAX_BYTES`.
    BulkTooLarge { len_bytes: usize },
    /// The bytes are not a well-formed FlatBuffers buffer of the schema (truncated,
    /// offsets out of bounds, bad UTF-8, too deep or too many tables).
    Invalid(InvalidFlatbuffer),
    /// A field read out of bounds after verification (a reader bug, kept an error).
    OutOfBounds,
    /// An enum field holds a number the schema does not have.
    Unknown { field: &'static str, code: u8 },
    /// A field the verb needs is absent.
    Missing { field: &'static str },
    /// A fixed-size field has the wrong length (ids and fingerprints are 16 bytes).
    BadLength { field: &'static str, len: usize },
    /// A field is over its limit.
    Limit(LimitError),
    /// Bulk arrived with a verb that has none.
    UnexpectedBulk { len_bytes: usize },
}

impl From<LimitError> for DecodeError {
    fn from(e: LimitError) -> Self {
        DecodeError::Limit(e)
    }
}

impl From<InvalidFlatbuffer> for DecodeError {
    fn from(e: InvalidFlatbuffer) -> Self {
        DecodeError::Invalid(e)
    }
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::Limit(e) => write!(f, "over a limit: {e}"),
            EncodeError::BodyTooLarge { len_bytes } => write!(f, "body of {len_bytes} bytes"),
            EncodeError::BulkTooLarge { len_bytes } => write!(f, "bulk of {len_bytes} bytes"),
        }
    }
}

impl std::error::Error for EncodeError {}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::BodyTooLarge { len_bytes } => write!(f, "body of {len_bytes} bytes"),
            DecodeError::BulkTooLarge { len_bytes } => write!(f, "bulk of {len_bytes} bytes"),
            DecodeError::Invalid(e) => write!(f, "not a verb message: {e}"),
            DecodeError::OutOfBounds => write!(f, "field out of bounds"),
            DecodeError::Unknown { field, code } => write!(f, "{field}: unknown value {code}"),
            DecodeError::Missing { field } => write!(f, "{field}: missing"),
            DecodeError::BadLength { field, len } => write!(f, "{field}: length {len}"),
            DecodeError::Limit(e) => write!(f, "over a limit: {e}"),
            DecodeError::UnexpectedBulk { len_bytes } => {
                write!(f, "{len_bytes} bytes of bulk for a verb with none")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Verifier bounds for a body: a `Request` nests at most two tables deep (a request,
/// its sub-tables) and holds at most six tables; the apparent size (bytes the
/// verifier visits, vtables once per table) stays under twice the body.
pub fn body_options() -> VerifierOptions {
    VerifierOptions {
        max_depth: 4,
        max_tables: 8,
        max_apparent_size: 2 * BODY_MAX_BYTES,
        ignore_missing_null_terminator: false,
    }
}

/// Verifier bounds for a list bulk: a `List` and one table per part or walk entry
/// (`PARTS_MAX` is the longest list of tables).
pub fn bulk_options() -> VerifierOptions {
    VerifierOptions {
        max_depth: 4,
        max_tables: PARTS_MAX + 1,
        max_apparent_size: 2 * BULK_MAX_BYTES,
        ignore_missing_null_terminator: false,
    }
}

fn sized(body: Vec<u8>, bulk: Cow<'_, [u8]>) -> Result<Message<'_>, EncodeError> {
    if body.len() > BODY_MAX_BYTES {
        return Err(EncodeError::BodyTooLarge {
            len_bytes: body.len(),
        });
    }
    if bulk.len() > BULK_MAX_BYTES {
        return Err(EncodeError::BulkTooLarge {
            len_bytes: bulk.len(),
        });
    }
    Ok(Message { body, bulk })
}

/// A request as a body and its bulk; refuses what the receiver would refuse.
pub fn encode_request(request: &VerbRequest) -> Result<Message<'_>, EncodeError> {
    limit::check_request(request).map_err(EncodeError::Limit)?;
    let (body, bulk) = encode::request(request);
    sized(body, encode::bulk(&bulk))
}

/// A reply as a body and its bulk; an error's message longer than
/// `MESSAGE_MAX_BYTES` is cut (an error answer must always go out).
pub fn encode_reply(reply: &VerbReply) -> Result<Message<'_>, EncodeError> {
    if !matches!(reply, VerbReply::Error(_)) {
        limit::check_reply(reply).map_err(EncodeError::Limit)?;
    }
    let (body, bulk) = encode::reply(reply, MESSAGE_MAX_BYTES);
    sized(body, encode::bulk(&bulk))
}

fn check_sizes(body: &[u8], bulk: &[u8]) -> Result<(), DecodeError> {
    if body.len() > BODY_MAX_BYTES {
        return Err(DecodeError::BodyTooLarge {
            len_bytes: body.len(),
        });
    }
    if bulk.len() > BULK_MAX_BYTES {
        return Err(DecodeError::BulkTooLarge {
            len_bytes: bulk.len(),
        });
    }
    Ok(())
}

/// The request in `body` with its `bulk` (the frame's payload, or empty when the verb
/// carries chunk records: see [`request_kind`]). The record of a record-carrying verb
/// is `bulk` itself, moved, not copied.
pub fn decode_request(body: &[u8], bulk: Vec<u8>) -> Result<VerbRequest, DecodeError> {
    check_sizes(body, &bulk)?;
    schema::verify::<schema::RequestTable>(body, &body_options())?;
    let request = decode::request(body, bulk)?;
    limit::check_request(&request)?;
    Ok(request)
}

/// The reply in `body` with its `bulk` (as for [`decode_request`]).
pub fn decode_reply(body: &[u8], bulk: Vec<u8>) -> Result<VerbReply, DecodeError> {
    check_sizes(body, &bulk)?;
    schema::verify::<schema::ReplyTable>(body, &body_options())?;
    let reply = decode::reply(body, bulk)?;
    limit::check_reply(&reply)?;
    Ok(reply)
}

/// The verb of a request body alone (verified), to learn what its payload is before
/// reading it: chunk records for `VerbKind::StageAppend`, else bulk.
pub fn request_kind(body: &[u8]) -> Result<VerbKind, DecodeError> {
    check_sizes(body, &[])?;
    schema::verify::<schema::RequestTable>(body, &body_options())?;
    decode::request_verb(body)
}

/// The verb a reply body answers (`None`: an error), verified: a successful
/// `VerbKind::ReadRecords` reply is followed by chunk records, any other by bulk.
pub fn reply_kind(body: &[u8]) -> Result<Option<VerbKind>, DecodeError> {
    check_sizes(body, &[])?;
    schema::verify::<schema::ReplyTable>(body, &body_options())?;
    decode::reply_verb(body)
}
