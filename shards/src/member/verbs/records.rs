//! Verbs that read a version's chunk records: open one part file of a version (from its
//! folder, or from the trash while a replaced or deleted version is still being read),
//! read whole blocks of it, close it.
//!
//! The member does not judge the bytes: every chunk record carries a CRC-64 bound to
//! whose record it must be (deployment, bucket, key, version, part, chunk index,
//! stripe: `record/stripe.rs`), and the reader checks it end to end. So any member may
//! be asked for a version's chunks, also one whose metadata record names another
//! version (a roll back that could not restore its record leaves the data in place):
//! a record that is not the one asked for fails the check and is read elsewhere.

use std::future::Future;

use shoal_io::AlignedBuf;

use crate::member::MemberResult;

/// Reading chunk records on one member.
pub trait RecordVerbs {
    /// An open part file of a version (a file of a local drive; later a peer's handle).
    type Records: 'static;

    /// Opens part file `part_file` of version `version_id` of `bucket/key`, from the
    /// version's folder or, once the version was replaced or deleted, from the trash
    /// (its id is random and unique, so the trash never gives another version's data).
    fn open_records(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_file: &str,
    ) -> impl Future<Output = MemberResult<Self::Records>>;

    /// Fills `buf` (its capacity, whole blocks) from `offset_bytes` (block aligned); the
    /// buffer comes back whatever happens.
    fn read_records(
        &self,
        records: &Self::Records,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> impl Future<Output = (MemberResult<()>, AlignedBuf)>;

    /// Closes a part file; errors are of no use to a reader that is done with it.
    fn close_records(&self, records: Self::Records) -> impl Future<Output = ()>;
}
