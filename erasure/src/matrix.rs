//! Coding matrices over GF(2^8): the Cauchy generator every engine encodes with, its
//! inversion, and the decode rows that rebuild lost chunks from surviving ones.
//!
//! Matrices are row-major byte slices. The generator has `k + m` rows of `k` columns:
//! the top `k` rows are the identity (data chunks are stored as they are), row `i >= k`
//! column `j` is `inv(i ^ j)` — exactly ISA-L's `gf_gen_cauchy1_matrix`. Every `k x k`
//! submatrix of it is invertible (it is MDS), which is why any `k` surviving chunks
//! rebuild the stripe. The generator is part of the on-disk format: it never changes.

use crate::gf;
use crate::{CHUNKS_MAX, DATA_CHUNKS_MAX};

/// Bytes of the largest generator matrix (`CHUNKS_MAX x DATA_CHUNKS_MAX`).
pub(crate) const GENERATOR_BYTES_MAX: usize = CHUNKS_MAX * DATA_CHUNKS_MAX;
/// Bytes of the largest square matrix (`DATA_CHUNKS_MAX x DATA_CHUNKS_MAX`).
pub(crate) const SQUARE_BYTES_MAX: usize = DATA_CHUNKS_MAX * DATA_CHUNKS_MAX;

/// Which chunks survive and which must be rebuilt, as bitmasks over chunk indices
/// (bit `i` = chunk `i`, data first then parity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loss {
    /// The chunks decoded from: the first `k` present chunks, in index order.
    pub sources: u32,
    /// The chunks to rebuild, in index order. Never overlaps `sources`.
    pub wanted: u32,
}

impl Loss {
    /// Chooses the first `data_chunks` present chunks as sources.
    pub fn new(present: u32, wanted: u32, data_chunks: usize) -> Loss {
        let mut sources = 0u32;
        for index in bit_indices(present).take(data_chunks) {
            sources |= 1 << index;
        }
        assert_eq!(
            sources.count_ones() as usize,
            data_chunks,
            "too few present"
        );
        assert_eq!(sources & wanted, 0, "a wanted chunk is present");
        Loss { sources, wanted }
    }

    /// One key for the whole pattern, for decode-table caches.
    pub fn key(self) -> u64 {
        (u64::from(self.sources) << 32) | u64::from(self.wanted)
    }

    pub fn wanted_count(self) -> usize {
        self.wanted.count_ones() as usize
    }
}

/// The indices of the set bits of `mask`, lowest first.
pub(crate) fn bit_indices(mask: u32) -> impl Iterator<Item = usize> {
    (0..32).filter(move |index| mask & (1 << index) != 0)
}

/// Fills `out` (`(k + m) x k`) with the Cauchy generator described in the module doc.
pub(crate) fn cauchy_generator(data_chunks: usize, parity_chunks: usize, out: &mut [u8]) {
    let k = data_chunks;
    let rows = data_chunks + parity_chunks;
    assert!(rows <= CHUNKS_MAX && k <= DATA_CHUNKS_MAX);
    let out = &mut out[..rows * k];
    out.fill(0);
    for i in 0..k {
        out[i * k + i] = 1;
    }
    for i in k..rows {
        for j in 0..k {
            out[i * k + j] = gf::inv((i ^ j) as u8);
        }
    }
}

/// Gauss-Jordan inversion of the `n x n` matrix `matrix` into `inverse`. `matrix` is
/// destroyed. Returns false if it is singular.
pub(crate) fn invert(matrix: &mut [u8], inverse: &mut [u8], n: usize) -> bool {
    let matrix = &mut matrix[..n * n];
    let inverse = &mut inverse[..n * n];
    inverse.fill(0);
    for i in 0..n {
        inverse[i * n + i] = 1;
    }
    for column in 0..n {
        let Some(pivot_row) = (column..n).find(|&row| matrix[row * n + column] != 0) else {
            return false;
        };
        if pivot_row != column {
            swap_rows(matrix, n, pivot_row, column);
            swap_rows(inverse, n, pivot_row, column);
        }
        let scale = gf::inv(matrix[column * n + column]);
        scale_row(matrix, n, column, scale);
        scale_row(inverse, n, column, scale);
        for row in (0..n).filter(|&row| row != column) {
            let factor = matrix[row * n + column];
            if factor != 0 {
                eliminate(matrix, n, column, row, factor);
                eliminate(inverse, n, column, row, factor);
            }
        }
    }
    true
}

