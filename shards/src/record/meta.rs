//! Object metadata: one `_meta` file per drive in the object's folder, framed by `codec`
//! (magic `SHOALMTA`, version 3; version 2 is still read). Each drive's copy is identical except for the chunk
//! it describes (`chunk_index`) and, for small objects, that chunk's bytes inline.
//!
//! A copy says whose it is: the deployment, bucket and key, and the chunk index (which
//! must match the drive's position). A copy moved or copied to another key, another
//! drive or another deployment is not believed (`quorum.rs`), and inline chunks are
//! covered by the same check. Version 2 also means the version's part files bind their
//! records to their owner (`stripe.rs`); version 1 never shipped and is refused.
//!
//! Each copy also carries the version it replaced (`previous`), so that a crash in the
//! middle of a commit, which leaves some drives on the new copy and some on the old,
//! still leaves the old version with every drive's vote (`quorum.rs`).
//!
//! Version 3 adds the tombstone: a version that says "deleted at its mod time", with no
//! data (storage 2, size 0, no parts, empty inline chunk). A DELETE writes it over the
//! version it deletes, which it keeps as `previous`, so it votes like any commit
//! (`object/delete.rs`). It has the shape of a versioning delete marker. Version 2 is
//! the same encoding without storage 2; a version 2 record is read as it always was.
//!
//! Body: `deployment id 16 bytes | chunk index u8 | version | has previous u8 |
//! [previous version]`, where a
//! version is, in order (`str`/`bytes` = u32 length + bytes):
//!
//! | field               | encoding      | meaning                                       |
//! |---------------------|---------------|-----------------------------------------------|
//! | bucket, key         | str, str      | what this is the metadata of (checked on read) |
//! | version id          | 16 bytes      | names the data folder `_d<hex>`; random for a |
//! |                     |               | put, the upload id for a multipart object     |
//! | mod time            | u64 ns        | strictly later than the version it replaced   |
//! | size                | u64           | object bytes                                  |
//! | etag                | str           | hex MD5 (quotes added at the HTTP edge)       |
//! | data, parity chunks | u8, u8        | erasure layout the object was written with    |
//! | rotation            | u8            | placement rotation (chunk i on drive i+rot)   |
//! | stripe size         | u32           | object bytes per stripe                       |
//! | checksum            | u8 code (0=none) + bytes | S3 flexible checksum of the body   |
//! | checksum type       | u8            | 0 = full object, 1 = composite (multipart)    |
//! | headers             | u16 n + n×(str, str) | content-type etc. and x-amz-meta-*     |
//! | tags                | u16 n + n×(str, str) | object tags, in the order given        |
//! | meta generation     | u32           | metadata-only updates (tagging) of this version |
//! | storage             | u8            | 0 = inline, 1 = part files, 2 = none: a       |
//! |                     |               | tombstone (version 3 only)                    |
//! | parts               | u32 n + n×part | multipart objects; none: one file `part.1`   |
//! | inline chunk        | bytes + u64 CRC-64/NVME | this drive's chunk (inline only)    |
//!
//! A part is `number u32 | seq u64 | size u64 | md5 16 bytes | checksum bytes` (the
//! checksum in the object's algorithm, empty if none); its data file in the version's
//! folder is named by [`PartInfo::file_name`].

use crate::record::checksum::{Checksum, ChecksumAlgorithm};
use crate::record::codec::{DecodeError, Reader, Writer, open_record};
use crate::topology::placement::DeploymentId;

const MAGIC: &[u8; 8] = b"SHOALMTA";
/// 3: storage kind 2, the tombstone of a delete.
const VERSION: u16 = 3;
/// 2: copies carry the deployment id, part records are bound to their owner. Still read.
const VERSION_2: u16 = 2;
/// Most parts an object may have (S3).
pub const PARTS_MAX: usize = 10_000;

