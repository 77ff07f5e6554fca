//! Routes of `slipway login --sso`: a CLI without a credential asks for a sign-in request, then
//! polls with its secret until the person signed in at the provider (`services::cli_sign_ins`).

use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use slipway_api::access::{CliSignInPoll, CliSignInStatus, CliSignInView, CreatedToken};

use crate::services::cli_sign_ins::{self, Collected};
use crate::views::IntoView;
use crate::{AppState, ServiceError};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cli-sign-ins", post(request))
        .route("/api/v1/cli-sign-ins/{id}/token", post(collect))
}

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/cli-sign-ins"),
    ("post", "/api/v1/cli-sign-ins/{id}/token"),
];

#[derive(Deserialize)]
pub(super) struct RequestBody {
    /// The machine the CLI runs on, shown to the person.
    #[serde(default)]
    host: String,
}

async fn request(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    Json(body): Json<RequestBody>,
) -> Result<(StatusCode, Json<CliSignInView>), ServiceError> {
    let r = cli_sign_ins::request(&state, &body.host, addr.ip()).await?;
    Ok((
        StatusCode::CREATED,
        Json(CliSignInView {
            id: r.id,
            user_code: r.user_code,
            secret: r.secret,
            path: r.path,
            expires_at: slipway_store::format_time(r.expires_at),
            poll_interval_secs: cli_sign_ins::POLL_SECS,
        }),
    ))
}

#[derive(Deserialize)]
pub(super) struct PollBody {
    secret: String,
}

async fn collect(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Json(body): Json<PollBody>,
) -> Result<(StatusCode, Json<CliSignInPoll>), ServiceError> {
    Ok(
        match cli_sign_ins::collect(&state, &id, &body.secret).await? {
            Collected::Pending => (
                StatusCode::ACCEPTED,
                Json(CliSignInPoll {
                    status: CliSignInStatus::Pending,
                    username: None,
                    token: None,
                }),
            ),
            Collected::Token { username, created } => (
                StatusCode::OK,
                Json(CliSignInPoll {
                    status: CliSignInStatus::SignedIn,
                    username: Some(username),
                    token: Some(CreatedToken {
                        token: created.token.into_view(),
                        secret: created.secret,
                    }),
                }),
            ),
        },
    )
}
