//! Which node of a pool this process is. Pure: what the machine knows (the addresses a
//! node's host resolves to, which addresses are this machine's) is passed in, so the
//! rule is tested without DNS or interfaces.
//!
//! The rule, in order:
//! 1. `--address` names a node: the node whose `host:port` is the address (an IP
//!    address, or one the node's host resolves to; or the same host name). Loopback
//!    addresses (127.0.0.x) are all local, so on one machine only the address decides.
//! 2. `--address` is unspecified (`0.0.0.0:PORT`, `[::]:PORT`): the node whose port is
//!    PORT and whose host is (or resolves to) an address of a local interface other
//!    than loopback, when exactly one node is.
//! 3. Otherwise a clear error listing the nodes. Never a guess: a node that took
//!    another's drives would format or serve them.

use std::net::{IpAddr, SocketAddr};

use crate::topology::cluster::Node;
use crate::topology::endpoints::{Result, TopologyError};

/// Nodes named in an error before "and N more".
const NODES_LISTED_MAX: usize = 16;

/// The address this process serves on, as the operator gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddress {
    Socket(SocketAddr),
    /// A host name and port (`node2:9000`), for `shoal debug layout --address`.
    Name {
        host: String,
        port: u16,
    },
}

impl ListenAddress {
    /// `IP:PORT`, `[IPv6]:PORT` or `NAME:PORT`.
    pub fn parse(text: &str) -> Result<Self> {
        if let Ok(socket) = text.parse::<SocketAddr>() {
            return Ok(Self::Socket(socket));
        }
        let bad = || TopologyError(format!("--address {text:?}: give HOST:PORT"));
        let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(bad)?;
        if host.is_empty() || host.contains(':') {
            return Err(bad());
        }
        Ok(Self::Name {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn port(&self) -> u16 {
        match self {
            Self::Socket(socket) => socket.port(),
            Self::Name { port, .. } => *port,
        }
    }
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Socket(socket) => write!(f, "{socket}"),
            Self::Name { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// The index of this node among `nodes`. `node_ips[i]` are the addresses node `i`'s host
/// is (an IP literal) or resolves to; `is_local` says whether an address belongs to an
/// interface of this machine.
pub fn find_this_node(
    nodes: &[Node],
    listen: &ListenAddress,
    node_ips: &[Vec<IpAddr>],
    is_local: &dyn Fn(IpAddr) -> bool,
) -> Result<usize> {
    assert_eq!(nodes.len(), node_ips.len());
    let port = listen.port();
    let matches = |i: usize| -> bool {
        let Some((host, node_port)) = &nodes[i].address else {
            return false;
        };
        *node_port == port
            && match listen {
                ListenAddress::Name { host: name, .. } => host == name,
                ListenAddress::Socket(s) if s.ip().is_unspecified() => node_ips[i]
                    .iter()
                    .any(|ip| !ip.is_loopback() && is_local(*ip)),
                ListenAddress::Socket(s) => node_ips[i].contains(&s.ip()),
            }
    };
    let found: Vec<usize> = (0..nodes.len()).filter(|&i| matches(i)).collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(not_found(nodes, listen)),
        many => {
            let names: Vec<String> = many.iter().map(|&i| nodes[i].name()).collect();
            Err(TopologyError(format!(
                "cannot tell which node this is: --address {listen} matches {}; give \
                 --address HOST:PORT of exactly one node",
                names.join(" and ")
            )))
        }
    }
}

fn not_found(nodes: &[Node], listen: &ListenAddress) -> TopologyError {
    let unspecified = matches!(listen, ListenAddress::Socket(s) if s.ip().is_unspecified());
    let why = if unspecified {
        format!(
            "no node has port {} and a host that is an address of this machine (loopback \
             addresses do not count: every 127.0.0.x is local)",
            listen.port()
        )
    } else {
        format!("--address {listen} is none of them")
    };
    TopologyError(format!(
        "cannot tell which node this is: {why}; the nodes are {}; give --address HOST:PORT \
         of this node",
        node_list(nodes)
    ))
}

fn node_list(nodes: &[Node]) -> String {
    let mut names: Vec<String> = nodes
        .iter()
        .take(NODES_LISTED_MAX)
        .map(Node::name)
        .collect();
    if nodes.len() > NODES_LISTED_MAX {
        names.push(format!("and {} more", nodes.len() - NODES_LISTED_MAX));
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::cluster::{LayoutChoice, PoolTopology};
    use crate::topology::endpoints::parse_pools;

    fn nodes(arg: &str) -> Vec<Node> {
        let pools = parse_pools(&[arg.to_owned()]).unwrap();
        PoolTopology::new(&pools[0], LayoutChoice::default())
            .unwrap()
            .nodes
    }

    /// The addresses of IP-literal hosts; host names resolve to nothing.
    fn literal_ips(nodes: &[Node]) -> Vec<Vec<IpAddr>> {
        nodes
            .iter()
            .map(|n| {
                let host = &n.address.as_ref().unwrap().0;
                host.parse().into_iter().collect()
            })
            .collect()
    }

    fn find(arg: &str, listen: &str, local: &[&str]) -> Result<usize> {
        let nodes = nodes(arg);
        let local: Vec<IpAddr> = local.iter().map(|ip| ip.parse().unwrap()).collect();
        let listen = ListenAddress::parse(listen).unwrap();
        find_this_node(&nodes, &listen, &literal_ips(&nodes), &|ip| {
            ip.is_loopback() || local.contains(&ip)
        })
    }

    /// On loopback the address decides, by host or by port.
    #[test]
    fn loopback_by_address() {
        let hosts = "http://127.0.0.{1...4}:9101/tmp/d{1...4}";
        assert_eq!(find(hosts, "127.0.0.3:9101", &[]), Ok(2));
        let ports = "http://127.0.0.1:{9101...9104}/tmp/d{1...4}";
        assert_eq!(find(ports, "127.0.0.1:9104", &[]), Ok(3));
        let err = find(hosts, "127.0.0.9:9101", &[]).unwrap_err().0;
        assert_eq!(
            err,
            "cannot tell which node this is: --address 127.0.0.9:9101 is none of them; the \
             nodes are 127.0.0.1:9101, 127.0.0.2:9101, 127.0.0.3:9101, 127.0.0.4:9101; give \
             --address HOST:PORT of this node"
        );
    }

    /// Loopback hosts never match an unspecified address: every one is local.
    #[test]
    fn loopback_needs_an_address() {
        let err = find("http://127.0.0.{1...4}:9000/d1", "0.0.0.0:9000", &[])
            .unwrap_err()
            .0;
        assert!(err.contains("loopback addresses do not count"), "{err}");
    }

    /// With 0.0.0.0, the node whose host is a local interface address and whose port is
    /// the listen port is this one.
    #[test]
    fn unspecified_address_by_interface() {
        let arg = "http://10.0.0.{1...4}:9000/d{1...2}";
        assert_eq!(find(arg, "0.0.0.0:9000", &["10.0.0.2"]), Ok(1));
        assert_eq!(find(arg, "[::]:9000", &["10.0.0.4"]), Ok(3));
        assert!(find(arg, "0.0.0.0:9001", &["10.0.0.2"]).is_err());
        let err = find(arg, "0.0.0.0:9000", &["10.0.0.2", "10.0.0.3"])
            .unwrap_err()
            .0;
        assert!(
            err.contains("matches 10.0.0.2:9000 and 10.0.0.3:9000"),
            "{err}"
        );
    }

    /// A host name given as --address matches the node of that name.
    #[test]
    fn by_name() {
        assert_eq!(find("http://node{1...4}:9000/d1", "Node3:9000", &[]), Ok(2));
        assert!(find("http://node{1...4}:9000/d1", "node3:9001", &[]).is_err());
        assert!(ListenAddress::parse("node3").is_err());
        assert!(ListenAddress::parse("node3:0").is_err());
    }

    /// Errors list at most 16 nodes, then say how many more.
    #[test]
    fn long_lists_are_cut() {
        let err = find("http://10.0.1.{1...20}:9000/d1", "10.0.0.1:9000", &[])
            .unwrap_err()
            .0;
        assert!(err.contains("10.0.1.16:9000, and 4 more;"), "{err}");
    }
}
