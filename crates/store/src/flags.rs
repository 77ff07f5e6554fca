//! Feature flags: each flag of a project, its state per environment, the environment-scoped
//! tokens SDKs read them with, and what the SDKs report (registered clients, evaluations per
//! flag). States and tokens change through [`WriteTx`] with their audit event; SDK reports are
//! telemetry, written outside the chain behind the same writer lock.

use jiff::Timestamp;
use slipway_core::flags::{FlagKind, FlagState, TokenKind};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{read_optional_time, read_time};
use crate::{format_time, json_column, named, now, Result, Store, StoreError, WriteTx};

/// A flag as stored: what it is, and since when (which says when it goes stale).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFlag {
    pub project: String,
    pub name: String,
    pub kind: FlagKind,
    pub description: String,
    pub created_at: Timestamp,
}

/// A flag's state in one environment, with who set it last and when.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFlagState {
    pub project: String,
    pub flag: String,
    pub environment: String,
    pub state: FlagState,
    pub updated_by: String,
    pub updated_at: Timestamp,
}

/// An environment-scoped token (its secret is never stored, only its hash).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFlagToken {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub kind: TokenKind,
    pub name: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// A new flag token; the store gives it its number and time.
pub struct NewFlagToken<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub kind: TokenKind,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub created_by: &'a str,
}

/// How often one application saw a flag on and off in one environment.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagUsage {
    pub environment: String,
    pub flag: String,
    pub app_name: String,
    pub yes: i64,
    pub no: i64,
    pub last_seen: String,
}

fn stored_flag(row: &AnyRow) -> Result<StoredFlag> {
    Ok(StoredFlag {
        project: row.try_get("project")?,
        name: row.try_get("name")?,
        kind: named(row, "kind")?,
        description: row.try_get("description")?,
        created_at: read_time(row, "created_at")?,
    })
}

fn stored_state(row: &AnyRow) -> Result<StoredFlagState> {
    Ok(StoredFlagState {
        project: row.try_get("project")?,
        flag: row.try_get("flag")?,
        environment: row.try_get("environment")?,
        state: json_column(row, "flag state", "state")?,
        updated_by: row.try_get("updated_by")?,
        updated_at: read_time(row, "updated_at")?,
    })
}

fn stored_token(row: &AnyRow) -> Result<StoredFlagToken> {
    Ok(StoredFlagToken {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        kind: named(row, "kind")?,
        name: row.try_get("name")?,
        created_by: row.try_get("created_by")?,
        created_at: read_time(row, "created_at")?,
        revoked_at: read_optional_time(row, "revoked_at")?,
    })
}

const FLAG_COLUMNS: &str = "project, name, kind, description, created_at";
const STATE_COLUMNS: &str = "project, flag, environment, state, updated_by, updated_at";
const TOKEN_COLUMNS: &str =
    "id, project, environment, kind, name, created_by, created_at, revoked_at";

