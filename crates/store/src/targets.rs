//! Targets: the hosts agents run on. A placeholder until its agent enrols; an enrolled target
//! holds the hash of its agent's credential.

use jiff::Timestamp;
use slipway_core::deploy::target::TargetStatus;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{read_optional_time, read_time};
use crate::{json_column, named, now, Result, Store, StoreError, WriteTx};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub environment: Option<String>,
    pub roles: Vec<String>,
    pub facts: serde_json::Value,
    /// A placeholder until an agent enrols for it, then enrolled; revoked when cut off.
    pub status: TargetStatus,
    pub created_at: Timestamp,
    /// When its agent last called in (heartbeat or task), if ever.
    pub last_seen_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// An unused enrolment token's grant: where the enrolling agent goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentGrant {
    pub environment: Option<String>,
    pub roles: Vec<String>,
}

const COLUMNS: &str =
    "name, environment, roles, facts, status, created_at, last_seen_at, revoked_at";

fn target(row: &AnyRow) -> Result<Target> {
    Ok(Target {
        name: row.try_get("name")?,
        environment: row.try_get("environment")?,
        roles: json_column(row, "target", "roles")?,
        facts: json_column(row, "target", "facts")?,
        status: named(row, "status")?,
        created_at: read_time(row, "created_at")?,
        last_seen_at: read_optional_time(row, "last_seen_at")?,
        revoked_at: read_optional_time(row, "revoked_at")?,
    })
}

impl Store {
    pub async fn targets(&self) -> Result<Vec<Target>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM targets ORDER BY name"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(target).collect()
    }

    /// The enrolled, unrevoked target whose agent holds this credential.
    /// Answered from a cache of a few seconds (`credentials`): an agent's every request asks.
    pub async fn target_by_credential(&self, credential_hash: &str) -> Result<Option<Target>> {
        if let Some(cached) = self.credentials.get(credential_hash) {
            return Ok(Some(cached));
        }
        let start = self.credentials.read_start();
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM targets WHERE credential_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(credential_hash)
        .fetch_optional(&self.pool)
        .await?;
        let found = row.as_ref().map(target).transpose()?;
        if let Some(t) = &found {
            self.credentials.put(credential_hash, t.clone(), start);
        }
        Ok(found)
    }

    /// Liveness only: when the agent last called in. Telemetry, not a change anyone made, so it
    /// is the one write outside `WriteTx` and the audit chain (see ARCHITECTURE.md).
    pub async fn touch_target(&self, name: &str) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        let mut tx = self.liveness_write().await?;
        let seen = crate::current_time();
        sqlx::query("UPDATE targets SET last_seen_at = $2 WHERE name = $1")
            .bind(name)
            .bind(crate::format_time(seen))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.credentials.touched(name, Some(seen), None);
        Ok(())
    }

    /// New readings (free disk) when nothing the target *is* has changed: telemetry too, kept
    /// as the latest value outside the audit chain, like [`Store::touch_target`].
    pub async fn set_target_telemetry(&self, name: &str, facts: &serde_json::Value) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        let mut tx = self.liveness_write().await?;
        sqlx::query("UPDATE targets SET facts = $2 WHERE name = $1")
            .bind(name)
            .bind(facts.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.credentials.touched(name, None, Some(facts));
        Ok(())
    }
}

impl WriteTx<'_> {
    pub async fn target(&mut self, name: &str) -> Result<Option<Target>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM targets WHERE name = $1"))
            .bind(name)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(target).transpose()
    }

    pub async fn put_target(&mut self, t: &Target) -> Result<()> {
        self.targets_written.push(t.name.clone());
        sqlx::query(
            "INSERT INTO targets (name, environment, roles, facts, status, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET environment = excluded.environment, roles = excluded.roles, facts = excluded.facts, status = excluded.status",
        )
        .bind(&t.name)
        .bind(t.environment.as_deref())
        .bind(serde_json::to_string(&t.roles).expect("strings serialise"))
        .bind(t.facts.to_string())
        .bind(t.status.as_str())
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Bind an agent's credential to a target (created or taken over from a placeholder).
    pub async fn enroll_target(&mut self, t: &Target, credential_hash: &str) -> Result<()> {
        self.put_target(t).await?;
        sqlx::query("UPDATE targets SET credential_hash = $2, revoked_at = NULL, last_seen_at = $3 WHERE name = $1")
            .bind(&t.name)
            .bind(credential_hash)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_target_facts(&mut self, name: &str, facts: &serde_json::Value) -> Result<()> {
        self.targets_written.push(name.to_string());
        sqlx::query("UPDATE targets SET facts = $2 WHERE name = $1")
            .bind(name)
            .bind(facts.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// The session the target's agent announced at its last start, if any.
    pub async fn agent_session(&mut self, name: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT agent_session FROM targets WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *self.tx)
                .await?;
        Ok(row.and_then(|(session,)| session))
    }

    /// Record the session a (re)started agent announced.
    pub async fn set_agent_session(&mut self, name: &str, session: &str) -> Result<()> {
        sqlx::query("UPDATE targets SET agent_session = $2 WHERE name = $1")
            .bind(name)
            .bind(session)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Cut an agent off: its credential stops working at once.
    pub async fn revoke_target(&mut self, name: &str) -> Result<bool> {
        self.targets_written.push(name.to_string());
        let done = sqlx::query("UPDATE targets SET revoked_at = $2, credential_hash = NULL, status = 'revoked' WHERE name = $1 AND revoked_at IS NULL")
            .bind(name)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    pub async fn create_enrollment_token(
        &mut self,
        id: &str,
        secret_hash: &str,
        grant: &EnrollmentGrant,
        created_by: &str,
        expires_at: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO enrollment_tokens (id, secret_hash, environment, roles, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(id)
            .bind(secret_hash)
            .bind(grant.environment.as_deref())
            .bind(serde_json::to_string(&grant.roles).expect("strings serialise"))
            .bind(created_by)
            .bind(now())
            .bind(expires_at)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Use up an enrolment token: `None` if unknown, already used or expired.
    pub async fn take_enrollment_token(
        &mut self,
        secret_hash: &str,
        used_by: &str,
    ) -> Result<Option<EnrollmentGrant>> {
        let at = now();
        let row: Option<(Option<String>, String)> = sqlx::query_as("SELECT environment, roles FROM enrollment_tokens WHERE secret_hash = $1 AND used_at IS NULL AND expires_at > $2")
            .bind(secret_hash)
            .bind(&at)
            .fetch_optional(&mut *self.tx)
            .await?;
        let Some((environment, roles)) = row else {
            return Ok(None);
        };
        sqlx::query(
            "UPDATE enrollment_tokens SET used_at = $2, used_by = $3 WHERE secret_hash = $1",
        )
        .bind(secret_hash)
        .bind(&at)
        .bind(used_by)
        .execute(&mut *self.tx)
        .await?;
        let roles = serde_json::from_str(&roles)
            .map_err(|e| StoreError::Corrupt(format!("enrolment token roles: {e}")))?;
        Ok(Some(EnrollmentGrant { environment, roles }))
    }
}
