//! Random object sizes (`--obj.randsize`) and random byte ranges (`--range`).
//!
//! Sizes are log-uniform, like warp's: the base-2 logarithm of the size is drawn
//! uniformly between `log2(max) - 8` (at least 7, i.e. 128 bytes) and `log2(max)`, so
//! each doubling of size is as likely as any other across the top 8 doublings below
//! `max`. Objects then span 256× (1 KiB ... 256 KiB for `--obj.size 256KiB`), small
//! ones are frequent and large ones carry most bytes, as in real buckets. The mean is
//! about `max * (1 - 1/256) / (8 ln 2)`, i.e. 0.18 × max. Below 256 bytes of `max`
//! the draw is uniform in `1..=max`.
//!
//! A range of an object of `size` bytes has a length drawn the same way with `size` as
//! the maximum, and a start drawn uniformly among the offsets where it fits.

use rand::Rng;

/// log2 of the smallest size the log-uniform draw reaches.
const LOG2_MIN: f64 = 7.0;
/// How many doublings below `max` the draw spans.
const DOUBLINGS: f64 = 8.0;

/// A size in `1..=max` (see the file header).
pub fn random_size(rng: &mut impl Rng, max: usize) -> usize {
    assert!(max > 0, "sizes are at least one byte");
    if max < 256 {
        return rng.gen_range(1..=max);
    }
    let log_max = (max as f64).log2();
    let log_min = (log_max - DOUBLINGS).max(LOG2_MIN);
    let log_size = rng.gen_range(log_min..=log_max);
    #[allow(clippy::cast_sign_loss)] // 2^x is positive
    let size = log_size.exp2() as usize;
    size.clamp(1, max)
}

/// An inclusive byte range `(first, last)` of an object of `size` bytes.
pub fn random_range(rng: &mut impl Rng, size: usize) -> (usize, usize) {
    assert!(size > 0, "empty objects have no ranges");
    let len = random_size(rng, size);
    let first = rng.gen_range(0..=size - len);
    (first, first + len - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    /// Sizes stay in bounds, reach both ends of the span, and average about 0.18 × max.
    #[test]
    fn sizes_are_log_uniform_in_bounds() {
        let mut rng = SmallRng::seed_from_u64(1);
        let max = 10 << 20;
        let draws: Vec<usize> = (0..100_000).map(|_| random_size(&mut rng, max)).collect();
        assert!(draws.iter().all(|&s| (max >> 8..=max).contains(&s)));
        assert!(draws.iter().any(|&s| s < max >> 7));
        assert!(draws.iter().any(|&s| s > max - (max >> 4)));
        let mean = draws.iter().sum::<usize>() as f64 / draws.len() as f64;
        assert!((mean / max as f64 - 0.18).abs() < 0.01, "{mean}");
        // Each doubling holds about an eighth of the draws.
        let top = draws.iter().filter(|&&s| s > max / 2).count();
        assert!((top as f64 / draws.len() as f64 - 0.125).abs() < 0.01);
        for max in [1, 2, 100, 255, 256, 1000] {
            for _ in 0..1000 {
                assert!((1..=max).contains(&random_size(&mut rng, max)));
            }
        }
    }

    /// Ranges are non-empty and lie inside the object.
    #[test]
    fn ranges_fit_the_object() {
        let mut rng = SmallRng::seed_from_u64(2);
        for size in [1, 2, 300, 4096, 10 << 20] {
            for _ in 0..1000 {
                let (first, last) = random_range(&mut rng, size);
                assert!(first <= last && last < size, "{size}: {first}-{last}");
            }
        }
    }
}
