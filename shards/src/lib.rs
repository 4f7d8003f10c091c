//! Per-core runtime and the object service: placement, per-key locks, quorum I/O over
//! erasure-coded drives, and S3 object semantics. The only crate where the layers meet
//! (`io` for drives and time, `erasure` for coding, `http` for the protocol).
//!
//! Today: the object store of one node over local drives (`Store`), generic over the
//! drive and the clock so the same tests run on real and simulated I/O.
#![forbid(unsafe_code)]

mod absence;
pub mod admission;
pub mod bucket;
pub mod checksum;
pub mod codec;
pub mod condition;
pub mod conn;
pub mod copy;
pub mod credentials;
pub mod delete;
pub mod encode;
pub mod error;
pub mod format;
pub mod get;
pub mod handler;
pub mod key_lock;
pub mod keypath;
pub mod layout;
pub mod list;
pub mod memory_budget;
pub mod meta;
pub mod mpu_bench;
pub mod multipart;
pub mod placement;
pub mod put;
pub mod quorum;
mod roll_forward;
pub mod s3_acl;
pub mod s3_bucket;
pub mod s3_error;
pub mod s3_list;
pub mod s3_multipart;
pub mod s3_object;
pub mod s3_tagging;
pub mod s3_xml;
pub mod server;
pub mod shard_lock;
pub mod store;
pub mod stress;
pub mod stripe;
pub mod tagging;
pub mod tls;
pub mod trash;

pub use bucket::BucketInfo;
pub use checksum::{Checksum, ChecksumAlgorithm};
pub use condition::WriteCondition;
pub use error::{Error, Result};
pub use get::{ByteRange, ObjectReader};
pub use layout::{PoolLayout, SetLayout};
pub use list::{ListPage, ListQuery};
pub use meta::ObjectInfo;
pub use put::{BodySource, PutOptions, SliceSource};
pub use store::{Store, StoreConfig};
