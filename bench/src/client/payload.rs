//! What an upload carries: the random bytes of a benchmark body, computed once per
//! client shard with everything that depends only on them (the SHA-256 of each
//! aws-chunked chunk, the Content-MD5 and the flexible checksum of the whole body), and
//! [`Payload`], the first `len` bytes of such a body as one request sends them.
//!
//! Invariants: a payload of the body's full length reuses every precomputed value (no
//! hashing on the measured path); a shorter payload (`--obj.randsize`) reuses the hashes
//! of its whole chunks and hashes only its last partial chunk, but its MD5 and checksum
//! are computed for it (prefix hashes cannot be derived from the whole's).
//!
//! [`Bodies`] says which body an upload carries: by default every object gets bytes of
//! its own, generated from a seed derived from its name (so no two objects of a run
//! share content a deduplicating server could store once, and any object's bytes can be
//! made again from its name); `--same-bytes` sends prefixes of one shared body instead.
//!
//! Checksum values are as S3 sends them: base64 of the big-endian CRC (4 bytes for
//! CRC-32 and CRC-32C, 8 for CRC-64/NVME) or of the digest (SHA-1, SHA-256).

use std::borrow::Cow;

use bytes::Bytes;
use md5::{Digest, Md5};
use sha2::Sha256;

use crate::client::signer::{STREAMING_CHUNK_BYTES, chunk_hashes};

/// A flexible checksum algorithm, as `--checksum` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

/// `--checksum`: the algorithm, and for multipart uploads whether the checksum covers
/// the full object (`-FO`; always so for CRC64NVME) or is a checksum of part checksums.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChecksumChoice {
    pub algorithm: ChecksumAlgorithm,
    pub full_object: bool,
}

impl ChecksumAlgorithm {
    /// Upper-case name as in `x-amz-checksum-algorithm` and `<ChecksumCRC32C>`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header (and trailer) name, `x-amz-checksum-crc32c`.
    pub fn header(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// The base64 checksum of `data`.
    pub fn compute(self, data: &[u8]) -> String {
        use crc_fast::CrcAlgorithm;
        let crc32 = |algorithm| (crc_fast::checksum(algorithm, data) as u32).to_be_bytes();
        match self {
            ChecksumAlgorithm::Crc32 => encode(&crc32(CrcAlgorithm::Crc32IsoHdlc)),
            ChecksumAlgorithm::Crc32c => encode(&crc32(CrcAlgorithm::Crc32Iscsi)),
            ChecksumAlgorithm::Crc64Nvme => {
                encode(&shoal_erasure::bitrot::crc64_nvme(data).to_be_bytes())
            }
            ChecksumAlgorithm::Sha1 => encode(&sha1::Sha1::digest(data)),
            ChecksumAlgorithm::Sha256 => encode(&Sha256::digest(data)),
        }
    }
}

fn encode(bytes: &[u8]) -> String {
    shoal_http::base64::encode(bytes)
}

/// Parses `--checksum`: CRC32, CRC32C (each with an optional `-FO`), CRC64NVME, SHA1,
/// SHA256; any case.
pub fn parse_checksum(text: &str) -> Result<ChecksumChoice, String> {
    let upper = text.trim().to_ascii_uppercase();
    let (name, full_object) = match upper.strip_suffix("-FO") {
        Some(name) => (name, true),
        None => (upper.as_str(), false),
    };
    let algorithm = match name {
        "CRC32" => ChecksumAlgorithm::Crc32,
        "CRC32C" => ChecksumAlgorithm::Crc32c,
        "CRC64NVME" => ChecksumAlgorithm::Crc64Nvme,
        "SHA1" => ChecksumAlgorithm::Sha1,
        "SHA256" => ChecksumAlgorithm::Sha256,
        _ => {
            return Err(format!(
                "`{text}`: use CRC32, CRC32C, CRC32-FO, CRC32C-FO, CRC64NVME, SHA1 or SHA256"
            ));
        }
    };
    if full_object && !matches!(name, "CRC32" | "CRC32C") {
        return Err(format!("`{text}`: -FO applies to CRC32 and CRC32C only"));
    }
    Ok(ChecksumChoice {
        algorithm,
        // S3 computes CRC-64/NVME over the full object only.
        full_object: full_object || algorithm == ChecksumAlgorithm::Crc64Nvme,
    })
}

/// Random body bytes and what depends only on them.
pub struct ObjectBody {
    pub data: Bytes,
    hashes: Vec<[u8; 32]>,
    md5: Option<String>,
    checksum: Option<(ChecksumAlgorithm, String)>,
}

impl ObjectBody {
    /// `size_bytes` of incompressible bytes from a seeded generator, with the MD5 and
    /// the checksum of the whole computed when asked for.
    pub fn random(
        size_bytes: usize,
        seed: u64,
        md5: bool,
        checksum: Option<ChecksumAlgorithm>,
    ) -> ObjectBody {
        use rand::{RngCore, SeedableRng};
        let mut data = vec![0u8; size_bytes];
        rand::rngs::SmallRng::seed_from_u64(seed).fill_bytes(&mut data);
        let hashes = chunk_hashes(&data);
        ObjectBody {
            md5: md5.then(|| encode(&Md5::digest(&data))),
            checksum: checksum.map(|algorithm| (algorithm, algorithm.compute(&data))),
            data: Bytes::from(data),
            hashes,
        }
    }

