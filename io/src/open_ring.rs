//! Opens a file relative to a directory the drive holds open (`IORING_OP_OPENAT` with
//! that directory's descriptor), and reads a small file whole, through a small io_uring
//! ring of the shard's own.
//!
//! Why a second ring: monoio 0.2.4 submits `openat` only at `AT_FDCWD` (its op types
//! are private), so its opens of drive files name `/proc/<pid>/fd/<root>/…`. The kernel
//! cannot follow that magic link in a lookup that must not sleep (procfs refuses the
//! RCU walk), so io_uring's inline attempt fails and every such open is handed to an
//! io-wq worker thread: a wake-up and two context switches per open, and a pool of
//! `iou-wrk` threads. Relative to the held directory's own descriptor, a path whose
//! entries are in the dentry cache resolves inline, inside the `io_uring_enter` that
//! submits it; what resolves here is exactly what resolved under the `/proc` form (the
//! held directory, never the configured folder name).
//!
//! A whole-file read (`read_whole`, every metadata record a HEAD or GET reads) is one
//! linked chain: open into a registered file slot, read the first bytes, close the slot
//! (hard links: the read and the close run whatever the step before answered, so the
//! slot is always emptied). No descriptor enters the process, and a cached record is
//! read entirely inside one `io_uring_enter`.
//!
//! Submissions are batched: a call queues its entries and waits one turn of the
//! executor before submitting, so the reads a request makes of several drives at once
//! (a quorum of metadata records) share one `io_uring_enter`.
//!
//! One ring per shard thread (thread-local, made on first use, `SLOTS` slots). Work the
//! kernel hands to a worker (an uncached path), and the later steps of a chain (the
//! kernel runs them as task work of this thread after the step before), complete after
//! the submission returns: the ring signals an eventfd on every completion, which a
//! reaper task of the shard reads through monoio's ring while any slot is in flight.
//! (An eventfd registered for asynchronous completions only is not signalled for task
//! work: a chain whose read went to a worker would never be reaped.)
//!
//! Invariants:
//! - At most `SLOTS` calls in flight per shard; beyond that (or when the ring cannot be
//!   made or submitted to) a call answers `None` and the caller does it the old way.
//! - A slot owns what the kernel reads or writes (the path, the directory, the read's
//!   buffer) until every completion of its entries is reaped, even when the caller gave
//!   up (its future dropped); a descriptor that arrives for an abandoned open is closed.
//! - Slot `i` of the ring's registered file table belongs to slot `i` of the ring: only
//!   its own chain installs a file there, and the chain's close empties it.
//! - Only under monoio's io_uring driver: the reaper's eventfd read must not block the
//!   thread (under epoll, drive I/O goes to the helper pool instead, `dir_drive.rs`).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::squeue::Flags;
use io_uring::{IoUring, opcode, types};

/// Calls in flight per shard at most (and registered file slots).
const SLOTS: usize = 64;

/// Submission queue entries: a whole-file read queues three, and every queued entry
/// belongs to a slot in use.
const ENTRIES: u32 = 4 * SLOTS as u32;

/// Which entry of a slot a completion answers (the low bits of its user data).
const STEP_OPEN: u64 = 0;
const STEP_READ: u64 = 1;
const STEP_CLOSE: u64 = 2;
const STEP_BITS: u32 = 2;

/// One call in flight: what the kernel reads or writes until its completions are in.
struct Slot {
    /// The path the open points at.
    _path: CString,
    /// Keeps the directory's descriptor open until the open completes.
    _dir: Rc<dyn Any>,
    /// A whole-file read's buffer: the kernel writes into it until the read completes.
    buf: Vec<u8>,
    /// A whole-file read (open, read and close chained) rather than an open.
    whole: bool,
    /// Completions still to come.
    pending: u8,
    /// The open's result: a descriptor (a plain open), 0 (into the slot), or `-errno`.
    opened: i32,
    /// The read's result: bytes read or `-errno`.
    read: i32,
    waiter: Waiter,
}

enum Waiter {
    Waiting(Option<Waker>),
    /// The caller gave up; the slot is freed (and a plain open's descriptor closed)
    /// once its last completion is in.
    Abandoned,
}

impl Slot {
    fn done(&self) -> bool {
        self.pending == 0
    }

    /// Frees what an abandoned slot got: a plain open's descriptor.
    fn discard(self) {
        if !self.whole {
            close_result(self.opened);
        }
    }
}