/// The part of the metadata every drive agrees on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub bucket: String,
    pub key: String,
    pub version_id: [u8; 16],
    pub mod_time_unix_nanos: u64,
    pub size_bytes: u64,
    pub etag: String,
    pub data_chunks: usize,
    pub parity_chunks: usize,
    pub rotation: usize,
    pub stripe_size_bytes: usize,
    pub checksum: Option<Checksum>,
    /// How `checksum` covers the object: of the whole body, or of the parts' checksums.
    pub checksum_type: ChecksumType,
    /// Content headers (lowercase names) and user metadata (`x-amz-meta-*`), in order.
    pub headers: Vec<(String, String)>,
    /// Object tags (S3 tagging), in the order they were set.
    pub tags: Vec<(String, String)>,
    /// Bumped by every metadata-only update of this version (tagging), so that copies
    /// of one version are ordered: newest mod time first, then highest generation.
    pub meta_generation: u32,
    pub inline: bool,
    /// The parts of a multipart object, ascending by number; empty for a plain object.
    pub parts: Vec<PartInfo>,
    /// A delete's record: the key is absent as of `mod_time_unix_nanos` (no data, size
    /// 0, `inline`). It votes like a version, so a delete cut short by a crash is
    /// decided by the same rule as a commit (`object/quorum.rs`).
    pub tombstone: bool,
}

impl ObjectInfo {
    /// The tombstone of a delete of `bucket/key` written with layout (`data_chunks`,
    /// `parity_chunks`, `rotation`) at `mod_time_unix_nanos`.
    pub fn tombstone(
        (bucket, key): (&str, &str),
        version_id: [u8; 16],
        mod_time_unix_nanos: u64,
        (data_chunks, parity_chunks, rotation): (usize, usize, usize),
    ) -> ObjectInfo {
        ObjectInfo {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            version_id,
            mod_time_unix_nanos,
            size_bytes: 0,
            etag: String::new(),
            data_chunks,
            parity_chunks,
            rotation,
            stripe_size_bytes: TOMBSTONE_STRIPE_SIZE_BYTES,
            checksum: None,
            checksum_type: ChecksumType::FullObject,
            headers: Vec::new(),
            tags: Vec::new(),
            meta_generation: 0,
            inline: true,
            parts: Vec::new(),
            tombstone: true,
        }
    }
}

/// The stripe size a tombstone records: it has no data, but a record with stripe size 0
/// is refused as corrupt.
const TOMBSTONE_STRIPE_SIZE_BYTES: usize = 1;

/// How an object's checksum was computed (`x-amz-checksum-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChecksumType {
    /// Of the object's bytes (plain objects; multipart with a CRC combined from parts).
    #[default]
    FullObject,
    /// Of the concatenated part checksums, sent as `<base64>-<parts>`.
    Composite,
}

impl ChecksumType {
    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::FullObject => "FULL_OBJECT",
            ChecksumType::Composite => "COMPOSITE",
        }
    }
}

/// One part of a multipart object (or of an upload in progress).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// 1..=10000.
    pub number: u32,
    /// Orders uploads of the same part number: the highest wins.
    pub seq: u64,
    pub size_bytes: u64,
    /// MD5 of the part's bytes (its ETag).
    pub md5: [u8; 16],
    /// The part's checksum in the upload's algorithm (empty if none).
    pub checksum: Vec<u8>,
}

impl PartInfo {
    /// The data file's name: every field, so that a directory listing alone tells which
    /// parts a drive holds, and a rename commits the file and its description at once.
    /// `p<number>-<seq hex>-<size>-<md5 hex>-<checksum hex or x>`.
    pub fn file_name(&self) -> String {
        let checksum = if self.checksum.is_empty() {
            "x".to_owned()
        } else {
            hex::encode(&self.checksum)
        };
        format!(
            "p{:05}-{:016x}-{}-{}-{checksum}",
            self.number,
            self.seq,
            self.size_bytes,
            hex::encode(self.md5)
        )
    }

    /// The inverse of [`PartInfo::file_name`]; `None` for any other name.
    pub fn parse_file_name(name: &str) -> Option<PartInfo> {
        let mut fields = name.strip_prefix('p')?.split('-');
        let number_text = fields.next()?;
        let seq_text = fields.next()?;
        let size_text = fields.next()?;
        let md5_text = fields.next()?;
        let checksum_text = fields.next()?;
        if fields.next().is_some() || number_text.len() != 5 || seq_text.len() != 16 {
            return None;
        }
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(number_text) || !digits(size_text) {
            return None;
        }
        let lower_hex = |t: &str| t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !lower_hex(seq_text) || !lower_hex(md5_text) {
            return None;
        }
        let checksum = match checksum_text {
            "x" => Vec::new(),
            t if !t.is_empty() && lower_hex(t) => hex::decode(t).ok()?,
            _ => return None,
        };
        let part = PartInfo {
            number: number_text.parse().ok()?,
            seq: u64::from_str_radix(seq_text, 16).ok()?,
            size_bytes: size_text.parse().ok()?,
            md5: hex::decode(md5_text).ok()?.try_into().ok()?,
            checksum,
        };
        // Only the canonical spelling: one name per part.
        (part.file_name() == name).then_some(part)
    }
}

