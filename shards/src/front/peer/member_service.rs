//! `MemberService`: what a peer connection's requests are answered with on this node —
//! the storage verbs on this node's own members (`member/peer/serve.rs`), read from
//! and written as frames in their wire form (`member/peer/wire_form`).
//!
//! The members are the very ones this shard's store holds (its local drives, in this
//! node's drive order), so a key's lease epochs are remembered in one place whether
//! the verb came from this node or a peer. A connection's open staged files and part
//! files are its session, closed when it ends; so are the leases its lock verbs were
//! granted (`with_locks`: this shard's `KeyLocker` asks the name's owner shard, see
//! `set/lock_service.rs`), released when it ends.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use shoal_io::{AlignedBuf, Drive, Env, MonoioEnv};

use crate::front::peer::serve::{Answer, PeerService};
use crate::member::Member;
use crate::member::peer::serve::{LockDesk, ServeConn};
use crate::member::peer::wire_form::{decode_call, encode_answer, encode_refusal};

/// This node's drives, answering peers.
pub struct MemberService<D: Drive> {
    /// Indexed by the drive's position in this node's drive list.
    members: Rc<[Rc<Member<D>>]>,
    /// This node's locks, for the lock verbs (`None`: they are answered unreachable).
    locks: Option<Rc<dyn LockDesk>>,
}

impl<D: Drive> MemberService<D> {
    pub fn new(members: Vec<Rc<Member<D>>>) -> Self {
        Self {
            members: members.into(),
            locks: None,
        }
    }

    /// Answers lock verbs from `desk` (`set::lock_service::NodeLockDesk` over this
    /// shard's locker).
    #[must_use]
    pub fn with_locks(mut self, desk: Rc<dyn LockDesk>) -> Self {
        self.locks = Some(desk);
        self
    }
}

impl<D: Drive> PeerService for MemberService<D> {
    type Session = ServeConn<D>;

    fn session(&self) -> Self::Session {
        // Random numbering: handles of a connection that broke never name another
        // request's file on the next connection (see `ServeConn::numbering_from`).
        let conn = ServeConn::numbering_from(rand::random());
        match &self.locks {
            Some(desk) => conn.with_locks(desk.session()),
            None => conn,
        }
    }

    fn call(
        &self,
        session: &Rc<Self::Session>,
        body: Vec<u8>,
        payload: Option<AlignedBuf>,
    ) -> Pin<Box<dyn Future<Output = Answer>>> {
        let (session, members) = (session.clone(), self.members.clone());
        Box::pin(async move {
            let incoming = match decode_call(&body, payload) {
                Ok(incoming) => incoming,
                Err(error) => return (encode_refusal(&error), None),
            };
            let now_nanos = MonoioEnv.monotonic_nanos();
            let (reply, buf) = session
                .serve(
                    &members,
                    incoming.drive_index,
                    incoming.request,
                    incoming.chunks,
                    now_nanos,
                )
                .await;
            encode_answer(incoming.verb, reply, buf)
        })
    }

    fn end(&self, session: Rc<Self::Session>) -> Pin<Box<dyn Future<Output = ()>>> {
        let members = self.members.clone();
        Box::pin(async move {
            // Requests still running hold the session; the last one to end drops it,
            // and its handles close with it.
            if let Ok(session) = Rc::try_unwrap(session) {
                session.end(&members).await;
            }
        })
    }
}
