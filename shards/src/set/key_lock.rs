//! Named locks inside one shard, shared or exclusive, first come first served, granted
//! as leases. Single-threaded by design (`Rc`/`RefCell`): names are owned by one shard
//! per node (DESIGN.md §2), so no lock is ever shared between cores.
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
//! Leases: every grant carries an epoch and an expiry (`Lease`). Epochs are strictly
//! increasing per table and start from the wall clock's nanoseconds (each grant takes
//! `max(last + 1, now, seen + 1)`, where `seen` is the highest epoch the requester has
//! seen, and `raise` lifts `last` to an epoch a holder fences with: Lamport's rule, so
//! epochs stay ordered across the nodes of a cluster, `cluster_lock.rs`), so a table made after a restart never hands out an epoch an
//! earlier table did (unless the wall clock stepped back across the restart by more
//! than the grants made since). Expiry is in monotonic time (`Env::monotonic_nanos`).
//! A holder extends its lease with `KeyGuard::refresh` while its work runs; a refresh
//! succeeds while nobody has taken the lease from it. Expiry is lazy: a lease past its
//! expiry stays with its holder until someone waits for the name, and then the waiter
//! (woken by a timer at the expiry) revokes it and the queue moves on with a higher
//! epoch. So a holder that hangs never wedges a name, and a slow holder nobody waits
//! for is not punished.
//!
//! Invariants: a name is in the table exactly while someone holds or waits for it;
//! grants go in arrival order (a shared request waits behind an exclusive one queued
//! earlier, so a delete is never starved by a stream of writes); a waiter whose future
//! is dropped leaves the queue, and one dropped after being granted the lock passes it
//! on, so a cancelled request can never wedge a name; a revoked holder's release and
//! refresh change nothing (its epoch is no longer in the table).

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use shoal_io::{Env, MonoioEnv};

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

    /// The text whose hash chooses the owner shard (distinct per kind): the lock
    /// verbs' `LockTarget::owner_text`, so a peer routes to the same shard.
    pub fn owner_text(&self) -> String {
        crate::set::cluster_lock::target_of(self).owner_text()
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

/// A grant: which one (`epoch`, never reused) and until when it holds (monotonic
/// nanoseconds of the table's `Env`; one clock for every shard of a process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub epoch: u64,
    pub expires_at_nanos: u64,
}

/// The time a lock table keeps leases in: an `Env` with its type erased, so tables,
/// lockers and guards are not generic over it.
pub trait LeaseTime {
    /// `Env::monotonic_nanos`: what expiries are measured in.
    fn lease_clock_nanos(&self) -> u64;
    /// The wall clock (`Clock::now_unix_nanos`): the floor of new epochs.
    fn epoch_floor(&self) -> u64;
    fn sleep_until(&self, at_nanos: u64) -> Pin<Box<dyn Future<Output = ()>>>;
    /// `Env::spawn`: runs `task` on this shard, not awaited (a cluster lock's releases).
    fn spawn_task(&self, task: Pin<Box<dyn Future<Output = ()>>>);
}

impl<E: Env> LeaseTime for E {
    fn lease_clock_nanos(&self) -> u64 {
        Env::monotonic_nanos(self)
    }

    fn epoch_floor(&self) -> u64 {
        shoal_io::Clock::now_unix_nanos(self)
    }

    fn sleep_until(&self, at_nanos: u64) -> Pin<Box<dyn Future<Output = ()>>> {
        let wait_nanos = at_nanos.saturating_sub(Env::monotonic_nanos(self));
        Box::pin(self.sleep(Duration::from_nanos(wait_nanos)))
    }

    fn spawn_task(&self, task: Pin<Box<dyn Future<Output = ()>>>) {
        Env::spawn(self, task);
    }
}

/// A lease length in nanoseconds (saturating: a lease never wraps time around).
pub(crate) fn lease_nanos(lease: Duration) -> u64 {
    u64::try_from(lease.as_nanos()).unwrap_or(u64::MAX)
}

struct Waiter {
    mode: LockMode,
    lease_nanos: u64,
    /// The highest epoch the requester has seen: its grant is above it.
    seen_epoch: u64,
    granted: Cell<Option<Lease>>,
    waker: RefCell<Option<Waker>>,
}

struct Holder {
    mode: LockMode,
    lease: Lease,
}

/// One name's holders and waiters.
#[derive(Default)]
struct Entry {
    holders: Vec<Holder>,
    queue: VecDeque<Rc<Waiter>>,
}

