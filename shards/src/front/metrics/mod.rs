//! Prometheus metrics of a node (docs/metrics.md is the contract): per-shard counters
//! kept in plain cells on the request path (`requests.rs`), published by each shard
//! once a second into its slot of the node's state and read by a scrape (`node.rs`
//! says why), rendered as Prometheus text (`render.rs` the requests, `render_node.rs` the rest, `render_scan.rs` the scanner's, `render_fill.rs` the fills of replaced drives;
//! `process.rs` reads the process's figures).

pub mod node;
pub mod process;
pub mod render;
pub mod render_fill;
pub mod render_node;
pub mod render_scan;
pub mod requests;

pub use node::{NodeFacts, NodeMetrics};
pub use requests::RequestMetrics;
