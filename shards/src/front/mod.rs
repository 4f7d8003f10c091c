//! The shard's front: listener, connections (deadlines, admission, TLS), routing of
//! requests to S3 operations and the handlers that turn headers into store calls and
//! results into responses. The only layer that speaks HTTP; nothing below imports it.

pub mod admin;
pub mod admission;
pub mod cluster;
pub mod conn;
pub mod credentials;
pub mod handler;
pub mod health;
pub mod json;
pub mod logs;
pub mod metrics;
pub mod observe;
pub mod peer;
pub mod probe;
pub mod s3;
pub mod server;
pub mod settings;
pub mod tls;
