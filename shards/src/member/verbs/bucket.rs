//! Verbs on bucket records and bucket settings (tags) of one member, and the member's
//! identity record, which decides whether its "not found" can be believed. Records come
//! back as stored; the object layer encodes, decodes and votes on them.

use std::future::Future;

use crate::member::MemberResult;

/// Bucket records on one member.
pub trait BucketVerbs {
    /// The bucket's record as stored (`NotFound`: none here).
    fn read_bucket(&self, bucket: &str) -> impl Future<Output = MemberResult<Vec<u8>>>;

    /// Makes the bucket here, empty: removes whatever an earlier bucket of that name
    /// left (tags, uploads, objects), makes its folder, then writes its record by an
    /// atomic replace. Idempotent.
    fn make_bucket(&self, bucket: &str, record: Vec<u8>) -> impl Future<Output = MemberResult<()>>;

    /// Removes only the bucket's record (undoing a create that missed quorum).
    /// Idempotent: "already gone" is success.
    fn remove_bucket_record(&self, bucket: &str) -> impl Future<Output = MemberResult<()>>;

    /// Removes the bucket here: its record first (so it stops existing before its
    /// contents go), then its tags, uploads in progress and folder. Idempotent.
    fn remove_bucket(&self, bucket: &str) -> impl Future<Output = MemberResult<()>>;

    /// The names of the bucket records held here, sorted (`NotFound`: no bucket was
    /// ever made here).
    fn list_buckets(&self) -> impl Future<Output = MemberResult<Vec<String>>>;

    /// The bucket's tags record as stored (`NotFound`: none set).
    fn read_bucket_tags(&self, bucket: &str) -> impl Future<Output = MemberResult<Vec<u8>>>;

    /// Replaces the bucket's tags record (atomic replace). Idempotent.
    fn write_bucket_tags(
        &self,
        bucket: &str,
        record: Vec<u8>,
    ) -> impl Future<Output = MemberResult<()>>;

    /// The member's format record as stored: its deployment and position.
    fn read_identity(&self) -> impl Future<Output = MemberResult<Vec<u8>>>;
}
