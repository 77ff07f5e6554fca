//! Signing in and out, finding who is signed in on a request, and the CSRF check every console
//! form passes.

use std::net::SocketAddr;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{
    ConnectInfo, FromRequest, FromRequestParts, OptionalFromRequestParts, Request, State,
};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::notice::{carry, notice_of, Done};
use super::page::{problem_page, render, see_other, Frame, Problem, Section};
use super::user::ConsoleUser;
use crate::auth::{cookie, cookie_header, identify, same_secret, SESSION_COOKIE};
use crate::{services, AppState};

async fn signed_in(parts: &Parts, state: &AppState) -> Result<Option<ConsoleUser>, Response> {
    let actor = identify(state, parts)
        .await
        .map_err(|e| problem_page(None, e.into()))?;
    let session = cookie(&parts.headers, SESSION_COOKIE).map(str::to_string);
    Ok(match (actor, session) {
        // API tokens carry no CSRF token, so they could never post a console form.
        (Some(actor), Some(session)) if actor.csrf.is_some() => {
            // The count is a courtesy of the frame: a failure to count must not hide the page.
            let waiting_for_them = services::dashboard::waiting_counts(state, &actor)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "could not count what waits for the reader");
                    Default::default()
                });
            Some(ConsoleUser {
                actor,
                session,
                waiting_for_them,
                done: notice_of(&parts.headers),
            })
        }
        _ => None,
    })
}

impl FromRequestParts<AppState> for ConsoleUser {
    /// Not signed in: off to the sign-in page.
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        signed_in(parts, state)
            .await?
            .ok_or_else(|| see_other("/login"))
    }
}

impl OptionalFromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        signed_in(parts, state).await
    }
}

/// A posted console form whose `csrf` field matched the session's token, checked before the
/// form is even decoded; anything else is refused with 403 and changes nothing.
pub(super) struct SignedForm<T> {
    pub user: ConsoleUser,
    pub form: T,
}

/// Larger than any console form, small enough that nobody can make the server buffer much.
const FORM_LIMIT: usize = 64 * 1024;

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let user =
            <ConsoleUser as FromRequestParts<AppState>>::from_request_parts(&mut parts, state)
                .await?;
        let refuse = |user: &ConsoleUser, status, message: &str, hint: &str| {
            problem_page(
                Some(user),
                Problem {
                    status,
                    message: message.into(),
                    hint: Some(hint.into()),
                },
            )
        };
        let Ok(bytes) = axum::body::to_bytes(body, FORM_LIMIT).await else {
            return Err(refuse(
                &user,
                StatusCode::PAYLOAD_TOO_LARGE,
                "the form is too large",
                "send less text",
            ));
        };
        let fields: Vec<(String, String)> = decode(bytes.clone()).await.unwrap_or_default();
        let sent = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default();
        if !same_secret(sent, user.csrf()) {
            return Err(refuse(
                &user,
                StatusCode::FORBIDDEN,
                "this form did not come from your current console session, so nothing was changed",
                "reload the page and submit the form again",
            ));
        }
        match decode(bytes).await {
            Ok(form) => Ok(SignedForm { user, form }),
            Err(detail) => Err(refuse(
                &user,
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("the form could not be read: {detail}"),
                "reload the page and fill the form again",
            )),
        }
    }
}

/// Decode a urlencoded body by axum's form rules, from bytes already read for the CSRF check.
async fn decode<T: DeserializeOwned>(bytes: Bytes) -> Result<T, String> {
    let request = Request::builder()
        .method(Method::POST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(bytes))
        .expect("a fixed method and header always make a valid request");
    Form::<T>::from_request(request, &())
        .await
        .map(|Form(v)| v)
        .map_err(|e| e.body_text())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    frame: Frame,
    username: &'a str,
    problem: Option<Problem>,
    /// "Sign in with {provider}", when an OpenID provider is configured.
    provider: Option<String>,
    /// The password may be the directory's (LDAP).
    directory: bool,
}

