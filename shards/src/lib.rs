//! Per-core runtime and the object service: the only crate where the layers meet (`io`
//! for drives and time, `erasure` for coding, `http` for the protocol).
//!
//! Layers, each a folder, arrows pointing down only (ARCHITECTURE.md draws them; the
//! test `tests/layers.rs` and `structure.py` keep them so):
//!
//! ```text
//! front/     listener, connections, admission, routing, S3 handlers and XML   (http)
//! tools/     debug workloads of the `shoal` binary (stress, complete-bench)
//! object/    objects, versions, multipart, listing, buckets over one pool
//! set/       locks (typed, per owner shard); later the quorum engine
//! member/    a member of a set: today the key → path mapping of a local drive
//! record/    every record kept on a drive: framing, format, metadata, chunk records
//! topology/  pool and set geometry, placement hashing
//! error      the store's error type
//! ```
//!
//! Today: the object store of one node over local drives (`Store`), generic over the
//! drive and the clock so the same tests run on real and simulated I/O.
#![forbid(unsafe_code)]

pub mod error;
pub mod front;
pub mod member;
pub mod object;
pub mod record;
pub mod set;
pub mod tools;
pub mod topology;

pub use error::{Error, Result};
pub use object::bucket::BucketInfo;
pub use object::bucket_cache::BucketGeneration;
pub use object::condition::WriteCondition;
pub use object::get::{ByteRange, ObjectReader};
pub use object::heal::{
    DataFound, HealCounts, HealOptions, HealOutcome, HealReport, MemberHeal, MetaFound,
};
pub use object::list::{ListPage, ListQuery, ListedObject};
pub use object::put::{BodySource, PutOptions, SliceSource};
pub use object::store::{Store, StoreConfig};
pub use record::checksum::{Checksum, ChecksumAlgorithm};
pub use record::meta::ObjectInfo;
pub use topology::layout::{PoolLayout, SetLayout};
