//! Service health's answers: a project's SLO with each environment's availability, budget left
//! and burn rates, each probe's latest result, and the monthly availability report. It judges
//! nothing: the server fills them from `core::health`.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/projects/{name}/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthView {
    pub project: String,
    /// The availability objective in percent.
    pub objective: f64,
    pub window_days: u32,
    /// RFC 3339: the server's time the figures are judged at.
    pub at: String,
    pub environments: Vec<EnvironmentHealthView>,
    pub probes: Vec<ProbeStatusView>,
}

/// One environment's SLO figures over the window ending now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentHealthView {
    pub environment: String,
    pub results: u64,
    pub failures: u64,
    /// Good results over all, in [0, 1]; null without data (never 100 % nor 0 %).
    pub availability: Option<f64>,
    /// The share of the error budget left: 1 untouched, 0 spent, below 0 overspent; null
    /// without data.
    pub budget_left: Option<f64>,
    pub burn_rates: Vec<BurnRateView>,
}

/// One burn-rate rule judged now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnRateView {
    /// `page` or `ticket`.
    pub severity: String,
    pub long_window_secs: i64,
    pub short_window_secs: i64,
    pub factor: f64,
    /// Null when the window holds no result.
    pub long_rate: Option<f64>,
    pub short_rate: Option<f64>,
    /// Both windows burn at least `factor`.
    pub firing: bool,
}

/// A probe's latest result in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeStatusView {
    pub environment: String,
    pub probe: String,
    /// `unknown`, `up` or `down`.
    pub state: String,
    /// RFC 3339.
    pub last_at: String,
    pub last_ok: bool,
    pub last_latency_ms: u64,
    pub last_error: Option<String>,
    /// The target whose agent ran it.
    pub reported_by: String,
}

/// `GET /api/v1/projects/{name}/health/report?month=YYYY-MM`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthReportView {
    pub project: String,
    pub month: String,
    pub objective: f64,
    pub environments: Vec<EnvironmentMonthView>,
}

/// One environment's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvironmentMonthView {
    pub environment: String,
    pub results: u64,
    pub failures: u64,
    /// Null without data.
    pub availability: Option<f64>,
    /// Minutes that held a result, and those that held a failure.
    pub measured_minutes: u64,
    pub failed_minutes: u64,
    /// Minutes of failure the objective allows over the whole month.
    pub allowed_failed_minutes: f64,
    /// Whether the objective was met; null without data.
    pub met: Option<bool>,
    /// The month is not over: the figures cover it up to now.
    pub partial: bool,
}
