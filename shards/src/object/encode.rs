//! `StripeBuffers`: one stripe's chunk records, built in place in the aligned buffers
//! that go to the drives as they are.
//!
//! Each chunk index (data first, then parity) has one staging buffer from the shard's
//! `BufPool` (`staging_buf_bytes` each). It holds the partial block its member's part
//! file ends with (`head` bytes, carried from the last write), then this stripe's
//! record: the 8-byte bound checksum and the chunk (`stripe.rs`). The body is read
//! straight into the data chunks' places (stripe byte `i` is byte `i % chunk_len` of
//! data chunk `i / chunk_len`, the split `stripe.rs` defines), parity is encoded into
//! the parity chunks' places, the checksums are written in front of the chunks, and the
//! whole blocks go to the drive from the same buffer (O_DIRECT). Nothing is copied but
//! the partial block a write leaves behind (< 4 KiB per member per stripe), and the
//! last stripe of a body whose length was not declared (re-split once it is known).
//!
//! Invariants: between stripes every buffer is present and holds exactly its `head`
//! bytes, `head < BLOCK_SIZE_BYTES`; a record never runs past a buffer's capacity
//! (`head + 8 + chunk_len <= staging_buf_bytes`, asserted); buffers go back to the pool
//! when the stripe buffers are dropped, on every path.

use shoal_erasure::Coder;
use shoal_io::{AlignedBuf, BLOCK_SIZE_BYTES, BufPool};

use crate::record::stripe::{RECORD_HEADER_BYTES, chunk_len_for, record_checksum};
use crate::topology::layout::SetLayout;

/// Capacity of one member's staging buffer: the partial block carried over, then one
/// record of a full stripe, rounded up to whole blocks.
pub fn staging_buf_bytes(stripe_size_bytes: usize, data_chunks: usize) -> usize {
    let full = chunk_len_for(stripe_size_bytes, data_chunks);
    BLOCK_SIZE_BYTES + (RECORD_HEADER_BYTES + full).next_multiple_of(BLOCK_SIZE_BYTES)
}

pub struct StripeBuffers {
    layout: SetLayout,
    pool: BufPool,
    /// Per chunk index; `None` only while its bytes are out at a drive.
    bufs: Vec<Option<AlignedBuf>>,
    /// Per chunk index: bytes carried in front of this stripe's record.
    heads: Vec<usize>,
    /// Chunk length of the stripe being filled or written.
    chunk_len: usize,
    /// Stripe bytes read into the data chunks so far.
    filled: usize,
}

impl StripeBuffers {
    /// One buffer per chunk of `layout`, from `pool`.
    pub fn new(layout: SetLayout, pool: &BufPool) -> Self {
        let count = layout.set_size();
        Self {
            layout,
            pool: pool.clone(),
            bufs: (0..count).map(|_| Some(pool.get())).collect(),
            heads: vec![0; count],
            chunk_len: 0,
            filled: 0,
        }
    }

    /// Starts a stripe of chunks of `chunk_len` bytes (its data not read yet).
    pub fn begin_stripe(&mut self, chunk_len: usize) {
        let record_end = BLOCK_SIZE_BYTES + RECORD_HEADER_BYTES + chunk_len;
        assert!(
            record_end <= self.pool.buf_size_bytes(),
            "a chunk of {chunk_len} bytes does not fit a staging buffer"
        );
        self.chunk_len = chunk_len;
        self.filled = 0;
    }

    /// Stripe bytes the data chunks hold at this chunk length.
    pub fn room_bytes(&self) -> usize {
        self.layout.data_chunks * self.chunk_len
    }

    pub fn filled_bytes(&self) -> usize {
        self.filled
    }

    /// Where the next body bytes go: the unfilled rest of the current data chunk.
    pub fn next_room(&mut self) -> &mut [u8] {
        assert!(self.filled < self.room_bytes(), "the stripe is full");
        let (chunk, offset) = (self.filled / self.chunk_len, self.filled % self.chunk_len);
        let start = self.heads[chunk] + RECORD_HEADER_BYTES;
        let buf = self.bufs[chunk]
            .as_mut()
            .expect("buffers are home between writes");
        &mut buf.spare_all()[start + offset..start + self.chunk_len]
    }

    /// Counts `n` bytes written into [`Self::next_room`].
    pub fn advance(&mut self, n: usize) {
        assert!(self.filled + n <= self.room_bytes());
        self.filled += n;
    }

