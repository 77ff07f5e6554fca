//! Probe latencies counted in fixed buckets, so that a percentile (the p95 a verification judges)
//! can be read from any window of stored minutes: buckets add up, percentiles do not.
//!
//! The estimate is Prometheus' `histogram_quantile`: the bucket holding the rank, interpolated
//! linearly inside it, and never above the largest latency measured.

/// The upper bounds of the buckets, in milliseconds; a last bucket holds everything above.
pub const LATENCY_BOUNDS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/// How many buckets a histogram has: one per bound and one above the last.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// Results counted per latency bucket. Results measured before buckets existed are in no
/// bucket: a percentile is read only from the results that are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencyBuckets(pub [u64; LATENCY_BUCKETS]);

impl LatencyBuckets {
    /// The bucket of a latency: the first whose bound holds it.
    pub fn index_of(latency_ms: u64) -> usize {
        LATENCY_BOUNDS_MS
            .iter()
            .position(|&bound| latency_ms <= bound)
            .unwrap_or(LATENCY_BOUNDS_MS.len())
    }

    pub fn record(&mut self, latency_ms: u64) {
        self.0[Self::index_of(latency_ms)] += 1;
    }

    pub fn add(&mut self, other: &LatencyBuckets) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }

    /// How many results the buckets hold.
    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// The latency below which a share `q` (in (0, 1]) of the bucketed results lie, at most
    /// `max_ms`; `None` when no result is bucketed.
    pub fn quantile(&self, q: f64, max_ms: u64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * count as f64).ceil().max(1.0);
        let mut below = 0u64;
        for (i, &n) in self.0.iter().enumerate() {
            if n == 0 || ((below + n) as f64) < rank {
                below += n;
                continue;
            }
            let low = if i == 0 { 0 } else { LATENCY_BOUNDS_MS[i - 1] };
            let Some(&high) = LATENCY_BOUNDS_MS.get(i) else {
                // Above the last bound only the largest latency measured is known.
                return Some(max_ms.max(low));
            };
            let within = (rank - below as f64) / n as f64;
            let estimate = low as f64 + (high - low) as f64 * within;
            return Some((estimate.round() as u64).min(max_ms.max(low)));
        }
        Some(max_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn of(latencies: &[u64]) -> LatencyBuckets {
        let mut b = LatencyBuckets::default();
        latencies.iter().for_each(|&l| b.record(l));
        b
    }

    #[test]
    fn a_latency_falls_in_the_first_bucket_that_holds_it() {
        assert_eq!(LatencyBuckets::index_of(0), 0);
        assert_eq!(LatencyBuckets::index_of(5), 0);
        assert_eq!(LatencyBuckets::index_of(6), 1);
        assert_eq!(LatencyBuckets::index_of(10_000), 10);
        assert_eq!(LatencyBuckets::index_of(u64::MAX), 11);
    }

    #[test]
    fn the_p95_of_a_slow_tail_is_in_the_tail() {
        // 94 fast results and 6 slow ones: the 95th is slow.
        let mut latencies = vec![20; 94];
        latencies.extend([800; 6]);
        let p95 = of(&latencies).quantile(0.95, 800).unwrap();
        assert!((500..=800).contains(&p95), "{p95}");
        // 96 fast ones: the 95th is fast.
        let mut latencies = vec![20; 96];
        latencies.extend([800; 4]);
        let p95 = of(&latencies).quantile(0.95, 800).unwrap();
        assert!((10..=25).contains(&p95), "{p95}");
    }

    #[test]
    fn a_percentile_never_exceeds_the_largest_latency_and_needs_data() {
        assert_eq!(of(&[3, 3, 3]).quantile(0.95, 3), Some(3));
        assert_eq!(of(&[60_000]).quantile(0.95, 60_000), Some(60_000));
        assert_eq!(LatencyBuckets::default().quantile(0.95, 0), None);
    }

    proptest! {
        /// The estimate lies in the bucket of the true percentile, and merging two halves
        /// gives the same histogram as counting them together.
        #[test]
        fn the_estimate_lies_in_the_true_percentiles_bucket(
            latencies in proptest::collection::vec(0u64..20_000, 1..300)
        ) {
            let max = *latencies.iter().max().unwrap();
            let all = of(&latencies);
            let mut sorted = latencies.clone();
            sorted.sort_unstable();
            let rank = ((0.95 * sorted.len() as f64).ceil() as usize).max(1);
            let truth = sorted[rank - 1];
            let estimate = all.quantile(0.95, max).unwrap();
            let bucket = LatencyBuckets::index_of(truth);
            let low = if bucket == 0 { 0 } else { LATENCY_BOUNDS_MS[bucket - 1] };
            let high = LATENCY_BOUNDS_MS.get(bucket).copied().unwrap_or(u64::MAX).min(max);
            prop_assert!(estimate >= low && estimate <= high, "{} not in [{}, {}] (truth {})", estimate, low, high, truth);
            let (a, b) = latencies.split_at(latencies.len() / 2);
            let mut merged = of(a);
            merged.add(&of(b));
            prop_assert_eq!(merged, all);
        }
    }
}
