//! Verbs on multipart uploads on one member: the upload record, the parts (each staged
//! like a version's records under a staging id, then put into the upload), listings of
//! parts and uploads, abort, and the tidy-up after Complete. Completion itself is the
//! write family's `commit` with the upload as its data source.
//!
//! Arguments name buckets, keys, upload ids, staging ids and parts — never paths. Every
//! verb is idempotent: a retried or late one finds its work done (or its upload gone)
//! and changes nothing else.

use std::future::Future;

use crate::member::MemberResult;
use crate::record::meta::PartInfo;

/// Multipart uploads on one member.
pub trait UploadVerbs {
    /// Writes the upload's record (the same bytes on every member), creating the
    /// upload.
    fn write_upload(
        &self,
        bucket: &str,
        upload_id: &str,
        record: &[u8],
    ) -> impl Future<Output = MemberResult<()>>;

    /// The upload's record as stored (`NotFound`: no such upload here).
    fn read_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = MemberResult<Vec<u8>>>;

    /// Removes the upload with its record and parts; gone already is fine.
    fn remove_upload(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Puts the part staged under `staging` (by the write family's `stage_*` verbs)
    /// into the upload, described by `part`: one rename, so the part and its
    /// description arrive together.
    fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        staging: &str,
        part: &PartInfo,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Takes a part `put_part` put back out (a part that missed write quorum).
    fn remove_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: &PartInfo,
    ) -> impl Future<Output = MemberResult<()>>;

    /// Every part the member holds of the upload, in no order (`NotFound`: no such
    /// upload here).
    fn list_parts(
        &self,
        bucket: &str,
        upload_id: &str,
    ) -> impl Future<Output = MemberResult<Vec<PartInfo>>>;

    /// The ids of every upload of `bucket` the member holds something of.
    fn list_uploads(&self, bucket: &str) -> impl Future<Output = MemberResult<Vec<String>>>;

    /// The buckets the member holds uploads of.
    fn list_upload_buckets(&self) -> impl Future<Output = MemberResult<Vec<String>>>;

    /// Forgets `bucket` among the buckets with uploads once it has none left.
    fn forget_upload_bucket(&self, bucket: &str) -> impl Future<Output = MemberResult<()>>;

    /// After Complete: removes from version `version_id` of `bucket/key` (which was the
    /// upload) the parts not in `keep` and the upload record.
    fn prune_completed(
        &self,
        bucket: &str,
        key: &str,
        version_id: &[u8; 16],
        keep: &[PartInfo],
    ) -> impl Future<Output = MemberResult<()>>;
}
