//! Routes to manage outbound webhooks and read their delivery log (admins).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::webhooks::{AddWebhook, CreatedWebhook, DeliveryView, WebhookView};
use slipway_api::{List, Page};

use super::paging::page;
use crate::auth::Actor;
use crate::services::paging::PageRequest;
use crate::services::webhooks;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(add))
        .route("/api/v1/webhooks/{name}", delete(remove))
        .route("/api/v1/webhooks/{name}/test", post(test))
        .route("/api/v1/webhook-deliveries", get(deliveries))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/webhooks"),
    ("post", "/api/v1/webhooks"),
    ("delete", "/api/v1/webhooks/{name}"),
    ("post", "/api/v1/webhooks/{name}/test"),
    ("get", "/api/v1/webhook-deliveries"),
];

async fn add(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<AddWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ServiceError> {
    let created = webhooks::add(
        &state,
        &actor,
        &body.name,
        &body.url,
        &body.events,
        body.project.as_deref(),
    )
    .await?;
    // Held for another admin: accepted, not yet in force.
    let status = if created.held.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(CreatedWebhook {
            webhook: created.webhook.into_view(),
            secret: created.secret,
            held: created.held,
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<List<WebhookView>>, ServiceError> {
    let items = webhooks::list(&state, &actor).await?;
    Ok(Json(List::all(items.into_view())))
}

async fn remove(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<StatusCode, ServiceError> {
    webhooks::remove(&state, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn test(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<StatusCode, ServiceError> {
    webhooks::test(&state, &actor, &name).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryQuery {
    #[serde(default)]
    webhook: Option<String>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    after: Option<String>,
}

async fn deliveries(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<DeliveryQuery>,
) -> Result<Json<Page<DeliveryView>>, ServiceError> {
    let request = PageRequest::parse(q.limit, q.after)?;
    let found = webhooks::deliveries(&state, &actor, q.webhook.as_deref(), &request).await?;
    Ok(page(found))
}
