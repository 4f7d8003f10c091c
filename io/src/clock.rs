//! Wall-clock time behind a trait, so logic never reads the system clock directly and a
//! simulation can step time (forwards or backwards) at will.
//!
//! Invariant: only `SystemClock` reads the real clock; everything else gets a `Clock`.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock time.
pub trait Clock {
    /// Nanoseconds since the Unix epoch. May step backwards (NTP, a bad RTC).
    fn now_unix_nanos(&self) -> u64;
}

/// The operating system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_nanos(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

/// A clock that only moves when told to; for tests and simulation.
#[derive(Debug, Default)]
pub struct SimClock {
    now_unix_nanos: Cell<u64>,
}

impl SimClock {
    pub fn new(now_unix_nanos: u64) -> Self {
        Self {
            now_unix_nanos: Cell::new(now_unix_nanos),
        }
    }

    /// Sets the time, backwards included.
    pub fn set(&self, now_unix_nanos: u64) {
        self.now_unix_nanos.set(now_unix_nanos);
    }
}

impl Clock for SimClock {
    fn now_unix_nanos(&self) -> u64 {
        self.now_unix_nanos.get()
    }
}

impl<C: Clock + ?Sized> Clock for std::rc::Rc<C> {
    fn now_unix_nanos(&self) -> u64 {
        (**self).now_unix_nanos()
    }
}
