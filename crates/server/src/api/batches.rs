//! Routes of the batch inventory: list (JSON, or CSV with `?format=csv`) and show. Thin: parse,
//! call `services::batches`, answer a `slipway_api::batches` view.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use slipway_api::batches::{BatchRunView, BatchView, RunEndBody, RunStartBody};
use slipway_api::{List, Page};
use slipway_store::{StoredBatch, StoredBatchRun};

use crate::auth::Actor;
use crate::services::batches::{self, BatchQuery};
use crate::services::paging::PageRequest;
use crate::services::parse_name;
use crate::{AppState, ServiceError};

const BATCHES: &str = "/api/v1/batches";
const BATCH: &str = "/api/v1/batches/{name}";
const RUNS: &str = "/api/v1/batches/{name}/runs";
const RUN_END: &str = "/api/v1/batches/{name}/runs/{id}/end";
const RUN_REQUESTS: &str = "/api/v1/batches/{name}/run-requests";
const RUN_REQUEST: &str = "/api/v1/batches/{name}/run-requests/{id}";
const PING: &str = "/ping/{key}";
const PING_WHAT: &str = "/ping/{key}/{what}";
const DISCOVERED: &str = "/api/v1/discovered-jobs";
const ADOPT: &str = "/api/v1/discovered-jobs/adopt";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", BATCHES),
    ("get", BATCH),
    ("get", RUNS),
    ("post", RUNS),
    ("post", RUN_END),
    ("post", RUN_REQUESTS),
    ("get", RUN_REQUEST),
    ("get", PING),
    ("post", PING),
    ("get", PING_WHAT),
    ("post", PING_WHAT),
    ("get", DISCOVERED),
    ("post", ADOPT),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(BATCHES, get(list_batches))
        .route(BATCH, get(show_batch))
        .route(RUNS, get(list_runs).post(start_run))
        .route(RUN_END, post(end_run))
        .route(RUN_REQUESTS, post(request_run))
        .route(RUN_REQUEST, get(run_request))
        .route(PING, get(ping_success).post(ping_success))
        .route(PING_WHAT, get(ping).post(ping))
        .route(DISCOVERED, get(list_unmanaged))
        .route(ADOPT, post(adopt))
}

#[derive(serde::Deserialize)]
struct EnvQuery {
    #[serde(default)]
    env: Option<String>,
}

/// The jobs the agents found that nobody adopted (`slipway batch unmanaged`).
async fn list_unmanaged(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<EnvQuery>,
) -> Result<Json<List<slipway_api::batches::UnmanagedJobView>>, ServiceError> {
    let env = q.env.filter(|e| !e.is_empty());
    let found = batches::discovered::unmanaged(&state, &actor, env.as_deref()).await?;
    Ok(Json(List::all(
        found
            .into_iter()
            .map(|u| slipway_api::batches::UnmanagedJobView {
                server: u.job.target,
                environment: u.environment,
                key: u.job.key,
                name: u.job.name,
                source: u.job.source,
                schedule: u.job.schedule,
                time_zone: u.job.time_zone,
                user: u.job.run_as,
                command: u.job.command,
                seen_at: u.job.seen_at.to_string(),
            })
            .collect(),
    )))
}

/// Adopt a discovered job into the inventory (`slipway batch adopt`).
async fn adopt(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<slipway_api::batches::AdoptBody>,
) -> Result<(StatusCode, Json<BatchView>), ServiceError> {
    let adoption = batches::discovered::Adoption {
        project: parse_name("project", &body.project)?,
        name: body
            .name
            .as_deref()
            .map(|n| parse_name("name", n))
            .transpose()?,
        server: body.server,
        key: body.key,
    };
    let batch = batches::discovered::adopt(&state, &actor, adoption).await?;
    Ok((StatusCode::CREATED, Json(view(batch, true, None))))
}

