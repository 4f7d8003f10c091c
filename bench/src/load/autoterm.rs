//! `--autoterm`: end the measured phase early once throughput has been stable.
//!
//! The progress loop feeds [`AutoTerm::observe`] the run's cumulative total (bytes,
//! or operations when the mode moves no object bytes) every tick. The run is stable
//! when the last `--autoterm.dur` of samples, cut into [`BLOCKS`] equal blocks, has
//! every block's rate within `--autoterm.pct` percent of the rate over the whole
//! window; the earliest the phase can end is thus one `--autoterm.dur` after it began.
//! Pure: time is passed in (seconds since the phase began), so it is unit-tested.

use std::collections::VecDeque;
use std::time::Duration;

/// Blocks the window is cut into.
pub const BLOCKS: usize = 5;
/// Samples kept at most (a tick of 100 ms over an hour-long window).
const SAMPLES_MAX: usize = 36_000;

/// The stability detector.
#[derive(Debug)]
pub struct AutoTerm {
    window_secs: f64,
    tolerance: f64,
    /// `(seconds, cumulative total)`, oldest first, spanning a little over the window.
    samples: VecDeque<(f64, f64)>,
}

impl AutoTerm {
    pub fn new(window: Duration, percent: f64) -> AutoTerm {
        assert!(!window.is_zero() && percent > 0.0);
        AutoTerm {
            window_secs: window.as_secs_f64(),
            tolerance: percent / 100.0,
            samples: VecDeque::new(),
        }
    }

    /// Records the cumulative `total` at `secs`; true once the run is stable.
    pub fn observe(&mut self, secs: f64, total: f64) -> bool {
        self.samples.push_back((secs, total));
        // Keep one sample at or before the window's start, to interpolate from.
        while self.samples.len() > 2 && self.samples[1].0 <= secs - self.window_secs {
            self.samples.pop_front();
        }
        if self.samples.len() > SAMPLES_MAX {
            self.samples.pop_front();
        }
        let start = secs - self.window_secs;
        if self.samples[0].0 > start {
            return false; // not a full window yet
        }
        let overall = (total - self.total_at(start)) / self.window_secs;
        if overall <= 0.0 {
            return false; // nothing moves: that is not a stable throughput
        }
        let block_secs = self.window_secs / BLOCKS as f64;
        (0..BLOCKS).all(|block| {
            let from = start + block_secs * block as f64;
            let rate = (self.total_at(from + block_secs) - self.total_at(from)) / block_secs;
            (rate - overall).abs() <= overall * self.tolerance
        })
    }

    /// The cumulative total at `secs`, interpolated between samples.
    fn total_at(&self, secs: f64) -> f64 {
        let after = self.samples.iter().position(|&(t, _)| t >= secs);
        match after {
            None => self.samples.back().map_or(0.0, |s| s.1),
            Some(0) => self.samples[0].1,
            Some(i) => {
                let (t0, v0) = self.samples[i - 1];
                let (t1, v1) = self.samples[i];
                v0 + (v1 - v0) * (secs - t0) / (t1 - t0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(auto: &mut AutoTerm, until_secs: f64, rate: impl Fn(f64) -> f64) -> Option<f64> {
        let (mut secs, mut total) = (0.0, 0.0);
        while secs < until_secs {
            secs += 0.1;
            total += rate(secs) * 0.1;
            if auto.observe(secs, total) {
                return Some(secs);
            }
        }
        None
    }

    /// A steady rate ends the run one window after it began, not before.
    #[test]
    fn steady_rate_ends_after_one_window() {
        let mut auto = AutoTerm::new(Duration::from_secs(10), 7.5);
        let ended = feed(&mut auto, 60.0, |_| 100.0).unwrap();
        assert!((10.0..10.3).contains(&ended), "{ended}");
    }

    /// A ramp keeps the run going until the rate has settled for a whole window.
    #[test]
    fn ramp_then_plateau_waits_for_the_plateau() {
        let mut auto = AutoTerm::new(Duration::from_secs(10), 7.5);
        let ended = feed(&mut auto, 60.0, |t| if t < 20.0 { 5.0 * t } else { 100.0 }).unwrap();
        assert!(ended > 20.0 && ended < 31.0, "{ended}");
    }

    /// Rates swinging beyond the tolerance never end the run; within it they do.
    #[test]
    fn oscillation_beyond_tolerance_never_ends() {
        let swing = |amplitude: f64| move |t: f64| 100.0 + amplitude * (t / 1.5).sin();
        let mut auto = AutoTerm::new(Duration::from_secs(10), 7.5);
        assert_eq!(feed(&mut auto, 120.0, swing(40.0)), None);
        let mut auto = AutoTerm::new(Duration::from_secs(10), 7.5);
        assert!(feed(&mut auto, 120.0, swing(3.0)).is_some());
        let mut idle = AutoTerm::new(Duration::from_secs(1), 7.5);
        assert_eq!(feed(&mut idle, 10.0, |_| 0.0), None);
    }
}