impl Store {
    /// The flags of `project` (every project's when `None`), by project and name.
    pub async fn flags(&self, project: Option<&str>) -> Result<Vec<StoredFlag>> {
        let rows = sqlx::query(&format!(
            "SELECT {FLAG_COLUMNS} FROM flags WHERE ($1 IS NULL OR project = $1) ORDER BY project, name"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_flag).collect()
    }

    /// The states of `project`'s flags, in every environment or in `environment` only.
    pub async fn flag_states(
        &self,
        project: &str,
        environment: Option<&str>,
    ) -> Result<Vec<StoredFlagState>> {
        let rows = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM flag_states WHERE project = $1 AND ($2 IS NULL OR environment = $2) ORDER BY flag, environment"
        ))
        .bind(project)
        .bind(environment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_state).collect()
    }

    /// What the Unleash client API serves for one project and environment, in one query: every
    /// flag with its state there (none when it was never set there: off).
    pub async fn flags_in(
        &self,
        project: &str,
        environment: &str,
    ) -> Result<Vec<(StoredFlag, Option<FlagState>)>> {
        let rows = sqlx::query(
            "SELECT f.project, f.name, f.kind, f.description, f.created_at, s.state \
             FROM flags f LEFT JOIN flag_states s ON s.project = f.project AND s.flag = f.name AND s.environment = $2 \
             WHERE f.project = $1 ORDER BY f.name",
        )
        .bind(project)
        .bind(environment)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let state: Option<String> = row.try_get("state")?;
                let state = state
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(|e| StoreError::Corrupt(format!("flag state: {e}")))?;
                Ok((stored_flag(row)?, state))
            })
            .collect()
    }

    /// A text that changes whenever what `flags_in(project, environment)` reads changes (a
    /// flag added or changed, a state written): the Unleash client API keeps its answer while
    /// this stays the same. Flags and states are never deleted, so counts and latest times say it.
    pub async fn flags_revision(&self, project: &str, environment: &str) -> Result<String> {
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM flags WHERE project = $1) AS flags, \
                    (SELECT MAX(updated_at) FROM flags WHERE project = $1) AS flags_at, \
                    (SELECT COUNT(*) FROM flag_states WHERE project = $1 AND environment = $2) AS states, \
                    (SELECT MAX(updated_at) FROM flag_states WHERE project = $1 AND environment = $2) AS states_at",
        )
        .bind(project)
        .bind(environment)
        .fetch_one(&self.pool)
        .await?;
        let flags: i64 = row.try_get("flags")?;
        let flags_at: Option<String> = row.try_get("flags_at")?;
        let states: i64 = row.try_get("states")?;
        let states_at: Option<String> = row.try_get("states_at")?;
        Ok(format!(
            "{flags}|{}|{states}|{}",
            flags_at.unwrap_or_default(),
            states_at.unwrap_or_default()
        ))
    }

    /// The unrevoked token with this secret hash.
    pub async fn flag_token_by_hash(&self, secret_hash: &str) -> Result<Option<StoredFlagToken>> {
        let row = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM flag_tokens WHERE secret_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored_token).transpose()
    }

    /// The flag tokens of `project`, newest first.
    pub async fn flag_tokens(&self, project: &str) -> Result<Vec<StoredFlagToken>> {
        let rows = sqlx::query(&format!(
            "SELECT {TOKEN_COLUMNS} FROM flag_tokens WHERE project = $1 ORDER BY id DESC"
        ))
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_token).collect()
    }

    /// Add an SDK's counts (flag, yes, no) for one application to the totals; telemetry,
    /// outside the audit chain.
    pub async fn record_flag_usage(
        &self,
        project: &str,
        environment: &str,
        app_name: &str,
        counts: &[(String, i64, i64)],
    ) -> Result<()> {
        // Outside the audit chain: on SQLite it queues with the audited writes (one writer at a
        // time), on PostgreSQL row locks suffice. Rows are taken in the flags' order, so two
        // reports at once (another server's, or this one's) never wait on each other in a cycle.
        let _writer = self.unaudited_writer().await;
        let at = now();
        let mut sorted: Vec<&(String, i64, i64)> = counts.iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut tx = self.pool.begin().await?;
        for (flag, yes, no) in sorted {
            sqlx::query(
                "INSERT INTO flag_usage (project, environment, flag, app_name, yes, no, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (project, environment, flag, app_name) DO UPDATE SET yes = flag_usage.yes + excluded.yes, no = flag_usage.no + excluded.no, last_seen = excluded.last_seen",
            )
            .bind(project)
            .bind(environment)
            .bind(flag)
            .bind(app_name)
            .bind(yes)
            .bind(no)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Remember an SDK instance that registered; telemetry, outside the audit chain.
    pub async fn record_flag_client(
        &self,
        project: &str,
        environment: &str,
        app_name: &str,
        instance_id: &str,
        sdk_version: &str,
    ) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        sqlx::query(
            "INSERT INTO flag_clients (project, environment, app_name, instance_id, sdk_version, last_seen) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project, environment, app_name, instance_id) DO UPDATE SET sdk_version = excluded.sdk_version, last_seen = excluded.last_seen",
        )
        .bind(project)
        .bind(environment)
        .bind(app_name)
        .bind(instance_id)
        .bind(sdk_version)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The evaluation counts SDKs reported for `project`'s flags.
    pub async fn flag_usage(&self, project: &str) -> Result<Vec<FlagUsage>> {
        let rows = sqlx::query(
            "SELECT environment, flag, app_name, yes, no, last_seen FROM flag_usage WHERE project = $1 ORDER BY flag, environment, app_name",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(FlagUsage {
                    environment: row.try_get("environment")?,
                    flag: row.try_get("flag")?,
                    app_name: row.try_get("app_name")?,
                    yes: row.try_get("yes")?,
                    no: row.try_get("no")?,
                    last_seen: row.try_get("last_seen")?,
                })
            })
            .collect()
    }

    /// The audited changes of flags' states (`flag.on`, `flag.off`, `flag.state`: a switch, a
    /// declared state applied, a held change approved) within `window`, newest first (by time,
    /// then by sequence), at most `limit`. Their subjects are `flag/PROJECT/FLAG/ENVIRONMENT` (a
    /// name holds no `/`), so one pattern selects them; a range of the subject index would depend
    /// on PostgreSQL's collation ordering `/`. The times are a range of `audit_events_verb_at`
    /// (verb, at), so a window deep in the past costs what the newest does.
    pub async fn flag_state_events(
        &self,
        window: FlagChangeWindow<'_>,
        limit: i64,
    ) -> Result<Vec<slipway_core::audit::AuditEvent>> {
        use crate::audit::like_literal;
        let project = window.project.map_or("%".to_owned(), like_literal);
        let environment = window.environment.map_or("%".to_owned(), like_literal);
        let rows = sqlx::query(
            "SELECT seq, at, actor, verb, subject, details, prev_hash, hash FROM audit_events \
             WHERE verb IN ('flag.on', 'flag.off', 'flag.state') AND at >= $1 AND at < $2 \
             AND subject LIKE $3 ESCAPE '\\' ORDER BY at DESC, seq DESC LIMIT $4",
        )
        .bind(window.from.map_or_else(String::new, format_time))
        .bind(
            window
                .until
                .map_or_else(|| END_OF_TIME.to_owned(), format_time),
        )
        .bind(format!("flag/{project}/%/{environment}"))
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::audit::event).collect()
    }
}

