//! The SonarQube webhook receiver: SonarQube POSTs its analysis-done payload, signed with the
//! shared secret; no token. Thin: hand the raw body and the signature to `services::sonar`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use slipway_api::quality::QualityGateView;
use slipway_store::StoredQualityGate;

use crate::services::sonar;
use crate::{AppState, ServiceError};

const HOOK: &str = "/api/v1/hooks/sonarqube";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[("post", HOOK)];

pub(super) fn router() -> Router<AppState> {
    Router::new().route(HOOK, post(receive))
}

pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ServiceError> {
    let signature = headers
        .get("x-sonar-webhook-hmac-sha256")
        .and_then(|v| v.to_str().ok());
    let stored = sonar::receive(&state, signature, &body).await?;
    Ok((StatusCode::CREATED, Json(gate_view(stored))).into_response())
}

pub(crate) fn gate_view(g: StoredQualityGate) -> QualityGateView {
    QualityGateView {
        id: g.id,
        project: g.project,
        release: g.release,
        source: g.source,
        status: g.status,
        gate_name: g.gate_name,
        revision: g.revision,
        analysed_at: g.analysed_at,
        task_id: g.task_id,
        sha256: g.sha256,
        received_at: g.received_at,
    }
}
