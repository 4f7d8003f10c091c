//! Object metadata: one `_meta` file per drive in the object's folder, framed by `codec`
//! (magic `SHOALMTA`, version 1). Each drive's copy is identical except for the chunk
//! it describes (`chunk_index`) and, for small objects, that chunk's bytes inline.
//!
//! Each copy also carries the version it replaced (`previous`), so that a crash in the
//! middle of a commit, which leaves some drives on the new copy and some on the old,
//! still leaves the old version with every drive's vote (`quorum.rs`).
//!
//! Body: `chunk index u8 | version | has previous u8 | [previous version]`, where a
//! version is, in order (`str`/`bytes` = u32 length + bytes):
//!
//! | field               | encoding      | meaning                                       |
//! |---------------------|---------------|-----------------------------------------------|
//! | bucket, key         | str, str      | what this is the metadata of (checked on read) |
//! | version id          | 16 bytes      | random; names the data folder `_d<hex>`       |
//! | mod time            | u64 ns        | strictly later than the version it replaced   |
//! | size                | u64           | object bytes                                  |
//! | etag                | str           | hex MD5 (quotes added at the HTTP edge)       |
//! | data, parity chunks | u8, u8        | erasure layout the object was written with    |
//! | rotation            | u8            | placement rotation (chunk i on drive i+rot)   |
//! | stripe size         | u32           | object bytes per stripe                       |
//! | checksum            | u8 code (0=none) + bytes | S3 flexible checksum of the body   |
//! | headers             | u16 n + n×(str, str) | content-type etc. and x-amz-meta-*     |
//! | storage             | u8            | 0 = inline, 1 = part file `part.1`            |
//! | inline chunk        | bytes + u64 CRC-64/NVME | this drive's chunk (inline only)    |

use crate::checksum::{Checksum, ChecksumAlgorithm};
use crate::codec::{DecodeError, Reader, Writer, open_record};

const MAGIC: &[u8; 8] = b"SHOALMTA";
const VERSION: u16 = 1;

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
    /// Content headers (lowercase names) and user metadata (`x-amz-meta-*`), in order.
    pub headers: Vec<(String, String)>,
    pub inline: bool,
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
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.u8(self.chunk_index as u8);
        write_version(&mut w, &self.info, &self.inline_chunk);
        match &self.previous {
            Some(p) => write_version(w.u8(1), &p.info, &p.inline_chunk),
            None => {
                w.u8(0);
            }
        }
        w.finish(MAGIC, VERSION)
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (version, mut r) = open_record(bytes, MAGIC)?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let chunk_index = r.u8()? as usize;
        let (info, inline_chunk) = read_version(&mut r)?;
        let previous = match r.u8()? {
            0 => None,
            1 => {
                let (info, inline_chunk) = read_version(&mut r)?;
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
    w.u16(u16::try_from(info.headers.len()).expect("header count bounded"));
    for (name, value) in &info.headers {
        w.str(name).str(value);
    }
    w.u8(u8::from(!info.inline));
    w.bytes(inline_chunk)
        .u64(shoal_erasure::bitrot::crc64_nvme(inline_chunk));
}

fn read_version(r: &mut Reader<'_>) -> Result<(ObjectInfo, Vec<u8>), DecodeError> {
    let bucket = r.str()?.to_owned();
    let key = r.str()?.to_owned();
    let version_id = r.array()?;
    let (mod_time_unix_nanos, size_bytes) = (r.u64()?, r.u64()?);
    let etag = r.str()?.to_owned();
    let (data_chunks, parity_chunks, rotation) =
        (r.u8()? as usize, r.u8()? as usize, r.u8()? as usize);
    let stripe_size_bytes = r.u32()? as usize;
    let checksum = decode_checksum(r)?;
    let header_count = r.u16()?;
    let mut headers = Vec::with_capacity(usize::from(header_count.min(64)));
    for _ in 0..header_count {
        headers.push((r.str()?.to_owned(), r.str()?.to_owned()));
    }
    let inline = match r.u8()? {
        0 => true,
        1 => false,
        _ => return Err(DecodeError::Invalid("storage kind")),
    };
    let inline_chunk = r.bytes()?.to_vec();
    if r.u64()? != shoal_erasure::bitrot::crc64_nvme(&inline_chunk) {
        return Err(DecodeError::ChecksumMismatch);
    }
    if data_chunks == 0 || rotation >= data_chunks + parity_chunks || stripe_size_bytes == 0 {
        return Err(DecodeError::Invalid("erasure fields"));
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
        headers,
        inline,
    };
    Ok((info, inline_chunk))
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
                headers: vec![("content-type".into(), "text/plain".into())],
                inline: true,
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
        let bytes = meta.encode();
        assert_eq!(DriveMeta::decode(&bytes), Ok(meta));
        for bit in (0..bytes.len() * 8).step_by(7) {
            let mut bad = bytes.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(DriveMeta::decode(&bad).is_err(), "bit {bit}");
        }
    }

    /// Frozen encoding: version 1 files written today must decode forever.
    #[test]
    fn golden_encoding() {
        // SHA-256, not CRC: a CRC over a record that ends in its own CRC is a constant.
        use sha2::Digest as _;
        let mut meta = sample();
        let mut older = meta.info.clone();
        older.version_id = [1; 16];
        meta.previous = Some(PreviousVersion {
            info: older,
            inline_chunk: b"old".to_vec(),
        });
        let digest = hex::encode(sha2::Sha256::digest(meta.encode()));
        assert_eq!(digest, GOLDEN_META_SHA256);
    }

    const GOLDEN_META_SHA256: &str =
        "a45b127d4cfab4a4f8fed1ecd29c02829099ed36e0b205c72cdd622df151c0b4";
}
