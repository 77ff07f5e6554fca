//! OpenID Connect users re-checked at their provider while they hold sessions or API tokens
//! (`oidc.recheck`): every `minutes`, the background job (on the holder of the `background`
//! lease only, its writes fenced) uses the refresh token kept sealed at sign-in. The provider's
//! new claims re-map the role (`user.update`); a refused refresh (`invalid_grant`: disabled or
//! removed at the provider), an ID token that does not check, or no mapped group any more ends
//! every session and token of theirs (`user.access_ended`); a provider that does not answer is
//! trusted for `grace_minutes` from its first silence (`user.recheck_unreachable`, once), then
//! their access ends too. Each outcome is audited once, with its state change, in one
//! transaction; a quiet re-check writes only its bookkeeping.
//!
//! The refresh token never leaves this file and `services::sso` in clear: not logged, not in an
//! audit detail, not in an answer.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use slipway_core::access::Role;
use slipway_core::audit::AuditEntry;
use slipway_core::sso::roles::{role_for, GroupNames};
use slipway_store::{format_time, OidcRecheckDue, RecheckMark};

use super::sso::refresh_slot;
use crate::auth::oidc::OidcError;
use crate::{AppState, ServiceError};

/// At most this many people re-checked per turn (the rest wait for the next).
const PER_TURN: i64 = 100;

/// How often people are re-checked and how long a silent provider is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) every: SignedDuration,
    pub(crate) grace: SignedDuration,
}

/// The configured timing, or the seconds of `SLIPWAY_OIDC_RECHECK_SECS` and
/// `SLIPWAY_OIDC_GRACE_SECS` (for tests: minutes are too long to wait for); `None` when there
/// is no provider or re-checks are off.
pub(crate) fn timing(state: &AppState) -> anyhow::Result<Option<Timing>> {
    let Some(client) = state.authorities.oidc.as_ref() else {
        return Ok(None);
    };
    let r = client.config.recheck;
    if !r.enabled {
        return Ok(None);
    }
    let secs = |name: &str, minutes: u32| -> anyhow::Result<SignedDuration> {
        Ok(match std::env::var(name) {
            Ok(text) => SignedDuration::from_secs(
                text.trim()
                    .parse::<u32>()
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "{name}=`{text}` is not a number of seconds (a test setting)"
                        )
                    })?
                    .into(),
            ),
            Err(_) => SignedDuration::from_mins(minutes.into()),
        })
    };
    Ok(Some(Timing {
        every: secs("SLIPWAY_OIDC_RECHECK_SECS", r.minutes)?.max(SignedDuration::from_secs(1)),
        grace: secs("SLIPWAY_OIDC_GRACE_SECS", r.grace_minutes)?,
    }))
}

/// Run the re-checks in the background, on whichever server holds the lease.
pub(crate) fn spawn(state: AppState, timing: Timing) {
    let tick = Duration::from_secs(timing.every.as_secs().clamp(1, 60) as u64);
    tokio::spawn(async move {
        while !state.store.is_closed() {
            tokio::time::sleep(tick).await;
            let Some(leading) = crate::leader::background(&state) else {
                continue;
            };
            if let Err(e) = run_once(&leading, timing).await {
                tracing::warn!(error = %e, "OpenID re-checks stopped this turn; the next turn tries again");
            }
        }
    });
}

/// Re-check everyone due now; how many were re-checked.
pub(crate) async fn run_once(state: &AppState, timing: Timing) -> Result<usize, ServiceError> {
    let now = Timestamp::now();
    let due = state
        .store
        .oidc_rechecks_due(now - timing.every, now, PER_TURN)
        .await?;
    // Once the provider does not answer, the others of this turn are not asked: a provider
    // that times out would otherwise hold the turn (and the lease) for 10 s per person.
    let mut silent: Option<String> = None;
    for person in &due {
        let outcome = match &silent {
            Some(error) => Outcome::Unreachable(error.clone()),
            None => ask_provider(state, person).await?,
        };
        if let Outcome::Unreachable(error) = &outcome {
            silent = Some(error.clone());
        }
        settle(state, person, outcome, timing).await?;
    }
    Ok(due.len())
}

/// What the provider said about one person.
enum Outcome {
    /// Still admitted: with this role (`None`: it sent no claims, the role stays), and a
    /// rotated refresh token to keep.
    Admitted {
        role: Option<(Role, Vec<String>)>,
        rotated: Option<String>,
    },
    /// No longer admitted, and why.
    Refused(String),
    /// Did not answer (or answered garbage), and how.
    Unreachable(String),
}

