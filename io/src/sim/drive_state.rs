//! The state of a simulated drive: two namespaces of paths (what the running process
//! sees, `live`, and what a power cut would leave, `durable`), the inodes they name with
//! their live and synced bytes, and the steps that move state from one to the other.
//! `SimDrive` (drive.rs) is the operations over it; the model and the fault table are
//! at the top of drive.rs.
//!
//! Invariants: every path in either namespace has all its ancestors present as
//! directories; iteration is in path order (`BTreeMap`), so a seed decides everything.

use std::collections::{BTreeMap, BTreeSet};
use std::task::Waker;

use rand::Rng;
use rand::rngs::SmallRng;

use super::env::SimEnv;
use super::faults::{FaultRule, Flight, SimFaults, torn_prefix_len};
use crate::buf::BLOCK_SIZE_BYTES;
use crate::drive::{DirEntry, DriveError, DriveResult, TargetFolder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    Dir,
    File(u64),
}

#[derive(Default)]
pub(super) struct Inode {
    pub(super) data: Vec<u8>,
    pub(super) synced: Vec<u8>,
    /// Blocks whose last write was lost (`lost_write`): `sync` keeps their old bytes.
    pub(super) lost_blocks: BTreeSet<u64>,
}

pub(super) type Namespace = BTreeMap<String, Node>;

pub(super) struct SimState {
    pub(super) live: Namespace,
    pub(super) durable: Namespace,
    pub(super) inodes: BTreeMap<u64, Inode>,
    pub(super) inode_next: u64,
    pub(super) epoch: u64,
    pub(super) faults: SimFaults,
    /// Latency every operation takes beyond the faults' (`SimDrive::set_base_latency`).
    pub(super) base_latency: std::time::Duration,
    pub(super) written_bytes: u64,
    pub(super) rng: SmallRng,
    pub(super) capacity_bytes: u64,
    /// False after `unmount`: the drive's path shows an empty folder.
    pub(super) mounted: bool,
    /// Why `check_identity` took the drive offline (`None`: online).
    pub(super) offline: Option<String>,
    /// Where latency passes: the simulation's virtual time, or (`None`) monoio's timer.
    pub(super) env: Option<SimEnv>,
    /// Writes started and not completed, by start number: what a crash tears.
    pub(super) in_flight: BTreeMap<u64, Flight>,
    pub(super) flight_next: u64,
    /// Tasks of hung operations, woken to look again when the faults change or the
    /// drive crashes.
    pub(super) hang_waiters: Vec<Waker>,
    /// `list_dir` calls made so far (`SimDrive::list_dir_calls`).
    pub(super) list_dir_calls: u64,
}

pub(super) fn os_error(code: i32) -> DriveError {
    DriveError::from(std::io::Error::from_raw_os_error(code))
}

/// The parent path of `path`, `""` for top-level names.
pub(super) fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// Whether `key` is `path` or lies under it.
pub(super) fn is_within(key: &str, path: &str) -> bool {
    key == path || (key.starts_with(path) && key.as_bytes().get(path.len()) == Some(&b'/'))
}

/// Adds `dir` and its ancestors as directories; ENOTDIR if one of them is a file.
pub(super) fn ensure_dirs(namespace: &mut Namespace, dir: &str) -> DriveResult<()> {
    if dir.is_empty() {
        return Ok(());
    }
    let mut end = 0;
    loop {
        end = dir[end..].find('/').map_or(dir.len(), |i| end + i);
        match namespace.get(&dir[..end]) {
            Some(Node::File(_)) => return Err(os_error(libc::ENOTDIR)),
            Some(Node::Dir) => {}
            None => {
                namespace.insert(dir[..end].to_string(), Node::Dir);
            }
        }
        if end == dir.len() {
            return Ok(());
        }
        end += 1;
    }
}

