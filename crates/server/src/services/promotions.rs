//! Promotions: a release asked into an environment, judged against its gates, recorded as a
//! go/no-go decision, then deployed — at once, or when what it waits for arrives (approvals, the
//! window, the CAB, CI's checks, an earlier wave).
//!
//! Every judgement re-reads the facts inside the write that records it. A new decision record
//! is written when the verdicts change, so the record tells the promotion's story without
//! repeating itself every second.

use serde::Serialize;
use serde_json::{json, Value};
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::governance::promotion::{
    destinations, place, transition, PromotionEvent, PromotionState,
};
use slipway_core::governance::{
    assess_risk, judge as judge_facts, ChangeRequestState, CheckResult, CheckStatus, Decision,
    Facts, Judgement, PastDeployment, Verdict, Vote,
};
use slipway_core::model::{Environment, Lifecycle};
use slipway_core::release::Version;
use slipway_core::Name;
use slipway_store::{
    PromotionFilter, StoredChangeRequest, StoredDecision, StoredDeployment, StoredPromotion,
    StoredRelease, WriteTx,
};

use super::runs::prepare_runs;
use super::{entry, parse_name, require};
use crate::auth::Actor;
use crate::transitions::deployment::insert_in;
use crate::{AppState, ServiceError};
use slipway_core::deploy::progress::Run;

/// A promotion with what a person needs to follow it.
#[derive(Debug, Clone, Serialize)]
pub struct PromotionView {
    #[serde(flatten)]
    pub promotion: StoredPromotion,
    pub decisions: Vec<StoredDecision>,
    pub votes: Vec<Vote>,
    pub change_request: Option<StoredChangeRequest>,
}

/// What asking for a deployment led to.
#[derive(Debug)]
pub enum Started {
    Deployment(StoredDeployment),
    /// Judged "wait": the promotion deploys once what it waits for arrives.
    Waiting(PromotionView),
}

async fn release_of(
    state: &AppState,
    project: &Name,
    version: &str,
) -> Result<StoredRelease, ServiceError> {
    let version = Version::parse(version)
        .map_err(|e| ServiceError::invalid(e.to_string(), "e.g. --release 1.4.2"))?;
    state
        .store
        .release(project, &version)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("release {version} of {project}"),
                "list releases with `slipway release list --project P`",
            )
        })
}

fn lifecycle_of(release: &StoredRelease) -> Option<&Lifecycle> {
    let name = release.lifecycle.as_ref()?;
    release
        .snapshot
        .project
        .lifecycles
        .iter()
        .find(|l| &l.name == name)
}

async fn environment(state: &AppState, name: &Name) -> Result<Environment, ServiceError> {
    state.store.environment(name).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("environment {name}"),
            "list them with `slipway env list`",
        )
    })
}

fn parse_time(at: &str) -> Result<jiff::Timestamp, ServiceError> {
    at.parse().map_err(|_| {
        ServiceError::invalid(
            format!("`{at}` is not a time"),
            "give an RFC 3339 time with its offset, e.g. 2026-11-24T20:30:00+01:00",
        )
    })
}

/// `slipway promote`: ask a release into an environment, or into every environment of a phase
/// (deployed in waves, each waiting for the one before it).
pub async fn request(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
    to: &Name,
    at: Option<&str>,
) -> Result<Vec<PromotionView>, ServiceError> {
    let release = release_of(state, project, version).await?;
    let scheduled_for = at.map(parse_time).transpose()?;
    let mut envs = Vec::new();
    for name in destinations(lifecycle_of(&release), to) {
        let env = environment(state, &name).await?;
        require(
            state,
            actor,
            Operation::Deploy {
                protected: env.protected,
            },
            &format!("project/{project}/environment/{name}"),
        )
        .await?;
        if let Some(at) = scheduled_for {
            if let slipway_core::gates::calendar::Opening::Closed { why, next } =
                env.gates.calendar.opening(at)
            {
                return Err(ServiceError::invalid(
                    format!("{at} is not a time {name} accepts deployments: {why}"),
                    match next {
                        Some(t) => format!("schedule it inside the window, e.g. --at {t}"),
                        None => "schedule it inside the window".to_string(),
                    },
                ));
            }
        }
        envs.push(env);
    }
    let mut ids = Vec::new();
    let mut after = None;
    for env in &envs {
        let id = open(state, &actor.username, &release, env, after, scheduled_for).await?;
        after = Some(id);
        ids.push(id);
    }
    for id in &ids {
        judge(state, *id).await?;
    }
    let mut views = Vec::new();
    for id in ids {
        views.push(view(state, id).await?);
    }
    if let Some(refused) = views
        .iter()
        .find(|v| v.promotion.state == PromotionState::Refused)
    {
        return Err(refusal(refused));
    }
    Ok(views)
}

