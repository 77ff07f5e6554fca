//! The signed-in person's own page: who they are here, and the form that changes their own
//! password (a Slipway password; directory and single sign-on users change theirs there).

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;

use super::notice::{see_other_done, Done};
use super::page::{render, Frame, OrProblemPage, PageResult, Problem, Section};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::{services, AppState, ServiceError};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    username: String,
    role: String,
    printed_name: Option<String>,
    /// The person signs in with a Slipway password (else through the directory or SSO).
    local: bool,
    problem: Option<Problem>,
}

async fn page(state: &AppState, user: ConsoleUser, problem: Option<Problem>) -> PageResult {
    let status = problem.as_ref().map_or(StatusCode::OK, |p| p.status);
    let me = state
        .store
        .user_by_name(&user.actor.username)
        .await
        .map_err(ServiceError::from)
        .or_page(&user)?;
    let page = AccountPage {
        frame: Frame::new("Your account", Some(&user), Section::Elsewhere),
        username: user.actor.username.clone(),
        role: user.actor.role.to_string(),
        printed_name: me.as_ref().and_then(|u| u.full_name.clone()),
        local: me.as_ref().is_some_and(|u| u.password_hash.is_some()),
        problem,
    };
    Ok(render(status, &page))
}

/// `GET /account`.
pub(super) async fn show(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    page(&state, user, None).await
}

#[derive(Deserialize)]
pub(super) struct PasswordFields {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

/// `POST /account/password`: change one's own password.
pub(super) async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    signed: SignedForm<PasswordFields>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let outcome = if form.new != form.repeat {
        Err(ServiceError::invalid(
            "the two new passwords differ",
            "type the same new password in both boxes",
        ))
    } else {
        services::users::change_own_password(
            &state,
            &user.actor,
            &user.session,
            client.ip(),
            &form.current,
            &form.new,
        )
        .await
    };
    match outcome {
        Ok(()) => Ok(see_other_done(&state, "/account", Done::PasswordChanged)),
        Err(e) => page(&state, user, Some(Problem::from(e))).await,
    }
}
