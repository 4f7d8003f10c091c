//! `PeerMember`: a member of a set that is a drive of another node, reached over a
//! `PeerLink`. It implements the same storage verbs as `LocalMember` (`verbs.rs`), each
//! one call over the link, so the object layer and the quorum engine do not know
//! whether a member is local: its failures are `MemberError`s like a drive's
//! (`Unreachable` when the link is down, `Timeout` past the deadline, the far drive's
//! own errors as they were), and the quorum engine's deadlines and slow marking apply
//! unchanged.
//!
//! Invariants:
//! - No socket here (`shards/tests/layers.rs`): the link is a trait; the TCP link lives
//!   in `front/`, the simulated one in `sim_link.rs`.
//! - A lease fence's expiry leaves as time left (`message::FenceLeft`).
//! - Staged files and open part files are handles on the far side (`serve.rs`), which
//!   holds them per connection in a bounded table.
//! - An answer of the wrong kind is an I/O error of the member, never a panic.

pub mod link;
pub mod message;
pub mod route;
pub mod serve;
pub mod sim_link;
mod verbs;
pub mod wire_form;

use std::rc::Rc;
use std::time::Duration;

use shoal_io::AlignedBuf;

use crate::member::local::fence::MonotonicNanos;
use crate::member::peer::link::{PeerCall, PeerLink};
use crate::member::peer::message::{PeerReply, PeerRequest};
use crate::member::{MemberError, MemberHealth, MemberResult, SetMember};
use crate::topology::placement::DeploymentId;

pub use link::LinkError;
pub use message::Handle;

/// A drive of a peer node as a member of a set.
pub struct PeerMember {
    /// `node/drive`, for logs and errors.
    name: String,
    /// The drive's position in the peer node's drive list.
    drive_index: u32,
    link: Rc<dyn PeerLink>,
    health: MemberHealth,
    /// This node's monotonic clock (fences leave as time left).
    now: MonotonicNanos,
    /// The longest a call waits for its answer (the store's member deadline; the
    /// quorum engine may give up sooner).
    deadline: Duration,
    /// The deployment whose owner hash routes calls to owner shards (`route.rs`);
    /// `None`: every call goes to the link's own shard.
    routes: Option<DeploymentId>,
}

/// A staged file on the far side.
pub struct PeerStaged {
    pub(crate) handle: Handle,
}

/// An open part file on the far side, and the route its opening call took (its
/// handle is valid on that connection only).
pub struct PeerRecords {
    pub(crate) handle: Handle,
    pub(crate) route: Option<u64>,
}

impl PeerMember {
    /// Drive `drive_index` of the peer reached by `link`, named `name`; calls wait at
    /// most `deadline`, fences are stamped with `now`.
    pub fn new(
        name: impl Into<String>,
        drive_index: u32,
        link: Rc<dyn PeerLink>,
        now: MonotonicNanos,
        deadline: Duration,
    ) -> Self {
        Self {
            name: name.into(),
            drive_index,
            link,
            health: MemberHealth::default(),
            now,
            deadline,
            routes: None,
        }
    }

    /// Sends each call naming an object, bucket or upload to its owner shard on the
    /// peer, by `deployment_id`'s owner hash (`route.rs`).
    #[must_use]
    pub fn with_routes(mut self, deployment_id: DeploymentId) -> Self {
        self.routes = Some(deployment_id);
        self
    }

    /// The route of `request`: its owner hash, when routing and it names something.
    fn route_of(&self, request: &PeerRequest) -> Option<u64> {
        let deployment_id = self.routes.as_ref()?;
        let target = route::route_target(request)?;
        Some(route::owner_hash(deployment_id, &target))
    }

    fn now_nanos(&self) -> u64 {
        (self.now)()
    }

    /// One call without payload; the far side's failure becomes this member's error.
    async fn ask(&self, request: PeerRequest) -> MemberResult<PeerReply> {
        let (reply, _) = self.ask_with(request, None).await;
        reply
    }

    /// One call with `buf` as payload (out and back, see `link.rs`), routed by what
    /// it names.
    async fn ask_with(
        &self,
        request: PeerRequest,
        buf: Option<AlignedBuf>,
    ) -> (MemberResult<PeerReply>, Option<AlignedBuf>) {
        let route = self.route_of(&request);
        self.ask_on(route, request, buf).await
    }

    /// One call on `route` (a handle's calls take its opener's).
    async fn ask_on(
        &self,
        route: Option<u64>,
        request: PeerRequest,
        buf: Option<AlignedBuf>,
    ) -> (MemberResult<PeerReply>, Option<AlignedBuf>) {
        let call = PeerCall {
            drive_index: self.drive_index,
            request,
            deadline: self.deadline,
            route,
        };
        let verb = crate::member::peer::wire_form::verb_of(&call.request);
        let (reply, buf) = self.link.call(call, buf).await;
        let reply = match reply {
            Ok(PeerReply::Failed(e)) => Err(e),
            Ok(reply) => Ok(reply),
            Err(e) => {
                tracing::debug!(member = %self.name, ?verb, error = ?e, "peer call failed");
                Err(e.into())
            }
        };
        (reply, buf)
    }
}

/// The error for an answer of the wrong kind to `verb`.
fn unexpected(verb: &str, reply: &PeerReply) -> MemberError {
    MemberError::Io(format!("peer answered {} to {verb}", reply.kind()))
}

impl SetMember for PeerMember {
    fn name(&self) -> &str {
        &self.name
    }

    fn health(&self) -> &MemberHealth {
        &self.health
    }
}
