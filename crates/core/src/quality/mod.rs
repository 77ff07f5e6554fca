//! Quality evidence, pure: what a test report says about a release, merged into one run per
//! release, environment and suite, and judged against the previous run.
//!
//! It never reads a report (that is `slipway-ingest`) nor stores one (that is `store::quality`):
//! plain data in, decisions out.
//!
//! Architecture invariant: a test's status is the status of its last attempt; every attempt is kept.
//! Architecture invariant: a test's identity is its explicit id property, else classname + name + parameters, within its suite.

pub mod battery;
mod compare;
mod coverage;
mod findings;
mod flakiness;
mod merge;
mod quality_gate;

pub use compare::{compare_runs, RunComparison, TestOutcome};
pub use coverage::{rate_change, CoverageCounts, CoverageKind, CoverageReport};
pub use findings::{
    is_overdue, may_approve_risk, merge_findings, package_identity, package_key, reconcile,
    FindingChange, FindingState, KnownFinding, OverdueBounds, RemediationPolicy, RiskRefusal,
    ScannedFinding, Severity,
};
pub use flakiness::{flakiness, flaky_share, Flakiness, RunOutcome};
pub use merge::{fold_repeated, mark_retried, RunTotals, RETRIED_WITHOUT_FAILURE};
pub use quality_gate::{verify_sonar_signature, QualityGateStatus};

use crate::state_name::state_names;

/// How one attempt of a test ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TestStatus {
    Passed,
    /// An assertion failed (`<failure>`).
    Failed,
    /// The test could not run to its assertions (`<error>`).
    Errored,
    Skipped,
}

state_names!(TestStatus, "test status", {
    Passed => "passed",
    Failed => "failed",
    Errored => "errored",
    Skipped => "skipped",
});

impl TestStatus {
    /// Failed or errored: what a gate and a comparison count as broken.
    pub fn is_failure(self) -> bool {
        matches!(self, TestStatus::Failed | TestStatus::Errored)
    }
}

/// A text from a report, cut to a bounded size; `truncated` says the report held more.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BoundedText {
    pub text: String,
    pub truncated: bool,
}

impl BoundedText {
    /// The text as people read it: a cut text ends with a mark saying so.
    pub fn shown(&self) -> String {
        if self.truncated {
            format!("{}{TRUNCATED_MARK}", self.text)
        } else {
            self.text.clone()
        }
    }
}

/// What a text cut to its bound ends with when shown.
pub const TRUNCATED_MARK: &str = "\n[… truncated by Slipway: the report held more]";

/// One run of one test: the outcome and what it printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub status: TestStatus,
    /// The failure's or skip's message attribute.
    pub message: Option<BoundedText>,
    /// The failure's type attribute (an exception class, usually).
    pub failure_type: Option<String>,
    /// The failure's body (a stack trace, usually).
    pub detail: Option<BoundedText>,
    pub system_out: Option<BoundedText>,
    pub system_err: Option<BoundedText>,
    pub duration_ms: Option<u64>,
}

impl Attempt {
    /// An attempt with a status and nothing else.
    pub fn bare(status: TestStatus) -> Attempt {
        Attempt {
            status,
            message: None,
            failure_type: None,
            detail: None,
            system_out: None,
            system_err: None,
            duration_ms: None,
        }
    }
}

/// A test as one report states it: where it lives, and its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedTest {
    /// The suite, nested names joined with " / ".
    pub suite: String,
    pub classname: Option<String>,
    pub name: String,
    /// An explicit identity the reporter gave (a `test_id`/`id` property).
    pub explicit_id: Option<String>,
    /// Parameters the reporter gave apart from the name (a `parameters` property).
    pub parameters: Option<String>,
    pub file: Option<String>,
    /// Oldest first; never empty for a test read from a report.
    pub attempts: Vec<Attempt>,
}

impl ReportedTest {
    /// The identity that keeps a test the same test across shards, re-runs and releases.
    pub fn key(&self) -> TestKey {
        TestKey::new(
            self.explicit_id.as_deref(),
            self.classname.as_deref(),
            &self.name,
            self.parameters.as_deref(),
        )
    }

    /// The status of the last attempt: what the test's outcome is.
    pub fn status(&self) -> TestStatus {
        self.attempts
            .last()
            .map_or(TestStatus::Skipped, |attempt| attempt.status)
    }
}

/// A test's stable identity inside its suite, as text: `id:<explicit id>`, or
/// `<classname>::<name>` with `[<parameters>]` when the reporter gave them apart.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TestKey(String);

impl TestKey {
    pub fn new(
        explicit_id: Option<&str>,
        classname: Option<&str>,
        name: &str,
        parameters: Option<&str>,
    ) -> TestKey {
        if let Some(id) = explicit_id.filter(|id| !id.trim().is_empty()) {
            return TestKey(format!("id:{}", id.trim()));
        }
        let mut key = format!("{}::{}", classname.unwrap_or("").trim(), name.trim());
        if let Some(parameters) = parameters.filter(|p| !p.trim().is_empty()) {
            key.push('[');
            key.push_str(parameters.trim());
            key.push(']');
        }
        TestKey(key)
    }

    /// A key read back from the store, as it was written.
    pub fn from_stored(text: String) -> TestKey {
        TestKey(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_status_names_round_trip() {
        crate::state_name::assert_names_round_trip(TestStatus::ALL, "test status");
    }

    #[test]
    fn an_explicit_id_is_the_identity_whatever_the_name() {
        let a = TestKey::new(Some("TC-42"), Some("a.B"), "renamed", None);
        let b = TestKey::new(Some(" TC-42 "), Some("c.D"), "original", Some("x=1"));
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "id:TC-42");
    }

    #[test]
    fn without_an_id_classname_name_and_parameters_make_the_identity() {
        let plain = TestKey::new(None, Some("a.B"), "adds", None);
        let with_parameters = TestKey::new(None, Some("a.B"), "adds", Some("x=1"));
        let blank_id = TestKey::new(Some("  "), Some("a.B"), "adds", None);
        assert_eq!(plain.as_str(), "a.B::adds");
        assert_eq!(with_parameters.as_str(), "a.B::adds[x=1]");
        assert_eq!(blank_id, plain);
        assert_ne!(plain, TestKey::new(None, Some("a.C"), "adds", None));
    }

    #[test]
    fn a_shown_cut_text_says_it_was_cut() {
        let cut = BoundedText {
            text: "abc".into(),
            truncated: true,
        };
        assert!(cut.shown().starts_with("abc"));
        assert!(cut.shown().contains("truncated"));
        let whole = BoundedText {
            text: "abc".into(),
            truncated: false,
        };
        assert_eq!(whole.shown(), "abc");
    }
}
