//! Routes for agents (enrolment, heartbeat) and for the people who enrol and revoke them.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::targets::CreatedEnrollmentToken;
use slipway_protocol::{
    AgentStart, AgentStarted, EnrollRequest, EnrollResponse, Heartbeat, HeartbeatResponse,
    LeaseRequest, LeaseResponse, LogAck, LogBatch, TaskResult, PROTOCOL_HEADER, PROTOCOL_VERSION,
};
use slipway_store::Target;

use crate::auth::Actor;
use crate::services;
use crate::services::tasks::Reported;
use crate::{AppState, ServiceError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agent/enroll", post(enroll))
        .route("/api/v1/agent/heartbeat", post(heartbeat))
        .route("/api/v1/agent/lease", post(lease))
        .route("/api/v1/agent/tasks/{id}/logs", post(task_logs))
        .route("/api/v1/agent/tasks/{id}/result", post(task_result))
        .route(
            "/api/v1/agent/artifacts/{digest}",
            axum::routing::get(artifact),
        )
        .route(
            "/api/v1/targets/enrollment-tokens",
            post(create_enrollment_token),
        )
        .route("/api/v1/targets/{name}/revoke", post(revoke))
        .route("/api/v1/agent/start", post(agent_start))
        .route("/api/v1/agent/probes", axum::routing::get(agent_probes))
        .route("/api/v1/agent/probe-results", post(probe_results))
        .route("/api/v1/agent/batches", axum::routing::get(agent_batches))
        .route("/api/v1/agent/batches/claim", post(claim_batches))
        .route("/api/v1/agent/discovered", post(discovered))
        .route("/api/v1/agent/log-errors", post(log_errors))
        .route("/api/v1/agent/batch-runs", post(batch_run_start))
        .route("/api/v1/agent/batch-runs/{id}/end", post(batch_run_end))
        .route(
            "/api/v1/agent/batch-runs/not-started",
            post(batch_run_not_started),
        )
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/agent/enroll"),
    ("post", "/api/v1/agent/heartbeat"),
    ("post", "/api/v1/agent/lease"),
    ("post", "/api/v1/agent/tasks/{id}/logs"),
    ("post", "/api/v1/agent/tasks/{id}/result"),
    ("get", "/api/v1/agent/artifacts/{digest}"),
    ("post", "/api/v1/targets/enrollment-tokens"),
    ("post", "/api/v1/targets/{name}/revoke"),
    ("post", "/api/v1/agent/start"),
    ("get", "/api/v1/agent/probes"),
    ("post", "/api/v1/agent/probe-results"),
    ("get", "/api/v1/agent/batches"),
    ("post", "/api/v1/agent/log-errors"),
    ("post", "/api/v1/agent/batch-runs"),
    ("post", "/api/v1/agent/batch-runs/{id}/end"),
    ("post", "/api/v1/agent/batch-runs/not-started"),
    ("post", "/api/v1/agent/batches/claim"),
    ("post", "/api/v1/agent/discovered"),
];

fn check_protocol(parts: &Parts) -> Result<(), ServiceError> {
    let sent = parts
        .headers
        .get(PROTOCOL_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    if sent == Some(PROTOCOL_VERSION) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            format!(
                "this server speaks agent protocol {PROTOCOL_VERSION}, the agent sent {}",
                sent.map_or("none".to_string(), |v| v.to_string())
            ),
            "run the same Slipway version on the agent and the server",
        ))
    }
}

/// The calling agent's target, from `Authorization: Agent <credential>`.
pub(super) struct AgentTarget(pub Target);

impl FromRequestParts<AppState> for AgentTarget {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        check_protocol(parts)?;
        let credential = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Agent "))
            .ok_or(ServiceError::AgentUnknown)?;
        Ok(AgentTarget(
            services::agents::identify(state, credential.trim()).await?,
        ))
    }
}

async fn enroll(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Json(request): Json<EnrollRequest>,
) -> Result<Json<EnrollResponse>, ServiceError> {
    let (mut parts, ()) = axum::http::Request::new(()).into_parts();
    parts.headers = headers;
    check_protocol(&parts)?;
    Ok(Json(services::agents::enroll(&state, request).await?))
}

async fn agent_probes(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
) -> Result<Json<slipway_protocol::AgentProbes>, ServiceError> {
    Ok(Json(services::health::agent_probes(&state, &target).await?))
}

async fn probe_results(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(batch): Json<slipway_protocol::ProbeResults>,
) -> Result<Json<slipway_protocol::ProbeResultsAck>, ServiceError> {
    Ok(Json(
        services::health::record(&state, &target, batch).await?,
    ))
}

#[derive(Deserialize)]
struct AgentBatchesQuery {
    /// `1`: hand the runs people asked for, as agents of the previous release ask; agents now
    /// claim them with `POST /api/v1/agent/batches/claim`.
    #[serde(default)]
    runs: Option<u8>,
}

async fn agent_batches(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    axum::extract::Query(query): axum::extract::Query<AgentBatchesQuery>,
) -> Result<Json<slipway_protocol::batches::AgentBatches>, ServiceError> {
    let take_runs = query.runs == Some(1);
    Ok(Json(
        services::batches::logs::agent_batches(&state, &target, take_runs).await?,
    ))
}

/// The same list, and the runs people asked for, each handed once: a claim, so a POST (a GET
/// that took them had a side effect a cache or a retry could repeat).
async fn claim_batches(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
) -> Result<Json<slipway_protocol::batches::AgentBatches>, ServiceError> {
    Ok(Json(
        services::batches::logs::agent_batches(&state, &target, true).await?,
    ))
}

