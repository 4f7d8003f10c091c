//! Shared directory fsyncs (group commit): the commits of a shard that changed one
//! directory at about the same time wait for one fsync of it, not one each. The same
//! flights share a whole filesystem's `syncfs` (`dir_drive.rs`, keyed by its device),
//! which is how small atomic writes are made durable.
//!
//! The rule: an fsync makes durable what the directory held when it *started*. So a
//! caller whose change is done joins the fsync that has not started yet (the directory's
//! `next` flight), never one already running; a change made while one runs waits for
//! the next, which starts when the running one ends. Each directory has at most one
//! fsync running and one waiting to start; everybody who joined the waiting one shares
//! it and its answer (an error is every joiner's error).
//!
//! One driver task per directory with joiners runs its flights one after another; it
//! owns them, so a caller that gives up (its future dropped) never cancels an fsync
//! that others wait for, and the driver ends (and the directory is forgotten) once no
//! flight waits.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What one directory's fsync answered, for every caller that shared it.
type Shared = Result<(), Rc<io::Error>>;

/// One fsync of a directory and the callers that wait for it.
#[derive(Default)]
struct Flight {
    result: RefCell<Option<Shared>>,
    wakers: RefCell<Vec<Waker>>,
}

impl Flight {
    fn finish(&self, result: io::Result<()>) {
        *self.result.borrow_mut() = Some(result.map_err(Rc::new));
        self.wakers.take().into_iter().for_each(Waker::wake);
    }
}

/// Waits for a flight's answer.
pub(crate) struct Joined(Rc<Flight>);

impl Future for Joined {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &*self.0.result.borrow() {
            Some(Ok(())) => return Poll::Ready(Ok(())),
            Some(Err(e)) => return Poll::Ready(Err(copy_error(e))),
            None => {}
        }
        self.0.wakers.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

/// An error every sharer gets: the same errno (or kind) and message.
fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(errno) => io::Error::from_raw_os_error(errno),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

/// One directory: the flight waiting to start, and whether its driver runs.
#[derive(Default)]
struct Dir {
    next: RefCell<Option<Rc<Flight>>>,
    driving: Cell<bool>,
    /// fsyncs started (what sharing saves shows here, and tests read it).
    started: Cell<u64>,
}

/// The directories of one shard, by key (a drive's root identity and the directory's
/// path under it).
pub(crate) struct Groups<K> {
    dirs: RefCell<HashMap<K, Rc<Dir>>>,
}

impl<K: Hash + Eq + Clone + 'static> Groups<K> {
    pub(crate) fn new() -> Groups<K> {
        Groups {
            dirs: RefCell::new(HashMap::new()),
        }
    }

    /// Waits until an fsync of `key`'s directory that started after this call has
    /// finished, and answers what it answered. `sync` does one fsync; the first caller's
    /// is used for the flights its driver runs (every caller's does the same thing).
    /// Call it after the change to be made durable is complete.
    pub(crate) fn sync<S, F>(
        self: &Rc<Self>,
        key: K,
        sync: S,
    ) -> impl Future<Output = io::Result<()>>
    where
        S: Fn() -> F + 'static,
        F: Future<Output = io::Result<()>> + 'static,
    {
        let dir = Rc::clone(self.dirs.borrow_mut().entry(key.clone()).or_default());
        let flight = Rc::clone(dir.next.borrow_mut().get_or_insert_with(Rc::default));
        if !dir.driving.replace(true) {
            let groups = Rc::clone(self);
            monoio::spawn(async move {
                // Takes the waiting flight at the moment it starts: whoever joins after
                // this point gets a new one, run after this one ends.
                loop {
                    let Some(flight) = dir.next.borrow_mut().take() else {
                        break;
                    };
                    dir.started.set(dir.started.get() + 1);
                    flight.finish(sync().await);
                }
                dir.driving.set(false);
                groups.dirs.borrow_mut().remove(&key);
            });
        }
        Joined(flight)
    }

