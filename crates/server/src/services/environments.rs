//! Environments, one at a time (bulk changes go through `projects::apply`).

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::diff::environment_change;
use slipway_core::model::Environment;
use slipway_core::Name;

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

/// Create or change one environment. Returns whether anything changed.
pub async fn put(state: &AppState, actor: &Actor, env: Environment) -> Result<bool, ServiceError> {
    let subject = format!("environment/{}", env.name);
    require(state, actor, Operation::ManageEnvironments, &subject).await?;
    let mut tx = state.store.write().await?;
    let current = tx.environment(&env.name).await?;
    let Some(change) = environment_change(current.as_ref(), &env) else {
        return Ok(false);
    };
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
    Ok(true)
}

pub async fn delete(state: &AppState, actor: &Actor, name: &Name) -> Result<(), ServiceError> {
    let subject = format!("environment/{name}");
    require(state, actor, Operation::ManageEnvironments, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.delete_environment(name).await? {
        return Err(ServiceError::not_found(format!("environment {name}"), ""));
    }
    tx.audit(entry(actor, "environment.delete", subject, json!({})));
    tx.commit().await?;
    Ok(())
}
