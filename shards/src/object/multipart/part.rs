//! UploadPart and ListParts: a part is streamed like an object's data into staging,
//! then renamed into the upload's folder under the upload's lock; the parts an upload
//! holds are what read-quorum drives list under the same name.

use std::collections::{BTreeMap, HashMap};

use std::rc::Rc;

use shoal_io::{Clock, Drive, Env};

use crate::error::{Error, Result};
use crate::member::MemberError;
use crate::member::Verb;
use crate::member::verbs::upload::UploadVerbs;
use crate::object::commit::keep_leases;
use crate::object::put::{BodySource, PutOptions, body_hasher, verify_digests};
use crate::object::store::Store;
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::meta::PartInfo;
use crate::record::stripe::RecordOwner;
use crate::set::quorum::{self, Answer, Strategy, ok_count};
use crate::topology::placement::Placement;

use super::PART_NUMBER_MAX;
use super::record::{UploadInfo, upload_version_id};

/// A page of ListParts.
#[derive(Debug, Clone)]
pub struct PartsPage {
    pub upload: UploadInfo,
    pub parts: Vec<PartInfo>,
    pub is_truncated: bool,
}

/// Per set member: the parts it holds of an upload (`None`: failed, or no such upload
/// there).
pub(super) struct PartScan {
    pub(super) listings: Vec<Option<Vec<PartInfo>>>,
}

impl PartScan {
    /// Per part number, the newest upload of it that read-quorum members hold. A part
    /// is one file whose name says all of it, so members vote by that name.
    pub(super) fn winners(&self, read_quorum: usize) -> BTreeMap<u32, PartInfo> {
        let mut votes: HashMap<String, (usize, &PartInfo)> = HashMap::new();
        for parts in self.listings.iter().flatten() {
            for part in parts {
                votes.entry(part.file_name()).or_insert((0, part)).0 += 1;
            }
        }
        let mut winners: BTreeMap<u32, PartInfo> = BTreeMap::new();
        for (count, part) in votes.into_values() {
            if count < read_quorum {
                continue;
            }
            let part = part.clone();
            // Ties (two shards, one clock tick) are broken by name, the same way on
            // every server.
            let newer = |w: &PartInfo| (w.seq, w.file_name()) < (part.seq, part.file_name());
            if winners.get(&part.number).is_none_or(newer) {
                winners.insert(part.number, part);
            }
        }
        winners
    }
}

impl<D: Drive, C: Clock, E: Env> Store<D, C, E> {
    /// Streams one part into the upload; returns it once committed (the last upload of
    /// a part number wins).
    pub async fn upload_part(
        &self,
        upload: (&str, &str, &str),
        part_number: u32,
        options: &PutOptions,
        body: &mut impl BodySource,
    ) -> Result<PartInfo> {
        self.upload_part_checked(upload, part_number, options, body)
            .await
            .map(|(part, _)| part)
    }

    /// [`Store::upload_part`], also saying which algorithm the part's checksum is in
    /// (the upload's, or the one the client sent; `None` if the part has none).
    pub async fn upload_part_checked(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        part_number: u32,
        options: &PutOptions,
        body: &mut impl BodySource,
    ) -> Result<(PartInfo, Option<ChecksumAlgorithm>)> {
        check_part_number(part_number)?;
        self.check_put_options(options)?;
        let upload = self.upload_info(bucket, key, upload_id).await?;
        let algorithm = part_checksum_algorithm(&upload, options)?;
        let placement = self.placement(bucket, key);
        let mut hasher = body_hasher(algorithm, body);
        let mut bufs = self.stripe_buffers();
        let staging = hex::encode(self.random_id());
        // The object's version id-to-be: the parts are written before it exists.
        let data_id = upload_version_id(upload_id)?;
        let owner = RecordOwner {
            deployment_id: &self.deployment_id,
            bucket,
            key,
            data_id: &data_id,
            part_number,
        };
        let streamed = async {
            let first_len = self
                .fill_stripe(body, &mut bufs, 0, &mut hasher, options)
                .await?;
            self.stream_parts(
                placement,
                owner,
                &staging,
                &mut bufs,
                first_len,
                body,
                &mut hasher,
                options,
            )
            .await
        }
        .await;
        drop(bufs); // back to the pool before the commit's wait for locks and drives
        let live = match streamed {
            Ok(live) => live,
            Err(e) => {
                self.discard_staging(placement, &staging, &[]).await;
                return Err(e);
            }
        };
        let size_bytes = hasher.len_bytes();
        let (md5, checksum) = hasher.finish_with(body.md5());
        let trailer = body.trailer_checksum();
        if let Err(e) = verify_digests(options, trailer.as_ref(), &md5, checksum.as_ref()) {
            self.discard_staging(placement, &staging, &[]).await;
            return Err(e);
        }
        let result = self
            .commit_part(placement, &upload, &staging, &live, |seq| PartInfo {
                number: part_number,
                seq,
                size_bytes,
                md5,
                checksum: checksum.map(|c| c.value).unwrap_or_default(),
            })
            .await;
        self.discard_staging(placement, &staging, &[]).await;
        result.map(|part| (part, algorithm))
    }

