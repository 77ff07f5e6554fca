//! Flags as code: a project's `flags:` brought onto the server inside `apply`'s transaction.
//! Each flag is created or updated, and its state written in every environment of the chain;
//! a state that changes in a protected environment waits for a second person (or, broken by
//! glass, applies and reverts at expiry). A flag left out of the file is left alone.

use serde_json::json;
use slipway_core::config::ProjectFlags;
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::flags::{FlagDecl, HeldFlag};
use slipway_core::governance::config_change::{flag_reasons, SubjectKind};
use slipway_core::model::Environment;
use slipway_store::WriteTx;

use super::subject;
use crate::auth::Actor;
use crate::services::config_changes::{Admissions, Glass, Held};
use crate::services::entry;
use crate::ServiceError;

/// Apply a project's declared flags; returns the changes applied now (held ones and those let
/// through by break-glass are in `admissions`).
pub(crate) async fn apply(
    tx: &mut WriteTx<'_>,
    actor: &Actor,
    glass: Option<&Glass>,
    admissions: &mut Admissions,
    declared: &ProjectFlags,
) -> Result<Vec<Change>, ServiceError> {
    let project = declared.project.as_str();
    let environments = tx.environments().await?;
    let mut changes = Vec::new();
    for flag in &declared.flags {
        if let Some(unknown) = flag
            .environments
            .keys()
            .find(|e| !environments.iter().any(|env| &env.name == *e))
        {
            let known: Vec<&str> = environments.iter().map(|e| e.name.as_str()).collect();
            return Err(ServiceError::invalid(
                format!(
                    "flag {} names environment {unknown}, which does not exist on the server",
                    flag.name
                ),
                format!(
                    "name one of {}, or declare it under `environments:`",
                    known.join(", ")
                ),
            ));
        }
        if let Some(change) = apply_definition(tx, actor, project, flag).await? {
            changes.push(change);
        }
        for env in &environments {
            let governed = Governed {
                actor,
                glass,
                admissions: &mut *admissions,
            };
            let place = FlagIn { project, flag, env };
            if let Some(change) = apply_state(tx, governed, place).await? {
                changes.push(change);
            }
        }
    }
    Ok(changes)
}

/// Who applies, and where governed changes go.
struct Governed<'a> {
    actor: &'a Actor,
    glass: Option<&'a Glass>,
    admissions: &'a mut Admissions,
}

/// A declared flag in one environment.
struct FlagIn<'a> {
    project: &'a str,
    flag: &'a FlagDecl,
    env: &'a Environment,
}

/// A flag's type and description, created or updated with its audit event; `None` when unchanged.
async fn apply_definition(
    tx: &mut WriteTx<'_>,
    actor: &Actor,
    project: &str,
    flag: &FlagDecl,
) -> Result<Option<Change>, ServiceError> {
    let name = flag.name.as_str();
    let stored = tx.flag(project, name).await?;
    let kind = match &stored {
        None => ChangeKind::Create,
        Some(s) if s.kind != flag.kind || s.description != flag.description => ChangeKind::Update,
        Some(_) => return Ok(None),
    };
    tx.put_flag(project, name, flag.kind, &flag.description)
        .await?;
    let details = match &stored {
        Some(s) if s.kind != flag.kind => vec![format!("type: {} → {}", s.kind, flag.kind)],
        Some(_) => vec!["description changed".to_string()],
        None => vec![format!("new {} flag", flag.kind)],
    };
    let change = Change {
        kind,
        subject: format!("flag/{project}/{name}"),
        details,
    };
    tx.audit(entry(
        actor,
        if kind == ChangeKind::Create {
            "flag.create"
        } else {
            "flag.update"
        },
        change.subject.clone(),
        json!({ "changes": change.details }),
    ));
    Ok(Some(change))
}

/// A flag's state in one environment as declared: applied with its audit event (the change is
/// returned), held for a second person where the environment protects it, or applied through
/// break-glass.
async fn apply_state(
    tx: &mut WriteTx<'_>,
    governed: Governed<'_>,
    FlagIn { project, flag, env }: FlagIn<'_>,
) -> Result<Option<Change>, ServiceError> {
    let actor = governed.actor;
    let name = flag.name.as_str();
    let current = tx.flag_state(project, name, env.name.as_str()).await?;
    let desired = flag.state_in(&env.name);
    let before = current.clone().unwrap_or_default();
    // A state never set is off for everyone: declaring it so changes nothing.
    if &before == desired {
        return Ok(None);
    }
    let subject = subject(project, name, env.name.as_str());
    let change = Change {
        kind: ChangeKind::Update,
        subject: subject.clone(),
        details: before.describe_change(desired),
    };
    let reasons = flag_reasons(env, &flag.name, current.as_ref(), desired);
    if !reasons.is_empty() {
        let held = Held {
            change: &change,
            kind: SubjectKind::Flag,
            base: Some(serde_json::to_value(&before).expect("a flag state serialises")),
            desired: serde_json::to_value(HeldFlag {
                project: project.to_string(),
                flag: name.to_string(),
                kind: flag.kind,
                description: flag.description.clone(),
                environment: env.name.to_string(),
                state: desired.clone(),
            })
            .expect("a held flag serialises"),
            reasons,
        };
        if !governed
            .admissions
            .admit(tx, actor, governed.glass, held)
            .await?
        {
            return Ok(None);
        }
    }
    tx.put_flag_state(project, name, env.name.as_str(), desired, &actor.username)
        .await?;
    tx.audit(entry(
        actor,
        "flag.state",
        subject,
        json!({ "changes": change.details }),
    ));
    Ok(Some(change))
}
