//! Routes of coverage: pushing a Cobertura or LCOV report for a release and a kind (streamed,
//! outside the JSON body limit), and reading a release's coverage per kind. Thin: parse, call
//! `services::coverage`, answer a `slipway_api::coverage` view.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use slipway_api::coverage::{CoverageReportView, KindCoverageView, PackageCoverageView};
use slipway_api::List;
use slipway_core::quality::{rate_change, CoverageKind};
use slipway_store::StoredCoverage;

use super::quality::{one_value, required};
use crate::auth::Actor;
use crate::services::coverage::{self, CoveragePush, KindCoverage};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const COVERAGE: &str = "/api/v1/projects/{name}/releases/{version}/coverage";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[("post", COVERAGE), ("get", COVERAGE)];

/// The push streams, so both methods live outside the JSON body limit.
pub(super) fn upload_router() -> Router<AppState> {
    Router::new().route(COVERAGE, post(push_coverage).get(release_coverage))
}

fn kind(text: &str) -> ApiResult<CoverageKind> {
    text.parse()
        .map_err(|e: slipway_core::state_name::UnknownState| {
            ServiceError::invalid(
                e.to_string(),
                "pass kind=unit, contract, integration or e2e",
            )
        })
}

pub(super) async fn push_coverage(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let request = CoveragePush {
        project: parse_name("project", &project)?,
        release: version,
        kind: kind(&required(&params, "kind", "unit")?)?,
        file_name: one_value(&params, "file")?,
        content_length: headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok()),
    };
    let stored = coverage::push(&state, &actor, request, body.into_data_stream()).await?;
    Ok((StatusCode::CREATED, Json(report_view(stored))).into_response())
}

pub(super) async fn release_coverage(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
) -> ApiResult<Json<List<KindCoverageView>>> {
    let kinds =
        coverage::of_release(&state, &actor, &parse_name("project", &project)?, &version).await?;
    Ok(Json(List::all(kinds.into_iter().map(kind_view).collect())))
}

pub(crate) fn report_view(r: StoredCoverage) -> CoverageReportView {
    CoverageReportView {
        id: r.id,
        line_rate: r.totals.line_rate(),
        branch_rate: r.totals.branch_rate(),
        project: r.project,
        release: r.release,
        kind: r.kind,
        format: r.format,
        sha256: r.sha256,
        size: r.size,
        totals: r.totals,
        pushed_by: r.pushed_by,
        pushed_at: slipway_store::format_time(r.pushed_at),
    }
}

pub(crate) fn kind_view(k: KindCoverage) -> KindCoverageView {
    let before = k.previous.as_ref().map(|p| p.totals);
    KindCoverageView {
        kind: k.report.kind,
        line_rate_change: rate_change(
            k.report.totals.line_rate(),
            before.and_then(|b| b.line_rate()),
        ),
        branch_rate_change: rate_change(
            k.report.totals.branch_rate(),
            before.and_then(|b| b.branch_rate()),
        ),
        packages: k
            .packages
            .into_iter()
            .map(|(package, counts, was)| PackageCoverageView {
                package,
                line_rate: counts.line_rate(),
                branch_rate: counts.branch_rate(),
                line_rate_change: rate_change(counts.line_rate(), was.and_then(|w| w.line_rate())),
                counts,
            })
            .collect(),
        report: report_view(k.report),
        previous: k.previous.map(report_view),
    }
}