/// The jobs the agent found on its host that Slipway did not install.
async fn discovered(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(report): Json<slipway_protocol::batches::Discovered>,
) -> Result<Json<slipway_protocol::batches::DiscoveredAck>, ServiceError> {
    Ok(Json(
        services::batches::discovered::record(&state, &target, report).await?,
    ))
}

async fn batch_run_start(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(start): Json<slipway_protocol::batches::BatchRunStart>,
) -> Result<Json<slipway_protocol::batches::BatchRunStarted>, ServiceError> {
    Ok(Json(
        services::batches::agent_runs::agent_start(&state, &target, start).await?,
    ))
}

/// A run the agent did not start, and why (its previous run still goes, or it runs its most).
async fn batch_run_not_started(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(refused): Json<slipway_protocol::batches::BatchRunNotStarted>,
) -> Result<Json<slipway_protocol::batches::BatchRunStarted>, ServiceError> {
    Ok(Json(
        services::batches::agent_runs::agent_not_started(&state, &target, refused).await?,
    ))
}

async fn batch_run_end(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Path(id): Path<i64>,
    Json(end): Json<slipway_protocol::batches::BatchRunEnd>,
) -> Result<StatusCode, ServiceError> {
    services::batches::agent_runs::agent_end(&state, &target, id, end).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn log_errors(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(reports): Json<slipway_protocol::batches::LogErrors>,
) -> Result<Json<slipway_protocol::batches::LogErrorsAck>, ServiceError> {
    Ok(Json(
        services::batches::logs::record_log_errors(&state, &target, reports).await?,
    ))
}

async fn heartbeat(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(beat): Json<Heartbeat>,
) -> Result<Json<HeartbeatResponse>, ServiceError> {
    Ok(Json(
        services::agents::heartbeat(&state, &target, beat).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollmentTokenBody {
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default = "default_ttl")]
    ttl_hours: u32,
}

fn default_ttl() -> u32 {
    24
}

async fn create_enrollment_token(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<EnrollmentTokenBody>,
) -> Result<(StatusCode, Json<CreatedEnrollmentToken>), ServiceError> {
    let created = services::targets::create_enrollment_token(
        &state,
        &actor,
        body.environment.as_deref(),
        body.roles,
        body.ttl_hours,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn revoke(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<StatusCode, ServiceError> {
    services::targets::revoke(&state, &actor, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn lease(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    body: Option<Json<LeaseRequest>>,
) -> Result<Json<LeaseResponse>, ServiceError> {
    let request = body.map(|Json(b)| b).unwrap_or_default();
    services::agents::called_in(&state, &target).await?;
    Ok(Json(LeaseResponse {
        task: crate::services::tasks::lease(&state, &target, request).await?,
    }))
}

async fn agent_start(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Json(start): Json<AgentStart>,
) -> Result<Json<AgentStarted>, ServiceError> {
    state.store.touch_target(&target.name).await?;
    Ok(Json(
        crate::services::tasks::agent_started(&state, &target, start).await?,
    ))
}

async fn task_logs(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Path(id): Path<String>,
    Json(batch): Json<LogBatch>,
) -> Result<Json<LogAck>, ServiceError> {
    if let Some(trigger) = services::test_batteries::trigger_of(&id) {
        let until = services::progress::lease_deadline();
        return Ok(Json(
            services::test_batteries::logs(&state, &target, trigger, batch, until).await?,
        ));
    }
    Ok(Json(
        crate::services::tasks::logs(&state, &target, &id, batch).await?,
    ))
}

/// A task's result; when it carries the agent's next lease request (`TaskResult::next`), the
/// answer is that lease's (`LeaseResponse`), so a step costs the agent one round trip. Without
/// it (an older agent, the load generator), `204 No Content` as before.
async fn task_result(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Path(id): Path<String>,
    Json(mut result): Json<TaskResult>,
) -> Result<Response, ServiceError> {
    let next = result.next.take();
    let reported = if let Some(trigger) = services::test_batteries::trigger_of(&id) {
        services::test_batteries::result(&state, &target, trigger, result).await?;
        Reported {
            recorded: false,
            next: None,
            looked: None,
        }
    } else {
        crate::services::tasks::result(&state, &target, &id, result, next.as_ref()).await?
    };
    let Some(request) = next else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    services::agents::called_in(&state, &target).await?;
    let task = match reported {
        Reported {
            next: Some(task), ..
        } => Some(task),
        Reported {
            recorded: true,
            next: None,
            looked,
        } => crate::services::tasks::lease_after_result(&state, &target, request, looked).await?,
        Reported {
            recorded: false,
            next: None,
            ..
        } => crate::services::tasks::lease(&state, &target, request).await?,
    };
    Ok(Json(LeaseResponse { task }).into_response())
}

/// An artifact for one of this agent's running tasks: its signature checked again against the
/// environment's policy, its bytes verified by the vault. `If-None-Match: "<digest>"` (the agent
/// holds a verified copy) answers `304` once the same checks passed, without the bytes.
async fn artifact(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Path(digest): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ServiceError> {
    let digest = slipway_core::Sha256::parse(&digest)
        .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let handout = crate::services::tasks::may_fetch(&state, &target, &digest).await?;
    services::releases::check_handout(&state, &handout).await?;
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().trim_matches('"') == digest.to_string());
    if cached {
        let mut response = axum::response::Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    let reader = Actor {
        user_id: format!("agent:{}", target.name),
        username: format!("agent:{}", target.name),
        role: slipway_core::access::Role::Viewer,
        csrf: None,
    };
    let download = services::artifacts::download(&state, &reader, &digest, None).await?;
    let mut response = axum::response::Response::new(download.body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = axum::http::HeaderValue::from_str(&download.size.to_string()) {
        headers.insert(header::CONTENT_LENGTH, v);
    }
    Ok(response)
}
