//! Routes of the complaints register: record, import (CSV, all or nothing), list, export (CSV),
//! show, link and move a project's complaints. Thin: parse, call `services::complaints`,
//! answer `slipway_api::complaints` views.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::complaints::{
    ComplaintLinkRequest, ComplaintStatusRequest, ComplaintView, NewComplaintRequest,
};
use slipway_api::{List, Page};
use slipway_core::complaints::{ComplaintInput, Severity, Status};
use slipway_core::Name;

use super::insights::parse_instant;
use super::paging::page;
use crate::auth::Actor;
use crate::services::complaints::{self, ComplaintQuery, Links, StatusChange};
use crate::services::paging::PageRequest;
use crate::services::parse_name;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const COMPLAINTS: &str = "/api/v1/projects/{name}/complaints";
const IMPORT: &str = "/api/v1/projects/{name}/complaints/import";
const EXPORT: &str = "/api/v1/projects/{name}/complaints/export";
const COMPLAINT: &str = "/api/v1/projects/{name}/complaints/{id}";
const LINKS: &str = "/api/v1/projects/{name}/complaints/{id}/links";
const STATUS: &str = "/api/v1/projects/{name}/complaints/{id}/status";
const OF_RELEASE: &str = "/api/v1/projects/{name}/releases/{version}/complaints";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", COMPLAINTS),
    ("post", COMPLAINTS),
    ("post", IMPORT),
    ("get", EXPORT),
    ("get", COMPLAINT),
    ("post", LINKS),
    ("post", STATUS),
    ("get", OF_RELEASE),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(COMPLAINTS, get(list).post(add))
        .route(IMPORT, post(import))
        .route(EXPORT, get(export))
        .route(COMPLAINT, get(show))
        .route(LINKS, post(link))
        .route(STATUS, post(change_status))
        .route(OF_RELEASE, get(of_release))
}

/// `?limit=N&after=CURSOR` of a release's complaints.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageParams {
    limit: Option<i64>,
    after: Option<String>,
}

pub(super) async fn of_release(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, version)): Path<(String, String)>,
    Query(params): Query<PageParams>,
) -> ApiResult<Json<Page<ComplaintView>>> {
    let request = PageRequest::parse(params.limit, params.after)?;
    let found =
        complaints::release_complaints(&state, &actor, &project(&name)?, &version, &request)
            .await?;
    Ok(page(found))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListParams {
    status: Option<String>,
    severity: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    limit: Option<i64>,
    after: Option<String>,
}

/// The export's parameters: the list's filters, and at most how many (every complaint they
/// select by default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportParams {
    status: Option<String>,
    severity: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    limit: Option<i64>,
}

/// The filters of a list or an export.
struct Filters {
    status: Option<String>,
    severity: Option<String>,
    environment: Option<String>,
    release: Option<String>,
}

fn query(params: Filters) -> ApiResult<ComplaintQuery> {
    let nonempty = |t: Option<String>| t.filter(|t| !t.is_empty());
    let status = nonempty(params.status)
        .map(|s| {
            s.parse::<Status>()
                .map_err(|e| ServiceError::invalid(e.to_string(), "e.g. status=new"))
        })
        .transpose()?;
    let severity = nonempty(params.severity)
        .map(|s| {
            Severity::from_label(&s).ok_or_else(|| {
                ServiceError::invalid(
                    format!("severity {s:?} is not P1 to P4"),
                    "e.g. severity=P1",
                )
            })
        })
        .transpose()?;
    Ok(ComplaintQuery {
        status,
        severity,
        environment: nonempty(params.environment)
            .map(|e| parse_name("environment", &e))
            .transpose()?,
        release: nonempty(params.release),
    })
}

fn project(name: &str) -> ApiResult<Name> {
    parse_name("project", name)
}

pub(super) async fn list(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(params): Query<ListParams>,
) -> ApiResult<Json<Page<ComplaintView>>> {
    let request = PageRequest::parse(params.limit, params.after)?;
    let filters = Filters {
        status: params.status,
        severity: params.severity,
        environment: params.environment,
        release: params.release,
    };
    let found =
        complaints::list(&state, &actor, &project(&name)?, &query(filters)?, &request).await?;
    Ok(page(found))
}

pub(super) async fn export(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(params): Query<ExportParams>,
) -> ApiResult<Response> {
    let at_most = match params.limit {
        None => None,
        Some(n) if n >= 1 => Some(u64::try_from(n).expect("checked to be positive")),
        Some(n) => {
            return Err(ServiceError::BadRequest {
                message: format!("limit={n} is not a number of complaints to export"),
                hint: "pass limit=1 or more, or leave it out to export every complaint".into(),
            })
        }
    };
    let filters = Filters {
        status: params.status,
        severity: params.severity,
        environment: params.environment,
        release: params.release,
    };
    let parts =
        complaints::export(&state, &actor, &project(&name)?, &query(filters)?, at_most).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"complaints.csv\"",
            ),
        ],
        Body::from_stream(parts),
    )
        .into_response())
}

pub(crate) fn input(body: NewComplaintRequest) -> ComplaintInput {
    ComplaintInput {
        received_at: body.received_at,
        customer: body.customer,
        site: body.site,
        environment: body.environment.unwrap_or_default(),
        version: body.version.unwrap_or_default(),
        severity: body.severity,
        category: body.category,
        description: body.description,
        links: body.links.join(" "),
        capa: body.capa.unwrap_or_default(),
    }
}

pub(super) async fn add(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<NewComplaintRequest>,
) -> ApiResult<Response> {
    let added = complaints::add(&state, &actor, &project(&name)?, &input(body)).await?;
    Ok((StatusCode::CREATED, Json(added.into_view())).into_response())
}

pub(super) async fn import(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let imported = complaints::import(&state, &actor, &project(&name)?, &body).await?;
    Ok((StatusCode::CREATED, Json(List::all(imported.into_view()))).into_response())
}

pub(super) async fn show(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<Json<ComplaintView>> {
    Ok(Json(
        complaints::show(&state, &actor, &project(&name)?, id)
            .await?
            .into_view(),
    ))
}

pub(super) async fn link(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, id)): Path<(String, i64)>,
    Json(body): Json<ComplaintLinkRequest>,
) -> ApiResult<Json<ComplaintView>> {
    let links = Links {
        links: body.links,
        capa: body.capa,
        fixed_by: body.fixed_by,
    };
    Ok(Json(
        complaints::link(&state, &actor, &project(&name)?, id, &links)
            .await?
            .into_view(),
    ))
}

pub(super) async fn change_status(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, id)): Path<(String, i64)>,
    Json(body): Json<ComplaintStatusRequest>,
) -> ApiResult<Json<ComplaintView>> {
    let change = StatusChange {
        status: body.status,
        fixed_by: body.fixed_by.filter(|v| !v.is_empty()),
        capa: body.capa,
        resolved_at: body
            .resolved_at
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(|t| parse_instant("resolved_at", t))
            .transpose()?,
    };
    Ok(Json(
        complaints::change_status(&state, &actor, &project(&name)?, id, &change)
            .await?
            .into_view(),
    ))
}
