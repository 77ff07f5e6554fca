//! Folding what reports say into one run: repeated testcases of one test become its attempts,
//! and a run's totals count each test once, by its last attempt.

use std::collections::HashMap;

use super::{BoundedText, ReportedTest, TestKey, TestStatus};

/// Why an attempt the report shows as passed counts as failed: it was run again.
pub const RETRIED_WITHOUT_FAILURE: &str = "run again: the report gives no failure for this attempt, but a test is only retried after it failed (pytest-rerunfailures writes the retried attempt without one)";

/// An earlier occurrence of a test in the same report that passed was retried, so it failed:
/// pytest-rerunfailures writes it as a bare `<testcase/>` before the attempt that counts.
pub fn mark_retried(attempt: &mut super::Attempt) {
    if attempt.status == TestStatus::Passed {
        attempt.status = TestStatus::Failed;
        attempt.message.get_or_insert(BoundedText {
            text: RETRIED_WITHOUT_FAILURE.to_string(),
            truncated: false,
        });
    }
}

/// Collapse tests of one report that share a suite and an identity into one, in the order they
/// first appear, their attempts concatenated in report order (pytest-rerunfailures and Gradle
/// without `mergeReruns` repeat a testcase per attempt; the last one is the outcome, and an
/// earlier one shown as passed was retried, see [`mark_retried`]).
pub fn fold_repeated(tests: Vec<ReportedTest>) -> Vec<ReportedTest> {
    let mut folded: Vec<ReportedTest> = Vec::with_capacity(tests.len());
    let mut index: HashMap<(String, TestKey), usize> = HashMap::new();
    for test in tests {
        let identity = (test.suite.clone(), test.key());
        match index.get(&identity) {
            Some(&at) => {
                let kept = &mut folded[at];
                if let Some(last) = kept.attempts.last_mut() {
                    mark_retried(last);
                }
                kept.attempts.extend(test.attempts);
                if kept.file.is_none() {
                    kept.file = test.file;
                }
            }
            None => {
                index.insert(identity, folded.len());
                folded.push(test);
            }
        }
    }
    folded
}

/// How many tests a run holds, each counted once by its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RunTotals {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub skipped: u64,
    /// Tests that passed in the end after at least one failed or errored attempt.
    pub passed_after_retry: u64,
    /// Every attempt of every test.
    pub attempts: u64,
}

impl RunTotals {
    /// Count one test by its attempts' statuses, oldest first.
    pub fn add(&mut self, statuses: &[TestStatus]) {
        let Some(&last) = statuses.last() else {
            return;
        };
        self.tests += 1;
        self.attempts += statuses.len() as u64;
        match last {
            TestStatus::Passed => self.passed += 1,
            TestStatus::Failed => self.failed += 1,
            TestStatus::Errored => self.errored += 1,
            TestStatus::Skipped => self.skipped += 1,
        }
        if last == TestStatus::Passed && statuses.iter().any(|s| s.is_failure()) {
            self.passed_after_retry += 1;
        }
    }

    /// The totals of folded tests.
    pub fn of(tests: &[ReportedTest]) -> RunTotals {
        let mut totals = RunTotals::default();
        for test in tests {
            let statuses: Vec<TestStatus> = test.attempts.iter().map(|a| a.status).collect();
            totals.add(&statuses);
        }
        totals
    }

    /// Whether the run passed: no test ended failed or errored.
    pub fn passed(&self) -> bool {
        self.failed == 0 && self.errored == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::Attempt;

    fn test(suite: &str, name: &str, statuses: &[TestStatus]) -> ReportedTest {
        ReportedTest {
            suite: suite.into(),
            classname: Some("pkg.Case".into()),
            name: name.into(),
            explicit_id: None,
            parameters: None,
            file: None,
            attempts: statuses.iter().map(|s| Attempt::bare(*s)).collect(),
        }
    }

    use TestStatus::*;

    #[test]
    fn a_repeated_testcase_becomes_attempts_and_the_last_is_the_outcome() {
        let folded = fold_repeated(vec![
            test("s", "flaky", &[Failed]),
            test("s", "steady", &[Passed]),
            test("s", "flaky", &[Passed]),
        ]);
        assert_eq!(folded.len(), 2);
        assert_eq!(folded[0].name, "flaky");
        assert_eq!(folded[0].attempts.len(), 2);
        assert_eq!(folded[0].status(), Passed);
        let totals = RunTotals::of(&folded);
        assert_eq!(totals.tests, 2);
        assert_eq!(totals.passed, 2);
        assert_eq!(totals.passed_after_retry, 1);
        assert_eq!(totals.attempts, 3);
        assert!(totals.passed());
    }

    #[test]
    fn a_bare_repeated_testcase_before_the_last_was_a_failed_attempt() {
        let folded = fold_repeated(vec![
            test("s", "flaky", &[Passed]),
            test("s", "flaky", &[Passed]),
        ]);
        assert_eq!(
            folded[0]
                .attempts
                .iter()
                .map(|a| a.status)
                .collect::<Vec<_>>(),
            [Failed, Passed]
        );
        let message = folded[0].attempts[0]
            .message
            .as_ref()
            .expect("a message says why");
        assert!(message.text.contains("run again"));
        assert_eq!(RunTotals::of(&folded).passed_after_retry, 1);
    }

    #[test]
    fn the_same_test_in_two_suites_is_two_tests() {
        let folded = fold_repeated(vec![test("a", "t", &[Passed]), test("b", "t", &[Failed])]);
        assert_eq!(folded.len(), 2);
        let totals = RunTotals::of(&folded);
        assert_eq!((totals.passed, totals.failed), (1, 1));
        assert!(!totals.passed());
    }

    #[test]
    fn a_test_that_fails_again_on_rerun_counts_failed_not_passed_after_retry() {
        let folded = fold_repeated(vec![test("s", "t", &[Failed, Failed])]);
        let totals = RunTotals::of(&folded);
        assert_eq!((totals.failed, totals.passed_after_retry), (1, 0));
    }

    #[test]
    fn a_skip_after_an_error_is_a_skip() {
        let totals = RunTotals::of(&[test("s", "t", &[Errored, Skipped])]);
        assert_eq!(
            (totals.skipped, totals.errored, totals.passed_after_retry),
            (1, 0, 0)
        );
    }

    proptest::proptest! {
        #[test]
        fn folding_keeps_every_attempt_and_counts_each_identity_once(
            cases in proptest::collection::vec((0u8..4, 0u8..4), 0..40)
        ) {
            let statuses = [Passed, Failed, Errored, Skipped];
            let tests: Vec<ReportedTest> = cases
                .iter()
                .map(|(name, status)| test("s", &format!("t{name}"), &[statuses[*status as usize]]))
                .collect();
            let distinct: std::collections::HashSet<u8> = cases.iter().map(|c| c.0).collect();
            let folded = fold_repeated(tests);
            let totals = RunTotals::of(&folded);
            proptest::prop_assert_eq!(totals.tests as usize, distinct.len());
            proptest::prop_assert_eq!(totals.attempts as usize, cases.len());
            proptest::prop_assert_eq!(
                totals.passed + totals.failed + totals.errored + totals.skipped,
                totals.tests
            );
            for t in &folded {
                let last = cases.iter().rev().find(|c| format!("t{}", c.0) == t.name).map(|c| statuses[c.1 as usize]);
                proptest::prop_assert_eq!(Some(t.status()), last);
            }
        }
    }
}
