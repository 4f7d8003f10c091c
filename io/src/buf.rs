//! `AlignedBuf`: a heap buffer whose start and capacity are multiples of 4 KiB, as
//! O_DIRECT requires, usable as a monoio `IoBuf`/`IoBufMut`.
//!
//! Invariants: capacity is a non-zero multiple of [`BLOCK_SIZE_BYTES`]; `len <= capacity`;
//! bytes in `0..len` are initialised (the whole allocation is zeroed at creation: written
//! with zeros from the heap, or, for [`AlignedBuf::mapped`], an anonymous mapping whose
//! pages read as zero and become resident only when first written).

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::ptr::NonNull;

/// The device I/O unit: offsets, lengths and buffer addresses of O_DIRECT I/O are
/// multiples of it.
pub const BLOCK_SIZE_BYTES: usize = 4096;

/// A zero-initialised, 4 KiB-aligned byte buffer with a length and a capacity.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
    capacity: usize,
    /// From `mmap` (freed with `munmap`), not from the heap.
    mapped: bool,
}

impl AlignedBuf {
    /// A buffer of `len` zero bytes whose capacity is `len` rounded up to a block.
    pub fn zeroed(len: usize) -> Self {
        let capacity = round_up_to_block(len.max(1));
        let layout = Self::layout(capacity);
        #[allow(unsafe_code)]
        // SAFETY: layout has a non-zero size (capacity >= BLOCK_SIZE_BYTES).
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        Self {
            ptr,
            len,
            capacity,
            mapped: false,
        }
    }

    /// An empty buffer of at least `capacity` bytes whose pages cost memory only once
    /// written, and go back to the kernel when it is dropped: for large buffers that may
    /// be held while little of them is used (the staging buffer of a slow body).
    pub fn mapped(capacity: usize) -> Self {
        let capacity = round_up_to_block(capacity.max(1));
        #[allow(unsafe_code)]
        // SAFETY: an anonymous private mapping of a non-zero length, no file involved;
        // the result is checked before use. Pages are page-aligned (4 KiB or more).
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                capacity,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        let ptr = (raw != libc::MAP_FAILED)
            .then(|| NonNull::new(raw.cast::<u8>()))
            .flatten();
        let Some(ptr) = ptr else {
            std::alloc::handle_alloc_error(Self::layout(capacity))
        };
        assert!(ptr.as_ptr().addr().is_multiple_of(BLOCK_SIZE_BYTES));
        Self {
            ptr,
            len: 0,
            capacity,
            mapped: true,
        }
    }

    /// An empty buffer (length 0) with at least `capacity` bytes of room.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut buf = Self::zeroed(capacity);
        buf.len = 0;
        buf
    }

    fn layout(capacity: usize) -> Layout {
        Layout::from_size_align(capacity, BLOCK_SIZE_BYTES).expect("buffer layout")
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Sets the length; bytes past the old length keep whatever they held (initialised).
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity,
            "len {len} > capacity {}",
            self.capacity
        );
        self.len = len;
    }

    /// Appends `bytes`; panics if they do not fit (callers size buffers up front).
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        let (start, end) = (self.len, self.len + bytes.len());
        assert!(end <= self.capacity, "append past capacity");
        self.spare_all()[start..end].copy_from_slice(bytes);
        self.len = end;
    }

    /// Zeroes bytes `len..round_up_to_block(len)` and extends `len` to that block end.
    pub fn pad_to_block(&mut self) {
        let end = round_up_to_block(self.len);
        let len = self.len;
        self.spare_all()[len..end].fill(0);
        self.len = end;
    }

    pub fn as_slice(&self) -> &[u8] {
        #[allow(unsafe_code)]
        // SAFETY: ptr is valid for `capacity` initialised bytes and len <= capacity.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.len)
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.spare_all()[..len]
    }

    /// The whole capacity (all of it is initialised), for callers that build records
    /// in place before they set the length.
    pub fn as_capacity_slice(&self) -> &[u8] {
        #[allow(unsafe_code)]
        // SAFETY: ptr is valid for `capacity` initialised bytes; shared borrow of self.
        unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr(), self.capacity)
        }
    }

    /// The whole capacity as a mutable slice (all of it is initialised).
    pub fn spare_all(&mut self) -> &mut [u8] {
        #[allow(unsafe_code)]
        // SAFETY: ptr is valid for `capacity` initialised bytes, uniquely borrowed here.
        unsafe {
            std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.capacity)
        }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        if self.mapped {
            #[allow(unsafe_code)]
            // SAFETY: mapped in `mapped` with exactly this length and not unmapped before.
            let unmapped = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.capacity) };
            assert_eq!(unmapped, 0, "munmap of a buffer's own mapping");
            return;
        }
        #[allow(unsafe_code)]
        // SAFETY: allocated in `zeroed` with exactly this layout and not freed before.
        unsafe {
            dealloc(self.ptr.as_ptr(), Self::layout(self.capacity));
        }
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

