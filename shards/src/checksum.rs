//! Body digests computed in the single pass over a PUT's bytes: MD5 for the ETag (the
//! S3 contract) and, when the client asks, one S3 flexible checksum (CRC-32, CRC-32C,
//! CRC-64/NVME, SHA-1, SHA-256).
//!
//! Invariant: each byte of a body is fed to `BodyHasher::update` exactly once, in order.

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
    md5: Md5,
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
            md5: Md5::new(),
            extra,
            len_bytes: 0,
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.md5.update(bytes);
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
        let md5: [u8; 16] = self.md5.finalize().into();
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

#[cfg(test)]
mod tests {
    use super::*;

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
            assert_eq!(
                hex::encode(checksum.unwrap().value),
                hex_value,
                "{algorithm:?}"
            );
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
