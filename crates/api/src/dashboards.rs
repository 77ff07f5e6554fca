//! Saved dashboards' answers and the body that saves one (`/api/v1/dashboards`). A chart's data
//! is `core::insights::widgets::WidgetData`, whose serde form is the wire form.

use serde::{Deserialize, Serialize};
use slipway_core::insights::widgets::WidgetData;

/// `POST /api/v1/dashboards`: save the caller's dashboard of this name (created, or replaced
/// keeping its id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveDashboard {
    pub name: String,
    /// Widget names, in the order shown (`deployment-duration`, `success-rate`, `rollbacks`,
    /// `deployments-per-project`, `deployments-per-component`, `time-in-environment`, `dora`,
    /// `flakiness`, `open-findings`).
    pub widgets: Vec<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub environment: Option<String>,
    /// `YYYY-MM-DD` or RFC 3339, included; with `to` absent too: the last 30 days when opened.
    #[serde(default)]
    pub from: Option<String>,
    /// Excluded.
    #[serde(default)]
    pub to: Option<String>,
    /// Everyone with read access may open it; otherwise only its owner.
    #[serde(default)]
    pub shared: bool,
}

/// A dashboard as saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardView {
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub shared: bool,
    pub widgets: Vec<String>,
    pub project: Option<String>,
    pub environment: Option<String>,
    /// `null` with `to` null: the 30 days up to when it is opened.
    pub from: Option<String>,
    pub to: Option<String>,
    pub saved_at: String,
    /// The console page that shows it, to share (relative to the server's address).
    pub url: String,
}

/// `GET /api/v1/dashboards/{id}`: the dashboard with each widget's data over its period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenedDashboardView {
    pub dashboard: DashboardView,
    /// The period measured, RFC 3339, `from` included, `to` excluded.
    pub from: String,
    pub to: String,
    pub charts: Vec<WidgetData>,
}
