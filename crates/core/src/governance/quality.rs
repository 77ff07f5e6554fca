//! The quality criteria of a promotion, judged from the facts the server read for them: each
//! required suite's latest run passed (`tests.<suite>`), each capped suite's flaky share under
//! its maximum (`flaky.<suite>`), each kind's line coverage at its minimum (`coverage.<kind>`). Quarantined tests still show in the evidence, but their
//! failures and their flakiness refuse nothing.

use serde_json::json;

use super::{criterion, Criterion, Verdict};
use crate::gates::{CoverageGate, FlakyGate, TestsGate};
use crate::quality::{CoverageCounts, CoverageKind, QualityGateStatus};

/// The latest code-quality gate verdict an outside tool reported for the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityGateFact {
    pub record: i64,
    pub source: String,
    pub status: QualityGateStatus,
    pub gate_name: Option<String>,
    pub analysed_at: Option<String>,
}

/// The latest coverage report of one kind the release carries, for the `coverage` gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageFact {
    pub kind: CoverageKind,
    pub report: i64,
    pub totals: CoverageCounts,
}

/// The latest run of a suite the `tests` gate requires, as found for the release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuiteRunFact {
    pub suite: String,
    pub run: Option<RunFact>,
}

/// A test run as a gate reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFact {
    pub id: i64,
    pub environment: String,
    pub tests: u64,
    pub passed: u64,
    pub skipped: u64,
    /// Tests that ended failed or errored, by identity, with whether each is in quarantine.
    pub failing: Vec<(String, bool)>,
}

/// A suite's flakiness over its last runs in an environment, for the `flaky` gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlakyFact {
    pub suite: String,
    pub environment: String,
    /// The runs judged, newest first.
    pub runs: Vec<i64>,
    /// Tests that passed or failed in at least one of them.
    pub judged: u64,
    /// Flaky tests outside quarantine, by identity.
    pub flaky: Vec<String>,
    /// Flaky tests in quarantine: shown, not counted.
    pub quarantined: Vec<String>,
}

/// Listed in a refusal: the first few, then how many more.
fn first_few(items: &[&str]) -> String {
    let shown: Vec<&str> = items.iter().take(5).copied().collect();
    let more = items.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// One `tests.<suite>` criterion per suite the gate requires.
pub(super) fn tests_criteria(gate: &TestsGate, facts: &[SuiteRunFact]) -> Vec<Criterion> {
    gate.suites
        .iter()
        .map(|suite| {
            let name = format!("tests.{suite}");
            let place = gate
                .environment
                .as_ref()
                .map(|e| format!(" in {e}"))
                .unwrap_or_default();
            let Some(run) = facts
                .iter()
                .find(|f| &f.suite == suite)
                .and_then(|f| f.run.as_ref())
            else {
                return criterion(
                    &name,
                    Verdict::Pending,
                    format!(
                        "waiting for a run of suite {suite}{place} for this release (`slipway tests push --suite {suite} …`)"
                    ),
                    json!({ "suite": suite, "environment": gate.environment }),
                );
            };
            let blocking: Vec<&str> = run
                .failing
                .iter()
                .filter(|(_, quarantined)| !quarantined)
                .map(|(key, _)| key.as_str())
                .collect();
            let quarantined: Vec<&str> = run
                .failing
                .iter()
                .filter(|(_, quarantined)| *quarantined)
                .map(|(key, _)| key.as_str())
                .collect();
            let evidence = json!({
                "suite": suite,
                "run": run.id,
                "environment": run.environment,
                "tests": run.tests,
                "passed": run.passed,
                "skipped": run.skipped,
                "failing": blocking,
                "failing_in_quarantine": quarantined,
            });
            if blocking.is_empty() {
                let aside = if quarantined.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} failing test(s) in quarantine set aside ({})",
                        quarantined.len(),
                        first_few(&quarantined)
                    )
                };
                criterion(
                    &name,
                    Verdict::Pass,
                    format!(
                        "run {} of {suite} in {} passed: {} test(s), {} skipped{aside}",
                        run.id, run.environment, run.tests, run.skipped
                    ),
                    evidence,
                )
            } else {
                criterion(
                    &name,
                    Verdict::Fail,
                    format!(
                        "run {} of {suite} in {} has {} failing test(s): {}; fix them and push a new run, or quarantine a flaky one (`slipway tests quarantine`)",
                        run.id,
                        run.environment,
                        blocking.len(),
                        first_few(&blocking)
                    ),
                    evidence,
                )
            }
        })
        .collect()
}

