//! A request to put a webhook in force (kind `webhook`, asked by `services::webhooks::add`). The
//! webhook is stored at once, held by the request (`held_by`): its secret can be handed to the
//! receiver meanwhile, but it receives nothing and answers no change request until another
//! admin approves. Approval releases it; rejection drops it.

use serde_json::Value;
use slipway_core::diff::{Change, ChangeKind};
use slipway_core::governance::config_change::WebhookGrant;
use slipway_store::{StoredConfigChange, WriteTx};

use super::corrupt;
use crate::ServiceError;

/// Release the webhook the approved `request` holds: the subject as it stands for
/// `config_changes` to compare with the request's base (always none), and what changed
/// meanwhile when it is no longer held by this request (removed, or removed and added again).
pub(super) async fn release(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
) -> Result<(Option<Value>, Option<Change>), ServiceError> {
    let grant: WebhookGrant =
        serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
    if tx.release_webhook(grant.name.as_str(), request.id).await? {
        return Ok((None, None));
    }
    let gone = format!(
        "webhook {} was removed (or removed and added again) since",
        grant.name
    );
    let drift = Change {
        kind: ChangeKind::Update,
        subject: request.subject.clone(),
        details: vec![gone.clone()],
    };
    Ok((Some(Value::String(gone)), Some(drift)))
}

/// A rejected (or withdrawn) request's webhook never comes into force: drop it, with what it
/// had queued (nothing: a held webhook is sent nothing).
pub(super) async fn drop_rejected(
    tx: &mut WriteTx<'_>,
    request: &StoredConfigChange,
) -> Result<(), ServiceError> {
    let grant: WebhookGrant =
        serde_json::from_value(request.desired.clone()).map_err(corrupt(request))?;
    tx.drop_held_webhook(grant.name.as_str(), request.id)
        .await?;
    Ok(())
}
