//! `TcpLink`: the `PeerLink` of the server, a `PeerMember`'s calls as frames over a
//! `PeerChannel` to one shard of a peer node (`channel.rs`), in their wire form
//! (`member/peer/wire_form`).
//!
//! One frame payload travels each way: a call's bulk (a record) or the caller's chunk
//! buffer (a `StageAppend`'s blocks) out; an answer's bulk or chunk records (a
//! `ReadRecords`) back, read into the caller's buffer when it gave one. The caller's
//! buffer always comes back (the link contract, `member/peer/link.rs`).

use shoal_io::AlignedBuf;

use crate::front::peer::channel::{CallError, PeerChannel};
use crate::member::peer::link::{CallFuture, LinkError, PeerCall, PeerLink};
use crate::member::peer::wire_form::{decode_answer, encode_call};

/// A peer node's shard, reached over TCP.
pub struct TcpLink {
    channel: PeerChannel,
}

impl TcpLink {
    pub fn new(channel: PeerChannel) -> Self {
        Self { channel }
    }

    /// Whether the connection is open now.
    pub fn is_up(&self) -> bool {
        self.channel.is_up()
    }
}

impl From<CallError> for LinkError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Unreachable(why) => LinkError::Unreachable(why),
            CallError::Timeout => LinkError::Timeout,
            CallError::Protocol(why) => LinkError::Protocol(why),
        }
    }
}

impl PeerLink for TcpLink {
    fn call(&self, call: PeerCall, buf: Option<AlignedBuf>) -> CallFuture {
        let channel = self.channel.clone();
        Box::pin(async move {
            let deadline = call.deadline;
            let request = call.request.clone();
            let chunks_len_bytes = buf.as_ref().map_or(0, AlignedBuf::len);
            let outgoing = match encode_call(call, chunks_len_bytes) {
                Ok(outgoing) => outgoing,
                Err(error) => return (Err(LinkError::Protocol(error.to_string())), buf),
            };
            let caller_gave = buf.is_some();
            // A call's bulk goes out instead of the caller's buffer, which waits aside.
            let (payload, aside) = match outgoing.bulk {
                Some(bulk) => (Some(bulk), buf),
                None => (buf, None),
            };
            let (answer, back) = channel.call(outgoing.body, payload, deadline).await;
            let reply = answer.map_err(LinkError::from).and_then(|body| {
                decode_answer(&request, &body, back.as_ref())
                    .map_err(|error| LinkError::Protocol(error.to_string()))
            });
            let returned = match aside {
                Some(original) => Some(original),
                None if caller_gave => back,
                None => None,
            };
            (reply, returned)
        })
    }
}
