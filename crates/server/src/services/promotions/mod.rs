//! Promotions: a release asked into an environment, judged against its gates, recorded as a
//! go/no-go decision, then deployed — at once, or when what it waits for arrives (approvals, the
//! window, the CAB, CI's checks, an earlier wave).
//!
//! Every judgement re-reads the facts inside the write that records it. A new decision record
//! is written when the verdicts change, so the record tells the promotion's story without
//! repeating itself every second.
//!
//! This file owns asking for a promotion (`request`, `deploy_now`), opening one, and reading
//! them; judging, people's answers, CI's checks and change requests each have their own file
//! below it. It never imports `services::deployments`: a deployment is stored through
//! `transitions`.

mod change_requests;
mod checks;
mod judging;
mod votes;

pub use change_requests::{
    change_request, change_request_view, change_requests, decide_change_request, itsm_callback,
    CHANGE_REQUEST_RECORD,
};
pub use checks::{report_check, CheckReport};
pub use judging::{enter_first_phase, judge, tick};
pub use votes::{cancel, override_decision, vote, OVERRIDE_RECORD, VOTE_RECORD};

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::governance::promotion::{destinations, PromotionState};
use slipway_core::governance::{DecisionRecord, Judgement, Vote};
use slipway_core::model::{Environment, Lifecycle};
use slipway_core::release::Version;
use slipway_core::signature::Sealed;
use slipway_core::Name;
use slipway_store::{
    PromotionFilter, StoredChangeRequest, StoredDecision, StoredDeployment, StoredPromotion,
    StoredRelease,
};

use super::paging::{Listed, PageRequest};
use super::require;
use crate::auth::Actor;
use crate::views::IntoView;
use crate::{AppState, ServiceError};
use change_requests::change_request_body;

/// A promotion with what a person needs to follow it.
#[derive(Debug, Clone)]
pub struct PromotionView {
    pub promotion: StoredPromotion,
    pub decisions: Vec<StoredDecision>,
    pub votes: Vec<Vote>,
    /// The electronic signatures of its votes and override.
    pub signatures: Vec<Sealed>,
    pub change_request: Option<StoredChangeRequest>,
}

impl IntoView for PromotionView {
    type View = slipway_api::governance::PromotionView;
    fn into_view(self) -> Self::View {
        let signatures: Vec<slipway_api::signatures::SignatureView> = self.signatures.into_view();
        let change_request = self.change_request.map(|c| {
            let mut view = c.into_view();
            view.signature = signatures
                .iter()
                .find(|s| s.record_kind == CHANGE_REQUEST_RECORD)
                .cloned();
            view
        });
        slipway_api::governance::PromotionView {
            promotion: self.promotion.into_view(),
            decisions: self.decisions.into_view(),
            votes: self.votes,
            signatures,
            change_request,
        }
    }
}

/// What asking for a deployment led to.
// One value per request, moved straight into its answer: boxing a variant would buy nothing.
#[allow(clippy::large_enum_variant)]
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
    let judgement = view
        .decisions
        .last()
        .and_then(|d| DecisionRecord::read(&d.record).map(|r| r.judgement));
    let why = judgement
        .as_ref()
        .map(Judgement::explain)
        .unwrap_or_default();
    // An override lets a gate be passed; it cannot make a missing agent or an environment off
    // the lifecycle deployable, so it is not offered for those, and never before the fix.
    let unfixable_by_override = judgement.as_ref().is_some_and(|j| {
        j.criteria.iter().any(|c| {
            c.verdict == slipway_core::governance::Verdict::Fail
                && matches!(c.name.as_str(), "targets" | "lifecycle" | "variables")
        })
    });
    let id = view.promotion.id;
    let override_offer = if unfixable_by_override {
        String::new()
    } else {
        format!("; only if it cannot wait, an admin lets it through with a written reason: `slipway promotion override {id} --reason …`")
    };
    ServiceError::Policy {
        message: format!(
            "no-go: release {} of {} may not enter {} (promotion {}): {why}",
            view.promotion.release_version,
            view.promotion.project,
            view.promotion.environment,
            view.promotion.id
        ),
        hint: format!(
            "fix each no-go above (each says how) and promote again; the decision record is kept: `slipway promotion show {id}`{override_offer}"
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
        requested_at: slipway_store::current_time(),
        scheduled_for: scheduled_for.map(|t| t.to_string()),
        recheck_at: None,
        deployment_id: None,
        updated_at: slipway_store::current_time(),
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
        signatures: state.store.signatures(&format!("promotion/{id}/")).await?,
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

/// One page of the promotions `filter` selects, newest first.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    filter: &PromotionFilter,
    request: &PageRequest,
) -> Result<Listed<StoredPromotion>, ServiceError> {
    require(state, actor, Operation::Read, "promotions").await?;
    let before = request.id_key(LIST, "promotion id")?;
    let found = state
        .store
        .promotions_page(filter, before, request.size)
        .await?;
    // One cursor name whatever the filters: an id stays a valid place in any of them.
    Ok(Listed::from_page(found, LIST, |p| vec![p.id.to_string()]))
}

/// The name promotion cursors carry.
const LIST: &str = "promotions";
