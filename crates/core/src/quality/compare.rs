//! A run judged against the previous run of the same suite in the same environment: which
//! failures are new, which were fixed, which still fail.

use std::collections::HashMap;

use super::{TestKey, TestStatus};

/// A test's outcome in a run, as a comparison needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    pub suite: String,
    pub key: TestKey,
    pub name: String,
    pub status: TestStatus,
}

/// What changed between two runs; each list is sorted by suite, then identity.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunComparison {
    /// Failing now, and passing, skipped or absent before.
    pub new_failures: Vec<TestOutcome>,
    /// Failing before, not failing now.
    pub fixed: Vec<TestOutcome>,
    /// Failing in both runs.
    pub still_failing: Vec<TestOutcome>,
    /// In this run only.
    pub added: u64,
    /// In the previous run only.
    pub removed: u64,
}

/// Compare `current` with `previous`; tests match by suite and identity.
pub fn compare_runs(previous: &[TestOutcome], current: &[TestOutcome]) -> RunComparison {
    let before: HashMap<(&str, &TestKey), &TestOutcome> = previous
        .iter()
        .map(|t| ((t.suite.as_str(), &t.key), t))
        .collect();
    let mut comparison = RunComparison::default();
    let mut matched = 0u64;
    for test in current {
        let was = before.get(&(test.suite.as_str(), &test.key));
        if was.is_some() {
            matched += 1;
        } else {
            comparison.added += 1;
        }
        let failed_before = was.is_some_and(|w| w.status.is_failure());
        match (failed_before, test.status.is_failure()) {
            (false, true) => comparison.new_failures.push(test.clone()),
            (true, true) => comparison.still_failing.push(test.clone()),
            (true, false) => comparison.fixed.push(test.clone()),
            (false, false) => {}
        }
    }
    comparison.removed = previous.len() as u64 - matched.min(previous.len() as u64);
    for list in [
        &mut comparison.new_failures,
        &mut comparison.fixed,
        &mut comparison.still_failing,
    ] {
        list.sort_by(|a, b| (&a.suite, &a.key).cmp(&(&b.suite, &b.key)));
    }
    comparison
}

#[cfg(test)]
mod tests {
    use super::*;
    use TestStatus::*;

    fn outcome(name: &str, status: TestStatus) -> TestOutcome {
        TestOutcome {
            suite: "s".into(),
            key: TestKey::new(None, Some("C"), name, None),
            name: name.into(),
            status,
        }
    }

    fn names(list: &[TestOutcome]) -> Vec<&str> {
        list.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn failures_are_sorted_into_new_fixed_and_still_failing() {
        let previous = [
            outcome("was_green", Passed),
            outcome("was_red", Failed),
            outcome("stays_red", Errored),
            outcome("gone", Failed),
            outcome("was_skipped", Skipped),
        ];
        let current = [
            outcome("was_green", Failed),
            outcome("was_red", Passed),
            outcome("stays_red", Failed),
            outcome("brand_new", Errored),
            outcome("was_skipped", Failed),
        ];
        let c = compare_runs(&previous, &current);
        assert_eq!(
            names(&c.new_failures),
            ["brand_new", "was_green", "was_skipped"]
        );
        assert_eq!(names(&c.fixed), ["was_red"]);
        assert_eq!(names(&c.still_failing), ["stays_red"]);
        assert_eq!((c.added, c.removed), (1, 1));
    }

    #[test]
    fn a_first_run_reports_every_failure_as_new() {
        let c = compare_runs(&[], &[outcome("a", Failed), outcome("b", Passed)]);
        assert_eq!(names(&c.new_failures), ["a"]);
        assert!(c.fixed.is_empty() && c.still_failing.is_empty());
        assert_eq!((c.added, c.removed), (2, 0));
    }

    #[test]
    fn a_fixed_test_that_is_now_skipped_counts_as_fixed() {
        let c = compare_runs(&[outcome("a", Failed)], &[outcome("a", Skipped)]);
        assert_eq!(names(&c.fixed), ["a"]);
    }
}
