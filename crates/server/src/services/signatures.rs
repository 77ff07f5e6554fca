//! Electronic signatures executed by people (21 CFR Part 11 §11.200): a fresh authentication —
//! the signer re-enters their password with the action — then a signature bound to the record's
//! hash, sealed with the evidence key and stored in the transaction that writes the record and
//! its audit event.
//!
//! The services whose actions a policy may require signed (votes, overrides, change-request and
//! configuration-change decisions, risk acceptances) call [`authenticate`] before they open
//! their write, and [`sign`] inside it. A wrong password changes nothing but the audit log
//! (`signature.failed`) and the sign-in throttle; it never reaches the record.

use serde_json::{json, Value};
use slipway_core::audit::AuditEntry;
use slipway_core::model::Environment;
use slipway_core::signature::policy::SignedAction;
use slipway_core::signature::{record_hash, seal, Meaning, Sealed, Signature};
use slipway_core::signing::SigningKey;
use slipway_store::{User, WriteTx};

use super::evidence_key::signing_key;
use crate::auth::{hash_password, verify_password, Actor};
use crate::state::SignInAttempt;
use crate::{AppState, ServiceError};

/// What a person sends with an action that may need their signature.
#[derive(Debug, Clone, Copy)]
pub struct SignAsk<'a> {
    /// Their password, entered again for this action; `None` when they gave none.
    pub password: Option<&'a str>,
    /// Where the request came from, for the throttle.
    pub client: std::net::IpAddr,
}

/// A person who has just re-authenticated to sign one action.
pub(crate) struct Signer {
    user_id: String,
    username: String,
    printed_name: String,
    meaning: Meaning,
    key: SigningKey,
    /// Signing through the provider: the fresh sign-in (not older than this) is used up by the
    /// signature's transaction, so one sign-in signs one record.
    fresh_since: Option<jiff::Timestamp>,
}

/// Whether `action` in `env` needs an electronic signature.
pub(crate) fn required(env: &Environment, action: SignedAction) -> bool {
    env.gates.signatures.contains(&action)
}

/// Authenticate the signer afresh when `env`'s policy requires `action` signed; `None` when it
/// does not (a password sent anyway is ignored). Runs before the action writes anything: on a
/// wrong password only the audit event `signature.failed` is written.
pub(crate) async fn authenticate(
    state: &AppState,
    actor: &Actor,
    env: &Environment,
    action: SignedAction,
    ask: SignAsk<'_>,
) -> Result<Option<Signer>, ServiceError> {
    if !required(env, action) {
        return Ok(None);
    }
    let meaning = Meaning::of(action);
    if let Some(signer) = fresh_at_provider(state, actor, meaning).await? {
        return Ok(Some(signer));
    }
    let Some(password) = ask.password.filter(|p| !p.is_empty()) else {
        return Err(ServiceError::invalid(
            format!(
                "{} requires an electronic signature for {action}: enter your password to sign ({}: \"{}\")",
                env.name,
                meaning,
                meaning.declaration()
            ),
            "the CLI asks for it (or pass --password-stdin); the API takes it as `password` in the request body",
        ));
    };
    // Signing throttles apart from the console sign-in, under its own name, so that guessing
    // a signer's password while holding their session is as slow as guessing it at sign-in.
    let throttle_name = format!("signature:{}", actor.username);
    let attempt = SignInAttempt {
        username: &throttle_name,
        client: ask.client,
    };
    state
        .login_limiter
        .check(&attempt)
        .map_err(|retry_after_secs| ServiceError::RateLimited { retry_after_secs })?;
    let user = state.store.user_by_name(&actor.username).await?;
    let ok = password_signs(state, actor, user.as_ref(), password).await?;
    let Some(user) = user.filter(|_| ok) else {
        state.login_limiter.fail(&attempt);
        let details = json!({ "action": action.as_str(), "environment": env.name.as_str(), "client": ask.client.to_string() });
        audit_failed_signature(state, actor, details).await?;
        return Err(ServiceError::Refused {
            message: format!(
                "the password does not match {}'s: nothing was signed and nothing changed",
                actor.username
            ),
            hint: format!(
                "enter your own Slipway password; after {} wrong ones signing pauses for a few minutes",
                crate::state::MAX_FAILURES
            ),
        });
    };
    state.login_limiter.succeed(&attempt);
    let key = signing_key(state, actor).await?;
    Ok(Some(Signer {
        printed_name: user
            .full_name
            .clone()
            .unwrap_or_else(|| user.username.clone()),
        user_id: user.id,
        username: user.username,
        meaning,
        key,
        fresh_since: None,
    }))
}

