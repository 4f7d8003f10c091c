//! The ISA-L engine: Intel ISA-L's Reed-Solomon kernels (GFNI / AVX-512 / AVX2, chosen
//! by ISA-L at run time) through the safe wrapper in `isal_ffi`.
//!
//! Encode tables are built once in `new`; decode tables are cached per loss pattern
//! (sources + wanted chunks) in a bounded `DecodeCache`. Neither encode nor a cached
//! decode allocates. The generator comes from ISA-L's own `gf_gen_cauchy1_matrix`, and
//! the tests prove it equals `matrix::cauchy_generator` byte for byte.

use crate::decode_cache::DecodeCache;
use crate::engine::Engine;
use crate::engine::isal_ffi::{self, TABLE_BYTES_PER_COEFFICIENT};
use crate::matrix::{self, GENERATOR_BYTES_MAX, Loss, SQUARE_BYTES_MAX};

/// Loss patterns whose decode tables are kept per coder.
const DECODE_CACHE_ENTRIES_MAX: usize = 64;

pub(crate) struct IsaLEngine {
    data_chunks: usize,
    generator: [u8; GENERATOR_BYTES_MAX],
    encode_tables: Box<[u8]>,
    decode_cache: DecodeCache,
}

impl IsaLEngine {
    pub fn new(data_chunks: usize, parity_chunks: usize) -> IsaLEngine {
        let k = data_chunks;
        let mut generator = [0u8; GENERATOR_BYTES_MAX];
        isal_ffi::gen_cauchy1_matrix(k + parity_chunks, k, &mut generator);
        let table_bytes = k * parity_chunks * TABLE_BYTES_PER_COEFFICIENT;
        let mut encode_tables = vec![0u8; table_bytes].into_boxed_slice();
        isal_ffi::init_tables(k, parity_chunks, &generator[k * k..], &mut encode_tables);
        IsaLEngine {
            data_chunks,
            generator,
            encode_tables,
            // At most m chunks are ever wanted, so m rows of tables fit every pattern.
            decode_cache: DecodeCache::new(DECODE_CACHE_ENTRIES_MAX, table_bytes),
        }
    }

    #[cfg(test)]
    pub fn generator(&self) -> &[u8] {
        &self.generator
    }
}

impl Engine for IsaLEngine {
    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) {
        assert_eq!(data.len(), self.data_chunks);
        if parity.is_empty() || data[0].is_empty() {
            return;
        }
        isal_ffi::encode_data(&self.encode_tables, data, parity);
    }

    fn decode(&mut self, loss: Loss, sources: &[&[u8]], outputs: &mut [&mut [u8]]) {
        let k = self.data_chunks;
        assert_eq!(sources.len(), k);
        assert_eq!(outputs.len(), loss.wanted_count());
        if outputs.is_empty() || sources[0].is_empty() {
            return;
        }
        let generator = &self.generator;
        let tables = self.decode_cache.get_or_fill(loss.key(), |tables| {
            let mut rows = [0u8; SQUARE_BYTES_MAX];
            matrix::decode_rows(generator, k, loss, isal_ffi::invert_matrix, &mut rows);
            isal_ffi::init_tables(k, loss.wanted_count(), &rows, tables);
        });
        isal_ffi::encode_data(tables, sources, outputs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CHUNKS_MAX, DATA_CHUNKS_MAX};

    /// ISA-L's generator is byte for byte the reference Cauchy generator, for every
    /// layout; so parity written by either engine is the same on disk.
    #[test]
    fn generator_equals_reference() {
        for k in 1..=DATA_CHUNKS_MAX {
            for m in 0..=k.min(CHUNKS_MAX - k) {
                let engine = IsaLEngine::new(k, m);
                let mut reference = [0u8; GENERATOR_BYTES_MAX];
                matrix::cauchy_generator(k, m, &mut reference);
                assert_eq!(engine.generator(), &reference[..], "{k}+{m}");
            }
        }
    }

    /// ISA-L's inversion agrees with the reference Gauss-Jordan.
    #[test]
    fn inversion_equals_reference() {
        let mut generator = [0u8; GENERATOR_BYTES_MAX];
        for k in 1..=DATA_CHUNKS_MAX {
            matrix::cauchy_generator(k, k, &mut generator);
            let bottom = &generator[k * k..2 * k * k];
            let (mut a, mut b) = (bottom.to_vec(), bottom.to_vec());
            let (mut inverse_a, mut inverse_b) = (vec![0u8; k * k], vec![0u8; k * k]);
            assert!(isal_ffi::invert_matrix(&mut a, &mut inverse_a, k));
            assert!(matrix::invert(&mut b, &mut inverse_b, k));
            assert_eq!(inverse_a, inverse_b, "k = {k}");
        }
    }
}
