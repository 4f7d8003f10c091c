//! The `Engine` trait: one implementation of the Reed-Solomon arithmetic behind a
//! [`crate::Coder`]. Engines are chosen once when a coder is built.
//!
//! The coder validates every input (counts, lengths, how many are lost) before it
//! calls an engine, so engines only assert. Every engine must produce exactly the bytes
//! of the naive engine (the reference): same generator, same field. Engines never
//! allocate in `encode` or `decode` once warm (a decode-table cache miss may fill a
//! slot once).

pub(crate) mod isal;
mod isal_ffi;
pub(crate) mod naive;

use crate::matrix::Loss;

/// Which implementation of the arithmetic a coder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Pure Rust, byte at a time with a 64 KiB product table: the reference.
    Naive,
    /// Intel ISA-L (GFNI / AVX-512 / AVX2 kernels chosen by ISA-L at run time).
    IsaL,
}

pub(crate) trait Engine: Send {
    /// Writes `parity` (m chunks) from `data` (k chunks). All slices have one length.
    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]);

    /// Writes the `loss.wanted` chunks (`outputs`, in index order) from the
    /// `loss.sources` chunks (`sources`, in index order). All slices have one length.
    fn decode(&mut self, loss: Loss, sources: &[&[u8]], outputs: &mut [&mut [u8]]);
}

/// Builds the engine of `kind` for a layout the caller has already validated.
pub(crate) fn build(kind: EngineKind, data_chunks: usize, parity_chunks: usize) -> Box<dyn Engine> {
    match kind {
        EngineKind::Naive => Box::new(naive::NaiveEngine::new(data_chunks, parity_chunks)),
        EngineKind::IsaL => Box::new(isal::IsaLEngine::new(data_chunks, parity_chunks)),
    }
}
