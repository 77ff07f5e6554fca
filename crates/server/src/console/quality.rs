//! A release's Quality page (Releases): its test runs per environment with what changed since
//! each suite's previous run, each suite's 30-run trend and flaky tests with their history strips
//! (server-rendered SVG), coverage per kind with its change, and the findings it carries with
//! their deadline and the accept-risk flow; and a run's page with its failing and retried tests,
//! each attempt with its output.
//!
//! It decides nothing: `services::release_quality` (and the services it reads through) says what
//! there is, `core::quality` what it means, and the forms post to `services::findings`.

use askama::Template;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use jiff::Timestamp;
use serde::Deserialize;
use slipway_core::access::{allows, Operation};
use slipway_core::complaints::parse_instant;
use slipway_core::page::PageSize;
use slipway_core::quality::{may_approve_risk, CoverageCounts, TestOutcome, TestStatus};
use slipway_store::{StoredAcceptance, StoredAttempt, StoredTestRun};

use super::charts::{self, Caption, RunColumn, Tick, Tone};
use super::notice::{see_other_done, Done};
use super::page::{
    percent_encode, query_string, render, short_timestamp, when, Frame, OrProblemPage, PageResult,
    Section,
};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services::coverage::KindCoverage;
use crate::services::findings::FindingStatus;
use crate::services::flakiness::FlakyTest;
use crate::services::paging::PageRequest;
use crate::services::release_quality::{self, QualityPages, SuiteQuality};
use crate::services::signatures::SignAsk;
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

/// A run as the runs table shows it.
struct RunRow {
    id: i64,
    environment: String,
    suite: String,
    launch: String,
    tests: u64,
    passed: u64,
    failed: u64,
    skipped: u64,
    retried: u64,
    files: i64,
    duration: String,
    updated: String,
}

fn run_row(run: &StoredTestRun) -> RunRow {
    let t = &run.totals;
    RunRow {
        id: run.id,
        environment: run.environment.clone(),
        suite: run.suite.clone(),
        launch: run.launch.clone(),
        tests: t.tests,
        passed: t.passed,
        failed: t.failed + t.errored,
        skipped: t.skipped,
        retried: t.passed_after_retry,
        files: run.files,
        duration: milliseconds(run.duration_ms),
        updated: short_timestamp(run.updated_at),
    }
}

