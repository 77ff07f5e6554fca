//! Routes to deploy, roll back, decide and follow deployments.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_store::{LogLine, StoredDeployment};

use crate::auth::Actor;
use crate::services::deployments::{self, Decision, DeploymentView, Mode};
use crate::services::parse_name;
use crate::services::promotions::Started;
use crate::{AppState, ServiceError};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deployments", get(list).post(create))
        .route("/api/v1/deployments/{id}", get(show))
        .route("/api/v1/deployments/{id}/logs", get(logs))
        .route("/api/v1/deployments/{id}/decision", post(decide))
        .route("/api/v1/rollbacks", post(rollback))
}

#[cfg(test)]
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/deployments"),
    ("post", "/api/v1/deployments"),
    ("get", "/api/v1/deployments/{id}"),
    ("get", "/api/v1/deployments/{id}/logs"),
    ("post", "/api/v1/deployments/{id}/decision"),
    ("post", "/api/v1/rollbacks"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    project: String,
    release: String,
    environment: String,
    #[serde(default)]
    dry_run: bool,
}

async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<serde_json::Value>), ServiceError> {
    let mode = if body.dry_run {
        Mode::DryRun
    } else {
        Mode::Deploy
    };
    let d = deployments::create(
        &state,
        &actor,
        &parse_name("project", &body.project)?,
        &body.release,
        &parse_name("environment", &body.environment)?,
        mode,
    )
    .await?;
    Ok(match d {
        Started::Deployment(d) => (StatusCode::CREATED, Json(serde_json::to_value(d).expect("a deployment serialises"))),
        Started::Waiting(p) => (StatusCode::ACCEPTED, Json(serde_json::json!({ "promotion": p }))),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    project: String,
    environment: String,
}

async fn rollback(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<RollbackBody>,
) -> Result<(StatusCode, Json<StoredDeployment>), ServiceError> {
    let d = deployments::rollback(
        &state,
        &actor,
        &parse_name("project", &body.project)?,
        &parse_name("environment", &body.environment)?,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[derive(Deserialize)]
struct ListQuery {
    project: Option<String>,
    environment: Option<String>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<Json<serde_json::Value>, ServiceError> {
    let items = deployments::list(
        &state,
        &actor,
        q.project.as_deref(),
        q.environment.as_deref(),
        q.limit.unwrap_or(50),
    )
    .await?;
    Ok(Json(serde_json::json!({ "items": items, "next": null })))
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> Result<Json<DeploymentView>, ServiceError> {
    Ok(Json(deployments::get(&state, &actor, id).await?))
}

#[derive(Deserialize)]
struct LogQuery {
    offset: Option<i64>,
    limit: Option<i64>,
}

async fn logs(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Result<Json<Vec<LogLine>>, ServiceError> {
    Ok(Json(
        deployments::logs(
            &state,
            &actor,
            id,
            q.offset.unwrap_or(0),
            q.limit.unwrap_or(1000),
        )
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: Decision,
}

async fn decide(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<DecisionBody>,
) -> Result<Json<StoredDeployment>, ServiceError> {
    Ok(Json(
        deployments::decide(&state, &actor, id, body.decision).await?,
    ))
}
