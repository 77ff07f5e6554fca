//! Who is asking: API tokens (`Authorization: Bearer`), console sessions (cookie), passwords;
//! and the outside authorities a person may sign in through (`oidc`, `ldap`).

pub(crate) mod authorities;
pub(crate) mod ldap;
pub(crate) mod oidc;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use slipway_core::access::Role;
use slipway_core::digest::lower_hex;
use slipway_core::Sha256;

use crate::{AppState, ServiceError};

pub const SESSION_COOKIE: &str = "slipway_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The authenticated person behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    /// The session's CSRF token when signed in through the console; `None` for API tokens.
    pub csrf: Option<String>,
}

/// A new random secret: `prefix` followed by 256 bits in hex.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system provides randomness");
    format!("{prefix}{}", lower_hex(&bytes))
}

/// Tokens and session ids are 256-bit random, so a plain SHA-256 is the right stored form.
pub fn secret_hash(secret: &str) -> String {
    Sha256::of(secret.as_bytes()).to_hex()
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2id with default parameters accepts any password")
        .to_string()
}

pub fn verify_password(stored: &str, password: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Identify the caller of a request, or `None` when it carries no valid credential.
pub async fn identify(state: &AppState, parts: &Parts) -> Result<Option<Actor>, ServiceError> {
    if let Some(value) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let token = value.strip_prefix("Bearer ").ok_or_else(|| {
            ServiceError::invalid(
                "the Authorization header must be `Bearer <token>`",
                "send `Authorization: Bearer <token>` with a token from `slipway login` or `slipway token create`",
            )
        })?;
        let Some(u) = state
            .store
            .user_by_token_hash(&secret_hash(token.trim()))
            .await?
        else {
            return Ok(None);
        };
        return admitted(
            state,
            Actor {
                user_id: u.id,
                username: u.username,
                role: u.role,
                csrf: None,
            },
        )
        .await;
    }
    if let Some(session_id) = cookie(&parts.headers, SESSION_COOKIE) {
        let id_hash = secret_hash(session_id);
        let Some(s) = state.store.session(&id_hash).await? else {
            return Ok(None);
        };
        keep_alive(state, &id_hash, &s).await?;
        return admitted(
            state,
            Actor {
                user_id: s.user.id,
                username: s.user.username,
                role: s.user.role,
                csrf: Some(s.csrf),
            },
        )
        .await;
    }
    Ok(None)
}

/// The caller, once the directory still admits them (re-checked when due; see
/// `services::directory`): `None` when it no longer does.
async fn admitted(state: &AppState, mut actor: Actor) -> Result<Option<Actor>, ServiceError> {
    use crate::services::directory::{recheck, Recheck};
    match recheck(state, &actor.user_id, &actor.username, actor.role).await? {
        Recheck::Unchanged => {}
        Recheck::Role(role) => actor.role = role,
        Recheck::Ended => return Ok(None),
    }
    Ok(Some(actor))
}

/// A request on a live session moves its idle end forward (never past its absolute end);
/// written only when it moved by a step, so a busy console does not write on every click.
async fn keep_alive(
    state: &AppState,
    id_hash: &str,
    session: &slipway_store::Session,
) -> Result<(), ServiceError> {
    let (created, ends) = (session.created_at, session.expires_at);
    let policy = state.authorities.sessions;
    if let Some(next) = policy.touch(created, ends, jiff::Timestamp::now()) {
        state.store.extend_session(id_hash, next).await?;
    }
    Ok(())
}

/// API extractor: a token, or a console session plus the CSRF header on anything but reads.
impl FromRequestParts<AppState> for Actor {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let actor = identify(state, parts)
            .await?
            .ok_or(ServiceError::Unauthenticated)?;
        if let Some(csrf) = &actor.csrf {
            let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !safe && !sent.is_some_and(|sent| same_secret(sent, csrf)) {
                return Err(ServiceError::Refused {
                    message: "this request needs the session's CSRF token".into(),
                    hint: "send it in the X-CSRF-Token header, or use an API token".into(),
                });
            }
        }
        Ok(actor)
    }
}

/// Compare secrets in time that depends only on their length, so timing tells nothing of the
/// token.
pub(crate) fn same_secret(sent: &str, expected: &str) -> bool {
    !expected.is_empty()
        && sent.len() == expected.len()
        && sent
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// The `Set-Cookie` value for a console session (`max_age_secs` 0 clears it).
pub fn cookie_header(state: &AppState, value: &str, max_age_secs: i64) -> String {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_themselves_and_never_when_empty() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", ""));
    }

    #[test]
    fn passwords_verify_only_themselves() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse"));
        assert!(!verify_password(&h, "correct horse "));
        assert!(!verify_password("garbage", "x"));
    }

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let a = new_secret("slw_");
        assert_eq!(a.len(), 4 + 64);
        assert_ne!(a, new_secret("slw_"));
        assert_ne!(secret_hash(&a), a);
    }
}
