//! Multipart uploads (DESIGN.md §5): parts are erasure-coded as they arrive, like
//! objects, into the upload's folder on every drive of the object's set; completing an
//! upload writes metadata only.
//!
//! On each drive of the set, an upload is the folder
//! `.shoal/multipart/<bucket>/<upload id>/` holding:
//! - `_upload`: the upload record (key, content headers, tags, checksum algorithm),
//!   identical on every drive, written when the upload is created;
//! - one data file per uploaded part, named by [`PartInfo::file_name`]: number,
//!   sequence, size, MD5 and checksum are in the name, so one directory listing per
//!   drive tells which parts the drive holds, and the rename that puts a part file in
//!   place commits the file and its description together.
//!
//! Invariants:
//! - A part is believed only when read-quorum drives hold a file of the same name;
//!   among uploads of one part number the highest sequence wins (the last upload).
//! - Changes to an upload folder (a part arriving, abort, complete) happen under the
//!   upload's lock (`LockName::Upload` on its owner shard), so they are serialized;
//!   writes into the upload folder also hold the bucket's lock shared, so a bucket
//!   delete (which removes uploads) never races them.
//! - Complete renames the upload folder to the version's data folder and commits the
//!   metadata as a put does; a failed commit renames it back, so the client may retry.
//! - The upload id starts with the creation time (16 hex digits of nanoseconds), so
//!   ids of one key sort by age and abandoned uploads are found by name alone.
//! - A completed object's version id is its upload id: a retried Complete, finding no
//!   upload, answers with the key's current version only if it is that upload's object
//!   made of the same parts (else `NoSuchUpload`).
//! - Complete checks every checksum, checksum type and size its request declares
//!   before anything is committed; a refused Complete leaves the upload as it was.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;
use shoal_io::{Clock, Drive, DriveError, Env};

use crate::error::{Error, Result};
use crate::member::keypath::validate_key;
use crate::object::condition::WriteCondition;
use crate::object::put::{BodySource, PutOptions, Staged, verify_digests};
use crate::object::store::{Store, TMP_DIR, ignore_not_found};
use crate::record::checksum::{BodyHasher, Checksum, ChecksumAlgorithm, combine_full, composite};
use crate::record::codec::{DecodeError, Writer, open_record};
use crate::record::meta::{ChecksumType, ObjectInfo, PARTS_MAX, PartInfo};
use crate::record::stripe::RecordOwner;
use crate::topology::placement::Placement;

/// Where upload folders live on every drive.
pub const MULTIPART_DIR: &str = ".shoal/multipart";
/// The upload record's file name inside an upload folder.
const UPLOAD_RECORD_FILE: &str = "_upload";
const UPLOAD_MAGIC: &[u8; 8] = b"SHOALUPL";
const UPLOAD_VERSION: u16 = 1;
/// Hex digits of an upload id: 16 of creation time, 16 random.
const UPLOAD_ID_LEN: usize = 32;
/// Highest part number (S3).
pub const PART_NUMBER_MAX: u32 = 10_000;

/// The byte range `[first, last]` of part `number` of an object (`None`: the object is
/// empty); a plain object has one part, the whole of it.
pub fn part_range(info: &ObjectInfo, number: u32) -> Result<Option<(u64, u64)>> {
    if info.parts.is_empty() {
        return match number {
            1 => Ok(info.size_bytes.checked_sub(1).map(|last| (0, last))),
            _ => Err(Error::InvalidPartNumber),
        };
    }
    let mut start = 0;
    for part in &info.parts {
        if part.number == number {
            return Ok(part
                .size_bytes
                .checked_sub(1)
                .map(|len| (start, start + len)));
        }
        start += part.size_bytes;
    }
    Err(Error::InvalidPartNumber)
}

/// The checksum of part `number` of an object, as stored (a GET or HEAD by part number
/// answers with it); `None` when the object has no checksum. A plain object's only
/// part is the whole object.
pub fn part_checksum(info: &ObjectInfo, number: u32) -> Option<Checksum> {
    let object = info.checksum.as_ref()?;
    if info.parts.is_empty() {
        return (number == 1).then(|| object.clone());
    }
    let part = info.parts.iter().find(|p| p.number == number)?;
    (!part.checksum.is_empty()).then(|| Checksum {
        algorithm: object.algorithm,
        value: part.checksum.clone(),
    })
}

/// An upload in progress, as its record describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiated_unix_nanos: u64,
    /// Content headers and user metadata the object will get.
    pub headers: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// The checksum every part carries, if the upload was created with one.
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_type: ChecksumType,
}

