//! The per-shard cap on memory held by object data in flight: every request that reads
//! an object (GET, copies) takes a grant for the stripe buffers it will hold (a stripe,
//! its chunks and one aligned record buffer per drive) before it allocates them, and
//! gives it back when it ends. (A PUT's buffers become resident only as its body
//! arrives, and a slow body is cut by the minimum body rate.) A client that stops reading its response holds its grant only
//! until its write times out; many such clients fill the budget, and then new data
//! requests wait a bounded time ([`GRANT_WAIT_MAX`]) and are refused with 503
//! SlowDown, instead of the shard's memory growing without bound.
//!
//! Invariants:
//! - `used_bytes` is the sum of the live grants; dropping a grant (also on unwind)
//!   gives its bytes back.
//! - `used_bytes` exceeds `max_bytes` only by one grant: a request larger than the
//!   whole budget still runs when it is alone, so no request is refused forever.
//!
//! This is the bounded part of the per-shard memory budget (DESIGN §8); buffers are
//! not yet allocated from it.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

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

    /// A grant of `bytes`, waiting up to `wait_max` for others to give theirs back.
    pub async fn grant(&self, bytes: usize, wait_max: Duration) -> Option<MemoryGrant> {
        if let Some(grant) = self.try_grant(bytes) {
            return Some(grant);
        }
        let _waiting = Waiting::new(&self.inner.waiting);
        let deadline = monoio::time::Instant::now() + wait_max;
        loop {
            if let Some(grant) = self.try_grant(bytes) {
                return Some(grant);
            }
            if monoio::time::Instant::now() >= deadline {
                return None;
            }
            monoio::time::sleep(GRANT_POLL_INTERVAL).await;
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
        let mut runtime = shoal_io::build_runtime(&shoal_io::RuntimeConfig::default())
            .expect("runtime")
            .0;
        runtime.block_on(async {
            let budget = MemoryBudget::new(10);
            let held = budget.try_grant(10).expect("fits");
            let started = monoio::time::Instant::now();
            assert_eq!(budget.waiting(), 0);
            assert!(budget.grant(1, Duration::from_millis(100)).await.is_none());
            assert_eq!(budget.waiting(), 0, "a refused request no longer waits");
            assert!(started.elapsed() >= Duration::from_millis(100));
            let watcher = budget.clone();
            monoio::spawn(async move {
                monoio::time::sleep(Duration::from_millis(30)).await;
                assert_eq!(watcher.waiting(), 1, "the request below waits");
                drop(held);
            });
            assert!(budget.grant(10, Duration::from_secs(2)).await.is_some());
            assert_eq!(budget.waiting(), 0);
        });
    }
}
