//! The provider's refresh token, kept so that an OpenID person's sessions and CLI tokens are
//! re-checked (`services::oidc_recheck`): sealed under the master key for one user only, never
//! logged, shown or audited; and, when the provider gave none, the note that says this person is
//! checked at sign-in only.

use slipway_store::User;

use super::Person;
use crate::{AppState, ServiceError};

/// What the sign-in's audit event says when re-checks are on but the provider gave no refresh
/// token: this person is then checked at sign-in only, and an admin reading the audit log (or
/// the server's log) learns why and what to change.
pub(super) fn checked_at_sign_in_only(state: &AppState, person: &Person) -> Option<&'static str> {
    let rechecks_on = state
        .authorities
        .oidc
        .as_ref()
        .is_some_and(|c| c.config.recheck.enabled);
    if person.identity.source != "oidc" || person.refresh_token.is_some() || !rechecks_on {
        return None;
    }
    tracing::warn!(
        user = %person.username,
        "the OpenID provider gave no refresh token: this person is checked at sign-in only; add the scope it needs (offline_access for most) to oidc.scopes"
    );
    Some("at sign-in only: the provider gave no refresh token; add the scope it needs (offline_access for most) to oidc.scopes")
}

/// Keep an OpenID person's refresh token, sealed under the master key for this user only, so
/// their sessions and CLI tokens are re-checked at the provider; a sign-in without one forgets
/// the previous one (nothing to re-check with).
pub(super) async fn keep_refresh_token(
    state: &AppState,
    tx: &mut slipway_store::WriteTx<'_>,
    user: &User,
    person: &Person,
) -> Result<(), ServiceError> {
    if person.identity.source != "oidc" {
        return Ok(());
    }
    let sealed = person
        .refresh_token
        .as_deref()
        .map(|token| state.secrets.seal(&refresh_slot(&user.id), token));
    tx.keep_refresh_token(&user.id, sealed.as_deref()).await?;
    Ok(())
}

/// The sealing slot of a user's refresh token: a sealed token copied to another user's row
/// does not open.
pub(crate) fn refresh_slot(user_id: &str) -> String {
    format!("oidc-refresh/{user_id}")
}
