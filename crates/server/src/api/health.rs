//! Routes of service health: a project's SLO overview and its monthly availability report.
//! Thin: parse, call `services::health`, answer a `slipway_api::health` view.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::health::{
    BurnRateView, EnvironmentHealthView, EnvironmentMonthView, HealthView, MonthReportView,
    ProbeStatusView,
};

use crate::auth::Actor;
use crate::services::health::{self, HealthOverview};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

const HEALTH: &str = "/api/v1/projects/{name}/health";
const REPORT: &str = "/api/v1/projects/{name}/health/report";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[("get", HEALTH), ("get", REPORT)];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(HEALTH, get(show_health))
        .route(REPORT, get(show_report))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HealthQuery {
    #[serde(default)]
    environment: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    month: String,
}

async fn show_health(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(query): Query<HealthQuery>,
) -> Result<Json<HealthView>, ServiceError> {
    let project = parse_name("project", &name)?;
    let environment = query
        .environment
        .as_deref()
        .map(|e| parse_name("environment", e))
        .transpose()?;
    let overview = health::overview(&state, &actor, &project, environment.as_ref()).await?;
    Ok(Json(health_view(overview)))
}

pub(crate) fn health_view(o: HealthOverview) -> HealthView {
    HealthView {
        project: o.project.name.to_string(),
        objective: o.slo.objective.percent(),
        window_days: o.slo.window_days,
        at: o.now.to_string(),
        environments: o
            .environments
            .into_iter()
            .map(|e| EnvironmentHealthView {
                results: e.budget.tally.total,
                failures: e.budget.tally.failures,
                availability: e.budget.availability().ratio(),
                budget_left: e.budget.left(),
                burn_rates: e
                    .burn
                    .iter()
                    .map(|b| BurnRateView {
                        severity: b.rule.severity.as_str().to_string(),
                        long_window_secs: b.rule.long.as_secs(),
                        short_window_secs: b.rule.short.as_secs(),
                        factor: b.rule.factor,
                        long_rate: b.long_rate,
                        short_rate: b.short_rate,
                        firing: b.firing,
                    })
                    .collect(),
                environment: e.environment,
            })
            .collect(),
        probes: o
            .probes
            .into_iter()
            .map(|p| ProbeStatusView {
                environment: p.environment,
                probe: p.probe,
                state: p.state.as_str().to_string(),
                last_at: p.latest.at.to_string(),
                last_ok: p.latest.ok,
                last_latency_ms: p.latest.latency_ms,
                last_error: p.latest.error,
                reported_by: p.latest.reported_by,
            })
            .collect(),
    }
}

async fn show_report(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Json<MonthReportView>, ServiceError> {
    let project = parse_name("project", &name)?;
    let (slo, reports) = health::month(&state, &actor, &project, &query.month).await?;
    Ok(Json(MonthReportView {
        project: project.to_string(),
        month: query.month.trim().to_string(),
        objective: slo.objective.percent(),
        environments: reports
            .into_iter()
            .map(|(environment, r)| EnvironmentMonthView {
                environment,
                results: r.tally.total,
                failures: r.tally.failures,
                availability: r.availability().ratio(),
                measured_minutes: r.measured_minutes,
                failed_minutes: r.failed_minutes,
                allowed_failed_minutes: r.allowed_failed_minutes,
                met: r.met(),
                partial: r.partial,
            })
            .collect(),
    }))
}
