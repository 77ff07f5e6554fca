//! Directory (LDAP) users re-checked while they hold sessions and API tokens: at most every
//! `ldap.recheck.minutes`, a request of theirs first reads their groups again (as the re-check
//! account, on a blocking thread). Out of every mapped group, their sessions end and their tokens
//! are revoked, audited `user.access_ended`, and the request is unauthenticated; moved to another
//! mapped group, their role follows (`user.update`), as it would at sign-in.
//!
//! A directory that does not answer changes nothing: the person keeps their access until a
//! re-check can read the directory (logged), so an outage never locks everyone out.

use serde_json::json;
use slipway_core::access::Role;
use slipway_core::audit::AuditEntry;
use slipway_core::sso::roles::{role_for, GroupNames};

use crate::auth::ldap;
use crate::{AppState, ServiceError};

/// What a re-check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Recheck {
    /// Not due, not a directory user, or still admitted with the same role.
    Unchanged,
    /// Still admitted, with this role now.
    Role(Role),
    /// In no mapped group any more: their sessions and tokens were ended.
    Ended,
}

/// Re-check `user_id` against the directory when it is due.
pub(crate) async fn recheck(
    state: &AppState,
    user_id: &str,
    username: &str,
    role: Role,
) -> Result<Recheck, ServiceError> {
    let Some(config) = state.authorities.ldap.as_ref() else {
        return Ok(Recheck::Unchanged);
    };
    if config.recheck_reader().is_none() {
        return Ok(Recheck::Unchanged);
    }
    let now = jiff::Timestamp::now();
    let due_before = now - jiff::SignedDuration::from_mins(i64::from(config.recheck.minutes));
    let Some(dn) = state.store.recheck_due(user_id, due_before).await? else {
        return Ok(Recheck::Unchanged);
    };
    if !state.store.claim_recheck(user_id, now, due_before).await? {
        // Another request of theirs is re-checking now.
        return Ok(Recheck::Unchanged);
    }
    let config = config.clone();
    let name = username.to_string();
    let read = tokio::task::spawn_blocking(move || {
        let reader = config
            .recheck_reader()
            .expect("checked above: a re-check account is configured");
        ldap::groups_now(&config, reader, &dn, &name).map(|groups| (groups, config))
    })
    .await
    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let (groups, config) = match read {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(user = username, error = %e, "cannot re-check a directory user's groups; they keep their access until the directory answers");
            return Ok(Recheck::Unchanged);
        }
    };
    let now_role = role_for(
        &groups,
        &config.roles,
        config.default_role,
        GroupNames::IgnoreAsciiCase,
    );
    match now_role {
        Some(r) if r == role => Ok(Recheck::Unchanged),
        Some(r) => {
            let mut tx = state.store.write().await?;
            if let Some(mut user) = tx.user_by_name(username).await? {
                let previous = user.role;
                user.role = r;
                tx.update_user(&user).await?;
                tx.audit(AuditEntry {
                    actor: "slipway".into(),
                    verb: "user.update".into(),
                    subject: format!("user/{username}"),
                    details: json!({
                        "source": "ldap",
                        "role": r.as_str(),
                        "previous_role": previous.as_str(),
                        "groups": groups,
                        "reason": "re-checked against the directory: the role follows the groups",
                    }),
                });
            }
            tx.commit().await?;
            Ok(Recheck::Role(r))
        }
        None => {
            let mut tx = state.store.write().await?;
            let (sessions, tokens) = tx.end_access(user_id).await?;
            tx.audit(AuditEntry {
                actor: "slipway".into(),
                verb: "user.access_ended".into(),
                subject: format!("user/{username}"),
                details: json!({
                    "source": "ldap",
                    "groups": groups,
                    "sessions_ended": sessions,
                    "tokens_revoked": tokens,
                    "reason": "re-checked against the directory: in none of the groups this Slipway gives a role to",
                }),
            });
            tx.commit().await?;
            Ok(Recheck::Ended)
        }
    }
}
