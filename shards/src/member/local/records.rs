//! `RecordVerbs` on a drive of this node: part files in version folders
//! (`KEY/_d<version>/<part file>`), or in the trash once the version was replaced.

use shoal_io::{AlignedBuf, Drive, DriveError};

use crate::member::keypath::{DATA_DIR_PREFIX, object_dir};
use crate::member::local::write::find_in_trash;
use crate::member::verbs::records::RecordVerbs;
use crate::member::{LocalMember, MemberResult};

/// An open part file of a local drive.
pub struct OpenRecords<F> {
    file: F,
}

impl<D: Drive> RecordVerbs for LocalMember<D> {
    type Records = OpenRecords<D::File>;

    async fn open_records(
        &self,
        bucket: &str,
        key: &str,
        version_id: [u8; 16],
        part_file: &str,
    ) -> MemberResult<Self::Records> {
        let version_dir = format!("{DATA_DIR_PREFIX}{}", hex::encode(version_id));
        let path = format!("{}/{version_dir}/{part_file}", object_dir(bucket, key));
        let opened = match self.drive().open(&path).await {
            Err(DriveError::NotFound) => match find_in_trash(self.drive(), &version_dir).await {
                Some(trashed) => self.drive().open(&format!("{trashed}/{part_file}")).await,
                None => Err(DriveError::NotFound),
            },
            other => other,
        };
        Ok(OpenRecords { file: opened? })
    }

    async fn read_records(
        &self,
        records: &Self::Records,
        buf: AlignedBuf,
        offset_bytes: u64,
    ) -> (MemberResult<()>, AlignedBuf) {
        let (result, buf) = self.drive().read_at(&records.file, buf, offset_bytes).await;
        (result.map_err(Into::into), buf)
    }

    async fn close_records(&self, records: Self::Records) {
        let _ = self.drive().close(records.file).await;
    }
}
