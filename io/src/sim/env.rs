//! `SimEnv`: the `Env` of a simulation. Time is the executor's virtual time, sleeps are
//! its timers, spawned tasks are its tasks, and the wall clock is virtual time plus an
//! offset the test may step at will (backwards too), as NTP or a bad RTC would.
//!
//! Invariants:
//! - A sleep's deadline is fixed when `sleep` is called (as on monoio), and a sleep that
//!   is dropped unfinished removes its timer, so a lost race (e.g. in `timeout`) leaves
//!   nothing behind that could move time or hide a deadlock.
//! - `monotonic_nanos` never goes backwards; `now_unix_nanos` may.
//! - Handles are cheap clones of one simulation; they keep it alive, not running.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use rand::RngCore;

use super::executor::{Sched, Shared};
use crate::clock::Clock;
use crate::env::Env;

/// The environment of a simulated shard; get it from `SimExecutor::env`.
#[derive(Clone)]
pub struct SimEnv {
    shared: Rc<Shared>,
}

impl SimEnv {
    pub(crate) fn new(shared: Rc<Shared>) -> SimEnv {
        SimEnv { shared }
    }

    fn sched(&self) -> std::cell::RefMut<'_, Sched> {
        self.shared.sched.borrow_mut()
    }

    /// The seed this simulation runs from.
    pub fn seed(&self) -> u64 {
        self.sched().config.seed
    }

    /// Folds an event of the simulation (a value it chose, a result it saw) into the
    /// trace hash, so reruns of a seed are compared on it too.
    pub fn trace(&self, value: u64) {
        self.sched().trace.user(value);
    }

    /// The trace hash so far (see `SimExecutor::trace_hash`).
    pub fn trace_hash(&self) -> u64 {
        self.sched().trace.hash()
    }

    /// A random number from the seed, on a stream of its own: drawing one does not
    /// change which task runs next. Use it for drive seeds, payloads, fault choices.
    pub fn random_u64(&self) -> u64 {
        self.sched().user_rng.next_u64()
    }

    /// Sets the wall clock (forwards or backwards); it keeps running with virtual time.
    pub fn set_now_unix_nanos(&self, now_unix_nanos: u64) {
        let mut sched = self.sched();
        sched.wall_base_unix_nanos = i128::from(now_unix_nanos) - i128::from(sched.now_nanos);
    }

    /// Like `Env::spawn`, with the spawn site given (for deadlock reports).
    pub fn spawn_at<F: Future<Output = ()> + 'static>(
        &self,
        task: F,
        origin: &'static Location<'static>,
    ) {
        self.shared.spawn(Box::pin(task), origin);
    }
}

impl Clock for SimEnv {
    fn now_unix_nanos(&self) -> u64 {
        let sched = self.sched();
        let now = sched.wall_base_unix_nanos + i128::from(sched.now_nanos);
        u64::try_from(now.max(0)).unwrap_or(u64::MAX)
    }
}

impl Env for SimEnv {
    fn monotonic_nanos(&self) -> u64 {
        self.sched().now_nanos
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + 'static {
        let duration_nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        Sleep {
            shared: Rc::clone(&self.shared),
            deadline_nanos: self.monotonic_nanos().saturating_add(duration_nanos),
            timer: None,
        }
    }

    #[track_caller]
    fn spawn<F: Future<Output = ()> + 'static>(&self, task: F) {
        self.spawn_at(task, Location::caller());
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        YieldNow {
            shared: Rc::clone(&self.shared),
            parked: false,
        }
    }
}

/// A sleep in virtual time; its timer key once it has been polled while not yet due.
struct Sleep {
    shared: Rc<Shared>,
    deadline_nanos: u64,
    timer: Option<(u64, u64)>,
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let mut sched = this.shared.sched.borrow_mut();
        if sched.now_nanos >= this.deadline_nanos {
            if let Some(key) = this.timer.take() {
                sched.timers.remove(&key);
            }
            return Poll::Ready(());
        }
        let key = *this.timer.get_or_insert_with(|| {
            sched.timer_seq_next += 1;
            (this.deadline_nanos, sched.timer_seq_next)
        });
        // Stored on every poll: the task may poll it with another waker than before.
        sched.timers.insert(key, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.timer.take() {
            self.shared.sched.borrow_mut().timers.remove(&key);
        }
    }
}

/// Parks once, until the executor has nothing else ready (see executor.rs step 2).
struct YieldNow {
    shared: Rc<Shared>,
    parked: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.parked {
            return Poll::Ready(());
        }
        self.parked = true;
        self.shared
            .sched
            .borrow_mut()
            .yielded
            .push(cx.waker().clone());
        Poll::Pending
    }
}
