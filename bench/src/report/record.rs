//! What is measured: one [`Record`] per S3 operation, and the live counters the
//! progress line reads while a run is going.
//!
//! Invariants: all times are nanoseconds since one monotonic epoch (`Instant`) taken
//! before any shard starts, so records from different shards compare directly;
//! `start_ns <= first_byte_ns <= end_ns`. Each shard appends to its own record list and
//! bumps its own counters (atomics on separate cache lines, no lock): the main thread
//! only reads counters while running and takes the lists once the shards have ended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The S3 operations the modes issue, named as warp names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum OpKind {
    #[serde(rename = "PUT")]
    Put,
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "STAT")]
    Stat,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "LIST")]
    List,
    /// One UploadPart of the multipart mode.
    #[serde(rename = "UPLOADPART")]
    UploadPart,
    /// The CompleteMultipartUpload of the multipart mode (`objects` = its parts).
    #[serde(rename = "COMPLETE")]
    Complete,
    /// An unsigned HEAD refused with 403 (the `anonymous` mode).
    #[serde(rename = "ANONYMOUS")]
    Anonymous,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Put => "PUT",
            OpKind::Get => "GET",
            OpKind::Stat => "STAT",
            OpKind::Delete => "DELETE",
            OpKind::List => "LIST",
            OpKind::UploadPart => "UPLOADPART",
            OpKind::Complete => "COMPLETE",
            OpKind::Anonymous => "ANONYMOUS",
        }
    }

    /// Whether the kind belongs to the upload phase of multipart (measured before the
    /// run, over its own time window) rather than to the measured run.
    pub fn is_upload_phase(self) -> bool {
        matches!(self, OpKind::UploadPart | OpKind::Complete)
    }
}

/// One operation.
#[derive(Clone, Debug)]
pub struct Record {
    pub kind: OpKind,
    pub worker: u32,
    pub start_ns: u64,
    pub first_byte_ns: u64,
    pub end_ns: u64,
    /// Object bytes moved (PUT body, GET body); 0 for the rest.
    pub bytes: u64,
    /// Objects the operation covered (1, or the keys of a DeleteObjects or a listing).
    pub objects: u32,
    pub error: Option<Box<str>>,
}

/// Nanoseconds from `epoch` to `at`.
pub fn since_ns(epoch: Instant, at: Instant) -> u64 {
    at.saturating_duration_since(epoch).as_nanos() as u64
}

/// One shard's running totals, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct LiveCounters {
    ops: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
}

/// A snapshot of counters, summed over shards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveTotals {
    pub ops: u64,
    pub bytes: u64,
    pub errors: u64,
}

impl LiveCounters {
    pub fn add(&self, record: &Record) {
        if record.error.is_some() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        } else {
            self.ops.fetch_add(1, Ordering::Relaxed);
            self.bytes.fetch_add(record.bytes, Ordering::Relaxed);
        }
    }

    pub fn sum(counters: &[LiveCounters]) -> LiveTotals {
        counters
            .iter()
            .fold(LiveTotals::default(), |total, c| LiveTotals {
                ops: total.ops + c.ops.load(Ordering::Relaxed),
                bytes: total.bytes + c.bytes.load(Ordering::Relaxed),
                errors: total.errors + c.errors.load(Ordering::Relaxed),
            })
    }
}