/// A direct `slipway deploy` is a promotion into one environment: the same gates apply.
pub async fn deploy_now(
    state: &AppState,
    actor: &Actor,
    release: &StoredRelease,
    env: &Environment,
) -> Result<Started, ServiceError> {
    let id = open(state, &actor.username, release, env, None, None).await?;
    judge(state, id).await?;
    let view = view(state, id).await?;
    match view.promotion.state {
        PromotionState::Refused => Err(refusal(&view)),
        PromotionState::Waiting => Ok(Started::Waiting(view)),
        _ => {
            let deployment_id = view.promotion.deployment_id.ok_or_else(|| {
                ServiceError::state(format!("promotion {id} has no deployment"), "")
            })?;
            let d = state
                .store
                .deployment(deployment_id)
                .await?
                .ok_or_else(|| {
                    ServiceError::not_found(format!("deployment {deployment_id}"), "")
                })?;
            Ok(Started::Deployment(d))
        }
    }
}

fn refusal(view: &PromotionView) -> ServiceError {
    let why = view
        .decisions
        .last()
        .and_then(|d| serde_json::from_value::<Judgement>(d.record["judgement"].clone()).ok())
        .map(|j| j.explain())
        .unwrap_or_default();
    ServiceError::Policy {
        message: format!(
            "no-go: release {} of {} may not enter {} (promotion {}): {why}",
            view.promotion.release_version,
            view.promotion.project,
            view.promotion.environment,
            view.promotion.id
        ),
        hint: format!(
            "the decision record is kept (`slipway promotion show {}`); fix what fails and promote again, or an admin overrides with `slipway promotion override {} --reason …`",
            view.promotion.id, view.promotion.id
        ),
    }
}

/// Store a new promotion (and its change request when the environment wants one).
async fn open(
    state: &AppState,
    requested_by: &str,
    release: &StoredRelease,
    env: &Environment,
    after: Option<i64>,
    scheduled_for: Option<jiff::Timestamp>,
) -> Result<i64, ServiceError> {
    let mut tx = state.store.write().await?;
    let active = tx
        .promotions(&PromotionFilter {
            project: Some(release.project.to_string()),
            environment: Some(env.name.to_string()),
            states: vec![PromotionState::Waiting],
            ..PromotionFilter::default()
        })
        .await?;
    if let Some(p) = active.first() {
        return Err(ServiceError::state(
            format!(
                "promotion {} of {} {} into {} is already waiting",
                p.id, p.project, p.release_version, p.environment
            ),
            format!(
                "cancel it first (`slipway promotion cancel {}`), or give it what it waits for",
                p.id
            ),
        ));
    }
    let mut p = StoredPromotion {
        id: 0,
        project: release.project.to_string(),
        release_version: release.version.to_string(),
        environment: env.name.to_string(),
        after_promotion: after,
        state: PromotionState::Waiting,
        requested_by: requested_by.to_string(),
        requested_at: String::new(),
        scheduled_for: scheduled_for.map(|t| t.to_string()),
        recheck_at: None,
        deployment_id: None,
        updated_at: String::new(),
    };
    p.id = tx.insert_promotion(&p).await?;
    tx.audit(AuditEntry {
        actor: requested_by.to_string(),
        verb: "promotion.request".into(),
        subject: format!("promotion/{}", p.id),
        details: json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": p.id, "scheduled_for": p.scheduled_for, "after_promotion": after }),
    });
    if env.gates.requires_change_request(env.protected) {
        let body = change_request_body(release, env, &p);
        let rfc = tx.open_change_request(p.id, &body).await?;
        tx.audit(AuditEntry {
            actor: requested_by.to_string(),
            verb: "change_request.open".into(),
            subject: format!("change_request/{rfc}"),
            details: json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": p.id, "change_request": rfc, "body": body }),
        });
    }
    tx.commit().await?;
    Ok(p.id)
}