    /// Under the upload's lock: checks the upload still exists and renames the staged
    /// part file into its folder on every live drive, or on none.
    pub(super) async fn commit_part(
        &self,
        placement: Placement,
        upload: &UploadInfo,
        staging: &str,
        live: &[bool],
        part: impl FnOnce(u64) -> PartInfo,
    ) -> Result<PartInfo> {
        let guard = self.lock_upload(&upload.upload_id).await;
        // A bucket delete removes uploads: it must not run between the check below and
        // the rename (which would recreate the upload's folder).
        let bucket_guard = self.lock_bucket_for_write(&upload.bucket).await?;
        // Aborted or completed while the part streamed: its folder must not reappear.
        self.upload_info(&upload.bucket, &upload.key, &upload.upload_id)
            .await?;
        // ... which the check proves only while both leases hold.
        keep_leases(&bucket_guard, &guard).await?;
        let part = part(self.next_seq());
        let needed = self.set_layout().write_quorum();
        let members = self.set_members(placement.set_index);
        let (bucket, upload_id): (Rc<str>, Rc<str>) = (
            upload.bucket.as_str().into(),
            upload.upload_id.as_str().into(),
        );
        let staging: Rc<str> = staging.into();
        let shared = Rc::new(part.clone());
        // Every member answers (or passes its deadline) before the upload's lock goes:
        // a rename creates the folders it needs, so one landing after an abort or a
        // Complete would bring back a piece of the upload.
        let strategy = Strategy::all(Verb::PutPart, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |index, member| {
            let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
            let (staging, part) = (Rc::clone(&staging), Rc::clone(&shared));
            let live = live[index];
            async move {
                if !live {
                    return Err(MemberError::NotAsked("its part did not stage"));
                }
                member.put_part(&bucket, &upload_id, &staging, &part).await
            }
        })
        .await;
        let put: Vec<bool> = answers.iter().map(Answer::is_ok).collect();
        let ok = ok_count(&answers);
        if ok < needed {
            let strategy = strategy.with_verb(Verb::RemovePart);
            let undo = quorum::call(&self.env, members, strategy, |index, member| {
                let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
                let (part, put) = (Rc::clone(&shared), put[index]);
                async move {
                    if !put {
                        return Err(MemberError::NotAsked("it took no part"));
                    }
                    member.remove_part(&bucket, &upload_id, &part).await
                }
            });
            undo.await;
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(part)
    }

    /// What each member of the set holds of an upload. Asks every member: a part
    /// counts only with read-quorum votes, and Complete needs to know each member's.
    pub(super) async fn scan_parts(
        &self,
        placement: Placement,
        bucket: &str,
        upload_id: &str,
    ) -> PartScan {
        let (bucket, upload_id): (Rc<str>, Rc<str>) = (bucket.into(), upload_id.into());
        let members = self.set_members(placement.set_index);
        let strategy = Strategy::all(Verb::ListParts, self.config.member_deadline);
        let answers = quorum::call(&self.env, members, strategy, |_, member| {
            let (bucket, upload_id) = (Rc::clone(&bucket), Rc::clone(&upload_id));
            async move { member.list_parts(&bucket, &upload_id).await }
        })
        .await;
        PartScan {
            listings: answers.into_iter().map(Answer::into_ok).collect(),
        }
    }

    /// A page of the upload's parts after `marker`, ascending.
    pub async fn list_parts(
        &self,
        (bucket, key, upload_id): (&str, &str, &str),
        marker: u32,
        max_parts: usize,
    ) -> Result<PartsPage> {
        let upload = self.upload_info(bucket, key, upload_id).await?;
        let placement = self.placement(bucket, key);
        let scan = self.scan_parts(placement, bucket, upload_id).await;
        let mut parts: Vec<PartInfo> = scan
            .winners(self.set_layout().read_quorum())
            .into_values()
            .filter(|p| p.number > marker)
            .take(max_parts.saturating_add(1))
            .collect();
        let is_truncated = parts.len() > max_parts;
        parts.truncate(max_parts);
        Ok(PartsPage {
            upload,
            parts,
            is_truncated,
        })
    }
}

pub(super) fn check_part_number(part_number: u32) -> Result<()> {
    if (1..=PART_NUMBER_MAX).contains(&part_number) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive".into(),
        ))
    }
}

/// The algorithm a part is hashed with: the upload's; a part may not declare another.
pub(super) fn part_checksum_algorithm(
    upload: &UploadInfo,
    options: &PutOptions,
) -> Result<Option<ChecksumAlgorithm>> {
    let declared = options
        .checksum_algorithm
        .or(options.expected_checksum.as_ref().map(|c| c.algorithm));
    match (upload.checksum_algorithm, declared) {
        (Some(ours), Some(theirs)) if ours != theirs => Err(Error::InvalidRequest(format!(
            "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum \
             Type: {}",
            ours.name(),
            theirs.name()
        ))),
        (Some(ours), _) => Ok(Some(ours)),
        (None, declared) => Ok(declared),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The newest upload of each part number with read-quorum copies wins.
    #[test]
    fn part_winners() {
        let part = |number, seq| PartInfo {
            number,
            seq,
            size_bytes: 5,
            md5: [seq as u8; 16],
            checksum: Vec::new(),
        };
        let (old, new, lonely) = (part(1, 1), part(1, 2), part(2, 3));
        let names = |ps: &[&PartInfo]| Some(ps.iter().map(|p| (*p).clone()).collect());
        let scan = PartScan {
            listings: vec![
                names(&[&old, &new, &lonely]),
                names(&[&old, &new]),
                names(&[&old]),
                None,
            ],
        };
        let winners = scan.winners(2);
        assert_eq!(winners.len(), 1, "part 2 is on one drive only");
        assert_eq!(winners[&1], new);
        assert_eq!(scan.winners(3)[&1], old);
    }
}
