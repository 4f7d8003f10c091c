//! Where one shard's scanner is, kept on this node's drives so a restart resumes there.
//!
//! The record is `DRIVE/.shoal/scan-shard-N` (N: the shard index) on every local
//! drive that is online, replaced atomically (`Drive::write_file_atomic`: a temporary
//! file in `.shoal/tmp`, synced, renamed over the old one), so a crash leaves the old
//! record or the new one. No folder is created for it: a drive folder emptied or
//! unmounted has no `.shoal/tmp`, so the write fails there instead of leaving a
//! `.shoal` in a bare folder. At start the valid record with the highest sequence number wins; a corrupt or
//! missing copy is skipped, and none at all starts cycle 1 from the beginning. A record
//! made under another share of the work (node or shard counts changed) keeps its cycle
//! counts and deep-scan time but not its place: the new share starts its cycle anew.
//!
//! Framed by `record/codec.rs` (magic `SHOALSCN`, version 1, CRC-64 trailer); body:
//!
//! | field                 | encoding | meaning                                      |
//! |-----------------------|----------|----------------------------------------------|
//! | sequence              | u64      | grows with every save                        |
//! | node index, count     | u32, u32 | the share it was made under                  |
//! | shard index, count    | u32, u32 |                                              |
//! | cycle                 | u64      | the cycle in progress, or the last one       |
//! | in cycle              | u8       | 1: `cycle` is in progress                    |
//! | deep                  | u8       | 1: the cycle in progress is deep             |
//! | cycle started         | u64 ns   | Unix time the cycle in progress started      |
//! | set index             | u32      | the set being walked                         |
//! | bucket                | str      | the bucket being walked ("" : none yet)      |
//! | after key             | str      | the last key checked in it ("" : none yet)   |
//! | last deep finished    | u64 ns   | Unix time (0: never)                         |
//! | last cycle duration   | u64 ns   |                                              |
//! | cycles completed      | u64      |                                              |
//! | deep cycles completed | u64      |                                              |

use shoal_io::Drive;

use crate::record::codec::{DecodeError, Writer, open_record};

const MAGIC: &[u8; 8] = b"SHOALSCN";
const VERSION: u16 = 1;

/// Which part of the pool's sets one shard scans: set `s` belongs to node
/// `s mod node_count`, and there to shard `(s / node_count) mod shard_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanShare {
    pub node_index: usize,
    pub node_count: usize,
    pub shard_index: usize,
    pub shard_count: usize,
}

impl ScanShare {
    /// Shard `shard_index` of `shard_count` on a node alone.
    pub fn single_node(shard_index: usize, shard_count: usize) -> Self {
        Self {
            node_index: 0,
            node_count: 1,
            shard_index,
            shard_count,
        }
    }

    /// Whether set `set_index` is this shard's to scan.
    pub fn scans_set(&self, set_index: usize) -> bool {
        let nodes = self.node_count.max(1);
        set_index % nodes == self.node_index
            && (set_index / nodes) % self.shard_count.max(1) == self.shard_index
    }
}

/// One shard's scanner position (see the table above).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub sequence: u64,
    pub share: Option<ScanShare>,
    pub cycle: u64,
    pub in_cycle: bool,
    pub deep: bool,
    pub cycle_started_unix_nanos: u64,
    pub set_index: usize,
    pub bucket: String,
    pub after_key: String,
    pub last_deep_finished_unix_nanos: u64,
    pub last_cycle_nanos: u64,
    pub cycles_completed: u64,
    pub deep_cycles_completed: u64,
}

/// The file of shard `shard_index`'s record.
pub fn position_path(shard_index: usize) -> String {
    format!(".shoal/scan-shard-{shard_index}")
}

