//! `StripeBuffers`: one stripe's chunk records, built in place in the aligned buffers
//! that go to the drives as they are, each buffer held only while its stripe needs it.
//!
//! Each chunk index (data first, then parity) gets a staging buffer from the shard's
//! `BufPool` (`staging_buf_bytes` each) only when the stripe needs it: a data chunk's
//! when the first body byte for it is at hand, the parity chunks' when the stripe is
//! sealed. Each buffer is paid for by a grant of the shard's `MemoryBudget`, taken
//! before the buffer (waiting at most `GRANT_WAIT_MAX`, else `Error::SlowDown`) and given
//! back with it once the stripe's whole blocks are written. A buffer starts with the
//! partial block its member's part file ends with (`head` bytes, carried from the last
//! write in a small `Vec` while no buffer is held), then this stripe's record: the 8-byte
//! bound checksum and the chunk (`stripe.rs`). The body is read straight into the data
//! chunks' places (stripe byte `i` is byte `i % chunk_len` of data chunk `i / chunk_len`,
//! the split `stripe.rs` defines), parity is encoded into the parity chunks' places, the
//! checksums are written in front of the chunks, and the whole blocks go to the drive
//! from the same buffer (O_DIRECT). Nothing is copied but the partial block a write
//! leaves behind (< 4 KiB per member per stripe, into its `Vec` and back), and the last
//! stripe of a body whose length was not declared (re-split once it is known).
//!
//! Invariants: a chunk index is in one of three states: `Parked` (no buffer, no grant;
//! its carried bytes in `carried`), `Home` (a buffer and its grant; the buffer holds the
//! carried bytes in front) or `Out` (the buffer at a drive, the grant still held);
//! `head < BLOCK_SIZE_BYTES`; a record never runs past a buffer's capacity
//! (`head + 8 + chunk_len <= staging_buf_bytes`, asserted); a request that read no body
//! byte holds no buffer and no grant; buffers go back to the pool and grants to the
//! budget when the stripe buffers are dropped, on every path.

use shoal_erasure::Coder;
use shoal_io::{
    AlignedBuf, BLOCK_SIZE_BYTES, BufPool, Env, GRANT_WAIT_MAX, MemoryBudget, MemoryGrant,
};

use crate::error::{Error, Result};
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
    budget: MemoryBudget,
    /// Per chunk index: the buffer while `Home`.
    bufs: Vec<Option<AlignedBuf>>,
    /// Per chunk index: the grant paying for its buffer while `Home` or `Out`.
    grants: Vec<Option<MemoryGrant>>,
    /// Per chunk index: the carried bytes while `Parked`.
    carried: Vec<Vec<u8>>,
    /// Per chunk index: bytes carried in front of this stripe's record.
    heads: Vec<usize>,
    /// Chunk length of the stripe being filled or written.
    chunk_len: usize,
    /// Stripe bytes read into the data chunks so far.
    filled: usize,
}

impl StripeBuffers {
    /// Buffers for the chunks of `layout`, none held yet: they come from `pool`, paid
    /// for by `budget`, as the stripes need them.
    pub fn new(layout: SetLayout, pool: &BufPool, budget: &MemoryBudget) -> Self {
        let count = layout.set_size();
        Self {
            layout,
            pool: pool.clone(),
            budget: budget.clone(),
            bufs: (0..count).map(|_| None).collect(),
            grants: (0..count).map(|_| None).collect(),
            carried: vec![Vec::new(); count],
            heads: vec![0; count],
            chunk_len: 0,
            filled: 0,
        }
    }

