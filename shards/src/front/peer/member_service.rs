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

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use shoal_io::{AlignedBuf, Drive, Env, MonoioEnv};

use crate::front::peer::serve::{Answer, PeerService};
use crate::member::Member;
use crate::member::peer::message::PeerRequest;
use crate::member::peer::route::{owner_hash, route_target};
use crate::member::peer::serve::{LockDesk, ServeConn};
use crate::member::peer::wire_form::{decode_call, encode_answer, encode_refusal};
use crate::topology::placement::DeploymentId;

/// Peer verbs a shard served, by whether it owns what they name (`route.rs`): the
/// truth of owner-shard routing, `shoal_node_peer_verbs_total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerVerbCounts {
    /// Verbs naming a key, bucket, upload or lock this shard owns.
    pub owner: u64,
    /// Verbs naming something another shard of this node owns.
    pub other: u64,
    /// Verbs naming nothing (staging, handles, walks, identity).
    pub unnamed: u64,
}

/// How a shard tells whether it owns what a peer's verb names, and its counts.
pub struct OwnerCheck {
    pub deployment_id: DeploymentId,
    pub shard_index: usize,
    pub shards: usize,
    pub counts: Rc<Cell<PeerVerbCounts>>,
}

impl OwnerCheck {
    fn count(&self, request: &PeerRequest) {
        let mut counts = self.counts.get();
        match route_target(request) {
            None => counts.unnamed += 1,
            Some(target) => {
                let owner = owner_hash(&self.deployment_id, &target) % self.shards.max(1) as u64;
                if owner == self.shard_index as u64 {
                    counts.owner += 1;
                } else {
                    counts.other += 1;
                }
            }
        }
        self.counts.set(counts);
    }
}

/// This node's drives, answering peers.
pub struct MemberService<D: Drive> {
    /// Indexed by the drive's position in this node's drive list.
    members: Rc<[Rc<Member<D>>]>,
    /// This node's locks, for the lock verbs (`None`: they are answered unreachable).
    locks: Option<Rc<dyn LockDesk>>,
    /// Counts served verbs by owner (`None`: not counted).
    owner_check: Option<Rc<OwnerCheck>>,
}

impl<D: Drive> MemberService<D> {
    pub fn new(members: Vec<Rc<Member<D>>>) -> Self {
        Self {
            members: members.into(),
            locks: None,
            owner_check: None,
        }
    }

    /// Counts each served verb by whether this shard owns what it names.
    #[must_use]
    pub fn with_owner_check(mut self, check: OwnerCheck) -> Self {
        self.owner_check = Some(Rc::new(check));
        self
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
        let owner_check = self.owner_check.clone();
        Box::pin(async move {
            let incoming = match decode_call(&body, payload) {
                Ok(incoming) => incoming,
                Err(error) => return (encode_refusal(&error), None),
            };
            if let Some(check) = &owner_check {
                check.count(&incoming.request);
            }
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