/// The RFC, pre-filled from the release: notes, artifacts, plan, rollback plan, risk, window.
fn change_request_body(release: &StoredRelease, env: &Environment, p: &StoredPromotion) -> Value {
    let project = &release.snapshot.project;
    let steps = project.steps_for(&env.name);
    let plan: Vec<String> = steps
        .iter()
        .map(|(n, s)| format!("{n}. {} ({})", s.name, s.action.summary()))
        .collect();
    let rollback = slipway_core::rollback::derive_rollback(&steps);
    let owned: Vec<slipway_core::plan::Step> = steps.iter().map(|(_, s)| (*s).clone()).collect();
    let (risk, reasons) = assess_risk(env.protected, &owned);
    json!({
        "title": format!("Deploy {} {} to {}", release.project, release.version, env.name),
        "project": release.project,
        "release": release.version.to_string(),
        "channel": release.channel,
        "environment": env.name,
        "requested_by": p.requested_by,
        "scheduled_for": p.scheduled_for,
        "window": env.gates.calendar.describe(),
        "notes": release.notes.to_markdown(),
        "artifacts": release.artifacts.iter().map(|a| json!({ "component": a.component, "version": a.version, "digest": a.digest.to_string() })).collect::<Vec<_>>(),
        "plan": plan,
        "rollback_plan": rollback.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "not_undone": rollback.left_as_is.iter().map(|l| format!("{}: {}", l.name, l.reason)).collect::<Vec<_>>(),
        "risk": { "level": risk, "reasons": reasons },
    })
}