/// `850 ms`, `12.4 s`, `3 min 05 s`.
fn milliseconds(ms: i64) -> String {
    match ms {
        ..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {:02} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

/// A flaky test with its history strip.
struct FlakyRow {
    name: String,
    switches: u64,
    runs: u64,
    switch_rate: String,
    passed_after_retry: u64,
    quarantine: String,
    strip: String,
}

/// One suite in one environment, as its section shows it.
struct SuiteView {
    id: String,
    environment: String,
    suite: String,
    latest: i64,
    previous: String,
    new_failures: Vec<String>,
    fixed: Vec<String>,
    still_failing: usize,
    trend: String,
    judged: u64,
    flaky_share: String,
    flaky: Vec<FlakyRow>,
}

/// The tests of a comparison's list, by name.
fn test_names(list: &[TestOutcome]) -> Vec<String> {
    list.iter().map(|t| t.name.clone()).collect()
}

fn tick(status: TestStatus, retried: bool, run: i64) -> Tick {
    let (tone, words) = match (status, retried) {
        (TestStatus::Passed, true) => (Tone::Warn, "passed after a retry"),
        (TestStatus::Passed, false) => (Tone::Good, "passed"),
        (TestStatus::Failed, _) => (Tone::Bad, "failed"),
        (TestStatus::Errored, _) => (Tone::Bad, "errored"),
        (TestStatus::Skipped, _) => (Tone::Idle, "skipped"),
    };
    Tick {
        tone,
        tooltip: format!("run #{run}: {words}"),
    }
}

fn flaky_row(test: &FlakyTest, now: Timestamp) -> FlakyRow {
    let name = test.counts.name.clone();
    let ticks: Vec<Tick> = test
        .history
        .iter()
        .map(|(run, status, retried)| tick(*status, *retried, *run))
        .collect();
    let description = format!(
        "{name}: {} runs, oldest on the left; ✓ passed, ! passed after a retry, ✕ failed, – skipped",
        ticks.len()
    );
    let strip = charts::history_strip(
        &Caption {
            title: &format!("History of {name}"),
            description: &description,
        },
        &ticks,
    );
    let quarantine = match &test.quarantine {
        Some(q) => format!(
            "quarantined by {}: {}, until {}",
            q.created_by,
            q.reason,
            when(q.expires_at, now).relative
        ),
        None => String::new(),
    };
    FlakyRow {
        switches: test.flakiness.switches,
        runs: test.flakiness.runs,
        switch_rate: percent(test.flakiness.switch_rate),
        passed_after_retry: test.flakiness.passed_after_retry,
        quarantine,
        strip,
        name,
    }
}

fn percent(share: f64) -> String {
    if share.is_finite() {
        format!("{:.1} %", share * 100.0)
    } else {
        "—".into()
    }
}

fn suite_view(project: &str, version: &str, s: &SuiteQuality, now: Timestamp) -> SuiteView {
    let columns: Vec<RunColumn> = s
        .trend
        .iter()
        .map(|run| {
            let t = &run.totals;
            RunColumn {
                label: run.release.clone(),
                passed: t.passed,
                failed: t.failed + t.errored,
                skipped: t.skipped,
                current: run.release == version,
                tooltip: format!(
                    "run #{} of {}: {} passed, {} failed, {} skipped",
                    run.id,
                    run.release,
                    t.passed,
                    t.failed + t.errored,
                    t.skipped
                ),
                href: Some(run_href(project, &run.release, run.id)),
            }
        })
        .collect();
    let title = format!(
        "{} in {}: the last {} runs",
        s.suite,
        s.environment,
        columns.len()
    );
    let trend = charts::run_trend(
        &Caption {
            title: &title,
            description: "One column per run, oldest on the left: passed tests at the bottom, failed (✕) above, skipped on top; this release's runs are outlined and their version in bold",
        },
        &columns,
    );
    SuiteView {
        id: format!("suite-{}-{}", s.environment, s.suite)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect(),
        environment: s.environment.clone(),
        suite: s.suite.clone(),
        latest: s.latest.id,
        previous: match &s.previous {
            Some(p) => format!("run #{} of {}", p.id, p.release),
            None => "none: this is the suite's first run here".into(),
        },
        new_failures: test_names(&s.changes.new_failures),
        fixed: test_names(&s.changes.fixed),
        still_failing: s.changes.still_failing.len(),
        trend,
        judged: s.flakiness.judged,
        flaky_share: percent(s.flakiness.flaky_share),
        flaky: s
            .flakiness
            .flaky
            .iter()
            .map(|t| flaky_row(t, now))
            .collect(),
    }
}

/// Coverage of one kind, as its row shows it.
struct CoverageRow {
    kind: String,
    format: String,
    lines: String,
    branches: String,
    change: String,
    /// ` good`, ` bad` or ``.
    tone: &'static str,
    packages: Vec<(String, String, String)>,
}

fn rate(r: Option<f64>) -> String {
    r.map_or("not measured".into(), percent)
}

/// "+1.3 points", "−0.4 points", "first report".
fn rate_change_words(
    now: &CoverageCounts,
    before: Option<&CoverageCounts>,
) -> (String, &'static str) {
    match (now.line_rate(), before.and_then(|b| b.line_rate())) {
        (Some(n), Some(b)) => {
            let points = (n - b) * 100.0;
            let tone = if points < -0.05 {
                " bad"
            } else if points > 0.05 {
                " good"
            } else {
                ""
            };
            (format!("{points:+.1} points of lines"), tone)
        }
        (_, None) => ("no earlier report".into(), ""),
        (None, Some(_)) => ("not comparable".into(), ""),
    }
}

fn coverage_row(k: &KindCoverage) -> CoverageRow {
    let totals = &k.report.totals;
    let (change, tone) = rate_change_words(totals, k.previous.as_ref().map(|p| &p.totals));
    CoverageRow {
        kind: k.report.kind.to_string(),
        format: k.report.format.clone(),
        lines: rate(totals.line_rate()),
        branches: rate(totals.branch_rate()),
        change,
        tone,
        packages: k
            .packages
            .iter()
            .map(|(name, counts, was)| {
                (
                    name.clone(),
                    rate(counts.line_rate()),
                    rate_change_words(counts, was.as_ref()).0,
                )
            })
            .collect(),
    }
}

/// A risk acceptance as a finding's row shows it.
struct AcceptanceView {
    id: i64,
    words: String,
    /// Whether the reader may approve it now (security, not its requester, not yet approved).
    may_approve: bool,
    /// How its electronic signatures read (the request's, the approval's), when signed.
    signatures: Vec<String>,
}

/// A finding as its row shows it.
struct FindingRow {
    id: i64,
    severity: String,
    /// ` bad` for critical and high.
    severity_tone: &'static str,
    vulnerability: String,
    package: String,
    fixed_in: String,
    state: String,
    deadline: String,
    overdue: bool,
    acceptances: Vec<AcceptanceView>,
}

fn acceptance_view(
    a: &StoredAcceptance,
    signed: &[(i64, String)],
    user: &ConsoleUser,
    now: Timestamp,
) -> AcceptanceView {
    let until = when(a.expires_at, now);
    let words = match (&a.approved_by, a.expires_at <= now) {
        (Some(by), false) => format!(
            "accepted by {} and {by} until {} ({}): {}",
            a.requested_by, until.exact, until.relative, a.reason
        ),
        (Some(by), true) => format!(
            "acceptance by {} and {by} expired {}: {}",
            a.requested_by, until.relative, a.reason
        ),
        (None, _) => format!(
            "acceptance asked by {}, waiting for a security approver: {} (until {})",
            a.requested_by, a.reason, until.exact
        ),
    };
    AcceptanceView {
        id: a.id,
        words,
        may_approve: a.approved_by.is_none()
            && a.expires_at > now
            && may_approve_risk(user.actor.role, &user.actor.username, &a.requested_by).is_ok(),
        signatures: signed
            .iter()
            .filter(|(id, _)| *id == a.id)
            .map(|(_, s)| s.clone())
            .collect(),
    }
}

/// The risk acceptances of a page, with their signatures as `(acceptance, how it reads)`.
struct Acceptances<'a> {
    all: &'a [StoredAcceptance],
    signed: Vec<(i64, String)>,
}

fn finding_row(
    f: &FindingStatus,
    acceptances: &Acceptances<'_>,
    user: &ConsoleUser,
    now: Timestamp,
) -> FindingRow {
    let finding = &f.finding;
    let deadline = match f.deadline {
        Some(d) => {
            let w = when(d, now);
            if f.overdue {
                format!("overdue since {} ({})", w.exact, w.relative)
            } else {
                format!("{} ({})", w.exact, w.relative)
            }
        }
        None => "none".into(),
    };
    let mut vulnerability = finding.vulnerability.clone();
    if !finding.aliases.is_empty() {
        vulnerability = format!("{vulnerability} ({})", finding.aliases.join(", "));
    }
    if finding.known_exploited {
        vulnerability.push_str(" — known exploited");
    }
    FindingRow {
        id: finding.id,
        severity: finding.severity.to_string(),
        severity_tone: if matches!(
            finding.severity,
            slipway_core::quality::Severity::Critical | slipway_core::quality::Severity::High
        ) {
            " bad"
        } else {
            ""
        },
        vulnerability,
        package: finding.package.clone(),
        fixed_in: finding
            .fixed_in
            .clone()
            .unwrap_or_else(|| "no fix yet".into()),
        state: finding.state.to_string(),
        deadline,
        overdue: f.overdue,
        acceptances: acceptances
            .all
            .iter()
            .filter(|a| a.finding_id == finding.id)
            .map(|a| acceptance_view(a, &acceptances.signed, user, now))
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "quality.html")]
struct QualityPage {
    frame: Frame,
    project: String,
    version: String,
    runs: Vec<RunRow>,
    /// The links to the next, older page of runs and back to the newest (the findings' page kept).
    runs_pager: Pager,
    suites: Vec<SuiteView>,
    coverage: Vec<CoverageRow>,
    findings: Vec<FindingRow>,
    /// The links to the next page of findings and back to the first (the runs' page kept).
    findings_pager: Pager,
    overdue: usize,
    /// Whether the reader may ask for a risk to be accepted.
    may_request_risk: bool,
    /// Set when asking for and approving a risk acceptance are electronic signatures.
    risk_signing: Option<RiskSigning>,
}

/// What the risk forms ask of a signer where an environment's policy requires it.
struct RiskSigning {
    /// The environment whose policy asks.
    environment: String,
    /// `responsibility: “I take responsibility for this decision”`.
    meaning: String,
    /// For a person who signs in through an OpenID provider: its name, and where to sign in
    /// again there before acting, instead of a password.
    again: Option<(String, String)>,
}

async fn risk_signing(
    state: &AppState,
    user: &ConsoleUser,
    project: &slipway_core::Name,
    back: &str,
) -> Result<Option<RiskSigning>, ServiceError> {
    use slipway_core::signature::policy::SignedAction;
    use slipway_core::signature::Meaning;
    let Some(env) = services::findings::risk_signing_environment(state, project).await? else {
        return Ok(None);
    };
    let m = Meaning::of(SignedAction::RiskAcceptances);
    Ok(Some(RiskSigning {
        environment: env.name.to_string(),
        meaning: format!("{m}: “{}”", m.declaration()),
        again: services::sso::provider_for_signing(state, &user.actor)
            .await?
            .map(|name| (name, format!("/login/oidc/again?back={back}"))),
    }))
}

/// A list's links to its next page and back to its first; none on a list of one page.
struct Pager {
    next: Option<String>,
    first: Option<String>,
}

/// Which page of the runs and of the findings the Quality page shows: the cursors of each
/// (`next` of the page before); empty on the first.
#[derive(Debug, Default, Deserialize)]
pub(super) struct QualityQuery {
    #[serde(default)]
    runs_after: String,
    #[serde(default)]
    findings_after: String,
}

/// Runs and findings a Quality page holds of each.
const ROWS_PER_PAGE: u32 = 200;

fn page_request(after: &str) -> PageRequest {
    PageRequest {
        size: PageSize::at_most(ROWS_PER_PAGE),
        after: Some(after.to_string()).filter(|a| !a.is_empty()),
    }
}

/// `GET /projects/{name}/releases/{version}/quality`
pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((project, version)): Path<(String, String)>,
    Query(q): Query<QualityQuery>,
) -> PageResult {
    let name = parse_name("project", &project).or_page(&user)?;
    let pages = QualityPages {
        runs: page_request(&q.runs_after),
        findings: page_request(&q.findings_after),
    };
    let quality = release_quality::of_release(&state, &user.actor, &name, &version, &pages)
        .await
        .or_page(&user)?;
    let href = quality_href(&project, &version);
    let link = |runs: &str, findings: &str, anchor: &str| {
        format!(
            "{href}{}#{anchor}",
            query_string(&[("runs_after", runs), ("findings_after", findings)])
        )
    };
    let runs_pager = Pager {
        next: quality
            .runs
            .next
            .as_deref()
            .map(|next| link(next, &q.findings_after, "runs")),
        first: (!q.runs_after.is_empty()).then(|| link("", &q.findings_after, "runs")),
    };
    let findings_pager = Pager {
        next: quality
            .findings
            .next
            .as_deref()
            .map(|next| link(&q.runs_after, next, "findings")),
        first: (!q.findings_after.is_empty()).then(|| link(&q.runs_after, "", "findings")),
    };
    let now = state.clock.now();
    let mut signed = Vec::new();
    for a in &quality.acceptances {
        for s in services::findings::acceptance_signatures(&state, name.as_str(), a.id)
            .await
            .or_page(&user)?
        {
            signed.push((a.id, s.signature.manifestation()));
        }
    }
    let acceptances = Acceptances {
        all: &quality.acceptances,
        signed,
    };
    let findings: Vec<FindingRow> = quality
        .findings
        .items
        .iter()
        .map(|f| finding_row(f, &acceptances, &user, now))
        .collect();
    let risk_signing = risk_signing(&state, &user, &name, &quality_href(&project, &version))
        .await
        .or_page(&user)?;
    Ok(render(
        StatusCode::OK,
        &QualityPage {
            frame: Frame::new(
                format!("Quality of {project} {version}"),
                Some(&user),
                Section::Releases,
            ),
            runs: quality.runs.items.iter().map(run_row).collect(),
            runs_pager,
            suites: quality
                .suites
                .iter()
                .map(|s| suite_view(&project, &version, s, now))
                .collect(),
            coverage: quality.coverage.iter().map(coverage_row).collect(),
            overdue: findings.iter().filter(|f| f.overdue).count(),
            findings,
            findings_pager,
            may_request_risk: allows(user.actor.role, Operation::ReportCheck),
            risk_signing,
            project,
            version,
        },
    ))
}

