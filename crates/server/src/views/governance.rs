//! Promotion, decision and change-request rows as the API answers them. It never judges
//! anything: `services::promotions` does.

use slipway_api::governance::{ChangeRequestView, DecisionView, PromotionSummary};
use slipway_store::{format_time, StoredChangeRequest, StoredDecision, StoredPromotion};

use super::IntoView;

impl IntoView for StoredPromotion {
    type View = PromotionSummary;
    fn into_view(self) -> PromotionSummary {
        PromotionSummary {
            id: self.id,
            project: self.project,
            release_version: self.release_version,
            environment: self.environment,
            after_promotion: self.after_promotion,
            state: self.state,
            requested_by: self.requested_by,
            requested_at: format_time(self.requested_at),
            scheduled_for: self.scheduled_for,
            recheck_at: self.recheck_at,
            deployment_id: self.deployment_id,
            updated_at: format_time(self.updated_at),
        }
    }
}

impl IntoView for StoredDecision {
    type View = DecisionView;
    fn into_view(self) -> DecisionView {
        DecisionView {
            id: self.id,
            promotion_id: self.promotion_id,
            decision: self.decision,
            record: self.record,
            decided_at: format_time(self.decided_at),
        }
    }
}

impl IntoView for StoredChangeRequest {
    type View = ChangeRequestView;
    fn into_view(self) -> ChangeRequestView {
        ChangeRequestView {
            id: self.id,
            promotion_id: self.promotion_id,
            state: self.state,
            body: self.body,
            opened_at: format_time(self.opened_at),
            decided_by: self.decided_by,
            decided_at: self.decided_at.map(format_time),
            comment: self.comment,
            // Filled by `services::promotions`, which reads the signatures.
            signature: None,
        }
    }
}
