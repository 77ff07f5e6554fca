//! The use cases. The API and the console call these and nothing below them.
//!
//! Each function authorises first (a refusal is itself audited), then reads, decides with
//! `slipway-core`, and writes through one store transaction carrying its audit events.

pub mod agents;
pub mod artifacts;
pub mod audit;
pub mod batches;
pub mod checkpoints;
pub(crate) mod clock;
pub mod config_changes;
pub mod dashboard;
pub mod deployments;
pub mod environments;
pub mod evidence;
pub mod findings;
pub mod health;
pub mod insights;
pub mod interventions;
pub mod paging;
pub mod parity;
pub(crate) mod progress;
pub mod projects;
pub mod promotions;
pub mod quality;
pub mod releases;
mod runs;
pub mod targets;
pub(crate) mod tasks;
pub mod users;
pub mod variables;
pub mod webhooks;

use serde_json::json;
use slipway_core::access::{authorize, Operation};
use slipway_core::audit::AuditEntry;
use slipway_core::Name;

use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Check the permission table; a refusal is written to the audit log before it is returned.
pub(crate) async fn require(
    state: &AppState,
    actor: &Actor,
    op: Operation,
    subject: &str,
) -> Result<(), ServiceError> {
    let Err(denied) = authorize(actor.role, op) else {
        return Ok(());
    };
    let mut tx = state.store.write().await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "access.denied".into(),
        subject: subject.to_string(),
        details: json!({ "role": actor.role.as_str(), "wanted": denied.what }),
    });
    tx.commit().await?;
    Err(denied.into())
}

pub(crate) fn entry(
    actor: &Actor,
    verb: &str,
    subject: String,
    details: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        actor: actor.username.clone(),
        verb: verb.to_string(),
        subject,
        details,
    }
}

/// Parse a name from a URL or form, with a message that names the field.
pub fn parse_name(field: &str, value: &str) -> Result<Name, ServiceError> {
    Name::parse(value).map_err(|e| ServiceError::invalid(format!("{field}: {e}"), ""))
}
