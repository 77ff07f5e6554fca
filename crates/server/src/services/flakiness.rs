//! Flakiness and quarantine: a suite's flaky tests over its last runs in an environment (with
//! each one's history strip), tests put in quarantine and lifted (each in one transaction with
//! its audit event), and the facts the `tests` and `flaky` gates are judged on.
//!
//! It never decides what is flaky nor what a gate says: `core::quality` and `core::governance`
//! do, from what the store read.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::gates::{FlakyGate, TestsGate};
use slipway_core::governance::{FlakyFact, RunFact, SuiteRunFact};
use slipway_core::quality::{flaky_share, Flakiness, TestKey, TestStatus};
use slipway_core::Name;
use slipway_store::{
    format_time, CoveredRun, FlakinessScope, NewQuarantine, StoredQuarantine, TestHistoryCounts,
    TestRunFilter,
};

use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Runs a report covers when the caller names no number: seed 000's "over 30 days" of nightly runs.
pub const DEFAULT_RUNS: i64 = 30;
/// The most runs a report may cover.
const MAX_RUNS: i64 = 200;
/// Flaky tests a report draws a history strip for; the rest are listed without one.
const STRIPS: usize = 100;
/// The longest a test may stay in quarantine.
const MAX_QUARANTINE_DAYS: i64 = 180;
/// Failing tests a gate reads from a run.
const FAILING_READ: i64 = 10_000;

/// Which suite, environment and runs a report covers.
#[derive(Debug, Clone)]
pub struct FlakinessQuery {
    pub project: Name,
    pub environment: Name,
    pub suite: String,
    pub runs: i64,
    /// Only runs carrying every one of these attributes (branch=main…).
    pub attributes: BTreeMap<String, String>,
}

/// A flaky test: its counts, what they mean, its quarantine if any, its history strip.
#[derive(Debug)]
pub struct FlakyTest {
    pub counts: TestHistoryCounts,
    pub flakiness: Flakiness,
    pub quarantine: Option<StoredQuarantine>,
    /// (run, status, passed after a retry), oldest first; empty past the first 100 flaky tests.
    pub history: Vec<(i64, TestStatus, bool)>,
}

/// A suite's flakiness over its last runs in an environment.
#[derive(Debug)]
pub struct FlakinessReport {
    /// Newest first.
    pub runs: Vec<CoveredRun>,
    /// Tests that passed or failed in at least one run.
    pub judged: u64,
    /// Flaky tests / judged tests, quarantined ones included.
    pub flaky_share: f64,
    /// Most switches first.
    pub flaky: Vec<FlakyTest>,
}

/// Whether a quarantine is still in force at `now`.
fn in_force(q: &StoredQuarantine, now: Timestamp) -> bool {
    q.expires_at > now
}

/// The quarantines of a project's suite in force now, by test identity.
async fn quarantined(
    state: &AppState,
    project: &str,
    suite: &str,
) -> Result<BTreeMap<TestKey, StoredQuarantine>, ServiceError> {
    let now = state.clock.now();
    Ok(state
        .store
        .quarantines(project, Some(suite))
        .await?
        .into_iter()
        .filter(|q| in_force(q, now))
        .map(|q| (q.key.clone(), q))
        .collect())
}

/// Read and judge a suite's last runs; no authorisation (callers authorise).
async fn judge_suite(
    state: &AppState,
    query: &FlakinessQuery,
) -> Result<(FlakinessReport, BTreeMap<TestKey, StoredQuarantine>), ServiceError> {
    let scope = FlakinessScope {
        project: query.project.as_str(),
        environment: query.environment.as_str(),
        suite: &query.suite,
        attributes: &query.attributes,
        runs: query.runs,
    };
    let runs = state.store.covered_runs(&scope).await?;
    let history = state.store.test_history_counts(&runs).await?;
    let counts = history.unsteady;
    let judged: Vec<Flakiness> = counts
        .iter()
        .map(|c| {
            Flakiness::from_counts(c.runs, c.switches, c.passed_after_retry, c.last_switch_run)
        })
        .collect();
    let share = flaky_share(&judged, history.judged);
    let judged_count = history.judged;
    let quarantines = quarantined(state, query.project.as_str(), &query.suite).await?;
    let mut flaky: Vec<FlakyTest> = counts
        .into_iter()
        .zip(judged)
        .filter(|(_, f)| f.is_flaky())
        .map(|(counts, flakiness)| FlakyTest {
            quarantine: quarantines.get(&counts.key).cloned(),
            counts,
            flakiness,
            history: Vec::new(),
        })
        .collect();
    flaky.sort_by(|a, b| {
        (b.flakiness.switches, b.flakiness.passed_after_retry)
            .cmp(&(a.flakiness.switches, a.flakiness.passed_after_retry))
            .then_with(|| a.counts.key.cmp(&b.counts.key))
    });
    Ok((
        FlakinessReport {
            runs,
            judged: judged_count,
            flaky_share: share,
            flaky,
        },
        quarantines,
    ))
}

