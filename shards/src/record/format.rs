//! The per-drive format record and the start-up procedure that checks or writes it.
//!
//! `DRIVE/.shoal/format`, framed by `codec` (magic `SHOALFMT`, version 2 for a single
//! node's drives, 3 for a cluster's):
//!
//! | field          | bytes | meaning                                      |
//! |----------------|-------|----------------------------------------------|
//! | deployment id  | 16    | shared by every drive of the deployment      |
//! | pool index     | 2     | pool this drive belongs to                   |
//! | set index      | 2     | erasure set within the pool                  |
//! | drive index    | 2     | position within the set                      |
//! | set count      | 2     | sets in the pool                             |
//! | data chunks    | 1     | erasure layout of every set in the pool      |
//! | parity chunks  | 1     |                                              |
//! | node count     | 2     | version 3 only: nodes in the pool            |
//! | node index     | 2     | version 3 only: this drive's node (0-based)  |
//! | endpoints hash | 32    | version 3 only: SHA-256 of the pool's list   |
//!
//! A single node's record is written as version 2, byte for byte as before clusters
//! existed (its identity, compared every 2 s, must not change); both versions are read.
//!
//! Rules at start: every formatted drive must carry the same deployment id and layout
//! and sit at the position it was formatted for; otherwise start is refused with a
//! message naming the drive. A fresh deployment (no drive formatted) gets a new random
//! deployment id and every drive is formatted. In a deployment that exists, a drive with
//! no format record and no data is left offline, not formatted: it may be the bare mount
//! point of a filesystem that failed to mount (formatting it would put the drive's data
//! on the root disk). `format_new_drives` (the server's `--format-new-drives`) formats
//! such drives, for an operator who replaced a drive on purpose, and marks each for a
//! fill from the other members of its set (`record/fill.rs`, `object/fill/`).
//!
//! The encoded record is also the drive's identity: `Drive::check_identity` compares
//! it, at start and on a timer, to what the drive's folder holds.
//!
//! ## A cluster agrees on one deployment id (to be wired with the peer verbs)
//!
//! Every node derives the same pool from the same arguments (`topology/cluster.rs`), so
//! every node can compute the record every drive of the pool should hold, all but the
//! deployment id ([`cluster_record_for`]). The id is agreed so:
//! 1. A node reads its own drives' records. A record that exists must match the command
//!    line ([`check_drive_list`]); else the node refuses to start, naming the drive and
//!    the difference (node count, node, position, layout, or the endpoint list's hash).
//! 2. Only the first node in endpoint order (node 0) ever makes a new deployment id, and
//!    only when every drive of the pool answered `read_identity` (the peer verb) with
//!    "no record" and none is formatted: a fresh pool. It formats its own drives first.
//!    (`topology::agreement::agree` is this rule and the next, over the drives' answers.)
//! 3. Every other node, on a first start, waits for node 0 (asks its drives'
//!    `read_identity` again, bounded wait per try, logging while it waits), checks the
//!    record it gets against the one it expects for that position ([`peer_deployment`]:
//!    same endpoint list, nodes and layout), and formats its blank drives with that
//!    deployment id.
//! 4. On later starts a node takes the id its formatted drives agree on and checks it
//!    against a reachable peer's (a drive of another deployment is refused). A node whose
//!    drives are all blank (replaced) takes the id from its peers and never makes one:
//!    a new id is made only in step 2, so two ids never exist for one pool.

use shoal_io::{Drive, DriveError};

use crate::error::{Error, Result};
use crate::record::codec::{DecodeError, Writer, open_record};
use crate::topology::cluster::{EndpointsHash, PoolTopology};
use crate::topology::layout::{PoolLayout, SetLayout};
use crate::topology::placement::DeploymentId;

pub const FORMAT_PATH: &str = ".shoal/format";
const MAGIC: &[u8; 8] = b"SHOALFMT";
/// 2: the deployment's records say whose they are (metadata, bucket records and part
/// files, version 2). Drives of version 1 (development builds only, never shipped) are
/// refused at start rather than served with records that cannot be checked.
const VERSION: u16 = 2;
/// 3: version 2 and the drive's place in a cluster ([`ClusterPlace`]).
const VERSION_CLUSTER: u16 = 3;

/// What one drive's format record says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormatRecord {
    pub deployment_id: DeploymentId,
    pub pool_index: u16,
    pub set_index: u16,
    pub drive_index: u16,
    pub layout: PoolLayout,
    /// `None` for a single node's drive (version 2).
    pub cluster: Option<ClusterPlace>,
}

