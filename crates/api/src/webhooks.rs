//! Outbound webhooks and their delivery log as the API answers them (admins). A webhook's
//! signing secret appears once, in [`CreatedWebhook`], and never again.

use serde::{Deserialize, Serialize};
use slipway_core::notify::DeliveryState;

/// A subscription (`GET /api/v1/webhooks`): never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    pub name: String,
    pub url: String,
    /// Catalogue names, or `["*"]`.
    pub events: Vec<String>,
    /// Only this project's events; `None` for all.
    pub project: Option<String>,
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// The configuration change request it waits for (another admin's approval); `null` when in
    /// force. A held webhook receives nothing and answers no change request.
    #[serde(default)]
    pub held_by: Option<i64>,
}

/// A new webhook (`POST /api/v1/webhooks`): 201 in force, or 202 held for another admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedWebhook {
    pub webhook: WebhookView,
    /// The HMAC signing secret, shown this once (also when held: the receiver can be set up
    /// while the request waits).
    pub secret: String,
    /// Its scope reaches a protected environment: it waits as a configuration change request
    /// (`null`: in force now).
    #[serde(default)]
    pub held: Option<crate::config_changes::ConfigChangeView>,
}

/// What `POST /api/v1/webhooks` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddWebhook {
    pub name: String,
    pub url: String,
    /// Comma-separated catalogue names, or `*`.
    pub events: String,
    #[serde(default)]
    pub project: Option<String>,
}

/// One event to send to one webhook, and where it stands (`GET /api/v1/webhook-deliveries`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub webhook: String,
    pub event: String,
    pub audit_seq: i64,
    pub state: DeliveryState,
    pub attempts: i64,
    /// When the next attempt is due (pending only), RFC 3339.
    pub next_attempt_at: Option<String>,
    /// The HTTP status of the last attempt, if an answer came.
    pub last_status: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttemptView>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttemptView {
    pub attempt: i64,
    pub at: String,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}
