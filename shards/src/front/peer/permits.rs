//! A bounded number of permits on one shard (no atomics: a shard's tasks share one
//! thread). A connection takes one per request it runs, so a peer cannot make a shard
//! run more than `max` of its requests at once: while none is free the connection stops
//! reading, and TCP pushes back on the sender.
//!
//! The same shard bounds its strangers: connections still in their TLS or cluster
//! handshake, at most `STRANGERS_MAX` at once; one more is refused at once (never
//! queued: waiting would hold its socket), so a flood of unauthenticated connections
//! costs a bounded amount of memory and never delays a peer's requests.
//!
//! Invariants: at most `max` permits are held; a permit is given back when dropped
//! (also on unwind), to the longest waiter first; at most `strangers_max` stranger
//! slots are held, each given back when dropped.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use futures_channel::oneshot;

/// Unauthenticated peer connections one shard holds at once.
pub const STRANGERS_MAX: usize = 16;

/// Permits shared by the tasks of one shard.
#[derive(Clone)]
pub struct Permits {
    inner: Rc<RefCell<Inner>>,
    /// Stranger slots free.
    strangers_free: Rc<Cell<usize>>,
}

/// One unauthenticated connection's place; given back when dropped.
pub struct StrangerSlot {
    free: Rc<Cell<usize>>,
}

impl Drop for StrangerSlot {
    fn drop(&mut self) {
        self.free.set(self.free.get() + 1);
    }
}

struct Inner {
    free: usize,
    waiters: VecDeque<oneshot::Sender<Permit>>,
}

/// One permit; given back when dropped.
pub struct Permit {
    /// `None` once handed back (a permit a waiter refused must not count twice).
    inner: Option<Rc<RefCell<Inner>>>,
}

impl Permits {
    pub fn new(max: usize) -> Self {
        Self::with_strangers(max, STRANGERS_MAX)
    }

    /// `max` request permits and `strangers_max` stranger slots.
    pub fn with_strangers(max: usize, strangers_max: usize) -> Self {
        assert!(max > 0, "at least one permit");
        Self {
            inner: Rc::new(RefCell::new(Inner {
                free: max,
                waiters: VecDeque::new(),
            })),
            strangers_free: Rc::new(Cell::new(strangers_max)),
        }
    }

    /// A stranger's slot, if one is free now.
    pub fn try_stranger(&self) -> Option<StrangerSlot> {
        let free = self.strangers_free.get();
        (free > 0).then(|| {
            self.strangers_free.set(free - 1);
            StrangerSlot {
                free: self.strangers_free.clone(),
            }
        })
    }

    /// A permit, once one is free.
    pub async fn acquire(&self) -> Permit {
        let waiting = {
            let mut inner = self.inner.borrow_mut();
            if inner.free > 0 {
                inner.free -= 1;
                None
            } else {
                let (tx, rx) = oneshot::channel();
                inner.waiters.push_back(tx);
                Some(rx)
            }
        };
        match waiting {
            None => Permit {
                inner: Some(self.inner.clone()),
            },
            // The sender lives in `waiters` until a permit is handed over: never
            // cancelled while `self` is alive.
            Some(rx) => rx.await.expect("a waiter is dropped only with its permits"),
        }
    }

    /// Permits free now.
    pub fn free(&self) -> usize {
        self.inner.borrow().free
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let Some(shared) = self.inner.take() else {
            return;
        };
        let mut inner = shared.borrow_mut();
        while let Some(waiter) = inner.waiters.pop_front() {
            let handed = Permit {
                inner: Some(shared.clone()),
            };
            // A waiter that gave up returns the permit here; it goes to the next one.
            match waiter.send(handed) {
                Ok(()) => return,
                Err(mut returned) => returned.inner = None,
            }
        }
        inner.free += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No more than `max` permits are out; a dropped one goes to the first waiter, and
    /// a waiter that gave up does not swallow it.
    #[test]
    fn bounded_and_handed_in_order() {
        let mut runtime = crate::front::peer::test_runtime();
        runtime.block_on(async {
            let permits = Permits::new(2);
            let a = permits.acquire().await;
            let _b = permits.acquire().await;
            assert_eq!(permits.free(), 0);
            let gave_up =
                monoio::time::timeout(std::time::Duration::from_millis(10), permits.acquire())
                    .await;
            assert!(gave_up.is_err(), "no third permit");
            let waiter = {
                let permits = permits.clone();
                monoio::spawn(async move { permits.acquire().await })
            };
            monoio::time::sleep(std::time::Duration::from_millis(1)).await;
            drop(a);
            let c = waiter.await;
            assert_eq!(permits.free(), 0);
            drop(c);
            assert_eq!(permits.free(), 1);
        });
    }
}
