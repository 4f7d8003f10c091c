//! The naive engine: the reference every other engine is tested against.
//!
//! Plain Rust, one byte at a time through a product table. It shares nothing with the
//! other engines except `gf` and `matrix`, and those two define the on-disk coding.
//! It recomputes decode matrices on every call (on the stack): slow, simple, obviously
//! right, and allocation-free.

use crate::engine::Engine;
use crate::gf;
use crate::matrix::{self, GENERATOR_BYTES_MAX, Loss, SQUARE_BYTES_MAX};

pub(crate) struct NaiveEngine {
    data_chunks: usize,
    parity_chunks: usize,
    generator: [u8; GENERATOR_BYTES_MAX],
}

impl NaiveEngine {
    pub fn new(data_chunks: usize, parity_chunks: usize) -> NaiveEngine {
        let mut generator = [0u8; GENERATOR_BYTES_MAX];
        matrix::cauchy_generator(data_chunks, parity_chunks, &mut generator);
        NaiveEngine {
            data_chunks,
            parity_chunks,
            generator,
        }
    }
}

/// `outputs[r] = sum over j of rows[r][j] * sources[j]`.
fn dot_products(rows: &[u8], sources: &[&[u8]], outputs: &mut [&mut [u8]]) {
    let k = sources.len();
    for (row, output) in rows.chunks_exact(k).zip(outputs.iter_mut()) {
        output.fill(0);
        for (coefficient, source) in row.iter().zip(sources) {
            gf::mul_add(*coefficient, source, output);
        }
    }
}

impl Engine for NaiveEngine {
    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) {
        let k = self.data_chunks;
        assert_eq!(data.len(), k);
        assert_eq!(parity.len(), self.parity_chunks);
        dot_products(&self.generator[k * k..], data, parity);
    }

    fn decode(&mut self, loss: Loss, sources: &[&[u8]], outputs: &mut [&mut [u8]]) {
        assert_eq!(sources.len(), self.data_chunks);
        assert_eq!(outputs.len(), loss.wanted_count());
        let mut rows = [0u8; SQUARE_BYTES_MAX];
        matrix::decode_rows(
            &self.generator,
            self.data_chunks,
            loss,
            matrix::invert,
            &mut rows,
        );
        dot_products(&rows, sources, outputs);
    }
}
