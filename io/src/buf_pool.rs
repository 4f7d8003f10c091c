//! `BufPool`: a per-shard cache of equally sized `AlignedBuf`s for reuse. New buffers
//! are mapped (`AlignedBuf::mapped`): their pages become resident only as written.
//!
//! The pool is reuse, not a limit on memory: what bounds the buffers in use is the
//! caller's memory budget (a request holds a grant for every buffer it takes before it
//! takes them). `get` hands out a free buffer, or allocates one when none is free (that
//! happens only while the shard's load grows: in a steady state every buffer comes back
//! and is handed out again, so no stripe allocates). `put` keeps at most `free_max`
//! buffers and frees the rest, so an idle shard holds at most
//! `buf_size_bytes * free_max` bytes here. Callers size `free_max` from their budget
//! (the buffers the budget can pay for), so the pool never keeps more than the budget
//! could have in use.
//!
//! Invariants: every buffer given out or kept has capacity exactly `buf_size_bytes`; a
//! buffer comes out of `get` with length 0 (its bytes are whatever they were: callers
//! write before they read); the pool keeps at most `free_max` buffers. Single-threaded
//! (`Rc<RefCell<..>>`): each shard has its own pool; `Clone` shares it.

use std::cell::RefCell;
use std::rc::Rc;

use crate::buf::{AlignedBuf, BLOCK_SIZE_BYTES};

#[derive(Clone)]
pub struct BufPool {
    inner: Rc<RefCell<Inner>>,
}

struct Inner {
    free: Vec<AlignedBuf>,
    buf_size_bytes: usize,
    free_max: usize,
    /// Buffers allocated since `new` (tests prove reuse with it).
    allocated_total: u64,
}

impl BufPool {
    /// An empty pool of buffers of `buf_size_bytes` (a block multiple) that keeps at
    /// most `free_max` of them for reuse.
    pub fn new(buf_size_bytes: usize, free_max: usize) -> BufPool {
        assert!(
            buf_size_bytes > 0 && buf_size_bytes.is_multiple_of(BLOCK_SIZE_BYTES),
            "buffer size {buf_size_bytes} is not a positive multiple of a block"
        );
        BufPool {
            inner: Rc::new(RefCell::new(Inner {
                free: Vec::with_capacity(free_max.min(1024)),
                buf_size_bytes,
                free_max,
                allocated_total: 0,
            })),
        }
    }

    /// A buffer of length 0: a free one, else a new one (the caller's budget paid for it).
    pub fn get(&self) -> AlignedBuf {
        let mut inner = self.inner.borrow_mut();
        if let Some(mut buf) = inner.free.pop() {
            buf.set_len(0);
            return buf;
        }
        inner.allocated_total += 1;
        // Mapped: a buffer costs memory only for what is written into it, so a request
        // that holds one for a few bytes (a slow body) does not make it all resident.
        AlignedBuf::mapped(inner.buf_size_bytes)
    }

    /// Takes back a buffer from this pool (asserted by size): kept for the next `get`,
    /// or freed when the pool already keeps `free_max`.
    pub fn put(&self, buf: AlignedBuf) {
        let mut inner = self.inner.borrow_mut();
        assert_eq!(
            buf.capacity(),
            inner.buf_size_bytes,
            "buffer from another pool"
        );
        if inner.free.len() < inner.free_max {
            inner.free.push(buf);
        }
    }

    /// Buffers kept, ready to `get` without allocating.
    pub fn available_count(&self) -> usize {
        self.inner.borrow().free.len()
    }

    /// Buffers allocated since the pool was made.
    pub fn allocated_total(&self) -> u64 {
        self.inner.borrow().allocated_total
    }

    pub fn free_max(&self) -> usize {
        self.inner.borrow().free_max
    }

    pub fn buf_size_bytes(&self) -> usize {
        self.inner.borrow().buf_size_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers come out empty and are reused: after the first round no `get` allocates,
    /// and the pool keeps no more than `free_max`.
    #[test]
    fn reuses_and_keeps_at_most_free_max() {
        let pool = BufPool::new(2 * BLOCK_SIZE_BYTES, 2);
        let mut first = pool.get();
        let second = pool.get();
        let third = pool.get();
        assert_eq!(pool.allocated_total(), 3);
        first.extend_from_slice(b"dirty");
        pool.put(first);
        let again = pool.get();
        assert_eq!(again.len(), 0);
        assert_eq!(again.capacity(), 2 * BLOCK_SIZE_BYTES);
        assert_eq!(pool.allocated_total(), 3, "a returned buffer is reused");
        pool.put(again);
        pool.put(second);
        pool.put(third);
        assert_eq!(pool.available_count(), 2, "the third is freed, not kept");
        for _ in 0..100 {
            let a = pool.get();
            let b = pool.get();
            pool.put(a);
            pool.put(b);
        }
        assert_eq!(pool.allocated_total(), 3, "steady state allocates nothing");
    }

    /// A pool that keeps nothing still hands out buffers (the budget bounds them).
    #[test]
    fn keeping_nothing_still_serves() {
        let pool = BufPool::new(BLOCK_SIZE_BYTES, 0);
        let buf = pool.get();
        pool.put(buf);
        assert_eq!(pool.available_count(), 0);
    }

    /// A buffer of the wrong size is a programmer error.
    #[test]
    #[should_panic(expected = "another pool")]
    fn foreign_buffer_panics() {
        BufPool::new(BLOCK_SIZE_BYTES, 1).put(AlignedBuf::with_capacity(2 * BLOCK_SIZE_BYTES));
    }
}
