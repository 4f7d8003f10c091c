//! The per-shard cap on memory held by object data in flight. A request that reads an
//! object (GET, copies) takes a grant for the stripe buffers it will hold before it
//! allocates them; a write (PUT, UploadPart) takes one grant per staging buffer as its
//! body arrives and gives it back when that buffer's stripe is written (`encode.rs` of
//! the shards crate). A client that stops reading its response holds its grant only
//! until its write times out, a slow body its buffer until the minimum body rate cuts
//! it; when many fill the budget, new grants wait a bounded time ([`GRANT_WAIT_MAX`])
//! and the request is refused (503 SlowDown at the HTTP edge), instead of the shard's
//! memory growing without bound. Background work (healing) takes its grants with
//! [`MemoryBudget::grant_background`]: it waits as long as it must, and only while no
//! request waits, so it never takes the bytes a request is waiting for.
//!
//! Invariants:
//! - `used_bytes` is the sum of the live grants; dropping a grant (also on unwind)
//!   gives its bytes back.
//! - `used_bytes` exceeds `max_bytes` only by one grant: a request larger than the
//!   whole budget still runs when it is alone, so no request is refused forever.
//! - Waiting reads time from the caller's `Env` (real or simulated), never the clock
//!   directly.
//!
//! This is the bounded part of the per-shard memory budget (DESIGN §8).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use crate::env::Env;

/// Longest wait of a request for its grant before it is refused.
pub const GRANT_WAIT_MAX: Duration = Duration::from_secs(2);
/// How often a waiting request looks again (grants come back as requests end).
const GRANT_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Default budget per shard.
pub const DEFAULT_MAX_BYTES: usize = 512 << 20;

/// One shard's budget; cloned handles share it.
#[derive(Clone)]
pub struct MemoryBudget {
    inner: Rc<Inner>,
}

struct Inner {
    max_bytes: usize,
    used_bytes: Cell<usize>,
    /// Requests in `grant` waiting for bytes now (`minio_s3_requests_waiting_total`).
    waiting: Cell<usize>,
}

/// Bytes of the budget held by one request; given back on drop.
pub struct MemoryGrant {
    inner: Rc<Inner>,
    bytes: usize,
}

impl MemoryBudget {
    pub fn new(max_bytes: usize) -> Self {
        assert!(max_bytes > 0, "a memory budget must allow something");
        Self {
            inner: Rc::new(Inner {
                max_bytes,
                used_bytes: Cell::new(0),
                waiting: Cell::new(0),
            }),
        }
    }

    /// A grant of `bytes` if it fits now (or nothing else holds any).
    pub fn try_grant(&self, bytes: usize) -> Option<MemoryGrant> {
        let inner = &self.inner;
        let used = inner.used_bytes.get();
        let fits = used == 0 || used.saturating_add(bytes) <= inner.max_bytes;
        fits.then(|| {
            inner.used_bytes.set(used + bytes);
            MemoryGrant {
                inner: inner.clone(),
                bytes,
            }
        })
    }

    /// A grant of `bytes`, waiting up to `wait_max` (on `env`'s clock) for others to
    /// give theirs back.
    pub async fn grant(
        &self,
        bytes: usize,
        wait_max: Duration,
        env: &impl Env,
    ) -> Option<MemoryGrant> {
        if let Some(grant) = self.try_grant(bytes) {
            return Some(grant);
        }
        let _waiting = Waiting::new(&self.inner.waiting);
        let wait_max_nanos = u64::try_from(wait_max.as_nanos()).unwrap_or(u64::MAX);
        let deadline_nanos = env.monotonic_nanos().saturating_add(wait_max_nanos);
        loop {
            if let Some(grant) = self.try_grant(bytes) {
                return Some(grant);
            }
            if env.monotonic_nanos() >= deadline_nanos {
                return None;
            }
            env.sleep(GRANT_POLL_INTERVAL).await;
        }
    }

    /// A grant of `bytes` for background work: waits, without a bound, until it fits
    /// (or nothing else holds any) while no request waits in [`grant`](Self::grant),
    /// so requests are served first. Not counted as a waiting request. The caller must
    /// hold no other grant of this budget (else two such callers could wait on each
    /// other for ever).
    pub async fn grant_background(&self, bytes: usize, env: &impl Env) -> MemoryGrant {
        loop {
            if self.inner.waiting.get() == 0
                && let Some(grant) = self.try_grant(bytes)
            {
                return grant;
            }
            env.sleep(GRANT_POLL_INTERVAL).await;
        }
    }

