//! Routes of governed configuration: list, show and decide configuration change requests.
//! Thin: each calls one function of `services::config_changes`.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::config_changes::{ConfigChangeDecision, ConfigChangeView};
use slipway_api::Page;
use slipway_store::ChangeSelection;

use crate::auth::Actor;
use crate::services::config_changes;
use crate::services::paging::PageRequest;
use crate::services::signatures::SignAsk;
use crate::{AppState, ServiceError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/config-changes", get(list))
        .route("/api/v1/config-changes/{id}", get(show))
        .route("/api/v1/config-changes/{id}/decision", post(decide))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/config-changes"),
    ("get", "/api/v1/config-changes/{id}"),
    ("post", "/api/v1/config-changes/{id}/decision"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only the requests still waiting for a decision.
    #[serde(default)]
    pending: bool,
    limit: Option<i64>,
    after: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<ConfigChangeView>>, ServiceError> {
    let request = PageRequest::parse(q.limit, q.after)?;
    let selection = if q.pending {
        ChangeSelection::Pending
    } else {
        ChangeSelection::All
    };
    let listed = config_changes::list(&state, &actor, selection, &request).await?;
    Ok(Json(Page {
        items: listed.items,
        next: listed.next,
    }))
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<ConfigChangeView>, ServiceError> {
    Ok(Json(config_changes::get(&state, &actor, id).await?))
}

async fn decide(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<ConfigChangeDecision>,
) -> Result<Json<ConfigChangeView>, ServiceError> {
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    Ok(Json(
        config_changes::decide(&state, &actor, id, body.approve, &body.comment, sign).await?,
    ))
}
