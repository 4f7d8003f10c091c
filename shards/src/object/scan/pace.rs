//! How fast the background scanner may go, and the pacer that holds it to that.
//!
//! `ScanPace` is the node's setting (one `Arc` shared by every shard, changed at run
//! time by `shoal admin config set scan-…`): a budget of objects per second and of
//! deep-scan bytes per second, each per scanning shard; how often a cycle is deep; and
//! the pause between cycles. Each shard's `Pacer` charges every object (and every deep
//! stripe's bytes) against it and sleeps when it is ahead of its budget, so over any
//! interval of T seconds a shard scans at most `(T + BURST) × objects_per_second + 1`
//! objects (the sleeps are at least `SLEEP_MIN` long: short gaps add up first, so the
//! budget is kept in batches without a timer per object). The account may fall up to
//! `BURST` behind the clock: the time an object's own reads took counts towards its
//! cost (else the rate would be the budget's less the I/O time), but an idle spell
//! gives at most `BURST` of credit. Before each object the pacer also
//! waits while the shard is busy (requests in flight), at most `BUSY_WAIT_MAX` in a
//! row, so a shard under steady load still scans one object per that time and nothing
//! is starved for ever.
//!
//! The same pacer holds the fill of a replaced drive (`object/fill/`) to its own
//! budget (`Budget`).
//!
//! Invariants: every sleep is cut into slices of at most `SLEEP_SLICE`, after each of
//! which the caller's stop is asked (a stopping shard never waits a whole budget
//! step); time is the store's `Env` (virtual in the simulation).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shoal_io::Env;

/// Objects one shard checks per second by default: a metadata check reads one small
/// record and checks one folder per member, so 50 per second cost each drive of a set
/// about 100 small reads a second at most, while the shard is idle.
pub const OBJECTS_PER_SECOND_DEFAULT: u64 = 50;
/// Bytes one shard reads per second in a deep cycle by default (16 MiB/s: a few
/// percent of one drive's sequential bandwidth).
pub const DEEP_BYTES_PER_SECOND_DEFAULT: u64 = 16 << 20;
/// How long after the last deep cycle finished the next cycle is deep again (7 days):
/// see ARCHITECTURE.md "Background scanner" for why.
pub const DEEP_EVERY_DEFAULT: Duration = Duration::from_hours(7 * 24);
/// Pause between two cycles by default.
pub const CYCLE_PAUSE_DEFAULT: Duration = Duration::from_mins(1);
/// `deep_every` value meaning "never deep".
const DEEP_OFF: u64 = u64::MAX;

/// Longest slice of any sleep: how quickly a stop is seen.
const SLEEP_SLICE: Duration = Duration::from_millis(100);
/// Shortest sleep the pacer takes (shorter debts are carried into the next object).
const SLEEP_MIN: Duration = Duration::from_millis(10);
/// How often a busy shard is looked at again.
const BUSY_POLL: Duration = Duration::from_millis(50);
/// Most credit the pacer keeps for time not spent at the budget (a scan's own I/O, a
/// pause): see the module doc.
pub const BURST: Duration = Duration::from_millis(250);
/// Longest the scanner waits for a busy shard before it checks one object anyway.
pub const BUSY_WAIT_MAX: Duration = Duration::from_secs(5);

/// The scanner's run-time settings, shared by every shard of a node.
#[derive(Clone, Debug)]
pub struct ScanPace(Arc<PaceCells>);

#[derive(Debug)]
struct PaceCells {
    objects_per_second: AtomicU64,
    deep_bytes_per_second: AtomicU64,
    /// Nanoseconds; `DEEP_OFF`: never.
    deep_every_nanos: AtomicU64,
    cycle_pause_nanos: AtomicU64,
}

impl Default for ScanPace {
    fn default() -> Self {
        Self::new(
            OBJECTS_PER_SECOND_DEFAULT,
            DEEP_BYTES_PER_SECOND_DEFAULT,
            Some(DEEP_EVERY_DEFAULT),
            CYCLE_PAUSE_DEFAULT,
        )
    }
}