impl<'a> LoginPage<'a> {
    fn new(state: &AppState, username: &'a str, problem: Option<Problem>) -> LoginPage<'a> {
        LoginPage {
            frame: Frame::new("Sign in", None, Section::Elsewhere),
            username,
            problem,
            provider: services::sso::provider_name(state),
            directory: services::sso::directory_configured(state),
        }
    }
}

pub(super) async fn login_form(
    State(state): State<AppState>,
    user: Option<ConsoleUser>,
) -> Response {
    if user.is_some() {
        return see_other("/");
    }
    render(StatusCode::OK, &LoginPage::new(&state, "", None))
}

#[derive(Deserialize)]
pub(super) struct Credentials {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Form(form): Form<Credentials>,
) -> Response {
    match services::users::login(&state, form.username.trim(), &form.password, client.ip()).await {
        Ok(session) => {
            let cookie = cookie_header(&state, &session.cookie_value, session.max_age_secs);
            // Land on the dashboard, the picture of what each environment holds, or, for those
            // who decide, on their inbox.
            let mut landed = (
                [(header::SET_COOKIE, cookie)],
                see_other(session.role.landing_page()),
            )
                .into_response();
            carry(&mut landed, &state, Done::SignedIn);
            landed
        }
        Err(e) => {
            let problem = Problem::from(e);
            let status = problem.status;
            render(
                status,
                &LoginPage::new(&state, form.username.trim(), Some(problem)),
            )
        }
    }
}

/// The flow cookie of an OpenID sign-in: `Lax`, unlike the session's `Strict`, because the
/// provider's answer is a navigation from another site, and the cookie must come with it.
fn flow_cookie(state: &AppState, value: &str, max_age_secs: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!(
        "{}={value}; Path=/login/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}",
        services::sso::FLOW_COOKIE
    )
}

/// "Sign in with <provider>": off to the provider, with the flow in a sealed cookie.
pub(super) async fn oidc_start(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
) -> Response {
    let from = Beginner {
        who: "unknown",
        client: client.ip(),
    };
    begin(&state, services::sso::Purpose::SignIn, from).await
}

/// Who starts a flow at the provider, and from where (a failed start is audited with them).
struct Beginner<'a> {
    who: &'a str,
    client: std::net::IpAddr,
}

#[derive(Deserialize)]
pub(super) struct Back {
    #[serde(default)]
    back: String,
}

/// "Sign in again at <provider> to sign": a fresh sign-in for a signature, then back to the
/// record's page.
pub(super) async fn oidc_again(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    user: ConsoleUser,
    axum::extract::Query(back): axum::extract::Query<Back>,
) -> Response {
    let back_to = services::sso::local_path(&back.back).unwrap_or_else(|| "/".into());
    let purpose = services::sso::Purpose::SignAgain {
        user_id: user.actor.user_id.clone(),
        back_to,
    };
    let from = Beginner {
        who: &user.actor.username,
        client: client.ip(),
    };
    begin(&state, purpose, from).await
}

async fn begin(state: &AppState, purpose: services::sso::Purpose, from: Beginner<'_>) -> Response {
    let state = state.clone();
    match services::sso::begin_oidc(&state, purpose, from.who, from.client).await {
        Ok(begun) => (
            [(
                header::SET_COOKIE,
                flow_cookie(&state, &begun.cookie_value, services::sso::FLOW_SECS),
            )],
            see_other(&begun.redirect),
        )
            .into_response(),
        Err(e) => {
            let problem = Problem::from(e);
            render(problem.status, &LoginPage::new(&state, "", Some(problem)))
        }
    }
}

