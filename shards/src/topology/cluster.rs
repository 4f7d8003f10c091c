//! A pool's nodes and erasure sets, derived from its parsed drive list alone, so every
//! node started with the same arguments derives the same pool (DESIGN.md §3). Pure.
//!
//! - Nodes are the distinct `host:port` of the endpoints, in order of first appearance;
//!   each node's drives in the order they appear. Every node has the same drive count.
//! - The set size is the largest size in 2..=16 that divides the pool's drive count and
//!   is symmetric over the nodes (a multiple of the node count, or a divisor of it), so
//!   every set has the same number of drives on each of its nodes; a requested size
//!   (`--set-drive-count`) must be one of those sizes.
//! - Pool order (position `p`, set `p / set size`) goes round robin over the nodes: the
//!   first drive of every node, then the second of every node, ... So the members of a
//!   set sit on different nodes as far as the set size allows, and losing one node
//!   costs each set at most `set size / nodes` drives (one drive when sets are smaller
//!   than the node count).
//!
//! With one node (the local-folder form) this is exactly the layout and order a single
//! node used before clusters existed (`PoolLayout::for_drives`, drives as given).

use sha2::{Digest, Sha256};

use crate::topology::endpoints::{Endpoint, PoolDrives, Result, Scheme, TopologyError, node_name};
use crate::topology::layout::{PoolLayout, SET_SIZE_MAX};

/// SHA-256 of a pool's canonical endpoint list: recorded in each drive's format so a
/// changed list is refused (`record/format.rs`).
pub type EndpointsHash = [u8; 32];

/// One node of a pool and its drives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `(host, port)`; `None` in the local-folder form (this node, no address).
    pub address: Option<(String, u16)>,
    /// Absolute paths on the node (as written for local folders).
    pub drive_paths: Vec<String>,
}

impl Node {
    /// `host:port`, or `local` for the local-folder form.
    pub fn name(&self) -> String {
        match &self.address {
            Some((host, port)) => node_name(host, *port),
            None => "local".to_owned(),
        }
    }
}

/// Where a pool position's drive is: its node, and its place among that node's drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrivePlace {
    pub node_index: usize,
    pub drive_index: usize,
}

/// What the operator asked for; `None` takes the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LayoutChoice {
    pub set_drive_count: Option<usize>,
    pub parity_chunks: Option<usize>,
}

/// A pool: nodes, erasure layout, and which drive holds each pool position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTopology {
    /// `None` in the local-folder form.
    pub scheme: Option<Scheme>,
    pub nodes: Vec<Node>,
    pub layout: PoolLayout,
    /// Pool position → drive; set `i` is positions `i * set size .. (i + 1) * set size`.
    pub order: Vec<DrivePlace>,
    pub endpoints_hash: EndpointsHash,
}

impl PoolTopology {
    pub fn new(pool: &PoolDrives, choice: LayoutChoice) -> Result<Self> {
        let (scheme, nodes) = match pool {
            PoolDrives::Local(paths) => (
                None,
                vec![Node {
                    address: None,
                    drive_paths: paths.clone(),
                }],
            ),
            PoolDrives::Endpoints(endpoints) => {
                let scheme = endpoints.first().map(|e| e.scheme);
                (scheme, group_by_node(endpoints)?)
            }
        };
        Self::from_nodes(scheme, nodes, choice)
    }

    fn from_nodes(scheme: Option<Scheme>, nodes: Vec<Node>, choice: LayoutChoice) -> Result<Self> {
        let drives_per_node = nodes.first().map_or(0, |n| n.drive_paths.len());
        let drive_count = nodes.len() * drives_per_node;
        if drive_count == 0 {
            return Err(TopologyError("no drives given".to_owned()));
        }
        let set_size = choose_set_size(drive_count, nodes.len(), choice.set_drive_count)?;
        let layout = PoolLayout::with_set_size(drive_count, set_size, choice.parity_chunks)
            .map_err(|e| TopologyError(format!("--parity: {e}")))?;
        let order = pool_order(nodes.len(), drives_per_node);
        let endpoints_hash = endpoints_hash(scheme, &nodes);
        Ok(Self {
            scheme,
            nodes,
            layout,
            order,
            endpoints_hash,
        })
    }

