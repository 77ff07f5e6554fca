//! Promotion governance, decided purely: the go/no-go decision for one promotion from the facts
//! gathered for it against the environment's gates ([`crate::gates`]), and the life of a
//! promotion.
//!
//! The server gathers the facts (approvals, checks, deployments, the time); this module judges
//! them. Every criterion yields a verdict — pass, pending (may still pass without anyone
//! overriding: approvals awaited, window not open yet) or fail — and the decision follows: any
//! fail is a no-go, else any pending is a wait, else go.

pub mod config_change;
pub mod parity;
pub mod promotion;
mod quality;
pub mod reason;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::access::Role;
use crate::deploy::state::DeploymentKind;
use crate::gates::calendar::Opening;
use crate::gates::{Gates, OutsideWindow};
use crate::name::Name;
use crate::plan::{Action, Inverse, Step};
use crate::state_name::state_names;
use jiff::Timestamp;

pub use quality::{CoverageFact, FlakyFact, QualityGateFact, RunFact, SuiteRunFact};

// The approval rule is a gate and lives in `gates`; slipway-store's tests still name it here.
pub use crate::gates::ApprovalRule;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Pending,
    Fail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Go,
    Wait,
    NoGo,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Go => "go",
            Decision::Wait => "wait",
            Decision::NoGo => "no_go",
        }
    }
}

/// One line of a decision record: what was required, what was found, the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Criterion {
    /// Stable name: `lifecycle`, `previous_phase`, `earlier_wave`, `signatures`, `approvals`,
    /// `window`, `schedule`, `change_request`, `check.<name>`, `rollback_rehearsed`, `targets`,
    /// `variables`, `parity`, `findings`, `tests.<suite>`, `flaky.<suite>`, `coverage.<kind>`, `quality_gate`, `environment_free`.
    pub name: String,
    pub verdict: Verdict,
    /// One sentence a person reads: what holds, or what is missing and how to get it.
    pub detail: String,
    /// What the verdict rests on: who approved, links, deployment ids, times.
    pub evidence: Value,
}

/// An approval or a rejection, as cast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub username: String,
    pub role: Role,
    pub approve: bool,
    pub comment: String,
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Passed,
    Failed,
}

state_names!(CheckStatus, "check status", {
    Passed => "passed",
    Failed => "failed",
});

/// The latest result CI reported for a named check of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: Name,
    pub status: CheckStatus,
    pub url: Option<String>,
    pub details: String,
    pub reported_by: String,
    pub reported_at: String,
}

/// A deployment of the release, as the rehearsal rule needs it, in creation order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastDeployment {
    pub id: i64,
    pub environment: Name,
    /// A deploy or a rollback (dry runs prove nothing and are left out).
    pub kind: DeploymentKind,
    pub succeeded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeRequestState {
    Open,
    Approved,
    Rejected,
}

state_names!(ChangeRequestState, "change request state", {
    Open => "open",
    Approved => "approved",
    Rejected => "rejected",
});

/// Where the target environment sits in the release's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The project has no lifecycle: no phase rule applies.
    Unordered,
    /// The environment is not in the release's lifecycle.
    Outside { lifecycle: Name, phases: Vec<Name> },
    /// The environment belongs to phase `phase` (0-based); `previous` lists the environments of
    /// the phase before it (empty for the first phase).
    Phase {
        lifecycle: Name,
        phase: usize,
        phase_name: Name,
        previous: Vec<Name>,
    },
}

