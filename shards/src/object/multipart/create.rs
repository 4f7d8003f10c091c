//! CreateMultipartUpload, and reading an upload's record back as read quorum agrees
//! on it.

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, DriveError, Env};

use crate::error::{Error, Result};
use crate::member::keypath::validate_key;
use crate::object::put::PutOptions;
use crate::object::store::Store;
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::meta::ChecksumType;

use super::record::{UploadInfo, valid_upload_id};
use super::{UPLOAD_RECORD_FILE, upload_dir};

/// What CreateMultipartUpload declares about the object to be.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub headers: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`; the algorithm's default when absent.
    pub checksum_type: Option<ChecksumType>,
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Starts an upload; returns its record (with the new id).
    pub async fn create_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        options: &UploadOptions,
    ) -> Result<UploadInfo> {
        validate_key(key)?;
        self.check_put_options(&PutOptions {
            headers: options.headers.clone(),
            ..PutOptions::default()
        })?;
        let checksum_type = checksum_type_for(options.checksum_algorithm, options.checksum_type)?;
        self.require_bucket(bucket).await?;
        let initiated_unix_nanos = self.clock.now_unix_nanos();
        let random: [u8; 8] = self.random_id()[..8].try_into().expect("16 bytes");
        let upload = UploadInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: format!("{initiated_unix_nanos:016x}{}", hex::encode(random)),
            initiated_unix_nanos,
            headers: options.headers.clone(),
            tags: options.tags.clone(),
            checksum_algorithm: options.checksum_algorithm,
            checksum_type,
        };
        let placement = self.placement(bucket, key);
        let dir = upload_dir(bucket, &upload.upload_id);
        let record = upload.encode();
        // Not in a bucket that is being deleted (it would outlive it).
        let _bucket_guard = self.lock_bucket_for_write(bucket).await?;
        let path = format!("{dir}/{UPLOAD_RECORD_FILE}");
        let drives = self.set_members(placement.set_index);
        let writes = drives.iter().map(|d| d.write_file_atomic(&path, &record));
        let ok = join_all(writes).await.iter().filter(|r| r.is_ok()).count();
        let needed = self.set_layout().write_quorum();
        if ok < needed {
            self.remove_staged(placement, &dir).await;
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(upload)
    }

    /// The upload's record as read-quorum drives agree on it, or `NoSuchUpload`.
    pub async fn upload_info(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<UploadInfo> {
        validate_key(key)?;
        if !valid_upload_id(upload_id) {
            return Err(Error::NoSuchUpload);
        }
        self.require_bucket(bucket).await?;
        let placement = self.placement(bucket, key);
        let path = format!("{}/{UPLOAD_RECORD_FILE}", upload_dir(bucket, upload_id));
        let drives = self.set_members(placement.set_index);
        let reads = join_all(drives.iter().map(|d| d.read_file(&path))).await;
        let mut failed = 0;
        let mut copies: Vec<UploadInfo> = Vec::new();
        for read in reads {
            match read.map(|bytes| UploadInfo::decode(&bytes)) {
                Ok(Ok(info)) => copies.push(info),
                Err(DriveError::NotFound) => {}
                Ok(Err(_)) | Err(_) => failed += 1,
            }
        }
        let read_quorum = self.set_layout().read_quorum();
        let mut best_votes = 0;
        for candidate in &copies {
            let votes = copies.iter().filter(|c| *c == candidate).count();
            best_votes = best_votes.max(votes);
            let matches = candidate.bucket == bucket
                && candidate.key == key
                && candidate.upload_id == upload_id;
            if votes >= read_quorum && matches {
                return Ok(candidate.clone());
            }
        }
        if failed > 0 && best_votes + failed >= read_quorum {
            return Err(Error::InsufficientReadQuorum {
                ok: best_votes,
                needed: read_quorum,
            });
        }
        Err(Error::NoSuchUpload)
    }
}

/// The checksum type of an upload: as asked, or the algorithm's default; combinations
/// S3 refuses are refused.
pub(super) fn checksum_type_for(
    algorithm: Option<ChecksumAlgorithm>,
    asked: Option<ChecksumType>,
) -> Result<ChecksumType> {
    match (algorithm, asked) {
        (None | Some(ChecksumAlgorithm::Crc64Nvme), None) => Ok(ChecksumType::FullObject),
        (None, Some(_)) => Err(Error::InvalidRequest(
            "The x-amz-checksum-type header can only be used with the \
             x-amz-checksum-algorithm header."
                .into(),
        )),
        (Some(_), None) => Ok(ChecksumType::Composite),
        (Some(a), Some(ChecksumType::FullObject)) if !a.combinable() => {
            Err(Error::InvalidRequest(format!(
                "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
                a.name()
            )))
        }
        (Some(ChecksumAlgorithm::Crc64Nvme), Some(ChecksumType::Composite)) => {
            Err(Error::InvalidRequest(
                "The COMPOSITE checksum type cannot be used with the crc64nvme checksum \
                 algorithm."
                    .into(),
            ))
        }
        (Some(_), Some(t)) => Ok(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defaults and refusals of checksum algorithm and type, as S3 has them.
    #[test]
    fn checksum_types() {
        use ChecksumAlgorithm::*;
        use ChecksumType::*;
        assert_eq!(checksum_type_for(None, None).unwrap(), FullObject);
        assert_eq!(checksum_type_for(Some(Crc32), None).unwrap(), Composite);
        assert_eq!(checksum_type_for(Some(Sha256), None).unwrap(), Composite);
        assert_eq!(
            checksum_type_for(Some(Crc64Nvme), None).unwrap(),
            FullObject
        );
        assert_eq!(
            checksum_type_for(Some(Crc32c), Some(FullObject)).unwrap(),
            FullObject
        );
        assert!(checksum_type_for(None, Some(Composite)).is_err());
        assert!(checksum_type_for(Some(Sha1), Some(FullObject)).is_err());
        assert!(checksum_type_for(Some(Crc64Nvme), Some(Composite)).is_err());
    }
}
