//! Routes of feature flags: Slipway's own (`/api/v1/projects/{name}/flags…`: list, show,
//! create, one environment's state set, the hot toggle, environment-scoped tokens) and the Unleash client API (`/api/client/features`,
//! `/api/client/register`, `/api/client/metrics`, `/api/frontend`), authenticated by flag
//! tokens, not by users. Thin: parse, call `services::flags`, answer.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::flags::{
    ClientMetrics, ClientRegistration, FlagTokenAsk, FlagTokenCreated, FlagTokenView, FlagView,
    FrontendToggles, ToggleAsk, ToggleOutcome,
};
use slipway_api::List;
use slipway_core::config::{self, Source};
use slipway_core::flags::TokenKind;
use slipway_core::Name;

use crate::auth::Actor;
use crate::services::flags::{self, unleash, FlagPlace};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const FLAGS: &str = "/api/v1/projects/{name}/flags";
const FLAG: &str = "/api/v1/projects/{name}/flags/{flag}";
const STATE: &str = "/api/v1/projects/{name}/flags/{flag}/environments/{environment}";
const TOGGLE: &str = "/api/v1/projects/{name}/flags/{flag}/environments/{environment}/toggle";
const TOKENS: &str = "/api/v1/projects/{name}/flag-tokens";
const TOKEN: &str = "/api/v1/projects/{name}/flag-tokens/{id}";
const CLIENT_FEATURES: &str = "/api/client/features";
const CLIENT_REGISTER: &str = "/api/client/register";
const CLIENT_METRICS: &str = "/api/client/metrics";
const FRONTEND: &str = "/api/frontend";

/// The largest body the SDK endpoints read: a registration or a metrics report is a few KiB.
pub(crate) const SDK_BODY_LIMIT: usize = 256 * 1024;

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", FLAGS),
    ("post", FLAGS),
    ("get", FLAG),
    ("put", STATE),
    ("post", TOGGLE),
    ("get", TOKENS),
    ("post", TOKENS),
    ("delete", TOKEN),
    ("get", CLIENT_FEATURES),
    ("post", CLIENT_REGISTER),
    ("post", CLIENT_METRICS),
    ("get", FRONTEND),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(FLAGS, get(list_flags).post(create_flag))
        .route(FLAG, get(show_flag))
        .route(
            STATE,
            put(set_state).layer(DefaultBodyLimit::max(config::MAX_EDIT_BYTES)),
        )
        .route(TOGGLE, post(toggle))
        .route(TOKENS, get(list_tokens).post(create_token))
        .route(TOKEN, delete(revoke_token))
        .merge(sdk_router())
}

fn sdk_router() -> Router<AppState> {
    Router::new()
        .route(CLIENT_FEATURES, get(client_features))
        .route(CLIENT_REGISTER, post(client_register))
        .route(CLIENT_METRICS, post(client_metrics))
        .route(FRONTEND, get(frontend))
        .layer(DefaultBodyLimit::max(SDK_BODY_LIMIT))
}

async fn list_flags(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<Json<List<FlagView>>> {
    let project = parse_name("project", &name)?;
    Ok(Json(List::all(
        flags::list(&state, &actor, &project).await?,
    )))
}

async fn show_flag(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, flag)): Path<(String, String)>,
) -> ApiResult<Json<FlagView>> {
    let project = parse_name("project", &name)?;
    let flag = parse_name("flag", &flag)?;
    Ok(Json(flags::get(&state, &actor, &project, &flag).await?))
}

/// The body as text: JSON (or YAML), checked by core's bounded reader.
fn body_text(body: &Bytes) -> ApiResult<&str> {
    std::str::from_utf8(body).map_err(|e| ServiceError::BadRequest {
        message: format!(
            "the body is not UTF-8 text: byte {} is not part of a character",
            e.valid_up_to()
        ),
        hint: "send JSON encoded as UTF-8".into(),
    })
}

