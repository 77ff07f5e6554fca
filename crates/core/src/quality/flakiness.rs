//! Flakiness of one test over the last runs of its suite in an environment: how often its
//! outcome switched between passing and failing, and how often it passed only after a retry.
//! Skipped runs are left out: a skip says nothing about stability.

use super::TestStatus;

/// A test's outcome in one run, oldest run first in a history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    pub run_id: i64,
    pub status: TestStatus,
    /// It passed in the end after at least one failed attempt in that run.
    pub passed_after_retry: bool,
}

/// What a test's history says about its stability.
#[derive(Debug, Clone, PartialEq)]
pub struct Flakiness {
    /// Runs where the test passed or failed (skips left out).
    pub runs: u64,
    /// Passed↔failed changes between consecutive such runs.
    pub switches: u64,
    /// `switches / (runs − 1)`; 0 with fewer than two runs.
    pub switch_rate: f64,
    pub passed_after_retry: u64,
    /// The run where the last switch happened.
    pub last_switch_run: Option<i64>,
}

impl Flakiness {
    /// A judgement from counts already summed over a history (by the store, in one pass), with
    /// the same meaning as [`flakiness`] gives them.
    pub fn from_counts(
        runs: u64,
        switches: u64,
        passed_after_retry: u64,
        last_switch_run: Option<i64>,
    ) -> Flakiness {
        let switch_rate = if runs > 1 {
            switches as f64 / (runs - 1) as f64
        } else {
            0.0
        };
        Flakiness {
            runs,
            switches,
            switch_rate,
            passed_after_retry,
            last_switch_run,
        }
    }

    /// Flaky: its outcome switched at least once, or it needed a retry to pass.
    pub fn is_flaky(&self) -> bool {
        self.switches > 0 || self.passed_after_retry > 0
    }
}

/// Judge one test's history, oldest run first.
pub fn flakiness(history: &[RunOutcome]) -> Flakiness {
    let mut runs = 0u64;
    let mut switches = 0u64;
    let mut passed_after_retry = 0u64;
    let mut last_switch_run = None;
    let mut previous_failed: Option<bool> = None;
    for outcome in history.iter().filter(|o| o.status != TestStatus::Skipped) {
        runs += 1;
        passed_after_retry +=
            u64::from(outcome.passed_after_retry && outcome.status == TestStatus::Passed);
        let failed = outcome.status.is_failure();
        if previous_failed.is_some_and(|before| before != failed) {
            switches += 1;
            last_switch_run = Some(outcome.run_id);
        }
        previous_failed = Some(failed);
    }
    Flakiness::from_counts(runs, switches, passed_after_retry, last_switch_run)
}

/// The share of flaky tests among those judged, between 0 and 1 (0 when none were judged):
/// `judged` tests passed or failed in at least one run, `tests` holds at least every flaky one
/// of them (the store names only tests that switched or passed after a retry).
pub fn flaky_share(tests: &[Flakiness], judged: u64) -> f64 {
    if judged == 0 {
        return 0.0;
    }
    let flaky = tests.iter().filter(|t| t.runs > 0 && t.is_flaky()).count() as u64;
    flaky.min(judged) as f64 / judged as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    fn history(statuses: &[(TestStatus, bool)]) -> Vec<RunOutcome> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, (status, retried))| RunOutcome {
                run_id: i as i64 + 1,
                status: *status,
                passed_after_retry: *retried,
            })
            .collect()
    }

    #[test]
    fn switches_count_changes_between_passing_and_failing_and_skips_are_left_out() {
        let f = flakiness(&history(&[
            (Passed, false),
            (Failed, false),
            (Skipped, false),
            (Errored, false),
            (Passed, false),
        ]));
        assert_eq!((f.runs, f.switches, f.last_switch_run), (4, 2, Some(5)));
        assert!((f.switch_rate - 2.0 / 3.0).abs() < 1e-9);
        assert!(f.is_flaky());
    }

    #[test]
    fn a_test_that_always_passes_first_time_is_stable_and_one_that_needs_retries_is_flaky() {
        let stable = flakiness(&history(&[(Passed, false); 30]));
        assert!(!stable.is_flaky());
        assert_eq!((stable.switches, stable.switch_rate), (0, 0.0));
        let retried = flakiness(&history(&[
            (Passed, false),
            (Passed, true),
            (Passed, false),
        ]));
        assert_eq!((retried.switches, retried.passed_after_retry), (0, 1));
        assert!(retried.is_flaky());
        let always_broken = flakiness(&history(&[(Failed, false); 5]));
        assert!(
            !always_broken.is_flaky(),
            "a test that always fails is broken, not flaky"
        );
    }

    #[test]
    fn the_flaky_share_counts_judged_tests_only() {
        let tests = [
            flakiness(&history(&[(Passed, false), (Failed, false)])),
            flakiness(&history(&[(Passed, false), (Passed, false)])),
            flakiness(&history(&[(Skipped, false)])),
        ];
        assert_eq!(flaky_share(&tests, 2), 0.5);
        assert_eq!(
            flaky_share(&tests[..1], 4),
            0.25,
            "steady tests are counted, not listed"
        );
        assert_eq!(flaky_share(&[], 0), 0.0);
    }
}
