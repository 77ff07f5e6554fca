//! Alerts and their channel deliveries: an alert row per grouping key while it is open (its
//! count, last seen, silenced flag, who acknowledged it), and the outbox of messages to chat and
//! mail channels, queued in the transaction of the alert's change and claimed by the sender.
//!
//! It decides nothing (`core::alerts` does) and never holds a channel's secret: deliveries name
//! the project and channel, the sender renders and resolves them when it sends.

use jiff::Timestamp;
use slipway_core::alerts::{AlertContext, AlertStatus, Notice, Severity, Signal, SourceKind};
use slipway_core::notify::DeliveryState;
use slipway_core::page::PageSize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::leased_outbox::{LeasedAttempt, LeasedOutbox};
use crate::page::{page_of, rows_to_read, Page};
use crate::time::{format_time, read_optional_time, read_time};
use crate::{named, Result, Store, StoreError, WriteTx};

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    pub id: i64,
    pub key: String,
    pub source: SourceKind,
    pub severity: Severity,
    pub status: AlertStatus,
    pub summary: String,
    pub context: AlertContext,
    pub occurrence: String,
    /// How many times its condition happened while it was open.
    pub count: i64,
    pub silenced: bool,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub last_notified: Option<Timestamp>,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<Timestamp>,
}

/// Which alerts a list shows, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub source: Option<SourceKind>,
    /// Only alerts older than this one (keyset paging, newest first).
    pub before: Option<i64>,
}

/// A channel delivery as the alert's page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlertDelivery {
    pub id: i64,
    pub alert_id: i64,
    pub project: String,
    pub channel: String,
    pub notice: Notice,
    pub state: DeliveryState,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

const COLUMNS: &str = "id, group_key, source, severity, status, summary, context, occurrence, occurrences, silenced, first_seen, last_seen, last_notified, acknowledged_by, acknowledged_at, resolved_by, resolved_at";
const DELIVERY_COLUMNS: &str = "id, alert_id, project, channel, notice, state, attempts, next_attempt_at, last_error, created_at, finished_at";
const ALERT_OUTBOX: LeasedOutbox = LeasedOutbox {
    table: "alert_deliveries",
    from: "alert_deliveries",
    columns: DELIVERY_COLUMNS,
};

fn alert_row(row: &AnyRow) -> Result<StoredAlert> {
    let context: String = row.try_get("context")?;
    let silenced: i64 = row.try_get("silenced")?;
    Ok(StoredAlert {
        id: row.try_get("id")?,
        key: row.try_get("group_key")?,
        source: named(row, "source")?,
        severity: named(row, "severity")?,
        status: named(row, "status")?,
        summary: row.try_get("summary")?,
        context: serde_json::from_str(&context)
            .map_err(|e| StoreError::Corrupt(format!("alert context: {e}")))?,
        occurrence: row.try_get("occurrence")?,
        count: row.try_get("occurrences")?,
        silenced: silenced != 0,
        first_seen: read_time(row, "first_seen")?,
        last_seen: read_time(row, "last_seen")?,
        last_notified: read_optional_time(row, "last_notified")?,
        acknowledged_by: row.try_get("acknowledged_by")?,
        acknowledged_at: read_optional_time(row, "acknowledged_at")?,
        resolved_by: row.try_get("resolved_by")?,
        resolved_at: read_optional_time(row, "resolved_at")?,
    })
}

fn delivery_row(row: &AnyRow) -> Result<StoredAlertDelivery> {
    Ok(StoredAlertDelivery {
        id: row.try_get("id")?,
        alert_id: row.try_get("alert_id")?,
        project: row.try_get("project")?,
        channel: row.try_get("channel")?,
        notice: named(row, "notice")?,
        state: named(row, "state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        finished_at: row.try_get("finished_at")?,
    })
}

impl Store {
    /// The open alerts (fired or acknowledged), oldest first.
    pub async fn open_alerts(&self) -> Result<Vec<StoredAlert>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE status <> 'resolved' ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_row).collect()
    }

    pub async fn alert(&self, id: i64) -> Result<Option<StoredAlert>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(alert_row).transpose()
    }

    /// Alerts matching `filter`, newest first.
    /// One page of the alerts `filter` selects, newest first.
    pub async fn alerts(&self, filter: &AlertFilter, size: PageSize) -> Result<Page<StoredAlert>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM alerts WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR project = $2) AND ($3 IS NULL OR environment = $3) \
             AND ($4 IS NULL OR source = $4) AND id < $5 ORDER BY id DESC LIMIT $6"
        ))
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.project.as_deref())
        .bind(filter.environment.as_deref())
        .bind(filter.source.map(|s| s.as_str()))
        .bind(filter.before.unwrap_or(i64::MAX))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(alert_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }

    /// The channel deliveries of one alert, oldest first.
    pub async fn alert_deliveries(&self, alert_id: i64) -> Result<Vec<StoredAlertDelivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE alert_id = $1 ORDER BY id"
        ))
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_row).collect()
    }

    /// Claim up to `limit` deliveries due at `now` until `lease_until` (as the webhook outbox
    /// does: a claimed delivery is not due again before then, so two senders never send it at
    /// once, and one whose sender died is sent again after the lease).
    pub async fn claim_due_alert_deliveries(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<StoredAlertDelivery>> {
        let rows = self
            .claim_leased(ALERT_OUTBOX, now, lease_until, limit)
            .await?;
        rows.iter()
            .map(|row| {
                let mut d = delivery_row(row)?;
                // The claim is its fence: the outcome is recorded only while it still holds.
                d.next_attempt_at = Some(lease_until.to_string());
                Ok(d)
            })
            .collect()
    }

    /// Record one attempt's outcome: telemetry of the outbox, not audited (like webhook attempts),
    /// if `claimed`'s claim still holds (its `next_attempt_at` is the claim's end): `false`,
    /// recording nothing, when it ran out and another sender claimed the delivery again.
    pub async fn record_alert_delivery(
        &self,
        claimed: &StoredAlertDelivery,
        attempts: i64,
        state: DeliveryState,
        next_attempt_at: Option<&str>,
        error: Option<&str>,
    ) -> Result<bool> {
        let attempt = LeasedAttempt {
            id: claimed.id,
            claim: claimed.next_attempt_at.as_deref(),
            attempts,
            state,
            next_attempt_at,
            error,
        };
        self.record_leased(ALERT_OUTBOX, attempt).await
    }
}

