//! Stripe geometry: how an object's bytes are cut into stripes and chunks, where each
//! chunk record sits in a drive's part file, and what a record's checksum binds.
//!
//! An object of `size` bytes is cut into stripes of `stripe_size` bytes (the last one
//! shorter). A stripe of `len` bytes is split into `k` data chunks of
//! `ceil(len / k)` bytes (the tail zero-padded) plus `m` parity chunks of that length.
//!
//! Part file (`_d<version>/part.1`) on each drive: one record per stripe, back to back,
//! with no file header (the metadata describes it):
//!
//! | bytes          | field                                                   |
//! |----------------|---------------------------------------------------------|
//! | 8              | CRC-64/NVME of the chunk bytes ^ owner tag ^ s, LE      |
//! | chunk_len(s)   | this drive's chunk of stripe s                          |
//!
//! Every stripe but the last has the same chunk length, so record `s` starts at
//! `s * (8 + chunk_len(0))`.
//!
//! The owner tag (SipHash-2-4 keyed by the deployment id over bucket, key, data id,
//! part number and chunk index) makes a record say whose it is: a record copied or
//! moved to another object's, version's, part's or chunk's place — or to another
//! stripe of its own file — fails verification like bitrot, and is rebuilt from the
//! other chunks. A CRC is linear, so xoring a constant into it detects exactly the
//! corruptions the plain CRC does; two owners are confused only if their 64-bit tags
//! collide. The tag is computed once per (part, chunk) when a file is opened; per
//! record it costs one xor.

use std::hash::Hasher;

use siphasher::sip::SipHasher24;

use crate::topology::placement::DeploymentId;

/// Bytes of the per-record bitrot checksum.
pub const RECORD_HEADER_BYTES: usize = 8;

/// Who a part file belongs to; every record of it carries this in its checksum.
#[derive(Debug, Clone, Copy)]
pub struct RecordOwner<'a> {
    pub deployment_id: &'a DeploymentId,
    pub bucket: &'a str,
    pub key: &'a str,
    /// The version id, or for a part of a multipart upload the upload id (the parts
    /// are written before the version exists; the version takes the upload id).
    pub data_id: &'a [u8; 16],
    /// 1 for a plain object's single part file.
    pub part_number: u32,
}

impl RecordOwner<'_> {
    /// The tag of every record of chunk `chunk_index` (the drive's position in the
    /// set order, rotated); fields are length-prefixed so no two owners share bytes.
    pub fn chunk_tag(&self, chunk_index: usize) -> u64 {
        let (k0, k1) = self.deployment_id.split_at(8);
        let mut hasher = SipHasher24::new_with_keys(
            u64::from_le_bytes(k0.try_into().expect("8 bytes")),
            u64::from_le_bytes(k1.try_into().expect("8 bytes")),
        );
        for field in [self.bucket.as_bytes(), self.key.as_bytes()] {
            hasher.write(&(field.len() as u64).to_le_bytes());
            hasher.write(field);
        }
        hasher.write(self.data_id);
        hasher.write(&self.part_number.to_le_bytes());
        hasher.write(&(chunk_index as u64).to_le_bytes());
        hasher.finish()
    }
}

/// The checksum stored in (and expected of) stripe `stripe`'s record of a chunk whose
/// tag is `chunk_tag`.
pub fn record_checksum(chunk_tag: u64, stripe: u64, chunk: &[u8]) -> u64 {
    shoal_erasure::bitrot::crc64_nvme(chunk) ^ chunk_tag ^ stripe
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub size_bytes: u64,
    pub stripe_size_bytes: usize,
    pub data_chunks: usize,
}

impl Geometry {
    pub fn new(size_bytes: u64, stripe_size_bytes: usize, data_chunks: usize) -> Self {
        assert!(stripe_size_bytes > 0 && data_chunks > 0);
        Self {
            size_bytes,
            stripe_size_bytes,
            data_chunks,
        }
    }

    pub fn stripe_count(&self) -> u64 {
        self.size_bytes.div_ceil(self.stripe_size_bytes as u64)
    }

    /// Object bytes in stripe `stripe`.
    pub fn stripe_len(&self, stripe: u64) -> usize {
        assert!(stripe < self.stripe_count());
        let start = stripe * self.stripe_size_bytes as u64;
        (self.size_bytes - start).min(self.stripe_size_bytes as u64) as usize
    }

