//! How fast healing may move chunk data, and the per-shard account that holds every
//! heal of the shard to it, whoever called `Store::heal_object` (the drain task, `shoal
//! admin heal`, the fill of a replaced drive).
//!
//! `HealPace` is the node's setting (one `Arc` shared by every shard, changed at run
//! time by `shoal admin config set heal-bytes-per-second`): bytes per second per shard
//! of chunk records healing reads (to judge and to rebuild) and writes (rebuilt part
//! files); 0 is unlimited. Each shard's `HealAccount` is charged stripe by stripe and
//! owes the time the bytes cost at that rate (`due_nanos`, as the scanner's pacer).
//!
//! The account is a token bucket: it may fall up to `BURST` behind the clock, and that
//! credit pays for the next bytes. Healing's own I/O (and the work between objects)
//! happens while nothing is owed, so an account that restarted from "now" at every
//! charge (`due = max(due, now) + cost`) forgave that time and made each stripe take
//! its I/O time plus its cost: measured at 64 MiB/s set, about 30 MiB/s moved where
//! the same heal unlimited moved about 70 MiB/s. With the credit the delivered rate
//! is the rate set whenever the drives are faster than it (their speed when not).
//!
//! Where the debt is slept off: a heal holds the key's lock while it rebuilds, so under
//! the lock it sleeps at most `LOCKED_WAIT_MAX` in all per object (a writer of that key
//! waits at most that much longer); what it still owes is slept off after the locks
//! are released, before `heal_object` returns, and any heal of the shard that starts
//! meanwhile waits for it before taking its locks. So over any interval of T seconds
//! a shard's healing moves at most `(T + BURST) × rate` bytes plus one object's (and,
//! within one object, `LOCKED_WAIT_MAX × rate` plus the rest once paid).
//!
//! Invariants: sleeps are cut into slices of `SLEEP_SLICE`, after each of which the
//! setting is read again: a rate raised (or set to 0) while a heal waits shortens (or
//! ends) the wait at once. The credit never exceeds `BURST`, whatever the rate or how
//! long healing was idle. Time is the store's `Env` (virtual in the simulation).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shoal_io::Env;

/// Bytes one shard's healing moves per second by default (64 MiB/s: rebuilding one
/// lost chunk of a 4-drive set reads about 3 and writes 1, so roughly 10–16 MiB/s of
/// a lost drive rebuilt per shard, a small share of a drive's sequential bandwidth).
pub const BYTES_PER_SECOND_DEFAULT: u64 = 64 << 20;
/// Longest a heal sleeps in all, per object, while it holds the key's lock.
pub const LOCKED_WAIT_MAX: Duration = Duration::from_secs(1);
/// Most credit the account keeps (how far `due_nanos` may lag the clock): longer
/// than the gap between two charges of a heal (one stripe's reads and writes, or one
/// object's metadata work), so that time is credited, and short enough that the burst
/// after an idle spell (`BURST × rate`, 16 MiB at the default) is small.
pub const BURST: Duration = Duration::from_millis(250);
/// Shortest sleep taken (smaller debts are carried into the next stripe).
const SLEEP_MIN: Duration = Duration::from_millis(5);
/// Longest slice of any sleep: how soon a changed setting is seen.
const SLEEP_SLICE: Duration = Duration::from_millis(100);

/// Healing's byte rate, shared by every shard of a node.
#[derive(Clone, Debug)]
pub struct HealPace(Arc<AtomicU64>);

impl Default for HealPace {
    fn default() -> Self {
        Self::new(BYTES_PER_SECOND_DEFAULT)
    }
}

impl HealPace {
    /// `bytes_per_second` 0: unlimited.
    pub fn new(bytes_per_second: u64) -> Self {
        Self(Arc::new(AtomicU64::new(bytes_per_second)))
    }

    /// No limit (the default of a store opened without the node's setting).
    pub fn unlimited() -> Self {
        Self::new(0)
    }