fn quality_href(project: &str, version: &str) -> String {
    format!(
        "/projects/{}/releases/{}/quality",
        percent_encode(project),
        percent_encode(version)
    )
}

fn run_href(project: &str, version: &str, id: i64) -> String {
    format!("{}/runs/{id}", quality_href(project, version))
}

/// A test of a run with its attempts, as the run's page shows it.
struct TestView {
    name: String,
    junit_suite: String,
    status: String,
    /// ` bad`, ` warn` or ``.
    tone: &'static str,
    attempts: Vec<AttemptView>,
}

struct AttemptView {
    number: i64,
    status: String,
    duration: String,
    message: String,
    detail: String,
    output: String,
}

fn attempt_view(a: &StoredAttempt) -> AttemptView {
    let mut output = String::new();
    for (label, text) in [("stdout", &a.system_out), ("stderr", &a.system_err)] {
        if let Some(text) = text.as_deref().filter(|t| !t.trim().is_empty()) {
            output.push_str(&format!("--- {label}\n{text}\n"));
        }
    }
    AttemptView {
        number: a.attempt,
        status: a.status.to_string(),
        duration: a.duration_ms.map(milliseconds).unwrap_or_default(),
        message: [a.failure_type.as_deref(), a.message.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": "),
        detail: a.detail.clone().unwrap_or_default(),
        output,
    }
}

