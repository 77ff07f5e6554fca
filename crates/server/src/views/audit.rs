//! Audit events as the API answers them: every field the chain hash covers, details as the
//! exact canonical text that was hashed.

use slipway_api::audit::{AuditPage, ChainEventView};
use slipway_core::audit::AuditEvent;

use super::IntoView;

impl IntoView for AuditEvent {
    type View = ChainEventView;
    fn into_view(self) -> ChainEventView {
        ChainEventView {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            verb: self.verb,
            subject: self.subject,
            details: self.details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl IntoView for slipway_store::AuditPage {
    type View = AuditPage;
    fn into_view(self) -> AuditPage {
        AuditPage {
            items: self.items.into_view(),
            next: self.next,
        }
    }
}
