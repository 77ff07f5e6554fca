//! Judging a promotion: gather the facts inside the write that records the judgement, write a
//! decision record when the verdicts change, and start the deployment on go. Also the governance
//! loop's step (`tick`): judge what waits, settle what deployed, promote automatically.
//!
//! It never authorises an actor: the people-facing services around it do, before they ask for a
//! judgement.

use serde_json::{json, Value};
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_core::governance::promotion::{place, transition, PromotionEvent, PromotionState};
use slipway_core::governance::{
    judge as judge_facts, Decision, DecisionRecord, Facts, Judgement, PastDeployment, Verdict,
};
use slipway_core::model::Environment;
use slipway_core::Name;
use slipway_store::{PromotionFilter, StoredPromotion, StoredRelease, WriteTx};

use super::{environment, lifecycle_of, open, release_of};
use crate::services::parse_name;
use crate::services::runs::prepare_runs;
use crate::transitions::deployment::{insert_in, NewDeployment};
use crate::{AppState, ServiceError};

/// Gather every fact a judgement needs, inside the write that will record it, and the runs the
/// deployment would have (computed once: they decide the `targets` criterion and, on go, deploy).
pub(super) async fn facts(
    state: &AppState,
    tx: &mut WriteTx<'_>,
    p: &StoredPromotion,
    release: &StoredRelease,
    env: &Environment,
) -> Result<(Facts, Result<Vec<Run>, ServiceError>), ServiceError> {
    let signatures = crate::services::releases::check_environment_policy(state, release, &env.name)
        .await
        .map_err(|e| e.to_string());
    let runs = prepare_runs(state, release, &env.name).await;
    // The fix goes into the record with the finding: a missing agent is enrolled, not overridden.
    let deployable = runs.as_ref().map(|_| ()).map_err(|e| match e.hint() {
        Some(fix) => format!("{e}; {fix}"),
        None => e.to_string(),
    });
    let variables = match &runs {
        Ok(runs) => variables_defined(state, release, &env.name, runs).await?,
        // No runs, no steps to check: the `targets` criterion already says why.
        Err(_) => Ok(()),
    };
    let parity = match &env.gates.parity_with {
        Some(with) => {
            Some(crate::services::parity::compute(state, &release.project, with, &env.name).await?)
        }
        None => None,
    };
    let evidence = QualityEvidence::gather(state, p, env).await?;
    let facts = Facts {
        now: state.clock.now(),
        environment: env.name.clone(),
        protected: env.protected,
        gates: env.gates.clone(),
        placement: place(lifecycle_of(release), &env.name),
        release_author: release.created_by.clone(),
        requested_by: p.requested_by.clone(),
        scheduled_for: p.scheduled_for.as_deref().and_then(|t| t.parse().ok()),
        signatures,
        deployments: past_deployments(tx, p).await?,
        earlier_wave: earlier_wave(tx, p, env).await?,
        votes: tx.votes(p.id).await?,
        checks: tx.checks(&p.project, &p.release_version).await?,
        change_request: tx.change_request_of(p.id).await?.map(|c| c.state),
        environment_busy: tx.busy_deployment(&p.project, &p.environment).await?,
        deployable,
        variables,
        parity,
        findings: evidence.findings,
        test_runs: evidence.test_runs,
        flakiness: evidence.flakiness,
        coverage: evidence.coverage,
        quality_gate: evidence.quality_gate,
    };
    Ok((facts, runs))
}

/// Every deployment of the release in any environment, dry runs left out (they deploy nothing).
async fn past_deployments(
    tx: &mut WriteTx<'_>,
    p: &StoredPromotion,
) -> Result<Vec<PastDeployment>, ServiceError> {
    Ok(tx
        .release_deployments(&p.project, &p.release_version)
        .await?
        .into_iter()
        .filter(|(_, _, kind, _)| !matches!(kind, DeploymentKind::DryRun))
        .filter_map(|(id, e, kind, st)| {
            Some(PastDeployment {
                id,
                environment: Name::parse(&e).ok()?,
                kind,
                succeeded: matches!(st, DeploymentState::Succeeded),
            })
        })
        .collect())
}

