//! Opens a file relative to a directory the drive holds open (`IORING_OP_OPENAT` with
//! that directory's descriptor), through a small io_uring ring of the shard's own.
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
//! One ring per shard thread (thread-local, made on first use, `SLOTS` entries). A
//! submission is one `io_uring_enter`, after which its completion is usually there. An
//! open the kernel hands to a worker anyway (an uncached path) completes later: the
//! ring signals an eventfd (registered for such asynchronous completions only), which
//! a reaper task of the shard reads through monoio's ring while any open is in flight.
//!
//! Invariants:
//! - At most `SLOTS` opens in flight per shard; beyond that (or when the ring cannot be
//!   made or submitted to) `open_at` answers `None` and the caller opens the old way.
//! - An open's path and directory stay alive until its completion is reaped, even when
//!   the caller gave up (its future dropped): its slot owns them, and a descriptor that
//!   arrives for an abandoned slot is closed.
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

use io_uring::{IoUring, opcode, types};

/// Opens in flight per shard at most (and the ring's entries).
const SLOTS: usize = 64;

/// One open in flight: what the kernel reads until it completes.
struct Open {
    /// The path the entry points at.
    _path: CString,
    /// Keeps the directory's descriptor open until the completion is reaped.
    _dir: Box<dyn Any>,
    state: State,
}

enum State {
    Waiting(Option<Waker>),
    /// The completion's result: a descriptor, or `-errno`.
    Done(i32),
    /// The caller gave up; the completion is reaped and any descriptor closed.
    Abandoned,
}

struct OpenRing {
    ring: RefCell<IoUring>,
    slots: RefCell<Vec<Option<Open>>>,
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
    keep: Box<dyn Any>,
    path: CString,
    flags: i32,
) -> Option<io::Result<OwnedFd>> {
    if monoio::utils::is_legacy() {
        return None;
    }
    let ring = this_shard_ring()?;
    let slot = ring.submit(dir, keep, path, flags)?;
    Some(Wait { ring, slot }.await)
}

fn this_shard_ring() -> Option<Rc<OpenRing>> {
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
        let ring = IoUring::new(SLOTS as u32)?;
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
        ring.submitter()
            .register_eventfd_async(eventfd.as_raw_fd())?;
        Ok(OpenRing {
            ring: RefCell::new(ring),
            slots: RefCell::new((0..SLOTS).map(|_| None).collect()),
            eventfd,
            reaping: Cell::new(false),
        })
    }

    /// Queues the open in a free slot and submits it; reaps what completed inline.
    fn submit(&self, dir: RawFd, keep: Box<dyn Any>, path: CString, flags: i32) -> Option<usize> {
        let index = {
            let mut slots = self.slots.borrow_mut();
            let index = slots.iter().position(Option::is_none)?;
            let entry = opcode::OpenAt::new(types::Fd(dir), path.as_ptr())
                .flags(flags | libc::O_CLOEXEC)
                .build()
                .user_data(index as u64);
            let mut ring = self.ring.borrow_mut();
            #[allow(unsafe_code)]
            // SAFETY: the entry points at `path` (a heap CString, not moved by moving the
            // `CString`) and names `dir`, which `keep` holds open; both are owned by slot
            // `index` until this entry's completion is reaped.
            let pushed = unsafe { ring.submission().push(&entry) };
            if pushed.is_err() {
                return None;
            }
            slots[index] = Some(Open {
                _path: path,
                _dir: keep,
                state: State::Waiting(None),
            });
            index
        };
        let submitted = self.ring.borrow().submit();
        self.reap();
        if submitted.is_err() {
            // The entry stays queued (submitted by a later call): the slot keeps what it
            // points at until then, and the caller opens another way.
            self.abandon(index);
            return None;
        }
        Some(index)
    }

    /// Takes every completion in the ring: wakes its waiter, or frees an abandoned slot.
    fn reap(&self) {
        let mut wakers = Vec::new();
        {
            let mut ring = self.ring.borrow_mut();
            let mut slots = self.slots.borrow_mut();
            for cqe in ring.completion() {
                let index = cqe.user_data() as usize;
                let Some(open) = slots.get_mut(index).and_then(Option::as_mut) else {
                    continue;
                };
                match std::mem::replace(&mut open.state, State::Done(cqe.result())) {
                    State::Waiting(waker) => wakers.extend(waker),
                    State::Abandoned => {
                        close_result(cqe.result());
                        slots[index] = None;
                    }
                    State::Done(_) => unreachable!("one completion per open"),
                }
            }
        }
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The caller no longer waits for slot `index`.
    fn abandon(&self, index: usize) {
        let mut slots = self.slots.borrow_mut();
        let open = slots[index].as_mut().expect("a slot in use");
        match std::mem::replace(&mut open.state, State::Abandoned) {
            State::Done(result) => {
                close_result(result);
                slots[index] = None;
            }
            State::Waiting(_) | State::Abandoned => {}
        }
    }

    fn in_flight(&self) -> bool {
        self.slots
            .borrow()
            .iter()
            .flatten()
            .any(|open| !matches!(open.state, State::Done(_)))
    }

    /// Runs the reaper task unless it runs already: it reads the eventfd (through
    /// monoio's ring) and reaps, while any open is in flight.
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

fn close_result(result: i32) {
    if result >= 0 {
        #[allow(unsafe_code)]
        // SAFETY: a non-negative result of an open is a descriptor nobody else owns.
        drop(unsafe { OwnedFd::from_raw_fd(result) });
    }
}

/// Waits for slot `slot`'s completion; dropped before it, abandons the slot.
struct Wait {
    ring: Rc<OpenRing>,
    slot: usize,
}

impl Future for Wait {
    type Output = io::Result<OwnedFd>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut slots = this.ring.slots.borrow_mut();
        let open = slots[this.slot].as_mut().expect("a slot in use");
        match &mut open.state {
            State::Done(result) => {
                let result = *result;
                slots[this.slot] = None;
                this.slot = usize::MAX;
                Poll::Ready(if result < 0 {
                    Err(io::Error::from_raw_os_error(-result))
                } else {
                    #[allow(unsafe_code)]
                    // SAFETY: a non-negative result of an open is a new descriptor.
                    Ok(unsafe { OwnedFd::from_raw_fd(result) })
                })
            }
            State::Waiting(waker) => {
                *waker = Some(cx.waker().clone());
                drop(slots);
                this.ring.start_reaper();
                Poll::Pending
            }
            State::Abandoned => unreachable!("abandoned only when its waiter is gone"),
        }
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
            let fd = open_at(dir, Box::new(()), cstr("a/rec"), libc::O_RDONLY).await;
            let Some(fd) = fd else {
                return; // epoll mode or no io_uring here: nothing to prove
            };
            let mut text = String::new();
            std::fs::File::from(fd.expect("opened"))
                .read_to_string(&mut text)
                .expect("read");
            assert_eq!(text, "held");
            let missing = open_at(dir, Box::new(()), cstr("a/none"), libc::O_RDONLY).await;
            let error = missing.expect("ring").expect_err("missing");
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            let many = (0..SLOTS * 2).map(|_| open_at(dir, Box::new(()), cstr("a/rec"), 0));
            let opened = futures_util::future::join_all(many).await;
            assert!(opened.iter().flatten().all(Result::is_ok));
            assert!(opened.iter().flatten().count() >= SLOTS);
            let again = open_at(dir, Box::new(()), cstr("a/rec"), libc::O_RDONLY).await;
            assert!(again.expect("a free slot").is_ok());
        });
    }
}
