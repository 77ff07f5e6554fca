//! Reading and verifying the audit log.

use slipway_core::access::Operation;
use slipway_store::{AuditFilter, AuditPage};

use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

pub async fn list(
    state: &AppState,
    actor: &Actor,
    filter: &AuditFilter,
) -> Result<AuditPage, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    Ok(state.store.audit_events(filter).await?)
}

#[derive(Debug)]
pub struct Verification {
    pub intact: bool,
    pub events: u64,
    /// The first sequence number at which the chain breaks.
    pub first_bad_seq: Option<i64>,
    pub detail: String,
}

pub async fn verify(state: &AppState, actor: &Actor) -> Result<Verification, ServiceError> {
    require(state, actor, Operation::Read, "audit").await?;
    Ok(match state.store.verify_audit_chain().await? {
        Ok(events) => Verification {
            intact: true,
            events,
            first_bad_seq: None,
            detail: format!("{events} events, chain intact"),
        },
        Err(b) => Verification {
            intact: false,
            events: 0,
            first_bad_seq: Some(b.seq),
            detail: b.problem,
        },
    })
}