/// Ask the agent of the batch's server to run it now (`slipway batch run`).
async fn request_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<slipway_api::batches::RunRequestBody>,
) -> Result<(StatusCode, Json<slipway_api::batches::RunRequestedView>), ServiceError> {
    let batch = parse_name("batch", &name)?;
    let environment = parse_name("environment", &body.env)?;
    let (request, server) = crate::services::batches::agent_runs::request_run(
        &state,
        &actor,
        batch.clone(),
        environment.clone(),
        body.server,
        body.testmode,
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(slipway_api::batches::RunRequestedView {
            request,
            batch: batch.to_string(),
            environment: environment.to_string(),
            server,
            testmode: body.testmode,
        }),
    ))
}

/// Where a run asked for stands (`slipway batch run --wait`).
async fn run_request(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<slipway_api::batches::RunRequestView>, ServiceError> {
    let id: i64 = id.parse().map_err(|_| {
        ServiceError::invalid(
            format!("run request id {id:?} is not a number"),
            "pass the id `slipway batch run` printed (`request N`)",
        )
    })?;
    let crate::services::batches::agent_runs::RequestStatus {
        request,
        state: standing,
        batch,
        run,
    } = crate::services::batches::agent_runs::request_status(
        &state,
        &actor,
        parse_name("batch", &name)?,
        id,
    )
    .await?;
    Ok(Json(slipway_api::batches::RunRequestView {
        request: request.id,
        batch: batch.name.clone(),
        environment: batch.environment.clone(),
        server: batch.target.clone(),
        testmode: request.testmode,
        requested_by: request.requested_by,
        requested_at: request.requested_at.to_string(),
        state: standing,
        run: run.map(|r| run_view(&batch, r)),
    }))
}

/// `/ping/KEY`: a run succeeded. No authentication: the key is the credential.
async fn ping_success(
    State(state): State<AppState>,
    Path(key): Path<String>,
    body: String,
) -> Result<Json<BatchRunView>, ServiceError> {
    let (batch, run) = batches::ping(&state, &key, batches::Ping::End(0), &body).await?;
    Ok(Json(run_view(&batch, run)))
}

/// `/ping/KEY/start`, `/ping/KEY/fail`, `/ping/KEY/CODE`.
async fn ping(
    State(state): State<AppState>,
    Path((key, what)): Path<(String, String)>,
    body: String,
) -> Result<Json<BatchRunView>, ServiceError> {
    let what = batches::Ping::parse(&what)?;
    let (batch, run) = batches::ping(&state, &key, what, &body).await?;
    Ok(Json(run_view(&batch, run)))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunsParams {
    env: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

pub(super) async fn list_runs(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(params): Query<RunsParams>,
) -> Result<Json<Page<BatchRunView>>, ServiceError> {
    let request = PageRequest::parse(params.limit, params.after)?;
    let environment = params
        .env
        .as_deref()
        .map(|e| parse_name("env", e))
        .transpose()?;
    let found = batches::runs(
        &state,
        &actor,
        parse_name("batch", &name)?,
        environment,
        &request,
    )
    .await?;
    Ok(Json(Page {
        items: found
            .items
            .into_iter()
            .map(|(b, r)| run_view(&b, r))
            .collect(),
        next: found.next,
    }))
}

pub(super) async fn start_run(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<RunStartBody>,
) -> Result<(StatusCode, Json<BatchRunView>), ServiceError> {
    let (batch, run) = batches::start_run(
        &state,
        &actor,
        parse_name("batch", &name)?,
        parse_name("env", &body.env)?,
        body.server,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(run_view(&batch, run))))
}

pub(super) async fn end_run(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, id)): Path<(String, String)>,
    Json(body): Json<RunEndBody>,
) -> Result<Json<BatchRunView>, ServiceError> {
    let id: i64 = id.parse().map_err(|_| {
        ServiceError::invalid(
            format!("run id {id:?} is not a number"),
            "pass the id the run's start answered",
        )
    })?;
    let (batch, run) = batches::end_run(
        &state,
        &actor,
        parse_name("batch", &name)?,
        id,
        body.exit_code,
        &body.output_tail,
    )
    .await?;
    Ok(Json(run_view(&batch, run)))
}