    pub fn drives_per_node(&self) -> usize {
        self.nodes[0].drive_paths.len()
    }

    pub fn drive_count(&self) -> usize {
        self.order.len()
    }

    /// The drives of set `set_index`, in set order (set drive 0 first).
    pub fn set_members(&self, set_index: usize) -> &[DrivePlace] {
        let size = self.layout.set.set_size();
        &self.order[set_index * size..(set_index + 1) * size]
    }

    /// The pool positions of node `node_index`'s drives, in pool order.
    pub fn positions_of_node(&self, node_index: usize) -> Vec<usize> {
        (0..self.order.len())
            .filter(|&p| self.order[p].node_index == node_index)
            .collect()
    }

    /// The path of the drive at `place`.
    pub fn path_of(&self, place: DrivePlace) -> &str {
        &self.nodes[place.node_index].drive_paths[place.drive_index]
    }

    /// The most drives any one set has on one node.
    pub fn set_drives_per_node_max(&self) -> usize {
        self.layout.set.set_size().div_ceil(self.nodes.len())
    }

    /// Whole nodes every set survives losing (their drives within each set's parity).
    pub fn node_failures_tolerated(&self) -> usize {
        self.layout.set.parity_chunks / self.set_drives_per_node_max()
    }

    /// The endpoints hash in hexadecimal, as printed.
    pub fn endpoints_hash_hex(&self) -> String {
        hex::encode(self.endpoints_hash)
    }

    /// One line: `4 nodes × 4 drives, 1 set of 16 (12+4)`.
    pub fn summary(&self) -> String {
        let set = self.layout.set;
        let sets = match self.layout.set_count {
            1 => "1 set".to_owned(),
            n => format!("{n} sets"),
        };
        let drives = match self.scheme {
            None => format!("{} local drives", self.drive_count()),
            Some(_) => format!(
                "{} nodes × {} drives",
                self.nodes.len(),
                self.drives_per_node()
            ),
        };
        format!(
            "{drives}, {sets} of {} ({}+{})",
            set.set_size(),
            set.data_chunks,
            set.parity_chunks
        )
    }
}

/// Nodes in order of first appearance, each with its drives; every node must have as
/// many drives as the others.
fn group_by_node(endpoints: &[Endpoint]) -> Result<Vec<Node>> {
    let mut index_of = std::collections::BTreeMap::new();
    let mut nodes: Vec<Node> = Vec::new();
    for endpoint in endpoints {
        let key = (endpoint.host.clone(), endpoint.port);
        let index = *index_of.entry(key.clone()).or_insert_with(|| {
            nodes.push(Node {
                address: Some(key),
                drive_paths: Vec::new(),
            });
            nodes.len() - 1
        });
        nodes[index].drive_paths.push(endpoint.path.clone());
    }
    if let Some(first) = nodes.first()
        && let Some(other) = nodes
            .iter()
            .find(|n| n.drive_paths.len() != first.drive_paths.len())
    {
        return Err(TopologyError(format!(
            "node {} has {} drives but node {} has {}: every node of a pool has the same \
             number of drives",
            other.name(),
            other.drive_paths.len(),
            first.name(),
            first.drive_paths.len()
        )));
    }
    Ok(nodes)
}

/// The set sizes a pool of `drive_count` drives over `node_count` nodes may use: in
/// 2..=16, dividing the drive count, symmetric over the nodes. Smallest first.
pub fn set_sizes(drive_count: usize, node_count: usize) -> Vec<usize> {
    (2..=SET_SIZE_MAX)
        .filter(|n| drive_count.is_multiple_of(*n))
        .filter(|n| n.is_multiple_of(node_count) || node_count.is_multiple_of(*n))
        .collect()
}

