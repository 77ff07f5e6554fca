//! Users and API tokens as the API answers them. It never holds a password hash or a token's
//! hash: only the secrets shown once, at creation.

use serde::{Deserialize, Serialize};
use slipway_core::access::Role;

/// A user (`GET /api/v1/users`, `PATCH /api/v1/users/{username}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub created_at: String,
    /// The name printed with the person's electronic signatures (`null`: the user name).
    #[serde(default)]
    pub full_name: Option<String>,
}

/// A user after `PATCH /api/v1/users/{username}`, with the role raise held for a second admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserUpdateView {
    #[serde(flatten)]
    pub user: UserView,
    /// A raise of the role waits as a configuration change request (`null`: nothing waits).
    pub held: Option<crate::config_changes::ConfigChangeView>,
}

/// A new user (`POST /api/v1/users`): 201 with the role asked, or 202 created as viewer with the
/// raise to the role asked held for another admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedUser {
    pub user: UserView,
    /// Shown once, when no password was chosen.
    pub generated_password: Option<String>,
    /// The raise to the role asked, waiting as a configuration change request (`null`: the user
    /// has the role asked now).
    #[serde(default)]
    pub held: Option<crate::config_changes::ConfigChangeView>,
}

/// An API token, without its secret (`GET /api/v1/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenView {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub name: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub created_at: String,
    /// RFC 3339; becomes a timestamp when the states branch lands.
    pub revoked_at: Option<String>,
}

/// A new API token (`POST /api/v1/tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub token: ApiTokenView,
    /// The secret, shown once; only its hash is kept.
    pub secret: String,
}

/// Who the caller is (`GET /api/v1/whoami`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoAmI {
    pub username: String,
    pub role: Role,
    /// `session` for a console session, `token` for an API token.
    pub via: String,
}

/// A console session opened through the API (`POST /api/v1/session`); its cookie comes in
/// `Set-Cookie`, and every state-changing request of the session sends this token back in
/// `X-CSRF-Token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionView {
    pub csrf_token: String,
}

/// A sign-in request of the CLI (`POST /api/v1/cli-sign-ins`, `slipway login --sso`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliSignInView {
    pub id: String,
    /// The code the person checks on the page against their terminal (`BCDF-GHJK`).
    pub user_code: String,
    /// The poll secret, shown once, to the CLI that asked.
    pub secret: String,
    /// The console page the person opens (joined to the server's address by the CLI).
    pub path: String,
    /// RFC 3339: the request ends then, used or not.
    pub expires_at: String,
    /// Ask again after this many seconds.
    pub poll_interval_secs: u64,
}

/// Where a CLI sign-in request stands (`POST /api/v1/cli-sign-ins/{id}/token`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CliSignInStatus {
    /// Nobody signed in for it yet (answered 202).
    Pending,
    /// The person signed in; the token is in this answer, once (200).
    SignedIn,
}

/// The answer to the CLI's poll.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CliSignInPoll {
    pub status: CliSignInStatus,
    /// Who signed in (with `signed_in`).
    #[serde(default)]
    pub username: Option<String>,
    /// Their new API token (with `signed_in`).
    #[serde(default)]
    pub token: Option<CreatedToken>,
}
