//! Quality evidence's answers: test runs (one per release, environment, suite and launch), a
//! run's failing and retried tests with their attempts, a push's outcome, and a comparison with
//! the previous run. It judges nothing: the server fills them from `core::quality`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slipway_core::quality::{FindingState, RunTotals, Severity, TestStatus};

/// A test run (`GET /api/v1/projects/{name}/releases/{version}/test-runs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRunView {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub environment: String,
    pub suite: String,
    /// Files pushed with this launch id merged into this run.
    pub launch: String,
    pub attributes: BTreeMap<String, String>,
    pub files: i64,
    pub totals: RunTotals,
    /// Whether no test ended failed or errored.
    pub passed: bool,
    pub duration_ms: i64,
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339: when the last file was merged in.
    pub updated_at: String,
}

/// A test of a run, as lists show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResultView {
    /// The JUnit suite the test belongs to (nested suites joined with " / ").
    pub junit_suite: String,
    /// The test's stable identity in its suite.
    pub key: String,
    pub classname: Option<String>,
    pub name: String,
    pub file: Option<String>,
    /// The status of its last attempt.
    pub status: TestStatus,
    pub attempts: i64,
    pub failed_attempts: i64,
    pub duration_ms: Option<i64>,
    /// The last attempt's message.
    pub message: Option<String>,
}

/// One attempt of a test, with its output (a cut text ends with a mark saying so).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestAttemptView {
    pub attempt: i64,
    pub status: TestStatus,
    pub message: Option<String>,
    pub failure_type: Option<String>,
    pub detail: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
    pub duration_ms: Option<i64>,
}

/// A failing or retried test with every attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotableTestView {
    pub test: TestResultView,
    pub attempt_log: Vec<TestAttemptView>,
}

/// A run with its failing tests and the tests that passed only after a retry
/// (`GET /api/v1/projects/{name}/releases/{version}/test-runs/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRunDetail {
    pub run: TestRunView,
    /// Failed or errored in the end, first; then passed after a retry. At most 200.
    pub notable: Vec<NotableTestView>,
}

/// Something in a pushed file that was not read, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportProblemView {
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// What a push did (`POST /api/v1/projects/{name}/releases/{version}/test-results`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestPushView {
    /// The run after the merge.
    pub run: TestRunView,
    /// Whether this push created the run (the launch's first file).
    pub created: bool,
    /// The same file (same SHA-256) was already pushed into this launch, e.g. a CI job retried
    /// after a lost answer: nothing was merged again; the counts are the stored ones. Answered
    /// 200.
    #[serde(default)]
    pub repeated: bool,
    /// Testcases read from the file.
    pub testcases: u64,
    /// Broken testcases skipped (each listed in `problems`).
    pub skipped_testcases: u64,
    pub problems: Vec<ReportProblemView>,
    pub problems_not_listed: u64,
    /// Fields cut to their bound.
    pub truncated_fields: u64,
}

/// A test whose outcome changed (or did not) since the previous run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparedTestView {
    pub junit_suite: String,
    pub key: String,
    pub name: String,
    pub status: TestStatus,
}

/// A run compared with the previous run of the same suite in the same environment
/// (`GET /api/v1/projects/{name}/releases/{version}/test-runs/{id}/compare`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestRunComparisonView {
    pub run: TestRunView,
    /// None when this is the suite's first run in the environment: every failure is new.
    pub previous: Option<TestRunView>,
    pub new_failures: Vec<ComparedTestView>,
    pub fixed: Vec<ComparedTestView>,
    pub still_failing: Vec<ComparedTestView>,
    pub added: u64,
    pub removed: u64,
}

/// A vulnerability scan as pushed (`GET /api/v1/projects/{name}/releases/{version}/scans`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanView {
    pub id: i64,
    pub project: String,
    pub release: String,
    /// None when the scan is of the release as a whole.
    pub component: Option<String>,
    /// trivy, grype, sarif or cyclonedx.
    pub format: String,
    /// The tool that scanned, lower case.
    pub scanner: String,
    pub scanner_version: Option<String>,
    /// The scanned image's digest (`sha256:…`) when the report names it.
    pub artifact: Option<String>,
    /// SHA-256 of the file as received.
    pub sha256: String,
    pub size: i64,
    /// Entries the report held.
    pub entries: i64,
    /// Findings after merging (one per package and vulnerability).
    pub findings: i64,
    /// Entries a VEX analysis or suppression says do not affect the artifact.
    pub not_affected: i64,
    pub pushed_by: String,
    /// RFC 3339.
    pub pushed_at: String,
}

/// What a scan push did (`POST /api/v1/projects/{name}/releases/{version}/scans`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanPushView {
    pub scan: ScanView,
    /// Findings never seen before in this project's component.
    pub new: u64,
    /// Known findings seen again (reopened ones included).
    pub seen: u64,
    /// Fixed findings that came back.
    pub reopened: u64,
    /// Open findings this scanner reported before and no longer does.
    pub fixed: u64,
    /// Entries skipped (no package or no vulnerability id), with where they were.
    pub problems: Vec<String>,
    pub problems_not_listed: u64,
    pub truncated_fields: u64,
}

