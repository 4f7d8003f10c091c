//! The storage verbs of a `PeerMember`: each verb is one `PeerRequest` over the link and
//! its answer checked for kind (a wrong kind is an I/O error of the member).

use std::rc::Rc;

use shoal_io::AlignedBuf;

use crate::member::peer::message::{FenceLeft, PeerReply, PeerRequest};
use crate::member::peer::{PeerMember, PeerRecords, PeerStaged, unexpected};
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::verbs::meta::MetaVerbs;
use crate::member::verbs::records::RecordVerbs;
use crate::member::verbs::upload::UploadVerbs;
use crate::member::verbs::walk::{WalkBatch, WalkRequest, WalkVerbs};
use crate::member::verbs::write::{Commit, Expect, Fence, InstallData, RollBack, WriteVerbs};
use crate::member::{MemberError, MemberResult};
use crate::record::meta::PartInfo;

impl PeerMember {
    async fn done(&self, verb: &str, request: PeerRequest) -> MemberResult<()> {
        match self.ask(request).await? {
            PeerReply::Done => Ok(()),
            other => Err(unexpected(verb, &other)),
        }
    }

    async fn bytes(&self, verb: &str, request: PeerRequest) -> MemberResult<Vec<u8>> {
        match self.ask(request).await? {
            PeerReply::Bytes(bytes) => Ok(bytes),
            other => Err(unexpected(verb, &other)),
        }
    }

    async fn names(&self, verb: &str, request: PeerRequest) -> MemberResult<Vec<String>> {
        match self.ask(request).await? {
            PeerReply::Names(names) => Ok(names),
            other => Err(unexpected(verb, &other)),
        }
    }

    async fn opened(&self, verb: &str, request: PeerRequest) -> MemberResult<u64> {
        match self.ask(request).await? {
            PeerReply::Opened(handle) => Ok(handle),
            other => Err(unexpected(verb, &other)),
        }
    }

    fn fence_left(&self, fence: Fence) -> FenceLeft {
        FenceLeft::of(fence, self.now_nanos())
    }
}

impl MetaVerbs for PeerMember {
    async fn read_meta(&self, bucket: &str, key: &str) -> MemberResult<Vec<u8>> {
        let request = PeerRequest::ReadMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        };
        self.bytes("read_meta", request).await
    }
}

impl WriteVerbs for PeerMember {
    type Staged = PeerStaged;

    async fn stage_begin(
        &self,
        staging: &str,
        part_number: u32,
        size_hint_bytes: u64,
    ) -> MemberResult<PeerStaged> {
        let request = PeerRequest::StageBegin {
            staging: staging.to_owned(),
            part_number,
            size_hint_bytes,
        };
        let handle = self.opened("stage_begin", request).await?;
        Ok(PeerStaged { handle })
    }

    async fn stage_append(
        &self,
        staged: &PeerStaged,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> (MemberResult<()>, AlignedBuf) {
        let request = PeerRequest::StageAppend {
            staged: staged.handle,
            offset_bytes,
        };
        let len = buf.len();
        let (reply, back) = self.ask_with(request, Some(buf)).await;
        // The link always gives the buffer back; its length is what it carried out.
        let Some(mut buf) = back else {
            return (Err(lost_buffer()), AlignedBuf::with_capacity(0));
        };
        buf.set_len(len.min(buf.capacity()));
        let result = match reply {
            Ok(PeerReply::Done) => Ok(()),
            Ok(other) => Err(unexpected("stage_append", &other)),
            Err(e) => Err(e),
        };
        (result, buf)
    }

    async fn stage_finish(&self, staged: PeerStaged, len_bytes: u64) -> MemberResult<()> {
        let request = PeerRequest::StageFinish {
            staged: staged.handle,
            len_bytes,
        };
        self.done("stage_finish", request).await
    }

    async fn stage_discard(&self, staging: &str) -> MemberResult<()> {
        let request = PeerRequest::StageDiscard {
            staging: staging.to_owned(),
        };
        self.done("stage_discard", request).await
    }

    async fn commit(&self, commit: Commit) -> MemberResult<()> {
        let fence = self.fence_left(commit.fence);
        self.done("commit", PeerRequest::Commit { commit, fence })
            .await
    }

    async fn roll_back(&self, roll_back: RollBack) -> MemberResult<()> {
        let fence = self.fence_left(roll_back.fence);
        self.done("roll_back", PeerRequest::RollBack { roll_back, fence })
            .await
    }

    async fn write_meta(
        &self,
        bucket: &str,
        key: &str,
        meta: &[u8],
        expect_previous: Expect,
        fence: Fence,
    ) -> MemberResult<()> {
        let request = PeerRequest::WriteMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            meta: meta.to_vec(),
            expect_previous,
            fence: self.fence_left(fence),
        };
        self.done("write_meta", request).await
    }

