//! Routes of vulnerability evidence: pushing a scan report for a release (streamed, outside the
//! JSON body limit), listing a release's scans and a project's findings. Thin: parse, call
//! `services::findings`, answer a `slipway_api::quality` view.

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::quality::{
    FindingView, RiskAcceptanceRequest, RiskAcceptanceView, RiskApproval, ScanPushView, ScanView,
};
use slipway_api::{List, Page};
use slipway_core::quality::FindingState;
use slipway_store::{format_time, StoredAcceptance, StoredScan};

use crate::auth::Actor;
use crate::services::findings::{self, FindingQuery, FindingStatus, ScanPush};
use crate::services::paging::PageRequest;
use crate::services::parse_name;
use crate::services::signatures::SignAsk;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const SCANS: &str = "/api/v1/projects/{name}/releases/{version}/scans";
const FINDINGS: &str = "/api/v1/projects/{name}/findings";
const ACCEPT: &str = "/api/v1/projects/{name}/findings/{id}/acceptances";
const APPROVE: &str = "/api/v1/projects/{name}/acceptances/{id}/approve";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("post", SCANS),
    ("get", SCANS),
    ("get", FINDINGS),
    ("post", ACCEPT),
    ("post", APPROVE),
];

/// The push, which streams and so takes reports up to its own limit.
pub(super) fn upload_router() -> Router<AppState> {
    Router::new().route(SCANS, post(push_scan).get(list_scans))
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(FINDINGS, get(list_findings))
        .route(ACCEPT, post(request_acceptance))
        .route(APPROVE, post(approve_acceptance))
}

#[derive(Deserialize)]
pub(super) struct PushParams {
    component: Option<String>,
    file: Option<String>,
}

