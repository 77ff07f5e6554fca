//! Routes of the release vault: artifacts (push, list, look up, download), signing keys, vault
//! verification and garbage collection, retention, releases.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use slipway_api::vault::{
    self as view, ArtifactDetail, ArtifactView, BlobProblemView, BlobView, DigestLookup,
    GcReportView, Pushed, ReleaseDetail, ReleaseView, SigningKeyView, VaultReportView,
    VaultSettingsView,
};
use slipway_api::{List, Page};
use slipway_core::release::{ArtifactVersion, Provenance, RetentionPolicy};
use slipway_core::Sha256;

use super::paging::{page, PageQuery};
use crate::auth::Actor;
use crate::services::artifacts::{self, PushOutcome, PushRequest, RangeRequest};
use crate::services::parse_name;
use crate::services::releases::{self, CreateRelease, NotesInput};
use crate::services::signing_keys::{self, KeyAdded};
use crate::services::vault_upkeep;
use crate::views::IntoView;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

/// The declared SHA-256 of an upload, and the digest of a download.
pub(super) const DIGEST_HEADER: &str = "x-slipway-sha256";
/// The hex ed25519 signature of an upload.
pub(super) const SIGNATURE_HEADER: &str = "x-slipway-signature";

/// The artifact upload, which streams and so takes bodies of any size.
pub(super) fn upload_router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/projects/{name}/components/{component}/artifacts/{version}",
        post(push_artifact),
    )
}

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/projects/{name}/artifacts", get(list_artifacts))
        .route("/api/v1/artifacts/{digest}", get(artifact_by_digest))
        .route("/api/v1/blobs/{digest}", get(download_blob))
        .route("/api/v1/projects/{name}/keys", get(list_keys).post(add_key))
        .route("/api/v1/projects/{name}/keys/{key}", delete(revoke_key))
        .route(
            "/api/v1/projects/{name}/retention",
            get(get_retention).put(set_retention),
        )
        .route("/api/v1/vault", get(vault_settings))
        .route("/api/v1/vault/verify", post(verify_vault))
        .route("/api/v1/vault/gc", post(collect_garbage))
        .route(
            "/api/v1/projects/{name}/releases",
            get(list_releases).post(create_release),
        )
        .route(
            "/api/v1/projects/{name}/releases/{version}",
            get(get_release),
        )
        .route(
            "/api/v1/projects/{name}/releases/{version}/notes",
            get(release_notes),
        )
        .route(
            "/api/v1/projects/{name}/releases/{version}/check",
            get(check_release),
        )
        .route("/api/v1/projects/{name}/release-diff", get(diff_releases))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    (
        "post",
        "/api/v1/projects/{name}/components/{component}/artifacts/{version}",
    ),
    ("get", "/api/v1/projects/{name}/artifacts"),
    ("get", "/api/v1/artifacts/{digest}"),
    ("get", "/api/v1/blobs/{digest}"),
    ("get", "/api/v1/projects/{name}/keys"),
    ("post", "/api/v1/projects/{name}/keys"),
    ("delete", "/api/v1/projects/{name}/keys/{key}"),
    ("get", "/api/v1/projects/{name}/retention"),
    ("put", "/api/v1/projects/{name}/retention"),
    ("get", "/api/v1/vault"),
    ("post", "/api/v1/vault/verify"),
    ("post", "/api/v1/vault/gc"),
    ("get", "/api/v1/projects/{name}/releases"),
    ("post", "/api/v1/projects/{name}/releases"),
    ("get", "/api/v1/projects/{name}/releases/{version}"),
    ("get", "/api/v1/projects/{name}/releases/{version}/notes"),
    ("get", "/api/v1/projects/{name}/releases/{version}/check"),
    ("get", "/api/v1/projects/{name}/release-diff"),
];

fn items<T: IntoView>(list: Vec<T>) -> Json<List<T::View>> {
    Json(List::all(list.into_view()))
}

fn digest(text: &str) -> ApiResult<Sha256> {
    Sha256::parse(text).map_err(|e| ServiceError::invalid(e.to_string(), ""))
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<Option<&'a str>> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| ServiceError::BadRequest {
                message: format!("the {name} header is not text"),
                hint: String::new(),
            })
        })
        .transpose()
}

