//! Routes of promotion governance: promotions and their decisions, approvals, overrides,
//! evidence checks, change requests, and the manual clock.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::governance::{
    ChangeRequestView, ClockView, PromotionSummary, PromotionView, SetClock,
};
use slipway_api::signatures::VoteBody;
use slipway_api::Page;
use slipway_core::access::Operation;
use slipway_core::governance::promotion::PromotionState;
use slipway_core::governance::{CheckResult, CheckStatus};
use slipway_store::PromotionFilter;

use super::paging::page;
use crate::auth::Actor;
use crate::services::paging::PageRequest;
use crate::services::promotions;
use crate::services::signatures::SignAsk;
use crate::services::{parse_name, require};
use crate::views::IntoView;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/promotions", get(list).post(request))
        .route("/api/v1/promotions/{id}", get(show))
        .route("/api/v1/promotions/{id}/approve", post(approve))
        .route("/api/v1/promotions/{id}/reject", post(reject))
        .route("/api/v1/promotions/{id}/override", post(override_decision))
        .route("/api/v1/promotions/{id}/cancel", post(cancel))
        .route("/api/v1/checks", post(report_check))
        .route("/api/v1/change-requests", get(change_requests))
        .route("/api/v1/change-requests/{id}", get(change_request))
        .route("/api/v1/change-requests/{id}/decision", post(decide))
        .route("/api/v1/change-requests/{id}/callback", post(callback))
        .route("/api/v1/clock", get(clock).put(set_clock))
        .route("/api/v1/projects/{name}/parity", get(parity))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/promotions"),
    ("post", "/api/v1/promotions"),
    ("get", "/api/v1/promotions/{id}"),
    ("post", "/api/v1/promotions/{id}/approve"),
    ("post", "/api/v1/promotions/{id}/reject"),
    ("post", "/api/v1/promotions/{id}/override"),
    ("post", "/api/v1/promotions/{id}/cancel"),
    ("post", "/api/v1/checks"),
    ("get", "/api/v1/change-requests"),
    ("get", "/api/v1/change-requests/{id}"),
    ("post", "/api/v1/change-requests/{id}/decision"),
    ("post", "/api/v1/change-requests/{id}/callback"),
    ("get", "/api/v1/clock"),
    ("put", "/api/v1/clock"),
    ("get", "/api/v1/projects/{name}/parity"),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestBody {
    project: String,
    release: String,
    to: String,
    #[serde(default)]
    at: Option<String>,
}

