//! Which outside authority (an OpenID provider, an LDAP directory) a user signs in through, and
//! the provider's subject that ties them to that user (migration 0024). A user without a row is
//! a local account. Console sessions' sliding end is kept here too, outside the audit chain like
//! any telemetry: a session being used is not a change of state anyone audits.

use jiff::Timestamp;
use sqlx::Row;

use crate::time::read_optional_time;
use crate::{format_time, now, Result, Store, StoreError, WriteTx};

/// The outside authority behind a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `oidc` or `ldap`.
    pub source: String,
    /// `issuer|sub` for OpenID Connect, the person's DN for LDAP.
    pub subject: String,
}

/// An OpenID Connect user whose re-check at the provider is due (migration 0039).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcRecheckDue {
    pub user_id: String,
    pub username: String,
    /// `issuer|sub`.
    pub subject: String,
    /// The provider's refresh token, sealed with the master key.
    pub sealed_refresh_token: String,
    /// Since when the provider has not answered this person's re-checks.
    pub unreachable_since: Option<Timestamp>,
}

/// What a re-check leaves in the person's identity row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecheckMark<'a> {
    pub checked_at: Timestamp,
    /// The (possibly rotated) sealed refresh token; `None` forgets it (re-checks stop).
    pub sealed_refresh_token: Option<&'a str>,
    pub unreachable_since: Option<Timestamp>,
}