impl Entry {
    fn admits(&self, mode: LockMode) -> bool {
        match mode {
            LockMode::Shared => self.holders.iter().all(|h| h.mode == LockMode::Shared),
            LockMode::Exclusive => self.holders.is_empty(),
        }
    }

    /// Revokes every lease past its expiry; whether any was.
    fn expire(&mut self, now_nanos: u64) -> bool {
        let before = self.holders.len();
        self.holders
            .retain(|h| h.lease.expires_at_nanos > now_nanos);
        self.holders.len() != before
    }

    /// The earliest expiry among the holders (what a blocked waiter waits for).
    fn next_expiry_nanos(&self) -> Option<u64> {
        self.holders.iter().map(|h| h.lease.expires_at_nanos).min()
    }

    fn holder_mut(&mut self, epoch: u64) -> Option<&mut Holder> {
        self.holders.iter_mut().find(|h| h.lease.epoch == epoch)
    }

    fn idle(&self) -> bool {
        self.holders.is_empty() && self.queue.is_empty()
    }
}

/// The names of one shard, and where its epochs and expiries come from.
struct Table {
    entries: HashMap<LockName, Entry>,
    /// The last epoch handed out.
    epoch_last: u64,
    time: Rc<dyn LeaseTime>,
}

impl Table {
    /// A new lease of `lease_nanos` from now, with the next epoch (above `seen_epoch`).
    fn next_lease(&mut self, lease_nanos: u64, seen_epoch: u64) -> Lease {
        let epoch = self
            .time
            .epoch_floor()
            .max(self.epoch_last.saturating_add(1))
            .max(seen_epoch.saturating_add(1));
        assert!(epoch > self.epoch_last, "lease epochs exhausted");
        self.epoch_last = epoch;
        Lease {
            epoch,
            expires_at_nanos: self.time.lease_clock_nanos().saturating_add(lease_nanos),
        }
    }

    /// Grants `name` to the waiters at the front of its queue while they fit, in order.
    fn grant_waiting(&mut self, name: &LockName) {
        loop {
            let Some(entry) = self.entries.get_mut(name) else {
                return;
            };
            let Some(next) = entry.queue.front() else {
                return;
            };
            if !entry.admits(next.mode) {
                return;
            }
            let next = entry.queue.pop_front().expect("front exists");
            let lease = self.next_lease(next.lease_nanos, next.seen_epoch);
            self.hold(name, next.mode, lease);
            next.granted.set(Some(lease));
            if let Some(waker) = next.waker.borrow_mut().take() {
                waker.wake();
            }
        }
    }

    fn hold(&mut self, name: &LockName, mode: LockMode, lease: Lease) {
        let entry = self.entries.entry(name.clone()).or_default();
        assert!(entry.admits(mode), "granted a lock that is not free");
        entry.holders.push(Holder { mode, lease });
    }

    /// Ends lease `epoch` of `name` (gone already, when revoked: nothing to do) and
    /// passes the name on.
    fn release(&mut self, name: &LockName, epoch: u64) {
        if let Some(entry) = self.entries.get_mut(name) {
            entry.holders.retain(|h| h.lease.epoch != epoch);
        }
        self.grant_waiting(name);
        self.remove_if_idle(name);
    }

    fn remove_if_idle(&mut self, name: &LockName) {
        if self.entries.get(name).is_some_and(Entry::idle) {
            self.entries.remove(name);
        }
    }
}

/// The lock table of one shard.
#[derive(Clone)]
pub struct KeyLocks {
    table: Rc<RefCell<Table>>,
}

impl Default for KeyLocks {
    /// A table on the real runtime's clocks.
    fn default() -> Self {
        Self::new(MonoioEnv)
    }
}

/// Holding this means holding the name's lock in its mode, while its lease lasts.
pub struct KeyGuard {
    table: Rc<RefCell<Table>>,
    name: LockName,
    lease: Cell<Lease>,
}

impl KeyLocks {
    /// A table whose leases run in `env`'s time.
    pub fn new<E: Env>(env: E) -> Self {
        let time: Rc<dyn LeaseTime> = Rc::new(env);
        Self {
            table: Rc::new(RefCell::new(Table {
                entries: HashMap::new(),
                epoch_last: 0,
                time,
            })),
        }
    }

    /// Waits for the lock of `name` in `mode`, granted as a lease of `lease` (it
    /// expires unless refreshed, see the module comment).
    pub fn lock(
        &self,
        name: &LockName,
        mode: LockMode,
        lease: Duration,
    ) -> impl Future<Output = KeyGuard> + use<> {
        self.lock_after(name, mode, lease, 0)
    }

