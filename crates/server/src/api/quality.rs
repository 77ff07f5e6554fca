//! Routes of quality evidence: pushing test results for a release (streamed, outside the JSON
//! body limit), listing, showing and comparing test runs. Thin: parse, call
//! `services::quality`, answer a `slipway_api::quality` view.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use slipway_api::quality::{
    ComparedTestView, NotableTestView, ReportProblemView, TestAttemptView, TestPushView,
    TestResultView, TestRunComparisonView, TestRunDetail, TestRunView,
};
use slipway_api::Page;
use slipway_core::page::MAX_PAGE_SIZE;
use slipway_core::quality::TestOutcome;
use slipway_store::{StoredAttempt, StoredTestResult, StoredTestRun};

use crate::auth::Actor;
use crate::services::paging::PageRequest;
use crate::services::parse_name;
use crate::services::quality::{self, RunQuery, TestPush};
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const PUSH: &str = "/api/v1/projects/{name}/releases/{version}/test-results";
const RUNS: &str = "/api/v1/projects/{name}/releases/{version}/test-runs";
const RUN: &str = "/api/v1/projects/{name}/releases/{version}/test-runs/{id}";
const COMPARE: &str = "/api/v1/projects/{name}/releases/{version}/test-runs/{id}/compare";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("post", PUSH),
    ("get", RUNS),
    ("get", RUN),
    ("get", COMPARE),
];

/// The push, which streams and so takes reports of any size up to its own limit.
pub(super) fn upload_router() -> Router<AppState> {
    Router::new().route(PUSH, post(push_results))
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(RUNS, get(list_runs))
        .route(RUN, get(show_run))
        .route(COMPARE, get(compare_run))
}

pub(super) fn one_value(params: &[(String, String)], name: &str) -> ApiResult<Option<String>> {
    let mut values = params
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone());
    let first = values.next();
    if values.next().is_some() {
        return Err(ServiceError::invalid(
            format!("`{name}` is given more than once"),
            format!("pass one {name}"),
        ));
    }
    Ok(first)
}

pub(super) fn required(
    params: &[(String, String)],
    name: &str,
    example: &str,
) -> ApiResult<String> {
    one_value(params, name)?.ok_or_else(|| {
        ServiceError::invalid(
            format!("the query parameter `{name}` is missing"),
            format!("add ?{name}={example}"),
        )
    })
}

pub(super) fn attributes(params: &[(String, String)]) -> ApiResult<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for (_, pair) in params.iter().filter(|(k, _)| k == "attr") {
        let (key, value) = pair
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| {
                ServiceError::invalid(
                    format!("attr={pair:?} is not KEY=VALUE"),
                    "pass attributes as attr=branch=main",
                )
            })?;
        if found.len() >= 32 || key.len() > 100 || value.len() > 500 {
            return Err(ServiceError::invalid(
                "too many or too long attributes",
                "pass at most 32 attributes, keys up to 100 and values up to 500 characters",
            ));
        }
        found.insert(key.trim().to_string(), value.to_string());
    }
    Ok(found)
}

