//! CompleteMultipartUpload: choose the listed parts, check what the request declares,
//! and commit the upload's folder as the version's data folder (no part data copied).

use std::collections::BTreeMap;

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::verbs::upload::UploadVerbs;
use crate::object::condition::WriteCondition;
use crate::object::put::Staged;
use crate::object::store::Store;
use crate::record::checksum::{Checksum, ChecksumAlgorithm, combine_full, composite};
use crate::record::meta::{ChecksumType, ObjectInfo, PARTS_MAX, PartInfo};
use crate::set::quorum::{self, Strategy};
use crate::topology::placement::Placement;

use super::part::PartScan;
use super::record::{UploadInfo, upload_version_id};

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletePart {
    pub number: u32,
    /// Unquoted ETag (hex MD5) the client got for the part.
    pub etag: String,
    /// A part checksum the client sent, checked against the stored one.
    pub checksum: Option<Checksum>,
}

/// What a CompleteMultipartUpload request declares about the object it makes: the
/// `x-amz-checksum-<algorithm>` value (a composite one may end in `-<parts>`), the
/// `x-amz-checksum-type` and the `x-amz-mp-object-size`. Each one given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompleteExpectations {
    pub checksum: Option<Checksum>,
    /// The part count after the dash of a composite value.
    pub checksum_parts: Option<usize>,
    pub checksum_type: Option<ChecksumType>,
    pub size_bytes: Option<u64>,
}

impl CompleteExpectations {
    /// The upload must have been created with the checksum type and algorithm named.
    pub(super) fn check_upload(&self, upload: &UploadInfo) -> Result<()> {
        let algorithm = upload.checksum_algorithm;
        if let Some(asked) = self.checksum_type
            && (algorithm.is_none() || asked != upload.checksum_type)
        {
            return Err(Error::InvalidRequest(format!(
                "The upload was created using {} checksum mode. The complete request must \
                 use the same checksum mode.",
                algorithm.map_or("no", |_| upload.checksum_type.name())
            )));
        }
        if let Some(sent) = &self.checksum
            && Some(sent.algorithm) != algorithm
        {
            return Err(Error::InvalidRequest(format!(
                "The upload was created using the {} checksum algorithm; the complete \
                 request names {}.",
                algorithm.map_or("no", ChecksumAlgorithm::name),
                sent.algorithm.name()
            )));
        }
        Ok(())
    }