impl UploadInfo {
    /// The `_upload` record (public so the fuzz targets can round-trip it).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.str(&self.bucket)
            .str(&self.key)
            .str(&self.upload_id)
            .u64(self.initiated_unix_nanos);
        for pairs in [&self.headers, &self.tags] {
            w.u16(u16::try_from(pairs.len()).expect("pair count bounded"));
            for (name, value) in pairs {
                w.str(name).str(value);
            }
        }
        w.u8(self.checksum_algorithm.map_or(0, ChecksumAlgorithm::code));
        w.u8(u8::from(self.checksum_type == ChecksumType::Composite));
        w.finish(UPLOAD_MAGIC, UPLOAD_VERSION)
    }

    /// Reads an `_upload` record back; any bytes give a value or an error.
    pub fn decode(bytes: &[u8]) -> std::result::Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, UPLOAD_MAGIC)?;
        if version != UPLOAD_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let bucket = r.str()?.to_owned();
        let key = r.str()?.to_owned();
        let upload_id = r.str()?.to_owned();
        let initiated_unix_nanos = r.u64()?;
        let mut pairs = [Vec::new(), Vec::new()];
        for list in &mut pairs {
            for _ in 0..r.u16()? {
                list.push((r.str()?.to_owned(), r.str()?.to_owned()));
            }
        }
        let [headers, tags] = pairs;
        let checksum_algorithm = match r.u8()? {
            0 => None,
            code => Some(
                ChecksumAlgorithm::from_code(code)
                    .ok_or(DecodeError::Invalid("checksum algorithm"))?,
            ),
        };
        let checksum_type = match r.u8()? {
            0 => ChecksumType::FullObject,
            1 => ChecksumType::Composite,
            _ => return Err(DecodeError::Invalid("checksum type")),
        };
        r.finish()?;
        Ok(UploadInfo {
            bucket,
            key,
            upload_id,
            initiated_unix_nanos,
            headers,
            tags,
            checksum_algorithm,
            checksum_type,
        })
    }
}

/// What CreateMultipartUpload declares about the object to be.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    pub headers: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// `x-amz-checksum-type`; the algorithm's default when absent.
    pub checksum_type: Option<ChecksumType>,
}

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
    fn check_upload(&self, upload: &UploadInfo) -> Result<()> {
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
    fn check(&self, info: &ObjectInfo) -> Result<()> {
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

/// The version id of the object an upload completes into: the upload id's 16 bytes.
fn upload_version_id(upload_id: &str) -> Result<[u8; 16]> {
    hex::decode(upload_id)
        .ok()
        .filter(|_| valid_upload_id(upload_id))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::NoSuchUpload)
}

/// A page of ListParts.
#[derive(Debug, Clone)]
pub struct PartsPage {
    pub upload: UploadInfo,
    pub parts: Vec<PartInfo>,
    pub is_truncated: bool,
}

/// What ListMultipartUploads asks for.
#[derive(Debug, Clone, Default)]
pub struct UploadsQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub key_marker: String,
    pub upload_id_marker: String,
    pub max_uploads: usize,
}

/// A page of ListMultipartUploads, in key order, then upload age.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// The last key and upload id on this page (continuation markers when truncated).
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