async fn ask_provider(state: &AppState, person: &OidcRecheckDue) -> Result<Outcome, ServiceError> {
    let Some(token) = state
        .secrets
        .open(&refresh_slot(&person.user_id), &person.sealed_refresh_token)
    else {
        return Ok(Outcome::Refused(
            "the kept refresh token does not open with this server's master key".into(),
        ));
    };
    let Some((_, sub)) = person.subject.split_once('|') else {
        return Ok(Outcome::Refused(
            "the identity's subject is not `issuer|sub`".into(),
        ));
    };
    let (authorities, sub) = (state.authorities.clone(), sub.to_string());
    let answer = tokio::task::spawn_blocking(move || {
        let client = authorities
            .oidc
            .as_ref()
            .expect("re-checks run with a provider");
        client.refresh(&token, &sub).map(|r| {
            let c = &client.config;
            let role = r.claims.map(|claims| {
                let groups = claims.groups(&c.groups_claim);
                let role = role_for(&groups, &c.roles, c.default_role, GroupNames::Exact);
                (role, groups)
            });
            (role, r.refresh_token)
        })
    })
    .await
    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    Ok(match answer {
        Ok((Some((None, groups)), _)) => Outcome::Refused(format!(
            "in none of the groups this Slipway gives a role to (their groups: {})",
            if groups.is_empty() {
                "none".into()
            } else {
                groups.join(", ")
            }
        )),
        Ok((role, rotated)) => Outcome::Admitted {
            role: role.map(|(r, groups)| (r.expect("matched above"), groups)),
            rotated,
        },
        Err(e @ (OidcError::Unreachable { .. } | OidcError::BadAnswer { .. })) => {
            Outcome::Unreachable(e.to_string())
        }
        Err(OidcError::TokenRefused(text)) => {
            // Not this person's standing (e.g. `invalid_client`: Slipway's own registration).
            Outcome::Unreachable(format!("the provider refused Slipway's request: {text}"))
        }
        Err(e) => Outcome::Refused(e.to_string()),
    })
}

/// Write what the re-check found: its audit event and state change in one transaction when
/// something changed, else only the bookkeeping (when it was checked, the rotated token).
async fn settle(
    state: &AppState,
    person: &OidcRecheckDue,
    outcome: Outcome,
    timing: Timing,
) -> Result<(), ServiceError> {
    let now = Timestamp::now();
    let checked_at = now;
    let mut tx = state.store.write().await?;
    let audit = |verb: &str, details: serde_json::Value| AuditEntry {
        actor: "slipway".into(),
        verb: verb.into(),
        subject: format!("user/{}", person.username),
        details,
    };
    let mut audited = false;
    let (sealed, since) = match outcome {
        Outcome::Admitted { role, rotated } => {
            if let Some(since) = person.unreachable_since {
                tx.audit(audit(
                    "user.recheck_answered",
                    json!({ "source": "oidc", "unreachable_since": format_time(since) }),
                ));
                audited = true;
            }
            if let Some((role, groups)) = role {
                audited |= follow_role(&mut tx, person, role, &groups).await?;
            }
            let rotated = rotated.map(|t| state.secrets.seal(&refresh_slot(&person.user_id), &t));
            (
                rotated.unwrap_or_else(|| person.sealed_refresh_token.clone()),
                None,
            )
        }
        Outcome::Refused(reason) => {
            end_access(&mut tx, person, checked_at, &reason).await?;
            tx.commit().await?;
            return Ok(());
        }
        Outcome::Unreachable(error) => {
            let since = person.unreachable_since.unwrap_or(now);
            if now.duration_since(since) >= timing.grace {
                let reason = format!(
                    "the provider has not answered re-checks since {since} ({} s of grace): {error}",
                    timing.grace.as_secs()
                );
                end_access(&mut tx, person, checked_at, &reason).await?;
                tx.commit().await?;
                return Ok(());
            }
            if person.unreachable_since.is_none() {
                tx.audit(audit(
                    "user.recheck_unreachable",
                    json!({
                        "source": "oidc",
                        "error": error,
                        "access_ends_at": format_time(since + timing.grace),
                    }),
                ));
                audited = true;
            }
            (person.sealed_refresh_token.clone(), Some(since))
        }
    };
    let mark = RecheckMark {
        checked_at,
        sealed_refresh_token: Some(&sealed),
        unreachable_since: since,
    };
    if audited {
        tx.mark_rechecked(&person.user_id, mark).await?;
        tx.commit().await?;
    } else {
        drop(tx);
        state
            .store
            .mark_rechecked_quietly(&person.user_id, mark)
            .await?;
    }
    Ok(())
}

/// The role the provider's groups now give, written and audited when it changed; whether it did.
async fn follow_role(
    tx: &mut slipway_store::WriteTx<'_>,
    person: &OidcRecheckDue,
    role: Role,
    groups: &[String],
) -> Result<bool, ServiceError> {
    let Some(mut user) = tx.user_by_name(&person.username).await? else {
        return Ok(false);
    };
    if user.role == role {
        return Ok(false);
    }
    let previous = user.role;
    user.role = role;
    tx.update_user(&user).await?;
    tx.audit(AuditEntry {
        actor: "slipway".into(),
        verb: "user.update".into(),
        subject: format!("user/{}", person.username),
        details: json!({
            "source": "oidc",
            "role": role.as_str(),
            "previous_role": previous.as_str(),
            "groups": groups,
            "reason": "re-checked at the provider: the role follows the groups",
        }),
    });
    Ok(true)
}

/// End every session and token of the person, forget their refresh token (nothing more to
/// re-check until they sign in again), audited once.
async fn end_access(
    tx: &mut slipway_store::WriteTx<'_>,
    person: &OidcRecheckDue,
    checked_at: Timestamp,
    reason: &str,
) -> Result<(), ServiceError> {
    let (sessions, tokens) = tx.end_access(&person.user_id).await?;
    let mark = RecheckMark {
        checked_at,
        sealed_refresh_token: None,
        unreachable_since: None,
    };
    tx.mark_rechecked(&person.user_id, mark).await?;
    tx.audit(AuditEntry {
        actor: "slipway".into(),
        verb: "user.access_ended".into(),
        subject: format!("user/{}", person.username),
        details: json!({
            "source": "oidc",
            "sessions_ended": sessions,
            "tokens_revoked": tokens,
            "reason": format!("re-checked at the provider: {reason}"),
        }),
    });
    Ok(())
}