fn swap_rows(matrix: &mut [u8], n: usize, a: usize, b: usize) {
    for column in 0..n {
        matrix.swap(a * n + column, b * n + column);
    }
}

fn scale_row(matrix: &mut [u8], n: usize, row: usize, scale: u8) {
    for value in &mut matrix[row * n..(row + 1) * n] {
        *value = gf::mul(*value, scale);
    }
}

/// `row -= factor * pivot` (subtraction is xor).
fn eliminate(matrix: &mut [u8], n: usize, pivot: usize, row: usize, factor: u8) {
    for column in 0..n {
        matrix[row * n + column] ^= gf::mul(factor, matrix[pivot * n + column]);
    }
}

/// Fills `out` with one row of `k` coefficients per wanted chunk (in index order): the
/// wanted chunk is the dot product of that row with the source chunks (in index
/// order). `invert` is the engine's matrix inversion; it must return true.
pub(crate) fn decode_rows(
    generator: &[u8],
    data_chunks: usize,
    loss: Loss,
    invert: impl FnOnce(&mut [u8], &mut [u8], usize) -> bool,
    out: &mut [u8],
) {
    let k = data_chunks;
    let mut sources_matrix = [0u8; SQUARE_BYTES_MAX];
    for (row, index) in bit_indices(loss.sources).enumerate() {
        sources_matrix[row * k..(row + 1) * k].copy_from_slice(&generator[index * k..][..k]);
    }
    let mut inverse = [0u8; SQUARE_BYTES_MAX];
    let invertible = invert(&mut sources_matrix[..k * k], &mut inverse[..k * k], k);
    assert!(invertible, "a Cauchy submatrix is always invertible");
    for (row, wanted) in bit_indices(loss.wanted).enumerate() {
        let out_row = &mut out[row * k..(row + 1) * k];
        if wanted < k {
            // A data chunk: its row of the inverse maps sources back to it.
            out_row.copy_from_slice(&inverse[wanted * k..][..k]);
        } else {
            // A parity chunk: its generator row applied to the rebuilt data.
            let generator_row = &generator[wanted * k..][..k];
            for (column, value) in out_row.iter_mut().enumerate() {
                *value = (0..k).fold(0, |sum, j| {
                    sum ^ gf::mul(generator_row[j], inverse[j * k + column])
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generator's identity top and Cauchy bottom rows match the documented shape.
    #[test]
    fn generator_shape() {
        let mut generator = [0u8; GENERATOR_BYTES_MAX];
        cauchy_generator(4, 2, &mut generator);
        assert_eq!(
            &generator[..16],
            &[1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        );
        assert_eq!(generator[16], gf::inv(4));
        assert_eq!(generator[5 * 4 + 3], gf::inv(5 ^ 3));
    }

    /// Inverting a matrix and multiplying back gives the identity, for every k x k
    /// submatrix choice of the rows k..2k of a 16+16 generator.
    #[test]
    fn inverse_times_matrix_is_identity() {
        let mut generator = [0u8; GENERATOR_BYTES_MAX];
        for k in 1..=DATA_CHUNKS_MAX {
            cauchy_generator(k, k, &mut generator);
            let mut matrix = generator[k * k..2 * k * k].to_vec();
            let original = matrix.clone();
            let mut inverse = vec![0u8; k * k];
            assert!(invert(&mut matrix, &mut inverse, k));
            for i in 0..k {
                for j in 0..k {
                    let dot = (0..k).fold(0, |s, x| {
                        s ^ gf::mul(inverse[i * k + x], original[x * k + j])
                    });
                    assert_eq!(dot, u8::from(i == j));
                }
            }
        }
    }

    /// A singular matrix is reported, not inverted.
    #[test]
    fn singular_is_detected() {
        let mut matrix = [1u8, 2, 1, 2];
        let mut inverse = [0u8; 4];
        assert!(!invert(&mut matrix, &mut inverse, 2));
    }

    /// Sources are the first k present chunks.
    #[test]
    fn loss_picks_first_present() {
        let loss = Loss::new(0b1110_1101, 0b0000_0010, 4);
        assert_eq!(loss.sources, 0b0010_1101);
        assert_eq!(loss.wanted_count(), 1);
    }
}
