//! Signing in with a directory password: a bind to the LDAP directory with the person's own
//! name and password, their groups mapped to a role, then the same admission as any outside
//! authority's person (`super::sign_in_person`); and the fresh bind a signature asks for.
//! Local accounts (the break-glass admin) never go to the directory.

use serde_json::json;
use slipway_core::sso::roles::{role_for, GroupNames};
use slipway_store::{Identity, User};

use super::{audit_failure, no_role, sign_in_person, Person};
use crate::auth::ldap;
use crate::services::sessions::NewSession;
use crate::state::SignInAttempt;
use crate::{AppState, ServiceError};

/// Whether `user` signs in with Slipway's own password (a local account): the break-glass
/// admin does, whatever the directory's state.
pub(in crate::services) async fn is_local(
    state: &AppState,
    user: Option<&User>,
) -> Result<bool, ServiceError> {
    Ok(match user {
        Some(u) => u.password_hash.is_some() && state.store.identity_of(&u.id).await?.is_none(),
        None => false,
    })
}

/// Confirm a name and password with the directory, then sign the person in.
pub(in crate::services) async fn ldap_login(
    state: &AppState,
    attempt: &SignInAttempt<'_>,
    password: &str,
) -> Result<NewSession, ServiceError> {
    let config = state
        .authorities
        .ldap
        .clone()
        .expect("the caller checked a directory is configured");
    let (username, secret) = (attempt.username.to_string(), password.to_string());
    let checked = tokio::task::spawn_blocking(move || {
        ldap::authenticate(&config, &username, &secret).map(|p| (p, config))
    })
    .await
    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let details = json!({ "client": attempt.client.to_string(), "method": "ldap" });
    let (found, config) = match checked {
        Ok(found) => found,
        Err(ldap::LdapError::BadCredentials) => {
            state.login_limiter.fail(attempt);
            failed(state, attempt, "wrong user name or password").await?;
            return Err(ServiceError::BadCredentials);
        }
        Err(e) => {
            failed(state, attempt, &e.to_string()).await?;
            return Err(ServiceError::Unavailable {
                message: format!("{e}; nothing was changed and nobody was signed in"),
                hint: "try again in a moment; local accounts (the break-glass admin) still sign in with their Slipway password".into(),
            });
        }
    };
    let role = role_for(
        &found.groups,
        &config.roles,
        config.default_role,
        GroupNames::IgnoreAsciiCase,
    );
    let Some(role) = role else {
        let e = no_role(attempt.username, &found.groups);
        failed(state, attempt, &e.to_string()).await?;
        return Err(e);
    };
    state.login_limiter.succeed(attempt);
    let person = Person {
        identity: Identity {
            source: "ldap".into(),
            subject: found.dn.to_ascii_lowercase(),
        },
        username: attempt.username.to_string(),
        printed_name: found.printed_name,
        role,
        groups: found.groups,
        refresh_token: None,
    };
    match sign_in_person(state, &person, details).await {
        Ok(session) => Ok(session),
        Err(e) => {
            failed(state, attempt, &e.to_string()).await?;
            Err(e)
        }
    }
}

/// Re-confirm a directory user's password for a signature (a fresh bind, not the session).
pub(in crate::services) async fn ldap_rebind(
    state: &AppState,
    username: &str,
    password: &str,
) -> Result<bool, ServiceError> {
    let Some(config) = state.authorities.ldap.clone() else {
        return Ok(false);
    };
    let (username, secret) = (username.to_string(), password.to_string());
    let checked =
        tokio::task::spawn_blocking(move || ldap::authenticate(&config, &username, &secret))
            .await
            .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    match checked {
        Ok(_) => Ok(true),
        Err(ldap::LdapError::BadCredentials) => Ok(false),
        Err(e) => Err(ServiceError::Unavailable {
            message: format!("{e}; nothing was signed and nothing changed"),
            hint: "sign when the directory answers again".into(),
        }),
    }
}

/// Audit a refused directory sign-in (the throttle is the caller's).
async fn failed(
    state: &AppState,
    attempt: &SignInAttempt<'_>,
    reason: &str,
) -> Result<(), ServiceError> {
    audit_failure(state, attempt.username, "ldap", reason, attempt.client).await
}