fn run_view(b: &StoredBatch, r: StoredBatchRun) -> BatchRunView {
    BatchRunView {
        id: r.id,
        batch: b.name.clone(),
        environment: b.environment.clone(),
        server: b.target.clone(),
        started_at: r.started_at.to_string(),
        ended_at: r.ended_at.map(|t| t.to_string()),
        exit_code: r.exit_code,
        duration_ms: r.duration_ms,
        output_tail: r.output_tail,
        reported_by: r.reported_by,
        not_started: r.not_started,
    }
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    project: Option<String>,
    env: Option<String>,
    format: Option<String>,
}

pub(super) async fn list_batches(
    State(state): State<AppState>,
    actor: Actor,
    Query(params): Query<ListParams>,
) -> Result<Response, ServiceError> {
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ServiceError::invalid(
                format!("format={other:?} is not a format of this list"),
                "pass format=csv for a spreadsheet, or nothing for JSON",
            ))
        }
    };
    let query = BatchQuery {
        project: params
            .project
            .as_deref()
            .map(|p| parse_name("project", p))
            .transpose()?,
        environment: params
            .env
            .as_deref()
            .map(|e| parse_name("env", e))
            .transpose()?,
        name: None,
    };
    let found = batches::list(&state, &actor, query).await?;
    if csv {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"batches.csv\"",
                ),
            ],
            batches::csv(&found),
        )
            .into_response());
    }
    let pings = may_see_ping_keys(&actor);
    let mut refused = batches::not_started_last_day(&state).await?;
    Ok(Json(List::all(
        found
            .into_iter()
            .map(|b| {
                let not_started = refused.remove(&b.id);
                view(b, pings, not_started)
            })
            .collect(),
    ))
    .into_response())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ShowParams {
    env: Option<String>,
}

pub(super) async fn show_batch(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(params): Query<ShowParams>,
) -> Result<Json<List<BatchView>>, ServiceError> {
    let name = parse_name("batch", &name)?;
    let environment = params
        .env
        .as_deref()
        .map(|e| parse_name("env", e))
        .transpose()?;
    let found = batches::show(&state, &actor, name, environment).await?;
    let pings = may_see_ping_keys(&actor);
    let mut refused = batches::not_started_last_day(&state).await?;
    Ok(Json(List::all(
        found
            .into_iter()
            .map(|b| {
                let not_started = refused.remove(&b.id);
                view(b, pings, not_started)
            })
            .collect(),
    )))
}

/// A ping key lets whoever holds it report runs of the batch (and so raise or quiet its alerts):
/// it is shown only to those who may report runs themselves, never to viewers.
fn may_see_ping_keys(actor: &Actor) -> bool {
    slipway_core::access::allows(actor.role, slipway_core::access::Operation::ReportCheck)
}

fn view(
    b: StoredBatch,
    with_ping: bool,
    not_started: Option<slipway_store::NotStartedCount>,
) -> BatchView {
    let d = b.definition;
    BatchView {
        project: b.project,
        environment: b.environment,
        server: b.target,
        name: b.name,
        category: d.category,
        state: d.state,
        schedule: d.schedule,
        time_zone: d.time_zone,
        command: d.command,
        run_dir: d.run_dir,
        log_dir: d.log_dir,
        owner: d.owner,
        customers: d.customers,
        created_at: b.created_at.to_string(),
        installed_at: b.installed_at.to_string(),
        installed_by: b.installed_by,
        deployment: b.installed_by_deployment,
        last_run_at: b.last_run_at.map(|t| t.to_string()),
        last_exit_code: b.last_exit_code,
        next_expected_at: b.next_expected_at.map(|t| t.to_string()),
        status: b.status,
        ping_path: b
            .ping_key
            .filter(|_| with_ping)
            .map(|k| format!("/ping/{k}")),
        hold: b.hold,
        log_problem: b.log_problem,
        not_started: not_started.map(|n| slipway_api::batches::NotStartedView {
            count: n.count,
            last_at: n.last_at.to_string(),
            reason: n.last_reason,
        }),
    }
}
