//! `BucketVerbs` on a drive of this node.
//!
//! Layout on the drive (unchanged from before the verbs): the record at
//! `.shoal/buckets/NAME`, tags at `.shoal/bucket-tags/NAME`, uploads in progress under
//! `.shoal/multipart/NAME/`, objects under `NAME/`.

use shoal_io::{Drive, DriveError};

use crate::member::local::index::owner::BucketChange;
use crate::member::verbs::bucket::BucketVerbs;
use crate::member::{LocalMember, MemberResult};
use crate::record::format::FORMAT_PATH;

pub(crate) const BUCKETS_DIR: &str = ".shoal/buckets";
const BUCKET_TAGS_DIR: &str = ".shoal/bucket-tags";
/// Must match `object::multipart::MULTIPART_DIR` (the member layer cannot name the
/// object layer; the upload verbs move that constant here).
const UPLOADS_DIR: &str = ".shoal/multipart";

fn record_path(bucket: &str) -> String {
    format!("{BUCKETS_DIR}/{bucket}")
}

fn tags_path(bucket: &str) -> String {
    format!("{BUCKET_TAGS_DIR}/{bucket}")
}

/// `Ok(())` for success and for "already gone".
fn gone_is_ok(result: Result<(), DriveError>) -> MemberResult<()> {
    match result {
        Ok(()) | Err(DriveError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl<D: Drive> LocalMember<D> {
    /// Everything under the bucket's name but its record: tags, uploads, objects.
    async fn remove_bucket_contents(&self, bucket: &str) -> MemberResult<()> {
        let drive = self.drive();
        gone_is_ok(drive.remove_file(&tags_path(bucket)).await)?;
        gone_is_ok(
            drive
                .remove_dir_all(&format!("{UPLOADS_DIR}/{bucket}"))
                .await,
        )?;
        gone_is_ok(drive.remove_dir_all(bucket).await)
    }

    /// Whether the drive holds `bucket`'s record: a drive emptied, replaced or gone
    /// under a running server does not, and its listing index (in memory) must not
    /// answer for it then.
    pub(crate) async fn holds_bucket_record(&self, bucket: &str) -> bool {
        self.drive().read_file(&record_path(bucket)).await.is_ok()
    }

    /// Writes the bucket's record (and makes its folder) without touching what the
    /// bucket holds here: a replaced drive being filled (`object/fill/`) gets the
    /// records of buckets made before it joined, while objects of them may already
    /// have been written to it. Not a verb: only this node's own drives are filled.
    pub(crate) async fn restore_bucket_record(
        &self,
        bucket: &str,
        record: &[u8],
    ) -> MemberResult<()> {
        self.drive().create_dir_all(bucket).await?;
        Ok(self
            .drive()
            .write_file_atomic(&record_path(bucket), record)
            .await?)
    }
}

impl<D: Drive> BucketVerbs for LocalMember<D> {
    async fn read_bucket(&self, bucket: &str) -> MemberResult<Vec<u8>> {
        Ok(self.drive().read_file(&record_path(bucket)).await?)
    }

    async fn make_bucket(&self, bucket: &str, record: Vec<u8>) -> MemberResult<()> {
        let emptied = async {
            self.remove_bucket_contents(bucket).await?;
            MemberResult::Ok(self.drive().create_dir_all(bucket).await?)
        }
        .await;
        self.index_bucket_changed(bucket, BucketChange::Made, emptied.is_ok())
            .await;
        emptied?;
        Ok(self
            .drive()
            .write_file_atomic(&record_path(bucket), &record)
            .await?)
    }

    async fn remove_bucket_record(&self, bucket: &str) -> MemberResult<()> {
        gone_is_ok(self.drive().remove_file(&record_path(bucket)).await)
    }

    async fn remove_bucket(&self, bucket: &str) -> MemberResult<()> {
        self.remove_bucket_record(bucket).await?;
        let removed = self.remove_bucket_contents(bucket).await;
        self.index_bucket_changed(bucket, BucketChange::Dropped, removed.is_ok())
            .await;
        removed
    }

    async fn list_buckets(&self) -> MemberResult<Vec<String>> {
        let entries = self.drive().list_dir(BUCKETS_DIR).await?;
        Ok(entries.into_iter().map(|e| e.name).collect())
    }

    async fn read_bucket_tags(&self, bucket: &str) -> MemberResult<Vec<u8>> {
        Ok(self.drive().read_file(&tags_path(bucket)).await?)
    }

    async fn write_bucket_tags(&self, bucket: &str, record: Vec<u8>) -> MemberResult<()> {
        Ok(self
            .drive()
            .write_file_atomic(&tags_path(bucket), &record)
            .await?)
    }

    async fn read_identity(&self) -> MemberResult<Vec<u8>> {
        Ok(self.drive().read_file(FORMAT_PATH).await?)
    }
}
