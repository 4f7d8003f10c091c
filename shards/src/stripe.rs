//! Stripe geometry: how an object's bytes are cut into stripes and chunks, and where
//! each chunk record sits in a drive's part file. Pure arithmetic.
//!
//! An object of `size` bytes is cut into stripes of `stripe_size` bytes (the last one
//! shorter). A stripe of `len` bytes is split into `k` data chunks of
//! `ceil(len / k)` bytes (the tail zero-padded) plus `m` parity chunks of that length.
//!
//! Part file (`_d<version>/part.1`) on each drive: one record per stripe, back to back,
//! with no file header (the metadata describes it):
//!
//! | bytes          | field                                   |
//! |----------------|-----------------------------------------|
//! | 8              | CRC-64/NVME of the chunk bytes, LE      |
//! | chunk_len(s)   | this drive's chunk of stripe s          |
//!
//! Every stripe but the last has the same chunk length, so record `s` starts at
//! `s * (8 + chunk_len(0))`.

/// Bytes of the per-record bitrot checksum.
pub const RECORD_HEADER_BYTES: usize = 8;

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
