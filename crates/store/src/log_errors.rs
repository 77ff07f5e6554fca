//! Log-error groups (migration 0027): one row per grouping key with the group's first line and
//! its count, extended while reports keep coming within the rule's period and started afresh
//! after; matching lines counted per batch, customer and hour; and the count of an open log
//! alert kept equal to its group's.
//!
//! It decides nothing: which key a line belongs to, and what raises an alert, are
//! `core::supervision::logs`' and the services'.

use jiff::{SignedDuration, Timestamp};
use slipway_core::alerts::Severity;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{format_time, read_time};
use crate::{named, Result, Store};

/// A report of matching lines, as the server records it.
#[derive(Debug, Clone)]
pub struct NewLogError<'a> {
    pub key: &'a str,
    pub batch_id: i64,
    pub rule: &'a str,
    pub severity: Severity,
    pub customer: Option<&'a str>,
    pub log_path: &'a str,
    /// The first line, secrets masked.
    pub line: &'a str,
    pub line_number: i64,
    /// When the agent read the line.
    pub line_at: Timestamp,
    pub count: i64,
    pub period: SignedDuration,
    /// When the server received it.
    pub at: Timestamp,
}

/// A group of matching lines under one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLogGroup {
    pub key: String,
    pub batch_id: i64,
    pub rule: String,
    pub severity: Severity,
    pub customer: Option<String>,
    pub log_path: String,
    pub line: String,
    pub line_number: i64,
    pub line_at: Timestamp,
    pub lines: i64,
    pub period: SignedDuration,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
}

/// Matching lines of one batch and customer in one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogErrorHour {
    pub batch_id: i64,
    /// Empty when the log's path names no customer.
    pub customer: String,
    pub hour: Timestamp,
    pub lines: i64,
}

const COLUMNS: &str = "group_key, batch_id, rule, severity, customer, log_path, line, line_number, line_at, lines, period_secs, first_seen, last_seen";

fn group_row(row: &AnyRow) -> Result<StoredLogGroup> {
    Ok(StoredLogGroup {
        key: row.try_get("group_key")?,
        batch_id: row.try_get("batch_id")?,
        rule: row.try_get("rule")?,
        severity: named(row, "severity")?,
        customer: row.try_get("customer")?,
        log_path: row.try_get("log_path")?,
        line: row.try_get("line")?,
        line_number: row.try_get("line_number")?,
        line_at: read_time(row, "line_at")?,
        lines: row.try_get("lines")?,
        period: SignedDuration::from_secs(row.try_get("period_secs")?),
        first_seen: read_time(row, "first_seen")?,
        last_seen: read_time(row, "last_seen")?,
    })
}

/// The start of the hour `at` falls in.
fn hour_of(at: Timestamp) -> Timestamp {
    let secs = at.as_second();
    Timestamp::from_second(secs - secs.rem_euclid(3600)).unwrap_or(at)
}

impl Store {
    /// Count reports in their groups, in one transaction without an audit event (like probe
    /// results): a report joins its key's group while the group's last line is within the
    /// period, else it starts the group afresh with its own first line. Each report is also
    /// counted in its hour.
    pub async fn record_log_errors(&self, reports: &[NewLogError<'_>]) -> Result<()> {
        // SQLite: one writer at a time, in turn with the audited writes (no busy-wait).
        let _writer = self.unaudited_writer().await;
        let mut tx = self.pool.begin().await?;
        for e in reports {
            let at = format_time(e.at);
            let since = format_time(e.at.checked_sub(e.period).unwrap_or(e.at));
            let same = "log_groups.last_seen >= $13";
            let keep = |column: &str| {
                format!("{column} = CASE WHEN {same} THEN log_groups.{column} ELSE excluded.{column} END")
            };
            sqlx::query(&format!(
                "INSERT INTO log_groups ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) \
                 ON CONFLICT (group_key) DO UPDATE SET \
                 lines = CASE WHEN {same} THEN log_groups.lines + excluded.lines ELSE excluded.lines END, \
                 {}, {}, {}, {}, {}, \
                 batch_id = excluded.batch_id, rule = excluded.rule, severity = excluded.severity, \
                 customer = excluded.customer, period_secs = excluded.period_secs, last_seen = excluded.last_seen",
                keep("log_path"),
                keep("line"),
                keep("line_number"),
                keep("line_at"),
                keep("first_seen"),
            ))
            .bind(e.key)
            .bind(e.batch_id)
            .bind(e.rule)
            .bind(e.severity.as_str())
            .bind(e.customer)
            .bind(e.log_path)
            .bind(e.line)
            .bind(e.line_number)
            .bind(format_time(e.line_at))
            .bind(e.count)
            .bind(e.period.as_secs())
            .bind(&at)
            .bind(&since)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO log_error_hours (batch_id, customer, hour, lines) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (batch_id, customer, hour) DO UPDATE SET lines = log_error_hours.lines + excluded.lines",
            )
            .bind(e.batch_id)
            .bind(e.customer.unwrap_or(""))
            .bind(format_time(hour_of(e.at)))
            .bind(e.count)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Make each open log alert count the lines of its group (the group it opened for: the
    /// alert's occurrence is the group's first sight). Like a repetition's count, no audit
    /// event: the alert's firing was audited.
    pub async fn sync_log_alert_counts(&self) -> Result<u64> {
        let _writer = self.unaudited_writer().await;
        let done = sqlx::query(
            "UPDATE alerts SET occurrences = (SELECT g.lines FROM log_groups g WHERE g.group_key = alerts.group_key) \
             WHERE source = 'log' AND status <> 'resolved' AND EXISTS \
             (SELECT 1 FROM log_groups g WHERE g.group_key = alerts.group_key AND g.first_seen = alerts.occurrence \
              AND g.lines <> alerts.occurrences)",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// The groups whose last line came at or after `since`.
    pub async fn log_groups_since(&self, since: Timestamp) -> Result<Vec<StoredLogGroup>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM log_groups WHERE last_seen >= $1 ORDER BY group_key"
        ))
        .bind(format_time(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_row).collect()
    }

    /// Matching lines per batch, customer and hour, from the hour of `since` on.
    pub async fn log_error_hours(&self, since: Timestamp) -> Result<Vec<LogErrorHour>> {
        let rows = sqlx::query(
            "SELECT batch_id, customer, hour, lines FROM log_error_hours WHERE hour >= $1 ORDER BY hour, batch_id, customer",
        )
        .bind(format_time(hour_of(since)))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogErrorHour {
                    batch_id: row.try_get("batch_id")?,
                    customer: row.try_get("customer")?,
                    hour: read_time(row, "hour")?,
                    lines: row.try_get("lines")?,
                })
            })
            .collect()
    }
}
