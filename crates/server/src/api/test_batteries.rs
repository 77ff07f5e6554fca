//! Routes of test batteries: a person asks for a declared battery (`202` with its id) and
//! follows it; an agent pushes the JUnit files its battery wrote (streamed, outside the JSON
//! body limit, within the test reports' own). Thin: parse, call `services::test_batteries`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use slipway_api::quality::{TestTriggerRequest, TestTriggerView};
use slipway_protocol::test_reports::TestReportAck;

use super::agents::AgentTarget;
use super::quality::{one_value, required, run_view};
use crate::auth::Actor;
use crate::services::parse_name;
use crate::services::test_batteries::{self, AgentReport, TriggerDetail, TriggerRequest};
use crate::{AppState, ServiceError};

const TRIGGERS: &str = "/api/v1/projects/{name}/test-triggers";
const TRIGGER: &str = "/api/v1/projects/{name}/test-triggers/{id}";
const AGENT_REPORTS: &str = "/api/v1/agent/test-reports";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("post", TRIGGERS),
    ("get", TRIGGER),
    ("post", AGENT_REPORTS),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(TRIGGERS, post(trigger))
        .route(TRIGGER, get(show))
}

/// The agents' report push, which streams.
pub(super) fn upload_router() -> Router<AppState> {
    Router::new().route(AGENT_REPORTS, post(agent_report))
}

fn view(detail: TriggerDetail) -> TestTriggerView {
    let t = detail.trigger;
    TestTriggerView {
        id: t.id,
        project: t.project,
        environment: t.environment,
        release: t.release,
        suite: t.suite,
        role: t.role,
        state: detail.state,
        target: t.target,
        run: detail.run.map(run_view),
        summary: t.summary,
        output: t.output,
        requested_by: t.requested_by,
        requested_at: slipway_store::format_time(t.requested_at),
        started_at: t.started_at.map(slipway_store::format_time),
        finished_at: t.finished_at.map(slipway_store::format_time),
    }
}

async fn trigger(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Json(body): Json<TestTriggerRequest>,
) -> Result<(StatusCode, Json<TestTriggerView>), ServiceError> {
    let request = TriggerRequest {
        project: parse_name("project", &project)?,
        environment: parse_name("environment", &body.environment)?,
        suite: body.suite,
    };
    let trigger = test_batteries::trigger(&state, &actor, request).await?;
    let state_now = trigger.state;
    let detail = TriggerDetail {
        trigger,
        state: state_now,
        run: None,
    };
    Ok((StatusCode::ACCEPTED, Json(view(detail))))
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, id)): Path<(String, i64)>,
) -> Result<Json<TestTriggerView>, ServiceError> {
    let project = parse_name("project", &project)?;
    Ok(Json(view(
        test_batteries::show(&state, &actor, &project, id).await?,
    )))
}

async fn agent_report(
    State(state): State<AppState>,
    AgentTarget(target): AgentTarget,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<TestReportAck>, ServiceError> {
    let attempt = required(&params, "attempt", "1")?;
    let report = AgentReport {
        task: required(&params, "task", "TASK_ID")?,
        attempt: attempt.parse().map_err(|_| {
            ServiceError::invalid(format!("attempt={attempt:?} is not a number"), "")
        })?,
        file: one_value(&params, "file")?,
        content_length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    Ok(Json(
        test_batteries::agent_push(&state, &target, report, body.into_data_stream()).await?,
    ))
}
