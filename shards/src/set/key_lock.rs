//! Named locks inside one shard, shared or exclusive, first come first served.
//! Single-threaded by design (`Rc`/`RefCell`): names are owned by one shard per node
//! (DESIGN.md §2), so no lock is ever shared between cores.
//!
//! Names are typed (`LockName`): a bucket, an object, a multipart upload. Two kinds of
//! thing can never share a lock because their names look alike (a bucket called `mpu`
//! and the upload locks `mpu/<id>` once did).
//!
//! Modes: writers into a bucket hold its lock shared while they commit; creating or
//! deleting the bucket holds it exclusive, so a delete and a write exclude each other
//! while writes into one bucket do not wait for each other. Objects and uploads are
//! always locked exclusive.
//!
//! Invariants: a name is in the table exactly while someone holds or waits for it;
//! grants go in arrival order (a shared request waits behind an exclusive one queued
//! earlier, so a delete is never starved by a stream of writes); a waiter whose future
//! is dropped leaves the queue, and one dropped after being granted the lock passes it
//! on, so a cancelled request can never wedge a name.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// What a lock protects.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LockName {
    /// A bucket's existence: shared by writes into it, exclusive by create and delete.
    Bucket(String),
    /// One object's versions.
    Object { bucket: String, key: String },
    /// One multipart upload's folder, by upload id.
    Upload(String),
}

impl LockName {
    pub fn object(bucket: &str, key: &str) -> Self {
        Self::Object {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }
    }

    /// The text whose hash chooses the owner shard (distinct per kind).
    pub fn owner_text(&self) -> String {
        match self {
            Self::Bucket(name) => format!("b:{name}"),
            Self::Object { bucket, key } => format!("{bucket}/{key}"),
            Self::Upload(id) => format!("u:{id}"),
        }
    }
}

/// How a lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Together with other shared holders.
    Shared,
    /// Alone.
    Exclusive,
}

struct Waiter {
    mode: LockMode,
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// One name's holders and waiters.
#[derive(Default)]
struct Entry {
    shared_holders: usize,
    exclusive_held: bool,
    queue: VecDeque<Rc<Waiter>>,
}

impl Entry {
    fn admits(&self, mode: LockMode) -> bool {
        match mode {
            LockMode::Shared => !self.exclusive_held,
            LockMode::Exclusive => !self.exclusive_held && self.shared_holders == 0,
        }
    }

    fn hold(&mut self, mode: LockMode) {
        match mode {
            LockMode::Shared => self.shared_holders += 1,
            LockMode::Exclusive => self.exclusive_held = true,
        }
    }

    fn unhold(&mut self, mode: LockMode) {
        match mode {
            LockMode::Shared => {
                assert!(self.shared_holders > 0, "released a shared lock not held");
                self.shared_holders -= 1;
            }
            LockMode::Exclusive => {
                assert!(self.exclusive_held, "released an exclusive lock not held");
                self.exclusive_held = false;
            }
        }
    }

    /// Grants waiters at the front of the queue while they fit, in order.
    fn grant_waiting(&mut self) {
        while let Some(next) = self.queue.front() {
            if !self.admits(next.mode) {
                break;
            }
            let next = self.queue.pop_front().expect("front exists");
            self.hold(next.mode);
            next.granted.set(true);
            if let Some(waker) = next.waker.borrow_mut().take() {
                waker.wake();
            }
        }
    }

    fn idle(&self) -> bool {
        self.shared_holders == 0 && !self.exclusive_held && self.queue.is_empty()
    }
}

type Table = RefCell<HashMap<LockName, Entry>>;

/// The lock table of one shard.
#[derive(Default, Clone)]
pub struct KeyLocks {
    held: Rc<Table>,
}

/// Holding this means holding the name's lock in its mode.
pub struct KeyGuard {
    held: Rc<Table>,
    name: LockName,
    mode: LockMode,
}

impl KeyLocks {
    /// Waits for the lock of `name` in `mode`.
    pub fn lock(&self, name: &LockName, mode: LockMode) -> impl Future<Output = KeyGuard> + use<> {
        let waiter = {
            let mut held = self.held.borrow_mut();
            let entry = held.entry(name.clone()).or_default();
            if entry.queue.is_empty() && entry.admits(mode) {
                entry.hold(mode);
                None
            } else {
                let waiter = Rc::new(Waiter {
                    mode,
                    granted: Cell::new(false),
                    waker: RefCell::new(None),
                });
                entry.queue.push_back(waiter.clone());
                Some(waiter)
            }
        };
        LockFuture {
            held: self.held.clone(),
            name: Some(name.clone()),
            mode,
            waiter,
        }
    }