impl ScanPace {
    /// `objects_per_second` 0 stops the scanner until it is raised again;
    /// `deep_every` `None` never scans deeply, `Some(0)` makes every cycle deep.
    pub fn new(
        objects_per_second: u64,
        deep_bytes_per_second: u64,
        deep_every: Option<Duration>,
        cycle_pause: Duration,
    ) -> Self {
        let pace = Self(Arc::new(PaceCells {
            objects_per_second: AtomicU64::new(0),
            deep_bytes_per_second: AtomicU64::new(0),
            deep_every_nanos: AtomicU64::new(DEEP_OFF),
            cycle_pause_nanos: AtomicU64::new(0),
        }));
        pace.set_objects_per_second(objects_per_second);
        pace.set_deep_bytes_per_second(deep_bytes_per_second);
        pace.set_deep_every(deep_every);
        pace.set_cycle_pause(cycle_pause);
        pace
    }

    pub fn objects_per_second(&self) -> u64 {
        self.0.objects_per_second.load(Ordering::Relaxed)
    }

    pub fn set_objects_per_second(&self, value: u64) {
        self.0.objects_per_second.store(value, Ordering::Relaxed);
    }

    pub fn deep_bytes_per_second(&self) -> u64 {
        self.0.deep_bytes_per_second.load(Ordering::Relaxed)
    }

    /// 0 is taken as 1 byte per second (a deep cycle must end some day).
    pub fn set_deep_bytes_per_second(&self, value: u64) {
        self.0
            .deep_bytes_per_second
            .store(value.max(1), Ordering::Relaxed);
    }

    pub fn deep_every(&self) -> Option<Duration> {
        match self.0.deep_every_nanos.load(Ordering::Relaxed) {
            DEEP_OFF => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    pub fn set_deep_every(&self, value: Option<Duration>) {
        let nanos = value.map_or(DEEP_OFF, |d| nanos_of(d).min(DEEP_OFF - 1));
        self.0.deep_every_nanos.store(nanos, Ordering::Relaxed);
    }

    pub fn cycle_pause(&self) -> Duration {
        Duration::from_nanos(self.0.cycle_pause_nanos.load(Ordering::Relaxed))
    }

    pub fn set_cycle_pause(&self, value: Duration) {
        self.0
            .cycle_pause_nanos
            .store(nanos_of(value), Ordering::Relaxed);
    }

    /// Whether a cycle starting at `now_unix_nanos` is deep, the last deep cycle having
    /// finished at `last_deep_unix_nanos` (0: never).
    pub fn cycle_is_deep(&self, now_unix_nanos: u64, last_deep_unix_nanos: u64) -> bool {
        let Some(every) = self.deep_every() else {
            return false;
        };
        last_deep_unix_nanos == 0
            || now_unix_nanos.saturating_sub(last_deep_unix_nanos) >= nanos_of(every)
    }
}

fn nanos_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A budget a `Pacer` holds its work to: the scanner's `ScanPace`, and the fill of a
/// replaced drive (`object/fill/`), which counts objects only.
pub trait Budget {
    /// Objects per second; 0 pauses the work until it is raised.
    fn objects_per_second(&self) -> u64;
    /// Bytes of reads per second (at least 1).
    fn bytes_per_second(&self) -> u64;
    /// Longest wait for a busy shard before one object is done anyway.
    fn busy_wait_max(&self) -> Duration {
        BUSY_WAIT_MAX
    }
}

impl Budget for ScanPace {
    fn objects_per_second(&self) -> u64 {
        ScanPace::objects_per_second(self)
    }

    fn bytes_per_second(&self) -> u64 {
        self.deep_bytes_per_second()
    }
}

/// What the scanner asks of the shard it runs on.
pub struct ScanHooks<'a> {
    /// Whether the shard is serving requests now (the scanner then waits).
    pub busy: &'a dyn Fn() -> bool,
    /// Whether the shard is stopping (the scanner saves its position and ends).
    pub stopping: &'a dyn Fn() -> bool,
}

/// One shard's account against its budget, in the `Env`'s monotonic time.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// When the work charged so far is paid for.
    due_nanos: u64,
}

impl Pacer {
    /// Before an object: waits while the shard is busy (at most `BUSY_WAIT_MAX`) and
    /// while the scanner is switched off. Returns false when the shard is stopping.
    pub(crate) async fn before_object<E: Env>(
        &mut self,
        env: &E,
        pace: &impl Budget,
        hooks: &ScanHooks<'_>,
    ) -> bool {
        let started = env.monotonic_nanos();
        let busy_max = nanos_of(pace.busy_wait_max());
        while (hooks.busy)() && env.monotonic_nanos() - started < busy_max {
            if !sleep_unless_stopping(env, BUSY_POLL, hooks).await {
                return false;
            }
        }
        while pace.objects_per_second() == 0 {
            if !sleep_unless_stopping(env, SLEEP_SLICE, hooks).await {
                return false;
            }
        }
        !(hooks.stopping)()
    }

