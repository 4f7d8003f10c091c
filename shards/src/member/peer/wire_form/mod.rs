//! The peer messages in their wire form: pure functions between the shards' verb
//! messages (`PeerCall`, `PeerRequest`, `PeerReply`, `MemberError`) and the frames of
//! `shoal-wire` (a body, and a payload of bulk or chunk records), for the TCP link in
//! `front/peer/` (no socket here). The dialer calls `encode_call` and, with the Reply
//! frame, `decode_answer`; the far side calls `decode_call`, serves the request
//! (`serve.rs`) and answers with `encode_answer` (or `encode_refusal` for a body it
//! could not read).
//!
//! A Request frame's body carries the drive index before the verb, since
//! `VerbRequest` has no drive field and its encoding is frozen (`verb_golden.rs`):
//!
//! ```text
//! Request body  | offset | bytes | field                                          |
//!               |      0 |     4 | drive index, u32 little-endian (the drive's    |
//!               |        |       | position in the far node's drive list)         |
//!               |      4 |   ... | FlatBuffers `Request` (`shoal_wire::verb`)     |
//! Reply body    |      0 |   ... | FlatBuffers `Reply`, no prefix                 |
//! payload       | the verb's bulk (a record raw, or a `List`), or chunk records  |
//!               | (StageAppend's request, ReadRecords' answer), or nothing       |
//! ```
//!
//! Copies (beyond the socket's own reads and writes):
//! - Chunk records are never copied here: `StageAppend`'s blocks go out as the caller's
//!   aligned buffer and arrive as the far side's, handed to the member as they are; a
//!   `ReadRecords` answer goes out as the member's buffer and is read by the link into
//!   the caller's.
//! - A record or list going as bulk is copied once on each side: into an aligned
//!   buffer to go out (`encode_call`, `encode_answer`), and out of the received one
//!   into the message (`shoal_wire` decodes from a `Vec`). A `RollBack`'s record to
//!   restore is copied once more each side (it is an `Rc<[u8]>` in `RollBack`).
//!
//! Invariants: nothing from the network panics (every refusal is a `WireFormError`);
//! an answer of another verb than the one asked is refused; a fence travels as time
//! left (`FenceLeft`), and a decoded `Commit`/`RollBack` carries an already expired
//! `fence` of its own, so a server that forgot to apply the `FenceLeft` fails closed.

mod lock;
mod reply;
mod request;

use shoal_io::AlignedBuf;
use shoal_wire::verb::limit::BODY_MAX_BYTES;
use shoal_wire::verb::{
    DecodeError, EncodeError, ErrorKind, VerbError, VerbKind, VerbReply, decode_reply,
    decode_request, encode_reply, encode_request, reply_kind, request_kind,
};

use crate::member::peer::link::{LinkError, PeerCall};
use crate::member::peer::message::{PeerReply, PeerRequest};

pub use reply::{member_error, verb_error};
pub use request::verb_of;

/// Bytes of the drive index before a Request body's FlatBuffers table.
pub const DRIVE_INDEX_BYTES: usize = 4;

/// Why a message could not be put on the wire or read from it.
#[derive(Debug, Clone, PartialEq)]
pub enum WireFormError {
    /// The wire codec refused to encode it (a field over its limit).
    Encode(EncodeError),
    /// The bytes are not a verb message the codec accepts.
    Decode(DecodeError),
    /// A Request body shorter than its drive index.
    Short { len_bytes: usize },
    /// A Request body over the frame's limit once the drive index is added.
    BodyTooLarge { len_bytes: usize },
    /// The payload does not fit the verb (chunks missing or unexpected, a read of
    /// another length than asked), and why.
    Payload(String),
    /// An answer of another verb than the one asked.
    WrongAnswer { asked: VerbKind, answered: VerbKind },
    /// A value out of the other side's range.
    Range { field: &'static str },
    /// A wire verb the shards side has no message for (`StageAbandon`: a peer's staged
    /// file is abandoned when its connection ends or its handle is evicted).
    Unsupported(VerbKind),
}

impl std::fmt::Display for WireFormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireFormError::Encode(e) => write!(f, "cannot encode: {e}"),
            WireFormError::Decode(e) => write!(f, "cannot decode: {e}"),
            WireFormError::Short { len_bytes } => write!(f, "request body of {len_bytes} bytes"),
            WireFormError::BodyTooLarge { len_bytes } => {
                write!(
                    f,
                    "request body of {len_bytes} bytes is over {BODY_MAX_BYTES}"
                )
            }
            WireFormError::Payload(why) => write!(f, "payload: {why}"),
            WireFormError::WrongAnswer { asked, answered } => {
                write!(f, "{} answered to {}", answered.name(), asked.name())
            }
            WireFormError::Range { field } => write!(f, "{field} out of range"),
            WireFormError::Unsupported(kind) => write!(f, "{} is not served", kind.name()),
        }
    }
}