/// Whether `password` is the signer's own, checked where they sign in: their Slipway password,
/// or a fresh bind at the directory for a directory user; refused outright for someone who
/// signs in through a provider (they sign with a fresh sign-in there).
async fn password_signs(
    state: &AppState,
    actor: &Actor,
    user: Option<&User>,
    password: &str,
) -> Result<bool, ServiceError> {
    let Some(user) = user else {
        // Spend the time a real check takes.
        let _ = verify_password(&hash_password("no such user"), password);
        return Ok(false);
    };
    let current = user.id == actor.user_id && !user.disabled;
    let source = state.store.identity_of(&user.id).await?.map(|i| i.source);
    Ok(match source.as_deref() {
        // A directory user signs with their directory password: a fresh bind, not the session.
        Some("ldap") => current && super::sso::ldap_rebind(state, &actor.username, password).await?,
        Some(other) => {
            return Err(ServiceError::invalid(
                format!(
                    "{} signs in through {other}, so a password cannot sign for them",
                    actor.username
                ),
                "sign in again at the provider first (the console's \"Sign in again at … to sign\"), then act within 5 minutes",
            ))
        }
        None => {
            current
                && user
                    .password_hash
                    .as_deref()
                    .is_some_and(|h| verify_password(h, password))
        }
    })
}

/// Audit a refused signature (`signature.failed`), in a write of its own: nothing else changed.
async fn audit_failed_signature(
    state: &AppState,
    actor: &Actor,
    details: serde_json::Value,
) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "signature.failed".into(),
        subject: format!("user/{}", actor.username),
        details,
    });
    tx.commit().await?;
    Ok(())
}

/// A person who signs in through an OpenID provider signs with a fresh sign-in there (made
/// with `prompt=login` and `max_age=0`, its `auth_time` checked), used once within
/// `sso::FRESH_SECS`; `None` for everyone else (they sign with a password).
async fn fresh_at_provider(
    state: &AppState,
    actor: &Actor,
    meaning: Meaning,
) -> Result<Option<Signer>, ServiceError> {
    let source = state
        .store
        .identity_of(&actor.user_id)
        .await?
        .map(|i| i.source);
    if source.as_deref() != Some("oidc") {
        return Ok(None);
    }
    let not_before =
        jiff::Timestamp::now() - jiff::SignedDuration::from_secs(super::sso::FRESH_SECS);
    let fresh = state
        .store
        .fresh_authentication(&actor.user_id)
        .await?
        .is_some_and(|at| at >= not_before);
    if !fresh {
        return Err(ServiceError::invalid(
            format!(
                "{} signs through their OpenID provider: a signature needs a fresh sign-in there ({meaning}: \"{}\")",
                actor.username,
                meaning.declaration()
            ),
            "use \"Sign in again to sign\" on this page, then act within 5 minutes; one fresh sign-in signs one record",
        ));
    }
    let user = state
        .store
        .user_by_name(&actor.username)
        .await?
        .filter(|u| u.id == actor.user_id && !u.disabled)
        .ok_or(ServiceError::Unauthenticated)?;
    let key = signing_key(state, actor).await?;
    Ok(Some(Signer {
        printed_name: user
            .full_name
            .clone()
            .unwrap_or_else(|| user.username.clone()),
        user_id: user.id,
        username: user.username,
        meaning,
        key,
        fresh_since: Some(not_before),
    }))
}

/// Sign `record` (its canonical content gains its kind and id) inside the caller's
/// transaction, which also writes the record and its audit event; audited as `signature.sign`.
pub(crate) async fn sign(
    tx: &mut WriteTx<'_>,
    signer: &Signer,
    record_kind: &str,
    record_id: &str,
    mut record: Value,
) -> Result<Sealed, ServiceError> {
    if let Value::Object(fields) = &mut record {
        fields.insert("record_kind".into(), record_kind.into());
        fields.insert("record_id".into(), record_id.into());
    }
    if let Some(since) = signer.fresh_since {
        let used = tx.take_fresh_authentication(&signer.user_id, since).await?;
        if !used {
            return Err(ServiceError::invalid(
                "the fresh sign-in at the provider was already used for another signature, or is too old",
                "sign in again at the provider, then act within 5 minutes",
            ));
        }
    }
    let content = record.to_string();
    let signature = Signature {
        signer_id: signer.user_id.clone(),
        signer: signer.username.clone(),
        printed_name: signer.printed_name.clone(),
        signed_at: slipway_store::now(),
        meaning: signer.meaning,
        record_kind: record_kind.to_string(),
        record_id: record_id.to_string(),
        record_hash: record_hash(content.as_bytes()),
    };
    let sealed = seal(signature, content, &signer.key);
    tx.put_signature(&sealed).await?;
    tx.audit(AuditEntry {
        actor: signer.username.clone(),
        verb: "signature.sign".into(),
        subject: format!("signature/{record_kind}/{record_id}"),
        details: json!({
            "printed_name": sealed.signature.printed_name,
            "meaning": sealed.signature.meaning.as_str(),
            "record_hash": sealed.signature.record_hash.to_hex(),
            "signed_at": sealed.signature.signed_at,
        }),
    });
    Ok(sealed)
}