    async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        expect_previous: Expect,
        fence: Fence,
    ) -> MemberResult<()> {
        let request = PeerRequest::DeleteVersion {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            expect_previous,
            fence: self.fence_left(fence),
        };
        self.done("delete_version", request).await
    }

    async fn retire_versions(
        &self,
        bucket: &str,
        key: &str,
        now_unix_nanos: u64,
        fence: Fence,
    ) -> MemberResult<()> {
        let request = PeerRequest::RetireVersions {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            now_unix_nanos,
            fence: self.fence_left(fence),
        };
        self.done("retire_versions", request).await
    }

    async fn remove_stale_versions(
        &self,
        bucket: &str,
        key: &str,
        keep: [u8; 16],
        now_unix_nanos: u64,
        fence: Fence,
    ) -> MemberResult<()> {
        let request = PeerRequest::RemoveStaleVersions {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            keep,
            now_unix_nanos,
            fence: self.fence_left(fence),
        };
        self.done("remove_stale_versions", request).await
    }

    async fn holds_version_data(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_files: Rc<[String]>,
    ) -> MemberResult<bool> {
        let request = PeerRequest::HoldsVersionData {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id,
            part_files,
        };
        match self.ask(request).await? {
            PeerReply::Holds(holds) => Ok(holds),
            other => Err(unexpected("holds_version_data", &other)),
        }
    }

    async fn install_data(&self, install: InstallData) -> MemberResult<()> {
        let request = PeerRequest::InstallData {
            bucket: install.bucket.to_string(),
            key: install.key.to_string(),
            version_id: install.version_id,
            staging: install.staging.to_string(),
            files: install.files,
            expect_previous: install.expect,
            fence: self.fence_left(install.fence),
        };
        self.done("install_data", request).await
    }

    async fn sweep_trash(&self, now_unix_nanos: u64, grace_nanos: u64) -> MemberResult<usize> {
        let request = PeerRequest::SweepTrash {
            now_unix_nanos,
            grace_nanos,
        };
        match self.ask(request).await? {
            PeerReply::Count(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            other => Err(unexpected("sweep_trash", &other)),
        }
    }
}

/// A link that did not give the buffer back broke its contract (`link.rs`).
fn lost_buffer() -> MemberError {
    MemberError::Io("peer link lost the payload buffer".to_owned())
}

impl RecordVerbs for PeerMember {
    type Records = PeerRecords;

    async fn open_records(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_file: &str,
    ) -> MemberResult<PeerRecords> {
        let request = PeerRequest::OpenRecords {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id,
            part_file: part_file.to_owned(),
        };
        let route = self.route_of(&request);
        let (reply, _) = self.ask_on(route, request, None).await;
        match reply? {
            PeerReply::Opened(handle) => Ok(PeerRecords { handle, route }),
            other => Err(unexpected("open_records", &other)),
        }
    }

    async fn read_records(
        &self,
        records: &PeerRecords,
        mut buf: AlignedBuf,
        offset_bytes: u64,
    ) -> (MemberResult<()>, AlignedBuf) {
        let request = PeerRequest::ReadRecords {
            records: records.handle,
            len_bytes: buf.capacity() as u64,
            offset_bytes,
        };
        // Nothing goes out: the reply's bytes are received into the buffer.
        buf.set_len(0);
        let (reply, back) = self.ask_on(records.route, request, Some(buf)).await;
        let Some(buf) = back else {
            return (Err(lost_buffer()), AlignedBuf::with_capacity(0));
        };
        let result = match reply {
            Ok(PeerReply::Done) => Ok(()),
            Ok(other) => Err(unexpected("read_records", &other)),
            Err(e) => Err(e),
        };
        (result, buf)
    }

    async fn close_records(&self, records: PeerRecords) {
        let request = PeerRequest::CloseRecords {
            records: records.handle,
        };
        let _ = self.ask_on(records.route, request, None).await;
    }
}

impl BucketVerbs for PeerMember {
    async fn read_bucket(&self, bucket: &str) -> MemberResult<Vec<u8>> {
        let bucket = bucket.to_owned();
        self.bytes("read_bucket", PeerRequest::ReadBucket { bucket })
            .await
    }

    async fn make_bucket(&self, bucket: &str, record: Vec<u8>) -> MemberResult<()> {
        let bucket = bucket.to_owned();
        self.done("make_bucket", PeerRequest::MakeBucket { bucket, record })
            .await
    }

