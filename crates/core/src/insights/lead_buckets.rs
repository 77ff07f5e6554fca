//! Lead times pre-counted in log-spaced buckets, so that the spread of two years of commits is
//! read from a few thousand counts instead of a million values (issue 14's budget).
//!
//! A bucket holds the whole seconds `[lower, next lower)`; each lower bound is about
//! [`GROWTH`] times the one before, and the bounds of [`LEAD_TIME_RANGES`] are bounds too, so
//! the counts per range stay exact. A percentile read from the counts is the bucket's
//! representative value, within [`RELATIVE_ERROR`] of the exact nearest-rank value plus
//! [`ABSOLUTE_ERROR_SECONDS`] (rounding to whole seconds). It never reads a store or a clock.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::stats::Spread;

/// Each bucket's upper end is below `GROWTH` times its lower end.
const GROWTH: f64 = 1.092;

/// The bound on a figure read from the counts, relative to the exact value:
/// (GROWTH − 1) / (GROWTH + 1) < 4.4 %.
pub const RELATIVE_ERROR: f64 = 0.044;

/// The bound added to [`RELATIVE_ERROR`]: the representative is rounded to whole seconds.
pub const ABSOLUTE_ERROR_SECONDS: f64 = 0.5;

/// The ranges the lead times of a period are counted in, each up to (not including) its bound in
/// seconds; the last one is open.
pub const LEAD_TIME_RANGES: [(&str, i64); 5] = [
    ("under 1 hour", 3_600),
    ("1 hour to 1 day", 86_400),
    ("1 day to 1 week", 7 * 86_400),
    ("1 week to 30 days", 30 * 86_400),
    ("over 30 days", i64::MAX),
];

/// The index in [`LEAD_TIME_RANGES`] of a lead time.
pub fn range_of(seconds: i64) -> usize {
    LEAD_TIME_RANGES
        .iter()
        .position(|(_, bound)| seconds < *bound)
        .unwrap_or(LEAD_TIME_RANGES.len() - 1)
}

/// How far a figure read from the counts may be from the exact one, stated with the answer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ErrorBound {
    /// A fraction of the exact value (0.044 is 4.4 %).
    pub relative: f64,
    pub absolute_seconds: f64,
}

/// The bound of every lead time figure.
pub const LEAD_TIME_ERROR: ErrorBound = ErrorBound {
    relative: RELATIVE_ERROR,
    absolute_seconds: ABSOLUTE_ERROR_SECONDS,
};

/// The lower bound of every bucket, from 0, increasing; the last bucket runs to `i64::MAX`.
fn lower_bounds() -> &'static [i64] {
    static BOUNDS: OnceLock<Vec<i64>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut bounds = vec![0i64, 1];
        loop {
            let last = *bounds.last().expect("starts with two bounds");
            let grown = (last as f64 * GROWTH).ceil();
            if grown >= i64::MAX as f64 {
                break;
            }
            bounds.push((grown as i64).max(last + 1));
        }
        // The ranges' bounds split the buckets they fall in: counts per range stay exact and
        // narrower buckets keep the error bound.
        bounds.extend(
            LEAD_TIME_RANGES
                .iter()
                .map(|(_, b)| *b)
                .filter(|b| *b < i64::MAX),
        );
        bounds.sort_unstable();
        bounds.dedup();
        bounds
    })
}

/// How many buckets there are.
pub fn bucket_count() -> usize {
    lower_bounds().len()
}

/// The bucket of a lead time in whole seconds (a negative one counts as 0, as a wrong clock
/// does in the definition).
pub fn bucket_of(seconds: i64) -> u16 {
    let bounds = lower_bounds();
    let index = bounds.partition_point(|b| *b <= seconds.max(0)) - 1;
    u16::try_from(index).expect("fewer than 65 536 buckets")
}

/// The value a bucket stands for: the one that minimises the largest relative error over its
/// whole seconds (their harmonic middle), rounded.
pub fn representative(bucket: u16) -> i64 {
    let bounds = lower_bounds();
    let i = usize::from(bucket).min(bounds.len() - 1);
    let low = bounds[i];
    let high = bounds.get(i + 1).map_or(i64::MAX, |next| next - 1);
    if low == high {
        return low;
    }
    let (low, high) = (low as f64, high as f64);
    (2.0 * low * high / (low + high)).round() as i64
}

/// Lead times counted per bucket; what the store reads for a period and what core merges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadHistogram {
    counts: BTreeMap<u16, u64>,
}