fn choose_set_size(
    drive_count: usize,
    node_count: usize,
    requested: Option<usize>,
) -> Result<usize> {
    if drive_count == 1 {
        return match requested {
            None | Some(1) => Ok(1),
            Some(n) => Err(TopologyError(format!(
                "--set-drive-count {n}: a single drive is a set of 1"
            ))),
        };
    }
    let sizes = set_sizes(drive_count, node_count);
    let over = if node_count > 1 {
        format!(" evenly over {node_count} nodes")
    } else {
        String::new()
    };
    match requested {
        Some(n) if sizes.contains(&n) => Ok(n),
        Some(n) => Err(TopologyError(format!(
            "--set-drive-count {n} cannot divide {drive_count} drives{over}; it can be {}",
            join_or_none(&sizes)
        ))),
        None => sizes.last().copied().ok_or_else(|| {
            TopologyError(format!(
                "{drive_count} drives cannot be divided into erasure sets of 2 to 16 \
                 drives{over}"
            ))
        }),
    }
}

fn join_or_none(sizes: &[usize]) -> String {
    if sizes.is_empty() {
        return "nothing: no size in 2..16 fits".to_owned();
    }
    let words: Vec<String> = sizes.iter().map(ToString::to_string).collect();
    words.join(", ")
}

/// Round robin over the nodes: drive 0 of every node, then drive 1 of every node, ...
fn pool_order(node_count: usize, drives_per_node: usize) -> Vec<DrivePlace> {
    (0..drives_per_node)
        .flat_map(|drive_index| {
            (0..node_count).map(move |node_index| DrivePlace {
                node_index,
                drive_index,
            })
        })
        .collect()
}