/// Provenance comes as query parameters: `commit`, `branch`, `pipeline_url`, `builder`, and
/// `meta=key=value` as often as needed.
fn provenance(params: Vec<(String, String)>) -> ApiResult<Provenance> {
    let mut p = Provenance::default();
    for (key, value) in params {
        match key.as_str() {
            "commit" => p.commit = Some(value),
            "branch" => p.branch = Some(value),
            "pipeline_url" => p.pipeline_url = Some(value),
            "builder" => p.builder = Some(value),
            "meta" => {
                let (k, v) = value.split_once('=').ok_or_else(|| {
                    ServiceError::invalid(
                        format!("meta `{value}` is not key=value"),
                        "pass meta=key=value (e.g. meta=ticket=PETS-42)",
                    )
                })?;
                p.meta.insert(k.to_string(), v.to_string());
            }
            other => {
                return Err(ServiceError::invalid(
                    format!("unknown query parameter `{other}`"),
                    "provenance parameters are commit, branch, pipeline_url, builder and meta=key=value",
                ))
            }
        }
    }
    Ok(p)
}

pub(super) async fn push_artifact(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, component, version)): Path<(String, String, String)>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let request = PushRequest {
        project: parse_name("project", &project)?,
        component: parse_name("component", &component)?,
        version: ArtifactVersion::parse(&version)
            .map_err(|e| ServiceError::invalid(e.to_string(), ""))?,
        provenance: provenance(params)?,
        declared_digest: header_text(&headers, DIGEST_HEADER)?
            .map(digest)
            .transpose()?,
        signature: header_text(&headers, SIGNATURE_HEADER)?.map(str::to_string),
        content_length: header_text(&headers, header::CONTENT_LENGTH.as_str())?
            .and_then(|n| n.parse().ok()),
    };
    let pushed = artifacts::push(&state, &actor, request, body.into_data_stream()).await?;
    let status = match pushed.outcome {
        PushOutcome::AlreadyStored => StatusCode::OK,
        _ => StatusCode::CREATED,
    };
    let pushed = Pushed {
        outcome: match pushed.outcome {
            PushOutcome::Stored => view::PushOutcome::Stored,
            PushOutcome::Deduplicated => view::PushOutcome::Deduplicated,
            PushOutcome::AlreadyStored => view::PushOutcome::AlreadyStored,
            PushOutcome::Restored => view::PushOutcome::Restored,
        },
        artifact: pushed.artifact.into_view(),
        received_crc32: Some(pushed.received_crc32),
    };
    Ok((status, Json(pushed)).into_response())
}

pub(super) async fn list_artifacts(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<ArtifactView>>> {
    let request = query.request()?;
    Ok(page(
        artifacts::list(&state, &actor, &parse_name("project", &project)?, &request).await?,
    ))
}

pub(super) async fn artifact_by_digest(
    State(state): State<AppState>,
    actor: Actor,
    Path(text): Path<String>,
) -> ApiResult<Json<DigestLookup>> {
    let found = artifacts::by_digest(&state, &actor, &digest(&text)?).await?;
    Ok(Json(DigestLookup {
        digest: found.digest,
        stored: found.stored,
        artifacts: found
            .artifacts
            .into_iter()
            .map(|a| ArtifactDetail {
                artifact: a.artifact.into_view(),
                signature_now: a.signature_now,
            })
            .collect(),
        releases: found.releases,
    }))
}

pub(super) async fn download_blob(
    State(state): State<AppState>,
    actor: Actor,
    Path(text): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let range = header_text(&headers, header::RANGE.as_str())?.and_then(RangeRequest::parse);
    let d = artifacts::download(&state, &actor, &digest(&text)?, range).await?;
    let hex = d.digest.to_hex();
    let mut response = Response::new(d.body);
    let h = response.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).expect("digits, hex and ASCII only");
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(DIGEST_HEADER, value(hex.clone()));
    h.insert(header::ETAG, value(format!("\"{hex}\"")));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    match d.range {
        Some((first, last)) => {
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                value(format!("bytes {first}-{last}/{}", d.size)),
            );
            h.insert(
                header::CONTENT_LENGTH,
                value((last - first + 1).to_string()),
            );
        }
        None => {
            h.insert(header::CONTENT_LENGTH, value(d.size.to_string()));
        }
    }
    Ok(response)
}