    /// The body ended short of the room: re-splits the bytes read into the chunk length
    /// of a stripe that long (`stripe.rs`). Costs one move of those bytes; only the last
    /// stripe of a body of undeclared length needs it.
    pub fn shrink_to_filled(&mut self) {
        let new_len = chunk_len_for(self.filled, self.layout.data_chunks);
        if new_len == self.chunk_len {
            return;
        }
        let mut bytes = Vec::with_capacity(self.filled);
        for chunk in 0..self.layout.data_chunks {
            let content = self.data_in_chunk(chunk);
            bytes.extend_from_slice(&self.chunk_area(chunk)[..content]);
        }
        self.chunk_len = new_len;
        for (chunk, piece) in bytes.chunks(new_len.max(1)).enumerate() {
            self.chunk_area_mut(chunk)[..piece.len()].copy_from_slice(piece);
        }
    }

    /// Completes the stripe's records: zero-pads the data chunks, encodes parity in
    /// place, and writes each record's checksum (bound by `tags[chunk]` and the stripe
    /// number) in front of its chunk.
    pub fn seal(&mut self, coder: &Coder, tags: &[u64], stripe_index: u64) {
        self.encode(coder);
        for (chunk, &tag) in tags.iter().enumerate().take(self.layout.set_size()) {
            let checksum = record_checksum(tag, stripe_index, self.chunk(chunk));
            let head = self.heads[chunk];
            let buf = self.bufs[chunk].as_mut().expect("buffers are home");
            let header = &mut buf.spare_all()[head..head + RECORD_HEADER_BYTES];
            header.copy_from_slice(&checksum.to_le_bytes());
            buf.set_len(head + RECORD_HEADER_BYTES + self.chunk_len);
        }
    }

    /// Zero-pads the data chunks past the bytes read and encodes parity in place.
    pub fn encode(&mut self, coder: &Coder) {
        for chunk in 0..self.layout.data_chunks {
            let content = self.data_in_chunk(chunk);
            self.chunk_area_mut(chunk)[content..].fill(0);
        }
        self.encode_parity(coder);
    }

    fn encode_parity(&mut self, coder: &Coder) {
        let (k, len) = (self.layout.data_chunks, self.chunk_len);
        let heads = &self.heads;
        let (data, parity) = self.bufs.split_at_mut(k);
        let data_chunks: Vec<&[u8]> = data
            .iter()
            .zip(heads)
            .map(|(buf, &head)| {
                let start = head + RECORD_HEADER_BYTES;
                &buf.as_ref().expect("home").as_capacity_slice()[start..start + len]
            })
            .collect();
        let mut parity_chunks: Vec<&mut [u8]> = parity
            .iter_mut()
            .zip(&heads[k..])
            .map(|(buf, &head)| {
                let start = head + RECORD_HEADER_BYTES;
                &mut buf.as_mut().expect("home").spare_all()[start..start + len]
            })
            .collect();
        coder
            .encode(&data_chunks, &mut parity_chunks)
            .expect("coder matches the layout");
    }

    /// Chunk `chunk` (data first, then parity) of the stripe, as sealed or being filled.
    pub fn chunk(&self, chunk: usize) -> &[u8] {
        &self.chunk_area(chunk)[..self.chunk_len]
    }

    /// Takes chunk `chunk`'s buffer (carried bytes and sealed record) out for a write.
    pub fn take(&mut self, chunk: usize) -> AlignedBuf {
        self.bufs[chunk]
            .take()
            .expect("a buffer is written once at a time")
    }

    /// Puts back chunk `chunk`'s buffer after `written_bytes` (whole blocks) of it went
    /// to the drive: what is left (the partial block) moves to its front.
    pub fn carry(&mut self, chunk: usize, mut buf: AlignedBuf, written_bytes: usize) {
        let staged = buf.len();
        assert!(written_bytes <= staged && staged - written_bytes < BLOCK_SIZE_BYTES);
        buf.spare_all().copy_within(written_bytes..staged, 0);
        buf.set_len(staged - written_bytes);
        self.heads[chunk] = staged - written_bytes;
        self.bufs[chunk] = Some(buf);
    }

    /// Chunk `chunk`'s member left the write: its records are no longer kept (the
    /// buffer still serves the stripes' data and coding), and one lost with a write cut
    /// at its deadline is replaced.
    pub fn forget(&mut self, chunk: usize) {
        let buf = self.bufs[chunk].get_or_insert_with(|| self.pool.get());
        buf.set_len(0);
        self.heads[chunk] = 0;
    }

    /// Stripe bytes data chunk `chunk` holds now.
    fn data_in_chunk(&self, chunk: usize) -> usize {
        self.filled
            .saturating_sub(chunk * self.chunk_len)
            .min(self.chunk_len)
    }

    /// Chunk `chunk`'s place in its buffer, up to the buffer's end.
    fn chunk_area(&self, chunk: usize) -> &[u8] {
        let start = self.heads[chunk] + RECORD_HEADER_BYTES;
        &self.bufs[chunk].as_ref().expect("home").as_capacity_slice()[start..]
    }

