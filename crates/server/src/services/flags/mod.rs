//! Feature flags per environment: listed with their state in every environment (stale ones
//! marked), created and changed by hand — switched on or off hot (a kill switch), a rollout
//! ramped, a user listed (`edit`) — and read by applications through the Unleash client API
//! (`unleash`). Flags as code arrive through `apply` (`apply`).
//!
//! A change of a flag's state in a protected environment is never written alone: it becomes a
//! configuration change request (`services::config_changes`) that another admin approves.

pub(crate) mod apply;
mod edit;
pub mod unleash;

pub use edit::{create, set_state, state_in, toggle, FlagPlace};

use serde_json::json;
use slipway_api::flags::{
    FlagEnvironmentView, FlagTokenAsk, FlagTokenCreated, FlagTokenView, FlagView,
};
use slipway_core::access::Operation;
use slipway_core::flags::Rule;
use slipway_core::governance::config_change::SubjectKind;
use slipway_core::Name;
use slipway_store::{
    format_time, FlagChangeWindow, NewFlagToken, StoredFlag, StoredFlagState, StoredFlagToken,
};

use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// The subject of a flag's state in one environment, in audit events and change requests.
pub(crate) fn subject(project: &str, flag: &str, environment: &str) -> String {
    format!("flag/{project}/{flag}/{environment}")
}

fn not_found(project: &str, name: &str) -> ServiceError {
    ServiceError::not_found(
        format!("flag {name} of project {project}"),
        "create it (`slipway flag create NAME --project P`, or the console's Flags page), or declare it under `flags:` in the project's slipway.yaml and `slipway apply` it",
    )
}

/// Every flag of `project` with its state in every environment, judged stale at `now`.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Vec<FlagView>, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    let flags = state.store.flags(Some(project.as_str())).await?;
    let states = state.store.flag_states(project.as_str(), None).await?;
    let environments = state.store.environments().await?;
    let pending = pending_by_subject(state).await?;
    let now = slipway_store::current_time();
    Ok(flags
        .iter()
        .map(|f| view(f, &states, &environments, &pending, now))
        .collect())
}

pub async fn get(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    name: &Name,
) -> Result<FlagView, ServiceError> {
    list(state, actor, project)
        .await?
        .into_iter()
        .find(|f| f.name == name.as_str())
        .ok_or_else(|| not_found(project.as_str(), name.as_str()))
}

async fn pending_by_subject(
    state: &AppState,
) -> Result<std::collections::BTreeMap<String, i64>, ServiceError> {
    Ok(state
        .store
        .config_changes(true)
        .await?
        .into_iter()
        .filter(|c| c.kind == SubjectKind::Flag)
        .map(|c| (c.subject, c.id))
        .collect())
}

fn view(
    flag: &StoredFlag,
    states: &[StoredFlagState],
    environments: &[slipway_core::model::Environment],
    pending: &std::collections::BTreeMap<String, i64>,
    now: jiff::Timestamp,
) -> FlagView {
    let environments = environments
        .iter()
        .map(|env| {
            let stored = states
                .iter()
                .find(|s| s.flag == flag.name && s.environment == env.name.as_str());
            let st = stored.map(|s| s.state.clone()).unwrap_or_default();
            FlagEnvironmentView {
                environment: env.name.to_string(),
                protected: env.protected,
                enabled: st.enabled,
                strategies: st.strategies.iter().map(describe_rule).collect(),
                variants: st
                    .variants
                    .iter()
                    .map(|v| format!("{} ({}‰)", v.name, v.weight))
                    .collect(),
                updated_by: stored.map(|s| s.updated_by.clone()),
                updated_at: stored.map(|s| slipway_store::format_time(s.updated_at)),
                pending: pending
                    .get(&subject(&flag.project, &flag.name, env.name.as_str()))
                    .copied(),
            }
        })
        .collect();
    FlagView {
        project: flag.project.clone(),
        name: flag.name.clone(),
        kind: flag.kind,
        description: flag.description.clone(),
        created_at: format_time(flag.created_at),
        lifetime_days: flag.kind.lifetime_days(),
        stale: flag.kind.is_stale(flag.created_at, now),
        environments,
    }
}

fn describe_rule(s: &slipway_core::flags::Strategy) -> String {
    let rule = match &s.rule {
        Rule::Default => "default".to_string(),
        Rule::UserWithId { user_ids } => format!("userWithId: {}", user_ids.join(", ")),
        Rule::FlexibleRollout {
            rollout,
            stickiness,
            ..
        } => format!("flexibleRollout {rollout} % by {stickiness}"),
    };
    if s.constraints.is_empty() {
        rule
    } else {
        format!("{rule} ({} constraint(s))", s.constraints.len())
    }
}

