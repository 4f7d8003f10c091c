//! The argument and answer shapes the storage verbs share (mirrors of the shapes in
//! `shards/src/member/verbs/`), as plain owned values: what a verb message carries
//! between nodes. The shards side converts to and from its own types; this crate
//! imports none of them.
//!
//! Times are relative where clocks of two nodes would have to agree: a [`Fence`]
//! carries the nanoseconds its lease has left when the request is encoded, never the
//! sender's monotonic instant. Unix times (`now_unix_nanos` of the trash verbs) are
//! wall-clock stamps and travel as they are.

/// What a lock protects (the shards side's `LockName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockTarget {
    Bucket(String),
    Object { bucket: String, key: String },
    Upload(String),
}

/// A lock asked of a node's owner shard of its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockAsk {
    /// The requester's id for the lock on this connection.
    pub id: u64,
    pub target: LockTarget,
    pub exclusive: bool,
    /// The lease wanted, and how long the receiver may wait for the name.
    pub lease_nanos: u64,
    pub wait_nanos: u64,
    /// The highest epoch the requester has seen: the grant is above it.
    pub seen_epoch: u64,
}

/// A lease granted or refreshed: its epoch and the nanoseconds it has left when sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockGrant {
    pub epoch: u64,
    pub expires_in_nanos: u64,
}

/// The metadata record a fenced verb expects a member to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No record.
    Absent,
    /// A record whose bytes have this fingerprint (SHA-256 cut to 128 bits).
    Record([u8; 16]),
    /// Whatever is there.
    Any,
}

/// The lease of the key's lock a fenced verb is sent under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fence {
    /// The lease's epoch: strictly increasing per lock owner, across restarts.
    pub epoch: u64,
    /// How long the lease has left, in nanoseconds, when the request was encoded. The
    /// receiver adds it to its own monotonic clock when the request arrives, so its
    /// expiry is later than the sender's by the time in transit: the sender keeps a
    /// margin for that (sends less than it has), the wire cannot.
    pub expires_in_nanos: u64,
}

/// Where a committed version's data folder comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// A folder staged with `stage_begin` under this staging id.
    Staging(String),
    /// A multipart upload's folder (CompleteMultipartUpload).
    Upload { bucket: String, upload_id: String },
}

/// Make a version visible on one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub bucket: String,
    pub key: String,
    pub version_id: [u8; 16],
    /// The version's data folder; `None` for a version whose chunks are inline.
    pub data: Option<DataSource>,
    /// The member's metadata record of the version (encoded, opaque here).
    pub meta: Vec<u8>,
    pub expect_previous: Expect,
    pub fence: Fence,
}

/// Take a commit back on one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollBack {
    pub bucket: String,
    pub key: String,
    pub version_id: [u8; 16],
    /// The record the commit wrote; anything else there is left alone.
    pub committed: Expect,
    /// The record to put back (`None`: remove the committed one).
    pub restore: Option<Vec<u8>>,
    /// Where the version's data folder goes back to; `None`: it is removed.
    pub give_back: Option<DataSource>,
    pub fence: Fence,
}

/// One part of a multipart upload as a member describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1..=10000.
    pub number: u32,
    /// Orders uploads of the same part number: the highest wins.
    pub seq: u64,
    pub size_bytes: u64,
    /// MD5 of the part's bytes (its ETag).
    pub md5: [u8; 16],
    /// The part's checksum in the upload's algorithm (empty if none).
    pub checksum: Vec<u8>,
}

/// What to walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkRequest {
    /// Only keys starting with this.
    pub prefix: String,
    /// Only entries strictly after this one.
    pub start_after: String,
    /// Nothing starting with this, if set.
    pub skip_under: Option<String>,
    /// Collapse everything below a `/` after the prefix into one `Prefix` entry.
    pub collapse_slash: bool,
    /// Most entries to return, 1..=1001 (a page of S3's maximum plus one).
    pub limit: u32,
    /// Summarise each key's record of this deployment (`WalkBatch::summaries`).
    pub summaries_for: Option<[u8; 16]>,
}

/// One entry of a walk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum WalkEntry {
    /// An object key.
    Key(String),
    /// A common prefix ending in `/`.
    Prefix(String),
}

/// What a walk tells of a key's record on the member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrySummary {
    pub chunk_index: u8,
    pub data_chunks: u8,
    pub parity_chunks: u8,
    pub rotation: u8,
    pub version_id: [u8; 16],
    pub mod_time_unix_nanos: u64,
    pub meta_generation: u32,
    pub size_bytes: u64,
    pub etag: String,
    /// 0: none; else the metadata record's code of the checksum algorithm.
    pub checksum_algorithm: u8,
    pub tombstone: bool,
}

/// One batch of a walk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkBatch {
    /// In key order.
    pub entries: Vec<WalkEntry>,
    /// One per entry when any entry has one (a walk that asked for summaries), else
    /// empty.
    pub summaries: Vec<Option<EntrySummary>>,
    /// More entries may follow the last one.
    pub truncated: bool,
}
