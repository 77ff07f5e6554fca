//! Insights' answers: the DORA figures of a period (`GET /api/v1/insights/dora`) and the pages
//! of deployments and commits behind them. The figures are `core::insights` values, whose
//! serde form is the wire form; these views add what they were computed over.

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
    /// Where the deployments behind the counted figures are paged; `null` when not configured.
    #[serde(default)]
    pub drill_down: Option<DrillDownLinks>,
}

/// Where the deployments and commits behind each counted figure are paged: the answer gives
/// their number, these paths list them (`GET /api/v1/insights/dora/deployments` and
/// `…/dora/commits`, with the question's filters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillDownLinks {
    /// The commits lead time counts (`lead_time.spread.count`).
    pub lead_time: String,
    /// The successful production deployments (`deployment_frequency.count`).
    pub deployment_frequency: String,
    /// The production deployments that ended (`change_failure_rate.counted`).
    pub change_failure_rate: String,
    /// The production deployments and rollbacks that ended (`rework_rate.counted`).
    pub rework_rate: String,
}

/// One deployment behind a figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedDeploymentView {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub release: String,
    /// `deploy` or `rollback`.
    pub kind: String,
    /// `succeeded`, `failed` or `rolled_back`.
    pub state: String,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// `GET /api/v1/insights/dora/deployments?figure=&project=&team=&environment=&from=&to=&after=&limit=`:
/// a page of the deployments a figure counts, in the order of their ids: a keyset page
/// (`items`, `next`: pass it back as `after`), read as [`crate::Page`] too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountedDeploymentsView {
    pub definitions_version: String,
    /// `deployment-frequency`, `change-failure-rate` or `rework-rate`.
    pub figure: String,
    pub project: Option<String>,
    pub team: Option<String>,
    pub environment: Option<String>,
    pub from: String,
    pub to: String,
    /// How many deployments the figure counts in the period, over every page.
    pub count: u64,
    pub items: Vec<CountedDeploymentView>,
    /// The cursor of the next page (give it as `after`); `null` on the last.
    pub next: Option<String>,
}

/// One commit behind lead time: authored, then first in production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedCommitView {
    pub project: String,
    pub hash: String,
    pub authored_at: String,
    /// When its first successful production deployment ended.
    pub deployed_at: String,
    /// That deployment.
    pub deployment: i64,
    /// `deployed_at − authored_at` (0 when the authored time is later: a wrong clock).
    pub seconds: i64,
}

/// `GET /api/v1/insights/dora/commits?project=&team=&environment=&from=&to=&after=&limit=`: a
/// page of the commits lead time counts, in the order of their arrival in production (then
/// project, hash): a keyset page (`items`, `next`: pass it back as `after`), read as
/// [`crate::Page`] too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountedCommitsView {
    pub definitions_version: String,
    pub project: Option<String>,
    pub team: Option<String>,
    pub environment: Option<String>,
    pub from: String,
    pub to: String,
    /// How many commits lead time counts in the period, over every page.
    pub count: u64,
    pub items: Vec<CountedCommitView>,
    /// The cursor of the next page (give it as `after`); `null` on the last.
    pub next: Option<String>,
}