/// One drive's metadata file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveMeta {
    pub info: ObjectInfo,
    pub chunk_index: usize,
    /// This drive's chunk of an inline object (empty otherwise).
    pub inline_chunk: Vec<u8>,
    /// The version this one replaced, kept until the next commit (crash safety).
    pub previous: Option<PreviousVersion>,
}

/// A replaced version as kept in its successor's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousVersion {
    pub info: ObjectInfo,
    /// This drive's chunk of it, if it was inline (empty if unknown).
    pub inline_chunk: Vec<u8>,
}

impl DriveMeta {
    /// The copy as stored by a drive of deployment `deployment_id`.
    pub fn encode(&self, deployment_id: &DeploymentId) -> Vec<u8> {
        self.encode_as(deployment_id, VERSION)
    }

    /// The copy in format `version`: 2 and 3 differ only in what storage kinds they
    /// may hold, so the old format is written by tests alone (to prove it is read).
    fn encode_as(&self, deployment_id: &DeploymentId, version: u16) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(deployment_id).u8(self.chunk_index as u8);
        write_version(&mut w, &self.info, &self.inline_chunk);
        match &self.previous {
            Some(p) => write_version(w.u8(1), &p.info, &p.inline_chunk),
            None => {
                w.u8(0);
            }
        }
        w.finish(MAGIC, version)
    }

    /// Decodes a copy; one written by another deployment is refused.
    pub fn decode(bytes: &[u8], deployment_id: &DeploymentId) -> Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION && version != VERSION_2 {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        if r.array::<16>()? != *deployment_id {
            return Err(DecodeError::Invalid("metadata of another deployment"));
        }
        let chunk_index = r.u8()? as usize;
        let (info, inline_chunk) = read_version(&mut r, version)?;
        let previous = match r.u8()? {
            0 => None,
            1 => {
                let (info, inline_chunk) = read_version(&mut r, version)?;
                Some(PreviousVersion { info, inline_chunk })
            }
            _ => return Err(DecodeError::Invalid("previous flag")),
        };
        r.finish()?;
        if chunk_index >= info.data_chunks + info.parity_chunks {
            return Err(DecodeError::Invalid("chunk index"));
        }
        Ok(DriveMeta {
            info,
            chunk_index,
            inline_chunk,
            previous,
        })
    }
}

/// Storage kinds (the `storage` byte).
const STORAGE_INLINE: u8 = 0;
const STORAGE_PARTS: u8 = 1;
const STORAGE_NONE: u8 = 2;

fn write_version(w: &mut Writer, info: &ObjectInfo, inline_chunk: &[u8]) {
    w.str(&info.bucket).str(&info.key).raw(&info.version_id);
    w.u64(info.mod_time_unix_nanos)
        .u64(info.size_bytes)
        .str(&info.etag);
    w.u8(info.data_chunks as u8)
        .u8(info.parity_chunks as u8)
        .u8(info.rotation as u8);
    w.u32(info.stripe_size_bytes as u32);
    match &info.checksum {
        Some(c) => w.u8(c.algorithm.code()).bytes(&c.value),
        None => w.u8(0).bytes(&[]),
    };
    w.u8(match info.checksum_type {
        ChecksumType::FullObject => 0,
        ChecksumType::Composite => 1,
    });
    write_pairs(w, &info.headers);
    write_pairs(w, &info.tags);
    w.u32(info.meta_generation);
    w.u8(match (info.tombstone, info.inline) {
        (true, _) => STORAGE_NONE,
        (false, true) => STORAGE_INLINE,
        (false, false) => STORAGE_PARTS,
    });
    w.u32(u32::try_from(info.parts.len()).expect("part count bounded"));
    for part in &info.parts {
        w.u32(part.number)
            .u64(part.seq)
            .u64(part.size_bytes)
            .raw(&part.md5)
            .bytes(&part.checksum);
    }
    w.bytes(inline_chunk)
        .u64(shoal_erasure::bitrot::crc64_nvme(inline_chunk));
}

