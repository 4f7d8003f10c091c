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

use std::rc::Rc;
use std::sync::Arc;

use shoal_io::MonoioEnv;
use shoal_wire::handshake::ClusterSecret;

use crate::front::handler::Credentials;
use crate::front::peer::channel::{ChannelConfig, PeerChannel};
use crate::front::peer::link::TcpLink;
use crate::front::peer::resolve::PeerAddress;
use crate::front::peer::serve::ServeConfig;
use crate::front::tls::PeerTls;
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
    /// Per node: its address or host name (`None` for this node). Names are resolved
    /// before each connection attempt (`front/peer/resolve.rs`), never here.
    pub peers: Vec<Option<PeerAddress>>,
    /// With `--certs-dir`: TLS towards peers (client side) and for peers (server side,
    /// the S3 listener's own configuration).
    pub tls: Option<ClusterTls>,
    /// This node's shard count, told to every peer that connects (its Welcome), so
    /// peers send each key's verbs to the key's owner shard here.
    pub shards: usize,
}

/// The two sides of TLS between peers.
#[derive(Clone)]
pub struct ClusterTls {
    pub client: Arc<rustls::ClientConfig>,
    pub server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ClusterTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterTls")
    }
}

impl ClusterConfig {
    /// This node's place in `topology`, with every other node's address as the drive
    /// list names it. Nothing is resolved: a peer whose name does not resolve yet is
    /// waited for at start like a peer that does not answer.
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
            peers.push(Some(PeerAddress::of(host, *port)));
        }
        Ok(Self {
            topology: Arc::new(topology),
            this_node,
            peers,
            tls: None,
            shards: 1,
        })
    }

    /// How a shard dials node `node`'s shard `target_shard` (TLS with `--certs-dir`).
    pub fn channel_config(
        &self,
        node: usize,
        address: PeerAddress,
        target_shard: u16,
        secret: &ClusterSecret,
    ) -> Result<ChannelConfig, String> {
        let mut config = ChannelConfig::new(
            address,
            target_shard,
            self.frame_deployment(),
            secret.clone(),
        );
        if let (Some(tls), Some((host, _))) = (&self.tls, &self.topology.nodes[node].address) {
            config.tls = Some(PeerTls::new(tls.client.clone(), host)?);
        }
        Ok(config)
    }

    /// How this node answers peers.
    pub fn serve_config(&self, secret: &ClusterSecret) -> ServeConfig {
        let mut config = ServeConfig::new(self.frame_deployment(), secret.clone());
        config.shards = u32::try_from(self.shards).unwrap_or(u32::MAX);
        config.tls = self.tls.as_ref().map(|tls| tls.server.clone());
        config
    }

    /// One link per node (`None` for this node) to its shard `target_shard`.
    pub fn links(
        &self,
        target_shard: u16,
        secret: &ClusterSecret,
    ) -> Result<Vec<Option<Rc<dyn PeerLink>>>, String> {
        let mut links = Vec::with_capacity(self.peers.len());
        for (node, address) in self.peers.iter().enumerate() {
            let Some(address) = address.clone() else {
                links.push(None);
                continue;
            };
            let channel =
                PeerChannel::new(self.channel_config(node, address, target_shard, secret)?);
            links.push(Some(Rc::new(TcpLink::new(channel)) as Rc<dyn PeerLink>));
        }
        Ok(links)
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

/// Why this node cannot join a cluster with the environment it has: the root
/// credentials must come from `SHOAL_ROOT_USER`/`SHOAL_ROOT_PASSWORD`, the same on every
/// node (the peers' secret derives from them; credentials generated per node would
/// differ).
pub fn require_root_credentials() -> Result<(), String> {
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    if set("SHOAL_ROOT_USER") && set("SHOAL_ROOT_PASSWORD") {
        return Ok(());
    }
    Err(
        "a cluster needs SHOAL_ROOT_USER and SHOAL_ROOT_PASSWORD, the same on every node \
         (peers prove to each other that they hold them)"
            .to_owned(),
    )
}

/// The secret peers prove they hold: derived from the root credentials, which every
/// node of a cluster must be given the same.
pub fn secret_of(credentials: &Credentials) -> ClusterSecret {
    ClusterSecret::derive(&credentials.access_key_id, &credentials.secret_access_key)
}

/// Per pool position: a member asking the peer's drive there, with calls bounded by
/// `PEER_PROBE_DEADLINE`, over connections of their own to each peer's shard 0
/// (`None`: this node's drive). For the agreement and the health watch.
pub fn probe_members(
    cluster: &ClusterConfig,
    secret: &ClusterSecret,
) -> Result<Vec<Option<PeerMember>>, String> {
    let links = cluster.links(0, secret)?;
    let now: Rc<dyn Fn() -> u64> = Rc::new(|| shoal_io::Env::monotonic_nanos(&MonoioEnv));
    let members = (cluster.topology.order.iter())
        .map(|place| {
            links[place.node_index].as_ref().map(|link| {
                let index = u32::try_from(place.drive_index).unwrap_or(u32::MAX);
                let name = cluster.drive_name(*place);
                PeerMember::new(name, index, link.clone(), now.clone(), PEER_PROBE_DEADLINE)
            })
        })
        .collect();
    Ok(members)
}