    async fn remove_bucket_record(&self, bucket: &str) -> MemberResult<()> {
        let bucket = bucket.to_owned();
        let request = PeerRequest::RemoveBucketRecord { bucket };
        self.done("remove_bucket_record", request).await
    }

    async fn remove_bucket(&self, bucket: &str) -> MemberResult<()> {
        let bucket = bucket.to_owned();
        self.done("remove_bucket", PeerRequest::RemoveBucket { bucket })
            .await
    }

    async fn list_buckets(&self) -> MemberResult<Vec<String>> {
        self.names("list_buckets", PeerRequest::ListBuckets).await
    }

    async fn read_bucket_tags(&self, bucket: &str) -> MemberResult<Vec<u8>> {
        let bucket = bucket.to_owned();
        let request = PeerRequest::ReadBucketTags { bucket };
        self.bytes("read_bucket_tags", request).await
    }

    async fn write_bucket_tags(&self, bucket: &str, record: Vec<u8>) -> MemberResult<()> {
        let bucket = bucket.to_owned();
        let request = PeerRequest::WriteBucketTags { bucket, record };
        self.done("write_bucket_tags", request).await
    }

    async fn read_identity(&self) -> MemberResult<Vec<u8>> {
        self.bytes("read_identity", PeerRequest::ReadIdentity).await
    }
}

impl WalkVerbs for PeerMember {
    async fn walk(&self, bucket: &str, request: &WalkRequest) -> MemberResult<WalkBatch> {
        let request = PeerRequest::Walk {
            bucket: bucket.to_owned(),
            request: request.clone(),
        };
        match self.ask(request).await? {
            PeerReply::Walk(batch) => Ok(batch),
            other => Err(unexpected("walk", &other)),
        }
    }
}

impl UploadVerbs for PeerMember {
    async fn write_upload(&self, bucket: &str, upload_id: &str, record: &[u8]) -> MemberResult<()> {
        let request = PeerRequest::WriteUpload {
            bucket: bucket.to_owned(),
            upload_id: upload_id.to_owned(),
            record: record.to_vec(),
        };
        self.done("write_upload", request).await
    }

    async fn read_upload(&self, bucket: &str, upload_id: &str) -> MemberResult<Vec<u8>> {
        let request = PeerRequest::ReadUpload {
            bucket: bucket.to_owned(),
            upload_id: upload_id.to_owned(),
        };
        self.bytes("read_upload", request).await
    }

    async fn remove_upload(&self, bucket: &str, upload_id: &str) -> MemberResult<()> {
        let request = PeerRequest::RemoveUpload {
            bucket: bucket.to_owned(),
            upload_id: upload_id.to_owned(),
        };
        self.done("remove_upload", request).await
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        staging: &str,
        part: &PartInfo,
    ) -> MemberResult<()> {
        let request = PeerRequest::PutPart {
            bucket: bucket.to_owned(),
            upload_id: upload_id.to_owned(),
            staging: staging.to_owned(),
            part: part.clone(),
        };
        self.done("put_part", request).await
    }

    async fn remove_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: &PartInfo,
    ) -> MemberResult<()> {
        let request = PeerRequest::RemovePart {
            bucket: bucket.to_owned(),
            upload_id: upload_id.to_owned(),
            part: part.clone(),
        };
        self.done("remove_part", request).await
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str) -> MemberResult<Vec<PartInfo>> {
        let request = PeerRequest::ListParts {
            bucket: bucket.to_owned(),
            upload_id: upload_id.to_owned(),
        };
        match self.ask(request).await? {
            PeerReply::Parts(parts) => Ok(parts),
            other => Err(unexpected("list_parts", &other)),
        }
    }

    async fn list_uploads(&self, bucket: &str) -> MemberResult<Vec<String>> {
        let bucket = bucket.to_owned();
        self.names("list_uploads", PeerRequest::ListUploads { bucket })
            .await
    }

    async fn list_upload_buckets(&self) -> MemberResult<Vec<String>> {
        self.names("list_upload_buckets", PeerRequest::ListUploadBuckets)
            .await
    }

    async fn forget_upload_bucket(&self, bucket: &str) -> MemberResult<()> {
        let bucket = bucket.to_owned();
        let request = PeerRequest::ForgetUploadBucket { bucket };
        self.done("forget_upload_bucket", request).await
    }

    async fn prune_completed(
        &self,
        bucket: &str,
        key: &str,
        version_id: &[u8; 16],
        keep: &[PartInfo],
    ) -> MemberResult<()> {
        let request = PeerRequest::PruneCompleted {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id: *version_id,
            keep: keep.to_vec(),
        };
        self.done("prune_completed", request).await
    }
}
