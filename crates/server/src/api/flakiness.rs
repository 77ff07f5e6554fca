//! Routes of flakiness and quarantine: a suite's flaky tests over its last runs in an
//! environment, and the tests a project keeps in quarantine. Thin: parse, call
//! `services::flakiness`, answer a `slipway_api::quality` view.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use slipway_api::quality::{
    CoveredRunView, FlakinessView, FlakyTestView, HistoryPointView, QuarantineRequest,
    QuarantineView,
};
use slipway_api::List;
use slipway_store::StoredQuarantine;

use super::quality::{attributes, one_value, required};
use crate::auth::Actor;
use crate::services::flakiness::{self, FlakinessQuery, FlakyTest, DEFAULT_RUNS};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const FLAKINESS: &str = "/api/v1/projects/{name}/flakiness";
const QUARANTINES: &str = "/api/v1/projects/{name}/quarantines";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", FLAKINESS),
    ("get", QUARANTINES),
    ("post", QUARANTINES),
    ("delete", QUARANTINES),
];

pub(super) fn router() -> Router<AppState> {
    Router::new().route(FLAKINESS, get(report)).route(
        QUARANTINES,
        get(list_quarantines)
            .post(put_quarantine)
            .delete(lift_quarantine),
    )
}

pub(super) async fn report(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<FlakinessView>> {
    let runs = match one_value(&params, "runs")? {
        Some(text) => text.parse().map_err(|_| {
            ServiceError::invalid(format!("runs={text:?} is not a number"), "pass runs=30")
        })?,
        None => DEFAULT_RUNS,
    };
    let query = FlakinessQuery {
        project: parse_name("project", &project)?,
        environment: parse_name("env", &required(&params, "env", "MET")?)?,
        suite: required(&params, "suite", "e2e")?,
        runs,
        attributes: attributes(&params)?,
    };
    let (project, environment, suite, attributes) = (
        query.project.to_string(),
        query.environment.to_string(),
        query.suite.clone(),
        query.attributes.clone(),
    );
    let report = flakiness::report(&state, &actor, query).await?;
    Ok(Json(FlakinessView {
        project,
        environment,
        suite,
        attributes,
        runs: report
            .runs
            .into_iter()
            .map(|r| CoveredRunView {
                id: r.id,
                release: r.release,
                updated_at: slipway_store::format_time(r.updated_at),
            })
            .collect(),
        judged: report.judged,
        flaky_share: report.flaky_share,
        flaky: report.flaky.into_iter().map(flaky_view).collect(),
    }))
}

fn flaky_view(test: FlakyTest) -> FlakyTestView {
    FlakyTestView {
        junit_suite: test.counts.junit_suite,
        key: test.counts.key.as_str().to_string(),
        name: test.counts.name,
        runs: test.flakiness.runs,
        switches: test.flakiness.switches,
        switch_rate: test.flakiness.switch_rate,
        passed_after_retry: test.flakiness.passed_after_retry,
        last_switch_run: test.flakiness.last_switch_run,
        quarantine: test.quarantine.map(quarantine_view),
        history: test
            .history
            .into_iter()
            .map(|(run, status, retried)| HistoryPointView {
                run,
                status,
                retried,
            })
            .collect(),
    }
}

pub(crate) fn quarantine_view(q: StoredQuarantine) -> QuarantineView {
    QuarantineView {
        project: q.project,
        suite: q.suite,
        test: q.key.as_str().to_string(),
        reason: q.reason,
        expires_at: slipway_store::format_time(q.expires_at),
        created_by: q.created_by,
        created_at: slipway_store::format_time(q.created_at),
    }
}

pub(super) async fn list_quarantines(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
) -> ApiResult<Json<List<QuarantineView>>> {
    let found = flakiness::quarantines(&state, &actor, &parse_name("project", &project)?).await?;
    Ok(Json(List::all(
        found.into_iter().map(quarantine_view).collect(),
    )))
}

pub(super) async fn put_quarantine(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Json(body): Json<QuarantineRequest>,
) -> ApiResult<Response> {
    let expires_at = body.expires_at.parse().map_err(|e| {
        ServiceError::invalid(
            format!(
                "expires_at {:?} is not an RFC 3339 time: {e}",
                body.expires_at
            ),
            "pass a time such as 2027-01-31T00:00:00Z",
        )
    })?;
    let stored = flakiness::quarantine(
        &state,
        &actor,
        flakiness::QuarantineRequest {
            project: parse_name("project", &project)?,
            suite: body.suite,
            test: body.test,
            reason: body.reason,
            expires_at,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(quarantine_view(stored))).into_response())
}

pub(super) async fn lift_quarantine(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Json<QuarantineView>> {
    let lifted = flakiness::lift(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &required(&params, "suite", "e2e")?,
        &required(&params, "test", "test_pets::test_flaky")?,
    )
    .await?;
    Ok(Json(quarantine_view(lifted)))
}
