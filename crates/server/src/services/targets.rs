//! Targets: placeholders registered by operators, agents enrolled with one-time tokens, and
//! their revocation. Liveness comes from the agents' heartbeats.

use serde_json::json;
use slipway_api::targets::CreatedEnrollmentToken;
use slipway_core::access::Operation;
use slipway_core::deploy::target::TargetStatus;
use slipway_store::{EnrollmentGrant, Target};

use super::{entry, parse_name, require};
use crate::auth::{new_secret, secret_hash, Actor};
use crate::{AppState, ServiceError};

/// How often agents call in (`SLIPWAY_HEARTBEAT_SECS`, default 10); a target silent for three
/// periods is offline.
pub fn heartbeat_secs() -> u64 {
    static SECS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SECS.get_or_init(|| {
        std::env::var("SLIPWAY_HEARTBEAT_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|s| (1..=300).contains(s))
            .unwrap_or(10)
    })
}

/// A target as people see it, with its liveness.
#[derive(Debug, Clone)]
pub struct LiveTarget {
    pub target: Target,
    /// `online`, `offline`, `placeholder` or `revoked`.
    pub liveness: &'static str,
}

pub fn liveness(t: &Target) -> &'static str {
    if t.revoked_at.is_some() {
        return "revoked";
    }
    if matches!(t.status, TargetStatus::Placeholder) {
        return "placeholder";
    }
    let fresh = t.last_seen_at.is_some_and(|seen| {
        jiff::Timestamp::now().duration_since(seen).as_secs() <= (3 * heartbeat_secs()) as i64
    });
    if fresh {
        "online"
    } else {
        "offline"
    }
}

pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<LiveTarget>, ServiceError> {
    require(state, actor, Operation::Read, "targets").await?;
    Ok(state
        .store
        .targets()
        .await?
        .into_iter()
        .map(|target| LiveTarget {
            liveness: liveness(&target),
            target,
        })
        .collect())
}

async fn checked_grant(
    state: &AppState,
    environment: Option<&str>,
    roles: &[String],
) -> Result<EnrollmentGrant, ServiceError> {
    let mut role_names = Vec::new();
    for r in roles {
        role_names.push(parse_name("roles", r)?.to_string());
    }
    if let Some(env) = environment {
        let env = parse_name("environment", env)?;
        if state.store.environment(&env).await?.is_none() {
            return Err(ServiceError::not_found(
                format!("environment {env}"),
                "create it first, or list them with `slipway env list`",
            ));
        }
    }
    Ok(EnrollmentGrant {
        environment: environment.map(str::to_string),
        roles: role_names,
    })
}

pub async fn register(
    state: &AppState,
    actor: &Actor,
    name: &str,
    environment: Option<&str>,
    roles: Vec<String>,
) -> Result<Target, ServiceError> {
    let name = parse_name("name", name)?;
    let subject = format!("target/{name}");
    require(state, actor, Operation::ManageTargets, &subject).await?;
    let grant = checked_grant(state, environment, &roles).await?;
    let target = Target {
        name: name.to_string(),
        environment: grant.environment,
        roles: grant.roles,
        facts: json!({}),
        status: TargetStatus::Placeholder,
        created_at: slipway_store::current_time(),
        last_seen_at: None,
        revoked_at: None,
    };
    let mut tx = state.store.write().await?;
    if tx
        .target(&target.name)
        .await?
        .is_some_and(|t| matches!(t.status, TargetStatus::Enrolled))
    {
        return Err(ServiceError::Conflict(format!(
            "target {name} (an enrolled agent)"
        )));
    }
    tx.put_target(&target).await?;
    tx.audit(entry(
        actor,
        "target.register",
        subject,
        json!({ "environment": target.environment, "roles": target.roles }),
    ));
    tx.commit().await?;
    Ok(target)
}

/// A single-use token an agent exchanges for its own credential, placing it in `environment`
/// with `roles`.
pub async fn create_enrollment_token(
    state: &AppState,
    actor: &Actor,
    environment: Option<&str>,
    roles: Vec<String>,
    ttl_hours: u32,
) -> Result<CreatedEnrollmentToken, ServiceError> {
    require(state, actor, Operation::ManageTargets, "targets/enrollment").await?;
    if !(1..=720).contains(&ttl_hours) {
        return Err(ServiceError::invalid(
            "an enrolment token lives 1 to 720 hours",
            "e.g. --ttl-hours 24",
        ));
    }
    let grant = checked_grant(state, environment, &roles).await?;
    let secret = new_secret("slw_enroll_");
    let id = secret_hash(&secret)[..16].to_string();
    let expires = slipway_store::format_time(
        jiff::Timestamp::now() + jiff::SignedDuration::from_hours(i64::from(ttl_hours)),
    );
    let mut tx = state.store.write().await?;
    tx.create_enrollment_token(
        &id,
        &secret_hash(&secret),
        &grant,
        &actor.username,
        &expires,
    )
    .await?;
    tx.audit(entry(
        actor,
        "target.enrollment_token",
        format!("enrollment/{id}"),
        json!({ "environment": grant.environment, "roles": grant.roles, "expires_at": expires }),
    ));
    tx.commit().await?;
    Ok(CreatedEnrollmentToken {
        token: secret,
        environment: grant.environment,
        roles: grant.roles,
        expires_at: expires,
        server_fingerprint: state.server_fingerprint.map(|f| f.to_string()),
    })
}

/// Cut an agent off at once: its credential stops working on its next call.
pub async fn revoke(state: &AppState, actor: &Actor, name: &str) -> Result<(), ServiceError> {
    let subject = format!("target/{name}");
    require(state, actor, Operation::ManageTargets, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.revoke_target(name).await? {
        return Err(ServiceError::not_found(
            format!("an unrevoked target {name}"),
            "list targets with `slipway target list`",
        ));
    }
    tx.audit(entry(actor, "target.revoke", subject, json!({})));
    tx.commit().await?;
    Ok(())
}

/// The targets whose agents are enrolled, not revoked, in `environment`: where work can go.
pub(crate) async fn enrolled_in(
    state: &AppState,
    environment: &slipway_core::Name,
) -> Result<Vec<Target>, ServiceError> {
    Ok(state
        .store
        .targets()
        .await?
        .into_iter()
        .filter(|t| {
            matches!(t.status, TargetStatus::Enrolled)
                && t.revoked_at.is_none()
                && t.environment.as_deref() == Some(environment.as_str())
        })
        .collect())
}