pub(super) async fn list_keys(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
) -> ApiResult<Json<List<SigningKeyView>>> {
    Ok(items(
        signing_keys::list_keys(&state, &actor, &parse_name("project", &project)?).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KeyBody {
    name: String,
    public_key: String,
}

/// 201 with the key when the project trusts it now; 202 with the configuration change request
/// when it waits for another admin (the project's releases reach a protected environment).
pub(super) async fn add_key(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Json(body): Json<KeyBody>,
) -> ApiResult<Response> {
    let added = signing_keys::add_key(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &parse_name("key name", &body.name)?,
        &body.public_key,
    )
    .await?;
    Ok(match added {
        KeyAdded::Trusted(key) => (StatusCode::CREATED, Json(key.into_view())).into_response(),
        KeyAdded::Held(request) => (StatusCode::ACCEPTED, Json(request)).into_response(),
    })
}

pub(super) async fn revoke_key(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    signing_keys::revoke_key(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &parse_name("key name", &key)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn get_retention(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
) -> ApiResult<Json<RetentionPolicy>> {
    Ok(Json(
        vault_upkeep::retention(&state, &actor, &parse_name("project", &project)?).await?,
    ))
}

pub(super) async fn set_retention(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Json(policy): Json<RetentionPolicy>,
) -> ApiResult<StatusCode> {
    vault_upkeep::set_retention(&state, &actor, &parse_name("project", &project)?, policy).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn vault_settings(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<VaultSettingsView>> {
    let s = artifacts::settings(&state, &actor).await?;
    Ok(Json(VaultSettingsView {
        max_artifact_bytes: s.max_artifact_bytes,
        gc_every_secs: s.gc_every_secs,
        scrub_every_secs: s.scrub_every_secs,
    }))
}

pub(super) async fn verify_vault(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<VaultReportView>> {
    let r = vault_upkeep::verify_vault(&state, &actor).await?;
    let problems = |list: Vec<vault_upkeep::BlobProblem>| {
        list.into_iter()
            .map(|p| BlobProblemView {
                digest: p.digest,
                problem: p.problem,
                artifacts: p.artifacts,
            })
            .collect()
    };
    Ok(Json(VaultReportView {
        intact: r.intact,
        blobs: r.blobs,
        bytes: r.bytes,
        corrupt: problems(r.corrupt),
        missing: problems(r.missing),
        unrecorded_files: r.unrecorded_files,
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct GcBody {
    #[serde(default)]
    dry_run: bool,
}

pub(super) async fn collect_garbage(
    State(state): State<AppState>,
    actor: Actor,
    body: Option<Json<GcBody>>,
) -> ApiResult<Json<GcReportView>> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let r = vault_upkeep::gc(&state, Some(&actor), body.dry_run).await?;
    Ok(Json(GcReportView {
        dry_run: r.dry_run,
        pruned_releases: r.pruned_releases,
        purged_artifacts: r.purged_artifacts,
        deleted_blobs: r
            .deleted_blobs
            .into_iter()
            .map(|b| BlobView {
                digest: b.digest,
                size: b.size,
            })
            .collect(),
        bytes_reclaimed: r.bytes_reclaimed,
        unrecorded_files_removed: r.unrecorded_files_removed,
        unrecorded_files_kept: r.unrecorded_files_kept,
    }))
}

pub(super) async fn list_releases(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<ReleaseView>>> {
    let request = query.request()?;
    Ok(page(
        releases::list(&state, &actor, &parse_name("project", &project)?, &request).await?,
    ))
}

pub(super) async fn create_release(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Json(body): Json<view::CreateRelease>,
) -> ApiResult<(StatusCode, Json<ReleaseDetail>)> {
    let notes = match (body.commits, body.notes) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::invalid(
                "give either commits or notes, not both",
                "",
            ))
        }
        (Some(c), None) => Some(NotesInput::Commits(c)),
        (None, Some(n)) => Some(NotesInput::Text(n)),
        (None, None) => None,
    };
    let created = releases::create(
        &state,
        &actor,
        CreateRelease {
            project: parse_name("project", &project)?,
            version: body.version,
            artifacts: body.artifacts.into_iter().collect(),
            channel: body.channel,
            labels: body.labels,
            notes,
            unsigned_ok: body.unsigned_ok,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(release_detail(created))))
}

pub(super) async fn get_release(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
) -> ApiResult<Json<ReleaseDetail>> {
    Ok(Json(release_detail(
        releases::get(&state, &actor, &parse_name("project", &project)?, &version).await?,
    )))
}

pub(super) async fn release_notes(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
) -> ApiResult<Response> {
    let text =
        releases::notes_markdown(&state, &actor, &parse_name("project", &project)?, &version)
            .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        text,
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct CheckQuery {
    environment: String,
}

pub(super) async fn check_release(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, version)): Path<(String, String)>,
    Query(q): Query<CheckQuery>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        releases::check(
            &state,
            &actor,
            &parse_name("project", &project)?,
            &version,
            &parse_name("environment", &q.environment)?,
        )
        .await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct DiffQuery {
    from: String,
    to: String,
}

pub(super) async fn diff_releases(
    State(state): State<AppState>,
    actor: Actor,
    Path(project): Path<String>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<slipway_core::release::ReleaseDiff>> {
    Ok(Json(
        releases::compare(
            &state,
            &actor,
            &parse_name("project", &project)?,
            &q.from,
            &q.to,
        )
        .await?,
    ))
}

fn release_detail(r: releases::ReleaseView) -> ReleaseDetail {
    ReleaseDetail {
        release: r.release.into_view(),
        artifact_details: r.artifact_details.into_view(),
        promotions_opened: r.promotions_opened,
    }
}
