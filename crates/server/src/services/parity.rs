//! The parity report between two environments, and the facts the parity gate judges.

use std::collections::BTreeMap;

use slipway_core::access::Operation;
use slipway_core::deploy::vars::ScopedValue;
use slipway_core::governance::parity::{
    compare, Deployed, EnvironmentSide, ParityReport, TargetSide, COMPARED_FACTS,
};
use slipway_core::model::Project;
use slipway_core::release::Version;
use slipway_core::{Name, Sha256};

use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Compare `left` and `right` for `project`; by default MET and the last environment of the
/// chain (production).
pub async fn report(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    left: Option<Name>,
    right: Option<Name>,
) -> Result<ParityReport, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/parity"),
    )
    .await?;
    let left = match left {
        Some(l) => l,
        None => Name::parse("MET").expect("MET is a valid name"),
    };
    let right = match right {
        Some(r) => r,
        None => state
            .store
            .environments()
            .await?
            .pop()
            .map(|e| e.name)
            .ok_or_else(|| {
                ServiceError::invalid(
                    "there is no environment to compare",
                    "declare environments first",
                )
            })?,
    };
    compute(state, project, &left, &right).await
}

pub(crate) async fn compute(
    state: &AppState,
    project: &Name,
    left: &Name,
    right: &Name,
) -> Result<ParityReport, ServiceError> {
    let spec = state.store.project(project).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("project {project}"),
            "list them with `slipway project list`",
        )
    })?;
    for env in [left, right] {
        if state.store.environment(env).await?.is_none() {
            return Err(ServiceError::not_found(
                format!("environment {env}"),
                "list them with `slipway env list`",
            ));
        }
    }
    let values = values(state, &spec).await?;
    let l = side(state, &spec, left, &values).await?;
    let r = side(state, &spec, right, &values).await?;
    Ok(compare(&spec.variables, &l, &r))
}

/// Every value that may apply anywhere: declared in the project, set through the API, and
/// sensitive ones as a fingerprint of their clear value (never the value itself).
async fn values(state: &AppState, spec: &Project) -> Result<Vec<ScopedValue>, ServiceError> {
    let mut values: Vec<ScopedValue> = spec
        .variables
        .iter()
        .filter_map(|d| {
            d.value.clone().map(|value| ScopedValue {
                name: d.name.clone(),
                scope: d.scope.clone(),
                value,
                sensitive: false,
            })
        })
        .collect();
    for stored in state.store.variable_values(&spec.name).await? {
        let value = if stored.sensitive {
            crate::services::variables::reveal(state, &spec.name, &stored)
                .map(|clear| Sha256::of(clear.as_bytes()).to_hex())
        } else {
            stored.value.clone()
        };
        if let Some(value) = value {
            // A value set through the API overrides the declaration of the same scope.
            values.retain(|v| !(v.name == stored.name && v.scope == stored.scope));
            values.push(ScopedValue {
                name: stored.name,
                scope: stored.scope,
                value,
                sensitive: stored.sensitive,
            });
        }
    }
    Ok(values)
}

/// A release an environment received from one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Received {
    pub deployment: i64,
    pub release: String,
}

/// What an environment really holds of a project: per target, the release of the newest
/// successful deployment that no successful rollback has undone, and the newest of those for
/// the environment. Parity and the dashboard both read it, so they never disagree.
pub(crate) struct Holding {
    pub per_target: BTreeMap<String, Received>,
    pub current: Option<Received>,
}

pub(crate) async fn holding(
    state: &AppState,
    project: &str,
    environment: &str,
) -> Result<Holding, ServiceError> {
    // Oldest first, so the newest deployment of each target wins.
    let received = state.store.target_releases(project, environment).await?;
    let mut per_target = BTreeMap::new();
    for (deployment, release, target) in &received {
        per_target.insert(
            target.clone(),
            Received {
                deployment: *deployment,
                release: release.clone(),
            },
        );
    }
    Ok(Holding {
        per_target,
        current: received.last().map(|(deployment, release, _)| Received {
            deployment: *deployment,
            release: release.clone(),
        }),
    })
}

async fn digests(
    state: &AppState,
    project: &Name,
    release: &str,
) -> Result<BTreeMap<String, String>, ServiceError> {
    let Ok(version) = Version::parse(release) else {
        return Ok(BTreeMap::new());
    };
    Ok(state
        .store
        .release(project, &version)
        .await?
        .map(|r| {
            r.artifacts
                .iter()
                .map(|a| (a.component.to_string(), a.digest.to_string()))
                .collect()
        })
        .unwrap_or_default())
}

async fn side(
    state: &AppState,
    spec: &Project,
    env: &Name,
    values: &[ScopedValue],
) -> Result<EnvironmentSide, ServiceError> {
    let held = holding(state, spec.name.as_str(), env.as_str()).await?;
    let last_of: BTreeMap<String, String> = held
        .per_target
        .into_iter()
        .map(|(target, r)| (target, r.release))
        .collect();
    let current_release = held.current.map(|r| r.release);
    let mut known: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for release in last_of.values().chain(current_release.iter()) {
        if !known.contains_key(release) {
            known.insert(release.clone(), digests(state, &spec.name, release).await?);
        }
    }
    let deployed = |release: &String| Deployed {
        release: release.clone(),
        digests: known.get(release).cloned().unwrap_or_default(),
    };
    let targets = crate::services::targets::enrolled_in(state, env)
        .await?
        .into_iter()
        .map(|t| TargetSide {
            facts: COMPARED_FACTS
                .iter()
                .filter_map(|k| t.facts[*k].as_str().map(|v| (k.to_string(), v.to_string())))
                .collect(),
            deployed: last_of.get(&t.name).map(deployed),
            name: t.name,
        })
        .collect();
    Ok(EnvironmentSide {
        environment: env.clone(),
        values: values.to_vec(),
        targets,
        current: current_release.as_ref().map(deployed),
    })
}
