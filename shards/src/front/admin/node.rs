//! What every shard of a node shares for the admin API: the version, the start time,
//! the run-time settings, the trace hub, and one published snapshot per shard of the
//! numbers only that shard knows (connections, requests in flight, memory budget use).
//!
//! Invariants: a shard writes only its own [`ShardStats`] slot, once per second from its
//! housekeeping tick (never on the request path), with relaxed stores; an admin request
//! on any shard reads all slots. A snapshot is at most about a second old.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::front::admin::trace::TraceHub;
use crate::front::settings::Settings;

/// The node as the admin API describes it; one per process, shared by every shard.
#[derive(Debug)]
pub struct Node {
    /// `shoal --version`'s text: version, commit, profile, target.
    pub version: &'static str,
    pub started: Instant,
    pub settings: Settings,
    pub trace: TraceHub,
    pub shards: Vec<ShardStats>,
}

impl Node {
    pub fn new(version: &'static str, settings: Settings, shard_count: usize) -> Arc<Self> {
        Arc::new(Self {
            version,
            started: Instant::now(),
            settings,
            trace: TraceHub::default(),
            shards: (0..shard_count).map(|_| ShardStats::default()).collect(),
        })
    }
}

/// One shard's published numbers.
#[derive(Debug, Default)]
pub struct ShardStats {
    pub connections: AtomicU64,
    pub in_flight: AtomicU64,
    pub requests_total: AtomicU64,
    pub memory_used_bytes: AtomicU64,
    pub memory_max_bytes: AtomicU64,
}

/// A copy of one shard's numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShardSnapshot {
    pub connections: u64,
    pub in_flight: u64,
    pub requests_total: u64,
    pub memory_used_bytes: u64,
    pub memory_max_bytes: u64,
}

impl ShardStats {
    pub fn publish(&self, snapshot: ShardSnapshot) {
        self.connections
            .store(snapshot.connections, Ordering::Relaxed);
        self.in_flight.store(snapshot.in_flight, Ordering::Relaxed);
        self.requests_total
            .store(snapshot.requests_total, Ordering::Relaxed);
        self.memory_used_bytes
            .store(snapshot.memory_used_bytes, Ordering::Relaxed);
        self.memory_max_bytes
            .store(snapshot.memory_max_bytes, Ordering::Relaxed);
    }

    pub fn read(&self) -> ShardSnapshot {
        ShardSnapshot {
            connections: self.connections.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            requests_total: self.requests_total.load(Ordering::Relaxed),
            memory_used_bytes: self.memory_used_bytes.load(Ordering::Relaxed),
            memory_max_bytes: self.memory_max_bytes.load(Ordering::Relaxed),
        }
    }
}
