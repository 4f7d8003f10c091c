//! `--rps-limit`: the total request rate across workers, capped without shared state.
//! Each worker owns a token bucket of depth one refilled at `rps / concurrent` tokens
//! per second, i.e. a schedule of slots `interval` apart: a request waits for the next
//! free slot, and a worker that fell behind (a slow request) does not bank tokens to
//! burst with later. Workers' first slots are staggered over one interval so they do
//! not all fire together. No lock and no atomic is touched: the sum of the per-worker
//! rates is the limit.

use std::time::{Duration, Instant};

/// One worker's schedule.
#[derive(Clone, Debug)]
pub struct Pacer {
    interval: Duration,
    next: Instant,
}

impl Pacer {
    /// The pacer of worker `index` of `workers` for a total of `rps_limit` requests per
    /// second, starting at `now`; `None` when there is no limit (`rps_limit` 0).
    pub fn new(rps_limit: f64, workers: usize, index: usize, now: Instant) -> Option<Pacer> {
        if rps_limit <= 0.0 {
            return None;
        }
        assert!(workers > 0 && index < workers);
        let interval = Duration::from_secs_f64(workers as f64 / rps_limit);
        let stagger = interval.mul_f64(index as f64 / workers as f64);
        Some(Pacer {
            interval,
            next: now + stagger,
        })
    }

    /// How long to wait at `now` before the next request; takes its slot.
    pub fn delay(&mut self, now: Instant) -> Duration {
        let slot = self.next.max(now);
        self.next = slot + self.interval;
        slot - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests are spaced by the interval; a late worker neither waits nor bursts.
    #[test]
    fn spaces_requests_without_banking() {
        let start = Instant::now();
        assert!(Pacer::new(0.0, 4, 0, start).is_none());
        // 100 rps over 4 workers: 25 rps each, one slot per 40 ms.
        let mut pacer = Pacer::new(100.0, 4, 0, start).unwrap();
        assert_eq!(pacer.delay(start), Duration::ZERO);
        assert_eq!(pacer.delay(start), Duration::from_millis(40));
        // Back from a 1 s request: go now, then 40 ms later, not a burst of 25.
        let late = start + Duration::from_secs(1);
        assert_eq!(pacer.delay(late), Duration::ZERO);
        assert_eq!(pacer.delay(late), Duration::from_millis(40));
        let staggered = Pacer::new(100.0, 4, 2, start).unwrap().delay(start);
        assert_eq!(staggered, Duration::from_millis(20));
    }

    /// Over a long run the workers together issue the limit, whatever their count.
    #[test]
    fn workers_sum_to_the_limit() {
        let start = Instant::now();
        let end = start + Duration::from_secs(10);
        let mut total = 0;
        for index in 0..7 {
            let mut pacer = Pacer::new(350.0, 7, index, start).unwrap();
            let mut now = start;
            loop {
                now += pacer.delay(now);
                if now >= end {
                    break;
                }
                total += 1;
            }
        }
        assert!((3495..=3505).contains(&total), "{total}");
    }
}