/// Everything known about one promotion when it is judged.
#[derive(Debug, Clone)]
pub struct Facts {
    pub now: Timestamp,
    pub environment: Name,
    pub protected: bool,
    pub gates: Gates,
    pub placement: Placement,
    pub release_author: String,
    pub requested_by: String,
    pub scheduled_for: Option<Timestamp>,
    /// The signature rule of the vault: `Err` says why the release may not enter.
    pub signatures: Result<(), String>,
    /// Every deployment of this release, in any environment, oldest first.
    pub deployments: Vec<PastDeployment>,
    /// An earlier wave of the same phase this promotion follows, and whether it succeeded
    /// (`None`: still running).
    pub earlier_wave: Option<(Name, Option<bool>)>,
    pub votes: Vec<Vote>,
    pub checks: Vec<CheckResult>,
    pub change_request: Option<ChangeRequestState>,
    /// Another deployment of the project still runs in the environment.
    pub environment_busy: Option<i64>,
    /// Whether the plan can be spread over the environment's targets (`Err`: why not).
    pub deployable: Result<(), String>,
    /// Whether every `${NAME}` of the steps that would run has a value on their targets
    /// (`Err`: which do not, and how to give them one).
    pub variables: Result<(), String>,
    /// The parity report against `gates.parity_with`, when the gate asks for one.
    pub parity: Option<parity::ParityReport>,
    /// The vulnerability findings the release carries, when `gates.findings` asks for them.
    pub findings: Option<Vec<FindingFact>>,
    /// The latest run of each suite `gates.tests` requires (empty without the gate).
    pub test_runs: Vec<SuiteRunFact>,
    /// The flakiness of each suite `gates.flaky` caps (empty without the gate).
    pub flakiness: Vec<FlakyFact>,
    /// The release's latest coverage report of each kind (empty without `gates.coverage`).
    pub coverage: Vec<CoverageFact>,
    /// The latest code-quality gate verdict reported for the release (`gates.quality_gate`).
    pub quality_gate: Option<QualityGateFact>,
}

/// A vulnerability finding a release carries, with its remediation deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingFact {
    pub id: i64,
    pub vulnerability: String,
    pub package: String,
    pub severity: crate::quality::Severity,
    pub deadline: Option<Timestamp>,
    /// The latest expiry of an approved risk acceptance; until then it does not block.
    pub accepted_until: Option<Timestamp>,
}

impl Verdict {
    /// The verdict's name as records and exports write it: `pass`, `pending`, `fail`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Pending => "pending",
            Verdict::Fail => "fail",
        }
    }
}

/// A go/no-go decision as it is recorded: the judgement, when its facts were read, and the
/// override that let it through, if any. Stored and answered as JSON (`record` of a decision);
/// an override-less record has no `override` key, as it always had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub judgement: Judgement,
    /// RFC 3339: the time the facts were judged at (the governance clock).
    pub facts_at: String,
    #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
    pub overridden: Option<Override>,
}

/// Who let a promotion through around its gates, in what role, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    pub by: String,
    pub role: String,
    pub reason: String,
}

impl DecisionRecord {
    /// Read a stored record; `None` for one this version cannot read.
    pub fn read(record: &serde_json::Value) -> Option<DecisionRecord> {
        DecisionRecord::deserialize(record).ok()
    }

    /// The record as the JSON the store keeps and the API answers.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a decision record always serialises")
    }
}

/// The outcome of judging a promotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    pub decision: Decision,
    pub criteria: Vec<Criterion>,
    /// When a waiting promotion should be judged again at the latest (the window opens).
    pub recheck_at: Option<String>,
}

impl Judgement {
    pub fn names(&self, verdict: Verdict) -> Vec<String> {
        self.criteria
            .iter()
            .filter(|c| c.verdict == verdict)
            .map(|c| c.name.clone())
            .collect()
    }

