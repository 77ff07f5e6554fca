//! One function per route: parse, identify, call a service, map the result.

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use slipway_api::access::{
    ApiTokenView, CreatedToken, CreatedUser, SessionView, UserUpdateView, UserView, WhoAmI,
};
use slipway_api::audit::{AuditPage, AuditVerification};
use slipway_api::projects::ProjectView;
use slipway_api::targets::{LiveTargetView, TargetView};
use slipway_api::variables::VariableView;
use slipway_core::access::Role;
use slipway_core::model::{Environment, VariableScope};
use slipway_store::AuditFilter;

use crate::auth::{cookie, cookie_header, Actor, SESSION_COOKIE};
use crate::services::projects::ConfigText;
use crate::services::{self, parse_name};
use crate::views::IntoView;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

/// Every list answers `{ "items": [...], "next": cursor-or-null }`.
#[derive(Serialize)]
pub(super) struct Page<T> {
    items: Vec<T>,
    next: Option<i64>,
}

fn whole<T>(items: Vec<T>) -> Json<Page<T>> {
    Json(Page { items, next: None })
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], super::OPENAPI).into_response()
}

pub(super) async fn schema() -> Json<Value> {
    Json(slipway_core::config::json_schema())
}

pub(super) async fn whoami(actor: Actor) -> Json<WhoAmI> {
    let via = if actor.csrf.is_some() {
        "session"
    } else {
        "token"
    };
    Json(WhoAmI {
        username: actor.username,
        role: actor.role,
        via: via.to_string(),
    })
}

#[derive(Deserialize)]
pub(super) struct LoginBody {
    username: String,
    password: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let session = services::users::login(&state, &body.username, &body.password, addr.ip()).await?;
    let cookie = cookie_header(&state, &session.cookie_value, session.max_age_secs);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(SessionView {
            csrf_token: session.csrf,
        }),
    )
        .into_response())
}

pub(super) async fn logout(
    State(state): State<AppState>,
    actor: Actor,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let value = cookie(&headers, SESSION_COOKIE).ok_or_else(|| {
        ServiceError::invalid(
            "there is no console session to end",
            "API tokens are revoked with `slipway token revoke`",
        )
    })?;
    services::users::logout(&state, &actor, value).await?;
    Ok((
        [(header::SET_COOKIE, cookie_header(&state, "", 0))],
        StatusCode::NO_CONTENT,
    )
        .into_response())
}