/// True for ids this server could have issued: lowercase hex of the right length, so an
/// id is also a safe folder name.
fn valid_upload_id(id: &str) -> bool {
    id.len() == UPLOAD_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// When an upload was created, from its id.
fn upload_id_time(id: &str) -> Option<u64> {
    valid_upload_id(id)
        .then(|| u64::from_str_radix(&id[..16], 16).ok())
        .flatten()
}

fn upload_dir(bucket: &str, upload_id: &str) -> String {
    format!("{MULTIPART_DIR}/{bucket}/{upload_id}")
}

/// Per set drive: the names in an upload folder (`None`: unreadable or absent).
struct PartScan {
    listings: Vec<Option<Vec<String>>>,
}

impl PartScan {
    /// Per part number, the newest upload of it that read-quorum drives hold.
    fn winners(&self, read_quorum: usize) -> BTreeMap<u32, PartInfo> {
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for names in self.listings.iter().flatten() {
            for name in names {
                *votes.entry(name.as_str()).or_default() += 1;
            }
        }
        let mut winners: BTreeMap<u32, PartInfo> = BTreeMap::new();
        for (name, count) in votes {
            if count < read_quorum {
                continue;
            }
            let Some(part) = PartInfo::parse_file_name(name) else {
                continue;
            };
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
        let mut hasher = BodyHasher::new(algorithm);
        let mut stripe = vec![0u8; self.config.stripe_size_bytes];
        let staging = hex::encode(self.random_id());
        let staged_dir = format!("{TMP_DIR}/{staging}");
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
                .fill_stripe(body, &mut stripe, &mut hasher, options)
                .await?;
            self.stream_parts(
                placement,
                owner,
                &staging,
                &mut stripe,
                first_len,
                body,
                &mut hasher,
                options,
            )
            .await
        }
        .await;
        let live = match streamed {
            Ok(live) => live,
            Err(e) => {
                self.remove_staged(placement, &staged_dir).await;
                return Err(e);
            }
        };
        let size_bytes = hasher.len_bytes();
        let (md5, checksum) = hasher.finish();
        let trailer = body.trailer_checksum();
        if let Err(e) = verify_digests(options, trailer.as_ref(), &md5, checksum.as_ref()) {
            self.remove_staged(placement, &staged_dir).await;
            return Err(e);
        }
        let result = self
            .commit_part(placement, &upload, &staged_dir, &live, |seq| PartInfo {
                number: part_number,
                seq,
                size_bytes,
                md5,
                checksum: checksum.map(|c| c.value).unwrap_or_default(),
            })
            .await;
        self.remove_staged(placement, &staged_dir).await;
        result.map(|part| (part, algorithm))
    }

    /// Under the upload's lock: checks the upload still exists and renames the staged
    /// part file into its folder on every live drive, or on none.
    async fn commit_part(
        &self,
        placement: Placement,
        upload: &UploadInfo,
        staged_dir: &str,
        live: &[bool],
        part: impl FnOnce(u64) -> PartInfo,
    ) -> Result<PartInfo> {
        let _guard = self.lock_upload(&upload.upload_id).await;
        // A bucket delete removes uploads: it must not run between the check below and
        // the rename (which would recreate the upload's folder).
        let _bucket_guard = self.lock_bucket_for_write(&upload.bucket).await?;
        // Aborted or completed while the part streamed: its folder must not reappear.
        self.upload_info(&upload.bucket, &upload.key, &upload.upload_id)
            .await?;
        let part = part(self.next_seq());
        let dir = upload_dir(&upload.bucket, &upload.upload_id);
        let target = format!("{dir}/{}", part.file_name());
        let from = format!("{staged_dir}/part.1");
        let drives = self.set_members(placement.set_index);
        let renames = drives.iter().zip(live).map(|(drive, live)| {
            let (from, target) = (&from, &target);
            async move { *live && drive.rename(from, target).await.is_ok() }
        });
        let renamed: Vec<bool> = join_all(renames).await;
        let ok = renamed.iter().filter(|r| **r).count();
        let needed = self.set_layout().write_quorum();
        if ok < needed {
            let undo = drives
                .iter()
                .zip(&renamed)
                .filter(|(_, r)| **r)
                .map(|(d, _)| d.remove_file(&target));
            join_all(undo).await;
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(part)
    }

    /// Lists what each set drive holds of an upload.
    async fn scan_parts(&self, placement: Placement, bucket: &str, upload_id: &str) -> PartScan {
        let dir = upload_dir(bucket, upload_id);
        let drives = self.set_members(placement.set_index);
        let listings = join_all(drives.iter().map(|d| d.list_dir(&dir))).await;
        PartScan {
            listings: listings
                .into_iter()
                .map(|l| {
                    l.ok()
                        .map(|entries| entries.into_iter().map(|e| e.name).collect())
                })
                .collect(),
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

    /// Removes an upload and its parts.
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        let _guard = self.lock_upload(upload_id).await;
        self.upload_info(bucket, key, upload_id).await?;
        let placement = self.placement(bucket, key);
        let dir = upload_dir(bucket, upload_id);
        let drives = self.set_members(placement.set_index);
        let removes = drives
            .iter()
            .map(|d| async { ignore_not_found(d.remove_dir_all(&dir).await) });
        let ok = join_all(removes).await.iter().filter(|r| r.is_ok()).count();
        let needed = self.set_layout().write_quorum();
        if ok < needed {
            return Err(Error::InsufficientWriteQuorum { ok, needed });
        }
        Ok(())
    }

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
        let _guard = self.lock_upload(upload_id).await;
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
        };
        expected.check_upload(&upload)?;
        expected.check(&info)?;
        let staged = Staged::Parts {
            from: upload_dir(bucket, upload_id),
            live: scan.listings.iter().map(Option::is_some).collect(),
            owned: false,
        };
        let info = self.commit(placement, info, staged, condition).await?;
        self.remove_unlisted(placement, &info, &scan).await;
        Ok(info)
    }

    /// For a Complete whose upload is gone: the key's current object if this upload
    /// made it (its version id is the upload id) from exactly the parts listed now;
    /// otherwise `NoSuchUpload` (never completed, aborted, or overwritten since).
    async fn completed_before(
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
    async fn remove_unlisted(&self, placement: Placement, info: &ObjectInfo, scan: &PartScan) {
        let used: std::collections::HashSet<String> =
            info.parts.iter().map(PartInfo::file_name).collect();
        let data_dir = format!(
            "{}/{}{}",
            crate::member::keypath::object_dir(&info.bucket, &info.key),
            crate::member::keypath::DATA_DIR_PREFIX,
            hex::encode(info.version_id)
        );
        let drives = self.set_members(placement.set_index);
        let cleanups = drives.iter().zip(&scan.listings).map(|(drive, names)| {
            let (used, data_dir) = (&used, &data_dir);
            async move {
                for name in names.iter().flatten().filter(|n| !used.contains(*n)) {
                    let _ = drive.remove_file(&format!("{data_dir}/{name}")).await;
                }
            }
        });
        join_all(cleanups).await;
    }

    /// A page of the bucket's uploads in progress.
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        query: &UploadsQuery,
    ) -> Result<UploadsPage> {
        self.require_bucket(bucket).await?;
        let mut uploads = self.bucket_uploads(bucket).await;
        let delimiter = query.delimiter.as_deref().filter(|d| !d.is_empty());
        // After the key marker; with an upload id marker, also the key marker's own
        // uploads after that id. A key marker that is a common prefix (a previous page
        // ended on it) skips everything under it.
        let (key_marker, id_marker) = (query.key_marker.as_str(), query.upload_id_marker.as_str());
        let marker_is_prefix =
            !key_marker.is_empty() && delimiter.is_some_and(|d| key_marker.ends_with(d));
        uploads.retain(|u| {
            let after = if id_marker.is_empty() {
                u.key.as_str() > key_marker
            } else {
                (u.key.as_str(), u.upload_id.as_str()) > (key_marker, id_marker)
            };
            let under_marker = marker_is_prefix && u.key.starts_with(key_marker);
            after && !under_marker && u.key.starts_with(&query.prefix)
        });
        let mut page = UploadsPage::default();
        if query.max_uploads == 0 {
            return Ok(page);
        }
        let mut last: Option<(String, String)> = None;
        for upload in uploads {
            let rolled_up = delimiter.and_then(|d| {
                let rest = &upload.key[query.prefix.len()..];
                rest.find(d)
                    .map(|at| format!("{}{}", query.prefix, &rest[..at + d.len()]))
            });
            if rolled_up.is_some() && page.common_prefixes.last() == rolled_up.as_ref() {
                continue; // already on this page
            }
            if page.uploads.len() + page.common_prefixes.len() == query.max_uploads {
                page.is_truncated = true;
                break;
            }
            if let Some(prefix) = rolled_up {
                // The next page starts after the whole prefix.
                last = Some((prefix.clone(), String::new()));
                page.common_prefixes.push(prefix);
            } else {
                last = Some((upload.key.clone(), upload.upload_id.clone()));
                page.uploads.push(upload);
            }
        }
        if page.is_truncated
            && let Some((key, id)) = last
        {
            page.next_key_marker = Some(key);
            page.next_upload_id_marker = Some(id);
        }
        Ok(page)
    }

    /// Every upload of `bucket` whose record read-quorum drives agree on, sorted by
    /// key, then age.
    async fn bucket_uploads(&self, bucket: &str) -> Vec<UploadInfo> {
        let dir = format!("{MULTIPART_DIR}/{bucket}");
        let mut ids: Vec<String> = Vec::new();
        for listing in join_all(self.members.iter().map(|d| d.list_dir(&dir))).await {
            ids.extend(listing.into_iter().flatten().map(|e| e.name));
        }
        ids.sort();
        ids.dedup();
        let mut uploads = Vec::new();
        for id in ids.iter().filter(|id| valid_upload_id(id)) {
            if let Some(upload) = self.find_upload(bucket, id).await {
                uploads.push(upload);
            }
        }
        uploads.sort_by(|a, b| (&a.key, &a.upload_id).cmp(&(&b.key, &b.upload_id)));
        uploads
    }

    /// An upload found by id alone (listing): its record from any drive names the key,
    /// which places it; then it must hold on its set like any other read.
    async fn find_upload(&self, bucket: &str, upload_id: &str) -> Option<UploadInfo> {
        let path = format!("{}/{UPLOAD_RECORD_FILE}", upload_dir(bucket, upload_id));
        for drive in &self.members {
            let Ok(bytes) = drive.read_file(&path).await else {
                continue;
            };
            let Ok(record) = UploadInfo::decode(&bytes) else {
                continue;
            };
            return self.upload_info(bucket, &record.key, upload_id).await.ok();
        }
        None
    }

    /// Removes uploads created more than `max_age_nanos` ago (abandoned), on every
    /// drive, with their parts; returns how many upload folders were removed.
    pub async fn remove_abandoned_uploads(&self, max_age_nanos: u64) -> usize {
        let now = self.clock.now_unix_nanos();
        let mut removed = 0;
        for drive in &self.members {
            let Ok(buckets) = drive.list_dir(MULTIPART_DIR).await else {
                continue;
            };
            for bucket in buckets.iter().filter(|b| b.is_dir) {
                let dir = format!("{MULTIPART_DIR}/{}", bucket.name);
                let Ok(uploads) = drive.list_dir(&dir).await else {
                    continue;
                };
                for upload in uploads {
                    let old = upload_id_time(&upload.name)
                        .is_none_or(|t| now.saturating_sub(t) > max_age_nanos);
                    if !old {
                        continue;
                    }
                    let _guard = self.lock_upload(&upload.name).await;
                    let path = format!("{dir}/{}", upload.name);
                    if ignore_not_found(drive.remove_dir_all(&path).await).is_ok() {
                        removed += 1;
                    }
                }
                let _ = drive.remove_dir_if_empty(&dir).await;
            }
        }
        removed
    }
}

fn check_part_number(part_number: u32) -> Result<()> {
    if (1..=PART_NUMBER_MAX).contains(&part_number) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive".into(),
        ))
    }
}