    /// `lock`, granted with an epoch above `seen_epoch` (a cluster's requester passes
    /// the highest epoch it has seen).
    pub fn lock_after(
        &self,
        name: &LockName,
        mode: LockMode,
        lease: Duration,
        seen_epoch: u64,
    ) -> impl Future<Output = KeyGuard> + use<> {
        let lease_nanos = lease_nanos(lease);
        let waiter = Rc::new(Waiter {
            mode,
            lease_nanos,
            seen_epoch,
            granted: Cell::new(None),
            waker: RefCell::new(None),
        });
        {
            let mut table = self.table.borrow_mut();
            let entry = table.entries.entry(name.clone()).or_default();
            if entry.queue.is_empty() && entry.admits(mode) {
                let lease = table.next_lease(lease_nanos, seen_epoch);
                table.hold(name, mode, lease);
                waiter.granted.set(Some(lease));
            } else {
                entry.queue.push_back(Rc::clone(&waiter));
            }
        }
        LockFuture {
            table: Rc::clone(&self.table),
            name: Some(name.clone()),
            waiter,
            expiry_timer: None,
        }
    }

    /// Lifts the last epoch handed out to at least `epoch` (one a holder fences with),
    /// so every later grant of this table is above it.
    pub fn raise(&self, epoch: u64) {
        let mut table = self.table.borrow_mut();
        table.epoch_last = table.epoch_last.max(epoch);
    }

    /// Names currently held or waited for (for tests and metrics).
    pub fn held_count(&self) -> usize {
        self.table.borrow().entries.len()
    }
}

impl KeyGuard {
    /// The lease as last granted or refreshed.
    pub fn lease(&self) -> Lease {
        self.lease.get()
    }

    /// Extends the lease to `lease` from now; `None` when it was taken away (expired
    /// and granted to a waiter): the holder no longer holds the name.
    pub fn refresh(&self, lease: Duration) -> Option<Lease> {
        let mut table = self.table.borrow_mut();
        let now = table.time.lease_clock_nanos();
        let epoch = self.lease.get().epoch;
        let holder = table.entries.get_mut(&self.name)?.holder_mut(epoch)?;
        holder.lease.expires_at_nanos = now.saturating_add(lease_nanos(lease));
        let lease = holder.lease;
        self.lease.set(lease);
        Some(lease)
    }
}

/// How many times one poll re-checks expiries whose timers already fired.
const EXPIRY_ROUNDS_MAX: usize = 4;

type Timer = Pin<Box<dyn Future<Output = ()>>>;

struct LockFuture {
    table: Rc<RefCell<Table>>,
    /// `None` once the guard was handed out.
    name: Option<LockName>,
    waiter: Rc<Waiter>,
    /// A timer until the earliest expiry of the holders in the way, and that expiry.
    expiry_timer: Option<(u64, Timer)>,
}

impl LockFuture {
    /// Revokes expired leases in the way and passes the name on; then the earliest
    /// expiry still in the way (`None`: granted, or waiting behind other waiters only).
    fn revoke_expired(&self) -> Option<u64> {
        let name = self.name.as_ref().expect("polled after completion");
        let mut table = self.table.borrow_mut();
        let now = table.time.lease_clock_nanos();
        let expired = table
            .entries
            .get_mut(name)
            .is_some_and(|entry| entry.expire(now));
        if expired {
            table.grant_waiting(name);
        }
        if self.waiter.granted.get().is_some() {
            return None;
        }
        table.entries.get(name).and_then(Entry::next_expiry_nanos)
    }
}