impl LeadHistogram {
    /// Count `commits` more lead times in `bucket` (a bucket out of range counts in the last).
    pub fn add(&mut self, bucket: u16, commits: u64) {
        if commits == 0 {
            return;
        }
        let bucket = bucket.min(u16::try_from(bucket_count() - 1).expect("few buckets"));
        *self.counts.entry(bucket).or_default() += commits;
    }

    /// Count one lead time.
    pub fn add_seconds(&mut self, seconds: i64) {
        self.add(bucket_of(seconds), 1);
    }

    pub fn merge(&mut self, other: &LeadHistogram) {
        for (bucket, commits) in &other.counts {
            self.add(*bucket, *commits);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// The nearest-rank `percent` percentile, within [`LEAD_TIME_ERROR`] of the exact one;
    /// `None` when nothing is counted.
    pub fn percentile(&self, percent: u64) -> Option<i64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (percent * total).div_ceil(100).max(1);
        let mut seen = 0;
        for (bucket, commits) in &self.counts {
            seen += commits;
            if seen >= rank {
                return Some(representative(*bucket));
            }
        }
        None
    }

    /// Median and 90th percentile (within the bound) and the exact count.
    pub fn spread(&self) -> Option<Spread> {
        Some(Spread {
            median_seconds: self.percentile(50)?,
            p90_seconds: self.percentile(90)?,
            count: self.total(),
        })
    }

    /// The counts per range of [`LEAD_TIME_RANGES`], exact: the ranges' bounds are buckets'.
    pub fn ranges(&self) -> [u64; 5] {
        let mut ranges = [0u64; 5];
        for (bucket, commits) in &self.counts {
            let lower = lower_bounds()[usize::from(*bucket)];
            ranges[range_of(lower)] += commits;
        }
        ranges
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn within_bound(estimate: i64, exact: i64) -> bool {
        (estimate - exact).abs() as f64 <= RELATIVE_ERROR * exact as f64 + ABSOLUTE_ERROR_SECONDS
    }

    #[test]
    fn small_lead_times_have_a_bucket_each_and_are_exact() {
        for seconds in 0..12 {
            assert_eq!(representative(bucket_of(seconds)), seconds);
        }
        assert_eq!(bucket_of(-5), 0, "a wrong clock counts as 0");
    }

    #[test]
    fn the_ranges_bounds_start_buckets() {
        for (_, bound) in LEAD_TIME_RANGES.iter().filter(|(_, b)| *b < i64::MAX) {
            assert_ne!(bucket_of(*bound), bucket_of(*bound - 1), "{bound}");
        }
    }

    #[test]
    fn the_buckets_cover_every_lead_time_with_a_few_hundred_counts() {
        assert!(bucket_count() < 600, "{}", bucket_count());
        assert!(within_bound(representative(bucket_of(i64::MAX)), i64::MAX));
    }

    #[test]
    fn no_lead_time_counted_has_no_spread() {
        assert_eq!(LeadHistogram::default().spread(), None);
    }

    proptest! {
        #[test]
        fn a_bucket_stands_for_its_values_within_the_bound(seconds in 0i64..1_000_000_000_000) {
            let estimate = representative(bucket_of(seconds));
            prop_assert!(within_bound(estimate, seconds), "{seconds} read as {estimate}");
        }

        #[test]
        fn percentiles_from_the_counts_are_within_the_bound_of_the_exact_ones(
            values in proptest::collection::vec(0i64..100_000_000, 1..300),
            split in 0usize..300,
        ) {
            // Counted in two parts (two days, two projects) and merged, as the store reads them.
            let split = split.min(values.len());
            let mut first = LeadHistogram::default();
            let mut second = LeadHistogram::default();
            values[..split].iter().for_each(|v| first.add_seconds(*v));
            values[split..].iter().for_each(|v| second.add_seconds(*v));
            first.merge(&second);
            let exact = Spread::of(&values).expect("non-empty");
            let read = first.spread().expect("non-empty");
            prop_assert_eq!(read.count, exact.count);
            prop_assert!(within_bound(read.median_seconds, exact.median_seconds), "{read:?} {exact:?}");
            prop_assert!(within_bound(read.p90_seconds, exact.p90_seconds), "{read:?} {exact:?}");
            let mut ranges = [0u64; 5];
            values.iter().for_each(|v| ranges[range_of(*v)] += 1);
            prop_assert_eq!(first.ranges(), ranges);
        }
    }
}
