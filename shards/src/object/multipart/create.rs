//! CreateMultipartUpload, and reading an upload's record back as read quorum agrees
//! on it.

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::keypath::validate_key;
use crate::member::verbs::upload::UploadVerbs;
use crate::object::put::PutOptions;
use crate::object::store::Store;
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::meta::ChecksumType;
use crate::set::quorum::{self, Answer, Strategy, ok_count};

use super::record::{UploadInfo, valid_upload_id};

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
        let set_index = self.placement(bucket, key).set_index;
        // Not in a bucket that is being deleted (it would outlive it).
        let bucket_guard = self.lock_bucket_for_write(bucket).await?;
        bucket_guard.keep().await?;
        let needed = self.set_layout().write_quorum();
        let ok = self.write_upload_record(set_index, &upload, needed).await;
        if ok < needed {
            // Every member answers or passes its deadline before the upload is
            // reported failed, so no record appears after this clean-up.
            let strategy = Strategy::all(Verb::RemoveUpload, self.config.member_deadline);
            self.remove_upload_from_set(set_index, bucket, &upload.upload_id, strategy)
                .await;
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(upload)
    }

    /// Writes the upload's record on every member of its set; returns how many did.
    /// Returns once `needed` did: the record is the same bytes everywhere and written
    /// once, so a slow member finishing later changes nothing anyone read (and a record
    /// that lands after an abort is alone below read quorum, believed by no read, and
    /// removed as abandoned by `remove_abandoned_uploads`).
    async fn write_upload_record(
        &self,
        set_index: usize,
        upload: &UploadInfo,
        needed: usize,
    ) -> usize {
        let record: Rc<[u8]> = upload.encode().into();
        let (bucket, upload_id): (Rc<str>, Rc<str>) = (
            upload.bucket.as_str().into(),
            upload.upload_id.as_str().into(),
        );
        let strategy = Strategy::write(Verb::WriteUpload, needed, self.config.member_deadline);
        let members = self.set_members(set_index);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
            let record = Rc::clone(&record);
            async move { member.write_upload(&bucket, &upload_id, &record).await }
        })
        .await;
        ok_count(&answers)
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
        let set_index = self.placement(bucket, key).set_index;
        let read_quorum = self.set_layout().read_quorum();
        let deadline = self.config.member_deadline;
        // Read quorum first (members marked slow last): records are written once and
        // the same everywhere, so read-quorum equal copies are the answer a read of
        // every member would give. Anything else reads every member.
        let quick = self
            .read_upload_records(
                set_index,
                bucket,
                upload_id,
                Strategy::read(Verb::ReadUpload, read_quorum, deadline),
            )
            .await;
        if let Ok(upload) = judge_upload_records(quick, (bucket, key, upload_id), read_quorum) {
            return Ok(upload);
        }
        let all = self
            .read_upload_records(
                set_index,
                bucket,
                upload_id,
                Strategy::all(Verb::ReadUpload, deadline),
            )
            .await;
        judge_upload_records(all, (bucket, key, upload_id), read_quorum)
    }

    /// The upload's record from members of set `set_index`, as `strategy` asks.
    async fn read_upload_records(
        &self,
        set_index: usize,
        bucket: &str,
        upload_id: &str,
        strategy: Strategy,
    ) -> Vec<Answer<Vec<u8>>> {
        let (bucket, upload_id): (Rc<str>, Rc<str>) = (bucket.into(), upload_id.into());
        let members = self.set_members(set_index);
        quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
            async move { member.read_upload(&bucket, &upload_id).await }
        })
        .await
    }
}

/// The record read-quorum members agree on, if it is this upload's; a quorum error if
/// the members that failed could have changed the answer; else `NoSuchUpload`.
fn judge_upload_records(
    answers: Vec<Answer<Vec<u8>>>,
    (bucket, key, upload_id): (&str, &str, &str),
    read_quorum: usize,
) -> Result<UploadInfo> {
    let mut failed = 0;
    let mut copies: Vec<UploadInfo> = Vec::new();
    for answer in answers {
        match answer {
            Answer::Ok(bytes) => match UploadInfo::decode(&bytes) {
                Ok(info) => copies.push(info),
                Err(_) => failed += 1,
            },
            Answer::Err(MemberError::NotFound) | Answer::NotAsked => {}
            Answer::Err(_) | Answer::Running => failed += 1,
        }
    }
    let mut best_votes = 0;
    for candidate in &copies {
        let votes = copies.iter().filter(|c| *c == candidate).count();
        best_votes = best_votes.max(votes);
        let matches =
            candidate.bucket == bucket && candidate.key == key && candidate.upload_id == upload_id;
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