    /// The object made must be what was declared.
    pub(super) fn check(&self, info: &ObjectInfo) -> Result<()> {
        if let Some(size_bytes) = self.size_bytes
            && size_bytes != info.size_bytes
        {
            return Err(Error::InvalidRequest(format!(
                "The x-amz-mp-object-size {size_bytes} does not match the size of the \
                 parts, {}.",
                info.size_bytes
            )));
        }
        let Some(sent) = &self.checksum else {
            return Ok(());
        };
        let parts_ok = match self.checksum_parts {
            None => true,
            Some(count) => {
                info.checksum_type == ChecksumType::Composite && count == info.parts.len()
            }
        };
        if info.checksum.as_ref() != Some(sent) || !parts_ok {
            return Err(Error::BadDigest);
        }
        Ok(())
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Assembles the object from `parts` (ascending, as the client listed them) and
    /// commits it if `condition` holds; no part data is copied.
    pub async fn complete_multipart_upload(
        &self,
        upload: (&str, &str, &str),
        parts: &[CompletePart],
        expected_checksum: Option<&Checksum>,
        condition: &WriteCondition,
    ) -> Result<ObjectInfo> {
        let expected = CompleteExpectations {
            checksum: expected_checksum.cloned(),
            ..CompleteExpectations::default()
        };
        self.complete_multipart_upload_expecting(upload, parts, &expected, condition)
            .await
    }

    /// [`Store::complete_multipart_upload`] with everything the request declares about
    /// the object checked against it. A retry of a Complete that already succeeded gets
    /// the object it made, as long as the key still holds that object.
    pub async fn complete_multipart_upload_expecting(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        parts: &[CompletePart],
        expected: &CompleteExpectations,
        condition: &WriteCondition,
    ) -> Result<ObjectInfo> {
        if parts.is_empty() || parts.len() > PARTS_MAX {
            return Err(Error::InvalidArgument(format!(
                "a multipart upload has 1 to {PARTS_MAX} parts"
            )));
        }
        if parts.windows(2).any(|w| w[0].number >= w[1].number) {
            return Err(Error::InvalidPartOrder);
        }
        let guard = self.lock_upload(upload_id).await;
        let upload = match self.upload_info(bucket, key, upload_id).await {
            Ok(upload) => upload,
            Err(Error::NoSuchUpload) => {
                let info = self
                    .completed_before((bucket, key, upload_id), parts)
                    .await?;
                expected.check(&info)?;
                return Ok(info);
            }
            Err(e) => return Err(e),
        };
        if !condition.is_always() {
            self.check_condition(bucket, key, condition).await?;
        }
        let placement = self.placement(bucket, key);
        let scan = self.scan_parts(placement, bucket, upload_id).await;
        let winners = scan.winners(self.set_layout().read_quorum());
        let chosen = self.choose_parts(&upload, &winners, parts)?;
        let size_bytes: u64 = chosen.iter().map(|p| p.size_bytes).sum();
        if size_bytes > self.config.multipart_object_max_bytes {
            return Err(Error::EntityTooLarge);
        }
        let (checksum, checksum_type) = object_checksum(&upload, &chosen);
        let info = ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            // The upload's own id, so a retried Complete can tell its object (see
            // `completed_before`); unique like any version id (time and randomness).
            // The parts' records are bound to it (stripe.rs).
            version_id: upload_version_id(upload_id)?,
            mod_time_unix_nanos: 0, // set at commit, under the key's lock
            size_bytes,
            etag: multipart_etag(&chosen),
            data_chunks: self.set_layout().data_chunks,
            parity_chunks: self.set_layout().parity_chunks,
            rotation: placement.rotation,
            stripe_size_bytes: self.config.stripe_size_bytes,
            checksum,
            checksum_type,
            headers: upload.headers.clone(),
            tags: upload.tags.clone(),
            meta_generation: 0,
            inline: false,
            parts: chosen,
            tombstone: false,
        };
        expected.check_upload(&upload)?;
        expected.check(&info)?;
        // The write family's commit, with the upload as the version's data (fenced like
        // any commit; a failed one gives the upload's folder back).
        let staged = Staged::Parts {
            from: crate::member::verbs::write::DataSource::Upload {
                bucket: bucket.into(),
                upload_id: upload_id.into(),
            },
            live: scan.listings.iter().map(Option::is_some).collect(),
            owned: false,
        };
        // The upload is still ours (its lease), or another Complete or Abort may run.
        guard.keep().await?;
        let info = self.commit(placement, info, staged, condition).await?;
        self.remove_unlisted(placement, &info, &scan).await;
        Ok(info)
    }

    /// For a Complete whose upload is gone: the key's current object if this upload
    /// made it (its version id is the upload id) from exactly the parts listed now;
    /// otherwise `NoSuchUpload` (never completed, aborted, or overwritten since).
    pub(super) async fn completed_before(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        parts: &[CompletePart],
    ) -> Result<ObjectInfo> {
        let version_id = upload_version_id(upload_id).map_err(|_| Error::NoSuchUpload)?;
        let info = match self.head_object(bucket, key).await {
            Ok(info) => info,
            Err(Error::NoSuchKey) => return Err(Error::NoSuchUpload),
            Err(e) => return Err(e),
        };
        let same_parts = info.parts.len() == parts.len()
            && info.parts.iter().zip(parts).all(|(stored, listed)| {
                stored.number == listed.number
                    && listed.etag.eq_ignore_ascii_case(&hex::encode(stored.md5))
                    && listed
                        .checksum
                        .as_ref()
                        .is_none_or(|c| c.value == stored.checksum)
            });
        if info.version_id == version_id && same_parts {
            Ok(info)
        } else {
            Err(Error::NoSuchUpload)
        }
    }

