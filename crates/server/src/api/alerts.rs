//! Routes of alerts: list (filtered), show with its deliveries, acknowledge, resolve. Thin:
//! parse, call `services::alerts`, answer a `slipway_api::alerts` view.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use slipway_api::alerts::{AlertDeliveryView, AlertDetail, AlertView};
use slipway_api::Page;
use slipway_store::{StoredAlert, StoredAlertDelivery};

use crate::auth::Actor;
use crate::services::alerts::{self, AlertQuery};
use crate::services::paging::PageRequest;
use crate::{AppState, ServiceError};

const ALERTS: &str = "/api/v1/alerts";
const ALERT: &str = "/api/v1/alerts/{id}";
const ACKNOWLEDGE: &str = "/api/v1/alerts/{id}/acknowledge";
const RESOLVE: &str = "/api/v1/alerts/{id}/resolve";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", ALERTS),
    ("get", ALERT),
    ("post", ACKNOWLEDGE),
    ("post", RESOLVE),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(ALERTS, get(list_alerts))
        .route(ALERT, get(show_alert))
        .route(ACKNOWLEDGE, post(acknowledge))
        .route(RESOLVE, post(resolve))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    status: Option<String>,
    project: Option<String>,
    env: Option<String>,
    source: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

async fn list_alerts(
    State(state): State<AppState>,
    actor: Actor,
    Query(p): Query<ListParams>,
) -> Result<Json<Page<AlertView>>, ServiceError> {
    let request = PageRequest::parse(p.limit, p.after)?;
    let query = AlertQuery {
        status: p.status,
        project: p.project,
        environment: p.env,
        source: p.source,
    };
    let found = alerts::list(&state, &actor, &query, &request).await?;
    Ok(Json(Page {
        items: found.items.into_iter().map(view).collect(),
        next: found.next,
    }))
}

fn alert_id(id: &str) -> Result<i64, ServiceError> {
    id.parse().map_err(|_| {
        ServiceError::invalid(
            format!("alert id {id:?} is not a number"),
            "list alerts with `slipway alert list` to find its id",
        )
    })
}

async fn show_alert(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ServiceError> {
    let (alert, deliveries) = alerts::show(&state, &actor, alert_id(&id)?).await?;
    Ok(Json(AlertDetail {
        alert: view(alert),
        deliveries: deliveries.into_iter().map(delivery_view).collect(),
    }))
}

async fn acknowledge(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ServiceError> {
    let alert = alerts::acknowledge(&state, &actor, alert_id(&id)?).await?;
    Ok(Json(view(alert)))
}

async fn resolve(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<Json<AlertView>, ServiceError> {
    let alert = alerts::resolve(&state, &actor, alert_id(&id)?).await?;
    Ok(Json(view(alert)))
}

pub(crate) fn view(a: StoredAlert) -> AlertView {
    let c = a.context;
    AlertView {
        id: a.id,
        key: a.key,
        source: a.source,
        severity: a.severity,
        status: a.status,
        summary: a.summary,
        count: a.count,
        silenced: a.silenced,
        project: c.project,
        environment: c.environment,
        team: c.team,
        server: c.target,
        batch: c.batch,
        probe: c.probe,
        customers: c.customers,
        log_path: c.log_path,
        line: c.line,
        first_seen: a.first_seen.to_string(),
        last_seen: a.last_seen.to_string(),
        last_notified: a.last_notified.map(|t| t.to_string()),
        acknowledged_by: a.acknowledged_by,
        acknowledged_at: a.acknowledged_at.map(|t| t.to_string()),
        resolved_by: a.resolved_by,
        resolved_at: a.resolved_at.map(|t| t.to_string()),
        line_number: c.line_number,
        line_at: c.line_at,
    }
}

fn delivery_view(d: StoredAlertDelivery) -> AlertDeliveryView {
    AlertDeliveryView {
        id: d.id,
        channel: d.channel,
        notice: d.notice.as_str().to_string(),
        state: d.state.as_str().to_string(),
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at,
        last_error: d.last_error,
        created_at: d.created_at,
        finished_at: d.finished_at,
    }
}
