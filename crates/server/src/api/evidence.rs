//! Routes of evidence bundles: export one release's bundle, show the key that signs them.

use std::pin::Pin;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::io::{AsyncRead, AsyncReadExt};

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

/// The bundle streams as it is read from the temporary files the export wrote: the server never
/// holds it whole.
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
            (header::CONTENT_LENGTH, HeaderValue::from(bundle.size)),
        ],
        Body::from_stream(chunks(bundle.bytes)),
    )
        .into_response())
}

/// The bytes of `reader` in chunks of at most 64 KiB, ending at its end or its first error.
fn chunks(
    reader: Pin<Box<dyn AsyncRead + Send>>,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> {
    futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let mut chunk = vec![0u8; 1 << 16];
        match reader.read(&mut chunk).await {
            Ok(0) => None,
            Ok(n) => {
                chunk.truncate(n);
                Some((Ok(Bytes::from(chunk)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

pub(super) async fn evidence_key(
    State(state): State<AppState>,
    actor: Actor,
) -> Result<Json<KeyView>, ServiceError> {
    Ok(Json(evidence::key(&state, &actor).await?))
}
