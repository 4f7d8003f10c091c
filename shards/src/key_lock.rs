//! Per-key locks inside one shard: writers of the same key (put commit, delete) take
//! turns, first come first served. Single-threaded by design (`Rc`/`RefCell`): keys are
//! owned by one shard per node (DESIGN.md §2), so no lock is ever shared between cores.
//!
//! Invariants: a key is in `held` exactly while someone holds its lock; a waiter whose
//! future is dropped leaves the queue, and one dropped after being granted the lock
//! passes it on, so a cancelled request can never wedge a key.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct Waiter {
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

type Queues = RefCell<HashMap<String, VecDeque<Rc<Waiter>>>>;

/// The lock table of one shard.
#[derive(Default, Clone)]
pub struct KeyLocks {
    held: Rc<Queues>,
}

/// Holding this means holding the key's lock.
pub struct KeyGuard {
    held: Rc<Queues>,
    key: String,
}

impl KeyLocks {
    /// Waits for the lock of `key`.
    pub fn lock(&self, key: &str) -> impl Future<Output = KeyGuard> + use<> {
        let waiter = {
            let mut held = self.held.borrow_mut();
            if let Some(queue) = held.get_mut(key) {
                let waiter = Rc::new(Waiter::default());
                queue.push_back(waiter.clone());
                Some(waiter)
            } else {
                held.insert(key.to_owned(), VecDeque::new());
                None
            }
        };
        LockFuture {
            held: self.held.clone(),
            key: key.to_owned(),
            waiter,
            done: false,
        }
    }

    /// Keys currently locked (for tests and metrics).
    pub fn held_count(&self) -> usize {
        self.held.borrow().len()
    }
}

struct LockFuture {
    held: Rc<Queues>,
    key: String,
    waiter: Option<Rc<Waiter>>,
    done: bool,
}

impl Future for LockFuture {
    type Output = KeyGuard;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyGuard> {
        if let Some(waiter) = &self.waiter
            && !waiter.granted.get()
        {
            *waiter.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        self.done = true;
        Poll::Ready(KeyGuard {
            held: self.held.clone(),
            key: std::mem::take(&mut self.key),
        })
    }
}

impl Drop for LockFuture {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match &self.waiter {
            // Granted the lock but never took it: pass it on.
            Some(w) if w.granted.get() => release(&self.held, &self.key),
            Some(w) => {
                if let Some(queue) = self.held.borrow_mut().get_mut(&self.key) {
                    queue.retain(|other| !Rc::ptr_eq(other, w));
                }
            }
            // Acquired at creation but never polled to completion.
            None => release(&self.held, &self.key),
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        release(&self.held, &self.key);
    }
}

fn release(held: &Queues, key: &str) {
    let mut held = held.borrow_mut();
    let queue = held.get_mut(key).expect("released a key that is not held");
    if let Some(next) = queue.pop_front() {
        next.granted.set(true);
        if let Some(waker) = next.waker.borrow_mut().take() {
            waker.wake();
        }
    } else {
        held.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holders of one key take turns in arrival order; other keys are independent.
    #[test]
    fn turns_in_order() {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(async {
                let locks = KeyLocks::default();
                let log = Rc::new(RefCell::new(Vec::new()));
                let first = locks.lock("k").await;
                let other = locks.lock("other").await;
                let mut tasks = Vec::new();
                for i in 0..3 {
                    let (locks, log) = (locks.clone(), log.clone());
                    tasks.push(monoio::spawn(async move {
                        let _guard = locks.lock("k").await;
                        log.borrow_mut().push(i);
                        monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                    }));
                }
                monoio::time::sleep(std::time::Duration::from_millis(5)).await;
                assert!(log.borrow().is_empty(), "lock was not exclusive");
                drop((first, other));
                for t in tasks {
                    t.await;
                }
                assert_eq!(*log.borrow(), vec![0, 1, 2]);
                assert_eq!(locks.held_count(), 0);
            });
    }

    /// A waiter that gives up (dropped future) does not wedge the key.
    #[test]
    fn cancelled_waiter_passes_on() {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(async {
                let locks = KeyLocks::default();
                let guard = locks.lock("k").await;
                let waiting = locks.lock("k");
                drop(guard);
                drop(waiting); // granted but never polled
                let _again = locks.lock("k").await;
                assert_eq!(locks.held_count(), 1);
            });
    }
}
