//! Configuration change requests: changes `apply` held back for a second person, with the
//! subject as it stood (`base`) and as it is to become (`desired`), author and decider; and
//! break-glasses: governed changes an admin applied alone, until they expire.

use jiff::Timestamp;
use slipway_core::governance::config_change::{BreakGlassState, ChangeState, SubjectKind};
use slipway_core::page::PageSize;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::page::{page_of, rows_to_read, Page};
use crate::time::{read_optional_time, read_time};
use crate::{format_time, json_column, named, now, parse_time, Result, Store, WriteTx};

/// One configuration change request as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredConfigChange {
    pub id: i64,
    /// `environment/PRE-PROD`, `project/pets`.
    pub subject: String,
    pub kind: SubjectKind,
    /// The subject when the request was made; `None` when it did not exist.
    pub base: Option<serde_json::Value>,
    pub desired: serde_json::Value,
    /// The diff, one line per difference.
    pub details: Vec<String>,
    /// Why it needs a second person.
    pub reasons: Vec<String>,
    pub author: String,
    pub created_at: Timestamp,
    pub state: ChangeState,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub comment: Option<String>,
}

/// What a new request holds; the store gives it its number, time and `pending` state.
#[derive(Debug, Clone)]
pub struct NewConfigChange<'a> {
    pub subject: &'a str,
    pub kind: SubjectKind,
    pub base: Option<&'a serde_json::Value>,
    pub desired: &'a serde_json::Value,
    pub details: &'a [String],
    pub reasons: &'a [String],
    pub author: &'a str,
}

const COLUMNS: &str = "id, subject, kind, base, desired, details, reasons, author, created_at, state, decided_by, decided_at, comment";

fn config_change(row: &AnyRow) -> Result<StoredConfigChange> {
    let base: Option<String> = row.try_get("base")?;
    let base = base
        .map(|b| serde_json::from_str(&b))
        .transpose()
        .map_err(|e| crate::StoreError::Corrupt(format!("configuration change base: {e}")))?;
    Ok(StoredConfigChange {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        kind: named(row, "kind")?,
        base,
        desired: json_column(row, "configuration change", "desired")?,
        details: json_column(row, "configuration change", "details")?,
        reasons: json_column(row, "configuration change", "reasons")?,
        author: row.try_get("author")?,
        created_at: read_time(row, "created_at")?,
        state: named(row, "state")?,
        decided_by: row.try_get("decided_by")?,
        decided_at: read_optional_time(row, "decided_at")?,
        comment: row.try_get("comment")?,
    })
}

async fn get<'e, E: Executor<'e, Database = Any>>(
    e: E,
    id: i64,
) -> Result<Option<StoredConfigChange>> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM config_changes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(e)
    .await?;
    row.as_ref().map(config_change).transpose()
}

/// Which configuration change requests a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeSelection {
    All,
    /// Waiting for a decision.
    Pending,
    /// Applied or rejected.
    Decided,
}

impl Store {
    /// Requests, newest first; only pending ones when `pending_only`.
    pub async fn config_changes(&self, pending_only: bool) -> Result<Vec<StoredConfigChange>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM config_changes WHERE ($1 = 0 OR state = 'pending') ORDER BY id DESC"
        ))
        .bind(i64::from(pending_only))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(config_change).collect()
    }

    /// One page of the requests `selection` holds, newest first, before request `before`. The
    /// pending ones read through `config_changes_state_id` (state, id), the decided ones and all
    /// through the key: each a range read from `before` on, whatever the history behind it.
    pub async fn config_changes_page(
        &self,
        selection: ChangeSelection,
        before: Option<i64>,
        size: PageSize,
    ) -> Result<Page<StoredConfigChange>> {
        let which = match selection {
            ChangeSelection::All => "",
            ChangeSelection::Pending => "state = 'pending' AND ",
            ChangeSelection::Decided => "state <> 'pending' AND ",
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM config_changes WHERE {which}id < $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(config_change).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }

    pub async fn config_change(&self, id: i64) -> Result<Option<StoredConfigChange>> {
        get(&self.pool, id).await
    }

    /// The decided (applied or rejected) requests of these subjects, oldest first: what an
    /// evidence bundle shows of how the gates a release met came to be.
    pub async fn decided_config_changes_of(
        &self,
        subjects: &[String],
    ) -> Result<Vec<StoredConfigChange>> {
        let mut found = Vec::new();
        for subject in subjects {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM config_changes WHERE subject = $1 AND state <> 'pending' ORDER BY id"
            ))
            .bind(subject)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                found.push(config_change(row)?);
            }
        }
        found.sort_by_key(|c| c.id);
        Ok(found)
    }
}