    /// One line per criterion that is not passing, for refusals and CLI output.
    pub fn explain(&self) -> String {
        self.criteria
            .iter()
            .filter(|c| c.verdict != Verdict::Pass)
            .map(|c| {
                let mark = if c.verdict == Verdict::Fail {
                    "no-go"
                } else {
                    "waiting"
                };
                format!("{} ({mark}): {}", c.name, c.detail)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn criterion(name: &str, verdict: Verdict, detail: String, evidence: Value) -> Criterion {
    Criterion {
        name: name.to_string(),
        verdict,
        detail,
        evidence,
    }
}

/// The `findings` gate: no finding past its deadline, and no severity over its cap. The record
/// names every finding that refuses the release, with its deadline.
fn findings_criterion(
    gate: &crate::gates::FindingsGate,
    findings: &[FindingFact],
    now: Timestamp,
) -> Criterion {
    let (accepted, blocking): (Vec<&FindingFact>, Vec<&FindingFact>) = findings
        .iter()
        .partition(|f| f.accepted_until.is_some_and(|until| until > now));
    let overdue: Vec<&FindingFact> = blocking
        .iter()
        .copied()
        .filter(|f| crate::quality::is_overdue(f.deadline, now))
        .collect();
    let mut by_severity = std::collections::BTreeMap::new();
    for f in &blocking {
        *by_severity.entry(f.severity).or_insert(0u32) += 1;
    }
    let over_cap: Vec<String> = gate
        .max_open
        .iter()
        .filter_map(|(severity, max)| {
            let count = by_severity.get(severity).copied().unwrap_or(0);
            (count > *max).then(|| format!("{count} {severity} (at most {max})"))
        })
        .collect();
    let named = |f: &&FindingFact| {
        json!({
            "id": f.id,
            "vulnerability": f.vulnerability,
            "package": f.package,
            "severity": f.severity,
            "deadline": f.deadline.map(|d| d.to_string()),
        })
    };
    let evidence = json!({
        "findings": findings.len(),
        "by_severity": by_severity,
        "max_open": gate.max_open,
        "overdue": overdue.iter().map(named).collect::<Vec<_>>(),
        "accepted": accepted.iter().map(|f| {
            let mut v = named(f);
            v["accepted_until"] = json!(f.accepted_until.map(|t| t.to_string()));
            v
        }).collect::<Vec<_>>(),
    });
    if overdue.is_empty() && over_cap.is_empty() {
        return criterion(
            "findings",
            Verdict::Pass,
            format!(
                "{} finding(s) carried, none past its deadline{}",
                findings.len(),
                if gate.max_open.is_empty() {
                    ""
                } else {
                    " nor over its cap"
                }
            ),
            evidence,
        );
    }
    let mut reasons = Vec::new();
    if !overdue.is_empty() {
        let listed: Vec<String> = overdue
            .iter()
            .take(5)
            .map(|f| {
                let deadline = f.deadline.map(|d| d.to_string()).unwrap_or_default();
                format!(
                    "{} in {} ({}, due {deadline}, finding {})",
                    f.vulnerability, f.package, f.severity, f.id
                )
            })
            .collect();
        let more = overdue.len().saturating_sub(listed.len());
        reasons.push(format!(
            "{} finding(s) past their deadline: {}{}",
            overdue.len(),
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    if !over_cap.is_empty() {
        reasons.push(format!("over the cap: {}", over_cap.join(", ")));
    }
    criterion("findings", Verdict::Fail, reasons.join("; "), evidence)
}

/// Judge a promotion: every criterion the environment and the lifecycle ask for.
pub fn judge(f: &Facts) -> Judgement {
    let mut criteria = Vec::new();
    criteria.extend(lifecycle_criteria(f));
    criteria.extend(f.earlier_wave.as_ref().map(earlier_wave_criterion));
    criteria.push(signatures_criterion(&f.signatures));
    if let Some(rule) = &f.gates.approvals {
        criteria.push(approvals(rule, f));
    }
    let (timing, recheck_at) = timing_criteria(f);
    criteria.extend(timing);
    if f.gates.requires_change_request(f.protected) {
        criteria.push(change_request_criterion(f.change_request));
    }
    for name in &f.gates.checks {
        criteria.push(check(name, &f.checks));
    }
    if let Some(env) = &f.gates.rollback_rehearsed_in {
        criteria.push(rehearsal(env, &f.deployments));
    }
    if let (Some(with), Some(report)) = (&f.gates.parity_with, &f.parity) {
        criteria.push(parity_criterion(with, report));
    }
    criteria.extend(quality_criteria(f));
    criteria.extend(readiness_criteria(f));
    Judgement {
        decision: decision_of(&criteria),
        criteria,
        recheck_at: recheck_at.map(|t| t.to_string()),
    }
}

/// Fail wins over pending, pending over pass.
fn decision_of(criteria: &[Criterion]) -> Decision {
    if criteria.iter().any(|c| c.verdict == Verdict::Fail) {
        Decision::NoGo
    } else if criteria.iter().any(|c| c.verdict == Verdict::Pending) {
        Decision::Wait
    } else {
        Decision::Go
    }
}

fn earlier_wave_criterion((env, outcome): &(Name, Option<bool>)) -> Criterion {
    let (verdict, detail) = match outcome {
        Some(true) => (Verdict::Pass, format!("the earlier wave {env} succeeded")),
        Some(false) => (
            Verdict::Fail,
            format!("the earlier wave {env} did not succeed; later waves stop"),
        ),
        None => (
            Verdict::Pending,
            format!("waiting for the earlier wave {env} to succeed"),
        ),
    };
    criterion(
        "earlier_wave",
        verdict,
        detail,
        json!({ "environment": env }),
    )
}

fn signatures_criterion(signatures: &Result<(), String>) -> Criterion {
    match signatures {
        Ok(()) => criterion(
            "signatures",
            Verdict::Pass,
            "every artifact meets the environment's signature rule".into(),
            Value::Null,
        ),
        Err(why) => criterion("signatures", Verdict::Fail, why.clone(), Value::Null),
    }
}

/// The schedule and the window, with the time to judge again when one of them will change its
/// verdict by itself (the later of the two).
fn timing_criteria(f: &Facts) -> (Vec<Criterion>, Option<Timestamp>) {
    let mut criteria = Vec::new();
    let mut recheck_at = None;
    if let Some(at) = f.scheduled_for.filter(|at| *at > f.now) {
        recheck_at = Some(at);
        criteria.push(criterion(
            "schedule",
            Verdict::Pending,
            format!("scheduled for {at}"),
            json!({ "scheduled_for": at.to_string() }),
        ));
    }
    if !f.gates.calendar.is_unrestricted() {
        let (c, next) = window(f);
        if next.is_some() && recheck_at.is_none_or(|r| next > Some(r)) {
            recheck_at = next;
        }
        criteria.push(c);
    }
    (criteria, recheck_at)
}

fn change_request_criterion(state: Option<ChangeRequestState>) -> Criterion {
    let (verdict, detail) = match state {
        Some(ChangeRequestState::Approved) => (Verdict::Pass, "the change request was approved"),
        Some(ChangeRequestState::Rejected) => (Verdict::Fail, "the change request was rejected"),
        _ => (
            Verdict::Pending,
            "waiting for the CAB to approve the change request",
        ),
    };
    criterion("change_request", verdict, detail.into(), Value::Null)
}

fn parity_criterion(with: &Name, report: &parity::ParityReport) -> Criterion {
    let drift = report.drift();
    if drift.is_empty() {
        criterion(
            "parity",
            Verdict::Pass,
            format!("no undeclared drift from {with}"),
            json!({ "findings": report.findings.len() }),
        )
    } else {
        criterion(
            "parity",
            Verdict::Fail,
            format!(
                "{} undeclared difference(s) from {with}: {}",
                drift.len(),
                report.drift_summary()
            ),
            json!({ "drift": drift }),
        )
    }
}

/// Findings, test runs, flakiness, coverage and the code-quality gate.
fn quality_criteria(f: &Facts) -> Vec<Criterion> {
    let mut criteria = Vec::new();
    if let (Some(gate), Some(findings)) = (&f.gates.findings, &f.findings) {
        criteria.push(findings_criterion(gate, findings, f.now));
    }
    if let Some(gate) = &f.gates.tests {
        criteria.extend(quality::tests_criteria(gate, &f.test_runs));
    }
    criteria.extend(quality::flaky_criteria(&f.gates.flaky, &f.flakiness));
    criteria.extend(quality::coverage_criteria(&f.gates.coverage, &f.coverage));
    if f.gates.quality_gate {
        criteria.push(quality::quality_gate_criterion(f.quality_gate.as_ref()));
    }
    criteria
}

/// Whether the deployment itself can run now: targets, variables, a free environment.
fn readiness_criteria(f: &Facts) -> Vec<Criterion> {
    let mut criteria = Vec::new();
    if let Err(why) = &f.deployable {
        criteria.push(criterion(
            "targets",
            Verdict::Fail,
            why.clone(),
            Value::Null,
        ));
    }
    if let Err(why) = &f.variables {
        criteria.push(criterion(
            "variables",
            Verdict::Fail,
            why.clone(),
            Value::Null,
        ));
    }
    if let Some(id) = f.environment_busy {
        criteria.push(criterion(
            "environment_free",
            Verdict::Pending,
            format!(
                "deployment {id} still runs in {}; this one follows it",
                f.environment
            ),
            json!({ "deployment": id }),
        ));
    }
    criteria
}

fn succeeded_in(deployments: &[PastDeployment], env: &Name) -> Option<i64> {
    deployments
        .iter()
        .rev()
        .find(|d| &d.environment == env && d.kind == DeploymentKind::Deploy && d.succeeded)
        .map(|d| d.id)
}

fn lifecycle_criteria(f: &Facts) -> Vec<Criterion> {
    match &f.placement {
        Placement::Unordered => Vec::new(),
        Placement::Outside { lifecycle, phases } => vec![criterion(
            "lifecycle",
            Verdict::Fail,
            format!(
                "{} is not in lifecycle {lifecycle} (phases: {}); promote along the lifecycle",
                f.environment,
                phases
                    .iter()
                    .map(Name::as_str)
                    .collect::<Vec<_>>()
                    .join(" → ")
            ),
            json!({ "lifecycle": lifecycle }),
        )],
        Placement::Phase {
            lifecycle,
            phase,
            phase_name,
            previous,
        } => {
            let place = criterion(
                "lifecycle",
                Verdict::Pass,
                format!(
                    "{} is in phase {} ({phase_name}) of lifecycle {lifecycle}",
                    f.environment,
                    phase + 1
                ),
                json!({ "lifecycle": lifecycle, "phase": phase_name }),
            );
            if previous.is_empty() {
                return vec![place];
            }
            let found: Vec<(String, Option<i64>)> = previous
                .iter()
                .map(|e| (e.to_string(), succeeded_in(&f.deployments, e)))
                .collect();
            let missing: Vec<&str> = found
                .iter()
                .filter(|(_, d)| d.is_none())
                .map(|(e, _)| e.as_str())
                .collect();
            let evidence = json!(found
                .iter()
                .map(|(e, d)| json!({ "environment": e, "deployment": d }))
                .collect::<Vec<_>>());
            let previous_phase = if missing.is_empty() {
                criterion(
                    "previous_phase",
                    Verdict::Pass,
                    format!(
                        "the release succeeded in {}",
                        previous
                            .iter()
                            .map(Name::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    evidence,
                )
            } else {
                criterion(
                    "previous_phase",
                    Verdict::Fail,
                    format!(
                        "the release has not been deployed successfully to {} (the previous phase) yet; promote it there first",
                        missing.join(", ")
                    ),
                    evidence,
                )
            };
            vec![place, previous_phase]
        }
    }
}

fn approvals(rule: &ApprovalRule, f: &Facts) -> Criterion {
    let eligible: Vec<&Vote> = f
        .votes
        .iter()
        .filter(|v| {
            v.role == rule.role && v.username != f.release_author && v.username != f.requested_by
        })
        .collect();
    let evidence = json!(f.votes);
    if let Some(no) = eligible.iter().find(|v| !v.approve) {
        return criterion(
            "approvals",
            Verdict::Fail,
            format!("{} rejected: {}", no.username, no.comment),
            evidence,
        );
    }
    let yes: Vec<&str> = eligible.iter().map(|v| v.username.as_str()).collect();
    if yes.len() as u32 >= rule.count {
        criterion(
            "approvals",
            Verdict::Pass,
            format!("approved by {}", yes.join(", ")),
            evidence,
        )
    } else {
        criterion(
            "approvals",
            Verdict::Pending,
            format!(
                "{} of {} approvals from the {} role ({}); neither the release's author ({}) nor the requester ({}) may approve",
                yes.len(),
                rule.count,
                rule.role,
                if yes.is_empty() { "none yet".to_string() } else { format!("so far {}", yes.join(", ")) },
                f.release_author,
                f.requested_by
            ),
            evidence,
        )
    }
}

fn window(f: &Facts) -> (Criterion, Option<Timestamp>) {
    let calendar = &f.gates.calendar;
    let evidence = json!({ "now": f.now.to_string(), "calendar": calendar.describe() });
    match calendar.opening(f.now) {
        Opening::Open { .. } => (
            criterion(
                "window",
                Verdict::Pass,
                format!("open now ({})", calendar.describe()),
                evidence,
            ),
            None,
        ),
        Opening::Closed { why, next } => {
            let when = next.map_or("not within a year".to_string(), |t| {
                format!("next opening {t}")
            });
            match f.gates.outside_window {
                OutsideWindow::Wait => (
                    criterion(
                        "window",
                        Verdict::Pending,
                        format!("{why}; waits for the {when}"),
                        evidence,
                    ),
                    next,
                ),
                OutsideWindow::Refuse => (
                    criterion(
                        "window",
                        Verdict::Fail,
                        format!(
                            "{why}; {} refuses promotions outside it ({when})",
                            f.environment
                        ),
                        evidence,
                    ),
                    None,
                ),
            }
        }
    }
}

fn check(name: &Name, results: &[CheckResult]) -> Criterion {
    let key = format!("check.{name}");
    match results.iter().rev().find(|r| &r.name == name) {
        Some(r) => {
            let evidence = serde_json::to_value(r).unwrap_or(Value::Null);
            let link = r
                .url
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default();
            match r.status {
                CheckStatus::Passed => criterion(
                    &key,
                    Verdict::Pass,
                    format!("{name} passed{link}, reported by {}", r.reported_by),
                    evidence,
                ),
                CheckStatus::Failed => criterion(
                    &key,
                    Verdict::Fail,
                    format!("{name} failed{link}: {}", r.details),
                    evidence,
                ),
            }
        }
        None => criterion(
            &key,
            Verdict::Pending,
            format!("waiting for CI to report {name} (`slipway check report --name {name} …`)"),
            Value::Null,
        ),
    }
}

/// How risky a change is, for the change request: the reasons, and low, medium or high.
pub fn assess_risk(protected: bool, plan: &[Step]) -> (String, Vec<String>) {
    let mut reasons = Vec::new();
    if protected {
        reasons.push("the environment is protected".to_string());
    }
    if plan.iter().any(|s| matches!(s.action, Action::RunSql(_))) {
        reasons.push("the plan changes a database schema".to_string());
    }
    if plan
        .iter()
        .any(|s| matches!(s.action.inverse(), Inverse::Irreversible(_)))
    {
        reasons.push("some steps cannot be undone by the derived rollback".to_string());
    }
    let level = match reasons.len() {
        0 => "low",
        1 => "medium",
        _ => "high",
    };
    (level.to_string(), reasons)
}

/// Rehearsed: in `env`, a successful deploy, then a successful rollback of it, then a
/// successful deploy again.
fn rehearsal(env: &Name, deployments: &[PastDeployment]) -> Criterion {
    let mut stage = 0;
    let mut proof = Vec::new();
    for d in deployments
        .iter()
        .filter(|d| &d.environment == env && d.succeeded)
    {
        let next = match (stage, d.kind) {
            (0 | 2, DeploymentKind::Deploy) => stage + 1,
            (1, DeploymentKind::Rollback) => 2,
            _ => stage,
        };
        if next != stage {
            proof.push(d.id);
            stage = next;
        }
        if stage == 3 {
            return criterion(
                "rollback_rehearsed",
                Verdict::Pass,
                format!(
                    "rehearsed in {env}: deployments {} (deploy, rollback, redeploy)",
                    proof
                        .iter()
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                json!({ "environment": env, "deployments": proof }),
            );
        }
    }
    criterion(
        "rollback_rehearsed",
        Verdict::Fail,
        format!("the rollback was not rehearsed in {env}: deploy the release there, roll it back, and deploy it again"),
        json!({ "environment": env, "deployments": proof }),
    )
}

#[cfg(test)]
mod tests;
