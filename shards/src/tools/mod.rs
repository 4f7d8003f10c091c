//! Workloads behind `shoal debug`: the crash-test writer/verifier and the
//! complete-multipart benchmark. Users of the object layer, like the front.

pub mod mpu_bench;
pub mod stress;
