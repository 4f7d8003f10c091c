//! Bitrot checksums: CRC-64/NVME, the checksum S3 calls `crc64nvme`, computed by
//! `crc-fast` with the best SIMD kernel for this CPU (chosen at run time).
//!
//! Every chunk block carries one; every read verifies it. One-shot and streaming forms
//! always agree: `Crc64Nvme` over any split of the bytes equals `crc64_nvme` of all.

use crc_fast::{CrcAlgorithm, Digest};

/// CRC-64/NVME of `bytes`.
pub fn crc64_nvme(bytes: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Nvme, bytes)
}

/// Streaming CRC-64/NVME: `new`, then `update` with consecutive pieces, then `finish`.
#[derive(Clone)]
pub struct Crc64Nvme {
    digest: Digest,
}

impl Crc64Nvme {
    pub fn new() -> Crc64Nvme {
        Crc64Nvme {
            digest: Digest::new(CrcAlgorithm::Crc64Nvme),
        }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
    }

    /// The checksum of every byte passed to `update` so far.
    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}

impl Default for Crc64Nvme {
    fn default() -> Crc64Nvme {
        Crc64Nvme::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The standard check value of CRC-64/NVME over "123456789".
    #[test]
    fn check_value() {
        assert_eq!(crc64_nvme(b"123456789"), 0xAE8B_1486_0A79_9888);
        assert_eq!(crc64_nvme(b""), 0);
    }

    /// Streaming over any split equals the one-shot checksum.
    #[test]
    fn streaming_equals_one_shot() {
        let bytes: Vec<u8> = (0..10_007u32).map(|i| (i * 31 + i / 7) as u8).collect();
        let expected = crc64_nvme(&bytes);
        for split in [0, 1, 7, 64, 4096, 10_006, 10_007] {
            let mut crc = Crc64Nvme::new();
            crc.update(&bytes[..split]);
            crc.update(&bytes[split..]);
            assert_eq!(crc.finish(), expected, "split at {split}");
        }
    }
}
