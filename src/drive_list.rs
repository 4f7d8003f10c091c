//! The drive arguments of `shoal server` and `shoal debug layout`: parsed into one pool
//! (the pure rules live in `shoal_shards::topology`), and this node found in it. The only
//! I/O here is what those rules leave to the caller: resolving node host names and
//! telling whether an address is this machine's (a UDP socket bound to it, then closed).
//!
//! Every error is a usage error: the caller prints it and exits with status 2.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;

use shoal_shards::PoolLayout;
use shoal_shards::front::cluster::ClusterConfig;
use shoal_shards::topology::cluster::{LayoutChoice, Node, PoolTopology};
use shoal_shards::topology::endpoints::{parse_pools, single_pool};
use shoal_shards::topology::this_node::{ListenAddress, find_this_node};

/// Drive folders used when `shoal server` is given none.
const DEFAULT_DRIVE_COUNT: usize = 4;

/// The one pool the arguments name, with its nodes and sets.
pub fn pool(args: &[String], choice: LayoutChoice) -> Result<PoolTopology, String> {
    let pools = parse_pools(args).map_err(|e| e.to_string())?;
    let pool = single_pool(pools).map_err(|e| e.to_string())?;
    PoolTopology::new(&pool, choice).map_err(|e| e.to_string())
}

/// The index of this node in `topology`, by the rule of `topology/this_node.rs`.
pub fn this_node(topology: &PoolTopology, listen: &ListenAddress) -> Result<usize, String> {
    if topology.scheme.is_none() {
        return Ok(0);
    }
    let node_ips: Vec<Vec<IpAddr>> = match listen {
        // Matched by name: no resolving needed.
        ListenAddress::Name { .. } => vec![Vec::new(); topology.nodes.len()],
        ListenAddress::Socket(_) => topology.nodes.iter().map(addresses_of).collect(),
    };
    find_this_node(&topology.nodes, listen, &node_ips, &is_local_address).map_err(|e| e.0)
}

/// The local drive folders `shoal server` serves (this node's, in its order), and in
/// the cluster form this node's place in the cluster; or why it cannot serve this list.
pub fn server_drives(
    args: &[String],
    address: SocketAddr,
    choice: LayoutChoice,
) -> Result<(Vec<PathBuf>, Option<ClusterConfig>), String> {
    let defaults: Vec<String>;
    let args = if args.is_empty() {
        defaults = (1..=DEFAULT_DRIVE_COUNT)
            .map(|i| format!("shoal-data/drive{i}"))
            .collect();
        &defaults
    } else {
        args
    };
    let topology = pool(args, choice)?;
    if topology.scheme.is_none() {
        return Ok((local_drives(&topology, choice)?, None));
    }
    let node = this_node(&topology, &ListenAddress::Socket(address))?;
    if let Err(why) = shoal_shards::front::cluster::require_root_credentials() {
        let node = topology.nodes[node].name();
        return Err(format!("{}; this node: {node}; {why}", topology.summary()));
    }
    let drives = topology.nodes[node]
        .drive_paths
        .iter()
        .map(PathBuf::from)
        .collect();
    Ok((drives, Some(ClusterConfig::new(topology, node)?)))
}

/// The local form as before: the store lays the drives out by their count, so a
/// `--set-drive-count` other than that layout's cannot be honoured yet.
fn local_drives(topology: &PoolTopology, choice: LayoutChoice) -> Result<Vec<PathBuf>, String> {
    let count = topology.drive_count();
    if let Some(requested) = choice.set_drive_count {
        let store_size = PoolLayout::for_drives(count, None)
            .map(|l| l.set.set_size())
            .map_err(|e| e.to_string())?;
        if requested != store_size {
            return Err(format!(
                "--set-drive-count {requested}: local drives are split into sets of \
                 {store_size} (from their count) until the flag reaches the store; it is \
                 taken by the cluster form and by `shoal debug layout`"
            ));
        }
    }
    Ok(topology.nodes[0]
        .drive_paths
        .iter()
        .map(PathBuf::from)
        .collect())
}

/// The addresses a node's host is (an IP literal) or resolves to; none when it does
/// not resolve (then it is not this node).
fn addresses_of(node: &Node) -> Vec<IpAddr> {
    let Some((host, port)) = &node.address else {
        return Vec::new();
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return vec![ip];
    }
    (host.as_str(), *port)
        .to_socket_addrs()
        .map(|addrs| addrs.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

/// Whether `ip` is an address of this machine: the kernel lets a socket bind only to
/// its own addresses.
fn is_local_address(ip: IpAddr) -> bool {
    UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}