/// The earlier wave of the same phase this promotion follows, and its outcome (`None` while it
/// runs).
async fn earlier_wave(
    tx: &mut WriteTx<'_>,
    p: &StoredPromotion,
    env: &Environment,
) -> Result<Option<(Name, Option<bool>)>, ServiceError> {
    let Some(id) = p.after_promotion else {
        return Ok(None);
    };
    Ok(tx.promotion(id).await?.map(|e| {
        let outcome = match e.state {
            PromotionState::Succeeded => Some(true),
            s if s.is_final() => Some(false),
            _ => None,
        };
        (
            Name::parse(&e.environment).unwrap_or_else(|_| env.name.clone()),
            outcome,
        )
    }))
}

/// The quality evidence the environment's gates ask for; each part is read only when its gate
/// is set.
struct QualityEvidence {
    findings: Option<Vec<slipway_core::governance::FindingFact>>,
    test_runs: Vec<slipway_core::governance::SuiteRunFact>,
    flakiness: Vec<slipway_core::governance::FlakyFact>,
    coverage: Vec<slipway_core::governance::CoverageFact>,
    quality_gate: Option<slipway_core::governance::QualityGateFact>,
}

impl QualityEvidence {
    async fn gather(
        state: &AppState,
        p: &StoredPromotion,
        env: &Environment,
    ) -> Result<QualityEvidence, ServiceError> {
        let gates = &env.gates;
        let (project, version) = (&p.project, &p.release_version);
        let findings = match &gates.findings {
            Some(_) => Some(crate::services::findings::carried(state, project, version).await?),
            None => None,
        };
        let test_runs = match &gates.tests {
            Some(gate) => {
                crate::services::flakiness::suite_runs(state, project, version, gate).await?
            }
            None => Vec::new(),
        };
        let flakiness =
            crate::services::flakiness::flaky_facts(state, project, &gates.flaky).await?;
        let coverage = if gates.coverage.is_empty() {
            Vec::new()
        } else {
            crate::services::coverage::facts(state, project, version).await?
        };
        let quality_gate = if gates.quality_gate {
            crate::services::sonar::fact(state, project, version).await?
        } else {
            None
        };
        Ok(QualityEvidence {
            findings,
            test_runs,
            flakiness,
            coverage,
            quality_gate,
        })
    }
}

/// Every `${NAME}` of the steps that would run has a value on each of their targets, with the
/// values the deployment would see: otherwise the step fails mid-deployment and rolls back.
async fn variables_defined(
    state: &AppState,
    release: &StoredRelease,
    environment: &Name,
    runs: &[Run],
) -> Result<Result<(), String>, ServiceError> {
    let values = crate::services::variables::deployment_values(state, release).await?;
    let roles_of: std::collections::BTreeMap<String, Vec<Name>> =
        crate::services::targets::enrolled_in(state, environment)
            .await?
            .into_iter()
            .map(|t| {
                let roles = t.roles.iter().filter_map(|r| Name::parse(r).ok()).collect();
                (t.name, roles)
            })
            .collect();
    let mut problems = Vec::new();
    for run in runs {
        let parameters = serde_json::to_value(&run.action).unwrap_or_default();
        let mut missing = std::collections::BTreeSet::new();
        for target in run.batches.iter().flatten() {
            let roles = roles_of.get(target).map(Vec::as_slice).unwrap_or_default();
            let defined = slipway_core::deploy::vars::resolve(&values, environment, roles);
            missing.extend(slipway_core::deploy::vars::undefined_in(
                &parameters,
                &defined,
            ));
        }
        for name in missing {
            problems.push(format!(
                "step {} \"{}\" needs ${{{name}}}, which has no value in {environment}",
                run.step, run.name
            ));
        }
    }
    if problems.is_empty() {
        return Ok(Ok(()));
    }
    Ok(Err(format!(
        "{}; give it one (`slipway variable set --project {} --name NAME --env {environment} --value …`, or declare it in slipway.yaml), then create a new release: a release keeps the variables of its creation (secrets excepted)",
        problems.join("; "),
        release.project
    )))
}

fn verdicts(j: &Judgement) -> Vec<(String, Verdict)> {
    j.criteria
        .iter()
        .map(|c| (c.name.clone(), c.verdict))
        .collect()
}

