//! The environment a shard's logic runs in: wall-clock time, monotonic time, sleeping,
//! spawning and yielding, behind one trait, so everything above `io` can run either on
//! the real runtime (monoio on this thread) or inside a seeded simulation that decides
//! the order of every task and the passing of every nanosecond.
//!
//! Invariants:
//! - Logic above `io` never calls `monoio::spawn`, `monoio::time` or `std::time::Instant`
//!   directly: it takes an `Env`. Only `MonoioEnv` touches the real runtime.
//! - Spawned tasks are local to the shard (not `Send`); they run on the thread (or the
//!   simulated executor) that spawned them.
//! - Monotonic time never goes backwards; wall-clock time (`Clock`) may.

use std::future::Future;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};

/// Time, timers and tasks of one shard.
pub trait Env: Clock + Clone + 'static {
    /// Nanoseconds on a clock that never goes backwards (origin unspecified).
    fn monotonic_nanos(&self) -> u64;

    /// Completes after at least `duration` of monotonic time.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + 'static;

    /// Runs `task` concurrently on this shard; it is not awaited by the caller (results
    /// travel by channel). A task still pending when the shard stops is dropped.
    fn spawn<F: Future<Output = ()> + 'static>(&self, task: F);

    /// Lets every other ready task of this shard run once before continuing.
    fn yield_now(&self) -> impl Future<Output = ()> + 'static;
}

/// The real environment: monoio's timers and tasks on the current thread, the system
/// clock for wall-clock time.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonoioEnv;

impl Clock for MonoioEnv {
    fn now_unix_nanos(&self) -> u64 {
        SystemClock.now_unix_nanos()
    }
}

impl Env for MonoioEnv {
    fn monotonic_nanos(&self) -> u64 {
        // One process-wide origin, so values from different calls compare.
        static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let origin = *ORIGIN.get_or_init(std::time::Instant::now);
        u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + 'static {
        monoio::time::sleep(duration)
    }

    fn spawn<F: Future<Output = ()> + 'static>(&self, task: F) {
        drop(monoio::spawn(task));
    }

    fn yield_now(&self) -> impl Future<Output = ()> + 'static {
        // A zero sleep goes through the timer wheel and back to the scheduler: every
        // ready task runs first.
        monoio::time::sleep(Duration::ZERO)
    }
}

/// Runs `future` until it completes or `duration` passes in `env`'s time; `None` on
/// timeout (the future is dropped: only for futures that are safe to drop midway).
pub async fn timeout<E: Env, F: Future>(
    env: &E,
    duration: Duration,
    future: F,
) -> Option<F::Output> {
    use futures_util::future::{Either, select};
    let sleep = env.sleep(duration);
    match select(std::pin::pin!(future), std::pin::pin!(sleep)).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(((), _)) => None,
    }
}
