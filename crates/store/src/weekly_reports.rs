//! The weekly batch reports: one row per project, environment and week sent (so a week goes
//! once, whatever restarts or replicas do), written with its audit event and one message per
//! channel; the messages are an outbox the alert channel sender claims, sends and records like
//! alert deliveries. Also the run counts per batch a report reads.

use jiff::Timestamp;
use slipway_core::notify::DeliveryState;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::leased_outbox::{LeasedAttempt, LeasedOutbox};
use crate::time::format_time;
use crate::{named, Result, Store, WriteTx};

/// The week of a report: its project, environment and Monday (`YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportWeek<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub week: &'a str,
}

/// One channel's message of a report, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMessage {
    pub channel: String,
    pub subject: String,
    /// Plain text for mail, the JSON payload for chat.
    pub body: String,
    /// The HTML part of a mail.
    pub html: Option<String>,
}

/// A report message as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReportDelivery {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub week: String,
    pub message: ReportMessage,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
}

/// Runs of one batch that started within a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunCount {
    pub batch_id: i64,
    pub runs: i64,
    /// Ended with an exit status other than 0.
    pub failures: i64,
}

const COLUMNS: &str = "id, project, environment, week, channel, subject, body, html, state, attempts, next_attempt_at, last_error";
const REPORT_OUTBOX: LeasedOutbox = LeasedOutbox {
    table: "report_deliveries",
    from: "report_deliveries",
    columns: COLUMNS,
};

fn delivery_row(row: &AnyRow) -> Result<StoredReportDelivery> {
    Ok(StoredReportDelivery {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        week: row.try_get("week")?,
        message: ReportMessage {
            channel: row.try_get("channel")?,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            html: row.try_get("html")?,
        },
        state: named(row, "state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
    })
}

impl Store {
    /// Whether the report of `week` was recorded already.
    pub async fn weekly_report_sent(&self, week: ReportWeek<'_>) -> Result<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT sent_at FROM weekly_reports WHERE project = $1 AND environment = $2 AND week = $3",
        )
        .bind(week.project)
        .bind(week.environment)
        .bind(week.week)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The runs of every batch that started in `[from, to)`, with how many failed (runs the
    /// agent did not start are no runs).
    pub async fn batch_run_counts(&self, from: Timestamp, to: Timestamp) -> Result<Vec<RunCount>> {
        let rows = sqlx::query(
            "SELECT batch_id, COUNT(*) AS runs, \
             SUM(CASE WHEN exit_code IS NOT NULL AND exit_code <> 0 THEN 1 ELSE 0 END) AS failures \
             FROM batch_runs WHERE started_at >= $1 AND started_at < $2 AND not_started IS NULL \
             GROUP BY batch_id ORDER BY batch_id",
        )
        .bind(format_time(from))
        .bind(format_time(to))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(RunCount {
                    batch_id: row.try_get("batch_id")?,
                    runs: row.try_get("runs")?,
                    failures: row.try_get::<Option<i64>, _>("failures")?.unwrap_or(0),
                })
            })
            .collect()
    }

    /// The messages of a project's reports, newest first, at most `limit`.
    pub async fn report_deliveries(
        &self,
        project: &str,
        limit: i64,
    ) -> Result<Vec<StoredReportDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM report_deliveries WHERE project = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(project)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_row).collect()
    }

    /// Claim up to `limit` report messages due at `now` until `lease_until`, as
    /// `claim_due_alert_deliveries` does.
    pub async fn claim_due_report_deliveries(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<StoredReportDelivery>> {
        let rows = self
            .claim_leased(REPORT_OUTBOX, now, lease_until, limit)
            .await?;
        rows.iter()
            .map(|row| {
                let mut d = delivery_row(row)?;
                d.next_attempt_at = Some(lease_until.to_string());
                Ok(d)
            })
            .collect()
    }

    /// Record one attempt's outcome while the claim still holds (outbox telemetry, unaudited);
    /// `false` when it ran out.
    pub async fn record_report_delivery(
        &self,
        claimed: &StoredReportDelivery,
        state: DeliveryState,
        next_attempt_at: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool> {
        let attempt = LeasedAttempt {
            id: claimed.id,
            claim: claimed.next_attempt_at.as_deref(),
            attempts: claimed.attempts + 1,
            state,
            next_attempt_at,
            error,
        };
        self.record_leased(REPORT_OUTBOX, attempt).await
    }
}

impl WriteTx<'_> {
    /// Record `week`'s report as sent at `at` and queue its messages; `false`, writing nothing,
    /// when the week is recorded already (another server or an earlier turn sent it).
    pub async fn record_weekly_report(
        &mut self,
        week: ReportWeek<'_>,
        at: Timestamp,
        messages: &[ReportMessage],
    ) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO weekly_reports (project, environment, week, sent_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(week.project)
        .bind(week.environment)
        .bind(week.week)
        .bind(format_time(at))
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM report_deliveries")
            .fetch_one(&mut *self.tx)
            .await?;
        let mut id = max.unwrap_or(0);
        let now = crate::now();
        for m in messages {
            id += 1;
            sqlx::query("INSERT INTO report_deliveries (id, project, environment, week, channel, subject, body, html, state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9)")
                .bind(id)
                .bind(week.project)
                .bind(week.environment)
                .bind(week.week)
                .bind(&m.channel)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(m.html.as_deref())
                .bind(&now)
                .execute(&mut *self.tx)
                .await?;
        }
        self.alert_deliveries_queued |= !messages.is_empty();
        Ok(true)
    }
}