    /// Bytes of each chunk of stripe `stripe`.
    pub fn chunk_len(&self, stripe: u64) -> usize {
        chunk_len_for(self.stripe_len(stripe), self.data_chunks)
    }

    /// Offset of stripe `stripe`'s record in a part file.
    pub fn record_offset(&self, stripe: u64) -> u64 {
        let full = chunk_len_for(self.stripe_size_bytes, self.data_chunks);
        stripe * (RECORD_HEADER_BYTES + full) as u64
    }

    /// Length of a complete part file.
    pub fn part_file_len(&self) -> u64 {
        match self.stripe_count() {
            0 => 0,
            n => self.record_offset(n - 1) + (RECORD_HEADER_BYTES + self.chunk_len(n - 1)) as u64,
        }
    }
}

/// Chunk length for a stripe of `stripe_len` bytes over `data_chunks` chunks.
pub fn chunk_len_for(stripe_len: usize, data_chunks: usize) -> usize {
    stripe_len.div_ceil(data_chunks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The sizes the issue names produce the expected stripe and record layout.
    #[test]
    fn known_geometry() {
        let mib = 1 << 20;
        let g = Geometry::new(10 * mib as u64 + 17, mib, 12);
        assert_eq!(g.stripe_count(), 11);
        assert_eq!(g.chunk_len(0), 87_382);
        assert_eq!(g.stripe_len(10), 17);
        assert_eq!(g.chunk_len(10), 2);
        assert_eq!(g.record_offset(10), 10 * 87_390);
        assert_eq!(g.part_file_len(), 10 * 87_390 + 10);
        assert_eq!(Geometry::new(0, mib, 4).part_file_len(), 0);
    }

    fn owner_tag(change: impl FnOnce(&mut (DeploymentId, &str, &str, [u8; 16], u32))) -> u64 {
        let mut fields: (DeploymentId, &str, &str, [u8; 16], u32) =
            ([7; 16], "bkt", "a/b", [1; 16], 1);
        change(&mut fields);
        let (deployment_id, bucket, key, data_id, part_number) = fields;
        RecordOwner {
            deployment_id: &deployment_id,
            bucket,
            key,
            data_id: &data_id,
            part_number,
        }
        .chunk_tag(0)
    }

    /// Every field of the owner changes the tag, and bucket/key boundaries count; the
    /// tag of one owner is frozen (part files written today must verify forever).
    #[test]
    fn owner_tags_differ() {
        let base = owner_tag(|_| {});
        let changed = [
            owner_tag(|f| f.0[0] = 8),
            owner_tag(|f| f.1 = "bkt2"),
            owner_tag(|f| f.2 = "a/c"),
            owner_tag(|f| (f.1, f.2) = ("bkta", "/b")),
            owner_tag(|f| f.3[15] = 2),
            owner_tag(|f| f.4 = 2),
        ];
        for (i, tag) in changed.iter().enumerate() {
            assert_ne!(*tag, base, "field change {i}");
        }
        let owner = RecordOwner {
            deployment_id: &[7; 16],
            bucket: "bkt",
            key: "a/b",
            data_id: &[1; 16],
            part_number: 1,
        };
        assert_ne!(owner.chunk_tag(0), owner.chunk_tag(1));
        assert_eq!(base, GOLDEN_CHUNK_TAG);
        let chunk = b"chunk bytes";
        assert_ne!(
            record_checksum(base, 0, chunk),
            record_checksum(base, 1, chunk)
        );
    }

    const GOLDEN_CHUNK_TAG: u64 = 6_561_581_179_205_838_969;

    proptest! {
        /// Records tile the part file exactly and chunks cover each stripe.
        #[test]
        fn records_tile(size in 0u64..50_000_000, k in 1usize..=16) {
            let g = Geometry::new(size, 1 << 20, k);
            let mut offset = 0;
            let mut covered = 0u64;
            for s in 0..g.stripe_count() {
                prop_assert_eq!(g.record_offset(s), offset);
                prop_assert!(g.chunk_len(s) * k >= g.stripe_len(s));
                prop_assert!(g.chunk_len(s) * k < g.stripe_len(s) + k);
                offset += (RECORD_HEADER_BYTES + g.chunk_len(s)) as u64;
                covered += g.stripe_len(s) as u64;
            }
            prop_assert_eq!(offset, g.part_file_len());
            prop_assert_eq!(covered, size);
        }
    }
}
