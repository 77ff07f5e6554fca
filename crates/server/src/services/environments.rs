//! Environments, one at a time (bulk changes go through `projects::apply`).

use serde_json::json;
use slipway_api::config_changes::ConfigChangeView;
use slipway_core::access::Operation;
use slipway_core::diff::environment_change;
use slipway_core::governance::config_change::{environment_reasons, SubjectKind, DECIDER};
use slipway_core::model::Environment;
use slipway_core::Name;

use super::config_changes::{self, Held};
use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<Environment>, ServiceError> {
    require(state, actor, Operation::Read, "environments").await?;
    Ok(state.store.environments().await?)
}

pub async fn get(
    state: &AppState,
    actor: &Actor,
    name: &Name,
) -> Result<Environment, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("environment/{name}"),
    )
    .await?;
    state.store.environment(name).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("environment {name}"),
            "list them with `slipway env list`",
        )
    })
}

/// What `put` did: changed the environment, held the change for a second person, or nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct PutOutcome {
    pub changed: bool,
    /// The configuration change request the change waits in (governed configuration).
    pub pending: Option<ConfigChangeView>,
}

/// Create or change one environment. A change that alters a protected environment's
/// protection or gates is not made: it waits in a configuration change request, as with `apply`.
pub async fn put(
    state: &AppState,
    actor: &Actor,
    env: Environment,
) -> Result<PutOutcome, ServiceError> {
    let subject = format!("environment/{}", env.name);
    require(state, actor, Operation::ManageEnvironments, &subject).await?;
    let mut tx = state.store.write().await?;
    let current = tx.environment(&env.name).await?;
    let Some(change) = environment_change(current.as_ref(), &env) else {
        return Ok(PutOutcome {
            changed: false,
            pending: None,
        });
    };
    let reasons = environment_reasons(current.as_ref(), &env);
    if !reasons.is_empty() {
        let held = Held {
            change: &change,
            kind: SubjectKind::Environment,
            base: current.map(|c| serde_json::to_value(c).expect("an environment serialises")),
            desired: serde_json::to_value(&env).expect("an environment serialises"),
            reasons,
        };
        let holding = config_changes::hold(&mut tx, actor, held).await?;
        if holding.new {
            tx.commit().await?;
        }
        return Ok(PutOutcome {
            changed: false,
            pending: Some(holding.request),
        });
    }
    tx.put_environment(&env).await?;
    let verb = if current.is_some() {
        "environment.update"
    } else {
        "environment.create"
    };
    tx.audit(entry(
        actor,
        verb,
        subject,
        json!({ "changes": change.details }),
    ));
    tx.commit().await?;
    Ok(PutOutcome {
        changed: true,
        pending: None,
    })
}

pub async fn delete(state: &AppState, actor: &Actor, name: &Name) -> Result<(), ServiceError> {
    let subject = format!("environment/{name}");
    require(state, actor, Operation::ManageEnvironments, &subject).await?;
    let mut tx = state.store.write().await?;
    if tx.environment(name).await?.is_some_and(|e| e.protected) {
        return Err(ServiceError::Refused {
            message: format!("{name} is protected: deleting it would remove its protection and gates without a second person"),
            hint: format!("remove its protection first (`protected: false`, a configuration change another {DECIDER} approves), then delete it"),
        });
    }
    if !tx.delete_environment(name).await? {
        return Err(ServiceError::not_found(format!("environment {name}"), ""));
    }
    tx.audit(entry(actor, "environment.delete", subject, json!({})));
    tx.commit().await?;
    Ok(())
}
