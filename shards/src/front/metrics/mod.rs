//! Prometheus metrics of a node (docs/metrics.md is the contract): per-shard counters
//! kept in plain cells on the request path, gathered and rendered when scraped.

pub mod requests;

pub use requests::RequestMetrics;