/// Later than any time the store writes, in the same shape (so that text order is time order
/// under any collation).
const END_OF_TIME: &str = "9999-12-31T23:59:59.999999Z";

/// Which flag state changes a read selects: of one project or every one, in one environment
/// or every one, made at `from` or later and before `until` (either bound left open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagChangeWindow<'a> {
    pub project: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl WriteTx<'_> {
    pub async fn flag(&mut self, project: &str, name: &str) -> Result<Option<StoredFlag>> {
        let row = sqlx::query(&format!(
            "SELECT {FLAG_COLUMNS} FROM flags WHERE project = $1 AND name = $2"
        ))
        .bind(project)
        .bind(name)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(stored_flag).transpose()
    }

    /// Create a flag, or change its type and description (its creation time stays).
    pub async fn put_flag(
        &mut self,
        project: &str,
        name: &str,
        kind: FlagKind,
        description: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO flags (project, name, kind, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (project, name) DO UPDATE SET kind = excluded.kind, description = excluded.description, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(name)
        .bind(kind.as_str())
        .bind(description)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn flag_state(
        &mut self,
        project: &str,
        flag: &str,
        environment: &str,
    ) -> Result<Option<FlagState>> {
        let row = sqlx::query(&format!(
            "SELECT {STATE_COLUMNS} FROM flag_states WHERE project = $1 AND flag = $2 AND environment = $3"
        ))
        .bind(project)
        .bind(flag)
        .bind(environment)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.as_ref().map(stored_state).transpose()?.map(|s| s.state))
    }

    pub async fn put_flag_state(
        &mut self,
        project: &str,
        flag: &str,
        environment: &str,
        state: &FlagState,
        by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO flag_states (project, flag, environment, state, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project, flag, environment) DO UPDATE SET state = excluded.state, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(project)
        .bind(flag)
        .bind(environment)
        .bind(serde_json::to_string(state).expect("a flag state serialises"))
        .bind(by)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Store a new flag token and return its number.
    pub async fn insert_flag_token(&mut self, new: NewFlagToken<'_>) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM flag_tokens")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO flag_tokens (id, project, environment, kind, name, secret_hash, created_by, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL)",
        )
        .bind(id)
        .bind(new.project)
        .bind(new.environment)
        .bind(new.kind.as_str())
        .bind(new.name)
        .bind(new.secret_hash)
        .bind(new.created_by)
        .bind(now())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| StoreError::from_write(e, || "a flag token with this secret".to_string()))?;
        Ok(id)
    }

    /// Revoke a flag token of `project`; `false` when there is no such unrevoked token.
    pub async fn revoke_flag_token(&mut self, project: &str, id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE flag_tokens SET revoked_at = $3 WHERE project = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(project)
        .bind(id)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