pub(super) async fn push_scan(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
    Query(params): Query<PushParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let request = ScanPush {
        project: parse_name("project", &project)?,
        release: version,
        component: params
            .component
            .as_deref()
            .map(|c| parse_name("component", c))
            .transpose()?,
        file_name: params.file,
        content_length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    let pushed = findings::push(&state, &actor, request, body.into_data_stream()).await?;
    let view = ScanPushView {
        scan: scan_view(pushed.scan),
        new: pushed.counts.new,
        seen: pushed.counts.seen,
        reopened: pushed.counts.reopened,
        fixed: pushed.counts.fixed,
        problems: pushed.report.problems,
        problems_not_listed: pushed.report.problems_not_listed,
        truncated_fields: pushed.report.truncated_fields,
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

pub(super) async fn list_scans(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
) -> ApiResult<Json<List<ScanView>>> {
    let scans =
        findings::scans(&state, &actor, &parse_name("project", &project)?, &version).await?;
    Ok(Json(List::all(scans.into_iter().map(scan_view).collect())))
}

#[derive(Deserialize)]
pub(super) struct FindingParams {
    release: Option<String>,
    component: Option<String>,
    state: Option<String>,
    overdue: Option<bool>,
    limit: Option<i64>,
    after: Option<String>,
}

pub(super) async fn list_findings(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Query(params): Query<FindingParams>,
) -> ApiResult<Json<Page<FindingView>>> {
    let wanted = params
        .state
        .as_deref()
        .map(|s| {
            s.parse::<FindingState>().map_err(|e| {
                ServiceError::invalid(format!("state: {e}"), "pass state=open or state=fixed")
            })
        })
        .transpose()?;
    let request = PageRequest::parse(params.limit, params.after)?;
    let found = findings::page(
        &state,
        &actor,
        FindingQuery {
            project: parse_name("project", &project)?,
            release: params.release,
            component: params.component,
            state: wanted,
            overdue: params.overdue.unwrap_or(false),
            limit: 0,
        },
        &request,
    )
    .await?;
    Ok(Json(Page {
        items: found.items.into_iter().map(finding_view).collect(),
        next: found.next,
    }))
}

fn scan_view(scan: StoredScan) -> ScanView {
    ScanView {
        id: scan.id,
        project: scan.project,
        release: scan.release,
        component: Some(scan.component).filter(|c| !c.is_empty()),
        format: scan.format,
        scanner: scan.scanner,
        scanner_version: scan.scanner_version,
        artifact: scan.artifact,
        sha256: scan.sha256,
        size: scan.size,
        entries: scan.entries,
        findings: scan.findings,
        not_affected: scan.not_affected,
        pushed_by: scan.pushed_by,
        pushed_at: format_time(scan.pushed_at),
    }
}

fn finding_view(status: FindingStatus) -> FindingView {
    let f = status.finding;
    FindingView {
        id: f.id,
        project: f.project,
        component: Some(f.component).filter(|c| !c.is_empty()),
        package: f.package,
        vulnerability: f.vulnerability,
        aliases: f.aliases,
        scanners: f.scanners,
        severity: f.severity,
        fix_available: f.fixed_in.is_some(),
        fixed_in: f.fixed_in,
        known_exploited: f.known_exploited,
        title: f.title,
        state: f.state,
        first_seen_at: format_time(f.first_seen_at),
        first_release: f.first_release,
        last_seen_at: format_time(f.last_seen_at),
        last_release: f.last_release,
        fixed_at: f.fixed_at.map(format_time),
        fixed_release: f.fixed_release,
        reopened_at: f.reopened_at.map(format_time),
        reopened: f.reopened,
        deadline: status.deadline.map(format_time),
        overdue: status.overdue,
    }
}

fn id_of(what: &str, text: &str) -> ApiResult<i64> {
    text.parse().map_err(|_| {
        ServiceError::invalid(
            format!("{what} id {text:?} is not a number"),
            "pass the id `slipway findings list` shows",
        )
    })
}

pub(super) async fn request_acceptance(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path((project, id)): Path<(String, String)>,
    Json(body): Json<RiskAcceptanceRequest>,
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
    let project = parse_name("project", &project)?;
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    let acceptance = findings::request_acceptance(
        &state,
        &actor,
        &project,
        id_of("finding", &id)?,
        &body.reason,
        expires_at,
        sign,
    )
    .await?;
    let view = signed_view(&state, &project, acceptance).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// The body is optional: empty, or `{"password": "…"}` to sign the approval.
pub(super) async fn approve_acceptance(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    actor: Actor,
    Path((project, id)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<RiskAcceptanceView>> {
    let body: RiskApproval = if body.iter().all(u8::is_ascii_whitespace) {
        RiskApproval::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ServiceError::invalid(
                format!("the body is not {{\"password\": \"…\"}}: {e}"),
                "send no body, or the approver's password where the approval is signed",
            )
        })?
    };
    let project = parse_name("project", &project)?;
    let sign = SignAsk {
        password: body.password.as_deref(),
        client: client.ip(),
    };
    let acceptance = findings::approve_acceptance(
        &state,
        &actor,
        &project,
        id_of("risk acceptance", &id)?,
        sign,
    )
    .await?;
    Ok(Json(signed_view(&state, &project, acceptance).await?))
}

async fn signed_view(
    state: &AppState,
    project: &slipway_core::Name,
    a: StoredAcceptance,
) -> ApiResult<RiskAcceptanceView> {
    let signatures = findings::acceptance_signatures(state, project.as_str(), a.id).await?;
    let mut view = acceptance_view(a);
    view.signatures = signatures.into_view();
    Ok(view)
}

fn acceptance_view(a: StoredAcceptance) -> RiskAcceptanceView {
    RiskAcceptanceView {
        id: a.id,
        finding_id: a.finding_id,
        reason: a.reason,
        expires_at: format_time(a.expires_at),
        requested_by: a.requested_by,
        requested_at: format_time(a.requested_at),
        approved_by: a.approved_by,
        approved_at: a.approved_at.map(format_time),
        // Filled by `signed_view`, which reads them.
        signatures: Vec::new(),
    }
}
