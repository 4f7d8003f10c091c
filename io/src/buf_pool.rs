//! `BufPool`: a per-shard pool of equally sized `AlignedBuf`s, all allocated at start.
//!
//! Bounded by design: `get` returns `None` when every buffer is out, and the caller
//! waits, sheds load or fails the request. It never allocates after `new`, so memory
//! per shard is `buf_size_bytes * count_max`, fixed (STYLE.md: allocate at start).
//!
//! Invariants: the pool holds at most `count_max` buffers, each with capacity exactly
//! `buf_size_bytes`; a buffer comes out of `get` with length 0. Single-threaded
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
    count_max: usize,
}

impl BufPool {
    /// A pool of `count_max` zeroed buffers of `buf_size_bytes` (a block multiple).
    pub fn new(buf_size_bytes: usize, count_max: usize) -> BufPool {
        assert!(
            buf_size_bytes > 0 && buf_size_bytes.is_multiple_of(BLOCK_SIZE_BYTES),
            "buffer size {buf_size_bytes} is not a positive multiple of a block"
        );
        assert!(count_max > 0, "an empty pool");
        let free = (0..count_max)
            .map(|_| AlignedBuf::with_capacity(buf_size_bytes))
            .collect();
        BufPool {
            inner: Rc::new(RefCell::new(Inner {
                free,
                buf_size_bytes,
                count_max,
            })),
        }
    }

    /// A free buffer (length 0), or `None` when all `count_max` are in use.
    pub fn get(&self) -> Option<AlignedBuf> {
        let mut buf = self.inner.borrow_mut().free.pop()?;
        buf.set_len(0);
        Some(buf)
    }

    /// Returns a buffer taken from this pool (asserted by size and count).
    pub fn put(&self, buf: AlignedBuf) {
        let mut inner = self.inner.borrow_mut();
        assert_eq!(
            buf.capacity(),
            inner.buf_size_bytes,
            "buffer from another pool"
        );
        assert!(inner.free.len() < inner.count_max, "buffer put twice");
        inner.free.push(buf);
    }

    /// Buffers ready to `get`.
    pub fn available_count(&self) -> usize {
        self.inner.borrow().free.len()
    }

    pub fn count_max(&self) -> usize {
        self.inner.borrow().count_max
    }

    pub fn buf_size_bytes(&self) -> usize {
        self.inner.borrow().buf_size_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pool hands out at most `count_max` buffers, empty, and takes them back.
    #[test]
    fn bounded_get_and_put() {
        let pool = BufPool::new(2 * BLOCK_SIZE_BYTES, 2);
        let mut first = pool.get().expect("first");
        let second = pool.get().expect("second");
        assert!(pool.get().is_none());
        first.extend_from_slice(b"dirty");
        pool.put(first);
        let again = pool.get().expect("returned buffer");
        assert_eq!(again.len(), 0);
        assert_eq!(again.capacity(), 2 * BLOCK_SIZE_BYTES);
        pool.put(again);
        pool.put(second);
        assert_eq!(pool.available_count(), 2);
    }

    /// A buffer of the wrong size is a programmer error.
    #[test]
    #[should_panic(expected = "another pool")]
    fn foreign_buffer_panics() {
        BufPool::new(BLOCK_SIZE_BYTES, 1).put(AlignedBuf::with_capacity(2 * BLOCK_SIZE_BYTES));
    }
}