    /// The whole body as one upload sends it.
    pub fn whole(&self) -> Payload<'_> {
        self.prefix(self.data.len())
    }

    /// The first `len` bytes as one upload sends them.
    pub fn prefix(&self, len: usize) -> Payload<'_> {
        assert!(len <= self.data.len(), "a payload is a prefix of its body");
        let whole = len == self.data.len();
        let full_chunks = len / STREAMING_CHUNK_BYTES;
        let last_bytes = len % STREAMING_CHUNK_BYTES;
        let last_hash = match (last_bytes, whole) {
            (0, _) => None,
            (_, true) => Some(self.hashes[full_chunks]),
            (_, false) => {
                Some(Sha256::digest(&self.data[full_chunks * STREAMING_CHUNK_BYTES..len]).into())
            }
        };
        let prefix = &self.data[..len];
        let md5 = self.md5.as_deref().map(|value| {
            if whole {
                Cow::Borrowed(value)
            } else {
                Cow::Owned(encode(&Md5::digest(prefix)))
            }
        });
        let checksum = self.checksum.as_ref().map(|(algorithm, value)| {
            let value = if whole {
                Cow::Borrowed(value.as_str())
            } else {
                Cow::Owned(algorithm.compute(prefix))
            };
            (*algorithm, value)
        });
        Payload {
            data: self.data.slice(..len),
            full_chunk_hashes: &self.hashes[..full_chunks],
            last_hash,
            md5,
            checksum,
        }
    }
}

/// Where upload bodies come from: a body per object (the default), or one body for all.
pub struct Bodies {
    /// `--same-bytes`: every upload sends a prefix of this body.
    shared: Option<ObjectBody>,
    md5: bool,
    checksum: Option<ChecksumAlgorithm>,
    run_seed: u64,
}

/// The body of one upload: borrowed from the shared one, or made for the object.
pub enum Body<'a> {
    Shared(&'a ObjectBody),
    Own(ObjectBody),
}

impl Bodies {
    /// A body of its own for every object, from a seed mixed of `run_seed` and the
    /// object's name.
    pub fn unique(run_seed: u64, md5: bool, checksum: Option<ChecksumAlgorithm>) -> Bodies {
        Bodies {
            shared: None,
            md5,
            checksum,
            run_seed,
        }
    }

    /// Prefixes of one body for every upload (what `--same-bytes` asks for).
    pub fn same(body: ObjectBody) -> Bodies {
        Bodies {
            shared: Some(body),
            md5: false,
            checksum: None,
            run_seed: 0,
        }
    }

    /// The body object `name` of `size_bytes` carries.
    pub fn for_object(&self, name: &str, size_bytes: usize) -> Body<'_> {
        match &self.shared {
            Some(body) => Body::Shared(body),
            None => Body::Own(ObjectBody::random(
                size_bytes,
                object_seed(self.run_seed, name),
                self.md5,
                self.checksum,
            )),
        }
    }
}

impl Body<'_> {
    /// The first `size_bytes` as one upload sends them (all of an own body).
    pub fn payload(&self, size_bytes: usize) -> Payload<'_> {
        match self {
            Body::Shared(body) => body.prefix(size_bytes),
            Body::Own(body) => body.prefix(size_bytes),
        }
    }
}

/// The seed of an object's bytes: FNV-1a over its name, started from the run's seed.
/// Distinct names give distinct seeds (with overwhelming probability), and a name
/// always gives the same one, so a reader can regenerate the bytes it expects.
pub fn object_seed(run_seed: u64, name: &str) -> u64 {
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    name.bytes()
        .fold(0xcbf2_9ce4_8422_2325 ^ run_seed, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
        })
}

