//! The upload record (`_upload`, identical on every drive of the set) and upload ids:
//! 32 lowercase hex digits, the first 16 the creation time in nanoseconds, so an id is
//! a safe folder name, ids of one key sort by age, and abandoned uploads are found by
//! name alone.

use crate::error::{Error, Result};
use crate::record::checksum::ChecksumAlgorithm;
use crate::record::codec::{DecodeError, Writer, open_record};
use crate::record::meta::ChecksumType;

pub(super) const UPLOAD_MAGIC: &[u8; 8] = b"SHOALUPL";
pub(super) const UPLOAD_VERSION: u16 = 1;
/// Hex digits of an upload id: 16 of creation time, 16 random.
pub(super) const UPLOAD_ID_LEN: usize = 32;

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

/// The version id of the object an upload completes into: the upload id's 16 bytes.
pub(super) fn upload_version_id(upload_id: &str) -> Result<[u8; 16]> {
    hex::decode(upload_id)
        .ok()
        .filter(|_| valid_upload_id(upload_id))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::NoSuchUpload)
}

/// True for ids this server could have issued: lowercase hex of the right length, so an
/// id is also a safe folder name.
pub(super) fn valid_upload_id(id: &str) -> bool {
    id.len() == UPLOAD_ID_LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// When an upload was created, from its id.
pub(super) fn upload_id_time(id: &str) -> Option<u64> {
    valid_upload_id(id)
        .then(|| u64::from_str_radix(&id[..16], 16).ok())
        .flatten()
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
}
