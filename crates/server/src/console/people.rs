//! Users and API tokens. A new token's secret and a generated password are shown once, on the
//! page that answers the form, and nowhere else.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::access::{allows, Operation, Role};
use slipway_store::{ApiToken, User};

use super::page::{
    query_string, render, see_other, short_timestamp, Frame, OrProblemPage, PageResult, Problem,
    Section,
};
use super::session::{NoFields, SignedForm};
use super::user::ConsoleUser;
use crate::services::users::{CreatedToken, CreatedUser};
use crate::{services, AppState, ServiceError};

struct UserRow {
    username: String,
    role: Role,
    disabled: bool,
    created: String,
}

struct TokenRow {
    id: String,
    name: String,
    owner: String,
    created: String,
    revoked: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    frame: Frame,
    users: Vec<UserRow>,
    tokens: Vec<TokenRow>,
    roles: &'static [Role],
    /// The permission table decides which forms are offered; the services still decide.
    can_manage_users: bool,
    can_create_tokens: bool,
    notice: Option<String>,
    user_problem: Option<Problem>,
    token_problem: Option<Problem>,
}

#[derive(Deserialize)]
pub(super) struct Notice {
    #[serde(default)]
    revoked: String,
}

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<Notice>,
) -> PageResult {
    page(
        &state,
        user,
        StatusCode::OK,
        Some(q.revoked).filter(|id| !id.is_empty()),
        None,
        None,
    )
    .await
}

async fn page(
    state: &AppState,
    user: ConsoleUser,
    status: StatusCode,
    revoked: Option<String>,
    user_problem: Option<Problem>,
    token_problem: Option<Problem>,
) -> PageResult {
    let users = services::users::list(state, &user.actor)
        .await
        .or_page(&user)?;
    let tokens = services::users::list_tokens(state, &user.actor)
        .await
        .or_page(&user)?;
    // Only a token the reader can see is named in the notice.
    let notice = revoked
        .and_then(|id| tokens.iter().find(|t| t.id == id))
        .map(|t| format!("Token {} revoked: it no longer signs anything in.", t.name));
    let role = user.actor.role;
    let page = UsersPage {
        frame: Frame::new("Users & tokens", Some(&user), Section::Users),
        users: users
            .into_iter()
            .map(|u: User| UserRow {
                created: short_timestamp(u.created_at),
                username: u.username,
                role: u.role,
                disabled: u.disabled,
            })
            .collect(),
        tokens: tokens
            .into_iter()
            .map(|t: ApiToken| TokenRow {
                created: short_timestamp(t.created_at),
                revoked: t.revoked_at.map(short_timestamp),
                id: t.id,
                name: t.name,
                owner: t.username,
            })
            .collect(),
        roles: &Role::ALL,
        can_manage_users: allows(role, Operation::ManageUsers),
        can_create_tokens: allows(role, Operation::ManageOwnTokens),
        notice,
        user_problem,
        token_problem,
    };
    Ok(render(status, &page))
}

#[derive(Deserialize)]
pub(super) struct NewUser {
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    /// Empty: have one generated.
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "user_created.html")]
struct UserCreatedPage {
    frame: Frame,
    created: CreatedUser,
}

pub(super) async fn create_user(
    State(state): State<AppState>,
    signed: SignedForm<NewUser>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let role = Role::parse(&form.role)
        .map_err(|e| ServiceError::invalid(e.to_string(), "choose a role from the list"));
    let password = Some(form.password.as_str()).filter(|p| !p.is_empty());
    let outcome = match role {
        Ok(role) => {
            services::users::create(&state, &user.actor, form.username.trim(), role, password).await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(created) => Ok(render(
            StatusCode::CREATED,
            &UserCreatedPage {
                frame: Frame::new("User created", Some(&user), Section::Users),
                created,
            },
        )),
        Err(e) => {
            let problem = Problem::from(e);
            page(&state, user, problem.status, None, Some(problem), None).await
        }
    }
}

#[derive(Deserialize)]
pub(super) struct NewToken {
    #[serde(default)]
    name: String,
}

#[derive(Template)]
#[template(path = "token_created.html")]
struct TokenCreatedPage {
    frame: Frame,
    created: CreatedToken,
}

pub(super) async fn create_token(
    State(state): State<AppState>,
    signed: SignedForm<NewToken>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    match services::users::create_token(&state, &user.actor, &form.name, None).await {
        Ok(created) => Ok(render(
            StatusCode::CREATED,
            &TokenCreatedPage {
                frame: Frame::new("Token created", Some(&user), Section::Users),
                created,
            },
        )),
        Err(e) => {
            let problem = Problem::from(e);
            page(&state, user, problem.status, None, None, Some(problem)).await
        }
    }
}

pub(super) async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    signed: SignedForm<NoFields>,
) -> PageResult {
    let user = signed.user;
    services::users::revoke_token(&state, &user.actor, &id)
        .await
        .or_page(&user)?;
    Ok(see_other(&format!(
        "/users{}",
        query_string(&[("revoked", &id)])
    )))
}