fn decision_entry(p: &StoredPromotion, j: &Judgement, overridden: Option<&Value>) -> AuditEntry {
    AuditEntry {
        actor: "slipway".into(),
        verb: "promotion.decision".into(),
        subject: format!("promotion/{}", p.id),
        details: json!({
            "project": p.project, "release": p.release_version, "environment": p.environment,
            "promotion": p.id, "decision": j.decision.as_str(),
            "waiting_for": j.names(Verdict::Pending), "failing": j.names(Verdict::Fail),
            "override": overridden,
        }),
    }
}

/// The release and the environment a stored promotion is about.
pub(super) async fn subject_of(
    state: &AppState,
    p: &StoredPromotion,
) -> Result<(StoredRelease, Environment), ServiceError> {
    let project = parse_name("project", &p.project)?;
    let release = release_of(state, &project, &p.release_version).await?;
    let env = environment(state, &parse_name("environment", &p.environment)?).await?;
    Ok((release, env))
}

/// Judge a waiting promotion again and act on the decision. Returns the new state when it
/// changed.
pub async fn judge(state: &AppState, id: i64) -> Result<Option<PromotionState>, ServiceError> {
    let Some(p) = state.store.promotion(id).await? else {
        return Ok(None);
    };
    let (release, env) = subject_of(state, &p).await?;
    let mut tx = state.store.write().await?;
    let Some(mut p) = tx.promotion(id).await? else {
        return Ok(None);
    };
    if p.state != PromotionState::Waiting {
        return Ok(None);
    }
    let (facts, runs) = facts(state, &mut tx, &p, &release, &env).await?;
    let judgement = judge_facts(&facts);
    let last = tx.decisions(id).await?.pop();
    let last_verdicts = last
        .as_ref()
        .and_then(|d| DecisionRecord::read(&d.record).map(|r| r.judgement))
        .map(|j| verdicts(&j));
    let changed = last_verdicts.as_ref() != Some(&verdicts(&judgement));
    let next = transition(p.state, PromotionEvent::Judged(judgement.decision))
        .map_err(|e| ServiceError::state(e.to_string(), ""))?;
    if !changed && next == p.state && p.recheck_at == judgement.recheck_at {
        return Ok(None);
    }
    if changed {
        let record = DecisionRecord {
            judgement: judgement.clone(),
            facts_at: facts.now.to_string(),
            overridden: None,
        };
        tx.insert_decision(id, judgement.decision.as_str(), &record.to_value())
            .await?;
        tx.audit(decision_entry(&p, &judgement, None));
    }
    if judgement.decision == Decision::Go {
        start_deployment(&mut tx, &mut p, &release, &env, runs?).await?;
    }
    p.state = next;
    p.recheck_at = judgement.recheck_at.clone();
    tx.update_promotion(&p).await?;
    if !changed {
        tx.audit(AuditEntry {
            actor: "slipway".into(),
            verb: "promotion.recheck".into(),
            subject: format!("promotion/{id}"),
            details: json!({ "recheck_at": p.recheck_at }),
        });
    }
    tx.commit().await?;
    state.wake_orchestrator();
    Ok((next != PromotionState::Waiting).then_some(next))
}

pub(super) async fn start_deployment(
    tx: &mut WriteTx<'_>,
    p: &mut StoredPromotion,
    release: &StoredRelease,
    env: &Environment,
    runs: Vec<Run>,
) -> Result<(), ServiceError> {
    let d = insert_in(
        tx,
        NewDeployment {
            requested_by: &p.requested_by,
            project: &release.project,
            version: &release.version.to_string(),
            environment: &env.name,
            kind: DeploymentKind::Deploy,
            rollback_of: None,
            runs,
            reason: None,
        },
    )
    .await?;
    p.deployment_id = Some(d.id);
    Ok(())
}

