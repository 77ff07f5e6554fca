//! The service error type, and its one mapping to RFC 9457 problem+json.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use slipway_core::access::Denied;
use slipway_core::config::{ConfigError, ConfigErrors};
use slipway_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("this agent's credential is unknown or revoked")]
    AgentUnknown,
    #[error("wrong user name or password")]
    BadCredentials,
    /// The Unleash client API: no flag token, or one that is unknown or revoked.
    #[error("this flag token is unknown or revoked: send `Authorization: <token>`")]
    FlagTokenUnknown,
    #[error("sign in first: send `Authorization: Bearer <token>` or log in to the console")]
    Unauthenticated,
    #[error("{0}")]
    Denied(#[from] Denied),
    #[error("{what} does not exist")]
    NotFound { what: String, hint: String },
    #[error("{message}")]
    Invalid { message: String, hint: String },
    #[error("the configuration has {} error(s)", .0 .0.len())]
    Config(ConfigErrors),
    #[error("{0} already exists")]
    Conflict(String),
    /// The thing is not in a state that allows this now (a deployment still runs, votes closed).
    #[error("{message}")]
    State { message: String, hint: String },
    #[error("too many failed sign-ins; wait {retry_after_secs} s before trying again")]
    RateLimited { retry_after_secs: u64 },
    /// Too many requests of one kind from one client (or in all): wait, then ask again.
    #[error("{message}")]
    Throttled {
        message: String,
        hint: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The vault: a body over the size limit.
    #[error("the upload is larger than this server's limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The vault: a request whose content contradicts itself (a declared digest that does not match).
    #[error("{message}")]
    BadRequest { message: String, hint: String },
    /// The vault: an artifact version or release exists with other content; it never changes.
    #[error("{message}")]
    Immutable { message: String, hint: String },
    /// The vault: stored bytes no longer match their digest; they are not served.
    #[error("{message}")]
    Corrupt { message: String, hint: String },
    /// A person may not do this for a reason of the rules, not of their role (four eyes).
    #[error("{message}")]
    Refused { message: String, hint: String },
    /// A rule of the project refuses this (e.g. unsigned artifacts in a protected environment).
    #[error("{message}")]
    Policy { message: String, hint: String },
    /// A pushed test report over the size limit.
    #[error("the report is larger than this server's limit of {limit} bytes")]
    ReportTooLarge { limit: u64 },
    /// A pushed vulnerability scan over the size limit.
    #[error("the scan report is larger than this server's limit of {limit} bytes")]
    ScanTooLarge { limit: u64 },
    /// The vault's folder cannot be read or written.
    #[error("the vault cannot store or read the content: {0}")]
    VaultIo(String),
    /// A sign-in through an outside authority that does not hold (wrong state, nonce, audience,
    /// expired token, no mapped group): nobody is signed in.
    #[error("{message}")]
    SignInRefused { message: String, hint: String },
    /// An outside authority (the OpenID provider, the LDAP directory) did not answer.
    #[error("{message}")]
    Unavailable { message: String, hint: String },
    /// This server cannot do this yet, and will soon by itself (the audit log's check at start
    /// still runs): ask again after `retry_after_secs`.
    #[error("{message}")]
    NotYet {
        message: String,
        hint: String,
        retry_after_secs: u64,
    },
}

impl ServiceError {
    pub fn state(message: impl Into<String>, hint: impl Into<String>) -> Self {
        ServiceError::State {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn not_found(what: impl Into<String>, hint: impl Into<String>) -> Self {
        ServiceError::NotFound {
            what: what.into(),
            hint: hint.into(),
        }
    }

    pub fn invalid(message: impl Into<String>, hint: impl Into<String>) -> Self {
        ServiceError::Invalid {
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ServiceError::Unauthenticated
            | ServiceError::BadCredentials
            | ServiceError::FlagTokenUnknown
            | ServiceError::AgentUnknown => StatusCode::UNAUTHORIZED,
            ServiceError::Denied(_) | ServiceError::Refused { .. } => StatusCode::FORBIDDEN,
            ServiceError::NotFound { .. } => StatusCode::NOT_FOUND,
            ServiceError::Invalid { .. } | ServiceError::Config(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ServiceError::Conflict(_)
            | ServiceError::State { .. }
            | ServiceError::Store(StoreError::AlreadyExists(_)) => StatusCode::CONFLICT,
            ServiceError::RateLimited { .. } | ServiceError::Throttled { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ServiceError::Store(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::TooLarge { .. }
            | ServiceError::ReportTooLarge { .. }
            | ServiceError::ScanTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ServiceError::Immutable { .. } => StatusCode::CONFLICT,
            ServiceError::Corrupt { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::Policy { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ServiceError::VaultIo(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::SignInRefused { .. } => StatusCode::UNAUTHORIZED,
            ServiceError::Unavailable { .. } | ServiceError::NotYet { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ServiceError::Unauthenticated => "Not signed in",
            ServiceError::BadCredentials => "Sign-in failed",
            ServiceError::AgentUnknown => "Agent not enrolled",
            ServiceError::FlagTokenUnknown => "Unknown flag token",
            ServiceError::Denied(_) => "Not allowed",
            ServiceError::NotFound { .. } => "Not found",
            ServiceError::Invalid { .. } => "Invalid request",
            ServiceError::Config(_) => "Invalid configuration",
            ServiceError::Conflict(_) | ServiceError::Store(StoreError::AlreadyExists(_)) => {
                "Already exists"
            }
            ServiceError::State { .. } => "Not now",
            ServiceError::RateLimited { .. } => "Too many attempts",
            ServiceError::Throttled { .. } => "Too many requests",
            ServiceError::Store(e) if e.is_unavailable() => "Database unavailable",
            ServiceError::Store(_) => "Server error",
            ServiceError::TooLarge { .. }
            | ServiceError::ReportTooLarge { .. }
            | ServiceError::ScanTooLarge { .. } => "Too large",
            ServiceError::BadRequest { .. } => "Bad request",
            ServiceError::Immutable { .. } => "Immutable",
            ServiceError::Corrupt { .. } => "Stored content is corrupt",
            ServiceError::Policy { .. } => "Refused by policy",
            ServiceError::Refused { .. } => "Refused by the four-eyes rule or a gate",
            ServiceError::VaultIo(_) => "Vault error",
            ServiceError::SignInRefused { .. } => "Sign-in refused",
            ServiceError::Unavailable { .. } => "Sign-in authority unavailable",
            ServiceError::NotYet { .. } => "Not ready yet",
        }
    }

    /// What to do next, for the problem's `hint` and the console's message.
    pub fn hint(&self) -> Option<String> {
        match self {
            ServiceError::Unauthenticated => Some(
                "sign in with `slipway login` (it keeps a token in the CLI profile), or pass --token / SLIPWAY_TOKEN"
                    .into(),
            ),
            ServiceError::BadCredentials => Some(format!(
                "after {} failures in a row, sign-in pauses for a few minutes",
                crate::state::MAX_FAILURES
            )),
            ServiceError::FlagTokenUnknown => Some(
                "create an environment's token: `slipway flag token create --project P --env E`"
                    .into(),
            ),
            ServiceError::AgentUnknown => Some("enrol the agent again with a new token from `slipway target enrollment-token`".into()),
            ServiceError::Denied(d) => Some(d.hint.clone()),
            ServiceError::NotFound { hint, .. } | ServiceError::Invalid { hint, .. } => {
                (!hint.is_empty()).then(|| hint.clone())
            }
            ServiceError::Config(_) => Some(
                "fix each error listed in `errors`, then send the request again; nothing was changed".into(),
            ),
            ServiceError::Store(StoreError::AlreadyExists(_)) | ServiceError::Conflict(_) => {
                Some("choose another name, or change the existing one".into())
            }
            ServiceError::RateLimited { .. } => None,
            ServiceError::Throttled { hint, .. } => Some(hint.clone()),
            ServiceError::Store(e) if e.is_unavailable() => Some(format!(
                "the database does not answer right now; nothing was changed: try again in {} s (the server reconnects by itself)",
                crate::readiness::RETRY_AFTER_SECS
            )),
            ServiceError::Store(_) => {
                Some("the server log has the details; the request changed nothing".into())
            }
            ServiceError::TooLarge { .. } => Some(
                "nothing was kept; an administrator raises the limit with SLIPWAY_MAX_ARTIFACT_SIZE (e.g. 16G)"
                    .into(),
            ),
            ServiceError::ReportTooLarge { .. } => Some(
                "nothing was kept; split the report into shards pushed with one --launch, or an administrator raises SLIPWAY_MAX_TEST_REPORT_SIZE (e.g. 1G)"
                    .into(),
            ),
            ServiceError::ScanTooLarge { .. } => Some(
                "nothing was kept; scan one image or component per report, or an administrator raises SLIPWAY_MAX_SCAN_REPORT_SIZE (e.g. 256M)"
                    .into(),
            ),
            ServiceError::BadRequest { hint, .. }
            | ServiceError::Immutable { hint, .. }
            | ServiceError::Corrupt { hint, .. }
            | ServiceError::Policy { hint, .. }
            | ServiceError::Refused { hint, .. }
            | ServiceError::State { hint, .. } => (!hint.is_empty()).then(|| hint.clone()),
            ServiceError::VaultIo(_) => Some(
                "nothing was kept; check the server log and the free space of the data folder"
                    .into(),
            ),
            ServiceError::SignInRefused { hint, .. }
            | ServiceError::Unavailable { hint, .. }
            | ServiceError::NotYet { hint, .. } => Some(hint.clone()),
        }
    }
}

/// RFC 9457 problem details, with Slipway's `hint` and, for configuration, every error.
#[derive(Debug, Serialize)]
pub(crate) struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ConfigError>>,
}

impl Problem {
    /// A problem for an answer the framework wrote before any handler ran: a body that is not
    /// JSON or not of the expected shape, a body over the limit, an unknown route or method.
    /// `detail` is the framework's own sentence, which names the field or the position.
    pub(crate) fn rejection(status: StatusCode, detail: String) -> Problem {
        let hint = match status.as_u16() {
            400 | 422 => "send a JSON body of the shape the OpenAPI document describes (GET /api/v1/openapi.json)",
            404 => "GET /api/v1/openapi.json lists every route",
            405 => "the Allow header lists the methods this route takes",
            413 => "send a smaller body; artifacts go to the vault's upload route, which streams",
            415 => "send the body with Content-Type: application/json",
            _ => "",
        };
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: if detail.is_empty() {
                status.canonical_reason().unwrap_or("Error").to_string()
            } else {
                detail
            },
            hint: (!hint.is_empty()).then(|| hint.to_string()),
            errors: None,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = (status, axum::Json(self)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, ServiceError::NotYet { .. }) {
            // Expected for a moment (a check at start still running, a result to send again):
            // the client is told when to come back, and nothing is wrong with the server.
            tracing::warn!(error = %self, "request answered: not yet");
        } else if status == StatusCode::INTERNAL_SERVER_ERROR
            || status == StatusCode::SERVICE_UNAVAILABLE
        {
            tracing::error!(error = %self, "request failed");
        }
        let problem = Problem {
            kind: "about:blank",
            title: self.title(),
            status: status.as_u16(),
            detail: self.to_string(),
            hint: self.hint(),
            errors: match &self {
                ServiceError::Config(e) => Some(e.0.clone()),
                _ => None,
            },
        };
        let mut response = problem.into_response();
        let retry_after = match &self {
            ServiceError::RateLimited { retry_after_secs }
            | ServiceError::Throttled {
                retry_after_secs, ..
            }
            | ServiceError::NotYet {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ServiceError::Store(e) if e.is_unavailable() => {
                Some(crate::readiness::RETRY_AFTER_SECS)
            }
            _ => None,
        };
        if let Some(secs) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