    pub fn used_bytes(&self) -> usize {
        self.inner.used_bytes.get()
    }

    pub fn max_bytes(&self) -> usize {
        self.inner.max_bytes
    }

    /// Requests waiting for a grant now.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.get()
    }
}

/// One request counted as waiting until dropped (granted, refused, or cancelled).
struct Waiting<'a> {
    count: &'a Cell<usize>,
}

impl<'a> Waiting<'a> {
    fn new(count: &'a Cell<usize>) -> Self {
        count.set(count.get() + 1);
        Self { count }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.set(self.count.get() - 1);
    }
}

impl Drop for MemoryGrant {
    fn drop(&mut self) {
        let used = &self.inner.used_bytes;
        used.set(used.get() - self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grants fit within the budget, one oversized grant runs alone, and dropping a
    /// grant gives its bytes back.
    #[test]
    fn grants_stay_within_the_budget() {
        let budget = MemoryBudget::new(10);
        let a = budget.try_grant(6).expect("fits");
        assert!(budget.try_grant(5).is_none());
        let b = budget.try_grant(4).expect("fits exactly");
        drop(a);
        assert_eq!(budget.used_bytes(), 4);
        drop(b);
        let alone = budget
            .try_grant(50)
            .expect("alone, an oversized grant runs");
        assert!(budget.try_grant(1).is_none());
        drop(alone);
        assert_eq!(budget.used_bytes(), 0);
    }

    /// A waiting request gets its grant when another gives one back, and gives up after
    /// its wait otherwise.
    #[test]
    fn waiting_is_bounded() {
        let mut runtime = crate::build_runtime(&crate::RuntimeConfig::default())
            .expect("runtime")
            .0;
        runtime.block_on(async {
            let budget = MemoryBudget::new(10);
            let held = budget.try_grant(10).expect("fits");
            let started = monoio::time::Instant::now();
            let env = crate::MonoioEnv;
            assert_eq!(budget.waiting(), 0);
            assert!(
                budget
                    .grant(1, Duration::from_millis(100), &env)
                    .await
                    .is_none()
            );
            assert_eq!(budget.waiting(), 0, "a refused request no longer waits");
            assert!(started.elapsed() >= Duration::from_millis(100));
            let watcher = budget.clone();
            monoio::spawn(async move {
                monoio::time::sleep(Duration::from_millis(30)).await;
                assert_eq!(watcher.waiting(), 1, "the request below waits");
                drop(held);
            });
            assert!(
                budget
                    .grant(10, Duration::from_secs(2), &env)
                    .await
                    .is_some()
            );
            assert_eq!(budget.waiting(), 0);
        });
    }

    /// Background work waits for its grant without a bound, lets a waiting request go
    /// first, and is not counted as a waiting request.
    #[test]
    fn background_grants_wait_behind_requests() {
        let mut runtime = crate::build_runtime(&crate::RuntimeConfig::default())
            .expect("runtime")
            .0;
        runtime.block_on(async {
            let env = crate::MonoioEnv;
            let budget = MemoryBudget::new(10);
            let held = budget.try_grant(10).expect("fits");
            let request = {
                let budget = budget.clone();
                monoio::spawn(async move {
                    let grant = budget.grant(10, Duration::from_secs(5), &crate::MonoioEnv);
                    let grant = grant.await.expect("the request is served first");
                    monoio::time::sleep(Duration::from_millis(50)).await;
                    drop(grant);
                })
            };
            let releaser = monoio::spawn(async move {
                monoio::time::sleep(Duration::from_millis(100)).await;
                drop(held);
            });
            monoio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(budget.waiting(), 1, "the request waits");
            let started = monoio::time::Instant::now();
            let grant = budget.grant_background(10, &env).await;
            assert!(
                started.elapsed() >= Duration::from_millis(100),
                "past the holder and the request that waited"
            );
            assert_eq!(budget.used_bytes(), 10);
            drop(grant);
            request.await;
            releaser.await;
            assert_eq!(budget.used_bytes(), 0);
        });
    }
}