/// One version in a record of format `version` (2 or 3).
fn read_version(r: &mut Reader<'_>, version: u16) -> Result<(ObjectInfo, Vec<u8>), DecodeError> {
    let bucket = r.str()?.to_owned();
    let key = r.str()?.to_owned();
    let version_id = r.array()?;
    let (mod_time_unix_nanos, size_bytes) = (r.u64()?, r.u64()?);
    let etag = r.str()?.to_owned();
    let (data_chunks, parity_chunks, rotation) =
        (r.u8()? as usize, r.u8()? as usize, r.u8()? as usize);
    let stripe_size_bytes = r.u32()? as usize;
    let checksum = decode_checksum(r)?;
    let checksum_type = match r.u8()? {
        0 => ChecksumType::FullObject,
        1 => ChecksumType::Composite,
        _ => return Err(DecodeError::Invalid("checksum type")),
    };
    let headers = read_pairs(r)?;
    let tags = read_pairs(r)?;
    let meta_generation = r.u32()?;
    let (inline, tombstone) = match r.u8()? {
        STORAGE_INLINE => (true, false),
        STORAGE_PARTS => (false, false),
        STORAGE_NONE if version >= VERSION => (true, true),
        _ => return Err(DecodeError::Invalid("storage kind")),
    };
    let part_count = r.u32()? as usize;
    if part_count > PARTS_MAX || (inline && part_count > 0) {
        return Err(DecodeError::Invalid("part count"));
    }
    let mut parts: Vec<PartInfo> = Vec::with_capacity(part_count);
    for _ in 0..part_count {
        let part = PartInfo {
            number: r.u32()?,
            seq: r.u64()?,
            size_bytes: r.u64()?,
            md5: r.array()?,
            checksum: r.bytes()?.to_vec(),
        };
        if parts.last().is_some_and(|p| p.number >= part.number) {
            return Err(DecodeError::Invalid("part order"));
        }
        parts.push(part);
    }
    let inline_chunk = r.bytes()?.to_vec();
    if r.u64()? != shoal_erasure::bitrot::crc64_nvme(&inline_chunk) {
        return Err(DecodeError::ChecksumMismatch);
    }
    if data_chunks == 0 || rotation >= data_chunks + parity_chunks || stripe_size_bytes == 0 {
        return Err(DecodeError::Invalid("erasure fields"));
    }
    if tombstone && (size_bytes != 0 || !inline_chunk.is_empty()) {
        return Err(DecodeError::Invalid("tombstone with data"));
    }
    let info = ObjectInfo {
        bucket,
        key,
        version_id,
        mod_time_unix_nanos,
        size_bytes,
        etag,
        data_chunks,
        parity_chunks,
        rotation,
        stripe_size_bytes,
        checksum,
        checksum_type,
        headers,
        tags,
        meta_generation,
        inline,
        parts,
        tombstone,
    };
    Ok((info, inline_chunk))
}

fn write_pairs(w: &mut Writer, pairs: &[(String, String)]) {
    w.u16(u16::try_from(pairs.len()).expect("pair count bounded"));
    for (name, value) in pairs {
        w.str(name).str(value);
    }
}

fn read_pairs(r: &mut Reader<'_>) -> Result<Vec<(String, String)>, DecodeError> {
    let count = r.u16()?;
    let mut pairs = Vec::with_capacity(usize::from(count.min(64)));
    for _ in 0..count {
        pairs.push((r.str()?.to_owned(), r.str()?.to_owned()));
    }
    Ok(pairs)
}