/// The checksum type of an upload: as asked, or the algorithm's default; combinations
/// S3 refuses are refused.
fn checksum_type_for(
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

/// The algorithm a part is hashed with: the upload's; a part may not declare another.
fn part_checksum_algorithm(
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

/// `hex(md5(md5 of part 1 ‖ … ‖ md5 of part N))-N`, as S3 computes multipart ETags.
fn multipart_etag(parts: &[PartInfo]) -> String {
    use md5::Digest as _;
    let mut md5 = md5::Md5::new();
    for part in parts {
        md5.update(part.md5);
    }
    format!("{}-{}", hex::encode(md5.finalize()), parts.len())
}

/// The object checksum of a completed upload (none if the upload had no algorithm).
fn object_checksum(upload: &UploadInfo, parts: &[PartInfo]) -> (Option<Checksum>, ChecksumType) {
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

    /// The upload record survives encoding; any flipped bit is detected.
    #[test]
    fn upload_record_round_trip() {
        let upload = UploadInfo {
            bucket: "bkt".into(),
            key: "a/b".into(),
            upload_id: "0000000000000001abcdefabcdefabcd".into(),
            initiated_unix_nanos: 1,
            headers: vec![("content-type".into(), "text/plain".into())],
            tags: vec![("k".into(), "v".into())],
            checksum_algorithm: Some(ChecksumAlgorithm::Crc32c),
            checksum_type: ChecksumType::Composite,
        };
        let bytes = upload.encode();
        assert_eq!(UploadInfo::decode(&bytes), Ok(upload));
        for bit in (0..bytes.len() * 8).step_by(5) {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(UploadInfo::decode(&bad).is_err(), "bit {bit}");
        }
    }

    #[test]
    fn upload_ids() {
        assert!(valid_upload_id("0000000000000001abcdefabcdefabcd"));
        for bad in [
            "",
            "../../etc",
            "0000000000000001abcdefabcdefabc",
            "0000000000000001ABCDEFABCDEFABCD",
            "0000000000000001abcdefabcdefabc/",
        ] {
            assert!(!valid_upload_id(bad), "{bad}");
        }
        assert_eq!(
            upload_id_time("00000000000000ffabcdefabcdefabcd"),
            Some(255)
        );
    }

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
        let names = |ps: &[&PartInfo]| Some(ps.iter().map(|p| p.file_name()).collect());
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