#[derive(Template)]
#[template(path = "quality_run.html")]
struct RunPage {
    frame: Frame,
    project: String,
    version: String,
    run: RunRow,
    attributes: Vec<(String, String)>,
    previous: String,
    new_failures: Vec<String>,
    fixed: Vec<String>,
    tests: Vec<TestView>,
}

/// `GET /projects/{name}/releases/{version}/quality/runs/{id}`
pub(super) async fn run(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((project, version, id)): Path<(String, String, i64)>,
) -> PageResult {
    let name = parse_name("project", &project).or_page(&user)?;
    let detail = services::quality::show(&state, &user.actor, &name, &version, id)
        .await
        .or_page(&user)?;
    let changes = services::quality::compare(&state, &user.actor, &name, &version, id)
        .await
        .or_page(&user)?;
    let tests = detail
        .notable
        .iter()
        .map(|(test, attempts)| TestView {
            name: test.name.clone(),
            junit_suite: test.junit_suite.clone(),
            status: if test.status == TestStatus::Passed {
                format!("passed after {} attempts", test.attempts)
            } else {
                test.status.to_string()
            },
            tone: match test.status {
                TestStatus::Failed | TestStatus::Errored => " bad",
                TestStatus::Passed => " warn",
                TestStatus::Skipped => "",
            },
            attempts: attempts.iter().map(attempt_view).collect(),
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &RunPage {
            frame: Frame::new(
                format!("Run #{id} of {project} {version}"),
                Some(&user),
                Section::Releases,
            ),
            run: run_row(&detail.run),
            attributes: detail.run.attributes.clone().into_iter().collect(),
            previous: match &changes.previous {
                Some(p) => format!("run #{} of {}", p.id, p.release),
                None => "none".into(),
            },
            new_failures: test_names(&changes.comparison.new_failures),
            fixed: test_names(&changes.comparison.fixed),
            tests,
            project,
            version,
        },
    ))
}

