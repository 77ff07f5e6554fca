//! Insights' answers: the DORA figures of a period (`GET /api/v1/insights/dora`). The figures
//! and their drill-down lists are `core::insights` values, whose serde form is the wire form;
//! this view adds what they were computed over.

use serde::{Deserialize, Serialize};
use slipway_core::insights::Dora;

/// Whether there was anything to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoraStatus {
    Measured,
    /// No environment is declared `production: true`; `figures` is null (not zeros).
    NotConfigured,
}

/// `GET /api/v1/insights/dora?project=&environment=&from=&to=`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DoraView {
    /// The version of the definitions in docs/insights.md the figures follow.
    pub definitions_version: String,
    pub status: DoraStatus,
    /// `null`: every project.
    pub project: Option<String>,
    /// `null`: no team asked for; else the projects whose `team:` names it.
    #[serde(default)]
    pub team: Option<String>,
    /// `null`: every production environment.
    pub environment: Option<String>,
    /// RFC 3339, included.
    pub from: String,
    /// RFC 3339, excluded.
    pub to: String,
    /// `null` when not configured; within, `null` means no data, never 0.
    pub figures: Option<Dora>,
}
