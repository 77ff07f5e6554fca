//! The service health page: a project's SLO per environment (availability, budget left, burn
//! rates), the availability of the last 48 hours as a time series with the deployments of the
//! period named on their hour, and each probe's latest result. It reads `services::health` only.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use slipway_core::deploy::state::DeploymentState;
use slipway_core::health::minute_of;
use slipway_core::Name;
use slipway_store::StoredProbeStatus;

use super::charts::{self, Caption, Point, Series};
use super::page::{render, Frame, OrProblemPage, PageResult, Section};
use super::user::ConsoleUser;
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

/// Hours the availability chart covers.
const CHART_HOURS: i64 = 48;

struct EnvironmentRow {
    environment: String,
    availability: String,
    budget_left: String,
    budget_bad: bool,
    results: u64,
    failures: u64,
    burn: Vec<(String, String, bool)>,
}

#[derive(Template)]
#[template(path = "health.html")]
struct HealthPage {
    frame: Frame,
    projects: Vec<String>,
    project: String,
    environments: Vec<String>,
    environment: String,
    objective: f64,
    window_days: u32,
    rows: Vec<EnvironmentRow>,
    probes: Vec<StoredProbeStatus>,
    chart: String,
    deployments: Vec<(i64, String, String, String)>,
}

#[derive(Deserialize)]
pub(super) struct HealthQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    environment: String,
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or("no data".into(), |r| format!("{:.3} %", r * 100.0))
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<HealthQuery>,
) -> PageResult {
    let projects: Vec<String> = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    let chosen = if q.project.trim().is_empty() {
        projects.first().cloned().unwrap_or_default()
    } else {
        q.project.trim().to_string()
    };
    let frame = Frame::new("Service health", Some(&user), Section::Health);
    if chosen.is_empty() {
        return Ok(render(
            StatusCode::OK,
            &HealthPage {
                frame,
                projects,
                project: String::new(),
                environments: vec![],
                environment: String::new(),
                objective: 99.9,
                window_days: 30,
                rows: vec![],
                probes: vec![],
                chart: String::new(),
                deployments: vec![],
            },
        ));
    }
    let name = parse_name("project", &chosen).or_page(&user)?;
    let overview = services::health::overview(&state, &user.actor, &name, None)
        .await
        .or_page(&user)?;
    let environments: Vec<String> = overview
        .environments
        .iter()
        .map(|e| e.environment.clone())
        .collect();
    let environment = if environments.contains(&q.environment.trim().to_string()) {
        q.environment.trim().to_string()
    } else {
        environments.first().cloned().unwrap_or_default()
    };
    let rows = overview.environments.iter().map(environment_row).collect();
    let (chart, deployments) = if environment.is_empty() {
        (String::new(), Vec::new())
    } else {
        availability_picture(&state, &user, &name, &environment, &overview)
            .await
            .or_page(&user)?
    };
    Ok(render(
        StatusCode::OK,
        &HealthPage {
            frame,
            projects,
            project: chosen,
            environments,
            environment,
            objective: overview.slo.objective.percent(),
            window_days: overview.slo.window_days,
            rows,
            probes: overview.probes,
            chart,
            deployments,
        },
    ))
}

/// One environment's SLO line: availability, budget left, and each burn-rate rule's two windows.
fn environment_row(e: &services::health::EnvironmentHealth) -> EnvironmentRow {
    let rate = |r: Option<f64>| r.map_or("-".to_string(), |r| format!("{r:.1}×"));
    EnvironmentRow {
        environment: e.environment.clone(),
        availability: percent(e.budget.availability().ratio()),
        budget_left: percent(e.budget.left()),
        budget_bad: e.budget.left().is_some_and(|l| l <= 0.0),
        results: e.budget.tally.total,
        failures: e.budget.tally.failures,
        burn: e
            .burn
            .iter()
            .map(|b| {
                (
                    b.rule.severity.as_str().to_string(),
                    format!(
                        "{} / {} (≥ {}×)",
                        rate(b.long_rate),
                        rate(b.short_rate),
                        b.rule.factor
                    ),
                    b.firing,
                )
            })
            .collect(),
    }
}

/// A deployment drawn on the chart and listed under it: id, release, kind, time.
type DeploymentMark = (i64, String, String, String);

fn hour_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(3600)
}

/// The availability of the last [`CHART_HOURS`] in one environment, per hour, with the
/// deployments of the period named on their hour; and those deployments.
async fn availability_picture(
    state: &AppState,
    user: &ConsoleUser,
    project: &Name,
    environment: &str,
    overview: &services::health::HealthOverview,
) -> Result<(String, Vec<DeploymentMark>), ServiceError> {
    let now = overview.now;
    let since = minute_of(now - SignedDuration::from_hours(CHART_HOURS));
    let minutes =
        services::health::environment_series(state, &user.actor, project, environment, since, now)
            .await?;
    let mut deployments = Vec::new();
    let mut marks: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for d in services::deployments::list(
        state,
        &user.actor,
        Some(project.as_str()),
        Some(environment),
        50,
    )
    .await?
    .into_iter()
    .filter(|d| d.created_at >= since)
    {
        // A deployment its failure rolled back (a verification that saw the service degrade)
        // is marked so, beside the rollbacks people asked for (kind `rollback`).
        let kind = if d.state == DeploymentState::RolledBack {
            format!("{}, rolled back", d.kind.as_str())
        } else {
            d.kind.as_str().to_string()
        };
        marks
            .entry(hour_of(d.created_at))
            .or_default()
            .push(format!("{kind} {} #{}", d.release_version, d.id));
        deployments.push((d.id, d.release_version, kind, d.created_at.to_string()));
    }
    let mut by_hour: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    for m in &minutes {
        let e = by_hour.entry(hour_of(m.minute)).or_default();
        e.0 += m.tally.total;
        e.1 += m.tally.failures;
    }
    let points = (hour_of(since)..=hour_of(now))
        .map(|h| {
            hourly_point(
                h,
                by_hour.get(&h).copied().unwrap_or_default(),
                marks.get(&h),
            )
        })
        .collect();
    let chart = charts::time_series(&Series {
        caption: Caption {
            title: &format!("Availability of {project} in {environment}, per hour"),
            description: "Share of good probe results per hour over the last 48 hours; hours with a deployment name it; the dashed line is the objective.",
        },
        unit: "%",
        points,
        goal: Some(overview.slo.objective.percent()),
    });
    Ok((chart, deployments))
}

/// One hour of the chart: its share of good results, labelled with the deployments made in it.
fn hourly_point(hour: i64, (total, failures): (u64, u64), marks: Option<&Vec<String>>) -> Point {
    let at = Timestamp::from_second(hour * 3600)
        .map(|t| t.strftime("%b %d %H:00").to_string())
        .unwrap_or_default();
    let label = match marks {
        Some(m) => format!("{at} · {}", m.join(", ")),
        None => at,
    };
    // An hour without data is left out of the line, never drawn as 0 % or 100 %.
    let value = if total == 0 {
        f64::NAN
    } else {
        (total - failures.min(total)) as f64 * 100.0 / total as f64
    };
    Point { label, value }
}