pub(super) async fn push_results(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let request = TestPush {
        project: parse_name("project", &project)?,
        release: version,
        environment: parse_name("env", &required(&params, "env", "DEV")?)?,
        suite: required(&params, "suite", "e2e")?,
        launch: one_value(&params, "launch")?,
        attributes: attributes(&params)?,
        file_name: one_value(&params, "file")?,
        content_length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    let pushed = quality::push(&state, &actor, request, body.into_data_stream()).await?;
    let status = if pushed.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let view = TestPushView {
        run: run_view(pushed.run),
        created: pushed.created,
        repeated: pushed.repeated,
        testcases: pushed.summary.testcases,
        skipped_testcases: pushed.summary.skipped_testcases,
        problems: pushed
            .summary
            .problems
            .into_iter()
            .map(|p| ReportProblemView {
                line: p.position.line,
                column: p.position.column,
                message: p.message,
            })
            .collect(),
        problems_not_listed: pushed.summary.problems_not_listed,
        truncated_fields: pushed.summary.truncated_fields,
    };
    Ok((status, Json(view)).into_response())
}

pub(super) async fn list_runs(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Page<TestRunView>>> {
    let limit = match one_value(&params, "limit")? {
        Some(text) => Some(text.parse().map_err(|_| ServiceError::BadRequest {
            message: format!(
                "limit={text:?} is not a page size: a page holds 1 to {MAX_PAGE_SIZE} items"
            ),
            hint: format!("pass limit=1..{MAX_PAGE_SIZE}, and follow `next` for more"),
        })?),
        None => None,
    };
    let request = PageRequest::parse(limit, one_value(&params, "after")?)?;
    let runs = quality::list(
        &state,
        &actor,
        RunQuery {
            project: parse_name("project", &project)?,
            release: version,
            environment: one_value(&params, "env")?,
            suite: one_value(&params, "suite")?,
        },
        &request,
    )
    .await?;
    Ok(Json(Page {
        items: runs.items.into_iter().map(run_view).collect(),
        next: runs.next,
    }))
}

fn run_id(text: &str) -> ApiResult<i64> {
    text.parse().map_err(|_| {
        ServiceError::invalid(
            format!("test run id {text:?} is not a number"),
            "pass the id `slipway tests runs` shows",
        )
    })
}

pub(super) async fn show_run(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version, id)): Path<(String, String, String)>,
) -> ApiResult<Json<TestRunDetail>> {
    let detail = quality::show(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &version,
        run_id(&id)?,
    )
    .await?;
    Ok(Json(TestRunDetail {
        run: run_view(detail.run),
        notable: detail
            .notable
            .into_iter()
            .map(|(test, attempts)| NotableTestView {
                test: result_view(test),
                attempt_log: attempts.into_iter().map(attempt_view).collect(),
            })
            .collect(),
    }))
}

pub(super) async fn compare_run(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version, id)): Path<(String, String, String)>,
) -> ApiResult<Json<TestRunComparisonView>> {
    let changes = quality::compare(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &version,
        run_id(&id)?,
    )
    .await?;
    let compared = |list: Vec<TestOutcome>| list.into_iter().map(compared_view).collect();
    Ok(Json(TestRunComparisonView {
        run: run_view(changes.run),
        previous: changes.previous.map(run_view),
        new_failures: compared(changes.comparison.new_failures),
        fixed: compared(changes.comparison.fixed),
        still_failing: compared(changes.comparison.still_failing),
        added: changes.comparison.added,
        removed: changes.comparison.removed,
    }))
}

pub(super) fn run_view(run: StoredTestRun) -> TestRunView {
    TestRunView {
        id: run.id,
        passed: run.totals.passed(),
        project: run.project,
        release: run.release,
        environment: run.environment,
        suite: run.suite,
        launch: run.launch,
        attributes: run.attributes,
        files: run.files,
        totals: run.totals,
        duration_ms: run.duration_ms,
        created_by: run.created_by,
        created_at: slipway_store::format_time(run.created_at),
        updated_at: slipway_store::format_time(run.updated_at),
    }
}

fn result_view(test: StoredTestResult) -> TestResultView {
    TestResultView {
        junit_suite: test.junit_suite,
        key: test.key.as_str().to_string(),
        classname: test.classname,
        name: test.name,
        file: test.file,
        status: test.status,
        attempts: test.attempts,
        failed_attempts: test.failed_attempts,
        duration_ms: test.duration_ms,
        message: test.message,
    }
}

fn attempt_view(attempt: StoredAttempt) -> TestAttemptView {
    TestAttemptView {
        attempt: attempt.attempt,
        status: attempt.status,
        message: attempt.message,
        failure_type: attempt.failure_type,
        detail: attempt.detail,
        system_out: attempt.system_out,
        system_err: attempt.system_err,
        duration_ms: attempt.duration_ms,
    }
}

fn compared_view(test: TestOutcome) -> ComparedTestView {
    ComparedTestView {
        junit_suite: test.suite,
        key: test.key.as_str().to_string(),
        name: test.name,
        status: test.status,
    }
}
