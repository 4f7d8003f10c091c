//! `StripeEncoder`: the chunk buffers of one stripe and the erasure coding into them.
//!
//! Chunks live in one allocation at a padded stride (chunk length rounded up to 64
//! bytes, plus 64): buffers exactly 128 KiB apart cost ISA-L about 25% through cache
//! set conflicts (DESIGN.md "Erasure coding"). Allocated once per request at the full
//! chunk length; shorter stripes reuse the front of each chunk.

use shoal_erasure::Coder;

use crate::topology::layout::SetLayout;

pub struct StripeEncoder {
    layout: SetLayout,
    buf: Vec<u8>,
    stride: usize,
    chunk_len: usize,
}

impl StripeEncoder {
    /// Buffers for chunks of up to `chunk_len_max` bytes.
    pub fn new(layout: SetLayout, chunk_len_max: usize) -> Self {
        let stride = chunk_len_max.next_multiple_of(64) + 64;
        Self {
            layout,
            buf: vec![0; stride * layout.set_size()],
            stride,
            chunk_len: chunk_len_max,
        }
    }

    /// Sets the chunk length of the next stripe (at most the maximum).
    pub fn resize(&mut self, chunk_len: usize) {
        assert!(chunk_len + 64 <= self.stride || chunk_len == 0);
        self.chunk_len = chunk_len;
    }

    /// Splits `data` (at most k × chunk length bytes) into data chunks, zero-padding the
    /// tail, and computes the parity chunks.
    pub fn encode(&mut self, coder: &Coder, data: &[u8]) {
        let (k, len) = (self.layout.data_chunks, self.chunk_len);
        assert!(data.len() <= k * len, "stripe larger than its chunks");
        for i in 0..k {
            let start = (i * len).min(data.len());
            let end = ((i + 1) * len).min(data.len());
            let chunk = &mut self.buf[i * self.stride..i * self.stride + len];
            chunk[..end - start].copy_from_slice(&data[start..end]);
            chunk[end - start..].fill(0);
        }
        let (data_part, parity_part) = self.buf.split_at_mut(k * self.stride);
        let data_chunks: Vec<&[u8]> = data_part.chunks(self.stride).map(|c| &c[..len]).collect();
        let mut parity_chunks: Vec<&mut [u8]> = parity_part
            .chunks_mut(self.stride)
            .map(|c| &mut c[..len])
            .collect();
        coder
            .encode(&data_chunks, &mut parity_chunks)
            .expect("coder matches the layout");
    }

    /// Chunk `index` (data first, then parity) of the last encoded stripe.
    pub fn chunk(&self, index: usize) -> &[u8] {
        &self.buf[index * self.stride..index * self.stride + self.chunk_len]
    }
}
