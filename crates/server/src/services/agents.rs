//! What agents call: enrolment (a one-time token for a credential) and heartbeats.
//! Agents are not people: they authenticate with `Authorization: Agent <credential>` and can
//! only ever see what concerns their own target.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::target::TargetStatus;
use slipway_protocol::{EnrollRequest, EnrollResponse, Heartbeat, HeartbeatResponse};
use slipway_store::Target;

use super::parse_name;
use super::targets::heartbeat_secs;
use crate::auth::{new_secret, secret_hash};
use crate::{AppState, ServiceError};

fn agent_entry(name: &str, verb: &str, details: serde_json::Value) -> AuditEntry {
    AuditEntry {
        actor: format!("agent:{name}"),
        verb: verb.to_string(),
        subject: format!("target/{name}"),
        details,
    }
}

pub async fn enroll(
    state: &AppState,
    request: EnrollRequest,
) -> Result<EnrollResponse, ServiceError> {
    let name = parse_name("name", &request.name)?.to_string();
    let credential = new_secret("slw_agent_");
    let mut tx = state.store.write().await?;
    let Some(grant) = tx
        .take_enrollment_token(&secret_hash(&request.token), &name)
        .await?
    else {
        // Nothing was written: a bad token leaves no trace but the refusal.
        return Err(ServiceError::invalid(
            "this enrolment token is unknown, already used or expired",
            "ask an operator for a new one: `slipway target enrollment-token --env ENV --role ROLE`",
        ));
    };
    let existing = tx.target(&name).await?;
    if existing
        .as_ref()
        .is_some_and(|t| matches!(t.status, TargetStatus::Enrolled) && t.revoked_at.is_none())
    {
        return Err(ServiceError::Conflict(format!("target {name} (an enrolled agent; revoke it first with `slipway target revoke {name}`)")));
    }
    let target = Target {
        name: name.clone(),
        environment: grant.environment.clone(),
        roles: grant.roles.clone(),
        facts: json!(request.facts),
        status: TargetStatus::Enrolled,
        created_at: existing.map_or_else(slipway_store::current_time, |t| t.created_at),
        last_seen_at: None,
        revoked_at: None,
    };
    tx.enroll_target(&target, &secret_hash(&credential)).await?;
    tx.audit(agent_entry(
        &name,
        "target.enroll",
        json!({ "environment": grant.environment, "roles": grant.roles, "facts": request.facts }),
    ));
    tx.commit().await?;
    Ok(EnrollResponse {
        name,
        credential,
        environment: grant.environment,
        roles: grant.roles,
        heartbeat_secs: heartbeat_secs(),
    })
}

/// The target behind an agent credential, or `Unauthenticated` (revoked agents land here).
pub async fn identify(state: &AppState, credential: &str) -> Result<Target, ServiceError> {
    state
        .store
        .target_by_credential(&secret_hash(credential))
        .await?
        .ok_or(ServiceError::AgentUnknown)
}

/// Readings that move on their own (free disk): kept as the target's latest, never audited, or
/// the audit log would gain a line each time a few MB are written. What the host *is* (OS,
/// architecture, agent version, extra facts) stays audited when it changes.
const TELEMETRY_FACTS: &[&str] = &["free_disk_mb"];

fn identity(facts: &serde_json::Value) -> serde_json::Value {
    let mut facts = facts.clone();
    if let Some(map) = facts.as_object_mut() {
        for key in TELEMETRY_FACTS {
            map.remove(*key);
        }
    }
    facts
}

/// Note that the agent called in with a lease request: liveness needs one mark within three
/// heartbeats (`targets::liveness`), so a mark younger than one heartbeat is left as it is —
/// one write less per step and per long poll. Heartbeats themselves always mark.
pub(crate) async fn called_in(state: &AppState, target: &Target) -> Result<(), ServiceError> {
    let recent = target.last_seen_at.is_some_and(|seen| {
        jiff::Timestamp::now().duration_since(seen).as_secs() < heartbeat_secs() as i64
    });
    if !recent {
        state.store.touch_target(&target.name).await?;
    }
    Ok(())
}

pub async fn heartbeat(
    state: &AppState,
    target: &Target,
    beat: Heartbeat,
) -> Result<HeartbeatResponse, ServiceError> {
    state.store.touch_target(&target.name).await?;
    let facts = json!(beat.facts);
    if facts != target.facts {
        let (before, after) = (identity(&target.facts), identity(&facts));
        if before == after {
            state
                .store
                .set_target_telemetry(&target.name, &facts)
                .await?;
        } else {
            let mut tx = state.store.write().await?;
            tx.set_target_facts(&target.name, &facts).await?;
            tx.audit(agent_entry(
                &target.name,
                "target.facts_changed",
                json!({ "before": before, "after": after }),
            ));
            tx.commit().await?;
        }
    }
    Ok(HeartbeatResponse {
        heartbeat_secs: heartbeat_secs(),
        environment: target.environment.clone(),
        roles: target.roles.clone(),
    })
}
