//! The spread of a list of durations: median and 90th percentile by nearest rank, so that each
//! figure is one of the measured values and names the item it comes from.

use serde::{Deserialize, Serialize};

/// Median and 90th percentile of a non-empty list of durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spread {
    pub median_seconds: i64,
    pub p90_seconds: i64,
    pub count: u64,
}

impl Spread {
    /// `None` for an empty list: no data is not 0.
    pub fn of(values: &[i64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        Some(Spread {
            median_seconds: nearest_rank(&sorted, 50),
            p90_seconds: nearest_rank(&sorted, 90),
            count: sorted.len() as u64,
        })
    }
}

/// The smallest value with at least `percent` % of the values at or below it.
fn nearest_rank(sorted: &[i64], percent: usize) -> i64 {
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}