// SAFETY: an `AlignedBuf` owns its allocation uniquely (like a `Vec<u8>`), so moving it
// to another thread (the epoll-mode blocking pool) moves sole access with it.
#[allow(unsafe_code)]
unsafe impl Send for AlignedBuf {}

// SAFETY (for the two impls below): the pointer stays valid and fixed while the buffer
// is owned by the runtime, because the allocation never moves or shrinks.
#[allow(unsafe_code)]
unsafe impl monoio::buf::IoBuf for AlignedBuf {
    fn read_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.len
    }
}

#[allow(unsafe_code)]
unsafe impl monoio::buf::IoBufMut for AlignedBuf {
    fn write_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    fn bytes_total(&mut self) -> usize {
        self.capacity
    }

    unsafe fn set_init(&mut self, pos: usize) {
        assert!(pos <= self.capacity);
        self.len = pos;
    }
}

/// `n` rounded up to a multiple of [`BLOCK_SIZE_BYTES`].
pub const fn round_up_to_block(n: usize) -> usize {
    n.div_ceil(BLOCK_SIZE_BYTES) * BLOCK_SIZE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers are block-aligned, zeroed, and keep the length rules.
    #[test]
    fn aligned_and_zeroed() {
        let mut buf = AlignedBuf::zeroed(10);
        assert_eq!(buf.as_slice().as_ptr() as usize % BLOCK_SIZE_BYTES, 0);
        assert_eq!(buf.capacity(), BLOCK_SIZE_BYTES);
        assert!(buf.as_slice().iter().all(|&b| b == 0));
        buf.set_len(0);
        buf.extend_from_slice(b"abc");
        buf.pad_to_block();
        assert_eq!(buf.len(), BLOCK_SIZE_BYTES);
        assert_eq!(&buf.as_slice()[..4], b"abc\0");
    }

    /// A mapped buffer is aligned, reads as zeros, takes writes over its whole capacity,
    /// and becomes resident only where written (RSS grows by far less than its size).
    #[test]
    fn mapped_is_zeroed_and_lazy() {
        fn rss_bytes() -> usize {
            let status = std::fs::read_to_string("/proc/self/statm").expect("statm");
            let pages: usize = status.split(' ').nth(1).expect("rss").parse().expect("n");
            pages * 4096
        }
        let size_bytes = 64 << 20;
        let before = rss_bytes();
        let mut buf = AlignedBuf::mapped(size_bytes - 5);
        assert_eq!(buf.capacity(), size_bytes);
        assert_eq!(
            buf.as_capacity_slice().as_ptr() as usize % BLOCK_SIZE_BYTES,
            0
        );
        buf.extend_from_slice(b"abc");
        buf.spare_all()[size_bytes - 1] = 9;
        assert!(
            rss_bytes() < before + (8 << 20),
            "only written pages are resident"
        );
        assert!(
            buf.as_capacity_slice()[3..size_bytes - 1]
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(&buf.as_slice()[..3], b"abc");
    }
}