impl Store {
    /// OpenID Connect users with a kept refresh token, last checked before `due_before` (or
    /// never), who still hold a live session or an unrevoked API token: nobody else has access
    /// to lose. Oldest check first, at most `limit`.
    pub async fn oidc_rechecks_due(
        &self,
        due_before: Timestamp,
        now: Timestamp,
        limit: i64,
    ) -> Result<Vec<OidcRecheckDue>> {
        let rows = sqlx::query(
            "SELECT i.user_id, u.username, i.subject, i.refresh_token, i.unreachable_since \
             FROM user_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.source = 'oidc' AND i.refresh_token IS NOT NULL \
             AND (i.checked_at IS NULL OR i.checked_at < $1) \
             AND (EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = i.user_id AND s.expires_at > $2) \
                  OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.user_id = i.user_id AND t.revoked_at IS NULL)) \
             ORDER BY i.checked_at, i.user_id LIMIT $3",
        )
        .bind(format_time(due_before))
        .bind(format_time(now))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OidcRecheckDue {
                    user_id: r.try_get("user_id")?,
                    username: r.try_get("username")?,
                    subject: r.try_get("subject")?,
                    sealed_refresh_token: r.try_get("refresh_token")?,
                    unreachable_since: read_optional_time(r, "unreachable_since")?,
                })
            })
            .collect()
    }

    /// The outside authority a user signs in through; `None` for a local account.
    pub async fn identity_of(&self, user_id: &str) -> Result<Option<Identity>> {
        let row = sqlx::query("SELECT source, subject FROM user_identities WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(Identity {
                source: r.try_get("source")?,
                subject: r.try_get("subject")?,
            })
        })
        .transpose()
    }

    /// When the person last signed in again at their provider to sign, not yet used.
    pub async fn fresh_authentication(&self, user_id: &str) -> Result<Option<Timestamp>> {
        let row = sqlx::query("SELECT fresh_auth_at FROM user_identities WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => read_optional_time(&r, "fresh_auth_at")?,
            None => None,
        })
    }

    /// The DN of a directory (LDAP) user whose groups were last read before `due_before` (or
    /// never): their re-check is due. `None` for everyone else.
    pub async fn recheck_due(
        &self,
        user_id: &str,
        due_before: Timestamp,
    ) -> Result<Option<String>> {
        let row = sqlx::query("SELECT subject FROM user_identities WHERE user_id = $1 AND source = 'ldap' AND (checked_at IS NULL OR checked_at < $2)")
            .bind(user_id)
            .bind(format_time(due_before))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get("subject")?)).transpose()
    }

    /// Take a due re-check for this request (`checked_at` moved to `now`): `true` for the one
    /// request that takes it, so concurrent requests do not all ask the directory.
    pub async fn claim_recheck(
        &self,
        user_id: &str,
        now: Timestamp,
        due_before: Timestamp,
    ) -> Result<bool> {
        let _writer = self.unaudited_writer().await;
        let done = sqlx::query("UPDATE user_identities SET checked_at = $2 WHERE user_id = $1 AND source = 'ldap' AND (checked_at IS NULL OR checked_at < $3)")
            .bind(user_id)
            .bind(format_time(now))
            .bind(format_time(due_before))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Record a re-check at the provider that changed nothing anyone audits (the person is
    /// still admitted with the same role, or the provider is still silent): bookkeeping, like
    /// a session's end, outside the audit chain.
    pub async fn mark_rechecked_quietly(&self, user_id: &str, mark: RecheckMark<'_>) -> Result<()> {
        let _writer = self.write_lock.lock().await;
        sqlx::query("UPDATE user_identities SET checked_at = $2, refresh_token = $3, unreachable_since = $4 WHERE user_id = $1")
            .bind(user_id)
            .bind(format_time(mark.checked_at))
            .bind(mark.sealed_refresh_token)
            .bind(mark.unreachable_since.map(format_time))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Move a live session's end (its idle timeout), never shortening it.
    pub async fn extend_session(&self, id_hash: &str, expires_at: Timestamp) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        sqlx::query("UPDATE sessions SET expires_at = $2 WHERE id_hash = $1 AND expires_at < $2 AND expires_at > $3")
            .bind(id_hash)
            .bind(format_time(expires_at))
            .bind(now())
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl WriteTx<'_> {
    /// The user tied to this provider's subject, if any.
    pub async fn user_id_by_identity(
        &mut self,
        source: &str,
        subject: &str,
    ) -> Result<Option<String>> {
        let row =
            sqlx::query("SELECT user_id FROM user_identities WHERE source = $1 AND subject = $2")
                .bind(source)
                .bind(subject)
                .fetch_optional(&mut *self.tx)
                .await?;
        row.map(|r| Ok(r.try_get("user_id")?)).transpose()
    }

    /// Record that the person just signed in again at their provider, to sign.
    pub async fn record_fresh_authentication(
        &mut self,
        user_id: &str,
        at: Timestamp,
    ) -> Result<()> {
        sqlx::query("UPDATE user_identities SET fresh_auth_at = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Use the fresh authentication, if it is not older than `not_before`: `true` once, then
    /// `false`, so one sign-in at the provider signs one record.
    pub async fn take_fresh_authentication(
        &mut self,
        user_id: &str,
        not_before: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE user_identities SET fresh_auth_at = NULL WHERE user_id = $1 AND fresh_auth_at >= $2")
            .bind(user_id)
            .bind(format_time(not_before))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The person's groups were just read (at sign-in).
    pub async fn mark_checked(&mut self, user_id: &str) -> Result<()> {
        sqlx::query("UPDATE user_identities SET checked_at = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Keep the provider's refresh token (sealed) from a sign-in, or forget the old one when the
    /// provider gave none; the person was just checked and the provider just answered.
    pub async fn keep_refresh_token(&mut self, user_id: &str, sealed: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE user_identities SET refresh_token = $2, unreachable_since = NULL, checked_at = $3 WHERE user_id = $1")
            .bind(user_id)
            .bind(sealed)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Record a re-check at the provider.
    pub async fn mark_rechecked(&mut self, user_id: &str, mark: RecheckMark<'_>) -> Result<()> {
        sqlx::query("UPDATE user_identities SET checked_at = $2, refresh_token = $3, unreachable_since = $4 WHERE user_id = $1")
            .bind(user_id)
            .bind(format_time(mark.checked_at))
            .bind(mark.sealed_refresh_token)
            .bind(mark.unreachable_since.map(format_time))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// End every console session and revoke every API token of a user (no longer admitted by
    /// the directory); how many of each.
    pub async fn end_access(&mut self, user_id: &str) -> Result<(u64, u64)> {
        let sessions = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *self.tx)
            .await?
            .rows_affected();
        let tokens = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(now())
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        Ok((sessions, tokens))
    }

    /// Tie a user (just created) to the provider's subject.
    pub async fn link_identity(&mut self, user_id: &str, identity: &Identity) -> Result<()> {
        sqlx::query("INSERT INTO user_identities (user_id, source, subject, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id)
            .bind(&identity.source)
            .bind(&identity.subject)
            .bind(now())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::from_write(e, || format!("the {} identity {}", identity.source, identity.subject)))?;
        Ok(())
    }
}