    /// Charges `objects` and `bytes` of deep reads, then sleeps off the debt once it
    /// is at least `SLEEP_MIN`. Returns false when the shard is stopping.
    pub(crate) async fn charge<E: Env>(
        &mut self,
        env: &E,
        pace: &impl Budget,
        (objects, bytes): (u64, u64),
        hooks: &ScanHooks<'_>,
    ) -> bool {
        let per_object = 1_000_000_000 / pace.objects_per_second().max(1);
        let by_bytes =
            u128::from(bytes) * 1_000_000_000 / u128::from(pace.bytes_per_second().max(1));
        let cost = (objects * per_object).max(u64::try_from(by_bytes).unwrap_or(u64::MAX));
        let now = env.monotonic_nanos();
        self.due_nanos = (self.due_nanos)
            .max(now.saturating_sub(nanos_of(BURST)))
            .saturating_add(cost);
        let debt = Duration::from_nanos(self.due_nanos.saturating_sub(now));
        if debt < SLEEP_MIN {
            return !(hooks.stopping)();
        }
        sleep_unless_stopping(env, debt, hooks).await
    }
}

/// Sleeps `duration` in slices, asking `stopping` after each. False when stopping.
pub(crate) async fn sleep_unless_stopping<E: Env>(
    env: &E,
    duration: Duration,
    hooks: &ScanHooks<'_>,
) -> bool {
    let end = env.monotonic_nanos().saturating_add(nanos_of(duration));
    loop {
        if (hooks.stopping)() {
            return false;
        }
        let now = env.monotonic_nanos();
        if now >= end {
            return true;
        }
        env.sleep(Duration::from_nanos(end - now).min(SLEEP_SLICE))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deep cycles come when due: never with `None`, always with zero, and after the
    /// interval otherwise (and on the very first cycle).
    #[test]
    fn deep_cycles_follow_the_interval() {
        let day = 86_400_000_000_000;
        let pace = ScanPace::new(1, 1, Some(Duration::from_hours(24)), Duration::ZERO);
        assert!(pace.cycle_is_deep(5 * day, 0), "never deep yet");
        assert!(!pace.cycle_is_deep(5 * day, 5 * day - 1));
        assert!(pace.cycle_is_deep(6 * day, 5 * day));
        pace.set_deep_every(None);
        assert!(!pace.cycle_is_deep(6 * day, 0));
        pace.set_deep_every(Some(Duration::ZERO));
        assert!(pace.cycle_is_deep(6 * day, 6 * day));
        assert_eq!(pace.deep_every(), Some(Duration::ZERO));
    }

    /// Objects whose own checks take time (5 ms each, below the 10 ms budget step)
    /// are scanned at the budget, not at the budget less their I/O; an idle spell
    /// gives at most `BURST` of credit. In the simulation's virtual time.
    #[test]
    fn io_time_is_credited_and_the_burst_is_bounded() {
        let executor = shoal_io::SimExecutor::new(1);
        let env = executor.env();
        executor
            .run_until(async {
                let never = || false;
                let hooks = ScanHooks {
                    busy: &never,
                    stopping: &never,
                };
                let pace = ScanPace::new(100, 1, None, Duration::ZERO);
                let mut pacer = Pacer::default();
                let started = env.monotonic_nanos();
                for _ in 0..200 {
                    env.sleep(Duration::from_millis(5)).await;
                    assert!(pacer.charge(&env, &pace, (1, 0), &hooks).await);
                }
                let took = Duration::from_nanos(env.monotonic_nanos() - started);
                // 200 objects at 100/s: 2 s; forgiving the I/O would make it 3 s.
                assert!(took + BURST >= Duration::from_secs(2), "{took:?}");
                assert!(took <= Duration::from_millis(2050), "{took:?}");

                env.sleep(Duration::from_mins(1)).await;
                let idle_end = env.monotonic_nanos();
                for _ in 0..100 {
                    assert!(pacer.charge(&env, &pace, (1, 0), &hooks).await);
                }
                let waited = Duration::from_nanos(env.monotonic_nanos() - idle_end);
                assert!(waited + BURST >= Duration::from_secs(1), "{waited:?}");
            })
            .expect("the simulation ends");
    }
}