impl Store {
    /// Wait until a commit queues alert deliveries, or `timeout` passes.
    pub async fn alert_outbox_queued(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.alert_outbox.notified()).await;
    }
}

impl WriteTx<'_> {
    pub async fn alert(&mut self, id: i64) -> Result<Option<StoredAlert>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM alerts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(alert_row).transpose()
    }

    /// A new open alert from `signal`, seen at `at`; notified at `at` unless silenced.
    pub async fn insert_alert(&mut self, signal: &Signal, at: Timestamp) -> Result<StoredAlert> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM alerts")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let context = serde_json::to_string(&signal.context)
            .map_err(|e| StoreError::Corrupt(format!("alert context: {e}")))?;
        let at = format_time(at);
        sqlx::query("INSERT INTO alerts (id, group_key, source, severity, status, summary, project, environment, target, context, occurrence, occurrences, silenced, first_seen, last_seen, last_notified) VALUES ($1, $2, $3, $4, 'fired', $5, $6, $7, $8, $9, $10, 1, $11, $12, $12, $13)")
            .bind(id)
            .bind(&signal.key)
            .bind(signal.source.as_str())
            .bind(signal.severity.as_str())
            .bind(&signal.summary)
            .bind(signal.context.project.as_deref())
            .bind(signal.context.environment.as_deref())
            .bind(signal.context.target.as_deref())
            .bind(&context)
            .bind(&signal.occurrence)
            .bind(i64::from(signal.silenced))
            .bind(&at)
            .bind((!signal.silenced).then_some(&at))
            .execute(&mut *self.tx)
            .await?;
        self.alert(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("an alert just written is not there".into()))
    }

    /// The condition happened again (or is shown anew after a deployment): its latest summary,
    /// severity and context, one more in the count when `counted`, last seen at `at`.
    pub async fn repeat_alert(
        &mut self,
        id: i64,
        signal: &Signal,
        counted: bool,
        at: Timestamp,
    ) -> Result<()> {
        let context = serde_json::to_string(&signal.context)
            .map_err(|e| StoreError::Corrupt(format!("alert context: {e}")))?;
        sqlx::query("UPDATE alerts SET summary = $2, severity = $3, context = $4, occurrence = $5, occurrences = occurrences + $6, last_seen = $7 WHERE id = $1")
            .bind(id)
            .bind(&signal.summary)
            .bind(signal.severity.as_str())
            .bind(&context)
            .bind(&signal.occurrence)
            .bind(i64::from(counted))
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_alert_silenced(&mut self, id: i64, silenced: bool) -> Result<()> {
        sqlx::query("UPDATE alerts SET silenced = $2 WHERE id = $1")
            .bind(id)
            .bind(i64::from(silenced))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn set_alert_notified(&mut self, id: i64, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE alerts SET last_notified = $2 WHERE id = $1")
            .bind(id)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub async fn acknowledge_alert(&mut self, id: i64, by: &str, at: Timestamp) -> Result<()> {
        sqlx::query("UPDATE alerts SET status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3 WHERE id = $1")
            .bind(id)
            .bind(by)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Resolve an alert; `by` is `None` when its condition ended by itself.
    pub async fn resolve_alert(&mut self, id: i64, by: Option<&str>, at: Timestamp) -> Result<()> {
        sqlx::query(
            "UPDATE alerts SET status = 'resolved', resolved_by = $2, resolved_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(by)
        .bind(format_time(at))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Queue one message per channel; the sender picks them up. Returns how many.
    pub async fn queue_alert_deliveries(
        &mut self,
        alert_id: i64,
        project: &str,
        channels: &[&str],
        notice: Notice,
    ) -> Result<usize> {
        if channels.is_empty() {
            return Ok(0);
        }
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM alert_deliveries")
            .fetch_one(&mut *self.tx)
            .await?;
        let mut id = max.unwrap_or(0);
        let now = crate::now();
        for channel in channels {
            id += 1;
            sqlx::query("INSERT INTO alert_deliveries (id, alert_id, project, channel, notice, state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)")
                .bind(id)
                .bind(alert_id)
                .bind(project)
                .bind(channel)
                .bind(notice.as_str())
                .bind(&now)
                .execute(&mut *self.tx)
                .await?;
        }
        self.alert_deliveries_queued = true;
        Ok(channels.len())
    }
}
