//! `shoal server` as one node of a cluster (DESIGN.md §1, §6): every node is started
//! with the same drive list and derives the same pool (`topology/cluster.rs`).
//!
//! - `start.rs`: before any shard runs, the node agrees with its peers on the
//!   deployment id and formats its blank drives (answering peers' `read_identity`
//!   meanwhile).
//! - `shard.rs`: each shard's store holds this node's drives as local members and each
//!   peer's drives as peer members over one `TcpLink` per peer node (to the peer's
//!   shard of the same index), and answers peers with the same local members.
//! - `peer_watch.rs`: asks every peer's drives, every second, whether they answer; the
//!   health paths count the ones that did.
//!
//! Frames between nodes carry the endpoint list's hash in their deployment field (known
//! before any drive is read, so the agreement itself runs over the wire): a node
//! started with another list, or of another cluster, is refused at the handshake.

pub mod peer_watch;
pub mod shard;
pub mod start;

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;

use shoal_io::MonoioEnv;
use shoal_wire::handshake::ClusterSecret;

use crate::front::handler::Credentials;
use crate::front::peer::channel::{ChannelConfig, PeerChannel};
use crate::front::peer::link::TcpLink;
use crate::member::PeerMember;
use crate::member::peer::link::PeerLink;
use crate::topology::cluster::{DrivePlace, PoolTopology};

/// How long one peer call of the agreement and the health watch waits.
pub const PEER_PROBE_DEADLINE: std::time::Duration = std::time::Duration::from_millis(1500);

/// This node's place in a cluster, and how to reach the others.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    pub topology: Arc<PoolTopology>,
    pub this_node: usize,
    /// Per node: its address (`None` for this node).
    pub peers: Vec<Option<SocketAddr>>,
}

impl ClusterConfig {
    /// Resolves every other node's address (at start: a name that does not resolve is
    /// an error the operator must fix).
    pub fn new(topology: PoolTopology, this_node: usize) -> Result<Self, String> {
        let mut peers = Vec::with_capacity(topology.nodes.len());
        for (index, node) in topology.nodes.iter().enumerate() {
            if index == this_node {
                peers.push(None);
                continue;
            }
            let Some((host, port)) = &node.address else {
                return Err(format!("node {} has no address", index + 1));
            };
            let address = (host.as_str(), *port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut addresses| addresses.next())
                .ok_or_else(|| format!("node {}: cannot resolve {host}", node.name()))?;
            peers.push(Some(address));
        }
        Ok(Self {
            topology: Arc::new(topology),
            this_node,
            peers,
        })
    }

    /// The frames' deployment field between nodes: the endpoint list's hash.
    pub fn frame_deployment(&self) -> [u8; 16] {
        let mut id = [0u8; 16];
        id.copy_from_slice(&self.topology.endpoints_hash[..16]);
        id
    }

    /// Pool positions of this node's drives, in its drive order.
    pub fn local_positions(&self) -> Vec<usize> {
        let mut positions: Vec<(usize, usize)> = (self.topology.order.iter().enumerate())
            .filter(|(_, place)| place.node_index == self.this_node)
            .map(|(position, place)| (place.drive_index, position))
            .collect();
        positions.sort_unstable();
        positions
            .into_iter()
            .map(|(_, position)| position)
            .collect()
    }

    /// A drive's name in logs and errors: `host:port/path`.
    pub fn drive_name(&self, place: DrivePlace) -> String {
        format!(
            "{}{}",
            self.topology.nodes[place.node_index].name(),
            self.topology.path_of(place)
        )
    }
}

/// The secret peers prove they hold: derived from the root credentials, which every
/// node of a cluster must be given the same.
pub fn secret_of(credentials: &Credentials) -> ClusterSecret {
    ClusterSecret::derive(&credentials.access_key_id, &credentials.secret_access_key)
}

/// Per pool position: a member asking the peer's drive there, with calls bounded by
/// `PEER_PROBE_DEADLINE`, over connections of their own to each peer's shard 0
/// (`None`: this node's drive). For the agreement and the health watch.
pub fn probe_members(cluster: &ClusterConfig, secret: &ClusterSecret) -> Vec<Option<PeerMember>> {
    let links: Vec<Option<Rc<dyn PeerLink>>> = (cluster.peers.iter())
        .map(|address| {
            address.map(|address| {
                let channel = PeerChannel::new(ChannelConfig {
                    address,
                    target_shard: 0,
                    deployment_id: cluster.frame_deployment(),
                    secret: secret.clone(),
                });
                Rc::new(TcpLink::new(channel)) as Rc<dyn PeerLink>
            })
        })
        .collect();
    let now: Rc<dyn Fn() -> u64> = Rc::new(|| shoal_io::Env::monotonic_nanos(&MonoioEnv));
    (cluster.topology.order.iter())
        .map(|place| {
            links[place.node_index].as_ref().map(|link| {
                let index = u32::try_from(place.drive_index).unwrap_or(u32::MAX);
                let name = cluster.drive_name(*place);
                PeerMember::new(name, index, link.clone(), now.clone(), PEER_PROBE_DEADLINE)
            })
        })
        .collect()
}