fn check_runs(runs: i64) -> Result<i64, ServiceError> {
    if !(1..=MAX_RUNS).contains(&runs) {
        return Err(ServiceError::invalid(
            format!("runs={runs} is out of range"),
            format!("pass a number of runs from 1 to {MAX_RUNS}, e.g. --runs 30"),
        ));
    }
    Ok(runs)
}

/// The flaky tests of a suite over its last runs in an environment, with their history strips.
pub async fn report(
    state: &AppState,
    actor: &Actor,
    query: FlakinessQuery,
) -> Result<FlakinessReport, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{}", query.project),
    )
    .await?;
    check_runs(query.runs)?;
    if state.store.project(&query.project).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("project {}", query.project),
            "`slipway project list` lists the projects",
        ));
    }
    let (mut report, _) = judge_suite(state, &query).await?;
    let stripped: Vec<(&str, &TestKey)> = report
        .flaky
        .iter()
        .take(STRIPS)
        .map(|t| (t.counts.junit_suite.as_str(), &t.counts.key))
        .collect();
    let histories = state.store.test_histories(&report.runs, &stripped).await?;
    for (test, history) in report.flaky.iter_mut().zip(histories) {
        test.history = history;
    }
    Ok(report)
}

/// A test to put in quarantine.
#[derive(Debug, Clone)]
pub struct QuarantineRequest {
    pub project: Name,
    pub suite: String,
    /// The test's identity as runs and reports show it (`classname::name`, or `id:…`).
    pub test: String,
    pub reason: String,
    pub expires_at: Timestamp,
}

fn test_key(text: &str) -> Result<TestKey, ServiceError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 1000 || text.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "the test to quarantine is not named",
            "pass its identity as `slipway tests flaky` shows it, e.g. --test \"test_pets::test_flaky\"",
        ));
    }
    Ok(TestKey::from_stored(text.to_string()))
}

/// Put a test in quarantine for a reason until an expiry: it keeps running and showing, its
/// failures fail no gate. One transaction with its audit event.
pub async fn quarantine(
    state: &AppState,
    actor: &Actor,
    request: QuarantineRequest,
) -> Result<StoredQuarantine, ServiceError> {
    let project = &request.project;
    require(
        state,
        actor,
        Operation::QuarantineTests,
        &format!("project/{project}"),
    )
    .await?;
    let key = test_key(&request.test)?;
    let reason = request.reason.trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(ServiceError::invalid(
            "a quarantine needs a reason of 1 to 2000 characters",
            "say why and who fixes it, e.g. --reason \"races with the mail stub; PETS-812\"",
        ));
    }
    let now = state.clock.now();
    let latest = now
        .checked_add(jiff::SignedDuration::from_hours(MAX_QUARANTINE_DAYS * 24))
        .unwrap_or(now);
    if request.expires_at <= now || request.expires_at > latest {
        return Err(ServiceError::invalid(
            format!(
                "the expiry {} is not between now ({now}) and {MAX_QUARANTINE_DAYS} days from now",
                request.expires_at
            ),
            "pass --until with a time in the coming months, e.g. 2027-01-31T00:00:00Z",
        ));
    }
    if state.store.project(project).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("project {project}"),
            "`slipway project list` lists the projects",
        ));
    }
    let expires_at = format_time(request.expires_at);
    let mut tx = state.store.write().await?;
    let stored = tx
        .put_quarantine(&NewQuarantine {
            project: project.as_str(),
            suite: &request.suite,
            key: &key,
            reason,
            expires_at: &expires_at,
            actor: &actor.username,
        })
        .await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "test.quarantined".into(),
        subject: format!("project/{project}"),
        details: json!({
            "suite": request.suite,
            "test": key.as_str(),
            "reason": reason,
            "expires_at": expires_at,
        }),
    });
    tx.commit().await?;
    Ok(stored)
}

