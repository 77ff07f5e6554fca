//! Variables: what the project file declares, merged with values set through the API.
//! Sensitive values are sealed before they reach the store and never leave the server.

use serde_json::json;
use slipway_api::variables::VariableSource;
use slipway_core::access::Operation;
use slipway_core::deploy::vars::ScopedValue;
use slipway_core::model::VariableScope;
use slipway_core::Name;
use slipway_store::StoredValue;

use super::{entry, require};
use crate::auth::Actor;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

/// A variable as anyone may see it: sensitive values are never included.
#[derive(Debug, Clone)]
pub struct VariableView {
    pub name: Name,
    pub environment: Option<Name>,
    pub role: Option<Name>,
    pub sensitive: bool,
    /// The value; always absent for sensitive variables.
    pub value: Option<String>,
    /// Whether a value exists (for sensitive ones: whether it was set).
    pub has_value: bool,
    /// `file` when it comes from slipway.yaml, `set` when set through the API or console.
    pub source: VariableSource,
    pub description: String,
}

impl IntoView for VariableView {
    type View = slipway_api::variables::VariableView;
    fn into_view(self) -> Self::View {
        slipway_api::variables::VariableView {
            name: self.name.to_string(),
            environment: self.environment.map(|e| e.to_string()),
            role: self.role.map(|r| r.to_string()),
            sensitive: self.sensitive,
            value: self.value,
            has_value: self.has_value,
            source: self.source,
            description: self.description,
        }
    }
}

pub async fn list(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Vec<VariableView>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/variables"),
    )
    .await?;
    let spec = state
        .store
        .project(project)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("project {project}"), ""))?;
    let stored = state.store.variable_values(project).await?;
    let mut views: Vec<VariableView> = Vec::new();
    for decl in &spec.variables {
        let set = stored
            .iter()
            .find(|s| s.name == decl.name && s.scope == decl.scope);
        views.push(view(
            &decl.name,
            &decl.scope,
            decl.sensitive || set.is_some_and(|s| s.sensitive),
            set.map_or(decl.value.clone(), |s| s.value.clone()),
            set.is_some() || decl.value.is_some(),
            if set.is_some() {
                VariableSource::Set
            } else {
                VariableSource::File
            },
            decl.description.clone(),
        ));
    }
    for s in stored.iter().filter(|s| {
        !spec
            .variables
            .iter()
            .any(|d| d.name == s.name && d.scope == s.scope)
    }) {
        views.push(view(
            &s.name,
            &s.scope,
            s.sensitive,
            s.value.clone(),
            true,
            VariableSource::Set,
            String::new(),
        ));
    }
    views.sort_by(|a, b| {
        (&a.name, &a.environment, &a.role).cmp(&(&b.name, &b.environment, &b.role))
    });
    Ok(views)
}

fn view(
    name: &Name,
    scope: &VariableScope,
    sensitive: bool,
    value: Option<String>,
    has_value: bool,
    source: VariableSource,
    description: String,
) -> VariableView {
    VariableView {
        name: name.clone(),
        environment: scope.environment.clone(),
        role: scope.role.clone(),
        sensitive,
        value: if sensitive { None } else { value },
        has_value,
        source,
        description,
    }
}

/// The slot a sealed value is bound to: moving its ciphertext elsewhere makes it unreadable.
fn slot(project: &Name, name: &Name, scope: &VariableScope) -> String {
    format!(
        "{project}/{name}/{}/{}",
        scope.environment.as_ref().map_or("", Name::as_str),
        scope.role.as_ref().map_or("", Name::as_str)
    )
}

async fn operation_for(state: &AppState, scope: &VariableScope) -> Result<Operation, ServiceError> {
    Ok(match &scope.environment {
        None => Operation::SetVariable { protected: None },
        Some(env) => {
            let env = state.store.environment(env).await?.ok_or_else(|| {
                ServiceError::not_found(
                    format!("environment {env}"),
                    "list them with `slipway env list`",
                )
            })?;
            Operation::SetVariable {
                protected: Some(env.protected),
            }
        }
    })
}

/// Set a value in a scope, in one transaction with its audit event; whether it is kept
/// sensitive (declared so in the project file, or asked).
pub async fn set(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    name: &Name,
    scope: VariableScope,
    value: &str,
    sensitive: bool,
) -> Result<bool, ServiceError> {
    let subject = format!("project/{project}/variable/{name}");
    let op = operation_for(state, &scope).await?;
    require(state, actor, op, &subject).await?;
    let Some(spec) = state.store.project(project).await? else {
        return Err(ServiceError::not_found(
            format!("project {project}"),
            "apply its slipway.yaml first",
        ));
    };
    // A variable the project file declares sensitive stays sensitive, whatever the caller says.
    let sensitive = sensitive
        || spec
            .variables
            .iter()
            .any(|d| &d.name == name && d.sensitive);
    let stored = StoredValue {
        name: name.clone(),
        scope: scope.clone(),
        sensitive,
        value: (!sensitive).then(|| value.to_string()),
        ciphertext: sensitive.then(|| state.secrets.seal(&slot(project, name, &scope), value)),
        updated_at: slipway_store::current_time(),
        updated_by: actor.username.clone(),
    };
    let mut tx = state.store.write().await?;
    tx.put_variable_value(project, &stored).await?;
    // The audit trail says that a value changed, never what it is.
    tx.audit(entry(
        actor,
        "variable.set",
        subject,
        json!({ "scope": scope.describe(), "sensitive": sensitive }),
    ));
    tx.commit().await?;
    Ok(sensitive)
}

pub async fn unset(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    name: &Name,
    scope: VariableScope,
) -> Result<(), ServiceError> {
    let subject = format!("project/{project}/variable/{name}");
    let op = operation_for(state, &scope).await?;
    require(state, actor, op, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.delete_variable_value(project, name, &scope).await? {
        return Err(ServiceError::not_found(
            format!("a value set for {name} ({})", scope.describe()),
            "values from slipway.yaml change through `slipway apply`",
        ));
    }
    tx.audit(entry(
        actor,
        "variable.unset",
        subject,
        json!({ "scope": scope.describe() }),
    ));
    tx.commit().await?;
    Ok(())
}

/// The clear value of a sensitive variable, for the deployment engine to hand to the one agent
/// whose task needs it. Never reaches an API response or a page.
pub(crate) fn reveal(state: &AppState, project: &Name, stored: &StoredValue) -> Option<String> {
    stored.ciphertext.as_deref().and_then(|c| {
        state
            .secrets
            .open(&slot(project, &stored.name, &stored.scope), c)
    })
}

/// The values a deployment of `release` sees: those frozen in the release when it was created,
/// and the current value of each secret (secrets are never frozen: they rotate on their own).
pub(crate) async fn deployment_values(
    state: &AppState,
    release: &slipway_store::StoredRelease,
) -> Result<Vec<ScopedValue>, ServiceError> {
    let mut values: Vec<ScopedValue> = release
        .snapshot
        .variables
        .iter()
        .filter_map(|v| {
            v.value.clone().map(|value| ScopedValue {
                name: v.name.clone(),
                scope: v.scope.clone(),
                value,
                sensitive: false,
            })
        })
        .collect();
    for stored in state
        .store
        .variable_values(&release.project)
        .await?
        .into_iter()
        .filter(|s| s.sensitive)
    {
        if let Some(value) = reveal(state, &release.project, &stored) {
            values.push(ScopedValue {
                name: stored.name,
                scope: stored.scope,
                value,
                sensitive: true,
            });
        }
    }
    Ok(values)
}