async fn request(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<RequestBody>,
) -> ApiResult<(StatusCode, Json<Vec<PromotionView>>)> {
    let views = promotions::request(
        &state,
        &actor,
        &parse_name("project", &body.project)?,
        &body.release,
        &parse_name("to", &body.to)?,
        body.at.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(views.into_view())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    project: Option<String>,
    release: Option<String>,
    environment: Option<String>,
    /// Comma-separated states, e.g. `waiting,deploying`.
    state: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<PromotionSummary>>> {
    let request = PageRequest::parse(q.limit, q.after)?;
    let mut states = Vec::new();
    for s in q.state.iter().flat_map(|s| s.split(',')) {
        states.push(s.trim().parse::<PromotionState>().map_err(|_| {
            ServiceError::invalid(
                format!("unknown promotion state `{s}`"),
                "states are waiting, deploying, succeeded, failed, refused, cancelled",
            )
        })?);
    }
    let filter = PromotionFilter {
        project: q.project,
        release: q.release,
        environment: q.environment,
        states,
    };
    Ok(page(
        promotions::page(&state, &actor, &filter, &request).await?,
    ))
}

async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<PromotionView>> {
    Ok(Json(promotions::get(&state, &actor, id).await?.into_view()))
}

async fn approve(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<VoteBody>,
) -> ApiResult<Json<PromotionView>> {
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    Ok(Json(
        promotions::vote(&state, &actor, id, true, &body.comment, sign)
            .await?
            .into_view(),
    ))
}

async fn reject(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<VoteBody>,
) -> ApiResult<Json<PromotionView>> {
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    Ok(Json(
        promotions::vote(&state, &actor, id, false, &body.comment, sign)
            .await?
            .into_view(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    #[serde(default)]
    reason: String,
    /// The admin's password, where the environment requires overrides signed.
    #[serde(default)]
    password: Option<String>,
}

async fn override_decision(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<OverrideBody>,
) -> ApiResult<Json<PromotionView>> {
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    Ok(Json(
        promotions::override_decision(&state, &actor, id, &body.reason, sign)
            .await?
            .into_view(),
    ))
}

async fn cancel(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<PromotionView>> {
    Ok(Json(
        promotions::cancel(&state, &actor, id).await?.into_view(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    project: String,
    release: String,
    name: String,
    status: CheckStatus,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    details: String,
}

async fn report_check(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CheckBody>,
) -> ApiResult<(StatusCode, Json<CheckResult>)> {
    let check = promotions::report_check(
        &state,
        &actor,
        promotions::CheckReport {
            project: &parse_name("project", &body.project)?,
            version: &body.release,
            name: &parse_name("name", &body.name)?,
            status: body.status,
            url: body.url,
            details: body.details,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(check)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenQuery {
    #[serde(default)]
    open: bool,
    limit: Option<i64>,
    after: Option<String>,
}

async fn change_requests(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<OpenQuery>,
) -> ApiResult<Json<Page<ChangeRequestView>>> {
    let request = PageRequest::parse(q.limit, q.after)?;
    let listed = promotions::change_requests(&state, &actor, q.open, &request).await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for rfc in listed.items {
        items.push(promotions::change_request_view(&state, rfc).await?);
    }
    Ok(Json(Page {
        items,
        next: listed.next,
    }))
}

async fn change_request(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ChangeRequestView>> {
    let rfc = promotions::change_request(&state, &actor, id).await?;
    Ok(Json(promotions::change_request_view(&state, rfc).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    approve: bool,
    #[serde(default)]
    comment: String,
    /// The decider's password, where the environment requires `change_requests` signed.
    #[serde(default)]
    password: Option<String>,
}

async fn decide(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path(id): Path<i64>,
    Json(body): Json<DecisionBody>,
) -> ApiResult<Json<ChangeRequestView>> {
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    let rfc =
        promotions::decide_change_request(&state, &actor, id, body.approve, &body.comment, sign)
            .await?;
    Ok(Json(promotions::change_request_view(&state, rfc).await?))
}

async fn clock(State(state): State<AppState>, actor: Actor) -> ApiResult<Json<ClockView>> {
    require(&state, &actor, Operation::Read, "clock").await?;
    Ok(Json(ClockView {
        now: state.clock.now().to_string(),
        manual: state.clock.is_manual(),
    }))
}

async fn set_clock(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<SetClock>,
) -> ApiResult<Json<ClockView>> {
    require(&state, &actor, Operation::SetClock, "clock").await?;
    let at: jiff::Timestamp = body.now.parse().map_err(|_| {
        ServiceError::invalid(
            format!("`{}` is not a time", body.now),
            "give an RFC 3339 time, e.g. 2026-11-24T19:00:00Z",
        )
    })?;
    crate::services::clock::set(&state, &actor, at).await?;
    Ok(Json(ClockView {
        now: at.to_string(),
        manual: true,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParityQuery {
    left: Option<String>,
    right: Option<String>,
}

async fn parity(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(q): Query<ParityQuery>,
) -> ApiResult<Json<slipway_core::governance::parity::ParityReport>> {
    let left = q
        .left
        .as_deref()
        .map(|l| parse_name("left", l))
        .transpose()?;
    let right = q
        .right
        .as_deref()
        .map(|r| parse_name("right", r))
        .transpose()?;
    Ok(Json(
        crate::services::parity::report(
            &state,
            &actor,
            &parse_name("project", &name)?,
            left,
            right,
        )
        .await?,
    ))
}

/// An ITSM tool answers a change request: no session or token, a signature instead.
async fn callback(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<ChangeRequestView>> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| ServiceError::Refused {
                message: format!("the callback has no {name} header"),
                hint: "send X-Slipway-Webhook, X-Slipway-Timestamp and X-Slipway-Signature".into(),
            })
    };
    let webhook = header("x-slipway-webhook")?;
    let timestamp: i64 = header("x-slipway-timestamp")?.parse().map_err(|_| {
        ServiceError::invalid(
            "X-Slipway-Timestamp is not a number of seconds",
            "send unix seconds",
        )
    })?;
    let signature = header("x-slipway-signature")?;
    Ok(Json(
        promotions::itsm_callback(&state, id, &webhook, timestamp, &signature, &body)
            .await?
            .into_view(),
    ))
}