    pub fn bytes_per_second(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set_bytes_per_second(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// One shard's healing account, in the `Env`'s monotonic time.
#[derive(Debug, Default)]
pub(crate) struct HealAccount {
    /// When the bytes charged so far are paid for; up to `BURST` in the past (credit).
    due_nanos: Cell<u64>,
    /// The rate the debt was charged at (a changed rate rescales what is owed).
    rate: Cell<u64>,
}

/// One object's share of the locked wait.
#[derive(Debug)]
pub(crate) struct ObjectPace {
    locked_left_nanos: Cell<u64>,
}

impl Default for ObjectPace {
    fn default() -> Self {
        Self {
            locked_left_nanos: Cell::new(nanos_of(LOCKED_WAIT_MAX)),
        }
    }
}

impl HealAccount {
    /// Charges `bytes` moved by a heal; under the key's lock (`object`), sleeps off
    /// the debt while the object's locked wait lasts.
    pub(crate) async fn charge<E: Env>(
        &self,
        env: &E,
        pace: &HealPace,
        bytes: u64,
        object: &ObjectPace,
    ) {
        let rate = pace.bytes_per_second();
        if rate == 0 || bytes == 0 {
            return;
        }
        let now = env.monotonic_nanos();
        self.rescale(now, rate);
        let cost = u128::from(bytes) * 1_000_000_000 / u128::from(rate);
        let cost = u64::try_from(cost).unwrap_or(u64::MAX);
        let paid_until = self
            .due_nanos
            .get()
            .max(now.saturating_sub(nanos_of(BURST)));
        self.due_nanos.set(paid_until.saturating_add(cost));
        let debt = self.due_nanos.get().saturating_sub(now);
        let left = object.locked_left_nanos.get();
        if debt < nanos_of(SLEEP_MIN) || left == 0 {
            return;
        }
        let slept = self.sleep_off(env, pace, Some(left)).await;
        object.locked_left_nanos.set(left.saturating_sub(slept));
    }

    /// Sleeps until everything charged is paid (no lock held).
    pub(crate) async fn settle<E: Env>(&self, env: &E, pace: &HealPace) {
        self.sleep_off(env, pace, None).await;
    }

    /// Sleeps until the debt is paid or `most_nanos` passed; the nanoseconds slept.
    async fn sleep_off<E: Env>(&self, env: &E, pace: &HealPace, most_nanos: Option<u64>) -> u64 {
        let started = env.monotonic_nanos();
        let end = most_nanos.map_or(u64::MAX, |m| started.saturating_add(m));
        loop {
            let now = env.monotonic_nanos();
            let rate = pace.bytes_per_second();
            if rate == 0 {
                self.due_nanos.set(0);
            } else {
                self.rescale(now, rate);
            }
            let until = self.due_nanos.get().min(end);
            if now >= until {
                return now - started;
            }
            env.sleep(Duration::from_nanos(until - now).min(SLEEP_SLICE))
                .await;
        }
    }

    /// What is still owed, at `rate` instead of the rate it was charged at.
    fn rescale(&self, now: u64, rate: u64) {
        let old = self.rate.replace(rate);
        let due = self.due_nanos.get();
        if old == 0 || old == rate || due <= now {
            return;
        }
        let owed = u128::from(due - now) * u128::from(old) / u128::from(rate);
        self.due_nanos
            .set(now.saturating_add(u64::try_from(owed).unwrap_or(u64::MAX)));
    }

    /// Nanoseconds owed now (tests).
    #[cfg(test)]
    fn owed_nanos(&self, now: u64) -> u64 {
        self.due_nanos.get().saturating_sub(now)
    }
}

fn nanos_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: std::future::Future>(future: F) -> F::Output {
        let (mut runtime, _) =
            shoal_io::build_runtime(&shoal_io::RuntimeConfig::default()).expect("runtime");
        runtime.block_on(future)
    }

    /// Under the lock an object sleeps at most `LOCKED_WAIT_MAX`; the rest is owed and
    /// paid by `settle`; at rate 0 nothing is owed.
    #[test]
    fn the_locked_wait_is_bounded_and_the_rest_is_owed() {
        run(async {
            let env = shoal_io::MonoioEnv;
            let pace = HealPace::new(1 << 20);
            let account = HealAccount::default();
            let object = ObjectPace::default();
            let started = std::time::Instant::now();
            // 3 MiB at 1 MiB/s: 3 s owed, at most 1 s of it slept under the lock.
            account.charge(&env, &pace, 3 << 20, &object).await;
            let locked = started.elapsed();
            assert!(locked >= Duration::from_millis(950), "{locked:?}");
            assert!(locked < Duration::from_millis(1500), "{locked:?}");
            let owed = account.owed_nanos(env.monotonic_nanos());
            assert!(owed > 1_500_000_000, "{owed}");
            // A raised rate shortens what is owed (2 s at 1 MiB/s: 0.5 s at 4 MiB/s).
            pace.set_bytes_per_second(4 << 20);
            let settling = std::time::Instant::now();
            account.settle(&env, &pace).await;
            let settled = settling.elapsed();
            assert!(settled >= Duration::from_millis(350), "{settled:?}");
            assert!(settled < Duration::from_millis(1200), "{settled:?}");
            // The object's locked wait is spent: a charge sleeps no more, and 0
            // forgives what is owed.
            account.charge(&env, &pace, 8 << 20, &object).await;
            assert!(account.owed_nanos(env.monotonic_nanos()) > 1_500_000_000);
            pace.set_bytes_per_second(0);
            let settling = std::time::Instant::now();
            account.settle(&env, &pace).await;
            assert!(settling.elapsed() < Duration::from_millis(50));
            assert_eq!(account.owed_nanos(env.monotonic_nanos()), 0);
        });
    }

    /// With the heal's own I/O taking time between charges (drives faster than the
    /// rate), N bytes at R take about N/R, not N/R plus the I/O time; and the credit
    /// after an idle spell is at most `BURST`. In the simulation's virtual time.
    #[test]
    fn io_time_is_credited_and_the_burst_is_bounded() {
        let executor = shoal_io::SimExecutor::new(1);
        let env = executor.env();
        executor
            .run_until(async {
                let rate = 64 << 20;
                let pace = HealPace::new(rate);
                let account = HealAccount::default();
                // 100 objects of two 2 MiB stripes, each stripe's I/O 10 ms (a drive
                // at 200 MiB/s): 400 MiB at 64 MiB/s is 6.25 s; forgiving the I/O
                // time would make it 8.25 s.
                let started = env.monotonic_nanos();
                for _ in 0..100 {
                    let object = ObjectPace::default();
                    account.settle(&env, &pace).await;
                    for _ in 0..2 {
                        env.sleep(Duration::from_millis(10)).await;
                        account.charge(&env, &pace, 2 << 20, &object).await;
                    }
                    account.settle(&env, &pace).await;
                }
                let took = Duration::from_nanos(env.monotonic_nanos() - started);
                let ideal = Duration::from_secs_f64(400.0 / 64.0);
                assert!(took + BURST >= ideal, "{took:?}");
                assert!(
                    took < ideal + ideal / 50,
                    "{took:?}, at most {ideal:?} + 2%"
                );

                // After a long idle spell, only `BURST` of credit: 64 MiB at once
                // still waits 1 s less the burst.
                env.sleep(Duration::from_mins(1)).await;
                let object = ObjectPace::default();
                let idle_end = env.monotonic_nanos();
                account.charge(&env, &pace, 64 << 20, &object).await;
                account.settle(&env, &pace).await;
                let waited = Duration::from_nanos(env.monotonic_nanos() - idle_end);
                assert_eq!(waited + BURST, Duration::from_secs(1));
            })
            .expect("the simulation ends");
    }
}