struct OpenRing {
    ring: RefCell<IoUring>,
    slots: RefCell<Vec<Option<Slot>>>,
    /// Whether the registered file table is there (whole-file reads need it).
    files: bool,
    /// `io_uring_enter` calls made to submit (what batching saves shows here).
    submits: Cell<u64>,
    eventfd: OwnedFd,
    reaping: Cell<bool>,
}

/// A shard thread's ring, made on first use.
enum ThisShard {
    NotTried,
    Ready(Rc<OpenRing>),
    /// io_uring could not be set up for this thread: opens go the caller's way.
    Unavailable,
}

thread_local! {
    static RING: RefCell<ThisShard> = const { RefCell::new(ThisShard::NotTried) };
}

/// Opens `path` (relative, no `..`) under the directory `dir`, which `keep` holds open,
/// with `flags` (`O_CLOEXEC` added). `None` when this shard cannot take the open now:
/// the caller opens it another way.
pub(crate) async fn open_at(
    dir: RawFd,
    keep: Rc<dyn Any>,
    path: CString,
    flags: i32,
) -> Option<io::Result<OwnedFd>> {
    let ring = this_shard_ring()?;
    let slot = ring.queue_open(dir, keep, path, flags)?;
    let slot = Wait::new(ring, slot).await?;
    Some(if slot.opened < 0 {
        Err(io::Error::from_raw_os_error(-slot.opened))
    } else {
        #[allow(unsafe_code)]
        // SAFETY: a non-negative result of a plain open is a new descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(slot.opened) })
    })
}

/// What a whole-file read found.
pub(crate) enum Whole {
    /// The whole file: the read ended short of the buffer.
    Read(Vec<u8>),
    /// The file fills the buffer or more: the caller reads it another way.
    Larger,
}

/// Reads the file `path` (relative, no `..`) under the directory `dir`, which `keep`
/// holds open, if it is under `max_bytes` long. `None` when this shard cannot take the
/// read now: the caller reads it another way.
pub(crate) async fn read_whole(
    dir: RawFd,
    keep: Rc<dyn Any>,
    path: CString,
    max_bytes: usize,
) -> Option<io::Result<Whole>> {
    let ring = this_shard_ring()?;
    let slot = ring.queue_read_whole(dir, keep, path, max_bytes)?;
    let slot = Wait::new(ring, slot).await?;
    Some(if slot.opened < 0 {
        Err(io::Error::from_raw_os_error(-slot.opened))
    } else {
        match usize::try_from(slot.read) {
            Err(_) => Err(io::Error::from_raw_os_error(-slot.read)),
            Ok(len) if len >= max_bytes => Ok(Whole::Larger),
            Ok(len) => {
                let mut data = slot.buf;
                #[allow(unsafe_code)]
                // SAFETY: the kernel wrote `len` bytes at the start of the buffer, whose
                // capacity is `max_bytes` > `len`.
                unsafe {
                    data.set_len(len);
                }
                Ok(Whole::Read(data))
            }
        }
    })
}

fn this_shard_ring() -> Option<Rc<OpenRing>> {
    if monoio::utils::is_legacy() {
        return None;
    }
    RING.with(|cell| {
        let mut this = cell.borrow_mut();
        if matches!(*this, ThisShard::NotTried) {
            *this = OpenRing::new().map_or(ThisShard::Unavailable, |ring| {
                ThisShard::Ready(Rc::new(ring))
            });
        }
        match &*this {
            ThisShard::Ready(ring) => Some(Rc::clone(ring)),
            ThisShard::NotTried | ThisShard::Unavailable => None,
        }
    })
}

