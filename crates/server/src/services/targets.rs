//! Targets. Agents will enrol themselves; until then operators register placeholders.

use serde_json::json;
use slipway_core::access::Operation;
use slipway_store::Target;

use super::{entry, parse_name, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<Target>, ServiceError> {
    require(state, actor, Operation::Read, "targets").await?;
    Ok(state.store.targets().await?)
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
    let mut role_names = Vec::new();
    for r in &roles {
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
    let target = Target {
        name: name.to_string(),
        environment: environment.map(str::to_string),
        roles: role_names,
        facts: json!({}),
        status: "placeholder".into(),
        created_at: slipway_store::now(),
    };
    let mut tx = state.store.write().await?;
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