fn decode_checksum(r: &mut Reader<'_>) -> Result<Option<Checksum>, DecodeError> {
    let code = r.u8()?;
    let value = r.bytes()?.to_vec();
    if code == 0 {
        return Ok(None);
    }
    let algorithm =
        ChecksumAlgorithm::from_code(code).ok_or(DecodeError::Invalid("checksum algorithm"))?;
    Ok(Some(Checksum { algorithm, value }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample() -> DriveMeta {
        DriveMeta {
            info: ObjectInfo {
                bucket: "bkt".into(),
                key: "a/b.txt".into(),
                version_id: [9; 16],
                mod_time_unix_nanos: 1_700_000_000_000_000_000,
                size_bytes: 5,
                etag: "5d41402abc4b2a76b9719d911017c592".into(),
                data_chunks: 2,
                parity_chunks: 1,
                rotation: 1,
                stripe_size_bytes: 1 << 20,
                checksum: Some(Checksum {
                    algorithm: ChecksumAlgorithm::Crc32c,
                    value: vec![1, 2, 3, 4],
                }),
                checksum_type: ChecksumType::FullObject,
                headers: vec![("content-type".into(), "text/plain".into())],
                tags: vec![("team".into(), "ml".into())],
                meta_generation: 2,
                inline: true,
                parts: Vec::new(),
                tombstone: false,
            },
            chunk_index: 2,
            inline_chunk: b"hel".to_vec(),
            previous: None,
        }
    }

    /// Metadata survives encoding, and any flipped bit is detected.
    #[test]
    fn round_trip_and_corruption() {
        let mut meta = sample();
        let mut older = meta.info.clone();
        older.version_id = [1; 16];
        meta.previous = Some(PreviousVersion {
            info: older,
            inline_chunk: b"old".to_vec(),
        });
        let bytes = meta.encode(&DEPLOYMENT);
        assert_eq!(DriveMeta::decode(&bytes, &DEPLOYMENT), Ok(meta));
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(DriveMeta::decode(&bad, &DEPLOYMENT).is_err(), "bit {bit}");
        }
    }

    const DEPLOYMENT: DeploymentId = [0x5A; 16];

    /// A copy written by another deployment, or in the unshipped version 1 framing, is
    /// refused, whatever else it says.
    #[test]
    fn foreign_and_old_copies_refused() {
        let meta = sample();
        let mut other = DEPLOYMENT;
        other[15] ^= 1;
        assert_eq!(
            DriveMeta::decode(&meta.encode(&other), &DEPLOYMENT),
            Err(DecodeError::Invalid("metadata of another deployment"))
        );
        let mut w = Writer::default();
        w.u8(0);
        assert_eq!(
            DriveMeta::decode(&w.finish(MAGIC, 1), &DEPLOYMENT),
            Err(DecodeError::UnsupportedVersion(1))
        );
    }

    /// Frozen encoding: version 2 files written before tombstones still decode, and
    /// version 3 files written today (a tombstone over a multipart version) must decode
    /// forever.
    #[test]
    fn golden_encoding() {
        // SHA-256, not CRC: a CRC over a record that ends in its own CRC is a constant.
        use sha2::Digest as _;
        let digest = |bytes: &[u8]| hex::encode(sha2::Sha256::digest(bytes));
        let mut meta = sample();
        meta.previous = Some(PreviousVersion {
            info: multipart_sample(),
            inline_chunk: b"old".to_vec(),
        });
        let v2 = meta.encode_as(&DEPLOYMENT, VERSION_2);
        assert_eq!(digest(&v2), GOLDEN_META_V2_SHA256);
        assert_eq!(DriveMeta::decode(&v2, &DEPLOYMENT), Ok(meta.clone()));
        let tombstone = tombstone_over(meta);
        let v3 = tombstone.encode(&DEPLOYMENT);
        assert_eq!(digest(&v3), GOLDEN_META_V3_SHA256);
        assert_eq!(DriveMeta::decode(&v3, &DEPLOYMENT), Ok(tombstone));
    }

    /// A tombstone over `meta`'s version, as a delete writes it.
    fn tombstone_over(meta: DriveMeta) -> DriveMeta {
        let info = &meta.info;
        DriveMeta {
            info: ObjectInfo::tombstone(
                (&info.bucket, &info.key),
                [3; 16],
                info.mod_time_unix_nanos + 1,
                (info.data_chunks, info.parity_chunks, info.rotation),
            ),
            chunk_index: meta.chunk_index,
            inline_chunk: Vec::new(),
            previous: Some(PreviousVersion {
                info: meta.info,
                inline_chunk: meta.inline_chunk,
            }),
        }
    }

    /// A tombstone survives encoding; one in the version 2 format (which had none), or
    /// one that carries data, is refused.
    #[test]
    fn tombstone_round_trip_and_refusals() {
        let tombstone = tombstone_over(sample());
        let decode = |bytes: &[u8]| DriveMeta::decode(bytes, &DEPLOYMENT);
        assert_eq!(
            decode(&tombstone.encode(&DEPLOYMENT)),
            Ok(tombstone.clone())
        );
        assert_eq!(
            decode(&tombstone.encode_as(&DEPLOYMENT, VERSION_2)),
            Err(DecodeError::Invalid("storage kind"))
        );
        let mut sized = tombstone.clone();
        sized.info.size_bytes = 1;
        assert_eq!(
            decode(&sized.encode(&DEPLOYMENT)),
            Err(DecodeError::Invalid("tombstone with data"))
        );
        let mut with_chunk = tombstone;
        with_chunk.inline_chunk = b"x".to_vec();
        assert_eq!(
            decode(&with_chunk.encode(&DEPLOYMENT)),
            Err(DecodeError::Invalid("tombstone with data"))
        );
    }

    fn multipart_sample() -> ObjectInfo {
        let mut info = sample().info;
        info.inline = false;
        info.checksum_type = ChecksumType::Composite;
        info.etag = "0123456789abcdef0123456789abcdef-2".into();
        info.parts = vec![
            PartInfo {
                number: 1,
                seq: 7,
                size_bytes: 5 << 20,
                md5: [1; 16],
                checksum: vec![1, 2, 3, 4],
            },
            PartInfo {
                number: 3,
                seq: 9,
                size_bytes: 10,
                md5: [2; 16],
                checksum: vec![5, 6, 7, 8],
            },
        ];
        info
    }

    /// A multipart version (parts table, composite checksum) survives encoding; parts
    /// out of order or on an inline object are refused.
    #[test]
    fn multipart_round_trip() {
        let meta = DriveMeta {
            info: multipart_sample(),
            chunk_index: 0,
            inline_chunk: Vec::new(),
            previous: None,
        };
        let decode = |m: &DriveMeta| DriveMeta::decode(&m.encode(&DEPLOYMENT), &DEPLOYMENT);
        assert_eq!(decode(&meta), Ok(meta.clone()));
        let mut swapped = meta.clone();
        swapped.info.parts.swap(0, 1);
        assert!(decode(&swapped).is_err());
        let mut inline = meta;
        inline.info.inline = true;
        assert!(decode(&inline).is_err());
    }

    /// Part file names round-trip, and no other spelling parses.
    #[test]
    fn part_file_names() {
        let part = multipart_sample().parts[0].clone();
        let name = part.file_name();
        assert_eq!(
            name,
            "p00001-0000000000000007-5242880-01010101010101010101010101010101-01020304"
        );
        assert_eq!(PartInfo::parse_file_name(&name), Some(part.clone()));
        let bare = PartInfo {
            checksum: Vec::new(),
            ..part
        };
        assert_eq!(PartInfo::parse_file_name(&bare.file_name()), Some(bare));
        for bad in [
            "part.1",
            "_upload",
            "p1-0000000000000007-5-01010101010101010101010101010101-x",
            "p00001-0000000000000007-05-01010101010101010101010101010101-x",
            "p00001-0000000000000007-5-0101010101010101010101010101010-x",
            "p00001-0000000000000007-5-01010101010101010101010101010101-",
            "p00001-0000000000000007-5-01010101010101010101010101010101-x-y",
            "p00001-000000000000000G-5-01010101010101010101010101010101-x",
            "p00001-0000000000000007-5-01010101010101010101010101010101-ABCD",
        ] {
            assert_eq!(PartInfo::parse_file_name(bad), None, "{bad}");
        }
    }

    const GOLDEN_META_V2_SHA256: &str =
        "fdca40080ba2daf6c271dd51adfe6a83a192940f37e746f69276605aca3f8358";
    const GOLDEN_META_V3_SHA256: &str =
        "0be6f666d573339901d2ff7a653ccbb2f3fd09982544a4bcad0b928539e8368c";
}
