//! Saved dashboards (docs/insights.md, "Dashboards"): a person composes one from widgets with
//! filters (project, environment, period), saves it under a name, private or shared, and opens
//! it by its id; each widget's data comes from `core::insights::widgets` (and the DORA widget's
//! from `services::insights`). The API and the console both call these functions.
//!
//! A private dashboard is not found for anyone but its owner; only the owner (or a user
//! manager) deletes one. Saving and deleting write their audit event in the same transaction.

use jiff::Timestamp;
use serde_json::json;
use slipway_core::access::{authorize, Operation};
use slipway_core::insights::widgets::{
    self, CompositionError, DashboardName, Widget, WidgetData, WidgetFacts,
};
use slipway_core::insights::{Insight, Period};
use slipway_core::Name;
use slipway_store::{NewDashboard, ProjectSelection, StoredDashboard};

mod quality_widgets;

use super::insights::{self, DoraQuery};
use super::{entry, require};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// What a person asks to save; every field still to be checked.
#[derive(Debug, Clone, Default)]
pub struct DashboardInput {
    pub name: String,
    pub widgets: Vec<String>,
    pub project: Option<Name>,
    pub environment: Option<Name>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub shared: bool,
}

/// A dashboard opened: what was saved, the period it covers now, and each widget's data.
#[derive(Debug, Clone)]
pub struct OpenedDashboard {
    pub dashboard: StoredDashboard,
    pub period: Period,
    pub charts: Vec<WidgetData>,
}

fn refused(e: CompositionError) -> ServiceError {
    let hint = match e {
        CompositionError::BadName(_) => "give a short name such as \"Release health\"".to_string(),
        _ => format!(
            "pick one or more of: {}; e.g. --widget success-rate --widget rollbacks",
            Widget::allowed()
        ),
    };
    ServiceError::invalid(e.to_string(), hint)
}

/// The dashboards the caller may open: their own and every shared one.
pub async fn list(state: &AppState, actor: &Actor) -> Result<Vec<StoredDashboard>, ServiceError> {
    require(state, actor, Operation::Read, "dashboards").await?;
    Ok(state.store.dashboards_for(&actor.username).await?)
}

/// Save the caller's dashboard of that name (created, or replaced keeping its id and URL).
pub async fn save(
    state: &AppState,
    actor: &Actor,
    input: DashboardInput,
) -> Result<StoredDashboard, ServiceError> {
    require(state, actor, Operation::Read, "dashboards").await?;
    let name = DashboardName::parse(&input.name).map_err(refused)?;
    let chosen = widgets::widgets(input.widgets.iter().map(String::as_str)).map_err(refused)?;
    // The period is checked now (end before start, too wide) so a saved dashboard always opens.
    insights::period(input.from, input.to, slipway_store::current_time())?;
    if let Some(project) = &input.project {
        if state.store.project(project).await?.is_none() {
            return Err(ServiceError::not_found(
                format!("project {project}"),
                "`slipway project list` lists the projects",
            ));
        }
    }
    if let Some(environment) = &input.environment {
        let known = state.store.environments().await?;
        if !known.iter().any(|e| &e.name == environment) {
            return Err(ServiceError::not_found(
                format!("environment {environment}"),
                "`slipway env list` lists the environments",
            ));
        }
    }
    let at = slipway_store::current_time();
    let mut tx = state.store.write().await?;
    let id = tx
        .save_dashboard(&NewDashboard {
            name: &name,
            owner: &actor.username,
            shared: input.shared,
            widgets: &chosen,
            project: input.project.as_ref().map(Name::as_str),
            environment: input.environment.as_ref().map(Name::as_str),
            period_from: input.from,
            period_to: input.to,
            at,
        })
        .await?;
    let names: Vec<&str> = chosen.iter().map(|w| w.as_str()).collect();
    tx.audit(entry(
        actor,
        "dashboard.saved",
        format!("dashboard/{id}"),
        json!({ "id": id, "name": name, "shared": input.shared, "widgets": names,
                "project": input.project, "environment": input.environment,
                "from": input.from.map(|t| t.to_string()), "to": input.to.map(|t| t.to_string()) }),
    ));
    tx.commit().await?;
    readable(state, actor, id).await
}

