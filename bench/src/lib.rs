//! `shoal-bench` as a library: the warp-compatible S3 load generator (client, modes,
//! measurement, reports) and the micro-benchmarks, so the integration tests in
//! `bench/tests/` can drive the same client the binary uses. Nothing else depends on it.
#![forbid(unsafe_code)]

pub mod args;
pub mod autoterm;
pub mod baseline;
pub mod baseline_disk;
pub mod baseline_net;
pub mod cmp;
pub mod conn;
pub mod driver;
pub mod erasure;
pub mod hosts;
pub mod http1;
pub mod multipart;
pub mod pacing;
pub mod payload;
pub mod plot;
pub mod ratios;
pub mod record;
pub mod report;
pub mod s3;
pub mod s3_multipart;
pub mod s3xml;
pub mod signer;
pub mod sizes;
pub mod tls;
pub mod units;
pub mod worker;
pub mod workload;
