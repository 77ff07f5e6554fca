//! Alerts' answers: an alert with its context (seed 004's fields where its source has them) and
//! lifecycle, and the messages sent to its channels.

use serde::{Deserialize, Serialize};
use slipway_core::alerts::{AlertStatus, Severity, SourceKind};

/// An alert (`GET /api/v1/alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertView {
    pub id: i64,
    /// The grouping key: a condition that repeats under it is this one alert, counted.
    pub key: String,
    pub source: SourceKind,
    pub severity: Severity,
    pub status: AlertStatus,
    pub summary: String,
    /// How many times its condition happened while it was open.
    pub count: i64,
    /// A deployment runs where it comes from: recorded, not sent.
    pub silenced: bool,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub team: Option<String>,
    /// The target it happened on.
    pub server: Option<String>,
    pub batch: Option<String>,
    pub probe: Option<String>,
    pub customers: Vec<String>,
    pub log_path: Option<String>,
    /// The line that tells what went wrong, secrets masked.
    pub line: Option<String>,
    /// RFC 3339.
    pub first_seen: String,
    /// RFC 3339.
    pub last_seen: String,
    /// RFC 3339: when its channels were last told; null while it was never sent.
    pub last_notified: Option<String>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
    /// Null when its condition ended by itself.
    pub resolved_by: Option<String>,
    pub resolved_at: Option<String>,
    /// The line's number in its log file (log alerts).
    #[serde(default)]
    pub line_number: Option<u64>,
    /// RFC 3339: when the line was read on its server (log alerts).
    #[serde(default)]
    pub line_at: Option<String>,
}

/// One message to one channel, and how its sending went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDeliveryView {
    pub id: i64,
    pub channel: String,
    /// fired, renotified, acknowledged or resolved.
    pub notice: String,
    /// pending, delivered or failed.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// An alert and its deliveries (`GET /api/v1/alerts/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertDetail {
    pub alert: AlertView,
    pub deliveries: Vec<AlertDeliveryView>,
}