impl WriteTx<'_> {
    pub async fn config_change(&mut self, id: i64) -> Result<Option<StoredConfigChange>> {
        get(&mut *self.tx, id).await
    }

    /// The pending requests of one subject, oldest first.
    pub async fn pending_config_changes(
        &mut self,
        subject: &str,
    ) -> Result<Vec<StoredConfigChange>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM config_changes WHERE subject = $1 AND state = 'pending' ORDER BY id"
        ))
        .bind(subject)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(config_change).collect()
    }

    /// Store a new pending request and return its number.
    pub async fn insert_config_change(&mut self, new: NewConfigChange<'_>) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM config_changes")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query(&format!(
            "INSERT INTO config_changes ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', NULL, NULL, NULL)"
        ))
        .bind(id)
        .bind(new.subject)
        .bind(new.kind.as_str())
        .bind(new.base.map(serde_json::Value::to_string))
        .bind(new.desired.to_string())
        .bind(serde_json::to_string(new.details).expect("strings serialise"))
        .bind(serde_json::to_string(new.reasons).expect("strings serialise"))
        .bind(new.author)
        .bind(now())
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Settle a pending request; `false` if it was no longer pending.
    pub async fn settle_config_change(
        &mut self,
        id: i64,
        state: ChangeState,
        by: &str,
        comment: &str,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE config_changes SET state = $2, decided_by = $3, decided_at = $4, comment = $5 WHERE id = $1 AND state = 'pending'")
            .bind(id)
            .bind(state.as_str())
            .bind(by)
            .bind(now())
            .bind(comment)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A governed change an admin applied alone (break-glass), and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBreakGlass {
    pub id: i64,
    pub subject: String,
    pub kind: SubjectKind,
    /// The subject before: what it goes back to at expiry.
    pub base: serde_json::Value,
    /// The subject as the break-glass made it.
    pub applied: serde_json::Value,
    pub details: Vec<String>,
    pub reason: String,
    pub actor: String,
    pub started_at: Timestamp,
    pub expires_at: jiff::Timestamp,
    pub state: BreakGlassState,
    pub ended_at: Option<jiff::Timestamp>,
}

impl StoredBreakGlass {
    /// When it stopped being in force: its end, or its expiry while still active.
    pub fn until(&self) -> jiff::Timestamp {
        self.ended_at.unwrap_or(self.expires_at)
    }
}

/// What a new break-glass holds; the store gives it its number and the `active` state.
#[derive(Debug, Clone)]
pub struct NewBreakGlass<'a> {
    pub subject: &'a str,
    pub kind: SubjectKind,
    pub base: &'a serde_json::Value,
    pub applied: &'a serde_json::Value,
    pub details: &'a [String],
    pub reason: &'a str,
    pub actor: &'a str,
    pub started_at: Timestamp,
    pub expires_at: jiff::Timestamp,
}

const BREAK_GLASS_COLUMNS: &str = "id, subject, kind, base, applied, details, reason, actor, started_at, expires_at, state, ended_at";

fn break_glass(row: &AnyRow) -> Result<StoredBreakGlass> {
    let ended: Option<String> = row.try_get("ended_at")?;
    Ok(StoredBreakGlass {
        id: row.try_get("id")?,
        subject: row.try_get("subject")?,
        kind: named(row, "kind")?,
        base: json_column(row, "break-glass", "base")?,
        applied: json_column(row, "break-glass", "applied")?,
        details: json_column(row, "break-glass", "details")?,
        reason: row.try_get("reason")?,
        actor: row.try_get("actor")?,
        started_at: parse_time(
            "break-glass start",
            &row.try_get::<String, _>("started_at")?,
        )?,
        expires_at: parse_time(
            "break-glass expiry",
            &row.try_get::<String, _>("expires_at")?,
        )?,
        state: named(row, "state")?,
        ended_at: ended
            .as_deref()
            .map(|t| parse_time("break-glass end", t))
            .transpose()?,
    })
}

impl Store {
    /// Every break-glass, newest first.
    pub async fn break_glasses(&self) -> Result<Vec<StoredBreakGlass>> {
        let rows = sqlx::query(&format!(
            "SELECT {BREAK_GLASS_COLUMNS} FROM config_break_glass ORDER BY id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(break_glass).collect()
    }

    /// The break-glasses still in force, oldest first (few: each lasts a day at most).
    pub async fn active_break_glasses(&self) -> Result<Vec<StoredBreakGlass>> {
        let rows = sqlx::query(&format!(
            "SELECT {BREAK_GLASS_COLUMNS} FROM config_break_glass WHERE state = 'active' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(break_glass).collect()
    }

    /// The break-glasses of these subjects, oldest first.
    pub async fn break_glasses_of(&self, subjects: &[String]) -> Result<Vec<StoredBreakGlass>> {
        let mut found = Vec::new();
        for subject in subjects {
            let rows = sqlx::query(&format!(
                "SELECT {BREAK_GLASS_COLUMNS} FROM config_break_glass WHERE subject = $1 ORDER BY id"
            ))
            .bind(subject)
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                found.push(break_glass(row)?);
            }
        }
        found.sort_by_key(|b| b.id);
        Ok(found)
    }
}

impl WriteTx<'_> {
    pub async fn insert_break_glass(&mut self, new: NewBreakGlass<'_>) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM config_break_glass")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query(&format!(
            "INSERT INTO config_break_glass ({BREAK_GLASS_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', NULL)"
        ))
        .bind(id)
        .bind(new.subject)
        .bind(new.kind.as_str())
        .bind(new.base.to_string())
        .bind(new.applied.to_string())
        .bind(serde_json::to_string(new.details).expect("strings serialise"))
        .bind(new.reason)
        .bind(new.actor)
        .bind(format_time(new.started_at))
        .bind(format_time(new.expires_at))
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// End an active break-glass; `false` if it had already ended.
    pub async fn end_break_glass(
        &mut self,
        id: i64,
        state: BreakGlassState,
        at: jiff::Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE config_break_glass SET state = $2, ended_at = $3 WHERE id = $1 AND state = 'active'",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(format_time(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