    /// Makes chunk `chunk`'s buffer `Home`: waits (bounded) for a grant of one buffer,
    /// takes the buffer and puts the carried bytes in front. `SlowDown` when the budget
    /// stays full; nothing is held then.
    pub async fn hold(&mut self, chunk: usize, env: &impl Env) -> Result<()> {
        if self.bufs[chunk].is_some() {
            return Ok(());
        }
        assert!(
            self.grants[chunk].is_none(),
            "a buffer is written once at a time"
        );
        let bytes = self.pool.buf_size_bytes();
        let Some(grant) = self.budget.grant(bytes, GRANT_WAIT_MAX, env).await else {
            return Err(Error::SlowDown);
        };
        let mut buf = self.pool.get();
        let carried = std::mem::take(&mut self.carried[chunk]);
        buf.spare_all()[..carried.len()].copy_from_slice(&carried);
        buf.set_len(carried.len());
        self.bufs[chunk] = Some(buf);
        self.grants[chunk] = Some(grant);
        Ok(())
    }

    /// Whether the data chunk the next body bytes go to has its buffer.
    pub fn next_is_held(&self) -> bool {
        self.bufs[self.filled / self.chunk_len.max(1)].is_some()
    }

    /// Holds the buffer of the data chunk the next body bytes go to.
    pub async fn hold_next(&mut self, env: &impl Env) -> Result<()> {
        self.hold(self.filled / self.chunk_len.max(1), env).await
    }

    /// Holds every chunk's buffer (to re-split, encode and seal a stripe).
    pub async fn hold_all(&mut self, env: &impl Env) -> Result<()> {
        for chunk in 0..self.layout.set_size() {
            self.hold(chunk, env).await?;
        }
        Ok(())
    }