/// Gather every fact a judgement needs, inside the write that will record it, and the runs the
/// deployment would have (computed once: they decide the `targets` criterion and, on go, deploy).
async fn facts(
    state: &AppState,
    tx: &mut WriteTx<'_>,
    p: &StoredPromotion,
    release: &StoredRelease,
    env: &Environment,
) -> Result<(Facts, Result<Vec<Run>, ServiceError>), ServiceError> {
    let deployments = tx
        .release_deployments(&p.project, &p.release_version)
        .await?
        .into_iter()
        .filter(|(_, _, kind, _)| kind != "dry_run")
        .filter_map(|(id, e, kind, st)| {
            Some(PastDeployment {
                id,
                environment: Name::parse(&e).ok()?,
                kind,
                succeeded: st == "succeeded",
            })
        })
        .collect();
    let earlier_wave = match p.after_promotion {
        None => None,
        Some(id) => tx.promotion(id).await?.map(|e| {
            let outcome = match e.state {
                PromotionState::Succeeded => Some(true),
                s if s.is_final() => Some(false),
                _ => None,
            };
            (
                Name::parse(&e.environment).unwrap_or_else(|_| env.name.clone()),
                outcome,
            )
        }),
    };
    let signatures = crate::services::releases::check_environment_policy(state, release, &env.name)
        .await
        .map_err(|e| e.to_string());
    let runs = prepare_runs(state, release, &env.name).await;
    let deployable = runs.as_ref().map(|_| ()).map_err(|e| e.to_string());
    let parity = match &env.gates.parity_with {
        Some(with) => {
            Some(crate::services::parity::compute(state, &release.project, with, &env.name).await?)
        }
        None => None,
    };
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
        deployments,
        earlier_wave,
        votes: tx.votes(p.id).await?,
        checks: tx.checks(&p.project, &p.release_version).await?,
        change_request: tx.change_request_of(p.id).await?.map(|c| c.state),
        environment_busy: tx.busy_deployment(&p.project, &p.environment).await?,
        deployable,
        parity,
    };
    Ok((facts, runs))
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
async fn subject_of(
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
        .and_then(|d| serde_json::from_value::<Judgement>(d.record["judgement"].clone()).ok())
        .map(|j| verdicts(&j));
    let changed = last_verdicts.as_ref() != Some(&verdicts(&judgement));
    let next = transition(p.state, PromotionEvent::Judged(judgement.decision))
        .map_err(|e| ServiceError::state(e.to_string(), ""))?;
    if !changed && next == p.state && p.recheck_at == judgement.recheck_at {
        return Ok(None);
    }
    if changed {
        let record = json!({ "judgement": judgement, "facts_at": facts.now.to_string() });
        tx.insert_decision(id, judgement.decision.as_str(), &record)
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

async fn start_deployment(
    tx: &mut WriteTx<'_>,
    p: &mut StoredPromotion,
    release: &StoredRelease,
    env: &Environment,
    runs: Vec<Run>,
) -> Result<(), ServiceError> {
    let d = insert_in(
        tx,
        &p.requested_by,
        &release.project,
        &release.version.to_string(),
        &env.name,
        "deploy",
        None,
        runs,
    )
    .await?;
    p.deployment_id = Some(d.id);
    Ok(())
}

/// Approve or reject a waiting promotion. The approvals gate says which role may vote; the
/// release's author and the person who asked for the promotion may not (four eyes).
pub async fn vote(
    state: &AppState,
    actor: &Actor,
    id: i64,
    approve: bool,
    comment: &str,
) -> Result<PromotionView, ServiceError> {
    let p = get_promotion(state, id).await?;
    let (release, env) = subject_of(state, &p).await?;
    let verb = if approve { "approve" } else { "reject" };
    if comment.trim().is_empty() {
        return Err(ServiceError::invalid(
            format!("a comment is required to {verb}"),
            "say what you checked, e.g. --comment \"rollback plan reviewed, window agreed\"",
        ));
    }
    if p.state != PromotionState::Waiting {
        return Err(ServiceError::state(
            format!("promotion {id} is {}; votes are closed", p.state),
            "votes count only while a promotion waits",
        ));
    }
    let Some(rule) = env.gates.approvals.clone() else {
        return Err(ServiceError::invalid(
            format!("{} asks for no approvals", env.name),
            "nothing to approve here",
        ));
    };
    let refuse = |message: String, hint: &str| ServiceError::Refused {
        message,
        hint: hint.to_string(),
    };
    let refused = if actor.role != rule.role {
        Some(refuse(
            format!(
                "approvals for {} come from the {} role; you hold the {} role",
                env.name, rule.role, actor.role
            ),
            &format!("ask someone with the {} role", rule.role),
        ))
    } else if actor.username == release.created_by {
        Some(refuse(
            format!(
                "you created release {} of {}: under the four-eyes rule its author may not {verb} it",
                release.version, release.project
            ),
            "ask another member of the role",
        ))
    } else if actor.username == p.requested_by {
        Some(refuse(
            format!(
                "you asked for promotion {id}: under the four-eyes rule the requester may not {verb} it"
            ),
            "ask another member of the role",
        ))
    } else {
        None
    };
    let subject = format!("promotion/{id}");
    let mut tx = state.store.write().await?;
    if let Some(err) = refused {
        tx.audit(entry(
            actor,
            "access.denied",
            subject,
            json!({ "role": actor.role.as_str(), "wanted": format!("{verb} promotion {id}"), "reason": err.to_string() }),
        ));
        tx.commit().await?;
        return Err(err);
    }
    let vote = Vote {
        username: actor.username.clone(),
        role: actor.role,
        approve,
        comment: comment.trim().to_string(),
        at: slipway_store::now(),
    };
    tx.put_vote(id, &vote).await?;
    tx.audit(entry(
        actor,
        &format!("approval.{verb}"),
        subject,
        json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": id, "comment": vote.comment }),
    ));
    tx.commit().await?;
    judge(state, id).await?;
    view(state, id).await
}

/// Let a waiting or refused promotion through, with a written reason (admins only).
pub async fn override_decision(
    state: &AppState,
    actor: &Actor,
    id: i64,
    reason: &str,
) -> Result<PromotionView, ServiceError> {
    let subject = format!("promotion/{id}");
    require(state, actor, Operation::OverrideDecision, &subject).await?;
    if reason.trim().len() < 10 {
        return Err(ServiceError::invalid(
            "an override needs a written reason of at least 10 characters",
            "e.g. --reason \"incident INC-4211: security fix, CAB informed by phone\"",
        ));
    }
    let p = get_promotion(state, id).await?;
    let (release, env) = subject_of(state, &p).await?;
    let mut tx = state.store.write().await?;
    let mut p = tx
        .promotion(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("promotion {id}"), ""))?;
    let next = transition(p.state, PromotionEvent::Overridden)
        .map_err(|e| ServiceError::state(e.to_string(), ""))?;
    let (facts, runs) = facts(state, &mut tx, &p, &release, &env).await?;
    let judgement = judge_facts(&facts);
    let overridden =
        json!({ "by": actor.username, "role": actor.role.as_str(), "reason": reason.trim() });
    let record = json!({ "judgement": judgement, "facts_at": facts.now.to_string(), "override": overridden });
    tx.insert_decision(id, "go", &record).await?;
    tx.audit(entry(
        actor,
        "promotion.override",
        subject,
        json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": id, "reason": reason.trim(), "overridden": judgement.decision.as_str(), "criteria": judgement.explain() }),
    ));
    start_deployment(&mut tx, &mut p, &release, &env, runs?).await?;
    p.state = next;
    p.recheck_at = None;
    tx.update_promotion(&p).await?;
    tx.commit().await?;
    state.wake_orchestrator();
    view(state, id).await
}

pub async fn cancel(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<PromotionView, ServiceError> {
    let p = get_promotion(state, id).await?;
    let env = environment(state, &parse_name("environment", &p.environment)?).await?;
    let subject = format!("promotion/{id}");
    require(
        state,
        actor,
        Operation::Deploy {
            protected: env.protected,
        },
        &subject,
    )
    .await?;
    let mut tx = state.store.write().await?;
    let mut p = tx
        .promotion(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("promotion {id}"), ""))?;
    p.state = transition(p.state, PromotionEvent::Cancel)
        .map_err(|e| ServiceError::state(e.to_string(), ""))?;
    tx.update_promotion(&p).await?;
    tx.audit(entry(
        actor,
        "promotion.cancel",
        subject,
        json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": id }),
    ));
    tx.commit().await?;
    view(state, id).await
}

/// CI reports a named check for a release; waiting promotions of the release are judged again.
#[allow(clippy::too_many_arguments)]
pub async fn report_check(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
    name: &Name,
    status: CheckStatus,
    url: Option<String>,
    details: String,
) -> Result<CheckResult, ServiceError> {
    require(
        state,
        actor,
        Operation::ReportCheck,
        &format!("release/{project}/{version}"),
    )
    .await?;
    let release = release_of(state, project, version).await?;
    let subject = format!("release/{project}/{}/check/{name}", release.version);
    if let Some(u) = &url {
        if !(u.starts_with("https://") || u.starts_with("http://")) {
            return Err(ServiceError::invalid(
                format!("--url `{u}` is not an http(s) link"),
                "give the link to the CI job or report",
            ));
        }
    }
    let check = CheckResult {
        name: name.clone(),
        status,
        url,
        details,
        reported_by: actor.username.clone(),
        reported_at: slipway_store::now(),
    };
    let release_version = release.version.to_string();
    let mut tx = state.store.write().await?;
    tx.insert_check(project.as_str(), &release_version, &check)
        .await?;
    tx.audit(entry(
        actor,
        "check.report",
        subject,
        json!({ "project": project, "release": release_version, "check": check }),
    ));
    tx.commit().await?;
    rejudge_release(state, project.as_str(), &release_version).await?;
    Ok(check)
}

async fn rejudge_release(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<(), ServiceError> {
    let waiting = state
        .store
        .promotions(&PromotionFilter {
            project: Some(project.to_string()),
            release: Some(release.to_string()),
            states: vec![PromotionState::Waiting],
            ..PromotionFilter::default()
        })
        .await?;
    for p in waiting {
        judge(state, p.id).await?;
    }
    Ok(())
}

/// The CAB approves or rejects a change request.
pub async fn decide_change_request(
    state: &AppState,
    actor: &Actor,
    id: i64,
    approve: bool,
    comment: &str,
) -> Result<StoredChangeRequest, ServiceError> {
    let subject = format!("change_request/{id}");
    require(state, actor, Operation::DecideChangeRequest, &subject).await?;
    decide_rfc(state, &actor.username, id, approve, comment).await
}

/// An ITSM tool decides a change request it mirrors: the call is signed like the webhook that
/// feeds the tool (`X-Slipway-Webhook` names it), fresh within five minutes, and recorded as
/// decided by `itsm:WEBHOOK:PERSON`.
pub async fn itsm_callback(
    state: &AppState,
    id: i64,
    webhook: &str,
    timestamp: i64,
    signature: &str,
    body: &[u8],
) -> Result<StoredChangeRequest, ServiceError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Answer {
        approve: bool,
        comment: String,
        by: String,
    }
    let unauthorised = |why: &str| {
        ServiceError::Refused {
        message: format!("the callback for change request {id} is refused: {why}"),
        hint: "sign `TIMESTAMP.BODY` with HMAC-SHA256 and the webhook's secret, as Slipway signs its deliveries (docs/webhooks.md)".into(),
    }
    };
    let sealed = state
        .store
        .webhook_secret(webhook)
        .await?
        .ok_or_else(|| unauthorised("no webhook has that name"))?;
    let secret = state
        .secrets
        .open(&crate::services::webhooks::secret_slot(webhook), &sealed)
        .ok_or_else(|| unauthorised("the webhook's secret cannot be opened"))?;
    slipway_core::notify::verify_callback(
        &secret,
        timestamp,
        body,
        signature,
        jiff::Timestamp::now().as_second(),
        300,
    )
    .map_err(unauthorised)?;
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ServiceError::invalid(
            format!("the callback body is not {{\"approve\": bool, \"comment\": \"…\", \"by\": \"…\"}}: {e}"),
            "",
        )
    })?;
    let by = format!("itsm:{webhook}:{}", answer.by.trim());
    decide_rfc(state, &by, id, answer.approve, &answer.comment).await
}