/// A dashboard the caller may open; a private one of someone else is not found.
async fn readable(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<StoredDashboard, ServiceError> {
    match state.store.dashboard(id).await? {
        Some(d) if d.shared || d.owner == actor.username => Ok(d),
        _ => Err(ServiceError::not_found(
            format!("dashboard {id}"),
            "`slipway dashboard list` lists the dashboards you may open (yours and the shared ones)",
        )),
    }
}

/// Open a dashboard: its widgets' data over its period.
pub async fn open(
    state: &AppState,
    actor: &Actor,
    id: i64,
) -> Result<OpenedDashboard, ServiceError> {
    require(state, actor, Operation::Read, &format!("dashboard/{id}")).await?;
    let dashboard = readable(state, actor, id).await?;
    let period = insights::period(
        dashboard.period_from,
        dashboard.period_to,
        slipway_store::current_time(),
    )?;
    let charts = compute(state, actor, &dashboard, &period).await?;
    Ok(OpenedDashboard {
        dashboard,
        period,
        charts,
    })
}

fn stored_name(what: &str, text: &Option<String>) -> Result<Option<Name>, ServiceError> {
    text.as_deref()
        .map(|t| super::parse_name(what, t))
        .transpose()
}

async fn compute(
    state: &AppState,
    actor: &Actor,
    dashboard: &StoredDashboard,
    period: &Period,
) -> Result<Vec<WidgetData>, ServiceError> {
    let project = stored_name("project", &dashboard.project)?;
    let environment = stored_name("environment", &dashboard.environment)?;
    let environments = state.store.environments().await?;
    let chain: Vec<Name> = environments
        .iter()
        .map(|e| e.name.clone())
        .filter(|e| match &environment {
            Some(wanted) => wanted == e,
            None => true,
        })
        .collect();
    // Counts per day (migration 0050), not deployments: a dashboard over two years reads about
    // what one over a week reads.
    let projects = ProjectSelection {
        project: project.as_ref(),
        team: None,
    };
    let counts = state.store.widget_counts(projects, &chain, period).await?;
    let facts = WidgetFacts {
        chain: &chain,
        counts: &counts,
    };
    let mut charts = Vec::new();
    for widget in &dashboard.widgets {
        charts.push(match widget {
            Widget::Dora => {
                // DORA is about production: a non-production filter measures every production
                // environment of the project.
                let production = environment
                    .as_ref()
                    .filter(|e| environments.iter().any(|x| &x.name == *e && x.production));
                let answer = insights::dora(
                    state,
                    actor,
                    DoraQuery {
                        project: project.clone(),
                        team: None,
                        environment: production.cloned(),
                        from: Some(period.from()),
                        to: Some(period.to()),
                    },
                )
                .await?;
                dora_points(&answer.insight)
            }
            Widget::Flakiness => {
                quality_widgets::flakiness(
                    state,
                    actor,
                    project.as_ref(),
                    environment.as_ref(),
                    period,
                )
                .await?
            }
            Widget::OpenFindings => {
                quality_widgets::open_findings(state, actor, project.as_ref()).await?
            }
            Widget::DeploymentsPerComponent => {
                // Read apart, only for the dashboards that show it (migration 0059).
                let changes = state
                    .store
                    .component_changes(projects, &chain, period)
                    .await?;
                widgets::per_component(&changes, project.as_ref())
            }
            other => widgets::compute(*other, &facts),
        });
    }
    Ok(charts)
}

fn dora_points(insight: &Insight) -> WidgetData {
    let d = match insight {
        Insight::Measured(d) => Some(d),
        Insight::NotConfigured => None,
    };
    let points = vec![
        (
            "Production deployments",
            d.map(|d| d.deployment_frequency.count as f64),
        ),
        (
            "Deployment-days per week",
            d.map(|d| (d.deployment_frequency.days_per_week * 100.0).round() / 100.0),
        ),
        (
            "Lead time, median (h)",
            d.and_then(|d| d.lead_time.spread)
                .map(|s| (s.median_seconds as f64 / 36.0).round() / 100.0),
        ),
        (
            "Change failure rate (%)",
            d.and_then(|d| d.change_failure_rate.rate)
                .map(|r| (r * 10_000.0).round() / 100.0),
        ),
        (
            "Recovery time, median (min)",
            d.and_then(|d| d.recovery_time.spread)
                .map(|s| (s.median_seconds as f64 / 0.6).round() / 100.0),
        ),
        (
            "Rework rate (%)",
            d.and_then(|d| d.rework_rate.rate)
                .map(|r| (r * 10_000.0).round() / 100.0),
        ),
    ];
    WidgetData::new(
        Widget::Dora,
        points
            .into_iter()
            .map(|(label, v)| (label.to_string(), v))
            .collect(),
    )
}

/// Delete a dashboard: its owner, or a user manager.
pub async fn delete(state: &AppState, actor: &Actor, id: i64) -> Result<(), ServiceError> {
    let dashboard = readable(state, actor, id).await?;
    if dashboard.owner != actor.username {
        require(
            state,
            actor,
            Operation::ManageUsers,
            &format!("dashboard/{id}"),
        )
        .await?;
    } else {
        require(state, actor, Operation::Read, &format!("dashboard/{id}")).await?;
    }
    let mut tx = state.store.write().await?;
    tx.delete_dashboard(id).await?;
    tx.audit(entry(
        actor,
        "dashboard.deleted",
        format!("dashboard/{id}"),
        json!({ "id": id, "name": dashboard.name, "owner": dashboard.owner }),
    ));
    tx.commit().await?;
    Ok(())
}

/// Whether the caller may delete `dashboard` (for the console's button).
pub fn may_delete(actor: &Actor, dashboard: &StoredDashboard) -> bool {
    dashboard.owner == actor.username || authorize(actor.role, Operation::ManageUsers).is_ok()
}
