//! Change requests (RFCs): the body pre-filled from the release, the CAB's or an ITSM tool's
//! decision, and the listing. A decision is audited and re-judges its promotion; this module never
//! opens a change request (opening a promotion does). Where the environment's policy lists
//! `change_requests`, a decision made in Slipway is an electronic signature, stored with the
//! promotion's signatures (record `promotion/{p}/change-request/{id}`); an ITSM tool's answer
//! cannot sign for a person and is refused there.

use serde_json::{json, Value};
use slipway_api::governance::{
    ChangeRequestArtifact, ChangeRequestBody, ChangeRequestView, ChangeRisk,
};
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::governance::{assess_risk, ChangeRequestState};
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;
use slipway_store::{StoredChangeRequest, StoredPromotion, StoredRelease};

use super::judging::judge;
use crate::auth::Actor;
use crate::services::paging::{Listed, PageRequest};
use crate::services::require;
use crate::services::signatures::{self, SignAsk, Signer};
use crate::views::IntoView;
use crate::{AppState, ServiceError};

/// The RFC, pre-filled from the release: notes, artifacts, plan, rollback plan, risk, window.
pub(super) fn change_request_body(
    release: &StoredRelease,
    env: &Environment,
    p: &StoredPromotion,
) -> Value {
    let project = &release.snapshot.project;
    let steps = project.steps_for(&env.name);
    let plan: Vec<String> = steps
        .iter()
        .map(|(n, s)| format!("{n}. {} ({})", s.name, s.action.summary()))
        .collect();
    let rollback = slipway_core::rollback::derive_rollback(&steps);
    let owned: Vec<slipway_core::plan::Step> = steps.iter().map(|(_, s)| (*s).clone()).collect();
    let (risk, reasons) = assess_risk(env.protected, &owned);
    let body = ChangeRequestBody {
        artifacts: release
            .artifacts
            .iter()
            .map(|a| ChangeRequestArtifact {
                component: a.component.to_string(),
                digest: a.digest.to_string(),
                version: a.version.to_string(),
            })
            .collect(),
        channel: release.channel,
        environment: env.name.to_string(),
        not_undone: rollback
            .left_as_is
            .iter()
            .map(|l| format!("{}: {}", l.name, l.reason))
            .collect(),
        notes: release.notes.to_markdown(),
        plan,
        project: release.project.to_string(),
        release: release.version.to_string(),
        requested_by: p.requested_by.clone(),
        rollback_plan: rollback.steps.iter().map(|s| s.name.clone()).collect(),
        risk: ChangeRisk {
            level: risk,
            reasons,
        },
        scheduled_for: p.scheduled_for.clone(),
        title: format!(
            "Deploy {} {} to {}",
            release.project, release.version, env.name
        ),
        window: env.gates.calendar.describe(),
    };
    serde_json::to_value(body).expect("a change request body always serialises")
}

/// The kind of record a signed change-request decision is; its id is
/// `promotion/{promotion}/change-request/{id}`, so it shows with the promotion's signatures.
pub const CHANGE_REQUEST_RECORD: &str = "change-request-decision";

/// The CAB approves or rejects a change request; signed, with the decider's password in `sign`,
/// where the environment requires `change_requests` signed.
pub async fn decide_change_request(
    state: &AppState,
    actor: &Actor,
    id: i64,
    approve: bool,
    comment: &str,
    sign: SignAsk<'_>,
) -> Result<StoredChangeRequest, ServiceError> {
    let subject = format!("change_request/{id}");
    require(state, actor, Operation::DecideChangeRequest, &subject).await?;
    require_comment(comment)?;
    let signer = match signing_environment(state, id).await? {
        Some(env) => {
            signatures::authenticate(state, actor, &env, SignedAction::ChangeRequests, sign).await?
        }
        None => None,
    };
    decide_rfc(
        state,
        &actor.username,
        id,
        approve,
        comment,
        signer.as_ref(),
    )
    .await
}

