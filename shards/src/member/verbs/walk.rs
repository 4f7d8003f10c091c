//! Walking a bucket in key order on one member: the listing's source.
//!
//! A walk answers one bounded batch: at most `limit` entries, in key order, each after
//! `start_after`, so a listing asks again from its last entry instead of holding a
//! whole bucket. Entries are what a drive holds, not what is true: the object layer
//! votes across the set's members before anything is listed.

use std::future::Future;

use crate::member::MemberResult;
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::meta::DriveMeta;
use crate::topology::placement::DeploymentId;

/// Most entries one walk may return (a page of S3's maximum plus the one that tells
/// whether the page is truncated).
pub const WALK_LIMIT_MAX: usize = 1001;

/// What to walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkRequest {
    /// Only keys starting with this.
    pub prefix: String,
    /// Only entries strictly after this one.
    pub start_after: String,
    /// Nothing starting with this (a common prefix already listed), if set.
    pub skip_under: Option<String>,
    /// Collapse everything below a `/` after the prefix into one `Prefix` entry,
    /// without walking it (the `/` delimiter, which folders make cheap).
    pub collapse_slash: bool,
    /// Most entries to return, 1..=`WALK_LIMIT_MAX`.
    pub limit: usize,
    /// Also summarise each key's record, if it is one of this deployment's
    /// (`WalkBatch::summaries`): what a listing needs, so that it reads no record when
    /// enough members agree.
    pub summaries_for: Option<DeploymentId>,
}

/// One entry of a walk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum WalkEntry {
    /// An object key (its metadata file exists on this member).
    Key(String),
    /// A common prefix ending in `/` with at least one object below it here.
    Prefix(String),
}

impl WalkEntry {
    pub fn name(&self) -> &str {
        match self {
            WalkEntry::Key(name) | WalkEntry::Prefix(name) => name,
        }
    }
}

/// What a listing shows of a key's record on one member, and what tells whether two
/// members hold the same record of it: the version, its modification time and its
/// metadata generation (the order `object/quorum.rs` gives copies of one version), and
/// where the record says it sits in the set (checked against the key's placement, as a
/// full read checks a record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySummary {
    /// The chunk the member holds, its set geometry and rotation, as the record says.
    pub chunk_index: usize,
    pub data_chunks: usize,
    pub parity_chunks: usize,
    pub rotation: usize,
    pub version_id: [u8; 16],
    pub mod_time_unix_nanos: u64,
    pub meta_generation: u32,
    pub size_bytes: u64,
    pub etag: String,
    /// The flexible checksum the object carries, which listings name.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// A delete's record: the key is absent.
    pub tombstone: bool,
}

impl KeySummary {
    /// The summary of a record's current version.
    pub fn of(meta: &DriveMeta) -> Self {
        let info = &meta.info;
        Self {
            chunk_index: meta.chunk_index,
            data_chunks: info.data_chunks,
            parity_chunks: info.parity_chunks,
            rotation: info.rotation,
            version_id: info.version_id,
            mod_time_unix_nanos: info.mod_time_unix_nanos,
            meta_generation: info.meta_generation,
            size_bytes: info.size_bytes,
            etag: info.etag.clone(),
            checksum_algorithm: info.checksum.as_ref().map(|c| c.algorithm),
            tombstone: info.tombstone,
        }
    }

    /// Whether two members' summaries are of the same record (all but the chunk each
    /// holds).
    pub fn same_record(&self, other: &KeySummary) -> bool {
        let Self {
            chunk_index: _,
            data_chunks,
            parity_chunks,
            rotation,
            version_id,
            mod_time_unix_nanos,
            meta_generation,
            size_bytes,
            etag,
            checksum_algorithm,
            tombstone,
        } = self;
        *data_chunks == other.data_chunks
            && *parity_chunks == other.parity_chunks
            && *rotation == other.rotation
            && *version_id == other.version_id
            && *mod_time_unix_nanos == other.mod_time_unix_nanos
            && *meta_generation == other.meta_generation
            && *size_bytes == other.size_bytes
            && *etag == other.etag
            && *checksum_algorithm == other.checksum_algorithm
            && *tombstone == other.tombstone
    }
}

/// One batch of a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkBatch {
    /// In key order (by name), each after `start_after`.
    pub entries: Vec<WalkEntry>,
    /// When the request asked for them: one per entry, `None` for a prefix and for a
    /// key whose record could not be read or is not this deployment's record of it.
    /// Otherwise empty.
    pub summaries: Vec<Option<KeySummary>>,
    /// More entries may follow the last one (the limit was reached).
    pub truncated: bool,
}

/// Key-ordered walks of a bucket on one member.
pub trait WalkVerbs {
    /// One batch of the bucket's entries; `NotFound` when the member has no folder for
    /// the bucket at all.
    fn walk(
        &self,
        bucket: &str,
        request: &WalkRequest,
    ) -> impl Future<Output = MemberResult<WalkBatch>>;
}