#[derive(Deserialize)]
pub(super) struct AcceptFields {
    reason: String,
    until: String,
    /// The requester's password, where the acceptance is an electronic signature.
    #[serde(default)]
    password: Option<String>,
}

/// The approver's password, where the approval is an electronic signature.
#[derive(Deserialize)]
pub(super) struct ApproveFields {
    #[serde(default)]
    password: Option<String>,
}

/// `POST /projects/{name}/releases/{version}/quality/findings/{id}/accept`
pub(super) async fn accept_risk(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path((project, version, id)): Path<(String, String, i64)>,
    signed: SignedForm<AcceptFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let name = parse_name("project", &project).or_page(&user)?;
    let until = form.until.trim();
    let expires_at = parse_instant(until)
        .ok_or_else(|| {
            ServiceError::invalid(
                format!("until {until:?} is neither a YYYY-MM-DD date nor an RFC 3339 time"),
                "choose the date the acceptance ends, within the coming year",
            )
        })
        .or_page(&user)?;
    services::findings::request_acceptance(
        &state,
        &user.actor,
        &name,
        id,
        &form.reason,
        expires_at,
        SignAsk {
            password: form.password.as_deref(),
            client: client.ip(),
        },
    )
    .await
    .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("{}#findings", quality_href(&project, &version)),
        Done::RiskRequested,
    ))
}

