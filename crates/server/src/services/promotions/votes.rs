//! What people do to a promotion once it exists: vote (four eyes), override a decision (admins,
//! with a written reason) or cancel it. Each answer is audited, then the promotion is judged
//! again; the judgement itself lives in `judging`.

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::gates::ApprovalRule;
use slipway_core::governance::promotion::{transition, PromotionEvent, PromotionState};
use slipway_core::governance::reason::written_reason;
use slipway_core::governance::{judge as judge_facts, DecisionRecord, Override, Vote};
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;
use slipway_store::{StoredPromotion, StoredRelease, WriteTx};

use super::judging::{facts, judge, start_deployment, subject_of};
use super::{environment, get_promotion, view, PromotionView};
use crate::auth::Actor;
use crate::services::signatures::{self, SignAsk};
use crate::services::{entry, parse_name, require};
use crate::{AppState, ServiceError};

/// The kind of record a signed vote is; its id is `promotion/{id}/vote/{username}`.
pub const VOTE_RECORD: &str = "promotion-vote";
/// The kind of record a signed override is; its id is `promotion/{id}/override/{decision}`.
pub const OVERRIDE_RECORD: &str = "promotion-override";

/// Approve or reject a waiting promotion. The approvals gate says which role may vote; the
/// release's author and the person who asked for the promotion may not (four eyes). When the
/// environment requires the vote signed, `sign` carries the voter's password: the signature is
/// stored with the vote, in its transaction.
pub async fn vote(
    state: &AppState,
    actor: &Actor,
    id: i64,
    approve: bool,
    comment: &str,
    sign: SignAsk<'_>,
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
    let refused = vote_refusal(actor, &rule, &env, &release, &p, verb);
    let subject = format!("promotion/{id}");
    let action = if approve {
        SignedAction::Approvals
    } else {
        SignedAction::Rejections
    };
    // Authenticated afresh before anything is written: a wrong password changes nothing.
    let signer = match refused {
        None => signatures::authenticate(state, actor, &env, action, sign).await?,
        Some(_) => None,
    };
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
    record_vote(&mut tx, &p, &vote, signer.as_ref()).await?;
    tx.audit(entry(
        actor,
        &format!("approval.{verb}"),
        subject,
        json!({ "project": p.project, "release": p.release_version, "environment": p.environment, "promotion": id, "comment": vote.comment, "signed": signer.is_some() }),
    ));
    tx.commit().await?;
    judge(state, id).await?;
    view(state, id).await
}

/// Why this person may not vote on this promotion, if they may not: the gate's role, then the
/// four-eyes rule (neither the release's author nor the promotion's requester).
fn vote_refusal(
    actor: &Actor,
    rule: &ApprovalRule,
    env: &Environment,
    release: &StoredRelease,
    p: &StoredPromotion,
    verb: &str,
) -> Option<ServiceError> {
    let refuse = |message: String, hint: &str| ServiceError::Refused {
        message,
        hint: hint.to_string(),
    };
    let id = p.id;
    if actor.role != rule.role {
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
    }
}

/// Store a vote and, when signed, its signature over what was voted on (a vote given again
/// unsigned takes the old signature away with the old vote).
async fn record_vote(
    tx: &mut WriteTx<'_>,
    p: &StoredPromotion,
    vote: &Vote,
    signer: Option<&signatures::Signer>,
) -> Result<(), ServiceError> {
    let id = p.id;
    tx.put_vote(id, vote).await?;
    let record_id = format!("promotion/{id}/vote/{}", vote.username);
    match signer {
        Some(signer) => {
            let record = json!({
                "promotion": id,
                "project": p.project,
                "release": p.release_version,
                "environment": p.environment,
                "username": vote.username,
                "role": vote.role.as_str(),
                "approve": vote.approve,
                "comment": vote.comment,
                "at": vote.at,
            });
            signatures::sign(tx, signer, VOTE_RECORD, &record_id, record).await?;
        }
        None => tx.delete_signature(VOTE_RECORD, &record_id).await?,
    }
    Ok(())
}

/// Let a waiting or refused promotion through, with a written reason (admins only); signed,
/// with the admin's password in `sign`, where the environment requires overrides signed.
pub async fn override_decision(
    state: &AppState,
    actor: &Actor,
    id: i64,
    reason: &str,
    sign: SignAsk<'_>,
) -> Result<PromotionView, ServiceError> {
    let subject = format!("promotion/{id}");
    require(state, actor, Operation::OverrideDecision, &subject).await?;
    written_reason("an override", Some(reason)).map_err(|e| {
        ServiceError::invalid(
            e.to_string(),
            "e.g. --reason \"incident INC-4211: security fix, CAB informed by phone\"",
        )
    })?;
    let p = get_promotion(state, id).await?;
    let (release, env) = subject_of(state, &p).await?;
    let signer =
        signatures::authenticate(state, actor, &env, SignedAction::Overrides, sign).await?;
    let mut tx = state.store.write().await?;
    let mut p = tx
        .promotion(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("promotion {id}"), ""))?;
    let next = transition(p.state, PromotionEvent::Overridden)
        .map_err(|e| ServiceError::state(e.to_string(), ""))?;
    let (facts, runs) = facts(state, &mut tx, &p, &release, &env).await?;
    let judgement = judge_facts(&facts);
    let record = DecisionRecord {
        judgement: judgement.clone(),
        facts_at: facts.now.to_string(),
        overridden: Some(Override {
            by: actor.username.clone(),
            role: actor.role.as_str().to_string(),
            reason: reason.trim().to_string(),
        }),
    };
    let decision = tx.insert_decision(id, "go", &record.to_value()).await?;
    if let Some(signer) = &signer {
        let signed = json!({
            "promotion": id,
            "project": p.project,
            "release": p.release_version,
            "environment": p.environment,
            "decision": decision.id,
            "overridden": judgement.decision.as_str(),
            "by": actor.username,
            "reason": reason.trim(),
        });
        let record_id = format!("promotion/{id}/override/{}", decision.id);
        signatures::sign(&mut tx, signer, OVERRIDE_RECORD, &record_id, signed).await?;
    }
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
