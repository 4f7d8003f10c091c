//! Opens a file relative to a directory the drive holds open (`IORING_OP_OPENAT` with
//! that directory's descriptor), reads a small file whole, and does the write path's
//! path operations (a new file written and fdatasync'd, a directory fsync, `mkdirat`,
//! `renameat`, `unlinkat`, an existence check), through a small io_uring ring of the
//! shard's own.
//!
//! Why a second ring: monoio 0.2.4 submits `openat` only at `AT_FDCWD` (its op types
//! are private), so its opens of drive files name `/proc/<pid>/fd/<root>/…`. The kernel
//! cannot follow that magic link in a lookup that must not sleep (procfs refuses the
//! RCU walk), so io_uring's inline attempt fails and every such open is handed to an
//! io-wq worker thread: a wake-up and two context switches per open, and a pool of
//! `iou-wrk` threads. Relative to the held directory's own descriptor, a path whose
//! entries are in the dentry cache resolves inline, inside the `io_uring_enter` that
//! submits it; what resolves here is exactly what resolved under the `/proc` form (the
//! held directory, never the configured folder name). (A creating open, an fsync,
//! `mkdirat`, `renameat` and `unlinkat` always go to a worker, whatever the path: there
//! the gain is the chain, below, and a lookup that does not go through `/proc`.)
//!
//! A whole-file read (`read_whole`, every metadata record a HEAD or GET reads) is one
//! linked chain: open into a registered file slot, read the first bytes, close the slot
//! (hard links: the read and the close run whatever the step before answered, so the
//! slot is always emptied). No descriptor enters the process, and a cached record is
//! read entirely inside one `io_uring_enter`. A small file written atomically
//! (`write_new`: open, write, fdatasync, close) and a directory fsync
//! (`sync_dir_at`: open, fsync, close) are chains the same way: the kernel runs a
//! chain's steps one after another on the worker that took the first blocking one, so
//! the whole write is one worker wake-up and one completion wait rather than four.
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

/// Submission queue entries: a chain queues at most four, and every queued entry
/// belongs to a slot in use.
const ENTRIES: u32 = 4 * SLOTS as u32;

/// Which entry of a slot's chain a completion answers (the low bits of its user data):
/// its position in the chain.
const STEP_BITS: u32 = 2;
const STEPS: usize = 1 << STEP_BITS;

