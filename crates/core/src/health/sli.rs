//! Service level indicators: probe results folded into one tally per minute, and the tally of
//! any window of minutes. Thirty days of 10-second results are 43 200 minutes per probe.

use jiff::Timestamp;

use super::Tally;

/// One probe result as an agent reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    pub at: Timestamp,
    pub ok: bool,
    pub latency_ms: u64,
    /// Why it failed, e.g. `connection refused`, `status 503, expected 200`.
    pub error: Option<String>,
}

/// The results of one probe within one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteBucket {
    /// The minute's first second.
    pub minute: Timestamp,
    pub tally: Tally,
    /// The reason of the minute's last failure.
    pub last_error: Option<String>,
}

impl MinuteBucket {
    pub fn empty(minute: Timestamp) -> MinuteBucket {
        MinuteBucket {
            minute: minute_of(minute),
            tally: Tally::default(),
            last_error: None,
        }
    }

    /// Count one result into the minute.
    pub fn record(&mut self, result: &ProbeResult) {
        self.tally.record(result.ok, result.latency_ms);
        if !result.ok {
            if let Some(e) = &result.error {
                self.last_error = Some(e.clone());
            }
        }
    }

    /// Merge another tally of the same minute (a later batch of the same probe).
    pub fn merge(&mut self, other: &MinuteBucket) {
        self.tally.add(&other.tally);
        if other.last_error.is_some() {
            self.last_error.clone_from(&other.last_error);
        }
    }
}

/// The first second of the minute holding `at`.
pub fn minute_of(at: Timestamp) -> Timestamp {
    let second = at.as_second().div_euclid(60) * 60;
    Timestamp::from_second(second).expect("a minute start lies within the range of its instant")
}

/// Results folded per minute, oldest minute first; the order of `results` does not matter.
pub fn fold_results(results: &[ProbeResult]) -> Vec<MinuteBucket> {
    let mut by_minute: std::collections::BTreeMap<Timestamp, MinuteBucket> = Default::default();
    for r in results {
        let minute = minute_of(r.at);
        by_minute
            .entry(minute)
            .or_insert_with(|| MinuteBucket::empty(minute))
            .record(r);
    }
    by_minute.into_values().collect()
}

/// The tally of the minutes starting in `[from, to)`.
pub fn tally_between(buckets: &[MinuteBucket], from: Timestamp, to: Timestamp) -> Tally {
    let mut tally = Tally::default();
    for b in buckets.iter().filter(|b| b.minute >= from && b.minute < to) {
        tally.add(&b.tally);
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    fn result(second: i64, ok: bool, latency_ms: u64) -> ProbeResult {
        ProbeResult {
            at: at(second),
            ok,
            latency_ms,
            error: (!ok).then(|| format!("failed at {second}")),
        }
    }

    #[test]
    fn results_fold_into_their_minute_with_the_last_error() {
        let buckets = fold_results(&[
            result(60, true, 10),
            result(119, false, 30),
            result(70, false, 20),
            result(120, true, 5),
        ]);
        assert_eq!(buckets.len(), 2);
        assert_eq!(buckets[0].minute, at(60));
        assert_eq!(buckets[0].tally.total, 3);
        assert_eq!(buckets[0].tally.failures, 2);
        assert_eq!(buckets[0].tally.latency_sum_ms, 60);
        assert_eq!(buckets[0].tally.latency_max_ms, 30);
        assert_eq!(buckets[0].last_error.as_deref(), Some("failed at 70"));
        assert_eq!(buckets[1].tally.failures, 0);
    }

    #[test]
    fn a_minute_before_the_epoch_starts_before_it() {
        assert_eq!(minute_of(at(-1)), at(-60));
        assert_eq!(minute_of(at(-60)), at(-60));
    }

    #[test]
    fn a_window_counts_the_minutes_starting_inside_it() {
        let buckets = fold_results(&[
            result(0, true, 1),
            result(60, false, 1),
            result(120, true, 1),
        ]);
        let t = tally_between(&buckets, at(60), at(120));
        assert_eq!((t.total, t.failures), (1, 1));
        assert_eq!(
            tally_between(&buckets, at(600), at(700)).availability(),
            super::super::Availability::NoData
        );
    }

    proptest! {
        /// Folding loses no result and no failure, whatever the order, and merging two halves
        /// of a minute is the same as folding them together.
        #[test]
        fn folding_keeps_every_result(
            raw in proptest::collection::vec((0i64..600, any::<bool>(), 0u64..5000), 0..200)
        ) {
            let results: Vec<_> = raw.iter().map(|&(s, ok, l)| result(s, ok, l)).collect();
            let buckets = fold_results(&results);
            let whole = tally_between(&buckets, at(0), at(600));
            prop_assert_eq!(whole.total, results.len() as u64);
            prop_assert_eq!(whole.failures, results.iter().filter(|r| !r.ok).count() as u64);
            prop_assert!(buckets.windows(2).all(|w| w[0].minute < w[1].minute));
            let (a, b) = results.split_at(results.len() / 2);
            let mut merged = fold_results(a);
            for extra in fold_results(b) {
                match merged.iter_mut().find(|m| m.minute == extra.minute) {
                    Some(m) => m.merge(&extra),
                    None => merged.push(extra),
                }
            }
            let again = tally_between(&merged, at(0), at(600));
            prop_assert_eq!(again, whole);
        }
    }
}