impl std::error::Error for WireFormError {}

impl From<EncodeError> for WireFormError {
    fn from(e: EncodeError) -> Self {
        WireFormError::Encode(e)
    }
}

impl From<DecodeError> for WireFormError {
    fn from(e: DecodeError) -> Self {
        WireFormError::Decode(e)
    }
}

/// On the dialer, a message that cannot go out or an answer that cannot be read is
/// the link's protocol failure (an I/O error of that member).
impl From<WireFormError> for LinkError {
    fn from(e: WireFormError) -> Self {
        LinkError::Protocol(e.to_string())
    }
}

/// A call as it goes out: the Request frame's body, and its bulk (if the verb has
/// one) in an aligned buffer to send as the payload. A `StageAppend`'s payload is the
/// caller's own buffer instead (`bulk` is `None`).
#[derive(Debug)]
pub struct OutgoingCall {
    pub body: Vec<u8>,
    pub bulk: Option<AlignedBuf>,
}

/// A call as the far side reads it.
#[derive(Debug)]
pub struct IncomingCall {
    pub drive_index: u32,
    /// The verb, for `encode_answer`.
    pub verb: VerbKind,
    pub request: PeerRequest,
    /// `StageAppend`'s blocks (the frame's payload, untouched); `None` for any other.
    pub chunks: Option<AlignedBuf>,
}

/// `call` as a Request frame; `chunks_len_bytes` is the length of the caller's buffer
/// (what goes out as a `StageAppend`'s payload; 0 for every other verb).
pub fn encode_call(call: PeerCall, chunks_len_bytes: usize) -> Result<OutgoingCall, WireFormError> {
    let appends = matches!(call.request, PeerRequest::StageAppend { .. });
    if appends != (chunks_len_bytes > 0) {
        let why = format!(
            "{chunks_len_bytes} bytes of chunks with {:?}",
            verb_of(&call.request)
        );
        return Err(WireFormError::Payload(why));
    }
    let verb = request::to_wire(call.request)?;
    let message = encode_request(&verb)?;
    let len_bytes = DRIVE_INDEX_BYTES + message.body.len();
    if len_bytes > BODY_MAX_BYTES {
        return Err(WireFormError::BodyTooLarge { len_bytes });
    }
    let mut body = Vec::with_capacity(len_bytes);
    body.extend_from_slice(&call.drive_index.to_le_bytes());
    body.extend_from_slice(&message.body);
    Ok(OutgoingCall {
        body,
        bulk: aligned(&message.bulk),
    })
}

/// The call in a Request frame's `body` and `payload` (as the far side read them).
pub fn decode_call(
    body: &[u8],
    payload: Option<AlignedBuf>,
) -> Result<IncomingCall, WireFormError> {
    let Some((drive, table)) = body.split_first_chunk::<DRIVE_INDEX_BYTES>() else {
        return Err(WireFormError::Short {
            len_bytes: body.len(),
        });
    };
    let drive_index = u32::from_le_bytes(*drive);
    let kind = request_kind(table)?;
    let (bulk, chunks) = if kind == VerbKind::StageAppend {
        match payload {
            Some(chunks) if !chunks.is_empty() => (Vec::new(), Some(chunks)),
            _ => return Err(WireFormError::Payload("StageAppend without chunks".into())),
        }
    } else {
        (
            payload.map(|p| p.as_slice().to_vec()).unwrap_or_default(),
            None,
        )
    };
    let request = request::from_wire(decode_request(table, bulk)?)?;
    Ok(IncomingCall {
        drive_index,
        verb: kind,
        request,
        chunks,
    })
}

