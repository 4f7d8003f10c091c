//! What every shard of a node shares for the admin API: the version, the run-time
//! settings and the trace hub. The numbers only a shard knows (connections, requests,
//! memory budget use) are not kept here: `info` reads the slots each shard publishes
//! once a second for the metrics (`front/metrics/node.rs`), so each number has one
//! copy and one publisher.

use std::sync::Arc;

use crate::front::admin::trace::TraceHub;
use crate::front::settings::Settings;

/// The node as the admin API describes it; one per process, shared by every shard.
#[derive(Debug)]
pub struct Node {
    /// `shoal --version`'s text: version, commit, profile, target.
    pub version: &'static str,
    pub settings: Settings,
    pub trace: TraceHub,
}

impl Node {
    pub fn new(version: &'static str, settings: Settings) -> Arc<Self> {
        Arc::new(Self {
            version,
            settings,
            trace: TraceHub::default(),
        })
    }
}