/// 201 with the flag, off in every environment.
async fn create_flag(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<FlagView>)> {
    let project = parse_name("project", &name)?;
    let new = config::new_flag(&Source {
        name: "body",
        text: body_text(&body)?,
    })
    .map_err(ServiceError::Config)?;
    let created = flags::create(&state, &actor, &project, &new).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

fn place<'a>(names: &'a (Name, Name, Name)) -> FlagPlace<'a> {
    FlagPlace {
        project: &names.0,
        flag: &names.1,
        environment: &names.2,
    }
}

fn place_names(name: &str, flag: &str, environment: &str) -> ApiResult<(Name, Name, Name)> {
    Ok((
        parse_name("project", name)?,
        parse_name("flag", flag)?,
        parse_name("environment", environment)?,
    ))
}

/// 200 when the change applied (or changed nothing), 202 when it waits for a second person.
fn answered(outcome: ToggleOutcome) -> (StatusCode, Json<ToggleOutcome>) {
    let status = if outcome.pending.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    (status, Json(outcome))
}

/// One environment's state: what the body gives replaces, what it leaves out is kept.
async fn set_state(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, flag, environment)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ToggleOutcome>)> {
    let names = place_names(&name, &flag, &environment)?;
    let edit = config::flag_state_edit(&Source {
        name: "body",
        text: body_text(&body)?,
    })
    .map_err(ServiceError::Config)?;
    let outcome = flags::set_state(&state, &actor, place(&names), &edit).await?;
    Ok(answered(outcome))
}

async fn toggle(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, flag, environment)): Path<(String, String, String)>,
    Json(ask): Json<ToggleAsk>,
) -> ApiResult<(StatusCode, Json<ToggleOutcome>)> {
    let names = place_names(&name, &flag, &environment)?;
    let outcome = flags::toggle(&state, &actor, place(&names), &ask).await?;
    Ok(answered(outcome))
}

async fn list_tokens(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<Json<List<FlagTokenView>>> {
    let project = parse_name("project", &name)?;
    Ok(Json(List::all(
        flags::tokens(&state, &actor, &project).await?,
    )))
}

async fn create_token(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(ask): Json<FlagTokenAsk>,
) -> ApiResult<(StatusCode, Json<FlagTokenCreated>)> {
    let project = parse_name("project", &name)?;
    let created = flags::create_token(&state, &actor, &project, &ask).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn revoke_token(
    State(state): State<AppState>,
    actor: Actor,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    let project = parse_name("project", &name)?;
    flags::revoke_token(&state, &actor, &project, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

#[derive(Deserialize)]
struct FeaturesQuery {
    project: Option<String>,
}

/// The token's flags; 304 with no body when `If-None-Match` names the current answer.
async fn client_features(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<FeaturesQuery>,
) -> ApiResult<Response> {
    let token = unleash::authenticate(&state, authorization(&headers), TokenKind::Client).await?;
    let answer = unleash::client_features(&state, &token, query.project.as_deref()).await?;
    let etag = HeaderValue::from_str(&answer.etag).expect("an etag is hex in quotes");
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == answer.etag || t == "*")
        });
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, etag),
        ],
        answer.body.as_ref().clone(),
    )
        .into_response())
}

async fn client_register(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(registration): Json<ClientRegistration>,
) -> ApiResult<StatusCode> {
    let token = unleash::authenticate(&state, authorization(&headers), TokenKind::Client).await?;
    unleash::register(&state, &token, &registration).await?;
    Ok(StatusCode::ACCEPTED)
}

async fn client_metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(metrics): Json<ClientMetrics>,
) -> ApiResult<StatusCode> {
    let token = unleash::authenticate(&state, authorization(&headers), TokenKind::Client).await?;
    unleash::metrics(&state, &token, &metrics).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The flags on for the context in the query (`userId`, `sessionId`, `properties[tenant]`…).
async fn frontend(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<FrontendToggles>> {
    let token = unleash::authenticate(&state, authorization(&headers), TokenKind::Frontend).await?;
    let context = unleash::context_from_query(&pairs)?;
    Ok(Json(unleash::frontend(&state, &token, &context).await?))
}