/// A vulnerability finding with its life across releases and its remediation deadline
/// (`GET /api/v1/projects/{name}/findings`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingView {
    pub id: i64,
    pub project: String,
    pub component: Option<String>,
    /// PURL without qualifiers, else name@version.
    pub package: String,
    /// A CVE when one is known, else a GHSA, else the scanner's id.
    pub vulnerability: String,
    pub aliases: Vec<String>,
    pub scanners: Vec<String>,
    pub severity: Severity,
    pub fix_available: bool,
    pub fixed_in: Option<String>,
    pub known_exploited: bool,
    pub title: Option<String>,
    pub state: FindingState,
    /// RFC 3339.
    pub first_seen_at: String,
    pub first_release: String,
    pub last_seen_at: String,
    pub last_release: String,
    pub fixed_at: Option<String>,
    pub fixed_release: Option<String>,
    pub reopened_at: Option<String>,
    pub reopened: i64,
    /// First seen + the project's days for its severity; none when its severity has none.
    pub deadline: Option<String>,
    /// Past its deadline and still present (open, or carried by the release asked about).
    pub overdue: bool,
}

/// A request to accept a finding's risk (`POST /api/v1/projects/{name}/findings/{id}/acceptances`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAcceptanceRequest {
    pub reason: String,
    /// RFC 3339; within a year.
    pub expires_at: String,
    /// The requester's password, where an environment the project reaches requires
    /// `risk_acceptances` signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The body of `POST /api/v1/projects/{name}/acceptances/{id}/approve` (it may be empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskApproval {
    /// The approver's password, where an environment the project reaches requires
    /// `risk_acceptances` signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A finding's risk accepted for a reason until an expiry; in force once approved by the
/// security role, never by the requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskAcceptanceView {
    pub id: i64,
    pub finding_id: i64,
    pub reason: String,
    /// RFC 3339.
    pub expires_at: String,
    pub requested_by: String,
    pub requested_at: String,
    pub approved_by: Option<String>,
    pub approved_at: Option<String>,
    /// The electronic signatures of the request and the approval, where they were signed.
    #[serde(default)]
    pub signatures: Vec<crate::signatures::SignatureView>,
}

/// A run a flakiness report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoveredRunView {
    pub id: i64,
    pub release: String,
    /// RFC 3339: when the run was last pushed into.
    pub updated_at: String,
}

/// A test's outcome in one run of its history strip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPointView {
    pub run: i64,
    pub status: TestStatus,
    /// It passed only after a failed attempt.
    pub retried: bool,
}

/// A flaky test: its switches between passing and failing, its passes after a retry, its
/// quarantine if any, and its history strip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlakyTestView {
    pub junit_suite: String,
    /// The identity to quarantine it by.
    pub key: String,
    pub name: String,
    /// Runs where it passed or failed (skips left out).
    pub runs: u64,
    pub switches: u64,
    /// `switches / (runs − 1)`.
    pub switch_rate: f64,
    pub passed_after_retry: u64,
    pub last_switch_run: Option<i64>,
    pub quarantine: Option<QuarantineView>,
    /// Oldest first; empty past the first 100 flaky tests.
    pub history: Vec<HistoryPointView>,
}

/// A suite's flakiness over its last runs in an environment
/// (`GET /api/v1/projects/{name}/flakiness?env=E&suite=S&runs=30&attr=K=V`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlakinessView {
    pub project: String,
    pub environment: String,
    pub suite: String,
    pub attributes: BTreeMap<String, String>,
    /// Newest first.
    pub runs: Vec<CoveredRunView>,
    /// Tests that passed or failed in at least one of the runs.
    pub judged: u64,
    /// Flaky tests / judged tests, between 0 and 1, quarantined ones included.
    pub flaky_share: f64,
    /// Most switches first.
    pub flaky: Vec<FlakyTestView>,
}

/// A test in quarantine: it still runs and shows, its failures fail no gate
/// (`GET /api/v1/projects/{name}/quarantines`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineView {
    pub project: String,
    pub suite: String,
    pub test: String,
    pub reason: String,
    /// RFC 3339.
    pub expires_at: String,
    pub created_by: String,
    pub created_at: String,
}

/// Put a test in quarantine (`POST /api/v1/projects/{name}/quarantines`); lifted with
/// `DELETE /api/v1/projects/{name}/quarantines?suite=S&test=T`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineRequest {
    pub suite: String,
    /// The test's identity as `slipway tests flaky` shows it.
    pub test: String,
    pub reason: String,
    /// RFC 3339, within 180 days.
    pub expires_at: String,
}

/// A code-quality gate verdict an outside tool reported for a release
/// (`POST /api/v1/hooks/sonarqube` answers it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityGateView {
    pub id: i64,
    pub project: String,
    pub release: String,
    /// `sonarqube`.
    pub source: String,
    pub status: slipway_core::quality::QualityGateStatus,
    pub gate_name: Option<String>,
    pub revision: Option<String>,
    pub analysed_at: Option<String>,
    pub task_id: Option<String>,
    /// SHA-256 of the payload as received.
    pub sha256: String,
    /// RFC 3339.
    pub received_at: String,
}

/// `POST /api/v1/projects/{name}/test-triggers`: run one declared battery now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestTriggerRequest {
    pub environment: String,
    pub suite: String,
}

/// A battery asked for with `slipway tests trigger`
/// (`GET /api/v1/projects/{name}/test-triggers/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestTriggerView {
    pub id: i64,
    pub project: String,
    pub environment: String,
    /// The release the environment held when it was asked for: the run's release.
    pub release: String,
    pub suite: String,
    /// The target role whose agent runs it.
    pub role: String,
    /// requested, running, passed, failed, or lost (its agent went silent).
    pub state: slipway_core::quality::battery::TriggerState,
    /// The target whose agent took it.
    pub target: Option<String>,
    /// The run its JUnit files went into, once one was pushed.
    pub run: Option<TestRunView>,
    /// The agent's verdict, once it ended.
    pub summary: Option<String>,
    /// The last 16 KiB the battery printed (secrets masked).
    pub output: String,
    pub requested_by: String,
    /// RFC 3339.
    pub requested_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}
