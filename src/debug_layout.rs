//! `shoal debug layout DRIVE...`: prints the pool a drive list makes, as every node
//! started with it derives it: nodes, erasure sets with each member as `node/drive`,
//! parity and quorums, and which drives are this node's. Text, or JSON with `--json`.
//! Nodes, sets and drives are numbered from 1 in both.

use serde_json::{Value, json};
use shoal_shards::topology::cluster::{DrivePlace, PoolTopology};
use shoal_shards::topology::endpoints::Scheme;
use shoal_shards::topology::this_node::ListenAddress;

/// What is printed about this node: its index, or why it could not be told.
pub type ThisNode = Result<usize, String>;

/// The layout as text lines.
pub fn text(topology: &PoolTopology, this_node: &ThisNode) -> String {
    let set = topology.layout.set;
    let tolerated = match topology.node_failures_tolerated() {
        1 => "1 node".to_owned(),
        n => format!("{n} nodes"),
    };
    let mut lines = vec![
        format!("pool: {}", topology.summary()),
        format!(
            "  quorums per set: write {}, read {}; each set survives losing {} drives ({tolerated})",
            set.write_quorum(),
            set.read_quorum(),
            set.parity_chunks,
        ),
    ];
    if topology.scheme.is_some() {
        lines.push(format!(
            "  endpoints hash: {}",
            topology.endpoints_hash_hex()
        ));
    }
    lines.push(match this_node {
        Ok(index) => format!(
            "  this node: {} (node {})",
            topology.nodes[*index].name(),
            index + 1
        ),
        Err(why) => format!("  this node: not identified ({why})"),
    });
    lines.push("nodes:".to_owned());
    for (index, node) in topology.nodes.iter().enumerate() {
        let mark = if this_node == &Ok(index) {
            "  (this node)"
        } else {
            ""
        };
        lines.push(format!(
            "  node {:<3} {}  {} drives{mark}",
            index + 1,
            node.name(),
            node.drive_paths.len()
        ));
    }
    for set_index in 0..topology.layout.set_count {
        lines.push(format!(
            "set {} ({}+{}):",
            set_index + 1,
            set.data_chunks,
            set.parity_chunks
        ));
        for (drive, place) in topology.set_members(set_index).iter().enumerate() {
            let mark = if is_local(this_node, *place) {
                "  local"
            } else {
                ""
            };
            lines.push(format!(
                "  drive {:<3} {}{mark}",
                drive + 1,
                member_name(topology, *place)
            ));
        }
    }
    lines.join("\n") + "\n"
}

/// The layout as one JSON document.
pub fn json(topology: &PoolTopology, this_node: &ThisNode) -> Value {
    let set = topology.layout.set;
    let nodes: Vec<Value> = topology
        .nodes
        .iter()
        .enumerate()
        .map(|(index, node)| {
            json!({
                "node": index + 1,
                "name": node.name(),
                "drives": node.drive_paths,
                "this_node": this_node == &Ok(index),
            })
        })
        .collect();
    let sets: Vec<Value> = (0..topology.layout.set_count)
        .map(|set_index| {
            let members: Vec<Value> = topology
                .set_members(set_index)
                .iter()
                .map(|place| {
                    json!({
                        "member": member_name(topology, *place),
                        "node": place.node_index + 1,
                        "path": topology.path_of(*place),
                        "local": is_local(this_node, *place),
                    })
                })
                .collect();
            json!({ "set": set_index + 1, "members": members })
        })
        .collect();
    json!({
        "summary": topology.summary(),
        "cluster": topology.scheme.is_some(),
        "scheme": topology.scheme.map(Scheme::as_str),
        "drive_count": topology.drive_count(),
        "drives_per_node": topology.drives_per_node(),
        "set_count": topology.layout.set_count,
        "set_drive_count": set.set_size(),
        "data_chunks": set.data_chunks,
        "parity_chunks": set.parity_chunks,
        "write_quorum": set.write_quorum(),
        "read_quorum": set.read_quorum(),
        "node_failures_tolerated": topology.node_failures_tolerated(),
        "endpoints_hash": topology.endpoints_hash_hex(),
        "this_node": this_node.as_ref().ok().map(|i| i + 1),
        "this_node_error": this_node.as_ref().err(),
        "nodes": nodes,
        "sets": sets,
    })
}

/// This node for `debug layout`: from `--address` when given (an error then is the
/// operator's), else by the machine's interfaces (not finding it is only reported).
pub fn find_this_node(topology: &PoolTopology, address: Option<&str>) -> Result<ThisNode, String> {
    if let Some(text) = address {
        let listen = ListenAddress::parse(text).map_err(|e| e.0)?;
        crate::drive_list::this_node(topology, &listen).map(Ok)
    } else {
        let listen = ListenAddress::Socket("0.0.0.0:9000".parse().expect("literal"));
        Ok(crate::drive_list::this_node(topology, &listen))
    }
}

/// `node/drive`: `127.0.0.2:9101/data/d1`, or the folder alone in the local form.
fn member_name(topology: &PoolTopology, place: DrivePlace) -> String {
    let path = topology.path_of(place);
    match topology.scheme {
        None => path.to_owned(),
        Some(_) => format!("{}{path}", topology.nodes[place.node_index].name()),
    }
}

fn is_local(this_node: &ThisNode, place: DrivePlace) -> bool {
    this_node == &Ok(place.node_index)
}