/// The far side's answer to a `verb` request as a Reply frame's body and payload.
/// `payload` is what `serve` gave back: sent only as a successful `ReadRecords`' bytes
/// (any other buffer, such as a `StageAppend`'s blocks coming back, is dropped). An
/// answer that cannot be encoded goes out as an I/O error instead: an answer always
/// goes out.
pub fn encode_answer(
    verb: VerbKind,
    reply: PeerReply,
    payload: Option<AlignedBuf>,
) -> (Vec<u8>, Option<AlignedBuf>) {
    let wire = reply::to_wire(verb, reply);
    let chunks = if wire.carries_chunks() { payload } else { None };
    match encode_reply(&wire) {
        Ok(message) => {
            let bulk = aligned(&message.bulk);
            (message.body, bulk.or(chunks))
        }
        Err(e) => {
            let error = VerbError {
                kind: ErrorKind::Io,
                message: format!("cannot encode the answer to {}: {e}", verb.name()),
            };
            (error_body(error), None)
        }
    }
}

/// The Reply body refusing a request whose body or payload could not be read.
pub fn encode_refusal(error: &WireFormError) -> Vec<u8> {
    error_body(VerbError {
        kind: ErrorKind::Refused,
        message: error.to_string(),
    })
}

/// The answer to `request` in a Reply frame's `body`, with `buf` the buffer the link
/// received its payload into (if any). `buf` is read only for verbs whose answer has a
/// payload, none of which sends one, so a buffer that holds the request's own payload
/// coming back is never mistaken for an answer.
pub fn decode_answer(
    request: &PeerRequest,
    body: &[u8],
    buf: Option<&AlignedBuf>,
) -> Result<PeerReply, WireFormError> {
    let asked = verb_of(request);
    let answered = reply_kind(body)?;
    if let Some(answered) = answered
        && answered != asked
    {
        return Err(WireFormError::WrongAnswer { asked, answered });
    }
    let received = buf.map_or(&[][..], AlignedBuf::as_slice);
    if answered == Some(VerbKind::ReadRecords) {
        check_read_len(request, received.len())?;
    }
    let bulk = if answered.is_some_and(reply::has_bulk) {
        received.to_vec()
    } else {
        Vec::new()
    };
    Ok(reply::from_wire(decode_reply(body, bulk)?))
}

/// A `ReadRecords` answer carries at most the bytes asked for: fewer when the part
/// file ends first (its last block is short), as a local read returns them.
fn check_read_len(request: &PeerRequest, received_bytes: usize) -> Result<(), WireFormError> {
    let PeerRequest::ReadRecords { len_bytes, .. } = request else {
        return Ok(());
    };
    if received_bytes as u64 <= *len_bytes {
        return Ok(());
    }
    let why = format!("{received_bytes} bytes read for {len_bytes} asked");
    Err(WireFormError::Payload(why))
}

/// An error reply's body; an error always encodes (its message is cut to the limit).
fn error_body(error: VerbError) -> Vec<u8> {
    match encode_reply(&VerbReply::Error(error)) {
        Ok(message) => message.body,
        // Unreachable by the codec's contract; an empty body is refused by the dialer.
        Err(_) => Vec::new(),
    }
}

/// `bytes` in an aligned buffer, for the frame's payload (`None` when empty).
fn aligned(bytes: &[u8]) -> Option<AlignedBuf> {
    if bytes.is_empty() {
        return None;
    }
    let mut buf = AlignedBuf::with_capacity(bytes.len());
    buf.extend_from_slice(bytes);
    Some(buf)
}