pub(super) async fn list_environments(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<Page<Environment>>> {
    Ok(whole(services::environments::list(&state, &actor).await?))
}

pub(super) async fn get_environment(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<Json<Environment>> {
    Ok(Json(
        services::environments::get(&state, &actor, &parse_name("environment", &name)?).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnvironmentBody {
    position: i64,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    protected: bool,
    #[serde(default)]
    description: String,
    #[serde(default)]
    on_failure: slipway_core::model::FailurePolicy,
    #[serde(default)]
    gates: slipway_core::gates::Gates,
    require_signatures: Option<bool>,
    #[serde(default)]
    production: bool,
}

pub(super) async fn put_environment(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<EnvironmentBody>,
) -> ApiResult<Json<Value>> {
    let env = Environment {
        name: parse_name("environment", &name)?,
        position: body.position,
        region: body
            .region
            .as_deref()
            .map(|r| parse_name("region", r))
            .transpose()?,
        protected: body.protected,
        description: body.description,
        on_failure: body.on_failure,
        gates: body.gates,
        require_signatures: body.require_signatures,
        production: body.production,
    };
    let outcome = services::environments::put(&state, &actor, env).await?;
    Ok(Json(
        json!({ "changed": outcome.changed, "pending": outcome.pending }),
    ))
}

pub(super) async fn delete_environment(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    services::environments::delete(&state, &actor, &parse_name("environment", &name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn list_projects(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<Page<ProjectView>>> {
    Ok(whole(
        services::projects::list(&state, &actor).await?.into_view(),
    ))
}

pub(super) async fn get_project(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<Json<ProjectView>> {
    Ok(Json(
        services::projects::get(&state, &actor, &parse_name("project", &name)?)
            .await?
            .into_view(),
    ))
}

pub(super) async fn delete_project(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    services::projects::delete(&state, &actor, &parse_name("project", &name)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(super) struct PreviewQuery {
    environment: String,
}

pub(super) async fn rollback_preview(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Query(q): Query<PreviewQuery>,
) -> ApiResult<Json<slipway_core::rollback::RollbackPlan>> {
    let project = services::projects::get(&state, &actor, &parse_name("project", &name)?).await?;
    Ok(Json(services::projects::rollback_preview(
        &project,
        &parse_name("environment", &q.environment)?,
    )))
}

pub(super) async fn list_variables(
    State(state): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> ApiResult<Json<Page<VariableView>>> {
    Ok(whole(
        services::variables::list(&state, &actor, &parse_name("project", &name)?)
            .await?
            .into_view(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VariableBody {
    value: String,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    role: Option<String>,
}

fn scope(environment: Option<&str>, role: Option<&str>) -> ApiResult<VariableScope> {
    Ok(VariableScope {
        environment: environment
            .map(|e| parse_name("environment", e))
            .transpose()?,
        role: role.map(|r| parse_name("role", r)).transpose()?,
    })
}

pub(super) async fn set_variable(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, variable)): Path<(String, String)>,
    Json(body): Json<VariableBody>,
) -> ApiResult<Json<slipway_api::variables::VariableSetView>> {
    let scope = scope(body.environment.as_deref(), body.role.as_deref())?;
    let set = services::releases::set_variable(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &parse_name("variable", &variable)?,
        scope,
        &body.value,
        body.sensitive,
    )
    .await?;
    Ok(Json(set))
}

#[derive(Deserialize)]
pub(super) struct ScopeQuery {
    environment: Option<String>,
    role: Option<String>,
}

pub(super) async fn unset_variable(
    State(state): State<AppState>,
    actor: Actor,
    Path((project, variable)): Path<(String, String)>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<StatusCode> {
    let scope = scope(q.environment.as_deref(), q.role.as_deref())?;
    services::variables::unset(
        &state,
        &actor,
        &parse_name("project", &project)?,
        &parse_name("variable", &variable)?,
        scope,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplyBody {
    files: Vec<ConfigText>,
    #[serde(default)]
    dry_run: bool,
    /// Apply governed changes at once, for a bounded time (admin).
    #[serde(default)]
    break_glass: Option<slipway_api::config_changes::BreakGlassAsk>,
}

pub(super) async fn apply(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<ApplyBody>,
) -> ApiResult<Json<services::projects::ApplyOutcome>> {
    Ok(Json(
        services::projects::apply(
            &state,
            &actor,
            &body.files,
            services::projects::ApplyOptions {
                dry_run: body.dry_run,
                break_glass: body.break_glass,
            },
        )
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ValidateBody {
    files: Vec<ConfigText>,
}

/// Validation needs no permission beyond being signed in: it reads nothing and changes nothing.
pub(super) async fn validate(
    _actor: Actor,
    Json(body): Json<ValidateBody>,
) -> ApiResult<Json<Value>> {
    let config = services::projects::parse(body.files).await?;
    Ok(Json(
        json!({ "valid": true, "environments": config.environments.len(), "projects": config.projects.iter().map(|p| p.name.to_string()).collect::<Vec<_>>() }),
    ))
}

pub(super) async fn list_targets(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<Page<LiveTargetView>>> {
    let targets = services::targets::list(&state, &actor).await?;
    Ok(whole(
        targets
            .into_iter()
            .map(|t| LiveTargetView {
                target: t.target.into_view(),
                liveness: t.liveness.to_string(),
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TargetBody {
    name: String,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

pub(super) async fn register_target(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<TargetBody>,
) -> ApiResult<(StatusCode, Json<TargetView>)> {
    let target = services::targets::register(
        &state,
        &actor,
        &body.name,
        body.environment.as_deref(),
        body.roles,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(target.into_view())))
}

pub(super) async fn list_users(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<Page<UserView>>> {
    Ok(whole(
        services::users::list(&state, &actor).await?.into_view(),
    ))
}

fn parse_role(role: &str) -> ApiResult<Role> {
    Role::parse(role).map_err(|e| ServiceError::invalid(e.to_string(), ""))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateUserBody {
    username: String,
    role: String,
    #[serde(default)]
    password: Option<String>,
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateUserBody>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    let created = services::users::create(
        &state,
        &actor,
        &body.username,
        parse_role(&body.role)?,
        body.password.as_deref(),
    )
    .await?;
    // Created as a viewer, the raise to the role asked held for another admin: accepted.
    let status = if created.held.is_some() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(created_user(created))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateUserBody {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    full_name: Option<String>,
}

pub(super) async fn update_user(
    State(state): State<AppState>,
    actor: Actor,
    Path(username): Path<String>,
    Json(body): Json<UpdateUserBody>,
) -> ApiResult<Json<UserUpdateView>> {
    let role = body.role.as_deref().map(parse_role).transpose()?;
    let changes = services::users::UserChanges {
        role,
        disabled: body.disabled,
        password: body.password.as_deref(),
        full_name: body.full_name.as_deref(),
    };
    let updated = services::users::update(&state, &actor, &username, changes).await?;
    Ok(Json(UserUpdateView {
        user: updated.user.into_view(),
        held: updated.held,
    }))
}

pub(super) async fn list_tokens(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<Page<ApiTokenView>>> {
    Ok(whole(
        services::users::list_tokens(&state, &actor)
            .await?
            .into_view(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateTokenBody {
    name: String,
    #[serde(default)]
    username: Option<String>,
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    actor: Actor,
    Json(body): Json<CreateTokenBody>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let created =
        services::users::create_token(&state, &actor, &body.name, body.username.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(created_token(created))))
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    services::users::revoke_token(&state, &actor, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub(super) struct AuditQuery {
    actor: Option<String>,
    verb: Option<String>,
    subject: Option<String>,
    before: Option<i64>,
    limit: Option<i64>,
}

pub(super) async fn list_audit(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let filter = AuditFilter {
        actor: q.actor.filter(|s| !s.is_empty()),
        verb: q.verb.filter(|s| !s.is_empty()),
        subject: q.subject.filter(|s| !s.is_empty()),
        before: q.before,
        limit: q.limit.unwrap_or(50),
    };
    Ok(Json(
        services::audit::list(&state, &actor, &filter)
            .await?
            .into_view(),
    ))
}

pub(super) async fn verify_audit(
    State(state): State<AppState>,
    actor: Actor,
) -> ApiResult<Json<AuditVerification>> {
    let v = services::audit::verify(&state, &actor).await?;
    Ok(Json(AuditVerification {
        intact: v.intact,
        events: v.events,
        first_bad_seq: v.first_bad_seq,
        detail: v.detail,
    }))
}

fn created_user(created: services::users::CreatedUser) -> CreatedUser {
    CreatedUser {
        user: created.user.into_view(),
        generated_password: created.generated_password,
        held: created.held,
    }
}

fn created_token(created: services::users::CreatedToken) -> CreatedToken {
    CreatedToken {
        token: created.token.into_view(),
        secret: created.secret,
    }
}