impl OpenRing {
    fn new() -> io::Result<OpenRing> {
        let ring = IoUring::new(ENTRIES)?;
        #[allow(unsafe_code)]
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns. Blocking (no EFD_NONBLOCK): io_uring then waits for it
        // by polling, where a non-blocking one would answer EAGAIN at once.
        let eventfd = unsafe {
            let fd = libc::eventfd(0, libc::EFD_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            OwnedFd::from_raw_fd(fd)
        };
        ring.submitter().register_eventfd(eventfd.as_raw_fd())?;
        // Without a file table (a kernel before 5.15), whole-file reads go the
        // caller's way and plain opens still work.
        let files = ring.submitter().register_files_sparse(SLOTS as u32).is_ok();
        Ok(OpenRing {
            ring: RefCell::new(ring),
            slots: RefCell::new((0..SLOTS).map(|_| None).collect()),
            files,
            submits: Cell::new(0),
            eventfd,
            reaping: Cell::new(false),
        })
    }

    /// Queues a plain open in a free slot.
    fn queue_open(
        &self,
        dir: RawFd,
        keep: Rc<dyn Any>,
        path: CString,
        flags: i32,
    ) -> Option<usize> {
        self.queue(keep, path, Vec::new(), |index, path| {
            let open = opcode::OpenAt::new(types::Fd(dir), path.as_ptr())
                .flags(flags | libc::O_CLOEXEC)
                .build()
                .user_data(user_data(index, STEP_OPEN));
            vec![open]
        })
    }

    /// Queues a whole-file read (open into the slot's file, read, close) in a free slot.
    fn queue_read_whole(
        &self,
        dir: RawFd,
        keep: Rc<dyn Any>,
        path: CString,
        max_bytes: usize,
    ) -> Option<usize> {
        if !self.files {
            return None;
        }
        let mut buf = Vec::with_capacity(max_bytes);
        let (ptr, len) = (buf.as_mut_ptr(), u32::try_from(max_bytes).ok()?);
        self.queue(keep, path, buf, |index, path| {
            let file = index as u32;
            let slot = types::DestinationSlot::try_from_slot_target(file)
                .expect("a slot index is a valid file slot");
            // No O_CLOEXEC: the kernel refuses it for an open into a file slot, which
            // never becomes a descriptor of the process.
            let open = opcode::OpenAt::new(types::Fd(dir), path.as_ptr())
                .flags(libc::O_RDONLY)
                .file_index(Some(slot))
                .build()
                .flags(Flags::IO_HARDLINK)
                .user_data(user_data(index, STEP_OPEN));
            let read = opcode::Read::new(types::Fixed(file), ptr, len)
                .offset(0)
                .build()
                .flags(Flags::IO_HARDLINK)
                .user_data(user_data(index, STEP_READ));
            let close = opcode::Close::new(types::Fixed(file))
                .build()
                .user_data(user_data(index, STEP_CLOSE));
            vec![open, read, close]
        })
    }

    /// Takes a free slot, makes its entries and queues them (submitted by the first
    /// waiter's second poll, `flush`).
    fn queue(
        &self,
        keep: Rc<dyn Any>,
        path: CString,
        buf: Vec<u8>,
        entries: impl FnOnce(usize, &CString) -> Vec<io_uring::squeue::Entry>,
    ) -> Option<usize> {
        let mut slots = self.slots.borrow_mut();
        let index = slots.iter().position(Option::is_none)?;
        let entries = entries(index, &path);
        let mut ring = self.ring.borrow_mut();
        let mut queue = ring.submission();
        if queue.capacity() - queue.len() < entries.len() {
            return None;
        }
        for entry in &entries {
            #[allow(unsafe_code)]
            // SAFETY: the entries point at `path` (a heap CString, not moved by moving
            // the `CString`) and at `buf` (a heap buffer of the length the read names),
            // and name the caller's directory, which `keep` holds open; all three are owned by slot
            // `index` until every completion of its entries is reaped. Room for all of
            // them was checked above, so the chain is never cut.
            let pushed = unsafe { queue.push(entry) };
            pushed.expect("room was checked");
        }
        drop(queue);
        slots[index] = Some(Slot {
            _path: path,
            _dir: keep,
            buf,
            whole: entries.len() > 1,
            pending: entries.len() as u8,
            opened: 0,
            read: 0,
            waiter: Waiter::Waiting(None),
        });
        Some(index)
    }

    /// Submits what is queued (one `io_uring_enter` for every call queued since the
    /// last) and reaps what completed inline. What the kernel did not take stays
    /// queued, for the next flush.
    fn flush(&self) -> io::Result<()> {
        let submitted = {
            let mut ring = self.ring.borrow_mut();
            if ring.submission().is_empty() {
                return Ok(());
            }
            self.submits.set(self.submits.get() + 1);
            ring.submit()
        };
        self.reap();
        submitted.map(drop)
    }

    /// Takes every completion in the ring: wakes the waiter of a slot whose last
    /// completion it is, or frees the slot if its waiter is gone.
    fn reap(&self) {
        let mut wakers = Vec::new();
        {
            let mut ring = self.ring.borrow_mut();
            let mut slots = self.slots.borrow_mut();
            for cqe in ring.completion() {
                let index = (cqe.user_data() >> STEP_BITS) as usize;
                let Some(slot) = slots.get_mut(index).and_then(Option::as_mut) else {
                    continue;
                };
                match cqe.user_data() & ((1 << STEP_BITS) - 1) {
                    STEP_OPEN => slot.opened = cqe.result(),
                    STEP_READ => slot.read = cqe.result(),
                    _ => {} // the close: the slot's file is gone either way
                }
                slot.pending = slot.pending.saturating_sub(1);
                if !slot.done() {
                    continue;
                }
                match &mut slot.waiter {
                    Waiter::Waiting(waker) => wakers.extend(waker.take()),
                    Waiter::Abandoned => {
                        if let Some(slot) = slots[index].take() {
                            slot.discard();
                        }
                    }
                }
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The caller no longer waits for slot `index`.
    fn abandon(&self, index: usize) {
        let mut slots = self.slots.borrow_mut();
        let slot = slots[index].as_mut().expect("a slot in use");
        if slot.done() {
            if let Some(slot) = slots[index].take() {
                slot.discard();
            }
        } else {
            slot.waiter = Waiter::Abandoned;
        }
    }

    fn in_flight(&self) -> bool {
        self.slots
            .borrow()
            .iter()
            .flatten()
            .any(|slot| !slot.done())
    }

    /// Runs the reaper task unless it runs already: it reads the eventfd (through
    /// monoio's ring) and reaps, while any slot is in flight.
    fn start_reaper(self: &Rc<Self>) {
        if self.reaping.replace(true) {
            return;
        }
        let ring = Rc::clone(self);
        monoio::spawn(async move {
            if let Ok(file) = ring.eventfd_file() {
                let mut count = vec![0_u8; 8];
                while ring.in_flight() {
                    let (read, buf) = file.read_at(count, 0).await;
                    count = buf;
                    if read.is_err() {
                        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }
                    let _ = ring.flush();
                    ring.reap();
                }
                ring.reaping.set(false);
                drop(file);
            } else {
                ring.reaping.set(false);
            }
        });
    }

    /// The eventfd as a monoio file of its own (a duplicate descriptor).
    fn eventfd_file(&self) -> io::Result<monoio::fs::File> {
        let copy = self.eventfd.try_clone()?;
        monoio::fs::File::from_std(std::fs::File::from(copy))
    }
}

fn user_data(index: usize, step: u64) -> u64 {
    ((index as u64) << STEP_BITS) | step
}

fn close_result(result: i32) {
    if result >= 0 {
        #[allow(unsafe_code)]
        // SAFETY: a non-negative result of a plain open is a descriptor nobody else owns.
        drop(unsafe { OwnedFd::from_raw_fd(result) });
    }
}

/// Waits for slot `slot`'s last completion and hands the slot over (`None`: it could
/// not be submitted, and the caller goes another way); dropped before, abandons it.
///
/// The first poll only yields: the calls other futures of this turn make queue their
/// entries meanwhile, and the second poll submits them all at once.
struct Wait {
    ring: Rc<OpenRing>,
    slot: usize,
    yielded: bool,
}

impl Wait {
    fn new(ring: Rc<OpenRing>, slot: usize) -> Wait {
        Wait {
            ring,
            slot,
            yielded: false,
        }
    }
}

impl Future for Wait {
    type Output = Option<Slot>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let flushed = this.ring.flush();
        let mut slots = this.ring.slots.borrow_mut();
        let slot = slots[this.slot].as_mut().expect("a slot in use");
        if flushed.is_err() && !slot.done() {
            // Maybe not submitted: the slot keeps its entries' memory until a later
            // flush submits them and they complete; this caller goes another way.
            drop(slots);
            this.ring.abandon(this.slot);
            this.slot = usize::MAX;
            return Poll::Ready(None);
        }
        if slot.done() {
            let slot = slots[this.slot].take();
            this.slot = usize::MAX;
            return Poll::Ready(slot);
        }
        if let Waiter::Waiting(waker) = &mut slot.waiter {
            *waker = Some(cx.waker().clone());
        }
        drop(slots);
        this.ring.start_reaper();
        Poll::Pending
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        if self.slot != usize::MAX {
            self.ring.abandon(self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::ffi::CString;
    use std::io::Read;

    fn cstr(path: &str) -> CString {
        CString::new(path).expect("no NUL")
    }

    /// Opens resolve under the held directory, not under its folder name: after the
    /// folder is renamed and another made in its place, the held one's file is read and
    /// the new folder's is not; a missing file is `NotFound`; more opens than slots at
    /// once all finish (the rest the caller's way), each slot freed for the next.
    #[test]
    fn opens_resolve_under_the_held_directory() {
        let root = tempfile::tempdir().expect("tempdir");
        let folder = root.path().join("drive");
        std::fs::create_dir_all(folder.join("a")).expect("folder");
        std::fs::write(folder.join("a/rec"), b"held").expect("file");
        let held = std::fs::File::open(&folder).expect("held");
        std::fs::rename(&folder, root.path().join("moved")).expect("rename");
        std::fs::create_dir_all(folder.join("a")).expect("new folder");
        std::fs::write(folder.join("a/rec"), b"other").expect("other file");
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let dir = held.as_raw_fd();
            let fd = open_at(dir, Rc::new(()), cstr("a/rec"), libc::O_RDONLY).await;
            let Some(fd) = fd else {
                return; // epoll mode or no io_uring here: nothing to prove
            };
            let mut text = String::new();
            std::fs::File::from(fd.expect("opened"))
                .read_to_string(&mut text)
                .expect("read");
            assert_eq!(text, "held");
            let missing = open_at(dir, Rc::new(()), cstr("a/none"), libc::O_RDONLY).await;
            let error = missing.expect("ring").expect_err("missing");
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            let many = (0..SLOTS * 2).map(|_| open_at(dir, Rc::new(()), cstr("a/rec"), 0));
            let opened = futures_util::future::join_all(many).await;
            assert!(opened.iter().flatten().all(Result::is_ok));
            assert!(opened.iter().flatten().count() >= SLOTS);
            let again = open_at(dir, Rc::new(()), cstr("a/rec"), libc::O_RDONLY).await;
            assert!(again.expect("a free slot").is_ok());
        });
    }

    fn read(found: Option<io::Result<Whole>>) -> Option<io::Result<Vec<u8>>> {
        found.map(|found| {
            found.map(|whole| match whole {
                Whole::Read(data) => data,
                Whole::Larger => b"<larger>".to_vec(),
            })
        })
    }

    /// A whole-file read answers the file's bytes (empty too), `Larger` for a file that
    /// fills the buffer, `NotFound` for a missing one and the error of a directory; its
    /// file slot is emptied every time (more reads than slots, one after another, all
    /// succeed); reads made in the same turn share one submission; a read dropped
    /// before it was submitted frees its slot when its completions come in.
    #[test]
    fn whole_reads_are_chained_batched_and_cleaned_up() {
        let root = tempfile::tempdir().expect("tempdir");
        let folder = root.path().join("drive");
        std::fs::create_dir_all(folder.join("a")).expect("folder");
        std::fs::write(folder.join("a/small"), b"record").expect("file");
        std::fs::write(folder.join("a/empty"), b"").expect("file");
        std::fs::write(folder.join("a/big"), vec![7_u8; 100]).expect("file");
        let held = std::fs::File::open(&folder).expect("held");
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let dir = held.as_raw_fd();
            let whole = |path: &str, max| read_whole(dir, Rc::new(()), cstr(path), max);
            let Some(small) = read(whole("a/small", 64).await) else {
                return; // epoll mode, no io_uring or no file table: nothing to prove
            };
            assert_eq!(small.expect("read"), b"record");
            assert_eq!(read(whole("a/empty", 64).await).unwrap().unwrap(), b"");
            assert_eq!(
                read(whole("a/big", 100).await).unwrap().unwrap(),
                b"<larger>"
            );
            assert_eq!(read(whole("a/big", 101).await).unwrap().unwrap().len(), 100);
            let missing = read(whole("a/none", 64).await)
                .unwrap()
                .expect_err("missing");
            assert_eq!(missing.kind(), io::ErrorKind::NotFound);
            let folder_error = read(whole("a", 64).await).unwrap().expect_err("a folder");
            assert_eq!(folder_error.raw_os_error(), Some(libc::EISDIR));
            for _ in 0..SLOTS * 2 {
                assert_eq!(
                    read(whole("a/small", 64).await).unwrap().unwrap(),
                    b"record"
                );
            }

            let ring = this_shard_ring().expect("the ring");
            let before = ring.submits.get();
            let three = futures_util::future::join3(
                whole("a/small", 64),
                whole("a/big", 128),
                whole("a/empty", 64),
            )
            .await;
            assert_eq!(
                ring.submits.get() - before,
                1,
                "one submission for three reads"
            );
            assert_eq!(read(three.0).unwrap().unwrap(), b"record");
            assert_eq!(read(three.1).unwrap().unwrap().len(), 100);

            // Polled once (queued, not submitted), then dropped.
            let mut dropped = Box::pin(whole("a/small", 64));
            let waker = futures_util::task::noop_waker();
            let polled = dropped.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(polled.is_pending());
            drop(dropped);
            assert!(ring.slots.borrow().iter().flatten().count() == 1);
            assert_eq!(
                read(whole("a/small", 64).await).unwrap().unwrap(),
                b"record"
            );
            assert!(
                ring.slots.borrow().iter().all(Option::is_none),
                "every slot freed"
            );
        });
    }
}