impl Position {
    pub fn encode(&self) -> Vec<u8> {
        let share = self.share.unwrap_or(ScanShare::single_node(0, 1));
        let mut w = Writer::default();
        w.u64(self.sequence)
            .u32(to_u32(share.node_index))
            .u32(to_u32(share.node_count))
            .u32(to_u32(share.shard_index))
            .u32(to_u32(share.shard_count))
            .u64(self.cycle)
            .u8(u8::from(self.in_cycle))
            .u8(u8::from(self.deep))
            .u64(self.cycle_started_unix_nanos)
            .u32(to_u32(self.set_index))
            .str(&self.bucket)
            .str(&self.after_key)
            .u64(self.last_deep_finished_unix_nanos)
            .u64(self.last_cycle_nanos)
            .u64(self.cycles_completed)
            .u64(self.deep_cycles_completed);
        w.finish(MAGIC, VERSION)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let sequence = r.u64()?;
        let share = ScanShare {
            node_index: r.u32()? as usize,
            node_count: r.u32()? as usize,
            shard_index: r.u32()? as usize,
            shard_count: r.u32()? as usize,
        };
        let position = Position {
            sequence,
            share: Some(share),
            cycle: r.u64()?,
            in_cycle: flag(r.u8()?)?,
            deep: flag(r.u8()?)?,
            cycle_started_unix_nanos: r.u64()?,
            set_index: r.u32()? as usize,
            bucket: r.str()?.to_owned(),
            after_key: r.str()?.to_owned(),
            last_deep_finished_unix_nanos: r.u64()?,
            last_cycle_nanos: r.u64()?,
            cycles_completed: r.u64()?,
            deep_cycles_completed: r.u64()?,
        };
        r.finish()?;
        Ok(position)
    }

    /// The position as a shard of `share` resumes it: its place only if it was made
    /// under the same share.
    #[must_use]
    pub fn for_share(mut self, share: ScanShare) -> Self {
        if self.share != Some(share) {
            self.in_cycle = false;
            self.set_index = 0;
            self.bucket.clear();
            self.after_key.clear();
        }
        self.share = Some(share);
        self
    }
}

fn flag(byte: u8) -> Result<bool, DecodeError> {
    match byte {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Invalid("scan record flag")),
    }
}

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).expect("scan record field over u32")
}

/// The newest valid record of shard `shard_index` on `drives` (default: none saved).
pub async fn load<D: Drive>(drives: &[&D], shard_index: usize) -> Position {
    let path = position_path(shard_index);
    let mut best = Position::default();
    for drive in drives {
        let Ok(bytes) = drive.read_file(&path).await else {
            continue;
        };
        match Position::decode(&bytes) {
            Ok(position) if position.sequence > best.sequence => best = position,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(drive = drive.name(), %e, "scanner position unreadable; skipped");
            }
        }
    }
    best
}

/// Writes `position` to every one of `drives`; true when at least one took it.
pub async fn save<D: Drive>(drives: &[&D], shard_index: usize, position: &Position) -> bool {
    let (path, bytes) = (position_path(shard_index), position.encode());
    let mut saved = false;
    for drive in drives {
        match drive.write_file_atomic(&path, &bytes).await {
            Ok(()) => saved = true,
            Err(e) => {
                tracing::debug!(drive = drive.name(), %e, "scanner position not saved on this drive");
            }
        }
    }
    saved
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record reads back field for field; a flipped byte or another share is caught.
    #[test]
    fn position_round_trips() {
        let share = ScanShare::single_node(1, 2);
        let position = Position {
            sequence: 9,
            share: Some(share),
            cycle: 3,
            in_cycle: true,
            deep: true,
            cycle_started_unix_nanos: 17,
            set_index: 2,
            bucket: "photos".to_owned(),
            after_key: "a/b".to_owned(),
            last_deep_finished_unix_nanos: 5,
            last_cycle_nanos: 6,
            cycles_completed: 2,
            deep_cycles_completed: 1,
        };
        let bytes = position.encode();
        assert_eq!(Position::decode(&bytes).unwrap(), position);
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert!(Position::decode(&bad).is_err());
        let other = position.clone().for_share(ScanShare::single_node(1, 4));
        assert!(!other.in_cycle && other.bucket.is_empty() && other.cycles_completed == 2);
        assert_eq!(position.clone().for_share(share), position);
    }

    /// Sets are spread over nodes first, then over each node's shards.
    #[test]
    fn every_set_has_one_scanner() {
        let shares: Vec<ScanShare> = (0..2)
            .flat_map(|node| {
                (0..3).map(move |shard| ScanShare {
                    node_index: node,
                    node_count: 2,
                    shard_index: shard,
                    shard_count: 3,
                })
            })
            .collect();
        for set in 0..20 {
            let owners = shares.iter().filter(|s| s.scans_set(set)).count();
            assert_eq!(owners, 1, "set {set}");
        }
        assert!(ScanShare::single_node(0, 1).scans_set(7));
    }
}
