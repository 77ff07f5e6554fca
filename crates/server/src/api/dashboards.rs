//! Routes of saved dashboards: list, save, open (with each widget's data) and delete. Thin:
//! parse, call `services::saved_dashboards`, answer a `slipway_api::dashboards` view.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use slipway_api::dashboards::{DashboardView, OpenedDashboardView, SaveDashboard};
use slipway_api::List;
use slipway_store::StoredDashboard;

use super::insights::parse_instant;
use crate::auth::Actor;
use crate::services::parse_name;
use crate::services::saved_dashboards::{self, DashboardInput};
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const DASHBOARDS: &str = "/api/v1/dashboards";
const DASHBOARD: &str = "/api/v1/dashboards/{id}";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", DASHBOARDS),
    ("post", DASHBOARDS),
    ("get", DASHBOARD),
    ("delete", DASHBOARD),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(DASHBOARDS, get(list).post(save))
        .route(DASHBOARD, get(show).delete(delete))
}

pub(crate) fn dashboard_view(d: StoredDashboard) -> DashboardView {
    DashboardView {
        url: format!("/dashboards/{}", d.id),
        id: d.id,
        name: d.name.to_string(),
        owner: d.owner,
        shared: d.shared,
        widgets: d.widgets.iter().map(|w| w.as_str().to_string()).collect(),
        project: d.project,
        environment: d.environment,
        from: d.period_from.map(|t| t.to_string()),
        to: d.period_to.map(|t| t.to_string()),
        saved_at: d.saved_at.to_string(),
    }
}

/// A save request's fields parsed into the service's input.
pub(crate) fn input(body: SaveDashboard) -> ApiResult<DashboardInput> {
    let name = |what: &str, text: Option<String>| {
        text.filter(|t| !t.trim().is_empty())
            .map(|t| parse_name(what, t.trim()))
            .transpose()
    };
    let time = |what: &str, text: Option<String>| {
        text.filter(|t| !t.trim().is_empty())
            .map(|t| parse_instant(what, t.trim()))
            .transpose()
    };
    Ok(DashboardInput {
        name: body.name,
        widgets: body.widgets,
        project: name("project", body.project)?,
        environment: name("environment", body.environment)?,
        from: time("from", body.from)?,
        to: time("to", body.to)?,
        shared: body.shared,
    })
}

async fn list(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<List<DashboardView>>> {
    let all = saved_dashboards::list(&state, &actor).await?;
    Ok(Json(List::all(
        all.into_iter().map(dashboard_view).collect(),
    )))
}

async fn save(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<SaveDashboard>,
) -> ApiResult<Response> {
    let saved = saved_dashboards::save(&state, &actor, input(body)?).await?;
    Ok((StatusCode::CREATED, Json(dashboard_view(saved))).into_response())
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<OpenedDashboardView>> {
    let opened = saved_dashboards::open(&state, &actor, id).await?;
    Ok(Json(OpenedDashboardView {
        from: opened.period.from().to_string(),
        to: opened.period.to().to_string(),
        dashboard: dashboard_view(opened.dashboard),
        charts: opened.charts,
    }))
}

async fn delete(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    saved_dashboards::delete(&state, &actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
