//! `UploadVerbs` on a drive of this node: where uploads live on the drive and the file
//! work on them.
//!
//! On each drive, an upload is the folder `.shoal/multipart/<bucket>/<upload id>/`
//! holding `_upload` (the upload record) and one data file per uploaded part, named by
//! [`PartInfo::file_name`]: number, sequence, size, MD5 and checksum are in the name,
//! so one directory listing tells which parts the drive holds, and the rename that puts
//! a part file in place commits the file and its description together. Complete renames
//! the whole folder to the version's data folder (the write family's `commit`).
//!
//! Invariants: a part enters an upload only by a rename from staging; nothing but
//! part files and the record is ever in an upload folder; the bucket and upload id come
//! from the object layer already checked (a valid bucket name, 32 lowercase hex
//! digits), so they are safe folder names.

use shoal_io::{Drive, DriveError, DriveResult};

use crate::member::keypath::{DATA_DIR_PREFIX, object_dir};
use crate::member::verbs::upload::UploadVerbs;
use crate::member::{LocalMember, MemberResult};
use crate::record::meta::PartInfo;

/// Where upload folders live on every drive.
pub const MULTIPART_DIR: &str = ".shoal/multipart";
/// The upload record's file name inside an upload folder.
const UPLOAD_RECORD_FILE: &str = "_upload";
/// Where the write family stages part files (`member/local/write.rs` and, until it is
/// converted, `object/store.rs` name the same folder); a part is staged as `part.1`.
const STAGING_DIR: &str = ".shoal/tmp";
const STAGED_PART_FILE: &str = "part.1";

/// An upload's folder. TRANSITIONAL: public only for Complete, until it hands the
/// write family's `commit` the upload itself as the data source.
pub fn upload_folder(bucket: &str, upload_id: &str) -> String {
    format!("{MULTIPART_DIR}/{bucket}/{upload_id}")
}

fn part_path(bucket: &str, upload_id: &str, part: &PartInfo) -> String {
    format!("{}/{}", upload_folder(bucket, upload_id), part.file_name())
}

fn not_found_is_ok(result: DriveResult<()>) -> MemberResult<()> {
    match result {
        Ok(()) | Err(DriveError::NotFound) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl<D: Drive> UploadVerbs for LocalMember<D> {
    async fn write_upload(&self, bucket: &str, upload_id: &str, record: &[u8]) -> MemberResult<()> {
        let path = format!("{}/{UPLOAD_RECORD_FILE}", upload_folder(bucket, upload_id));
        Ok(self.drive().write_file_atomic(&path, record).await?)
    }

    async fn read_upload(&self, bucket: &str, upload_id: &str) -> MemberResult<Vec<u8>> {
        let path = format!("{}/{UPLOAD_RECORD_FILE}", upload_folder(bucket, upload_id));
        Ok(self.drive().read_file(&path).await?)
    }

    async fn remove_upload(&self, bucket: &str, upload_id: &str) -> MemberResult<()> {
        not_found_is_ok(
            self.drive()
                .remove_dir_all(&upload_folder(bucket, upload_id))
                .await,
        )
    }

    async fn put_part(
        &self,
        bucket: &str,
        upload_id: &str,
        staging: &str,
        part: &PartInfo,
    ) -> MemberResult<()> {
        let from = format!("{STAGING_DIR}/{staging}/{STAGED_PART_FILE}");
        let to = part_path(bucket, upload_id, part);
        Ok(self.drive().rename(&from, &to).await?)
    }

    async fn remove_part(
        &self,
        bucket: &str,
        upload_id: &str,
        part: &PartInfo,
    ) -> MemberResult<()> {
        not_found_is_ok(
            self.drive()
                .remove_file(&part_path(bucket, upload_id, part))
                .await,
        )
    }

    async fn list_parts(&self, bucket: &str, upload_id: &str) -> MemberResult<Vec<PartInfo>> {
        let entries = self
            .drive()
            .list_dir(&upload_folder(bucket, upload_id))
            .await?;
        Ok(entries
            .iter()
            .filter_map(|e| PartInfo::parse_file_name(&e.name))
            .collect())
    }

    async fn list_uploads(&self, bucket: &str) -> MemberResult<Vec<String>> {
        let dir = format!("{MULTIPART_DIR}/{bucket}");
        let entries = self.drive().list_dir(&dir).await?;
        Ok(entries.into_iter().map(|e| e.name).collect())
    }

    async fn list_upload_buckets(&self) -> MemberResult<Vec<String>> {
        let entries = self.drive().list_dir(MULTIPART_DIR).await?;
        Ok(entries
            .into_iter()
            .filter(|e| e.is_dir)
            .map(|e| e.name)
            .collect())
    }

    async fn forget_upload_bucket(&self, bucket: &str) -> MemberResult<()> {
        let dir = format!("{MULTIPART_DIR}/{bucket}");
        match self.drive().remove_dir_if_empty(&dir).await {
            Ok(_) | Err(DriveError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn prune_completed(
        &self,
        bucket: &str,
        key: &str,
        version_id: &[u8; 16],
        keep: &[PartInfo],
    ) -> MemberResult<()> {
        let data_dir = format!(
            "{}/{DATA_DIR_PREFIX}{}",
            object_dir(bucket, key),
            hex::encode(version_id)
        );
        let keep: std::collections::HashSet<String> =
            keep.iter().map(PartInfo::file_name).collect();
        // Best effort past a failed removal: each file left is only wasted space.
        let mut result = Ok(());
        for entry in self.drive().list_dir(&data_dir).await? {
            let name = entry.name;
            let unused_part = PartInfo::parse_file_name(&name).is_some() && !keep.contains(&name);
            if unused_part || name == UPLOAD_RECORD_FILE {
                let path = format!("{data_dir}/{name}");
                if let Err(e) = not_found_is_ok(self.drive().remove_file(&path).await) {
                    result = Err(e);
                }
            }
        }
        result
    }
}
