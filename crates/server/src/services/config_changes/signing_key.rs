//! An approved request to trust a signing key (kind `signing_key`, asked by
//! `services::signing_keys::add_key`), applied while the project still exists and still has no
//! key of that name.

use serde_json::Value;
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::governance::config_change::KeyGrant;
use slipway_core::signing::PublicKey;
use slipway_store::{SigningKeyRecord, StoredConfigChange, WriteTx};

use crate::ServiceError;

/// An approved key request, applied when the project still has no key of that name and still
/// exists: the subject as it stands (for `config_changes` to compare with the request's base,
/// always none), and what changed meanwhile.
pub(super) async fn apply_key_request(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
    grant: KeyGrant,
) -> Result<(Option<Value>, Option<Change>), ServiceError> {
    let moved = |detail: String| Change {
        kind: ChangeKind::Update,
        subject: request.subject.clone(),
        details: vec![detail],
    };
    if tx.project(&grant.project).await?.is_none() {
        let gone = format!("project {} was deleted", grant.project);
        return Ok((Some(Value::String(gone.clone())), Some(moved(gone))));
    }
    let existing = tx
        .signing_keys(&grant.project)
        .await?
        .into_iter()
        .find(|k| k.name == grant.name);
    if let Some(k) = existing {
        let current = KeyGrant {
            public_key: k.public_key.to_string(),
            ..grant
        };
        let detail = format!("key {} ({}) was added meanwhile", k.name, k.public_key);
        let current = serde_json::to_value(current).expect("a key grant serialises");
        return Ok((Some(current), Some(moved(detail))));
    }
    if request.base.is_none() {
        let public_key = PublicKey::parse(&grant.public_key).map_err(|e| {
            ServiceError::Store(slipway_store::StoreError::Corrupt(format!(
                "configuration change request {}: {e}",
                request.id
            )))
        })?;
        tx.insert_signing_key(&SigningKeyRecord {
            project: grant.project,
            name: grant.name,
            public_key,
            created_by: request.author.clone(),
            created_at: slipway_store::current_time(),
            revoked_at: None,
        })
        .await?;
    }
    Ok((None, None))
}