/// Moves `from` and everything under it to `to`, replacing what `to` held.
pub(super) fn move_subtree(namespace: &mut Namespace, from: &str, to: &str) {
    let moved: Vec<(String, Node)> = namespace
        .range(from.to_string()..)
        .take_while(|(key, _)| key.starts_with(from))
        .filter(|(key, _)| is_within(key, from))
        .map(|(key, node)| (format!("{to}{}", &key[from.len()..]), *node))
        .collect();
    namespace.retain(|key, _| !is_within(key, from) && !is_within(key, to));
    namespace.extend(moved);
}

impl SimState {
    /// What a crash leaves of a write in flight: a prefix of whole sectors of a
    /// `write_at`; all or nothing of a `write_file_atomic`.
    pub(super) fn tear(&mut self, flight: Flight) {
        match flight {
            Flight::Write {
                inode,
                offset,
                data,
            } => {
                let kept = torn_prefix_len(data.len(), &mut self.rng);
                if let Some(inode) = self.inodes.get_mut(&inode) {
                    let start = usize::try_from(offset).expect("offset fits in memory");
                    splice(&mut inode.synced, start, &data[..kept]);
                }
            }
            Flight::Atomic { path, data } => {
                if self.rng.gen_bool(0.5)
                    && ensure_dirs(&mut self.durable, parent_of(&path)).is_ok()
                {
                    let inode = self.new_inode(data.clone(), data);
                    self.durable.retain(|key, _| !is_within(key, &path));
                    self.durable.insert(path, Node::File(inode));
                }
            }
        }
    }

    pub(super) fn fires(&mut self, rule: &FaultRule, path: &str) -> bool {
        match rule {
            FaultRule::Never => false,
            FaultRule::Always => true,
            FaultRule::PathContains(part) => path.contains(part.as_str()),
            FaultRule::Probability(p) => self.rng.gen_bool(p.clamp(0.0, 1.0)),
        }
    }

    /// Whether the write to `path` that is completing now is lost (`lost_write`).
    pub(super) fn write_is_lost(&mut self, path: &str) -> bool {
        let rule = self.faults.lost_write.clone();
        self.fires(&rule, path)
    }

    /// Flips one random bit of `data` if the bit-flip fault fires for `path`.
    pub(super) fn maybe_flip(&mut self, path: &str, data: &mut [u8]) {
        let rule = self.faults.read_bit_flip.clone();
        if !data.is_empty() && self.fires(&rule, path) {
            let bit = self.rng.gen_range(0..data.len() * 8);
            data[bit / 8] ^= 1 << (bit % 8);
        }
    }

    /// Charges `len` written bytes against the no-space fault.
    pub(super) fn charge_write(&mut self, len: usize) -> DriveResult<()> {
        let after = self.written_bytes + len as u64;
        if self
            .faults
            .no_space_after_bytes
            .is_some_and(|max| after > max)
        {
            // Through the OS error, as a real drive reports it (`no_space_within`).
            return Err(os_error(libc::ENOSPC));
        }
        self.written_bytes = after;
        Ok(())
    }

    pub(super) fn new_inode(&mut self, data: Vec<u8>, synced: Vec<u8>) -> u64 {
        let number = self.inode_next;
        self.inode_next += 1;
        self.inodes.insert(
            number,
            Inode {
                data,
                synced,
                lost_blocks: BTreeSet::new(),
            },
        );
        number
    }