    /// Bytes of the budget this request holds now (tests watch it).
    pub fn held_bytes(&self) -> usize {
        self.grants.iter().flatten().count() * self.pool.buf_size_bytes()
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
    /// stripe of a body of undeclared length needs it. The data chunks the bytes move to
    /// must be held (`hold_all`) unless nothing was read.
    pub fn shrink_to_filled(&mut self) {
        let new_len = chunk_len_for(self.filled, self.layout.data_chunks);
        if new_len == self.chunk_len {
            return;
        }
        let mut bytes = Vec::with_capacity(self.filled);
        for chunk in 0..self.layout.data_chunks {
            let content = self.data_in_chunk(chunk);
            if content > 0 {
                bytes.extend_from_slice(&self.chunk_area(chunk)[..content]);
            }
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

    /// Takes chunk `chunk`'s buffer (carried bytes and sealed record) out for a write;
    /// its grant stays held until the buffer is carried back or forgotten.
    pub fn take(&mut self, chunk: usize) -> AlignedBuf {
        self.bufs[chunk]
            .take()
            .expect("a buffer is written once at a time")
    }

    /// Gives back chunk `chunk`'s buffer after `written_bytes` (whole blocks) of it went
    /// to the drive: what is left (the partial block) is carried to the next stripe's
    /// buffer, and the buffer goes back to the pool and its grant to the budget.
    pub fn carry(&mut self, chunk: usize, buf: AlignedBuf, written_bytes: usize) {
        let staged = buf.len();
        assert!(written_bytes <= staged && staged - written_bytes < BLOCK_SIZE_BYTES);
        let carried = &mut self.carried[chunk];
        carried.clear();
        carried.extend_from_slice(&buf.as_slice()[written_bytes..staged]);
        self.heads[chunk] = staged - written_bytes;
        self.pool.put(buf);
        self.grants[chunk] = None;
    }

    /// Chunk `chunk`'s member left the write: its records are no longer kept, its
    /// buffer (if home) goes back, and so does its grant (a buffer lost with a write cut
    /// at its deadline is the drive's to drop). Later stripes still hold a buffer for
    /// it, as their data and coding need every chunk.
    pub fn forget(&mut self, chunk: usize) {
        if let Some(buf) = self.bufs[chunk].take() {
            self.pool.put(buf);
        }
        self.grants[chunk] = None;
        self.carried[chunk].clear();
        self.heads[chunk] = 0;
    }

    /// Chunk `chunk`'s last partial block (what the writes left), in a one-block buffer
    /// of its own for the final write; the chunk must be parked (its stripes written).
    pub fn take_tail(&mut self, chunk: usize) -> AlignedBuf {
        assert!(self.bufs[chunk].is_none(), "the last stripe was written");
        let carried = std::mem::take(&mut self.carried[chunk]);
        let mut tail = AlignedBuf::with_capacity(BLOCK_SIZE_BYTES);
        tail.extend_from_slice(&carried);
        self.heads[chunk] = 0;
        tail
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
    use futures_util::FutureExt;
    use shoal_io::MonoioEnv;

    /// Holds every buffer; the budgets here are large, so no wait (and no timer) is needed.
    fn hold_all(bufs: &mut StripeBuffers) {
        bufs.hold_all(&MonoioEnv)
            .now_or_never()
            .expect("granted at once")
            .expect("granted");
    }

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
        let budget = MemoryBudget::new(64 << 20);
        let mut bufs = StripeBuffers::new(layout, &pool, &budget);
        for (stripe, data) in body.chunks(stripe_bytes).enumerate() {
            bufs.begin_stripe(geometry.chunk_len(stripe as u64));
            hold_all(&mut bufs);
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
            assert_eq!(budget.used_bytes(), 0, "a written stripe holds no grant");
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
        for c in 0..4 {
            let tail = bufs.take_tail(c);
            assert_eq!(
                tail.as_slice(),
                &files[c][files[c].len() / BLOCK_SIZE_BYTES * BLOCK_SIZE_BYTES..]
            );
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
        let budget = MemoryBudget::new(64 << 20);
        let mut bufs = StripeBuffers::new(layout(), &pool, &budget);
        bufs.begin_stripe(32 << 10);
        hold_all(&mut bufs);
        fill(&mut bufs, &data);
        bufs.shrink_to_filled();
        bufs.seal(&coder, &[0; 4], 0);
        assert_eq!(bufs.chunk(0), &data[..20_001]);
        assert_eq!(&bufs.chunk(1)[..20_000], &data[20_001..]);
        assert_eq!(bufs.chunk(1)[20_000], 0, "the tail is zero-padded");
    }

    /// Buffers follow the bytes: nothing is held before a byte arrives, one data buffer
    /// for a stripe's first bytes, every buffer only to seal, none once written; a full
    /// budget refuses the next buffer with SlowDown (after its bounded wait).
    #[test]
    fn buffers_are_held_only_as_bytes_arrive() {
        let pool = BufPool::new(staging_buf_bytes(64 << 10, 2), 4);
        let one = pool.buf_size_bytes();
        let budget = MemoryBudget::new(4 * one);
        let mut bufs = StripeBuffers::new(layout(), &pool, &budget);
        bufs.begin_stripe(32 << 10);
        assert_eq!((bufs.held_bytes(), budget.used_bytes()), (0, 0));
        assert!(!bufs.next_is_held());
        bufs.hold_next(&MonoioEnv)
            .now_or_never()
            .expect("at once")
            .expect("granted");
        fill(&mut bufs, &[7; 10]);
        assert_eq!(budget.used_bytes(), one, "10 bytes hold one buffer");
        let other = StripeBuffers::new(layout(), &pool, &budget);
        drop(other);
        let held = budget.try_grant(3 * one).expect("room for the rest");
        let mut runtime = shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
            .expect("runtime")
            .0;
        let refused = runtime.block_on(bufs.hold_all(&MonoioEnv));
        assert!(matches!(refused, Err(Error::SlowDown)), "{refused:?}");
        drop(held);
        hold_all(&mut bufs);
        assert_eq!(bufs.held_bytes(), 4 * one, "sealing holds every buffer");
        for c in 0..4 {
            let buf = bufs.take(c);
            bufs.carry(c, buf, 0);
        }
        assert_eq!((bufs.held_bytes(), budget.used_bytes()), (0, 0));
        drop(bufs);
        assert_eq!(budget.used_bytes(), 0);
    }
}
