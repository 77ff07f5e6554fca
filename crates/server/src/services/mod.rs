//! The use cases. The API and the console call these and nothing below them.
//!
//! Each function authorises first (a refusal is itself audited), then reads, decides with
//! `slipway-core`, and writes through one store transaction carrying its audit events.

pub mod agents;
pub mod alerts;
pub mod artifacts;
pub mod audit;
pub mod batches;
pub mod checkpoints;
pub mod cli_sign_ins;
pub(crate) mod clock;
pub mod complaints;
pub mod config_changes;
pub mod coverage;
pub mod dashboard;
pub mod deployment_logs;
pub mod deployment_timeline;
pub mod deployments;
pub(crate) mod directory;
pub mod environments;
pub mod evidence;
mod evidence_key;
mod evidence_quality;
pub mod findings;
pub mod flags;
pub mod flakiness;
pub mod health;
pub mod insights;
pub mod interventions;
pub(crate) mod oidc_recheck;
pub mod paging;
pub mod parity;
pub(crate) mod progress;
pub mod projects;
pub mod promotions;
pub mod quality;
pub mod release_quality;
pub mod releases;
mod runs;
pub mod saved_dashboards;
mod sessions;
pub(crate) mod signatures;
pub mod signing_keys;
pub mod sonar;
pub(crate) mod sso;
pub mod targets;
pub(crate) mod tasks;
pub mod test_batteries;
pub mod users;
pub mod variables;
pub mod vault_upkeep;
pub mod verification;
pub mod webhooks;
pub mod witness;

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

/// Receive an uploaded report (test results, a scan) into a temporary file: refused unread when
/// its announced length is over `limit`, cut when it grows past it. `what` names the report in
/// the error of a body that stopped early; `too_large` is the answer past the limit.
pub(crate) async fn receive_report<S, E>(
    state: &AppState,
    body: S,
    content_length: Option<u64>,
    limit: u64,
    what: &str,
    too_large: fn(u64) -> ServiceError,
) -> Result<crate::vault::Received, ServiceError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    use crate::vault::UploadError;
    if content_length.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    // Through the page cache: the report's reader reads it back at once.
    crate::vault::receive_via(
        body,
        &state.vault.tmp_dir(),
        limit,
        crate::vault::WritePath::PageCache,
    )
    .await
    .map_err(|e| match e {
        UploadError::TooLarge { limit } => too_large(limit),
        UploadError::Interrupted(why) => ServiceError::BadRequest {
            message: format!("the {what} ended before its end ({why}); nothing was kept"),
            hint: "push again".into(),
        },
        UploadError::Io(e) => ServiceError::VaultIo(e.to_string()),
    })
}

/// Parse a name from a URL or form, with a message that names the field.
pub fn parse_name(field: &str, value: &str) -> Result<Name, ServiceError> {
    Name::parse(value).map_err(|e| ServiceError::invalid(format!("{field}: {e}"), ""))
}