/// SHA-256 over the canonical list: a version tag, then per node `scheme://host:port`
/// and its drive paths, one per line.
fn endpoints_hash(scheme: Option<Scheme>, nodes: &[Node]) -> EndpointsHash {
    let mut hasher = Sha256::new();
    hasher.update(b"shoal endpoints 1\n");
    let scheme = scheme.map_or("local", Scheme::as_str);
    for node in nodes {
        hasher.update(format!("{scheme}://{}\n", node.name()).as_bytes());
        for path in &node.drive_paths {
            hasher.update(format!("\t{path}\n").as_bytes());
        }
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::endpoints::parse_pools;

    fn pool(args: &[&str], choice: LayoutChoice) -> Result<PoolTopology> {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let pools = parse_pools(&args)?;
        PoolTopology::new(&pools[0], choice)
    }

    /// A pool of `nodes` nodes × `drives` drives on loopback ports.
    fn grid(nodes: usize, drives: usize) -> PoolTopology {
        let arg = format!(
            "http://127.0.0.1:{{9101...{}}}/d{{1...{drives}}}",
            9100 + nodes
        );
        pool(&[&arg], LayoutChoice::default()).unwrap()
    }

    fn places(pairs: &[(usize, usize)]) -> Vec<DrivePlace> {
        pairs
            .iter()
            .map(|&(node_index, drive_index)| DrivePlace {
                node_index,
                drive_index,
            })
            .collect()
    }

    /// nodes, drives per node, sets, set size, parity, nodes tolerated, set 0's first
    /// members as (node, drive).
    type Expected = (
        usize,
        usize,
        usize,
        usize,
        usize,
        usize,
        &'static [(usize, usize)],
    );

    /// The layouts written down for common shapes (nodes × drives per node): sets,
    /// parity, the first set's members, and whole nodes each set survives losing.
    #[test]
    fn expected_layouts() {
        // (nodes, drives, sets, set size, parity, nodes tolerated, set 0 members)
        let expected: [Expected; 7] = [
            (1, 4, 1, 4, 2, 0, &[(0, 0), (0, 1), (0, 2), (0, 3)]),
            (4, 1, 1, 4, 2, 2, &[(0, 0), (1, 0), (2, 0), (3, 0)]),
            (
                4,
                4,
                1,
                16,
                4,
                1,
                &[
                    (0, 0),
                    (1, 0),
                    (2, 0),
                    (3, 0),
                    (0, 1),
                    (1, 1),
                    (2, 1),
                    (3, 1),
                    (0, 2),
                    (1, 2),
                    (2, 2),
                    (3, 2),
                    (0, 3),
                    (1, 3),
                    (2, 3),
                    (3, 3),
                ],
            ),
            (2, 8, 1, 16, 4, 0, &[(0, 0), (1, 0), (0, 1), (1, 1)]),
            (8, 2, 1, 16, 4, 2, &[(0, 0), (1, 0), (2, 0), (3, 0)]),
            (16, 16, 16, 16, 4, 4, &[(0, 0), (1, 0), (2, 0), (3, 0)]),
            (
                3,
                6,
                2,
                9,
                4,
                1,
                &[
                    (0, 0),
                    (1, 0),
                    (2, 0),
                    (0, 1),
                    (1, 1),
                    (2, 1),
                    (0, 2),
                    (1, 2),
                    (2, 2),
                ],
            ),
        ];
        for (nodes, drives, sets, size, parity, tolerated, first) in expected {
            let p = grid(nodes, drives);
            let shape = format!("{nodes}×{drives}");
            assert_eq!(p.layout.set_count, sets, "{shape}");
            assert_eq!(p.layout.set.set_size(), size, "{shape}");
            assert_eq!(p.layout.set.parity_chunks, parity, "{shape}");
            assert_eq!(p.node_failures_tolerated(), tolerated, "{shape}");
            assert_eq!(&p.set_members(0)[..first.len()], places(first), "{shape}");
        }
        // 16×16: set i is the i-th drive of every node.
        let p = grid(16, 16);
        let set_5: Vec<(usize, usize)> = (0..16).map(|n| (n, 5)).collect();
        assert_eq!(p.set_members(5), places(&set_5));
    }

    /// Every set has the same number of drives on each of its nodes, and every drive is
    /// in exactly one set, for every shape up to 32 nodes × 16 drives that has a layout.
    #[test]
    fn sets_are_spread_evenly_over_nodes() {
        for nodes in 1..=32 {
            for drives in 1..=16 {
                let arg = format!("http://h{{1...{nodes}}}:9000/d{{1...{drives}}}");
                let Ok(p) = pool(&[&arg], LayoutChoice::default()) else {
                    continue;
                };
                let mut seen = vec![false; nodes * drives];
                for set in 0..p.layout.set_count {
                    let mut per_node = vec![0usize; nodes];
                    for place in p.set_members(set) {
                        per_node[place.node_index] += 1;
                        let flat = place.node_index * drives + place.drive_index;
                        assert!(!std::mem::replace(&mut seen[flat], true));
                    }
                    let used: Vec<usize> = per_node.into_iter().filter(|&c| c > 0).collect();
                    assert!(
                        used.iter().all(|&c| c == used[0]),
                        "{nodes}×{drives} set {set}"
                    );
                }
                assert!(seen.iter().all(|&s| s), "{nodes}×{drives}");
            }
        }
    }

    /// With one node the layout is the one a single node always used.
    #[test]
    fn one_node_matches_the_single_node_layout() {
        for count in 1..=64 {
            let paths: Vec<String> = (0..count).map(|i| format!("/d{i}")).collect();
            let topology = PoolTopology::new(&PoolDrives::Local(paths), LayoutChoice::default());
            match PoolLayout::for_drives(count, None) {
                Ok(layout) => {
                    let topology = topology.unwrap();
                    assert_eq!(topology.layout, layout, "{count}");
                    let in_order = (0..count).all(|p| topology.order[p].drive_index == p);
                    assert!(in_order, "{count}");
                }
                Err(_) => assert!(topology.is_err(), "{count}"),
            }
        }
    }

    /// `--set-drive-count` picks among the symmetric sizes, and a wrong one names them.
    #[test]
    fn requested_set_size() {
        let eight = LayoutChoice {
            set_drive_count: Some(8),
            parity_chunks: None,
        };
        let p = pool(&["http://n{1...4}:9000/d{1...4}"], eight).unwrap();
        assert_eq!((p.layout.set_count, p.layout.set.data_chunks), (2, 4));
        let six = LayoutChoice {
            set_drive_count: Some(6),
            parity_chunks: None,
        };
        let err = pool(&["http://n{1...4}:9000/d{1...4}"], six).unwrap_err().0;
        assert_eq!(
            err,
            "--set-drive-count 6 cannot divide 16 drives evenly over 4 nodes; it can be 2, 4, 8, 16"
        );
        let parity = LayoutChoice {
            set_drive_count: None,
            parity_chunks: Some(9),
        };
        let err = pool(&["http://n{1...4}:9000/d{1...4}"], parity)
            .unwrap_err()
            .0;
        assert!(err.contains("parity 9 is more than half"), "{err}");
    }

    /// Drive counts that differ between nodes, and pools no set size fits, are refused.
    #[test]
    fn uneven_pools_are_refused() {
        let err = pool(
            &["http://a:9000/d1", "http://a:9000/d2", "http://b:9000/d1"],
            LayoutChoice::default(),
        )
        .unwrap_err()
        .0;
        assert_eq!(
            err,
            "node b:9000 has 1 drives but node a:9000 has 2: every node of a pool has the same \
             number of drives"
        );
        let err = pool(&["http://h{1...17}:9000/d1"], LayoutChoice::default())
            .unwrap_err()
            .0;
        assert!(err.contains("17 drives cannot be divided"), "{err}");
    }

    /// Every node computes the same pool from the same arguments, and the endpoint
    /// hash changes with any host, port or path, and with the order of the nodes.
    #[test]
    fn deterministic_and_hashed() {
        let arg = "http://127.0.0.{1...4}:9101/tmp/d{1...4}";
        let a = pool(&[arg], LayoutChoice::default()).unwrap();
        assert_eq!(a, pool(&[arg], LayoutChoice::default()).unwrap());
        let changed = [
            "http://127.0.0.{1...4}:9102/tmp/d{1...4}",
            "http://127.0.0.{1...4}:9101/tmp/e{1...4}",
            "http://127.0.0.{2...5}:9101/tmp/d{1...4}",
            "https://127.0.0.{1...4}:9101/tmp/d{1...4}",
        ];
        for other in changed {
            let b = pool(&[other], LayoutChoice::default()).unwrap();
            assert_ne!(a.endpoints_hash, b.endpoints_hash, "{other}");
        }
        let listed: Vec<String> = [2, 1, 3, 4]
            .iter()
            .flat_map(|n| (1..=4).map(move |d| format!("http://127.0.0.{n}:9101/tmp/d{d}")))
            .collect();
        let refs: Vec<&str> = listed.iter().map(String::as_str).collect();
        let swapped = pool(&refs, LayoutChoice::default()).unwrap();
        assert_eq!(swapped.nodes[0].name(), "127.0.0.2:9101");
        assert_ne!(a.endpoints_hash, swapped.endpoints_hash);
    }

    /// The one-line summary the server prints.
    #[test]
    fn summary_line() {
        assert_eq!(
            grid(4, 4).summary(),
            "4 nodes × 4 drives, 1 set of 16 (12+4)"
        );
        assert_eq!(
            grid(3, 6).summary(),
            "3 nodes × 6 drives, 2 sets of 9 (5+4)"
        );
        let local = PoolTopology::new(
            &PoolDrives::Local(vec!["/a".into(), "/b".into()]),
            LayoutChoice::default(),
        )
        .unwrap();
        assert_eq!(local.summary(), "2 local drives, 1 set of 2 (1+1)");
    }
}