/// Lift a test's quarantine: its failures count again.
pub async fn lift(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    suite: &str,
    test: &str,
) -> Result<StoredQuarantine, ServiceError> {
    require(
        state,
        actor,
        Operation::QuarantineTests,
        &format!("project/{project}"),
    )
    .await?;
    let key = test_key(test)?;
    let mut tx = state.store.write().await?;
    let lifted = tx
        .lift_quarantine(project.as_str(), suite, &key)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!(
                    "a quarantine of {} in suite {suite} of project {project}",
                    key.as_str()
                ),
                format!(
                    "`slipway tests quarantined --project {project}` lists the quarantined tests"
                ),
            )
        })?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "test.quarantine_lifted".into(),
        subject: format!("project/{project}"),
        details: json!({
            "suite": suite,
            "test": key.as_str(),
            "reason": lifted.reason,
            "quarantined_by": lifted.created_by,
        }),
    });
    tx.commit().await?;
    Ok(lifted)
}

/// The project's quarantines in force now.
pub async fn quarantines(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Vec<StoredQuarantine>, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    let now = state.clock.now();
    Ok(state
        .store
        .quarantines(project.as_str(), None)
        .await?
        .into_iter()
        .filter(|q| in_force(q, now))
        .collect())
}

/// The facts of the `tests` gate: each required suite's latest run of the release, its failing
/// tests marked when in quarantine.
pub(crate) async fn suite_runs(
    state: &AppState,
    project: &str,
    release: &str,
    gate: &TestsGate,
) -> Result<Vec<SuiteRunFact>, ServiceError> {
    let mut facts = Vec::new();
    for suite in &gate.suites {
        let latest = state
            .store
            .test_runs(&TestRunFilter {
                project: project.to_string(),
                release: Some(release.to_string()),
                environment: gate.environment.as_ref().map(|e| e.to_string()),
                suite: Some(suite.clone()),
                limit: 1,
            })
            .await?
            .into_iter()
            .next();
        let run = match latest {
            None => None,
            Some(run) => {
                let quarantines = quarantined(state, project, suite).await?;
                let failing = state
                    .store
                    .failing_tests(run.id, FAILING_READ)
                    .await?
                    .into_iter()
                    .map(|(_, key, _)| {
                        let in_quarantine = quarantines.contains_key(&key);
                        (key.as_str().to_string(), in_quarantine)
                    })
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                Some(RunFact {
                    id: run.id,
                    environment: run.environment,
                    tests: run.totals.tests,
                    passed: run.totals.passed,
                    skipped: run.totals.skipped,
                    failing,
                })
            }
        };
        facts.push(SuiteRunFact {
            suite: suite.clone(),
            run,
        });
    }
    Ok(facts)
}

/// The facts of the `flaky` gates: each capped suite's flaky tests over its last runs.
pub(crate) async fn flaky_facts(
    state: &AppState,
    project: &str,
    gates: &[FlakyGate],
) -> Result<Vec<FlakyFact>, ServiceError> {
    if gates.is_empty() {
        return Ok(Vec::new());
    }
    let project = Name::parse(project).map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let mut facts = Vec::new();
    for gate in gates {
        let query = FlakinessQuery {
            project: project.clone(),
            environment: gate.environment.clone(),
            suite: gate.suite.clone(),
            runs: i64::from(gate.runs).clamp(1, MAX_RUNS),
            attributes: BTreeMap::new(),
        };
        let (report, _) = judge_suite(state, &query).await?;
        let (quarantined, flaky): (Vec<FlakyTest>, Vec<FlakyTest>) = report
            .flaky
            .into_iter()
            .partition(|t| t.quarantine.is_some());
        let keys = |tests: Vec<FlakyTest>| {
            tests
                .into_iter()
                .map(|t| t.counts.key.as_str().to_string())
                .collect()
        };
        facts.push(FlakyFact {
            suite: gate.suite.clone(),
            environment: gate.environment.to_string(),
            runs: report.runs.iter().map(|r| r.id).collect(),
            judged: report.judged,
            flaky: keys(flaky),
            quarantined: keys(quarantined),
        });
    }
    Ok(facts)
}