/// One upload's bytes and their hashes.
#[derive(Clone)]
pub struct Payload<'a> {
    pub data: Bytes,
    /// SHA-256 of each whole 64 KiB chunk.
    pub full_chunk_hashes: &'a [[u8; 32]],
    /// SHA-256 of the last, partial chunk, if the length is not a multiple of 64 KiB.
    pub last_hash: Option<[u8; 32]>,
    /// Base64 Content-MD5, when `--md5`.
    pub md5: Option<Cow<'a, str>>,
    /// The checksum to send, when `--checksum`.
    pub checksum: Option<(ChecksumAlgorithm, Cow<'a, str>)>,
}

impl Payload<'_> {
    /// The SHA-256 of each aws-chunked chunk, in order.
    pub fn chunk_hashes(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.full_chunk_hashes.iter().chain(self.last_hash.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prefix's hashes and checksums equal those computed from its bytes alone, and
    /// the whole body reuses the precomputed ones.
    #[test]
    fn prefixes_hash_like_their_bytes() {
        let body = ObjectBody::random(200_000, 1, true, Some(ChecksumAlgorithm::Crc32c));
        for len in [0, 1, 65_536, 65_537, 131_072, 199_999, 200_000] {
            let payload = body.prefix(len);
            let bytes = &body.data[..len];
            let expected: Vec<[u8; 32]> = chunk_hashes(bytes);
            let got: Vec<[u8; 32]> = payload.chunk_hashes().copied().collect();
            assert_eq!(got, expected, "{len}");
            assert_eq!(payload.md5.unwrap(), encode(&Md5::digest(bytes)));
            let (algorithm, value) = payload.checksum.unwrap();
            assert_eq!(value, ChecksumAlgorithm::Crc32c.compute(bytes));
            assert_eq!(algorithm, ChecksumAlgorithm::Crc32c);
        }
        assert!(ObjectBody::random(10, 1, false, None).whole().md5.is_none());
    }

    /// Two objects of a run get different bytes, and an object's bytes are the same
    /// each time they are made from its name; `--same-bytes` shares one body.
    #[test]
    fn unique_bodies_differ_and_are_reproducible() {
        let bodies = Bodies::unique(7, false, None);
        let a = bodies.for_object("w0/p1.rnd", 8192);
        let b = bodies.for_object("w0/p2.rnd", 8192);
        assert_ne!(a.payload(8192).data, b.payload(8192).data);
        let a_again = bodies.for_object("w0/p1.rnd", 8192);
        assert_eq!(a.payload(8192).data, a_again.payload(8192).data);
        let regenerated = ObjectBody::random(8192, object_seed(7, "w0/p1.rnd"), false, None);
        assert_eq!(regenerated.data, a.payload(8192).data);
        // Every 4 KiB block differs too: a block-deduplicating server keeps them all.
        for (x, y) in a
            .payload(8192)
            .data
            .chunks(4096)
            .zip(b.payload(8192).data.chunks(4096))
        {
            assert_ne!(x, y);
        }
        let same = Bodies::same(ObjectBody::random(8192, 1, false, None));
        let (c, d) = (same.for_object("x", 4096), same.for_object("y", 4096));
        assert_eq!(c.payload(4096).data, d.payload(4096).data);
    }

    /// Checksums match the check values of their algorithms ("123456789").
    #[test]
    fn checksums_match_check_values() {
        let b64 = |hex_text: &str| encode(&hex::decode(hex_text).unwrap());
        let data = b"123456789";
        assert_eq!(ChecksumAlgorithm::Crc32.compute(data), b64("cbf43926"));
        assert_eq!(ChecksumAlgorithm::Crc32c.compute(data), b64("e3069283"));
        assert_eq!(
            ChecksumAlgorithm::Crc64Nvme.compute(data),
            b64("ae8b14860a799888")
        );
        assert_eq!(
            ChecksumAlgorithm::Sha1.compute(data),
            b64("f7c3bc1d808e04732adf679965ccc34ca7ae3441")
        );
    }

    /// `--checksum` takes warp's names in any case; -FO only where it means something.
    #[test]
    fn parses_checksum_names() {
        let choice = parse_checksum("crc32c").unwrap();
        assert_eq!(choice.algorithm, ChecksumAlgorithm::Crc32c);
        assert!(!choice.full_object);
        assert!(parse_checksum("CRC32-FO").unwrap().full_object);
        assert!(parse_checksum("CRC64NVME").unwrap().full_object);
        assert!(parse_checksum("SHA256-FO").is_err());
        assert!(parse_checksum("md5").is_err());
    }
}