    fn chunk_area_mut(&mut self, chunk: usize) -> &mut [u8] {
        let start = self.heads[chunk] + RECORD_HEADER_BYTES;
        let len = self.chunk_len;
        &mut self.bufs[chunk].as_mut().expect("home").spare_all()[start..start + len]
    }
}

impl Drop for StripeBuffers {
    fn drop(&mut self) {
        for buf in self.bufs.drain(..).flatten() {
            self.pool.put(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::stripe::Geometry;

    fn layout() -> SetLayout {
        SetLayout::new(2, 2).expect("2+2")
    }

    fn fill(bufs: &mut StripeBuffers, mut data: &[u8]) {
        while !data.is_empty() && bufs.filled_bytes() < bufs.room_bytes() {
            let room = bufs.next_room();
            let n = room.len().min(data.len());
            room[..n].copy_from_slice(&data[..n]);
            bufs.advance(n);
            data = &data[n..];
        }
    }

    /// Records built in place hold the chunks `stripe.rs` defines and parity that
    /// rebuilds lost data; carried tails keep the part file's byte stream exact.
    #[test]
    fn records_match_the_defined_split_and_carry_tails() {
        let (stripe_bytes, layout) = (64 << 10, layout());
        let pool = BufPool::new(staging_buf_bytes(stripe_bytes, 2), 8);
        let coder = Coder::new(2, 2).expect("coder");
        let tags = [1, 2, 3, 4];
        let body: Vec<u8> = (0..3 * stripe_bytes + 1000)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let geometry = Geometry::new(body.len() as u64, stripe_bytes, 2);
        let mut files = vec![Vec::new(); 4];
        let mut bufs = StripeBuffers::new(layout, &pool);
        for (stripe, data) in body.chunks(stripe_bytes).enumerate() {
            bufs.begin_stripe(geometry.chunk_len(stripe as u64));
            fill(&mut bufs, data);
            bufs.seal(&coder, &tags, stripe as u64);
            let mut chunks: Vec<Vec<u8>> = (0..4).map(|c| bufs.chunk(c).to_vec()).collect();
            let start = stripe * stripe_bytes;
            let half = geometry.chunk_len(stripe as u64);
            assert_eq!(&chunks[0][..], &body[start..start + half]);
            // Lose both data chunks; parity alone gives them back.
            let lost = [chunks[0].clone(), chunks[1].clone()];
            chunks[0].fill(0);
            chunks[1].fill(0);
            let mut refs: Vec<&mut [u8]> = chunks.iter_mut().map(Vec::as_mut_slice).collect();
            let mut rebuild = Coder::new(2, 2).expect("coder");
            rebuild
                .reconstruct(&mut refs, &[false, false, true, true])
                .expect("rebuilt");
            assert_eq!([chunks[0].clone(), chunks[1].clone()], lost);
            for (c, file) in files.iter_mut().enumerate() {
                let buf = bufs.take(c);
                let whole = buf.len() / BLOCK_SIZE_BYTES * BLOCK_SIZE_BYTES;
                file.truncate(file.len() / BLOCK_SIZE_BYTES * BLOCK_SIZE_BYTES);
                file.extend_from_slice(buf.as_slice());
                bufs.carry(c, buf, whole);
            }
        }
        let file_len = usize::try_from(geometry.part_file_len()).expect("small");
        for (c, file) in files.iter().enumerate() {
            assert_eq!(file.len(), file_len, "chunk {c}");
            let last = geometry.stripe_count() - 1;
            let offset = usize::try_from(geometry.record_offset(last)).expect("small");
            let header = u64::from_le_bytes(file[offset..offset + 8].try_into().expect("8"));
            let chunk = &file[offset + 8..];
            assert_eq!(header, record_checksum(tags[c], last, chunk));
        }
        drop(bufs);
        assert_eq!(pool.available_count(), 4, "every buffer went back");
        assert_eq!(pool.allocated_total(), 4, "no stripe allocated");
    }

    /// A stripe that ends short of its room is re-split into the shorter chunk length,
    /// as if its length had been known.
    #[test]
    fn short_stripe_is_resplit() {
        let pool = BufPool::new(staging_buf_bytes(64 << 10, 2), 4);
        let coder = Coder::new(2, 2).expect("coder");
        let data: Vec<u8> = (0..40_001u32).map(|i| (i % 253) as u8).collect();
        let mut bufs = StripeBuffers::new(layout(), &pool);
        bufs.begin_stripe(32 << 10);
        fill(&mut bufs, &data);
        bufs.shrink_to_filled();
        bufs.seal(&coder, &[0; 4], 0);
        assert_eq!(bufs.chunk(0), &data[..20_001]);
        assert_eq!(&bufs.chunk(1)[..20_000], &data[20_001..]);
        assert_eq!(bufs.chunk(1)[20_000], 0, "the tail is zero-padded");
    }
}