/// Create an environment-scoped token for the Unleash client API; its secret is answered once.
pub async fn create_token(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    ask: &FlagTokenAsk,
) -> Result<FlagTokenCreated, ServiceError> {
    require(
        state,
        actor,
        Operation::ManageProjects,
        &format!("project/{project}"),
    )
    .await?;
    let environment = Name::parse(&ask.environment)
        .map_err(|e| ServiceError::invalid(e.to_string(), "pass --env with an environment name"))?;
    if state.store.project(project).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("project {project}"),
            "apply its slipway.yaml first: `slipway apply -f slipway.yaml`",
        ));
    }
    if state.store.environment(&environment).await?.is_none() {
        return Err(ServiceError::not_found(
            format!("environment {environment}"),
            "list them with `slipway env list`",
        ));
    }
    // Unleash's token form (`project:environment.secret`), so people recognise what it reads.
    let secret = crate::auth::new_secret(&format!("{project}:{environment}."));
    let name = if ask.name.trim().is_empty() {
        format!("{}-{environment}", ask.kind)
    } else {
        ask.name.trim().to_string()
    };
    let mut tx = state.store.write().await?;
    let id = tx
        .insert_flag_token(NewFlagToken {
            project: project.as_str(),
            environment: environment.as_str(),
            kind: ask.kind,
            name: &name,
            secret_hash: &crate::auth::secret_hash(&secret),
            created_by: &actor.username,
        })
        .await?;
    tx.audit(entry(
        actor,
        "flag_token.create",
        format!("flag-token/{project}/{id}"),
        json!({ "environment": environment.as_str(), "kind": ask.kind.as_str(), "name": name }),
    ));
    tx.commit().await?;
    let token = state
        .store
        .flag_tokens(project.as_str())
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .expect("the token was committed just now");
    Ok(FlagTokenCreated {
        token: token_view(token),
        secret,
    })
}

pub async fn tokens(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Vec<FlagTokenView>, ServiceError> {
    require(state, actor, Operation::Read, &format!("project/{project}")).await?;
    Ok(state
        .store
        .flag_tokens(project.as_str())
        .await?
        .into_iter()
        .map(token_view)
        .collect())
}

pub async fn revoke_token(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    id: i64,
) -> Result<(), ServiceError> {
    let subject = format!("flag-token/{project}/{id}");
    require(state, actor, Operation::ManageProjects, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.revoke_flag_token(project.as_str(), id).await? {
        return Err(ServiceError::not_found(
            format!("flag token {id} of project {project}"),
            "list them with `slipway flag token list --project P`",
        ));
    }
    tx.audit(entry(actor, "flag_token.revoke", subject, json!({})));
    tx.commit().await?;
    Ok(())
}

fn token_view(t: StoredFlagToken) -> FlagTokenView {
    FlagTokenView {
        id: t.id,
        project: t.project,
        environment: t.environment,
        kind: t.kind,
        name: t.name,
        created_by: t.created_by,
        created_at: slipway_store::format_time(t.created_at),
        revoked_at: t.revoked_at.map(slipway_store::format_time),
    }
}

/// A flag's state changed in one environment (switched, declared, or a held change approved),
/// as the deployment timeline draws it beside the deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagChange {
    pub at: jiff::Timestamp,
    pub project: String,
    pub flag: String,
    pub environment: String,
    /// On or off after the change.
    pub enabled: Option<bool>,
    pub actor: String,
    /// What changed, as the audit event says it, and the reason given.
    pub changes: Vec<String>,
    pub reason: Option<String>,
}

/// The changes of flags' states within `window` (at most `limit`, newest first), read from the
/// audit trail, where every change is.
pub async fn changes(
    state: &AppState,
    actor: &Actor,
    window: FlagChangeWindow<'_>,
    limit: i64,
) -> Result<FlagChanges, ServiceError> {
    require(state, actor, Operation::Read, "deployments").await?;
    let mut events = state.store.flag_state_events(window, limit + 1).await?;
    let more = events.len() as i64 > limit;
    events.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(FlagChanges {
        changes: events.iter().filter_map(flag_change).collect(),
        more,
    })
}

/// Flag changes read within a window, and whether the window holds more than were read.
#[derive(Debug, Clone, Default)]
pub struct FlagChanges {
    pub changes: Vec<FlagChange>,
    pub more: bool,
}

/// A change from its audit event; an event that does not read as one is left out (the audit
/// page shows it as it is).
fn flag_change(event: &slipway_core::audit::AuditEvent) -> Option<FlagChange> {
    let mut parts = event.subject.strip_prefix("flag/")?.splitn(3, '/');
    let (project, flag, environment) = (parts.next()?, parts.next()?, parts.next()?);
    let details: serde_json::Value = serde_json::from_str(&event.details).ok()?;
    let changes: Vec<String> = details["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let enabled = match event.verb.as_str() {
        "flag.on" => Some(true),
        "flag.off" => Some(false),
        _ => slipway_core::flags::enabled_after(&changes),
    };
    Some(FlagChange {
        at: event.at.parse().ok()?,
        project: project.to_owned(),
        flag: flag.to_owned(),
        environment: environment.to_owned(),
        enabled,
        actor: event.actor.clone(),
        changes,
        reason: details["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
            .map(str::to_owned),
    })
}