/// The provider's answer: signed in and landed, or back on the sign-in page saying why not.
/// The flow cookie is cleared either way: a flow is used once.
pub(super) async fn oidc_callback(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    axum::extract::Query(answer): axum::extract::Query<services::sso::Callback>,
) -> Response {
    let flow = cookie(&headers, services::sso::FLOW_COOKIE);
    let clear = (header::SET_COOKIE, flow_cookie(&state, "", 0));
    match services::sso::finish_oidc(&state, flow, answer, client.ip()).await {
        Ok(services::sso::Finished::SignedAgain { back_to }) => (
            [clear],
            axum::response::Html(moving_on("Signed in again: you may sign now.", &back_to)),
        )
            .into_response(),
        Ok(services::sso::Finished::CliApproved { username, host }) => {
            let mut page = CliSignInPage::new(&state);
            page.approved = Some(username);
            page.host = host;
            ([clear], render(StatusCode::OK, &page)).into_response()
        }
        Ok(services::sso::Finished::SignedIn(session)) => {
            let cookie = cookie_header(&state, &session.cookie_value, session.max_age_secs);
            // A page of ours that moves on, rather than a redirect: the session cookie is
            // `SameSite=Strict`, and browsers withhold such cookies along a redirect chain that
            // began on another site (the provider).
            let page = moving_on("Signed in.", session.role.landing_page());
            let mut landed = (
                axum::response::AppendHeaders([clear, (header::SET_COOKIE, cookie)]),
                axum::response::Html(page),
            )
                .into_response();
            carry(&mut landed, &state, Done::SignedIn);
            landed
        }
        Err(e) => {
            let problem = Problem::from(e);
            let status = problem.status;
            (
                [clear],
                render(status, &LoginPage::new(&state, "", Some(problem))),
            )
                .into_response()
        }
    }
}

/// The page a person opens for `slipway login --sso`: the CLI's machine and code, and the
/// button to sign in at the provider for it; afterwards, who signed in.
#[derive(Template)]
#[template(path = "cli_sign_in.html")]
struct CliSignInPage {
    frame: Frame,
    problem: Option<Problem>,
    request: Option<slipway_store::StoredCliSignIn>,
    provider: String,
    approved: Option<String>,
    host: String,
}

impl CliSignInPage {
    fn new(state: &AppState) -> CliSignInPage {
        CliSignInPage {
            frame: Frame::new("Sign in the CLI", None, Section::Elsewhere),
            problem: None,
            request: None,
            provider: services::sso::provider_name(state).unwrap_or_default(),
            approved: None,
            host: String::new(),
        }
    }
}

pub(super) async fn cli_sign_in(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let mut page = CliSignInPage::new(&state);
    match services::cli_sign_ins::waiting(&state, &id).await {
        Ok(request) => page.request = Some(request),
        Err(e) => page.problem = Some(Problem::from(e)),
    }
    let status = page.problem.as_ref().map_or(StatusCode::OK, |p| p.status);
    render(status, &page)
}

/// "Sign in with <provider> for the CLI": a fresh sign-in whose end approves the request.
pub(super) async fn oidc_for_cli(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(e) = services::cli_sign_ins::waiting(&state, &id).await {
        let mut page = CliSignInPage::new(&state);
        let problem = Problem::from(e);
        let status = problem.status;
        page.problem = Some(problem);
        return render(status, &page);
    }
    let from = Beginner {
        who: "unknown",
        client: client.ip(),
    };
    begin(&state, services::sso::Purpose::Cli { request_id: id }, from).await
}

/// A page that moves on to `to` (a path of this console, checked by the caller).
fn moving_on(said: &str, to: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Slipway</title></head><body><p>{said} <a id=\"continue\" href=\"{to}\">Continue to Slipway</a></p></body></html>"
    )
}

/// A form whose only field is the CSRF token (sign out, revoke).
#[derive(Deserialize)]
pub(super) struct NoFields {}

pub(super) async fn logout(
    State(state): State<AppState>,
    signed: SignedForm<NoFields>,
) -> Response {
    let user = signed.user;
    if let Err(e) = services::users::logout(&state, &user.actor, &user.session).await {
        return problem_page(Some(&user), e.into());
    }
    (
        [(header::SET_COOKIE, cookie_header(&state, "", 0))],
        see_other("/login"),
    )
        .into_response()
}
