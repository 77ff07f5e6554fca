//! Configuration change request rows as the API answers them. It decides nothing:
//! `services::config_changes` does.

use slipway_api::config_changes::{BreakGlassView, ConfigChangeView};
use slipway_core::governance::config_change::DECIDER;
use slipway_store::{format_time, StoredBreakGlass, StoredConfigChange};

use super::IntoView;

impl IntoView for StoredConfigChange {
    type View = ConfigChangeView;
    fn into_view(self) -> ConfigChangeView {
        ConfigChangeView {
            id: self.id,
            subject: self.subject,
            kind: self.kind,
            state: self.state,
            details: self.details,
            reasons: self.reasons,
            waits_for: DECIDER,
            author: self.author,
            created_at: format_time(self.created_at),
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(format_time),
            comment: self.comment,
            base: self.base,
            desired: self.desired,
            // Filled by `services::config_changes`, which reads the signatures.
            signature: None,
        }
    }
}

impl IntoView for StoredBreakGlass {
    type View = BreakGlassView;
    fn into_view(self) -> BreakGlassView {
        BreakGlassView {
            id: self.id,
            subject: self.subject,
            details: self.details,
            reason: self.reason,
            actor: self.actor,
            started_at: format_time(self.started_at),
            expires_at: format_time(self.expires_at),
            state: self.state,
            ended_at: self.ended_at.map(format_time),
        }
    }
}