/// `POST /projects/{name}/releases/{version}/quality/acceptances/{id}/approve`
pub(super) async fn approve_risk(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path((project, version, id)): Path<(String, String, i64)>,
    signed: SignedForm<ApproveFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let name = parse_name("project", &project).or_page(&user)?;
    let sign = SignAsk {
        password: form.password.as_deref(),
        client: client.ip(),
    };
    services::findings::approve_acceptance(&state, &user.actor, &name, id, sign)
        .await
        .or_page(&user)?;
    Ok(see_other_done(
        &state,
        &format!("{}#findings", quality_href(&project, &version)),
        Done::RiskApproved,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_unit_that_fits() {
        assert_eq!(milliseconds(850), "850 ms");
        assert_eq!(milliseconds(12_400), "12.4 s");
        assert_eq!(milliseconds(185_000), "3 min 05 s");
    }

    #[test]
    fn a_coverage_change_is_told_in_points_with_its_tone() {
        let counts = |covered| CoverageCounts {
            lines_valid: 1000,
            lines_covered: covered,
            branches_valid: 0,
            branches_covered: 0,
        };
        assert_eq!(
            rate_change_words(&counts(812), Some(&counts(799))),
            ("+1.3 points of lines".to_string(), " good")
        );
        assert_eq!(
            rate_change_words(&counts(795), Some(&counts(799))),
            ("-0.4 points of lines".to_string(), " bad")
        );
        assert_eq!(rate_change_words(&counts(799), Some(&counts(799))).1, "");
        assert_eq!(rate_change_words(&counts(799), None).0, "no earlier report");
    }

    #[test]
    fn a_retried_pass_reads_apart_from_a_clean_pass_in_the_strip() {
        assert_eq!(tick(TestStatus::Passed, true, 3).tone, Tone::Warn);
        assert_eq!(tick(TestStatus::Passed, false, 3).tone, Tone::Good);
        assert_eq!(tick(TestStatus::Errored, false, 3).tone, Tone::Bad);
        assert_eq!(
            tick(TestStatus::Skipped, false, 9).tooltip,
            "run #9: skipped"
        );
    }
}