    #[cfg(test)]
    fn started(&self, key: &K) -> u64 {
        self.dirs
            .borrow()
            .get(key)
            .map_or(0, |dir| dir.started.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures_util::FutureExt;

    /// A fake fsync: counts starts, and finishes only when the test opens its gate.
    #[derive(Default)]
    struct Gate {
        started: Cell<u32>,
        open: Cell<u32>,
        waker: RefCell<Option<Waker>>,
    }

    impl Gate {
        fn release(&self) {
            self.open.set(self.open.get() + 1);
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }

    fn fake_sync(
        gate: &Rc<Gate>,
    ) -> impl Fn() -> Pin<Box<dyn Future<Output = io::Result<()>>>> + use<> {
        let gate = Rc::clone(gate);
        move || {
            let gate = Rc::clone(&gate);
            gate.started.set(gate.started.get() + 1);
            let number = gate.started.get();
            Box::pin(std::future::poll_fn(move |cx| {
                if gate.open.get() >= number {
                    Poll::Ready(if number == 3 {
                        Err(io::Error::from_raw_os_error(libc::EIO))
                    } else {
                        Ok(())
                    })
                } else {
                    *gate.waker.borrow_mut() = Some(cx.waker().clone());
                    Poll::Pending
                }
            }))
        }
    }

    /// Lets the spawned driver and the woken callers run.
    async fn settle() {
        for _ in 0..8 {
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }

    /// Callers that join before an fsync starts share it; a caller that joins while it
    /// runs is not answered by it, only by the next, which starts when it ends; an
    /// error is every sharer's; another directory has its own fsyncs.
    #[test]
    fn a_change_after_the_fsync_started_waits_for_the_next() {
        let (mut runtime, _) =
            crate::build_runtime(&crate::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(async {
            let groups = Rc::new(Groups::<&str>::new());
            let gate = Rc::new(Gate::default());
            // `first` and `second` changed the folder before any fsync started.
            let mut first = groups.sync("dir", fake_sync(&gate)).boxed_local();
            let mut second = groups.sync("dir", fake_sync(&gate)).boxed_local();
            settle().await;
            assert_eq!(gate.started.get(), 1, "one fsync for both");
            // `late` changed it while that fsync runs.
            let mut late = groups.sync("dir", fake_sync(&gate)).boxed_local();
            settle().await;
            assert_eq!(
                gate.started.get(),
                1,
                "late's fsync waits for the running one"
            );
            gate.release();
            settle().await;
            assert!(matches!((&mut first).now_or_never(), Some(Ok(()))));
            assert!(matches!((&mut second).now_or_never(), Some(Ok(()))));
            assert!(
                (&mut late).now_or_never().is_none(),
                "the fsync that started before late's change does not answer it"
            );
            assert_eq!(gate.started.get(), 2, "late's own fsync started after");
            // `dropped` and `last` join while late's runs; `dropped` gives up, `last` still
            // gets its fsync.
            let dropped = groups.sync("dir", fake_sync(&gate)).boxed_local();
            let mut last = groups.sync("dir", fake_sync(&gate)).boxed_local();
            drop(dropped);
            gate.release();
            settle().await;
            assert!(matches!((&mut late).now_or_never(), Some(Ok(()))));
            assert_eq!(gate.started.get(), 3);
            assert_eq!(groups.started(&"dir"), 3);
            gate.release();
            settle().await;
            let failed = (&mut last).now_or_never().expect("answered");
            assert_eq!(
                failed.expect_err("fsync 3 fails").raw_os_error(),
                Some(libc::EIO)
            );

            // Another folder is not held up by this one's.
            let other_gate = Rc::new(Gate::default());
            let mut elsewhere = groups.sync("other", fake_sync(&other_gate)).boxed_local();
            other_gate.release();
            settle().await;
            assert!(matches!((&mut elsewhere).now_or_never(), Some(Ok(()))));
            settle().await;
            assert!(
                groups.dirs.borrow().is_empty(),
                "idle folders are forgotten"
            );
        });
    }
}