/// The environment a change request is for, when its policy requires `change_requests` signed.
async fn signing_environment(
    state: &AppState,
    id: i64,
) -> Result<Option<Environment>, ServiceError> {
    let Some(rfc) = state.store.change_request(id).await? else {
        return Ok(None);
    };
    let Some(name) = rfc.body["environment"]
        .as_str()
        .and_then(|n| slipway_core::Name::parse(n).ok())
    else {
        return Ok(None);
    };
    Ok(state
        .store
        .environment(&name)
        .await?
        .filter(|env| signatures::required(env, SignedAction::ChangeRequests)))
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
    let key = state
        .store
        .webhook_callback_key(webhook)
        .await?
        .ok_or_else(|| unauthorised("no webhook has that name"))?;
    let secret = state
        .secrets
        .open(
            &crate::services::webhooks::secret_slot(webhook),
            &key.secret_sealed,
        )
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
    // Only a webhook in force answers: a held one waits for a second admin, so that one admin
    // adding a webhook cannot decide CAB requests alone.
    if let Some(request) = key.held_by {
        return Err(ServiceError::Refused {
            message: format!("the callback for change request {id} is refused: webhook {webhook} waits for another admin's approval (configuration change request {request}) and answers no change request until then"),
            hint: format!("another admin approves the webhook with `slipway config-change approve {request}`"),
        });
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| {
        ServiceError::invalid(
            format!("the callback body is not {{\"approve\": bool, \"comment\": \"…\", \"by\": \"…\"}}: {e}"),
            "",
        )
    })?;
    if let Some(env) = signing_environment(state, id).await? {
        return Err(ServiceError::Refused {
            message: format!(
                "{} requires change request decisions signed: an answer from {webhook} cannot be a person's electronic signature",
                env.name
            ),
            hint: format!("decide it in Slipway with your password: `slipway rfc approve {id} --comment …`, or the promotion page"),
        });
    }
    if let Some(scope) = &key.project {
        let rfc = state.store.change_request(id).await?;
        let for_project = rfc.as_ref().and_then(|r| r.body["project"].as_str());
        if for_project.is_some_and(|p| p != scope) {
            return Err(unauthorised(&format!(
                "webhook {webhook} is for project {scope}, not for change request {id}'s"
            )));
        }
    }
    let by = format!("itsm:{webhook}:{}", answer.by.trim());
    require_comment(&answer.comment)?;
    decide_rfc(state, &by, id, answer.approve, &answer.comment, None).await
}

fn require_comment(comment: &str) -> Result<(), ServiceError> {
    if comment.trim().is_empty() {
        return Err(ServiceError::invalid(
            "a comment is required to decide a change request",
            "e.g. --comment \"CAB of 2026-11-24: approved\"",
        ));
    }
    Ok(())
}

async fn decide_rfc(
    state: &AppState,
    by: &str,
    id: i64,
    approve: bool,
    comment: &str,
    signer: Option<&Signer>,
) -> Result<StoredChangeRequest, ServiceError> {
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
    if let Some(signer) = signer {
        let record = json!({
            "change_request": id,
            "promotion": rfc.promotion_id,
            "project": rfc.body["project"],
            "release": rfc.body["release"],
            "environment": rfc.body["environment"],
            "title": rfc.body["title"],
            "risk": rfc.body["risk"],
            "approve": approve,
            "comment": comment.trim(),
        });
        let record_id = format!("promotion/{}/change-request/{id}", rfc.promotion_id);
        signatures::sign(&mut tx, signer, CHANGE_REQUEST_RECORD, &record_id, record).await?;
    }
    tx.audit(AuditEntry {
        actor: by.to_string(),
        verb: "change_request.decide".into(),
        subject: format!("change_request/{id}"),
        details: json!({ "project": rfc.body["project"], "release": rfc.body["release"], "environment": rfc.body["environment"], "promotion": rfc.promotion_id, "change_request": id, "approved": approve, "comment": comment.trim(), "signed": signer.is_some() }),
    });
    tx.commit().await?;
    judge(state, rfc.promotion_id).await?;
    state
        .store
        .change_request(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("change request {id}"), ""))
}

/// One change request (Read permission).
pub async fn change_request(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<StoredChangeRequest, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("change_request/{id}"),
    )
    .await?;
    state.store.change_request(id).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("change request {id}"),
            "list them with `slipway rfc list`",
        )
    })
}

/// A change request as the API shows it, with its decider's signature when it was signed.
pub async fn change_request_view(
    state: &AppState,
    rfc: StoredChangeRequest,
) -> Result<ChangeRequestView, ServiceError> {
    let record_id = format!("promotion/{}/change-request/{}", rfc.promotion_id, rfc.id);
    let signature = state
        .store
        .signatures(&record_id)
        .await?
        .into_iter()
        .find(|s| s.signature.record_id == record_id);
    let mut view = rfc.into_view();
    view.signature = signature.into_view();
    Ok(view)
}

/// One page of the change requests (the open ones only when `open_only`), newest first.
pub async fn change_requests(
    state: &AppState,
    actor: &Actor,
    open_only: bool,
    request: &PageRequest,
) -> Result<Listed<StoredChangeRequest>, ServiceError> {
    require(state, actor, Operation::Read, "change_requests").await?;
    let before = request.id_key(LIST, "change request id")?;
    let found = state
        .store
        .change_requests_page(open_only, before, request.size)
        .await?;
    Ok(Listed::from_page(found, LIST, |r| vec![r.id.to_string()]))
}

/// The name change request cursors carry (the same with or without `open`: an id is a place
/// in both).
const LIST: &str = "change-requests";
