//! `PeerLink`: how a `PeerMember` reaches one peer node. Object-safe, so the member
//! holds `Rc<dyn PeerLink>` and does not know whether the far side is a TCP connection
//! (`front/`, the only layer with sockets) or the simulation's link (`sim_link.rs`).
//!
//! Contract of `call`:
//! - The request goes to drive `drive_index` of the node (its position in that node's
//!   drive list); the answer is the far side's `PeerReply`, or a `LinkError` when the
//!   link could not tell what the far side did.
//! - The buffer, if given, travels both ways and always comes back: its `len()` bytes
//!   go out as the request's payload (a `StageAppend`'s blocks), and a reply's payload
//!   is received into it (up to its capacity, `len()` set to what arrived). On an
//!   error its contents are unspecified.
//! - The call ends by `deadline` (time left, as clocks of nodes differ) at the latest:
//!   `LinkError::Timeout` then, whether or not the far side acted. A caller that drops
//!   the future gives up waiting; the far side may still act.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use shoal_io::AlignedBuf;

use crate::member::MemberError;
use crate::member::peer::message::{PeerReply, PeerRequest};

/// Why a call over a link has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkError {
    /// The peer cannot be reached (no connection, refused, partitioned), and why.
    Unreachable(String),
    /// No answer within the deadline: the far side may or may not have acted.
    Timeout,
    /// The peer answered with something that is not an answer to the request.
    Protocol(String),
}

impl From<LinkError> for MemberError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Unreachable(why) => MemberError::Unreachable(why),
            LinkError::Timeout => MemberError::Timeout,
            LinkError::Protocol(why) => MemberError::Io(format!("peer protocol: {why}")),
        }
    }
}

/// One call: a verb for one drive of the peer, and how long the caller waits.
#[derive(Debug, Clone)]
pub struct PeerCall {
    /// The drive's position in the peer node's drive list.
    pub drive_index: u32,
    pub request: PeerRequest,
    /// Time left for the answer.
    pub deadline: Duration,
    /// The owner hash of what the call names (`route.rs`): a link to a node of `n`
    /// shards sends it to shard `route % n` there. `None`: the link's own shard.
    pub route: Option<u64>,
}

/// What a call gives back: the answer (or why there is none) and the buffer.
pub type CallOutcome = (Result<PeerReply, LinkError>, Option<AlignedBuf>);

/// A boxed call in flight (one allocation per remote call).
pub type CallFuture = Pin<Box<dyn Future<Output = CallOutcome>>>;

/// A way to one peer node (see the module's contract).
pub trait PeerLink {
    /// Sends `call` with `buf` (payload out, reply payload in; see the contract).
    fn call(&self, call: PeerCall, buf: Option<AlignedBuf>) -> CallFuture;
}