pub(crate) async fn decide_rfc(
    state: &AppState,
    by: &str,
    id: i64,
    approve: bool,
    comment: &str,
) -> Result<StoredChangeRequest, ServiceError> {
    if comment.trim().is_empty() {
        return Err(ServiceError::invalid(
            "a comment is required to decide a change request",
            "e.g. --comment \"CAB of 2026-11-24: approved\"",
        ));
    }
    let verdict = if approve {
        ChangeRequestState::Approved
    } else {
        ChangeRequestState::Rejected
    };
    let mut tx = state.store.write().await?;
    let rfc = tx.change_request(id).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("change request {id}"),
            "list them with `slipway rfc list`",
        )
    })?;
    if !tx
        .decide_change_request(id, verdict, by, comment.trim())
        .await?
    {
        return Err(ServiceError::state(
            format!("change request {id} was already decided ({:?})", rfc.state),
            "a decided change request does not change; promote again for a new one",
        ));
    }
    tx.audit(AuditEntry {
        actor: by.to_string(),
        verb: "change_request.decide".into(),
        subject: format!("change_request/{id}"),
        details: json!({ "project": rfc.body["project"], "release": rfc.body["release"], "environment": rfc.body["environment"], "promotion": rfc.promotion_id, "change_request": id, "approved": approve, "comment": comment.trim() }),
    });
    tx.commit().await?;
    judge(state, rfc.promotion_id).await?;
    state
        .store
        .change_request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("change request {id}"), ""))
}

