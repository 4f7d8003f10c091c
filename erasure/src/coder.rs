//! `Coder`: the public Reed-Solomon API. It owns one engine for one layout (k data +
//! m parity chunks) and checks every caller input before the engine sees it.
//!
//! Invariants: `1 <= k <= 16`, `m <= k` (so `k + m <= 32`); all chunks of a call have
//! one length; a call that cannot succeed (wrong counts, mixed lengths, more than `m`
//! lost) returns an `Error` and writes nothing. A coder is used by one shard: it is
//! `Send` but keeps a decode-table cache, so it is not shared between threads.

use std::fmt;

use crate::engine::{self, Engine, EngineKind};
use crate::matrix::Loss;
use crate::{DATA_CHUNKS_MAX, Error};

pub struct Coder {
    data_chunks: usize,
    parity_chunks: usize,
    kind: EngineKind,
    engine: Box<dyn Engine>,
}

impl fmt::Debug for Coder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coder")
            .field("data_chunks", &self.data_chunks)
            .field("parity_chunks", &self.parity_chunks)
            .field("engine", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Coder {
    /// A coder with the best engine for this CPU (ISA-L, which picks its own kernels).
    /// `1 <= k <= 16`, `0 <= m <= k`, `k + m <= 32`; else `InvalidLayout`.
    pub fn new(data_chunks: usize, parity_chunks: usize) -> Result<Coder, Error> {
        Coder::with_engine(EngineKind::IsaL, data_chunks, parity_chunks)
    }

    /// A coder with a chosen engine (tests compare engines; benchmarks measure them).
    pub fn with_engine(
        kind: EngineKind,
        data_chunks: usize,
        parity_chunks: usize,
    ) -> Result<Coder, Error> {
        let valid = (1..=DATA_CHUNKS_MAX).contains(&data_chunks) && parity_chunks <= data_chunks;
        if !valid {
            return Err(Error::InvalidLayout {
                data_chunks,
                parity_chunks,
            });
        }
        Ok(Coder {
            data_chunks,
            parity_chunks,
            kind,
            engine: engine::build(kind, data_chunks, parity_chunks),
        })
    }

    pub fn data_chunks(&self) -> usize {
        self.data_chunks
    }

    pub fn parity_chunks(&self) -> usize {
        self.parity_chunks
    }

    pub fn engine(&self) -> EngineKind {
        self.kind
    }

    /// Writes the `m` parity chunks of the `k` data chunks. All slices have one length
    /// (any, 0 included).
    pub fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), Error> {
        check_count(self.data_chunks, data.len())?;
        check_count(self.parity_chunks, parity.len())?;
        let len = data[0].len();
        let same = data.iter().all(|chunk| chunk.len() == len)
            && parity.iter().all(|chunk| chunk.len() == len);
        if !same {
            return Err(Error::ChunkSizeMismatch);
        }
        if !parity.is_empty() {
            self.engine.encode(data, parity);
        }
        Ok(())
    }

    /// Rebuilds every chunk (data and parity) whose `present` flag is false, in place.
    /// `chunks` holds `k + m` chunks, data first. Fewer than `k` present: `TooManyLost`.
    pub fn reconstruct(&mut self, chunks: &mut [&mut [u8]], present: &[bool]) -> Result<(), Error> {
        self.rebuild(chunks, present, u32::MAX)
    }

    /// Like [`Coder::reconstruct`] but rebuilds only missing data chunks (the read
    /// path); missing parity chunks are left as they are.
    pub fn reconstruct_data(
        &mut self,
        chunks: &mut [&mut [u8]],
        present: &[bool],
    ) -> Result<(), Error> {
        self.rebuild(chunks, present, (1u32 << self.data_chunks) - 1)
    }

    /// Rebuilds the missing chunks among `candidates` (a bitmask of chunk indices).
    fn rebuild(
        &mut self,
        chunks: &mut [&mut [u8]],
        present: &[bool],
        candidates: u32,
    ) -> Result<(), Error> {
        let total = self.data_chunks + self.parity_chunks;
        check_count(total, chunks.len())?;
        check_count(total, present.len())?;
        let len = chunks[0].len();
        if chunks.iter().any(|chunk| chunk.len() != len) {
            return Err(Error::ChunkSizeMismatch);
        }
        let present_mask = present
            .iter()
            .enumerate()
            .filter(|(_, is_present)| **is_present)
            .fold(0u32, |mask, (index, _)| mask | (1 << index));
        let present_count = present_mask.count_ones() as usize;
        if present_count < self.data_chunks {
            return Err(Error::TooManyLost {
                lost: total - present_count,
                parity_chunks: self.parity_chunks,
            });
        }
        let all_mask = u32::MAX >> (32 - total); // total may be 32: no 1 << 32
        let wanted = !present_mask & candidates & all_mask;
        if wanted != 0 {
            let loss = Loss::new(present_mask, wanted, self.data_chunks);
            let (sources, mut outputs) = split_chunks(chunks, loss);
            let wanted_count = loss.wanted_count();
            self.engine.decode(
                loss,
                &sources[..self.data_chunks],
                &mut outputs[..wanted_count],
            );
        }
        Ok(())
    }
}

fn check_count(expected: usize, got: usize) -> Result<(), Error> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::ChunkCountMismatch { expected, got })
    }
}

/// Splits `chunks` into the loss's sources (read) and wanted chunks (written), each in
/// index order, without allocating. Unused array entries are empty slices.
fn split_chunks<'a>(
    chunks: &'a mut [&mut [u8]],
    loss: Loss,
) -> ([&'a [u8]; DATA_CHUNKS_MAX], [&'a mut [u8]; DATA_CHUNKS_MAX]) {
    let mut sources: [&[u8]; DATA_CHUNKS_MAX] = [&[]; DATA_CHUNKS_MAX];
    let mut outputs: [&mut [u8]; DATA_CHUNKS_MAX] = std::array::from_fn(|_| Default::default());
    let (mut source_count, mut output_count) = (0, 0);
    for (index, chunk) in chunks.iter_mut().enumerate() {
        let bit = 1u32 << index;
        if loss.sources & bit != 0 {
            sources[source_count] = &**chunk;
            source_count += 1;
        } else if loss.wanted & bit != 0 {
            outputs[output_count] = &mut **chunk;
            output_count += 1;
        }
    }
    (sources, outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sources and outputs come out in index order, and other chunks are left out.
    #[test]
    fn split_chunks_orders_by_index() {
        let mut storage: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 2]).collect();
        let mut chunks: Vec<&mut [u8]> = storage.iter_mut().map(Vec::as_mut_slice).collect();
        // Chunks 1 and 4 lost; 5 present but not needed as a source (k = 3).
        let loss = Loss::new(0b10_1101, 0b01_0010, 3);
        let (sources, outputs) = split_chunks(&mut chunks, loss);
        let source_ids: Vec<u8> = sources[..3].iter().map(|chunk| chunk[0]).collect();
        assert_eq!(source_ids, [0, 2, 3]);
        assert!(sources[3].is_empty());
        let output_ids: Vec<u8> = outputs[..2].iter().map(|chunk| chunk[0]).collect();
        assert_eq!(output_ids, [1, 4]);
    }
}