/// Where a drive of a cluster sits: what a cluster's format record adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterPlace {
    pub node_count: u16,
    /// This drive's node, in the endpoint list's order of nodes.
    pub node_index: u16,
    pub endpoints_hash: EndpointsHash,
}

impl FormatRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(&self.deployment_id)
            .u16(self.pool_index)
            .u16(self.set_index)
            .u16(self.drive_index)
            .u16(self.layout.set_count as u16)
            .u8(self.layout.set.data_chunks as u8)
            .u8(self.layout.set.parity_chunks as u8);
        match &self.cluster {
            None => w.finish(MAGIC, VERSION),
            Some(place) => {
                w.u16(place.node_count)
                    .u16(place.node_index)
                    .raw(&place.endpoints_hash);
                w.finish(MAGIC, VERSION_CLUSTER)
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION && version != VERSION_CLUSTER {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let deployment_id = r.array()?;
        let (pool_index, set_index, drive_index) = (r.u16()?, r.u16()?, r.u16()?);
        let set_count = r.u16()? as usize;
        let (data, parity) = (r.u8()? as usize, r.u8()? as usize);
        let cluster = if version == VERSION_CLUSTER {
            let (node_count, node_index) = (r.u16()?, r.u16()?);
            if node_index >= node_count {
                return Err(DecodeError::Invalid("node index beyond the node count"));
            }
            Some(ClusterPlace {
                node_count,
                node_index,
                endpoints_hash: r.array()?,
            })
        } else {
            None
        };
        r.finish()?;
        let set = SetLayout::new(data, parity).map_err(|_| DecodeError::Invalid("layout"))?;
        if set_count == 0 {
            return Err(DecodeError::Invalid("zero sets"));
        }
        Ok(Self {
            deployment_id,
            pool_index,
            set_index,
            drive_index,
            layout: PoolLayout { set_count, set },
            cluster,
        })
    }
}

/// The state of one drive at start (`read_format`).
pub enum DriveFormat {
    Formatted(FormatRecord),
    Blank,
    Offline(String),
}

/// Checks every drive's format and formats blank ones (in a deployment that exists,
/// only with `format_new_drives`). Returns the deployment id and, per drive, why it is
/// offline for this run (`None`: online).
pub async fn format_drives<D: Drive>(
    drives: &[D],
    layout: PoolLayout,
    new_deployment_id: DeploymentId,
    format_new_drives: bool,
) -> Result<(DeploymentId, Vec<Option<String>>)> {
    assert_eq!(drives.len(), layout.drive_count());
    let mut states = Vec::with_capacity(drives.len());
    for drive in drives {
        states.push(read_format(drive).await?);
    }
    let existing = agreed_deployment(drives, &states, layout)?;
    let deployment_id = existing.unwrap_or(new_deployment_id);
    let mut offline = vec![None; drives.len()];
    for (position, (drive, state)) in drives.iter().zip(&states).enumerate() {
        offline[position] = match state {
            DriveFormat::Formatted(_) => None,
            DriveFormat::Blank if existing.is_some() && !format_new_drives => Some(
                "it is empty, with no format record, in a deployment that exists: an \
                 unmounted drive's bare mount point, or a new drive. Not formatted (a \
                 new drive is taken with --format-new-drives)"
                    .to_owned(),
            ),
            DriveFormat::Blank => {
                let record = record_for(deployment_id, layout, position);
                format_blank(drive, &record, existing.is_some()).await
            }
            DriveFormat::Offline(why) => Some(why.clone()),
        };
    }
    Ok((deployment_id, offline))
}

/// Formats a blank drive with `record`; one joining a deployment that exists
/// (`to_fill`: a replaced drive) is first marked for a fill from its set (`fill.rs`:
/// marked before formatted, so a crash between leaves it blank, to format again).
/// Returns why the drive is offline, if it is.
pub(crate) async fn format_blank<D: Drive>(
    drive: &D,
    record: &FormatRecord,
    to_fill: bool,
) -> Option<String> {
    if to_fill && let Err(e) = crate::record::fill::mark_for_fill(drive).await {
        return Some(format!("formatting failed (fill record): {e}"));
    }
    let written = drive.write_file_atomic(FORMAT_PATH, &record.encode()).await;
    match written {
        Ok(()) if to_fill => {
            tracing::info!(
                drive = drive.name(),
                "new drive formatted into the deployment; it will be filled from its set"
            );
            None
        }
        Ok(()) => None,
        Err(e) => Some(format!("formatting failed: {e}")),
    }
}

/// The encoded format record of the drive at `position`: its identity.
pub(crate) fn identity_of(
    deployment_id: DeploymentId,
    layout: PoolLayout,
    position: usize,
) -> Vec<u8> {
    record_for(deployment_id, layout, position).encode()
}

fn record_for(deployment_id: DeploymentId, layout: PoolLayout, position: usize) -> FormatRecord {
    let set_size = layout.set.set_size();
    FormatRecord {
        deployment_id,
        pool_index: 0,
        set_index: (position / set_size) as u16,
        drive_index: (position % set_size) as u16,
        layout,
        cluster: None,
    }
}

/// The record the drive at pool `position` of a cluster's pool should hold.
pub fn cluster_record_for(
    deployment_id: DeploymentId,
    topology: &PoolTopology,
    position: usize,
) -> FormatRecord {
    let node_index = topology.order[position].node_index;
    FormatRecord {
        cluster: Some(ClusterPlace {
            node_count: topology.nodes.len() as u16,
            node_index: node_index as u16,
            endpoints_hash: topology.endpoints_hash,
        }),
        ..record_for(deployment_id, topology.layout, position)
    }
}

/// Whether a drive's `recorded` format fits the drive list it is started with (the
/// record `expected` for its position); else the first difference, in words. The
/// deployment id is not compared: it is agreed separately.
pub fn check_drive_list(
    recorded: &FormatRecord,
    expected: &FormatRecord,
) -> std::result::Result<(), String> {
    let shape = |r: &FormatRecord| match r.cluster {
        None => "a single node".to_owned(),
        Some(place) => format!("a cluster of {} nodes", place.node_count),
    };
    let layout = |r: &FormatRecord| {
        let l = r.layout;
        format!(
            "{} set(s) of {}+{}",
            l.set_count, l.set.data_chunks, l.set.parity_chunks
        )
    };
    let (was, now) = (recorded, expected);
    let node = |r: &FormatRecord| r.cluster.map(|p| p.node_index);
    let hash = |r: &FormatRecord| r.cluster.map(|p| p.endpoints_hash);
    if was.cluster.map(|p| p.node_count) != now.cluster.map(|p| p.node_count) {
        Err(format!(
            "it was formatted for {}, the drive list makes {}",
            shape(was),
            shape(now)
        ))
    } else if was.layout != now.layout {
        Err(format!(
            "it was formatted for {}, the drive list makes {}",
            layout(was),
            layout(now)
        ))
    } else if node(was) != node(now) {
        Err(format!(
            "it was formatted as a drive of node {}, the drive list puts it on node {}",
            node(was).map_or(0, |n| n + 1),
            node(now).map_or(0, |n| n + 1)
        ))
    } else if (was.set_index, was.drive_index) != (now.set_index, now.drive_index) {
        Err(format!(
            "it was formatted as set {} drive {}, the drive list makes it set {} drive {}",
            was.set_index, was.drive_index, now.set_index, now.drive_index
        ))
    } else if hash(was) != hash(now) {
        let short = |r: &FormatRecord| hash(r).map(|h| hex::encode(&h[..6])).unwrap_or_default();
        Err(format!(
            "the drive list differs from the one it was formatted with (endpoints hash \
             {}…, now {}…): a host, port or drive path changed, or nodes were reordered",
            short(was),
            short(now)
        ))
    } else {
        Ok(())
    }
}

/// A node other than the first, on a first start: the deployment id of the record node
/// 0's drive at `position` holds, once it fits the drive list this node was given.
pub fn peer_deployment(
    peer_record: &FormatRecord,
    topology: &PoolTopology,
    position: usize,
) -> std::result::Result<DeploymentId, String> {
    let expected = cluster_record_for(peer_record.deployment_id, topology, position);
    check_drive_list(peer_record, &expected)
        .map(|()| peer_record.deployment_id)
        .map_err(|why| {
            format!(
                "node {}'s drive {}: {why}; start every node with the same drive list",
                topology.nodes[topology.order[position].node_index].name(),
                topology.path_of(topology.order[position]),
            )
        })
}

pub async fn read_format<D: Drive>(drive: &D) -> Result<DriveFormat> {
    match drive.read_file(FORMAT_PATH).await {
        Ok(bytes) => FormatRecord::decode(&bytes)
            .map(DriveFormat::Formatted)
            .map_err(|e| {
                Error::Format(format!(
                    "drive {}: format record unreadable ({e}); refusing to guess what it belongs \
                 to. Move its contents away to reuse it as a blank drive",
                    drive.name()
                ))
            }),
        Err(DriveError::NotFound) => blank_or_refuse(drive).await,
        Err(DriveError::Offline(why)) => Ok(DriveFormat::Offline(why)),
        Err(e) => Ok(DriveFormat::Offline(format!(
            "its format record cannot be read: {e}"
        ))),
    }
}

/// An unformatted drive is used only if it holds nothing but Shoal's system folder.
async fn blank_or_refuse<D: Drive>(drive: &D) -> Result<DriveFormat> {
    match drive.list_dir("").await {
        Ok(entries) if entries.iter().all(|e| e.name == ".shoal") => Ok(DriveFormat::Blank),
        Ok(_) => Err(Error::Format(format!(
            "drive {} is not empty and has no Shoal format record; refusing to use it",
            drive.name()
        ))),
        Err(e) => Ok(DriveFormat::Offline(e.to_string())),
    }
}

/// The deployment id every formatted drive agrees on (None for a fresh deployment).
fn agreed_deployment<D: Drive>(
    drives: &[D],
    states: &[DriveFormat],
    layout: PoolLayout,
) -> Result<Option<DeploymentId>> {
    let mut agreed: Option<(DeploymentId, &str)> = None;
    for (position, (drive, state)) in drives.iter().zip(states).enumerate() {
        let DriveFormat::Formatted(record) = state else {
            continue;
        };
        if let Some((id, first)) = agreed {
            if id != record.deployment_id {
                return Err(Error::Format(format!(
                    "drive {} belongs to deployment {} but drive {first} to {}; \
                     drives from different deployments cannot be mixed",
                    drive.name(),
                    hex::encode(record.deployment_id),
                    hex::encode(id)
                )));
            }
        } else {
            agreed = Some((record.deployment_id, drive.name()));
        }
        let expected = record_for(record.deployment_id, layout, position);
        if *record != expected {
            return Err(Error::Format(format!(
                "drive {} was formatted as set {} drive {} of a {}-set {}+{} layout, but the \
                 command line places it as set {} drive {} of a {}-set {}+{} layout; give the \
                 drives in their original order and count",
                drive.name(),
                record.set_index,
                record.drive_index,
                record.layout.set_count,
                record.layout.set.data_chunks,
                record.layout.set.parity_chunks,
                expected.set_index,
                expected.drive_index,
                layout.set_count,
                layout.set.data_chunks,
                layout.set.parity_chunks,
            )));
        }
    }
    Ok(agreed.map(|(id, _)| id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A format record survives encoding; a flipped byte is caught.
    #[test]
    fn record_round_trip() {
        let record = FormatRecord {
            deployment_id: [3; 16],
            pool_index: 0,
            set_index: 1,
            drive_index: 5,
            layout: PoolLayout::for_drives(16, None).unwrap(),
            cluster: None,
        };
        let mut bytes = record.encode();
        assert_eq!(FormatRecord::decode(&bytes), Ok(record));
        bytes[20] ^= 0x40;
        assert_eq!(
            FormatRecord::decode(&bytes),
            Err(DecodeError::ChecksumMismatch)
        );
    }

    /// A drive formatted by a development build (version 1) is refused.
    #[test]
    fn version_1_refused() {
        let mut w = Writer::default();
        w.raw(&[3; 16]).u16(0).u16(0).u16(0).u16(1).u8(2).u8(2);
        assert_eq!(
            FormatRecord::decode(&w.finish(MAGIC, 1)),
            Err(DecodeError::UnsupportedVersion(1))
        );
    }

    fn cluster(arg: &str) -> PoolTopology {
        use crate::topology::cluster::LayoutChoice;
        let pools = crate::topology::endpoints::parse_pools(&[arg.to_owned()]).unwrap();
        PoolTopology::new(&pools[0], LayoutChoice::default()).unwrap()
    }

    /// Frozen bytes: a single node's record is version 2 exactly as before clusters (its
    /// identity must not change), and a cluster's record is version 3.
    #[test]
    fn golden_records() {
        let single = record_for([7; 16], PoolLayout::for_drives(4, None).unwrap(), 2);
        assert_eq!(hex::encode(single.encode()), GOLDEN_V2);
        assert_eq!(
            FormatRecord::decode(&hex::decode(GOLDEN_V2).unwrap()),
            Ok(single)
        );
        let topology = cluster("http://127.0.0.{1...4}:9101/d{1...2}");
        let clustered = cluster_record_for([7; 16], &topology, 6);
        assert_eq!(hex::encode(clustered.encode()), GOLDEN_V3);
        let decoded = FormatRecord::decode(&hex::decode(GOLDEN_V3).unwrap()).unwrap();
        assert_eq!(decoded, clustered);
        let place = decoded.cluster.unwrap();
        assert_eq!((place.node_count, place.node_index), (4, 2));
        assert_eq!((decoded.set_index, decoded.drive_index), (0, 6));
    }

    /// Version 2 as written before clusters existed (set 0 drive 2 of a 2+2 set).
    const GOLDEN_V2: &str = "53484f414c464d54020000001a000000070707070707070707070707070707070000\
                             00000200010002025f477e0f8adb885c";
    /// Computed apart from this code (Python: the table above, SHA-256, CRC-64/NVME):
    /// node 3 of 4, set 0 drive 6 of a 4+4 set.
    const GOLDEN_V3: &str = "53484f414c464d54030000003e000000070707070707070707070707070707070000\
                             0000060001000404040002002e3a3e0dccf6ca2548d986750f91920d03f1eb51e3\
                             481cf8f4f34402112ee3c5bb7ac5dda757b7ef";

    /// A cluster record naming a node beyond its node count is refused.
    #[test]
    fn node_index_beyond_count_refused() {
        let mut w = Writer::default();
        w.raw(&[3; 16]).u16(0).u16(0).u16(0).u16(1).u8(2).u8(2);
        w.u16(2).u16(2).raw(&[0; 32]);
        assert_eq!(
            FormatRecord::decode(&w.finish(MAGIC, VERSION_CLUSTER)),
            Err(DecodeError::Invalid("node index beyond the node count"))
        );
    }

    /// The drive-list check names the first difference: node count, layout, node,
    /// position, or the endpoint list itself.
    #[test]
    fn drive_list_check_names_the_difference() {
        let id = [9; 16];
        let four = cluster("http://127.0.0.{1...4}:9101/d{1...4}");
        let recorded = cluster_record_for(id, &four, 5);
        assert_eq!(check_drive_list(&recorded, &recorded), Ok(()));
        let check = |arg: &str, position: usize| {
            let now = cluster_record_for(id, &cluster(arg), position);
            check_drive_list(&recorded, &now).unwrap_err()
        };
        assert_eq!(
            check("http://127.0.0.{1...2}:9101/d{1...8}", 5),
            "it was formatted for a cluster of 4 nodes, the drive list makes a cluster of 2 nodes"
        );
        assert_eq!(
            check("http://127.0.0.{1...4}:9101/d{1...8}", 5),
            "it was formatted for 1 set(s) of 12+4, the drive list makes 2 set(s) of 12+4"
        );
        assert_eq!(
            check("http://127.0.0.{1...4}:9101/d{1...4}", 6),
            "it was formatted as a drive of node 2, the drive list puts it on node 3"
        );
        assert_eq!(
            check("http://127.0.0.{1...4}:9101/d{1...4}", 9),
            "it was formatted as set 0 drive 5, the drive list makes it set 0 drive 9"
        );
        let moved = check("http://127.0.0.{1...4}:9102/d{1...4}", 5);
        assert!(moved.starts_with("the drive list differs from the one it was formatted with"));
        let single = record_for(id, four.layout, 5);
        assert_eq!(
            check_drive_list(&single, &recorded).unwrap_err(),
            "it was formatted for a single node, the drive list makes a cluster of 4 nodes"
        );
    }

    /// A node adopts node 0's deployment id only when node 0's record fits its own list.
    #[test]
    fn peer_deployment_checks_the_list() {
        let four = cluster("http://127.0.0.{1...4}:9101/d{1...4}");
        let node0 = cluster_record_for([5; 16], &four, 0);
        assert_eq!(peer_deployment(&node0, &four, 0), Ok([5; 16]));
        let other = cluster("http://127.0.0.{1...4}:9101/e{1...4}");
        let err = peer_deployment(&node0, &other, 0).unwrap_err();
        assert!(
            err.starts_with("node 127.0.0.1:9101's drive /e1: the drive list differs"),
            "{err}"
        );
    }
}
