//! Sign-in requests of the CLI (`slipway login --sso`, migration 0032): asked for by a CLI that
//! holds no credential yet, approved when a person signs in at the OpenID provider with the
//! request's address, collected once by the CLI with its poll secret. Only the secret's hash is
//! kept, and no token: the caller creates it in the transaction that collects.

use jiff::Timestamp;
use sqlx::Row;

use crate::time::read_time;
use crate::{format_time, Result, Store, WriteTx};

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCliSignIn {
    pub id: String,
    /// The short code the terminal and the browser both show.
    pub user_code: String,
    /// The machine the CLI says it runs on (shown to the person, not trusted).
    pub host: String,
    pub expires_at: Timestamp,
    /// The person who signed in for it, once approved.
    pub user_id: Option<String>,
    pub collected: bool,
}

/// A new request.
pub struct NewCliSignIn<'a> {
    pub id: &'a str,
    pub user_code: &'a str,
    pub poll_hash: &'a str,
    pub host: &'a str,
    pub expires_at: Timestamp,
}

impl Store {
    pub async fn cli_sign_in(&self, id: &str) -> Result<Option<StoredCliSignIn>> {
        let row = sqlx::query("SELECT id, user_code, host, expires_at, user_id, collected_at FROM cli_sign_ins WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let collected: Option<String> = r.try_get("collected_at")?;
            Ok(StoredCliSignIn {
                id: r.try_get("id")?,
                user_code: r.try_get("user_code")?,
                host: r.try_get("host")?,
                expires_at: read_time(&r, "expires_at")?,
                user_id: r.try_get("user_id")?,
                collected: collected.is_some(),
            })
        })
        .transpose()
    }

    /// Whether `poll_hash` is the hash of the request's poll secret.
    pub async fn cli_sign_in_secret_matches(&self, id: &str, poll_hash: &str) -> Result<bool> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM cli_sign_ins WHERE id = $1 AND poll_hash = $2")
                .bind(id)
                .bind(poll_hash)
                .fetch_one(&self.pool)
                .await?;
        Ok(count == 1)
    }

    /// How many requests are still open at `now` (neither expired nor collected): the bound
    /// on what callers without a credential may keep in the table.
    pub async fn open_cli_sign_ins(&self, now: Timestamp) -> Result<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM cli_sign_ins WHERE expires_at > $1 AND collected_at IS NULL",
        )
        .bind(format_time(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }
}

impl WriteTx<'_> {
    /// Record a request, and forget those that ended more than a day before `now`.
    pub async fn create_cli_sign_in(
        &mut self,
        new: &NewCliSignIn<'_>,
        forget_before: Timestamp,
    ) -> Result<()> {
        sqlx::query("DELETE FROM cli_sign_ins WHERE expires_at < $1")
            .bind(format_time(forget_before))
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("INSERT INTO cli_sign_ins (id, user_code, poll_hash, host, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(new.id)
            .bind(new.user_code)
            .bind(new.poll_hash)
            .bind(new.host)
            .bind(crate::now())
            .bind(format_time(new.expires_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The person `user_id` signed in for the request: `true` once, for a live request nobody
    /// approved yet.
    pub async fn approve_cli_sign_in(
        &mut self,
        id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE cli_sign_ins SET user_id = $2, approved_at = $3 WHERE id = $1 AND approved_at IS NULL AND expires_at > $3")
            .bind(id)
            .bind(user_id)
            .bind(format_time(now))
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hand the approved request to the CLI holding its poll secret: the person's id and user
    /// name, once; `None` when the secret is wrong, the request is not approved, expired or
    /// already collected.
    pub async fn collect_cli_sign_in(
        &mut self,
        id: &str,
        poll_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(String, String)>> {
        let done = sqlx::query("UPDATE cli_sign_ins SET collected_at = $3 WHERE id = $1 AND poll_hash = $2 AND approved_at IS NOT NULL AND collected_at IS NULL AND expires_at > $3")
            .bind(id)
            .bind(poll_hash)
            .bind(format_time(now))
            .execute(&mut *self.tx)
            .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        let row = sqlx::query("SELECT u.id, u.username FROM cli_sign_ins c JOIN users u ON u.id = c.user_id WHERE c.id = $1")
            .bind(id)
            .fetch_one(&mut *self.tx)
            .await?;
        Ok(Some((row.try_get("id")?, row.try_get("username")?)))
    }
}
