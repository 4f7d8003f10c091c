//! The object layer: objects, versions, multipart uploads, listing and buckets over one
//! pool of erasure sets. Knows S3 semantics (preconditions, ranges, ETags, checksums)
//! but not HTTP: it takes a `BodySource` and returns readers and records.

mod absence;
pub mod bucket;
pub mod bucket_cache;
pub mod commit;
pub mod condition;
pub mod copy;
pub mod delete;
pub mod encode;
pub mod fill;
pub mod get;
pub mod heal;
pub mod list;
pub mod multipart;
pub mod put;
pub mod quorum;
mod roll_forward;
pub mod scan;
pub mod store;
pub mod tagging;
pub mod trash;
