//! The load generator: the S3 modes and their flags, the driver that runs a mode over
//! client shards, and the workers that issue the operations. Uses `client` to talk to
//! the server and `report` to record and summarize what it measured.

pub mod args;
pub mod autoterm;
pub mod driver;
pub mod hosts;
pub mod multipart;
pub mod operation;
pub mod pacing;
pub mod server_probe;
pub mod shared;
pub mod sizes;
pub mod worker;
pub mod workload;
