//! Routes to deploy, roll back, decide and follow deployments.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::deployments::{
    CreateDeployment, CreateRollback, Decision, DecisionRequest, DeploymentDetail, DeploymentView,
    InterventionAnswer, InterventionView, LogPage,
};
use slipway_api::Page;

use super::paging::page;
use crate::auth::Actor;
use crate::services::deployment_logs::{self, LogFrom, LogRequest};
use crate::services::deployments::{self, Mode};
use crate::services::interventions::{self, Answer};
use crate::services::paging::PageRequest;
use crate::services::parse_name;
use crate::services::promotions;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/deployments", get(list).post(create))
        .route("/api/v1/deployments/{id}", get(show))
        .route("/api/v1/deployments/{id}/logs", get(logs))
        .route("/api/v1/deployments/{id}/decision", post(decide))
        .route("/api/v1/deployments/{id}/proceed", post(proceed))
        .route("/api/v1/deployments/{id}/abort", post(abort))
        .route("/api/v1/rollbacks", post(rollback))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/deployments"),
    ("post", "/api/v1/deployments"),
    ("get", "/api/v1/deployments/{id}"),
    ("get", "/api/v1/deployments/{id}/logs"),
    ("post", "/api/v1/deployments/{id}/decision"),
    ("post", "/api/v1/deployments/{id}/proceed"),
    ("post", "/api/v1/deployments/{id}/abort"),
    ("post", "/api/v1/rollbacks"),
];

async fn create(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateDeployment>,
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
        promotions::Started::Deployment(d) => (
            StatusCode::CREATED,
            Json(serde_json::to_value(d.into_view()).expect("a deployment serialises")),
        ),
        promotions::Started::Waiting(p) => (
            StatusCode::ACCEPTED,
            Json(
                serde_json::to_value(slipway_api::deployments::Started::Waiting {
                    promotion: Box::new(p.into_view()),
                })
                .expect("a promotion serialises"),
            ),
        ),
    })
}

async fn rollback(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateRollback>,
) -> Result<(StatusCode, Json<DeploymentView>), ServiceError> {
    let d = deployments::rollback(
        &state,
        &actor,
        &parse_name("project", &body.project)?,
        &parse_name("environment", &body.environment)?,
        body.reason.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(d.into_view())))
}

#[derive(Deserialize)]
struct ListQuery {
    project: Option<String>,
    environment: Option<String>,
    /// One release's deployments (needs `project`).
    version: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> Result<Json<Page<DeploymentView>>, ServiceError> {
    let request = PageRequest::parse(q.limit, q.after)?;
    let filter = deployments::DeploymentFilter {
        project: q.project.as_deref(),
        environment: q.environment.as_deref(),
        version: q.version.as_deref(),
    };
    let listed = deployments::page(&state, &actor, filter, &request).await?;
    Ok(page(listed))
}

#[derive(Deserialize)]
struct ShowQuery {
    /// Answer once the deployment has an event newer than this `last_event_seq`.
    wait_after: Option<i64>,
    /// How long to wait for it (default 20, at most 60); then answer as it is.
    wait_secs: Option<u64>,
    /// `false`: leave out the plan (`runs`, `rollback_runs` and the rollback preview answer
    /// empty), for a follower that holds it from an earlier answer of the same phase.
    plan: Option<bool>,
    /// Answer only the tasks changed after this `tasks_through` of an earlier answer.
    tasks_after: Option<i64>,
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<ShowQuery>,
) -> Result<Json<DeploymentDetail>, ServiceError> {
    let wait_secs = q.wait_secs.unwrap_or(20);
    if wait_secs > deployments::MAX_WAIT_SECS {
        return Err(ServiceError::invalid(
            format!(
                "wait_secs is {wait_secs}; a reader waits at most {} s for a change",
                deployments::MAX_WAIT_SECS
            ),
            "ask again with the last_event_seq of the answer as wait_after",
        ));
    }
    let wait = match q.wait_after {
        Some(_) => std::time::Duration::from_secs(wait_secs),
        None => std::time::Duration::ZERO,
    };
    let parts = deployments::ViewParts {
        plan: q.plan.unwrap_or(true),
        tasks_after: q.tasks_after,
    };
    let (view, seq) = deployments::get_after(&state, &actor, id, q.wait_after, wait, parts).await?;
    let tasks_through = view.tasks_through;
    let mut answer = detail(view);
    answer.last_event_seq = Some(seq);
    answer.tasks_through = Some(tasks_through);
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    /// One task's lines only.
    task: Option<String>,
    /// Lines stored at or after this RFC 3339 time.
    since: Option<String>,
    /// The previous answer's `next`: read on after the last line the reader holds.
    after: Option<String>,
    /// The former reading by count: how many lines of this selection the reader holds
    /// (slower deep in a long log; kept for clients of before `after`).
    after_line: Option<i64>,
    /// The former name of `after_line`.
    offset: Option<i64>,
    limit: Option<i64>,
}

async fn logs(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Query(q): Query<LogQuery>,
) -> Result<Json<LogPage>, ServiceError> {
    let from = match (q.after.filter(|a| !a.is_empty()), q.after_line.or(q.offset)) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::invalid(
                "after and after_line both say where to read from",
                "pass only after (the previous answer's `next`)",
            ))
        }
        (Some(cursor), None) => LogFrom::Cursor(cursor),
        (None, Some(line)) => LogFrom::Line(line),
        (None, None) => LogFrom::Start,
    };
    let request = LogRequest {
        task: q.task,
        since: q.since,
        from,
        limit: q.limit.unwrap_or(1000),
    };
    Ok(Json(
        deployment_logs::log_page(&state, &actor, id, request)
            .await
            .map(log_page)?,
    ))
}

async fn proceed(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    body: Option<Json<InterventionAnswer>>,
) -> Result<Json<DeploymentView>, ServiceError> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    Ok(Json(
        interventions::answer(&state, &actor, id, Answer::Proceed, body.comment)
            .await?
            .into_view(),
    ))
}

async fn abort(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<InterventionAnswer>,
) -> Result<Json<DeploymentView>, ServiceError> {
    Ok(Json(
        interventions::answer(&state, &actor, id, Answer::Abort, body.comment)
            .await?
            .into_view(),
    ))
}

async fn decide(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<DecisionRequest>,
) -> Result<Json<DeploymentView>, ServiceError> {
    Ok(Json(
        deployments::decide(&state, &actor, id, decision(body.decision))
            .await?
            .into_view(),
    ))
}

fn decision(d: Decision) -> deployments::Decision {
    match d {
        Decision::Retry => deployments::Decision::Retry,
        Decision::Skip => deployments::Decision::Skip,
        Decision::RollBack => deployments::Decision::RollBack,
        Decision::Cancel => deployments::Decision::Cancel,
    }
}

fn detail(d: deployments::DeploymentView) -> DeploymentDetail {
    DeploymentDetail {
        deployment: d.deployment.into_view(),
        tasks: d.tasks.into_view(),
        rollback_preview: d.rollback_preview,
        intervention: d.intervention.map(|i| InterventionView {
            step: i.step,
            name: i.name,
            instructions: i.instructions,
            approvers: i.approvers,
            who_may_answer: i.who_may_answer,
            since: i.since,
        }),
        last_event_seq: None,
        tasks_through: None,
    }
}

fn log_page(page: deployment_logs::LogPage) -> LogPage {
    LogPage {
        items: page.items.into_view(),
        next: page.next,
        next_after_line: page.next_after_line,
        more: page.more,
    }
}
