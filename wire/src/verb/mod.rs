//! The storage verbs as messages (DESIGN.md §6): every verb of a set member travels to
//! a peer as one request frame and comes back as one reply frame. This module holds
//! plain types mirroring the verbs' arguments and answers (`request.rs`, `reply.rs`,
//! `shape.rs`, `error.rs`), the handles of the stateful verbs (`handle.rs`) and the
//! codec between these types and the bytes of a frame.
//!
//! It imports no workspace crate: the shards side converts its own types to these.

pub mod codec;
mod decode;
mod encode;
pub mod error;
pub mod handle;
pub mod kind;
pub mod limit;
pub mod reply;
pub mod request;
mod schema;
pub mod shape;
mod table;

pub use codec::{
    DecodeError, EncodeError, Message, decode_reply, decode_request, encode_reply, encode_request,
    reply_kind, request_kind,
};

pub use error::{ErrorKind, VerbError};
pub use handle::{HANDLES_MAX_PER_CONNECTION, Handle};
pub use kind::VerbKind;
pub use reply::VerbReply;
pub use request::VerbRequest;
pub use shape::{
    Commit, DataSource, EntrySummary, Expect, Fence, LockAsk, LockGrant, LockTarget, PartInfo,
    RollBack, WalkBatch, WalkEntry, WalkRequest,
};
