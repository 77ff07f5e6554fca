//! Routes of the audit log's signed checkpoints: the key, the checkpoints, signing one now, the
//! events in chain order, and RFC 6962 consistency and inclusion proofs.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::audit::{
    ChainPage, CheckpointKeyView, CheckpointView, ConsistencyProofView, InclusionProofView,
    WitnessReceipt, WitnessSubmission,
};
use slipway_api::Page;

use super::paging::PageQuery;
use crate::auth::Actor;
use crate::services::checkpoints;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<Json<T>, ServiceError>;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/audit/checkpoints/key", get(key))
        .route("/api/v1/audit/checkpoints", get(list).post(sign))
        .route("/api/v1/audit/events", get(events))
        .route("/api/v1/audit/consistency", get(consistency))
        .route("/api/v1/audit/inclusion", get(inclusion))
        .route("/api/v1/audit/witness", post(witness))
        .route("/api/v1/audit/witnessed/{id}", get(witnessed))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/audit/checkpoints/key"),
    ("get", "/api/v1/audit/checkpoints"),
    ("post", "/api/v1/audit/checkpoints"),
    ("get", "/api/v1/audit/events"),
    ("get", "/api/v1/audit/consistency"),
    ("get", "/api/v1/audit/inclusion"),
    ("post", "/api/v1/audit/witness"),
    ("get", "/api/v1/audit/witnessed/{id}"),
];

/// A checkpoint from a server this one witnesses: no user signs in, the checkpoint's signature
/// by a watched key is the credential.
async fn witness(
    State(state): State<AppState>,
    Json(sent): Json<WitnessSubmission>,
) -> ApiResult<WitnessReceipt> {
    Ok(Json(crate::services::witness::receive(&state, sent).await?))
}

/// The checkpoints this witness holds of one log, as a text file of signed notes (public, like
/// the notes themselves), which `slipway audit verify --checkpoints URL` reads.
async fn witnessed(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<([(header::HeaderName, &'static str); 1], String), ServiceError> {
    let text = crate::services::witness::held(&state, &id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}

async fn key(State(state): State<AppState>, actor: Actor) -> ApiResult<CheckpointKeyView> {
    Ok(Json(checkpoints::key(&state, &actor).await?))
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(query): Query<PageQuery>,
) -> ApiResult<Page<CheckpointView>> {
    let listed = checkpoints::list(&state, &actor, &query.request()?).await?;
    Ok(Json(Page {
        items: listed.items,
        next: listed.next,
    }))
}

async fn sign(State(state): State<AppState>, actor: Actor) -> ApiResult<CheckpointView> {
    Ok(Json(checkpoints::sign(&state, Some(&actor)).await?))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<i64>,
    limit: Option<i64>,
}

async fn events(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<EventsQuery>,
) -> ApiResult<ChainPage> {
    let page = checkpoints::events_after(
        &state,
        &actor,
        q.after.unwrap_or(0),
        q.limit.unwrap_or(slipway_store::MAX_EVENTS_PAGE),
    );
    Ok(Json(page.await?))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: u64,
}

async fn consistency(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ConsistencyQuery>,
) -> ApiResult<ConsistencyProofView> {
    Ok(Json(
        checkpoints::consistency(&state, &actor, q.from, q.to).await?,
    ))
}

#[derive(Deserialize)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

async fn inclusion(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<InclusionQuery>,
) -> ApiResult<InclusionProofView> {
    Ok(Json(
        checkpoints::inclusion(&state, &actor, q.index, q.size).await?,
    ))
}