    /// The stored part for each requested one, or why the list cannot be completed.
    fn choose_parts(
        &self,
        upload: &UploadInfo,
        winners: &BTreeMap<u32, PartInfo>,
        requested: &[CompletePart],
    ) -> Result<Vec<PartInfo>> {
        let mut chosen = Vec::with_capacity(requested.len());
        for wanted in requested {
            let Some(part) = winners.get(&wanted.number) else {
                return Err(Error::InvalidPart(format!(
                    "part {} was not uploaded, or fewer drives than read quorum hold it",
                    wanted.number
                )));
            };
            if !wanted.etag.eq_ignore_ascii_case(&hex::encode(part.md5)) {
                return Err(Error::InvalidPart(format!(
                    "part {}: the ETag does not match the uploaded part's",
                    wanted.number
                )));
            }
            // An upload created without an algorithm keeps the checksum each part was
            // sent with (one the client chose, e.g. an SDK's default CRC32): the value
            // must be that one.
            let algorithm_ok = |sent: &Checksum| {
                upload
                    .checksum_algorithm
                    .is_none_or(|ours| ours == sent.algorithm)
            };
            if let Some(sent) = &wanted.checksum
                && (!algorithm_ok(sent) || sent.value != part.checksum)
            {
                return Err(Error::InvalidPart(format!(
                    "part {}: the {} checksum does not match the uploaded part's",
                    wanted.number,
                    sent.algorithm.name()
                )));
            }
            chosen.push(part.clone());
        }
        let (_, all_but_last) = chosen.split_last().expect("at least one part");
        if all_but_last
            .iter()
            .any(|p| p.size_bytes < self.config.part_size_min_bytes)
        {
            return Err(Error::EntityTooSmall);
        }
        Ok(chosen)
    }

    /// After a completed upload: removes from the new data folder the part files the
    /// object does not use (replaced uploads of a number, parts left out) and the
    /// upload record.
    pub(super) async fn remove_unlisted(
        &self,
        placement: Placement,
        info: &ObjectInfo,
        scan: &PartScan,
    ) {
        let (bucket, key): (Rc<str>, Rc<str>) =
            (info.bucket.as_str().into(), info.key.as_str().into());
        let (version_id, keep) = (info.version_id, Rc::new(info.parts.clone()));
        let held: Vec<bool> = scan.listings.iter().map(Option::is_some).collect();
        let members = self.set_members(placement.set_index);
        // Pruning only removes files the version does not use, so it could finish late
        // on a slow member unseen; it waits for every member (or its deadline) so a
        // completed object's folder holds exactly its parts when Complete answers.
        let strategy = Strategy::all(Verb::PruneCompleted, self.config.member_deadline);
        quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, key, keep) = (Rc::clone(&bucket), Rc::clone(&key), Rc::clone(&keep));
            let held = held[index];
            async move {
                if !held {
                    return Err(MemberError::NotAsked("it holds none of the upload"));
                }
                member
                    .prune_completed(&bucket, &key, &version_id, &keep)
                    .await
            }
        })
        .await;
    }
}

/// `hex(md5(md5 of part 1 ‖ … ‖ md5 of part N))-N`, as S3 computes multipart ETags.
pub(super) fn multipart_etag(parts: &[PartInfo]) -> String {
    use md5::Digest as _;
    let mut md5 = md5::Md5::new();
    for part in parts {
        md5.update(part.md5);
    }
    format!("{}-{}", hex::encode(md5.finalize()), parts.len())
}

/// The object checksum of a completed upload (none if the upload had no algorithm).
pub(super) fn object_checksum(
    upload: &UploadInfo,
    parts: &[PartInfo],
) -> (Option<Checksum>, ChecksumType) {
    let Some(algorithm) = upload.checksum_algorithm else {
        return (None, ChecksumType::FullObject);
    };
    let value = match upload.checksum_type {
        ChecksumType::Composite => Some(composite(
            algorithm,
            parts.iter().map(|p| p.checksum.as_slice()),
        )),
        ChecksumType::FullObject => combine_full(
            algorithm,
            parts.iter().map(|p| (p.checksum.as_slice(), p.size_bytes)),
        ),
    };
    (
        value.map(|value| Checksum { algorithm, value }),
        upload.checksum_type,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S3's multipart ETag: the MD5 of the binary part MD5s, then the part count.
    #[test]
    fn etag_of_parts() {
        use md5::Digest as _;
        let md5_of = |b: &[u8]| -> [u8; 16] { md5::Md5::digest(b).into() };
        let part = |number, body: &[u8]| PartInfo {
            number,
            seq: 1,
            size_bytes: body.len() as u64,
            md5: md5_of(body),
            checksum: Vec::new(),
        };
        let parts = [part(1, b"hello "), part(2, b"world")];
        let mut joined = Vec::new();
        joined.extend_from_slice(&md5_of(b"hello "));
        joined.extend_from_slice(&md5_of(b"world"));
        assert_eq!(
            multipart_etag(&parts),
            format!("{}-2", hex::encode(md5_of(&joined)))
        );
    }
}