/// The governance loop's step: judge waiting promotions whose time has come, settle those
/// whose deployment ended, and start automatic promotions into the next phase.
pub async fn tick(state: &AppState) -> Result<(), ServiceError> {
    let open = state
        .store
        .promotions(&PromotionFilter {
            states: vec![PromotionState::Waiting, PromotionState::Deploying],
            ..PromotionFilter::default()
        })
        .await?;
    for p in open {
        match p.state {
            PromotionState::Waiting => {
                judge(state, p.id).await?;
            }
            PromotionState::Deploying => settle(state, &p).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn settle(state: &AppState, p: &StoredPromotion) -> Result<(), ServiceError> {
    let Some(deployment_id) = p.deployment_id else {
        return Ok(());
    };
    let Some(d) = state.store.deployment(deployment_id).await? else {
        return Ok(());
    };
    if !d.state.is_final() {
        return Ok(());
    }
    let succeeded = matches!(d.state, DeploymentState::Succeeded);
    let mut tx = state.store.write().await?;
    let Some(mut p) = tx.promotion(p.id).await? else {
        return Ok(());
    };
    if p.state != PromotionState::Deploying {
        return Ok(());
    }
    p.state = transition(p.state, PromotionEvent::DeploymentEnded { succeeded })
        .map_err(|e| ServiceError::state(e.to_string(), ""))?;
    tx.update_promotion(&p).await?;
    tx.audit(AuditEntry {
        actor: "slipway".into(),
        verb: "promotion.finish".into(),
        subject: format!("promotion/{}", p.id),
        details: json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": p.id, "deployment": deployment_id, "state": p.state }),
    });
    tx.commit().await?;
    if succeeded {
        promote_automatically(state, &p).await?;
    }
    Ok(())
}

/// After a success, the next phase of the lifecycle, when it says `automatic: true`.
async fn promote_automatically(state: &AppState, p: &StoredPromotion) -> Result<(), ServiceError> {
    let project = parse_name("project", &p.project)?;
    let release = release_of(state, &project, &p.release_version).await?;
    let Some(lifecycle) = lifecycle_of(&release) else {
        return Ok(());
    };
    let Ok(env) = Name::parse(&p.environment) else {
        return Ok(());
    };
    let Some(next) = slipway_core::governance::promotion::automatic_next(lifecycle, &env) else {
        return Ok(());
    };
    // Only once every environment of this phase has the release.
    let done = state
        .store
        .release_deployments(&p.project, &p.release_version)
        .await?;
    let phase_done = lifecycle
        .phases
        .iter()
        .find(|ph| ph.environments.contains(&env))
        .is_some_and(|ph| {
            ph.environments.iter().all(|e| {
                done.iter().any(|d| {
                    d.environment == e.as_str()
                        && matches!(
                            (d.kind, d.state),
                            (DeploymentKind::Deploy, DeploymentState::Succeeded)
                        )
                })
            })
        });
    if !phase_done {
        return Ok(());
    }
    open_phase(state, &release, next).await?;
    Ok(())
}

/// A new release enters its lifecycle's first phase by itself when that phase says
/// `automatic: true` — what Octopus does for a lifecycle's first phase. Requested by `slipway`,
/// judged by the same gates; returns the promotions opened.
pub async fn enter_first_phase(
    state: &AppState,
    release: &StoredRelease,
) -> Result<Vec<i64>, ServiceError> {
    let Some(lifecycle) = lifecycle_of(release) else {
        return Ok(Vec::new());
    };
    let Some(first) = slipway_core::governance::promotion::automatic_first(lifecycle) else {
        return Ok(Vec::new());
    };
    open_phase(state, release, first).await
}

/// Open a promotion into each environment of `phase`, in waves (each after the one before),
/// then judge them. A promotion already waiting in one of them stops the opening there.
async fn open_phase(
    state: &AppState,
    release: &StoredRelease,
    phase: &slipway_core::model::Phase,
) -> Result<Vec<i64>, ServiceError> {
    let mut after = None;
    let mut ids = Vec::new();
    for name in &phase.environments {
        let env = environment(state, name).await?;
        match open(state, "slipway", release, &env, after, None).await {
            Ok(id) => {
                after = Some(id);
                ids.push(id);
            }
            // Already waiting there: nothing to add.
            Err(ServiceError::State { .. }) => break,
            Err(e) => return Err(e),
        }
    }
    for id in &ids {
        judge(state, *id).await?;
    }
    Ok(ids)
}
