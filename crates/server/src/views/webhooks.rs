//! Webhook and delivery rows as the API answers them: never a secret.

use slipway_api::webhooks::{DeliveryAttemptView, DeliveryView, WebhookView};
use slipway_store::{format_time, Delivery, DeliveryAttempt, Webhook};

use super::IntoView;

impl IntoView for Webhook {
    type View = WebhookView;
    fn into_view(self) -> WebhookView {
        WebhookView {
            name: self.name,
            url: self.url,
            events: self.events,
            project: self.project,
            created_by: self.created_by,
            created_at: format_time(self.created_at),
            held_by: self.held_by,
        }
    }
}

impl IntoView for DeliveryAttempt {
    type View = DeliveryAttemptView;
    fn into_view(self) -> DeliveryAttemptView {
        DeliveryAttemptView {
            attempt: self.attempt,
            at: format_time(self.at),
            status: self.status,
            error: self.error,
            duration_ms: self.duration_ms,
        }
    }
}

impl IntoView for Delivery {
    type View = DeliveryView;
    fn into_view(self) -> DeliveryView {
        DeliveryView {
            id: self.id,
            webhook: self.webhook,
            event: self.event,
            audit_seq: self.audit_seq,
            state: self.state,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.map(format_time),
            last_status: self.last_status,
            last_error: self.last_error,
            created_at: format_time(self.created_at),
            finished_at: self.finished_at.map(format_time),
            attempt_log: self.attempt_log.into_view(),
        }
    }
}