async fn get_promotion(state: &AppState, id: i64) -> Result<StoredPromotion, ServiceError> {
    state.store.promotion(id).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("promotion {id}"),
            "list them with `slipway promotion list`",
        )
    })
}

async fn view(state: &AppState, id: i64) -> Result<PromotionView, ServiceError> {
    let promotion = get_promotion(state, id).await?;
    Ok(PromotionView {
        decisions: state.store.decisions(id).await?,
        votes: state.store.votes(id).await?,
        change_request: state.store.change_request_of(id).await?,
        promotion,
    })
}

/// Every promotion of a release, oldest first, with its records (for the evidence bundle).
pub(crate) async fn of_release(
    state: &AppState,
    project: &str,
    release: &str,
) -> Result<Vec<PromotionView>, ServiceError> {
    let mut views = Vec::new();
    for p in state
        .store
        .promotions(&PromotionFilter {
            project: Some(project.to_string()),
            release: Some(release.to_string()),
            ..PromotionFilter::default()
        })
        .await?
    {
        views.push(view(state, p.id).await?);
    }
    Ok(views)
}

pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<PromotionView, ServiceError> {
    require(state, actor, Operation::Read, &format!("promotion/{id}")).await?;
    view(state, id).await
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    filter: &PromotionFilter,
) -> Result<Vec<StoredPromotion>, ServiceError> {
    require(state, actor, Operation::Read, "promotions").await?;
    Ok(state.store.promotions(filter).await?)
}

pub async fn change_requests(
    state: &AppState,
    actor: &Actor,
    open_only: bool,
) -> Result<Vec<StoredChangeRequest>, ServiceError> {
    require(state, actor, Operation::Read, "change_requests").await?;
    Ok(state.store.change_requests(open_only).await?)
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
    let succeeded = d.state.as_str() == "succeeded";
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
                        && d.kind == "deploy"
                        && d.state.as_str() == "succeeded"
                })
            })
        });
    if !phase_done {
        return Ok(());
    }
    let mut after = None;
    let mut ids = Vec::new();
    for name in &next.environments {
        let env = environment(state, name).await?;
        match open(state, "slipway", &release, &env, after, None).await {
            Ok(id) => {
                after = Some(id);
                ids.push(id);
            }
            // Already waiting there: nothing to add.
            Err(ServiceError::State { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    for id in ids {
        judge(state, id).await?;
    }
    Ok(())
}
