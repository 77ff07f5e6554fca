//! A console session opened for a person, whoever vouched for them (their Slipway password,
//! the directory, the OpenID provider), with its `session.login` event; and the rule every user
//! name follows. Below both `users` and `sso`, which sign people in.

use slipway_core::audit::AuditEntry;
use slipway_store::User;

use crate::auth::{new_secret, secret_hash};
use crate::{AppState, ServiceError};

/// A console session: the cookie value (secret) and its CSRF token.
pub struct NewSession {
    pub cookie_value: String,
    pub csrf: String,
    pub max_age_secs: i64,
    /// The signed-in person's role (where the console lands them).
    pub role: slipway_core::access::Role,
}

/// Record a failed sign-in of `attempt`: always counted (metrics), audited as
/// `session.login_failed` with `details` only when [`crate::sign_in_audit`] says so — the first
/// failure of a name from a client within its window, within the server-wide budget — adding
/// how many failures were not audited since the previous audited one. Bounds what a guesser
/// can write into the audit chain; refuses nobody.
pub(crate) async fn record_failed_sign_in(
    state: &AppState,
    attempt: &crate::state::SignInAttempt<'_>,
    mut details: serde_json::Value,
) -> Result<(), ServiceError> {
    use crate::sign_in_audit::Verdict;
    let verdict =
        state
            .sign_in_audit
            .judge(attempt.username, attempt.client, std::time::Instant::now());
    state
        .metrics
        .sign_in_failed(matches!(verdict, Verdict::Audit { .. }));
    let Verdict::Audit { unaudited_before } = verdict else {
        return Ok(());
    };
    details["unaudited_before"] = serde_json::json!(unaudited_before);
    let mut tx = state.store.write().await?;
    tx.audit(AuditEntry {
        actor: attempt.username.to_string(),
        verb: "session.login_failed".into(),
        subject: format!("user/{}", attempt.username),
        details,
    });
    tx.commit().await?;
    Ok(())
}

/// A new console session for `user`, written with its `session.login` event (whose details say
/// where from and how) into the caller's transaction. It ends after the configured idle time
/// unless used, and at the absolute limit whatever happens; the cookie lives as long as that.
pub(super) async fn open_session(
    state: &AppState,
    tx: &mut slipway_store::WriteTx<'_>,
    user: &User,
    details: serde_json::Value,
) -> Result<NewSession, ServiceError> {
    let cookie_value = new_secret("");
    let csrf = new_secret("");
    let policy = state.authorities.sessions;
    let now = jiff::Timestamp::now();
    tx.create_session(
        &secret_hash(&cookie_value),
        &user.id,
        &csrf,
        policy.ends(now, now),
    )
    .await?;
    tx.audit(AuditEntry {
        actor: user.username.clone(),
        verb: "session.login".into(),
        subject: format!("user/{}", user.username),
        details,
    });
    Ok(NewSession {
        cookie_value,
        csrf,
        max_age_secs: policy.absolute().as_secs(),
        role: user.role,
    })
}

pub(super) fn valid_username(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            format!("`{name}` is not a valid user name"),
            "use 1-64 letters, digits, '.', '_', '-' or '@'",
        ))
    }
}
