//! The signing keys a project trusts (`slipway key add|list|revoke`). Protected environments
//! take only artifacts a trusted key signed, so trusting a new key for a project whose releases
//! reach a protected environment is a governed change (issue 15, item 1): it waits, as a
//! configuration change request, for an admin other than the person who asked, and is applied
//! with both names by `services::config_changes`. Revoking a key applies at once: it only
//! takes trust away.

use serde_json::json;
use slipway_api::config_changes::ConfigChangeView;
use slipway_core::access::Operation;
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::governance::config_change::{key_reasons, KeyGrant, SubjectKind};
use slipway_core::signing::{KeyError, PublicKey};
use slipway_core::Name;
use slipway_store::SigningKeyRecord;

use super::config_changes::{self, Held};
use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

pub async fn list_keys(
    state: &AppState,
    actor: &Actor,
    project: &Name,
) -> Result<Vec<SigningKeyRecord>, ServiceError> {
    require(
        state,
        actor,
        Operation::Read,
        &format!("project/{project}/keys"),
    )
    .await?;
    Ok(state.store.signing_keys(project).await?)
}

/// What asking to trust a key did.
#[derive(Debug)]
pub enum KeyAdded {
    /// The project trusts the key now.
    Trusted(SigningKeyRecord),
    /// The project's releases reach a protected environment: the key waits for another admin.
    Held(Box<ConfigChangeView>),
}

pub async fn add_key(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    name: &Name,
    public_key: &str,
) -> Result<KeyAdded, ServiceError> {
    let subject = format!("project/{project}/keys/{name}");
    require(state, actor, Operation::ManageKeys, &subject).await?;
    let public_key = PublicKey::parse(public_key).map_err(|e: KeyError| {
        ServiceError::invalid(
            e.to_string(),
            "pass the public key printed by `slipway key generate`",
        )
    })?;
    let mut tx = state.store.write().await?;
    let Some(found) = tx.project(project).await? else {
        return Err(ServiceError::not_found(format!("project {project}"), ""));
    };
    if tx
        .signing_keys(project)
        .await?
        .iter()
        .any(|k| k.name == *name)
    {
        return Err(ServiceError::Conflict(format!(
            "signing key {name} of project {project}"
        )));
    }
    let grant = KeyGrant {
        project: project.clone(),
        name: name.clone(),
        public_key: public_key.to_string(),
    };
    let reached = config_changes::protected_reached(&mut tx, Some(&found)).await?;
    let reasons = key_reasons(&grant, &reached);
    if !reasons.is_empty() {
        let change = Change {
            kind: ChangeKind::Create,
            subject: subject.clone(),
            details: vec![format!("trust key {name} ({public_key})")],
        };
        let held = Held {
            change: &change,
            kind: SubjectKind::SigningKey,
            base: None,
            desired: serde_json::to_value(&grant).expect("a key grant serialises"),
            reasons,
        };
        let holding = config_changes::hold(&mut tx, actor, held).await?;
        tx.commit().await?;
        return Ok(KeyAdded::Held(Box::new(holding.request)));
    }
    let record = SigningKeyRecord {
        project: project.clone(),
        name: name.clone(),
        public_key,
        created_by: actor.username.clone(),
        created_at: slipway_store::current_time(),
        revoked_at: None,
    };
    tx.insert_signing_key(&record).await?;
    tx.audit(entry(
        actor,
        "signing_key.add",
        subject,
        json!({ "public_key": public_key.to_string() }),
    ));
    tx.commit().await?;
    Ok(KeyAdded::Trusted(record))
}

/// Trust the key `slipway up` made for the bundled example, at once and as `slipway` (the
/// installation setting itself up, as it seeds its first admin): the example is a one-admin
/// installation, where no second admin could approve it. Audited, saying why it was not held.
pub async fn trust_example_key(
    state: &AppState,
    project: &Name,
    name: &Name,
    public_key: PublicKey,
) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    tx.insert_signing_key(&SigningKeyRecord {
        project: project.clone(),
        name: name.clone(),
        public_key,
        created_by: "slipway".into(),
        created_at: slipway_store::current_time(),
        revoked_at: None,
    })
    .await?;
    tx.audit(slipway_core::audit::AuditEntry {
        actor: "slipway".into(),
        verb: "signing_key.add".into(),
        subject: format!("project/{project}/keys/{name}"),
        details: json!({
            "public_key": public_key.to_string(),
            "not_held": "the bundled example's own key, made by `slipway up` on its first run",
        }),
    });
    tx.commit().await?;
    Ok(())
}

pub async fn revoke_key(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    name: &Name,
) -> Result<(), ServiceError> {
    let subject = format!("project/{project}/keys/{name}");
    require(state, actor, Operation::ManageKeys, &subject).await?;
    let mut tx = state.store.write().await?;
    if !tx.revoke_signing_key(project, name).await? {
        return Err(ServiceError::not_found(
            format!("an active signing key {name} in project {project}"),
            "list the keys with `slipway key list --project P`",
        ));
    }
    tx.audit(entry(actor, "signing_key.revoke", subject, json!({})));
    tx.commit().await?;
    Ok(())
}