    /// Names currently held or waited for (for tests and metrics).
    pub fn held_count(&self) -> usize {
        self.held.borrow().len()
    }
}

struct LockFuture {
    held: Rc<Table>,
    /// `None` once the guard was handed out.
    name: Option<LockName>,
    mode: LockMode,
    waiter: Option<Rc<Waiter>>,
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
        let name = self.name.take().expect("polled after completion");
        Poll::Ready(KeyGuard {
            held: self.held.clone(),
            name,
            mode: self.mode,
        })
    }
}

impl Drop for LockFuture {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        match &self.waiter {
            Some(w) if !w.granted.get() => {
                let mut held = self.held.borrow_mut();
                if let Some(entry) = held.get_mut(&name) {
                    entry.queue.retain(|other| !Rc::ptr_eq(other, w));
                    // It may have been the one blocking those behind it.
                    entry.grant_waiting();
                    if entry.idle() {
                        held.remove(&name);
                    }
                }
            }
            // Granted (at creation or later) but never taken: pass it on.
            _ => release(&self.held, &name, self.mode),
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        release(&self.held, &self.name, self.mode);
    }
}

fn release(held: &Table, name: &LockName, mode: LockMode) {
    let mut held = held.borrow_mut();
    let entry = held
        .get_mut(name)
        .expect("released a name that is not held");
    entry.unhold(mode);
    entry.grant_waiting();
    if entry.idle() {
        held.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> monoio::Runtime<monoio::time::TimeDriver<monoio::LegacyDriver>> {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
    }

    fn key(k: &str) -> LockName {
        LockName::object("b", k)
    }

    /// Holders of one name take turns in arrival order; other names are independent.
    #[test]
    fn turns_in_order() {
        runtime().block_on(async {
            let locks = KeyLocks::default();
            let log = Rc::new(RefCell::new(Vec::new()));
            let first = locks.lock(&key("k"), LockMode::Exclusive).await;
            let other = locks.lock(&key("other"), LockMode::Exclusive).await;
            let mut tasks = Vec::new();
            for i in 0..3 {
                let (locks, log) = (locks.clone(), log.clone());
                tasks.push(monoio::spawn(async move {
                    let _guard = locks.lock(&key("k"), LockMode::Exclusive).await;
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

    /// A waiter that gives up (dropped future) does not wedge the name.
    #[test]
    fn cancelled_waiter_passes_on() {
        runtime().block_on(async {
            let locks = KeyLocks::default();
            let guard = locks.lock(&key("k"), LockMode::Exclusive).await;
            let waiting = locks.lock(&key("k"), LockMode::Exclusive);
            drop(guard);
            drop(waiting); // granted but never polled
            let _again = locks.lock(&key("k"), LockMode::Exclusive).await;
            assert_eq!(locks.held_count(), 1);
        });
    }

    /// Shared holders hold together; an exclusive request waits for all of them, and
    /// shared requests that arrive after it wait behind it.
    #[test]
    fn shared_and_exclusive() {
        runtime().block_on(async {
            let locks = KeyLocks::default();
            let bucket = LockName::Bucket("b".into());
            let a = locks.lock(&bucket, LockMode::Shared).await;
            let b = locks.lock(&bucket, LockMode::Shared).await;
            let mut exclusive = std::pin::pin!(locks.lock(&bucket, LockMode::Exclusive));
            let mut late = std::pin::pin!(locks.lock(&bucket, LockMode::Shared));
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(exclusive.as_mut().poll(&mut cx).is_pending());
            drop(a);
            assert!(exclusive.as_mut().poll(&mut cx).is_pending());
            drop(b);
            let Poll::Ready(guard) = exclusive.as_mut().poll(&mut cx) else {
                panic!("exclusive not granted after the shared holders left");
            };
            assert!(late.as_mut().poll(&mut cx).is_pending());
            drop(guard);
            assert!(late.as_mut().poll(&mut cx).is_ready());
        });
    }

    /// A bucket and an upload id spelled like `bucket/key` never share a lock.
    #[test]
    fn kinds_never_collide() {
        runtime().block_on(async {
            let locks = KeyLocks::default();
            let _bucket = locks
                .lock(&LockName::Bucket("mpu".into()), LockMode::Exclusive)
                .await;
            let _upload = locks
                .lock(&LockName::Upload("x".into()), LockMode::Exclusive)
                .await;
            let _object = locks
                .lock(&LockName::object("mpu", "x"), LockMode::Exclusive)
                .await;
            assert_eq!(locks.held_count(), 3);
        });
    }
}