/// One call in flight: what the kernel reads or writes until its completions are in.
struct Slot {
    /// The paths the entries point at.
    _paths: Vec<CString>,
    /// Keeps the directory's descriptor open until the entries complete.
    _dir: Rc<dyn Any>,
    /// The buffer a read fills or a write takes: the kernel uses it until it completes.
    buf: Vec<u8>,
    /// A plain open: its result is a descriptor of the process (closed if abandoned).
    plain_open: bool,
    /// Completions still to come.
    pending: u8,
    /// Each entry's result, by its position in the chain (`-errno` on failure).
    results: [i32; STEPS],
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
        if self.plain_open {
            close_result(self.results[0]);
        }
    }

    /// The chain's answer: the first failed step's error (an entry cut by a failed
    /// one before it answers `ECANCELED`, so the first failure is the cause).
    fn first_error(&self, steps: usize) -> io::Result<()> {
        match self.results[..steps].iter().find(|result| **result < 0) {
            Some(result) => Err(io::Error::from_raw_os_error(-result)),
            None => Ok(()),
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
    /// The eventfd the ring signals, read by the reaper through monoio's ring. Made
    /// with the ring: a reaper started when the process is out of descriptors must not
    /// need a new one (it would not start, and every waiter would wait for ever).
    eventfd: monoio::fs::File,
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
/// with `flags` (`O_CLOEXEC` added; a file `O_CREAT` makes gets mode 0666 less the
/// umask). `None` when this shard cannot take the open now: the caller opens it another
/// way.
pub(crate) async fn open_at(
    dir: RawFd,
    keep: Rc<dyn Any>,
    path: CString,
    flags: i32,
) -> Option<io::Result<OwnedFd>> {
    let ring = this_shard_ring()?;
    let open = |index: usize, paths: &[CString], _: &mut Vec<u8>| {
        let open = opcode::OpenAt::new(types::Fd(dir), paths[0].as_ptr())
            .flags(flags | libc::O_CLOEXEC)
            .mode(0o666)
            .build()
            .user_data(user_data(index, 0));
        vec![open]
    };
    let slot = ring.queue(keep, vec![path], Vec::new(), true, open)?;
    let slot = Wait::new(ring, slot).await.ok()?;
    Some(if slot.results[0] < 0 {
        Err(io::Error::from_raw_os_error(-slot.results[0]))
    } else {
        #[allow(unsafe_code)]
        // SAFETY: a non-negative result of a plain open is a new descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(slot.results[0]) })
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
    let len = u32::try_from(max_bytes).ok()?;
    let chain = move |index: usize, paths: &[CString], buf: &mut Vec<u8>| {
        let read = opcode::Read::new(types::Fixed(index as u32), buf.as_mut_ptr(), len)
            .offset(0)
            .build();
        slot_chain(dir, index, &paths[0], libc::O_RDONLY, 0, vec![read])
    };
    let buf = Vec::with_capacity(max_bytes);
    let slot = ring.queue_chain(keep, vec![path], buf, chain)?;
    let slot = Wait::new(ring, slot).await.ok()?;
    Some(if slot.results[0] < 0 {
        Err(io::Error::from_raw_os_error(-slot.results[0]))
    } else {
        match usize::try_from(slot.results[1]) {
            Err(_) => Err(io::Error::from_raw_os_error(-slot.results[1])),
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

/// Creates the file `path` (relative, no `..`; it must not exist) under the directory
/// `dir`, which `keep` holds open, writes `data` into it and, with `sync`, fdatasyncs
/// it: one chain (open into the slot's file, write, fdatasync, close), so the kernel
/// runs it on one worker in one go (a creating open and an fsync never complete
/// inline). Without `sync` the bytes are left to a later flush of the whole filesystem
/// (`DirDrive`'s shared `syncfs`). `None` when this shard cannot take it now: nothing
/// was done, and the caller writes it another way.
pub(crate) async fn write_new(
    dir: RawFd,
    keep: Rc<dyn Any>,
    path: CString,
    data: Vec<u8>,
    sync: bool,
) -> Option<io::Result<()>> {
    let ring = this_shard_ring()?;
    let len = u32::try_from(data.len()).ok()?;
    let chain = move |index: usize, paths: &[CString], buf: &mut Vec<u8>| {
        let file = types::Fixed(index as u32);
        let mut steps = vec![
            opcode::Write::new(file, buf.as_ptr(), len)
                .offset(0)
                .build(),
        ];
        if sync {
            steps.push(
                opcode::Fsync::new(file)
                    .flags(types::FsyncFlags::DATASYNC)
                    .build(),
            );
        }
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
        slot_chain(dir, index, &paths[0], flags, 0o666, steps)
    };
    let slot = ring.queue_chain(keep, vec![path], data, chain)?;
    // Open, write and (with `sync`) fdatasync; the close's answer does not count.
    let steps = if sync { 3 } else { 2 };
    Some(Wait::new(ring, slot).await.and_then(|slot| {
        slot.first_error(steps)?;
        // A regular file takes a small write whole; a short one is the disk full.
        match usize::try_from(slot.results[1]) {
            Ok(written) if written == slot.buf.len() => Ok(()),
            _ => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
        }
    }))
}

/// fsyncs the directory `path` (relative, no `..`; `.` is `dir` itself) under the
/// directory `dir`, which `keep` holds open: open into the slot's file, fsync, close,
/// one chain. `None`: the caller syncs it another way.
pub(crate) async fn sync_dir_at(
    dir: RawFd,
    keep: Rc<dyn Any>,
    path: CString,
) -> Option<io::Result<()>> {
    let ring = this_shard_ring()?;
    let chain = move |index: usize, paths: &[CString], _: &mut Vec<u8>| {
        let sync = opcode::Fsync::new(types::Fixed(index as u32)).build();
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        slot_chain(dir, index, &paths[0], flags, 0, vec![sync])
    };
    let slot = ring.queue_chain(keep, vec![path], Vec::new(), chain)?;
    Some(
        Wait::new(ring, slot)
            .await
            .and_then(|slot| slot.first_error(2)),
    )
}

/// Whether `path` (relative, no `..`) exists under the directory `dir`, which `keep`
/// holds open (an `O_PATH` open into the slot's file and its close: resolved inline
/// when the entries are cached). `None`: the caller asks another way.
pub(crate) async fn exists_at(
    dir: RawFd,
    keep: Rc<dyn Any>,
    path: CString,
) -> Option<io::Result<bool>> {
    let ring = this_shard_ring()?;
    let chain = move |index: usize, paths: &[CString], _: &mut Vec<u8>| {
        let flags = libc::O_PATH | libc::O_NOFOLLOW;
        slot_chain(dir, index, &paths[0], flags, 0, Vec::new())
    };
    let slot = ring.queue_chain(keep, vec![path], Vec::new(), chain)?;
    Some(
        Wait::new(ring, slot)
            .await
            .and_then(|slot| match slot.first_error(1) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(e),
            }),
    )
}

/// One path operation relative to a held directory.
pub(crate) enum PathOp {
    /// `mkdirat` with mode 0777 less the umask.
    MkDir(CString),
    /// `renameat` within the directory (both paths under it).
    Rename(CString, CString),
    /// `unlinkat` of a file.
    Unlink(CString),
    /// `unlinkat` of an empty directory.
    RemoveDir(CString),
}

/// Does `op` under the directory `dir`, which `keep` holds open. (The kernel always
/// hands these to a worker; relative to the held directory that worker resolves the
/// path from the dentry cache rather than through `/proc`.) `None`: nothing was done,
/// and the caller does it another way.
pub(crate) async fn path_op(dir: RawFd, keep: Rc<dyn Any>, op: PathOp) -> Option<io::Result<()>> {
    let ring = this_shard_ring()?;
    let (paths, kind) = match op {
        PathOp::MkDir(path) => (vec![path], 0),
        PathOp::Rename(from, to) => (vec![from, to], 1),
        PathOp::Unlink(path) => (vec![path], 2),
        PathOp::RemoveDir(path) => (vec![path], 3),
    };
    let entry = move |index: usize, paths: &[CString], _: &mut Vec<u8>| {
        let (dir, path) = (types::Fd(dir), paths[0].as_ptr());
        let entry = match kind {
            0 => opcode::MkDirAt::new(dir, path).mode(0o777).build(),
            1 => opcode::RenameAt::new(dir, path, dir, paths[1].as_ptr()).build(),
            2 => opcode::UnlinkAt::new(dir, path).build(),
            _ => opcode::UnlinkAt::new(dir, path)
                .flags(libc::AT_REMOVEDIR)
                .build(),
        };
        vec![entry.user_data(user_data(index, 0))]
    };
    let slot = ring.queue(keep, paths, Vec::new(), false, entry)?;
    Some(
        Wait::new(ring, slot)
            .await
            .and_then(|slot| slot.first_error(1)),
    )
}

/// A chain on slot `index`'s registered file: open `path` under `dir` into it, the
/// `middle` entries (on that file), then its close. Hard links: every entry runs
/// whatever the one before answered (on an empty slot they fail with `EBADF`), so the
/// close always runs and the slot is always emptied, and the first failure is the
/// cause.
fn slot_chain(
    dir: RawFd,
    index: usize,
    path: &CString,
    flags: i32,
    mode: libc::mode_t,
    middle: Vec<io_uring::squeue::Entry>,
) -> Vec<io_uring::squeue::Entry> {
    let file = index as u32;
    let slot = types::DestinationSlot::try_from_slot_target(file)
        .expect("a slot index is a valid file slot");
    // No O_CLOEXEC: the kernel refuses it for an open into a file slot, which never
    // becomes a descriptor of the process.
    let open = opcode::OpenAt::new(types::Fd(dir), path.as_ptr())
        .flags(flags)
        .mode(mode)
        .file_index(Some(slot))
        .build();
    let close = opcode::Close::new(types::Fixed(file)).build();
    let mut chain = vec![open];
    chain.extend(middle);
    let last = chain.len();
    chain.push(close);
    chain
        .into_iter()
        .enumerate()
        .map(|(step, entry)| {
            let entry = entry.user_data(user_data(index, step as u64));
            if step < last {
                entry.flags(Flags::IO_HARDLINK)
            } else {
                entry
            }
        })
        .collect()
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
        let eventfd = monoio::fs::File::from_std(std::fs::File::from(eventfd))?;
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

    /// Queues a chain made by `entries` (`slot_chain`) in a free slot: `None` without
    /// a registered file table.
    fn queue_chain(
        &self,
        keep: Rc<dyn Any>,
        paths: Vec<CString>,
        buf: Vec<u8>,
        entries: impl FnOnce(usize, &[CString], &mut Vec<u8>) -> Vec<io_uring::squeue::Entry>,
    ) -> Option<usize> {
        if !self.files {
            return None;
        }
        self.queue(keep, paths, buf, false, entries)
    }

    /// Takes a free slot, makes its entries and queues them (submitted by the first
    /// waiter's second poll, `flush`). `plain_open`: the first entry's result is a
    /// descriptor of the process.
    fn queue(
        &self,
        keep: Rc<dyn Any>,
        paths: Vec<CString>,
        mut buf: Vec<u8>,
        plain_open: bool,
        entries: impl FnOnce(usize, &[CString], &mut Vec<u8>) -> Vec<io_uring::squeue::Entry>,
    ) -> Option<usize> {
        let mut slots = self.slots.borrow_mut();
        let index = slots.iter().position(Option::is_none)?;
        let entries = entries(index, &paths, &mut buf);
        assert!(entries.len() <= STEPS, "a chain of at most {STEPS} entries");
        let mut ring = self.ring.borrow_mut();
        let mut queue = ring.submission();
        if queue.capacity() - queue.len() < entries.len() {
            return None;
        }
        for entry in &entries {
            #[allow(unsafe_code)]
            // SAFETY: the entries point at `paths` (heap CStrings, not moved by moving
            // the vector) and into `buf` (a heap buffer, not moved by moving the
            // `Vec`, of at least the length a read or write names), and name the
            // caller's directory, which `keep` holds open; all three are owned by slot
            // `index` until every completion of its entries is reaped. Room for all of
            // them was checked above, so a chain is never cut.
            let pushed = unsafe { queue.push(entry) };
            pushed.expect("room was checked");
        }
        drop(queue);
        slots[index] = Some(Slot {
            _paths: paths,
            _dir: keep,
            buf,
            plain_open,
            pending: entries.len() as u8,
            results: [0; STEPS],
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
                let step = (cqe.user_data() & ((1 << STEP_BITS) - 1)) as usize;
                slot.results[step] = cqe.result();
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
            let mut count = vec![0_u8; 8];
            while ring.in_flight() {
                let (read, buf) = ring.eventfd.read_at(count, 0).await;
                count = buf;
                if read.is_err() {
                    monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                let _ = ring.flush();
                ring.reap();
            }
            ring.reaping.set(false);
        });
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

/// Waits for slot `slot`'s last completion and hands the slot over (an error: the
/// submission failed, maybe before the kernel took the entries; a read or open then
/// goes another way, a change reports it); dropped before, abandons it.
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
    type Output = io::Result<Slot>;

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
        if let Err(e) = flushed
            && !slot.done()
        {
            // Maybe not submitted: the slot keeps its entries' memory until a later
            // flush submits them and they complete; this caller does not wait.
            drop(slots);
            this.ring.abandon(this.slot);
            this.slot = usize::MAX;
            return Poll::Ready(Err(e));
        }
        if slot.done() {
            let slot = slots[this.slot].take().expect("a slot in use");
            this.slot = usize::MAX;
            return Poll::Ready(Ok(slot));
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

    /// The write path's operations, relative to the held directory: a chained write
    /// makes, fills and syncs a new file (and refuses one that exists, leaving it
    /// alone); a directory fsync chain answers a missing folder's error; `exists_at`,
    /// mkdir, rename, unlink and rmdir do what they say and answer the errno of a
    /// failure; every slot is free after, also after a chain dropped unsubmitted.
    #[test]
    #[allow(clippy::too_many_lines)] // one scenario, step by step
    fn write_path_operations_resolve_under_the_held_directory() {
        let root = tempfile::tempdir().expect("tempdir");
        let folder = root.path().join("drive");
        std::fs::create_dir_all(folder.join("a")).expect("folder");
        let held = std::fs::File::open(&folder).expect("held");
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let dir = held.as_raw_fd();
            let keep = || Rc::new(()) as Rc<dyn Any>;
            let written = write_new(dir, keep(), cstr("a/new"), b"data".to_vec(), true).await;
            let Some(written) = written else {
                return; // epoll mode, no io_uring or no file table: nothing to prove
            };
            written.expect("written");
            assert_eq!(std::fs::read(folder.join("a/new")).unwrap(), b"data");
            let again = write_new(dir, keep(), cstr("a/new"), b"other".to_vec(), false).await;
            let error = again.unwrap().expect_err("exists");
            assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
            assert_eq!(std::fs::read(folder.join("a/new")).unwrap(), b"data");
            let lost = write_new(dir, keep(), cstr("none/x"), b"x".to_vec(), true).await;
            assert_eq!(lost.unwrap().unwrap_err().kind(), io::ErrorKind::NotFound);
            // Unsynced (left to the filesystem's shared flush): the same bytes.
            let unsynced = write_new(dir, keep(), cstr("a/unsynced"), b"u".to_vec(), false).await;
            unsynced.unwrap().expect("written");
            assert_eq!(std::fs::read(folder.join("a/unsynced")).unwrap(), b"u");

            sync_dir_at(dir, keep(), cstr("."))
                .await
                .unwrap()
                .expect("root synced");
            sync_dir_at(dir, keep(), cstr("a"))
                .await
                .unwrap()
                .expect("synced");
            let missing = sync_dir_at(dir, keep(), cstr("none")).await.unwrap();
            assert_eq!(missing.unwrap_err().kind(), io::ErrorKind::NotFound);
            let file = sync_dir_at(dir, keep(), cstr("a/new")).await.unwrap();
            assert_eq!(file.unwrap_err().raw_os_error(), Some(libc::ENOTDIR));

            assert!(
                exists_at(dir, keep(), cstr("a/new"))
                    .await
                    .unwrap()
                    .unwrap()
            );
            assert!(
                !exists_at(dir, keep(), cstr("a/none"))
                    .await
                    .unwrap()
                    .unwrap()
            );
            let op = |op| path_op(dir, keep(), op);
            op(PathOp::MkDir(cstr("b"))).await.unwrap().expect("made");
            let twice = op(PathOp::MkDir(cstr("b"))).await.unwrap();
            assert_eq!(twice.unwrap_err().kind(), io::ErrorKind::AlreadyExists);
            op(PathOp::Rename(cstr("a/new"), cstr("b/moved")))
                .await
                .unwrap()
                .expect("moved");
            assert!(!folder.join("a/new").exists());
            assert_eq!(std::fs::read(folder.join("b/moved")).unwrap(), b"data");
            let full = op(PathOp::RemoveDir(cstr("b"))).await.unwrap();
            assert_eq!(full.unwrap_err().raw_os_error(), Some(libc::ENOTEMPTY));
            op(PathOp::Unlink(cstr("b/moved")))
                .await
                .unwrap()
                .expect("removed");
            op(PathOp::RemoveDir(cstr("b")))
                .await
                .unwrap()
                .expect("removed");
            assert!(!folder.join("b").exists());

            // Polled once (queued, not submitted), then dropped: the write still
            // happens (the slot owns its buffer), and the slot is freed after.
            let mut dropped = Box::pin(write_new(
                dir,
                keep(),
                cstr("a/late"),
                b"late".to_vec(),
                true,
            ));
            let waker = futures_util::task::noop_waker();
            assert!(
                dropped
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            drop(dropped);
            sync_dir_at(dir, keep(), cstr("a"))
                .await
                .unwrap()
                .expect("synced");
            for _ in 0..100 {
                if this_shard_ring()
                    .unwrap()
                    .slots
                    .borrow()
                    .iter()
                    .all(Option::is_none)
                {
                    break;
                }
                monoio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            let ring = this_shard_ring().expect("the ring");
            assert!(
                ring.slots.borrow().iter().all(Option::is_none),
                "every slot freed"
            );
            assert_eq!(std::fs::read(folder.join("a/late")).unwrap(), b"late");
        });
    }
}
