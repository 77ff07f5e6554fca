//! Users, API tokens and console sessions. Secrets are stored as hashes computed by the caller.

use jiff::Timestamp;
use slipway_core::access::Role;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{read_optional_time, read_time};
use crate::{flag, format_time, now, Result, Store, StoreError, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at: Timestamp,
    pub password_hash: Option<String>,
    /// The name printed with the person's electronic signatures; the user name when unset.
    pub full_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: String,
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: Timestamp,
    /// When the person signed in: the session's absolute timeout counts from here.
    pub created_at: Timestamp,
}

fn user(row: &AnyRow) -> Result<User> {
    let role: String = row.try_get("role")?;
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        role: Role::parse(&role).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: read_time(row, "created_at")?,
        password_hash: row.try_get("password_hash")?,
        full_name: row.try_get("full_name")?,
    })
}

fn token(row: &AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        username: row.try_get("username")?,
        name: row.try_get("name")?,
        created_at: read_time(row, "created_at")?,
        revoked_at: read_optional_time(row, "revoked_at")?,
    })
}

const USER_COLUMNS: &str =
    "u.id, u.username, u.role, u.disabled, u.created_at, u.password_hash, u.full_name";

impl Store {
    pub async fn users(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user).collect()
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user).transpose()
    }

    pub async fn user_count(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n)
    }

    /// The user owning an unrevoked token with this secret hash, if enabled.
    pub async fn user_by_token_hash(&self, secret_hash: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.secret_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user).transpose()
    }

    /// Tokens of one user, or of everybody when `user_id` is `None`.
    pub async fn api_tokens(&self, user_id: Option<&str>) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query(
            "SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id \
             WHERE ($1 IS NULL OR t.user_id = $1) ORDER BY t.created_at",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(token).collect()
    }

    /// The live session with this id hash, if its user is enabled.
    pub async fn session(&self, id_hash: &str) -> Result<Option<Session>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.csrf, s.expires_at, s.created_at AS session_created_at FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.disabled = 0"
        ))
        .bind(id_hash)
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Session {
                user: user(&r)?,
                csrf: r.try_get("csrf")?,
                expires_at: read_time(&r, "expires_at")?,
                created_at: read_time(&r, "session_created_at")?,
            })
        })
        .transpose()
    }
}

impl WriteTx<'_> {
    pub async fn create_user(&mut self, u: &User) -> Result<()> {
        sqlx::query("INSERT INTO users (id, username, role, password_hash, disabled, created_at, full_name) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&u.id)
            .bind(&u.username)
            .bind(u.role.as_str())
            .bind(u.password_hash.as_deref())
            .bind(flag(u.disabled))
            .bind(format_time(u.created_at))
            .bind(u.full_name.as_deref())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::from_write(e, || format!("user {}", u.username)))?;
        Ok(())
    }

    /// How many enabled admins there are besides `username`: whether anyone else could approve
    /// a role raise `username` asks for.
    pub async fn other_enabled_admins(&mut self, username: &str) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND username <> $1",
        )
        .bind(username)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(n)
    }

    pub async fn user_by_name(&mut self, username: &str) -> Result<Option<User>> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1"
        ))
        .bind(username)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(user).transpose()
    }

    pub async fn update_user(&mut self, u: &User) -> Result<()> {
        sqlx::query("UPDATE users SET role = $2, password_hash = $3, disabled = $4, full_name = $5 WHERE id = $1")
            .bind(&u.id)
            .bind(u.role.as_str())
            .bind(u.password_hash.as_deref())
            .bind(flag(u.disabled))
            .bind(u.full_name.as_deref())
            .execute(&mut *self.tx)
            .await?;
        if u.disabled {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(&u.id)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub async fn create_api_token(
        &mut self,
        id: &str,
        user_id: &str,
        name: &str,
        secret_hash: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO api_tokens (id, user_id, name, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(user_id)
            .bind(name)
            .bind(secret_hash)
            .bind(now())
            .execute(&mut *self.tx)
            .await
            .map_err(|e| StoreError::from_write(e, || "a token with this secret".to_string()))?;
        Ok(())
    }

    pub async fn api_token(&mut self, id: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query("SELECT t.id, t.user_id, u.username, t.name, t.created_at, t.revoked_at FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = $1")
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(token).transpose()
    }

    pub async fn revoke_api_token(&mut self, id: &str) -> Result<()> {
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn create_session(
        &mut self,
        id_hash: &str,
        user_id: &str,
        csrf: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        // Expired sessions go with each login, so the table never grows without bound.
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now())
            .bind(format_time(expires_at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// End every console session of a user but one (the person who just changed their
    /// password stays signed in where they did it); how many ended.
    pub async fn end_other_sessions(&mut self, user_id: &str, keep_id_hash: &str) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id_hash <> $2")
                .bind(user_id)
                .bind(keep_id_hash)
                .execute(&mut *self.tx)
                .await?
                .rows_affected(),
        )
    }

    pub async fn delete_session(&mut self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
