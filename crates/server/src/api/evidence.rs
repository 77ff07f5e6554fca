//! Routes of evidence bundles: export one release's bundle, show the key that signs them.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::Actor;
use crate::services::evidence::{self, KeyView};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/projects/{name}/releases/{version}/evidence",
            get(export_evidence),
        )
        .route("/api/v1/evidence/key", get(evidence_key))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/projects/{name}/releases/{version}/evidence"),
    ("get", "/api/v1/evidence/key"),
];

pub(super) async fn export_evidence(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
) -> Result<Response, ServiceError> {
    let bundle =
        evidence::export(&state, &actor, &parse_name("project", &project)?, &version).await?;
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", bundle.file_name))
            .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-tar"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bundle.bytes,
    )
        .into_response())
}

pub(super) async fn evidence_key(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<KeyView>, ServiceError> {
    Ok(Json(evidence::key(&state, &actor).await?))
}
