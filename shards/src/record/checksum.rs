//! Body digests computed in the single pass over a PUT's bytes: MD5 for the ETag (the
//! S3 contract) and, when the client asks, one S3 flexible checksum (CRC-32, CRC-32C,
//! CRC-64/NVME, SHA-1, SHA-256).
//!
//! Invariant: each byte of a body is fed to `BodyHasher::update` exactly once, in order.
//! A hasher made by [`BodyHasher::without_md5`] leaves the MD5 to the body's source
//! (a request body computes it beside the SHA-256 it verifies, in the same pass) and
//! must be finished with that MD5.

use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

/// The S3 flexible checksum algorithms, spelled as in `x-amz-checksum-*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// The stable number stored in metadata.
    pub fn code(self) -> u8 {
        match self {
            ChecksumAlgorithm::Crc32 => 1,
            ChecksumAlgorithm::Crc32c => 2,
            ChecksumAlgorithm::Crc64Nvme => 3,
            ChecksumAlgorithm::Sha1 => 4,
            ChecksumAlgorithm::Sha256 => 5,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.code() == code)
    }

    /// Lowercase name as in the header suffix (`x-amz-checksum-crc64nvme`).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "crc32",
            ChecksumAlgorithm::Crc32c => "crc32c",
            ChecksumAlgorithm::Crc64Nvme => "crc64nvme",
            ChecksumAlgorithm::Sha1 => "sha1",
            ChecksumAlgorithm::Sha256 => "sha256",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// A checksum value (raw bytes, big-endian for CRCs as S3 encodes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: ChecksumAlgorithm,
    pub value: Vec<u8>,
}

enum Running {
    Crc(ChecksumAlgorithm, CrcDigest),
    Sha1(Sha1),
    Sha256(Sha256),
}

/// MD5 plus an optional flexible checksum, fed once per byte.
pub struct BodyHasher {
    /// `None` when the body's source computes the MD5.
    md5: Option<Md5>,
    extra: Option<Running>,
    len_bytes: u64,
}

impl BodyHasher {
    pub fn new(checksum: Option<ChecksumAlgorithm>) -> Self {
        let extra = checksum.map(|algorithm| match algorithm {
            ChecksumAlgorithm::Crc32 => {
                Running::Crc(algorithm, CrcDigest::new(CrcAlgorithm::Crc32IsoHdlc))
            }
            ChecksumAlgorithm::Crc32c => {
                Running::Crc(algorithm, CrcDigest::new(CrcAlgorithm::Crc32Iscsi))
            }
            ChecksumAlgorithm::Crc64Nvme => {
                Running::Crc(algorithm, CrcDigest::new(CrcAlgorithm::Crc64Nvme))
            }
            ChecksumAlgorithm::Sha1 => Running::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => Running::Sha256(Sha256::new()),
        });
        Self {
            md5: Some(Md5::new()),
            extra,
            len_bytes: 0,
        }
    }

    /// A hasher for a body whose source computes the MD5 itself.
    pub fn without_md5(checksum: Option<ChecksumAlgorithm>) -> Self {
        Self {
            md5: None,
            ..Self::new(checksum)
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        if let Some(md5) = &mut self.md5 {
            md5.update(bytes);
        }
        self.len_bytes += bytes.len() as u64;
        match &mut self.extra {
            Some(Running::Crc(_, d)) => d.update(bytes),
            Some(Running::Sha1(h)) => h.update(bytes),
            Some(Running::Sha256(h)) => h.update(bytes),
            None => {}
        }
    }

    pub fn len_bytes(&self) -> u64 {
        self.len_bytes
    }

    /// (MD5, flexible checksum).
    pub fn finish(self) -> ([u8; 16], Option<Checksum>) {
        self.finish_with(None)
    }

    /// (MD5, flexible checksum), the MD5 being `source_md5` if this hasher was made
    /// without one: exactly one of the two must be there.
    pub fn finish_with(self, source_md5: Option<[u8; 16]>) -> ([u8; 16], Option<Checksum>) {
        let md5 = match (self.md5, source_md5) {
            (Some(md5), None) => md5.finalize().into(),
            (None, Some(md5)) => md5,
            (mine, theirs) => panic!(
                "one MD5 per body: hasher {}, source {}",
                mine.is_some(),
                theirs.is_some()
            ),
        };
        let checksum = self.extra.map(|running| match running {
            Running::Crc(algorithm, d) => {
                let value = d.finalize();
                let value = if algorithm == ChecksumAlgorithm::Crc64Nvme {
                    value.to_be_bytes().to_vec()
                } else {
                    (value as u32).to_be_bytes().to_vec()
                };
                Checksum { algorithm, value }
            }
            Running::Sha1(h) => Checksum {
                algorithm: ChecksumAlgorithm::Sha1,
                value: h.finalize().to_vec(),
            },
            Running::Sha256(h) => Checksum {
                algorithm: ChecksumAlgorithm::Sha256,
                value: h.finalize().to_vec(),
            },
        });
        (md5, checksum)
    }
}

impl ChecksumAlgorithm {
    /// The CRC parameters of a CRC algorithm (`None` for SHA-1 and SHA-256).
    fn crc(self) -> Option<CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => None,
        }
    }

    /// Length of a raw checksum value.
    pub fn len_bytes(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Whether a full-object checksum can be combined from part checksums (CRCs).
    pub fn combinable(self) -> bool {
        self.crc().is_some()
    }

    /// The checksum of `bytes` in this algorithm.
    pub fn digest(self, bytes: &[u8]) -> Vec<u8> {
        let mut hasher = BodyHasher::new(Some(self));
        hasher.update(bytes);
        hasher.finish().1.expect("an algorithm was given").value
    }
}