impl Future for LockFuture {
    type Output = KeyGuard;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyGuard> {
        for _ in 0..EXPIRY_ROUNDS_MAX {
            if let Some(lease) = self.waiter.granted.get() {
                let name = self.name.take().expect("polled after completion");
                return Poll::Ready(KeyGuard {
                    table: Rc::clone(&self.table),
                    name,
                    lease: Cell::new(lease),
                });
            }
            *self.waiter.waker.borrow_mut() = Some(cx.waker().clone());
            let Some(expiry) = self.revoke_expired() else {
                if self.waiter.granted.get().is_some() {
                    continue;
                }
                self.expiry_timer = None;
                return Poll::Pending;
            };
            if self
                .expiry_timer
                .as_ref()
                .is_none_or(|(at, _)| *at != expiry)
            {
                let timer = self.table.borrow().time.sleep_until(expiry);
                self.expiry_timer = Some((expiry, timer));
            }
            let (_, timer) = self.expiry_timer.as_mut().expect("armed above");
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.expiry_timer = None;
        }
        // Timers fire but the holders keep refreshing at the same instant: come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl KeyGuard {
    /// Lifts the table's last epoch to `epoch` (the holder's fence in a cluster).
    pub fn raise(&self, epoch: u64) {
        let mut table = self.table.borrow_mut();
        table.epoch_last = table.epoch_last.max(epoch);
    }
}

impl Drop for LockFuture {
    fn drop(&mut self) {
        let Some(name) = self.name.take() else {
            return;
        };
        let mut table = self.table.borrow_mut();
        // Granted (at creation or later) but never taken: pass it on.
        if let Some(lease) = self.waiter.granted.get() {
            table.release(&name, lease.epoch);
            return;
        }
        if let Some(entry) = table.entries.get_mut(&name) {
            entry.queue.retain(|other| !Rc::ptr_eq(other, &self.waiter));
        }
        // It may have been the one blocking those behind it.
        table.grant_waiting(&name);
        table.remove_if_idle(&name);
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        let epoch = self.lease.get().epoch;
        self.table.borrow_mut().release(&self.name, epoch);
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

    /// A lease no test outlives (on the real runtime's clock).
    const LONG: Duration = Duration::from_hours(1);
    const SECOND: Duration = Duration::from_secs(1);

    fn key(k: &str) -> LockName {
        LockName::object("b", k)
    }

    /// Holders of one name take turns in arrival order; other names are independent.
    #[test]
    fn turns_in_order() {
        runtime().block_on(async {
            let locks = KeyLocks::default();
            let log = Rc::new(RefCell::new(Vec::new()));
            let first = locks.lock(&key("k"), LockMode::Exclusive, LONG).await;
            let other = locks.lock(&key("other"), LockMode::Exclusive, LONG).await;
            let mut tasks = Vec::new();
            for i in 0..3 {
                let (locks, log) = (locks.clone(), log.clone());
                tasks.push(monoio::spawn(async move {
                    let _guard = locks.lock(&key("k"), LockMode::Exclusive, LONG).await;
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
            let guard = locks.lock(&key("k"), LockMode::Exclusive, LONG).await;
            let waiting = locks.lock(&key("k"), LockMode::Exclusive, LONG);
            drop(guard);
            drop(waiting); // granted but never polled
            let _again = locks.lock(&key("k"), LockMode::Exclusive, LONG).await;
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
            let a = locks.lock(&bucket, LockMode::Shared, LONG).await;
            let b = locks.lock(&bucket, LockMode::Shared, LONG).await;
            let mut exclusive = std::pin::pin!(locks.lock(&bucket, LockMode::Exclusive, LONG));
            let mut late = std::pin::pin!(locks.lock(&bucket, LockMode::Shared, LONG));
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
                .lock(&LockName::Bucket("mpu".into()), LockMode::Exclusive, LONG)
                .await;
            let _upload = locks
                .lock(&LockName::Upload("x".into()), LockMode::Exclusive, LONG)
                .await;
            let _object = locks
                .lock(&LockName::object("mpu", "x"), LockMode::Exclusive, LONG)
                .await;
            assert_eq!(locks.held_count(), 3);
        });
    }

    /// A holder that does not refresh loses the name at its expiry to the waiter, whose
    /// epoch is higher; the old holder's refresh then fails and its release is a no-op.
    #[test]
    fn expiry_grants_the_next_waiter_a_higher_epoch() {
        let sim = shoal_io::SimExecutor::new(1);
        let env = sim.env();
        sim.block_on(async {
            let locks = KeyLocks::new(env.clone());
            let hung = locks.lock(&key("k"), LockMode::Exclusive, SECOND).await;
            let start_nanos = env.monotonic_nanos();
            let next = locks.lock(&key("k"), LockMode::Exclusive, SECOND).await;
            let waited_nanos = env.monotonic_nanos() - start_nanos;
            assert_eq!(waited_nanos, lease_nanos(SECOND), "granted at the expiry");
            assert!(next.lease().epoch > hung.lease().epoch);
            assert_eq!(
                hung.refresh(SECOND),
                None,
                "a revoked lease cannot be refreshed"
            );
            drop(hung);
            let mut third = std::pin::pin!(locks.lock(&key("k"), LockMode::Exclusive, SECOND));
            let waker = futures_util::task::noop_waker();
            let mut cx = Context::from_waker(&waker);
            assert!(
                third.as_mut().poll(&mut cx).is_pending(),
                "the revoked holder's release freed the new holder's lock"
            );
        });
    }

    /// A holder that refreshes keeps the name as long as it likes; when it lets go the
    /// waiter gets it at once.
    #[test]
    fn refresh_keeps_the_lease() {
        let sim = shoal_io::SimExecutor::new(2);
        let env = sim.env();
        sim.block_on(async {
            let locks = KeyLocks::new(env.clone());
            let holder = locks.lock(&key("k"), LockMode::Exclusive, SECOND).await;
            let granted_at = Rc::new(Cell::new(None));
            let (locks2, env2, granted2) = (locks.clone(), env.clone(), Rc::clone(&granted_at));
            env.spawn(async move {
                let guard = locks2.lock(&key("k"), LockMode::Exclusive, SECOND).await;
                granted2.set(Some((env2.monotonic_nanos(), guard.lease().epoch)));
            });
            for _ in 0..10 {
                env.sleep(SECOND / 2).await;
                assert!(holder.refresh(SECOND).is_some(), "refresh of a held lease");
            }
            assert_eq!(granted_at.get(), None, "granted while the holder refreshed");
            let released_at = env.monotonic_nanos();
            let epoch = holder.lease().epoch;
            drop(holder);
            env.sleep(Duration::from_millis(1)).await;
            let (at, next_epoch) = granted_at.get().expect("granted after the release");
            assert_eq!(at, released_at, "granted at the release, not at an expiry");
            assert!(next_epoch > epoch);
        });
    }

    /// A lease past its expiry that nobody waits for stays with its holder, whose
    /// refresh succeeds (expiry is lazy).
    #[test]
    fn expired_lease_nobody_wants_can_be_refreshed() {
        let sim = shoal_io::SimExecutor::new(3);
        let env = sim.env();
        sim.block_on(async {
            let locks = KeyLocks::new(env.clone());
            let holder = locks.lock(&key("k"), LockMode::Exclusive, SECOND).await;
            env.sleep(SECOND * 5).await;
            let lease = holder.refresh(SECOND).expect("nobody took it");
            assert_eq!(lease.epoch, holder.lease().epoch);
            assert_eq!(
                lease.expires_at_nanos,
                env.monotonic_nanos() + lease_nanos(SECOND)
            );
        });
    }

    /// An exclusive waiter revokes expired shared leases too, but only those expired.
    #[test]
    fn expiry_of_shared_holders() {
        let sim = shoal_io::SimExecutor::new(4);
        let env = sim.env();
        sim.block_on(async {
            let locks = KeyLocks::new(env.clone());
            let bucket = LockName::Bucket("b".into());
            let short = locks.lock(&bucket, LockMode::Shared, SECOND).await;
            let long = locks.lock(&bucket, LockMode::Shared, SECOND * 3).await;
            let start = env.monotonic_nanos();
            let exclusive = locks.lock(&bucket, LockMode::Exclusive, SECOND).await;
            assert_eq!(env.monotonic_nanos() - start, lease_nanos(SECOND * 3));
            assert_eq!(short.refresh(SECOND), None);
            assert_eq!(long.refresh(SECOND), None);
            assert!(exclusive.lease().epoch > long.lease().epoch);
        });
    }

    /// Epochs never repeat across a restart: a new table on the same clock, made after
    /// a burst of grants at one instant and a restart of a millisecond, starts above
    /// every epoch the old one handed out.
    #[test]
    fn epochs_never_repeat_across_a_restart() {
        let sim = shoal_io::SimExecutor::new(5);
        let env = sim.env();
        sim.block_on(async {
            let before = KeyLocks::new(env.clone());
            let mut last = 0;
            for i in 0..10_000 {
                let guard = before
                    .lock(&key(&i.to_string()), LockMode::Exclusive, SECOND)
                    .await;
                assert!(guard.lease().epoch > last, "epochs strictly increase");
                last = guard.lease().epoch;
            }
            drop(before);
            env.sleep(Duration::from_millis(1)).await;
            let after = KeyLocks::new(env.clone());
            let first = after.lock(&key("0"), LockMode::Exclusive, SECOND).await;
            assert!(
                first.lease().epoch > last,
                "{} <= {last}",
                first.lease().epoch
            );
        });
    }
}
