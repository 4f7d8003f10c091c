//! Workloads behind `shoal debug`: the crash-test writer/verifier, the
//! complete-multipart benchmark, and the offline auditor. Users of the object layer,
//! like the front.

pub mod audit;
pub mod mpu_bench;
pub mod stress;