/// A multipart object's composite checksum: the checksum of the concatenated raw part
/// checksums (S3 sends it as `<base64>-<parts>`).
pub fn composite<'a>(
    algorithm: ChecksumAlgorithm,
    part_values: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<u8> {
    let mut hasher = BodyHasher::new(Some(algorithm));
    for value in part_values {
        hasher.update(value);
    }
    hasher.finish().1.expect("an algorithm was given").value
}

/// A multipart object's full-object CRC from its parts' CRCs and sizes, as if computed
/// over the whole body; `None` for SHA algorithms or malformed part values.
pub fn combine_full<'a>(
    algorithm: ChecksumAlgorithm,
    parts: impl IntoIterator<Item = (&'a [u8], u64)>,
) -> Option<Vec<u8>> {
    let crc = algorithm.crc()?;
    let wide = algorithm == ChecksumAlgorithm::Crc64Nvme;
    let mut combined: Option<u64> = None;
    for (value, len_bytes) in parts {
        let part = if wide {
            u64::from_be_bytes(value.try_into().ok()?)
        } else {
            u64::from(u32::from_be_bytes(value.try_into().ok()?))
        };
        combined = Some(match combined {
            None => part,
            Some(so_far) => crc_fast::checksum_combine(crc, so_far, part, len_bytes),
        });
    }
    let value = combined.unwrap_or_else(|| crc_fast::checksum(crc, b""));
    Some(if wide {
        value.to_be_bytes().to_vec()
    } else {
        (value as u32).to_be_bytes().to_vec()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full-object CRC combined from parts equals the CRC of the whole body; the
    /// composite form is the checksum of the concatenated part checksums.
    #[test]
    fn multipart_checksums() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let cuts = [0, 1, 33_333, 33_334, 99_999, 100_000];
        for algorithm in ChecksumAlgorithm::ALL {
            let parts: Vec<(Vec<u8>, u64)> = cuts
                .windows(2)
                .map(|w| (algorithm.digest(&body[w[0]..w[1]]), (w[1] - w[0]) as u64))
                .collect();
            let combined = combine_full(algorithm, parts.iter().map(|(v, l)| (v.as_slice(), *l)));
            if algorithm.combinable() {
                assert_eq!(combined, Some(algorithm.digest(&body)), "{algorithm:?}");
            } else {
                assert_eq!(combined, None);
            }
            let joined: Vec<u8> = parts.iter().flat_map(|(v, _)| v.clone()).collect();
            assert_eq!(
                composite(algorithm, parts.iter().map(|(v, _)| v.as_slice())),
                algorithm.digest(&joined)
            );
        }
    }

    /// Standard check values for "123456789", fed in two pieces.
    #[test]
    fn check_values() {
        let expect = [
            (ChecksumAlgorithm::Crc32, "cbf43926"),
            (ChecksumAlgorithm::Crc32c, "e3069283"),
            (ChecksumAlgorithm::Crc64Nvme, "ae8b14860a799888"),
            (
                ChecksumAlgorithm::Sha1,
                "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
            ),
            (
                ChecksumAlgorithm::Sha256,
                "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225",
            ),
        ];
        for (algorithm, hex_value) in expect {
            let mut h = BodyHasher::new(Some(algorithm));
            h.update(b"1234");
            h.update(b"56789");
            let (md5, checksum) = h.finish();
            assert_eq!(hex::encode(md5), "25f9e794323b453885f5181f1b624d0b");
            let value = checksum.unwrap().value;
            assert_eq!(value.len(), algorithm.len_bytes(), "{algorithm:?}");
            assert_eq!(hex::encode(value), hex_value, "{algorithm:?}");
            assert_eq!(
                ChecksumAlgorithm::from_code(algorithm.code()),
                Some(algorithm)
            );
            assert_eq!(
                ChecksumAlgorithm::from_name(algorithm.name()),
                Some(algorithm)
            );
        }
    }
}
