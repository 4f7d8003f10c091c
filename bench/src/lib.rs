//! `shoal-bench` as a library: the warp-compatible S3 load generator (client, modes,
//! measurement, reports) and the micro-benchmarks, so the integration tests in
//! `bench/tests/` can drive the same client the binary uses. Nothing else depends on it
//! but `shoal-shards`' tests (a dev-dependency), which speak S3 to the front with it.
//!
//! Layers, arrows one way: `load` (the modes) drives `client` (HTTP/1.1 + S3) and
//! records into `report`; `report` compares against `baseline` (this machine's
//! ceilings); `units` is a leaf every layer may use. `client` depends on no other layer.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod client;
pub mod load;
pub mod report;
pub mod units;