    pub(super) fn referenced_inodes(&self) -> impl Iterator<Item = u64> + '_ {
        self.live
            .values()
            .chain(self.durable.values())
            .filter_map(|node| match node {
                Node::File(number) => Some(*number),
                Node::Dir => None,
            })
    }

    /// Puts a file at `path` in `live`, making parents; EISDIR over a directory.
    pub(super) fn link_live(&mut self, path: &str, inode: u64) -> DriveResult<()> {
        if self.live.get(path) == Some(&Node::Dir) {
            return Err(os_error(libc::EISDIR));
        }
        ensure_dirs(&mut self.live, parent_of(path))?;
        self.live.insert(path.to_string(), Node::File(inode));
        Ok(())
    }

    /// Makes the live node at `path` (and its ancestors) durable.
    pub(super) fn persist_name(&mut self, path: &str) -> DriveResult<()> {
        let node = *self.live.get(path).expect("persisting a live name");
        ensure_dirs(&mut self.durable, parent_of(path))?;
        if node == Node::Dir {
            ensure_dirs(&mut self.durable, path)
        } else {
            self.durable.retain(|key, _| !is_within(key, path));
            self.durable.insert(path.to_string(), node);
            Ok(())
        }
    }

    pub(super) fn file_inode(&self, path: &str) -> DriveResult<u64> {
        match self.live.get(path) {
            Some(Node::File(number)) => Ok(*number),
            Some(Node::Dir) => Err(os_error(libc::EISDIR)),
            None => Err(DriveError::NotFound),
        }
    }

    /// Whether `path`'s folder is a live folder now (the root always is).
    pub(super) fn target_folder(&self, path: &str) -> TargetFolder {
        let folder = parent_of(path);
        if folder.is_empty() || self.live.get(folder) == Some(&Node::Dir) {
            TargetFolder::Existed
        } else {
            TargetFolder::Made
        }
    }

    pub(super) fn dir_exists(&self, path: &str) -> DriveResult<()> {
        match self.live.get(path) {
            _ if path.is_empty() => Ok(()),
            Some(Node::Dir) => Ok(()),
            Some(Node::File(_)) => Err(os_error(libc::ENOTDIR)),
            None => Err(DriveError::NotFound),
        }
    }

    pub(super) fn children(&self, dir: &str) -> Vec<DirEntry> {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        let mut entries: Vec<DirEntry> = self
            .live
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter(|(key, _)| !key[prefix.len()..].contains('/'))
            .map(|(key, node)| DirEntry {
                name: key[prefix.len()..].to_string(),
                is_dir: *node == Node::Dir,
            })
            .collect();
        entries.sort();
        entries
    }

    pub(super) fn rename(&mut self, from: &str, to: &str) -> DriveResult<()> {
        let from_node = *self.live.get(from).ok_or(DriveError::NotFound)?;
        if from == to {
            return Ok(());
        }
        if is_within(to, from) {
            return Err(os_error(libc::EINVAL));
        }
        match (from_node, self.live.get(to)) {
            (Node::File(_), Some(Node::Dir)) => return Err(os_error(libc::EISDIR)),
            (Node::Dir, Some(Node::File(_))) => return Err(os_error(libc::ENOTDIR)),
            (Node::Dir, Some(Node::Dir)) if !self.children(to).is_empty() => {
                return Err(os_error(libc::ENOTEMPTY));
            }
            _ => {}
        }
        ensure_dirs(&mut self.live, parent_of(to))?;
        move_subtree(&mut self.live, from, to);
        move_subtree(&mut self.durable, from, to);
        self.persist_name(to)
    }
}

/// Writes `bytes` into `file` at `start`, growing it (with zeros) as needed.
pub(super) fn splice(file: &mut Vec<u8>, start: usize, bytes: &[u8]) {
    let end = start + bytes.len();
    if file.len() < end {
        file.resize(end, 0);
    }
    file[start..end].copy_from_slice(bytes);
}

/// `inode.data` as `sync` makes it durable: blocks whose write was lost keep the bytes
/// they had on the platter (zeros where there were none).
pub(super) fn durable_image(inode: &Inode) -> Vec<u8> {
    let mut image = inode.data.clone();
    for &block in &inode.lost_blocks {
        let start = usize::try_from(block).expect("block fits in memory") * BLOCK_SIZE_BYTES;
        if start >= image.len() {
            break;
        }
        let end = (start + BLOCK_SIZE_BYTES).min(image.len());
        for (offset, byte) in image[start..end].iter_mut().enumerate() {
            *byte = inode.synced.get(start + offset).copied().unwrap_or(0);
        }
    }
    image
}
