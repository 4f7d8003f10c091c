//! One shard of a cluster node: its store's members, and its side of the peer protocol.
//!
//! Members, in pool order: this node's drives as local members (the same `Rc`s the
//! shard's `MemberService` answers peers with, so a key's lease epochs are remembered
//! in one place per shard whether a verb came from here or from a peer), and each
//! peer's drives as `PeerMember`s sharing one `TcpLink` per peer node. A call that
//! names a key, bucket, upload or lock goes to that name's owner shard on the peer
//! (`member/peer/route.rs`, `front/peer/link.rs`), so a key's traffic from every node
//! meets on one core of each; other calls go from shard `i` to shard `i` of the peer
//! (modulo its shard count, `accept.rs`). The links of a node's shards never share a
//! connection.

use std::rc::Rc;
use std::time::Duration;

use futures_channel::mpsc;
use shoal_io::{AnyDrive, MonoioEnv};
use shoal_wire::handshake::ClusterSecret;

use crate::front::cluster::ClusterConfig;
use crate::front::peer::accept::{self, HandedPeer};
use crate::front::peer::member_service::{MemberService, OwnerCheck};
use crate::front::peer::permits::Permits;
use crate::front::peer::serve::{ServeConfig, serve};
use crate::member::peer::link::PeerLink;
use crate::member::peer::serve::LockDesk;
use crate::member::{LocalMember, Member, PeerMember};
use crate::topology::placement::DeploymentId;

/// Peer requests one shard runs at once (with their answers not yet written).
pub const PEER_PERMITS_PER_SHARD: usize = 64;

/// A shard's members in pool order, and the local ones in this node's drive order.
pub struct ShardMembers {
    pub pool: Vec<Rc<Member<AnyDrive>>>,
    pub local: Vec<Rc<Member<AnyDrive>>>,
    /// One per node (`None` for this node): the peer members' links, which the
    /// cluster locker asks too.
    pub links: Vec<Option<Rc<dyn PeerLink>>>,
}

/// Builds shard `shard_index`'s members: `drives` are this node's (its drive order).
pub fn members(
    shard_index: usize,
    cluster: &ClusterConfig,
    (secret, deployment_id): (&ClusterSecret, DeploymentId),
    drives: Vec<AnyDrive>,
    (lease, member_deadline): (Duration, Duration),
) -> Result<ShardMembers, String> {
    let local: Vec<Rc<Member<AnyDrive>>> = drives
        .into_iter()
        .map(|drive| {
            Rc::new(Member::Local(LocalMember::with_leases(
                drive, MonoioEnv, lease,
            )))
        })
        .collect();
    let target_shard = u16::try_from(shard_index).unwrap_or(u16::MAX);
    let links = cluster.links(target_shard, secret)?;
    let now: Rc<dyn Fn() -> u64> = Rc::new(|| shoal_io::Env::monotonic_nanos(&MonoioEnv));
    let pool = (cluster.topology.order.iter())
        .map(|place| match &links[place.node_index] {
            None => local[place.drive_index].clone(),
            Some(link) => {
                let name = cluster.drive_name(*place);
                let index = u32::try_from(place.drive_index).unwrap_or(u32::MAX);
                let member =
                    PeerMember::new(name, index, link.clone(), now.clone(), member_deadline)
                        .with_routes(deployment_id);
                Rc::new(Member::Peer(member))
            }
        })
        .collect();
    Ok(ShardMembers { pool, local, links })
}

/// Serves the peer connections handed to this shard (`inbox`) with its local members
/// and this node's lock desk (`desk`, over the same lock tables the shard's store
/// locks with), until every sender is gone.
pub async fn serve_peers(
    inbox: mpsc::Receiver<HandedPeer>,
    (local, desk): (Vec<Rc<Member<AnyDrive>>>, Rc<dyn LockDesk>),
    owner_check: OwnerCheck,
    config: ServeConfig,
) {
    let service = MemberService::new(local).with_locks(desk);
    let service = Rc::new(service.with_owner_check(owner_check));
    let permits = Permits::new(PEER_PERMITS_PER_SHARD);
    accept::receive(inbox, move |stream, _route| {
        let (config, service, permits) = (config.clone(), service.clone(), permits.clone());
        monoio::spawn(async move { serve(stream, &config, service, permits).await });
    })
    .await;
}