/// One `flaky.<suite>` criterion per capped suite.
pub(super) fn flaky_criteria(gates: &[FlakyGate], facts: &[FlakyFact]) -> Vec<Criterion> {
    gates
        .iter()
        .map(|gate| {
            let name = format!("flaky.{}", gate.suite);
            let fact = facts
                .iter()
                .find(|f| f.suite == gate.suite && f.environment == gate.environment.as_str());
            let Some(fact) = fact.filter(|f| !f.runs.is_empty()) else {
                return criterion(
                    &name,
                    Verdict::Pending,
                    format!(
                        "no run of suite {} in {} yet: its flakiness cannot be judged",
                        gate.suite, gate.environment
                    ),
                    json!({ "suite": gate.suite, "environment": gate.environment }),
                );
            };
            let share = if fact.judged == 0 {
                0.0
            } else {
                fact.flaky.len() as f64 / fact.judged as f64
            };
            let flaky: Vec<&str> = fact.flaky.iter().map(String::as_str).collect();
            let evidence = json!({
                "suite": gate.suite,
                "environment": gate.environment,
                "runs": fact.runs,
                "judged": fact.judged,
                "flaky": flaky,
                "flaky_in_quarantine": fact.quarantined,
                "share": share,
                "max_share": gate.max_percent.share(),
            });
            let measured = format!(
                "{} of {} test(s) flaky ({:.2} %) over the last {} run(s) of {} in {}",
                flaky.len(),
                fact.judged,
                share * 100.0,
                fact.runs.len(),
                gate.suite,
                gate.environment
            );
            // Compared in hundredths of a percent, as the gate keeps its maximum.
            if (share * 10_000.0).round() <= gate.max_percent.share() * 10_000.0 {
                criterion(
                    &name,
                    Verdict::Pass,
                    format!("{measured}, at most {} allowed", gate.max_percent),
                    evidence,
                )
            } else {
                criterion(
                    &name,
                    Verdict::Fail,
                    format!(
                        "{measured}, more than the {} allowed: {}; fix or quarantine them (`slipway tests flaky` lists them)",
                        gate.max_percent,
                        first_few(&flaky)
                    ),
                    evidence,
                )
            }
        })
        .collect()
}

/// One `coverage.<kind>` criterion per kind the gate sets a minimum for.
pub(super) fn coverage_criteria(gate: &CoverageGate, facts: &[CoverageFact]) -> Vec<Criterion> {
    gate.iter()
        .map(|(kind, minimum)| {
            let name = format!("coverage.{kind}");
            let Some(fact) = facts.iter().find(|f| f.kind == *kind) else {
                return criterion(
                    &name,
                    Verdict::Pending,
                    format!("waiting for {kind} coverage of this release (`slipway coverage push --kind {kind} …`)"),
                    json!({ "kind": kind, "minimum": f64::from(*minimum) }),
                );
            };
            let rate = fact.totals.line_rate().unwrap_or(0.0);
            let evidence = json!({
                "kind": kind,
                "report": fact.report,
                "lines_valid": fact.totals.lines_valid,
                "lines_covered": fact.totals.lines_covered,
                "line_rate": rate,
                "branch_rate": fact.totals.branch_rate(),
                "minimum": f64::from(*minimum),
            });
            let measured = format!(
                "{kind} coverage {:.2} % of {} line(s) (report {})",
                rate * 100.0,
                fact.totals.lines_valid,
                fact.report
            );
            // Compared in hundredths of a percent, as the gate keeps its minimum.
            if (rate * 10_000.0).round() >= minimum.share() * 10_000.0 {
                criterion(&name, Verdict::Pass, format!("{measured}, at least {minimum} required"), evidence)
            } else {
                criterion(
                    &name,
                    Verdict::Fail,
                    format!("{measured}, under the {minimum} required; cover more and push the new report"),
                    evidence,
                )
            }
        })
        .collect()
}

/// The `quality_gate` criterion: the latest verdict reported for the release passed.
pub(super) fn quality_gate_criterion(fact: Option<&QualityGateFact>) -> Criterion {
    let Some(fact) = fact else {
        return criterion(
            "quality_gate",
            Verdict::Pending,
            "waiting for SonarQube's quality gate of this release (its webhook to /api/v1/hooks/sonarqube)".into(),
            serde_json::Value::Null,
        );
    };
    let evidence = json!({
        "record": fact.record,
        "source": fact.source,
        "status": fact.status,
        "gate": fact.gate_name,
        "analysed_at": fact.analysed_at,
    });
    let named = format!(
        "{}'s quality gate{} (record {}, analysed {})",
        fact.source,
        fact.gate_name
            .as_deref()
            .map(|n| format!(" {n}"))
            .unwrap_or_default(),
        fact.record,
        fact.analysed_at.as_deref().unwrap_or("at an unknown time")
    );
    match fact.status {
        QualityGateStatus::Ok | QualityGateStatus::Warn => criterion(
            "quality_gate",
            Verdict::Pass,
            format!("{named} passed"),
            evidence,
        ),
        QualityGateStatus::Error => criterion(
            "quality_gate",
            Verdict::Fail,
            format!("{named} failed; fix what it reports and analyse again"),
            evidence,
        ),
        QualityGateStatus::None => criterion(
            "quality_gate",
            Verdict::Fail,
            format!("{named} computed no gate: give the project a quality gate in SonarQube"),
            evidence,
        ),
    }
}
