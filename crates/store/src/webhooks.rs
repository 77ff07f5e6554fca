//! Outbound webhooks: subscriptions, and the outbox of deliveries with every attempt.
//!
//! Deliveries are queued by [`enqueue`], called from `WriteTx::commit` after the audit events are
//! appended: a rolled-back change never notifies, a committed one always does. What happens to a
//! delivery afterwards (attempts, statuses) is telemetry: written outside the audit chain, behind
//! the same writer lock.

use jiff::Timestamp;
use slipway_core::audit::AuditEvent;
use slipway_core::notify::{events_for, payload, DeliveryState, Subscription};
use slipway_core::page::PageSize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::json_column;
use crate::leased_outbox::LeasedOutbox;
use crate::page::{page_of, rows_to_read, Page};
use crate::time::{read_optional_time, read_time};
use crate::{format_time, named, now, placeholders, Result, Store, StoreError, WriteTx};

/// A subscription as anyone allowed may see it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub name: String,
    pub url: String,
    /// Catalogue names, or `["*"]`.
    pub events: Vec<String>,
    pub project: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    /// The configuration change request it waits for (a second admin's approval); `None` when
    /// in force. A held webhook receives nothing and answers no change request.
    pub held_by: Option<i64>,
}

/// What checks a signed callback from the tool a webhook feeds: its sealed secret, and whether
/// and where it is in force.
#[derive(Debug, Clone)]
pub struct CallbackKey {
    pub secret_sealed: String,
    pub held_by: Option<i64>,
    pub project: Option<String>,
}

/// One event to send to one webhook, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub webhook: String,
    pub event: String,
    pub audit_seq: i64,
    pub state: DeliveryState,
    pub attempts: i64,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last attempt, if an answer came.
    pub last_status: Option<i64>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub attempt: i64,
    pub at: Timestamp,
    pub status: Option<i64>,
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// A delivery the worker has claimed: what to send, where, and the sealed secret to sign with.
#[derive(Debug, Clone)]
pub struct DueDelivery {
    pub id: i64,
    pub webhook: String,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
    pub url: String,
    pub secret_sealed: String,
    /// Until when this claim holds it: the claim's fence. The attempt is recorded only while
    /// the delivery still carries it (no other worker claimed it again meanwhile).
    pub claimed_until: String,
}

/// Due deliveries are read with their webhook's address and sealed secret.
const WEBHOOK_OUTBOX: LeasedOutbox = LeasedOutbox {
    table: "webhook_deliveries",
    from: "webhook_deliveries d JOIN webhooks w ON w.name = d.webhook",
    columns: "d.id, d.webhook, d.event, d.payload, d.attempts, w.url, w.secret_sealed",
};

fn webhook(row: &AnyRow) -> Result<Webhook> {
    Ok(Webhook {
        name: row.try_get("name")?,
        url: row.try_get("url")?,
        events: json_column(row, "webhook", "events")?,
        project: row.try_get("project")?,
        created_by: row.try_get("created_by")?,
        created_at: read_time(row, "created_at")?,
        held_by: row.try_get("held_by")?,
    })
}

fn delivery(row: &AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: row.try_get("id")?,
        webhook: row.try_get("webhook")?,
        event: row.try_get("event")?,
        audit_seq: row.try_get("audit_seq")?,
        state: named(row, "state")?,
        attempts: row.try_get("attempts")?,
        next_attempt_at: read_optional_time(row, "next_attempt_at")?,
        last_status: row.try_get("last_status")?,
        last_error: row.try_get("last_error")?,
        created_at: read_time(row, "created_at")?,
        finished_at: read_optional_time(row, "finished_at")?,
        attempt_log: Vec::new(),
    })
}

const WEBHOOK_COLUMNS: &str = "name, url, events, project, created_by, created_at, held_by";
const DELIVERY_COLUMNS: &str = "id, webhook, event, audit_seq, state, attempts, next_attempt_at, last_status, last_error, created_at, finished_at";

/// Queue one delivery per (event raised, subscription that wants it). Returns how many.
pub(crate) async fn enqueue(
    tx: &mut Transaction<'static, Any>,
    events: &[AuditEvent],
) -> Result<usize> {
    let mut subscriptions: Option<Vec<Subscription>> = None;
    let mut next_id: Option<i64> = None;
    let mut queued = 0;
    for event in events {
        let details: serde_json::Value =
            serde_json::from_str(&event.details).unwrap_or(serde_json::Value::Null);
        let raised = events_for(&event.verb, &details);
        if raised.is_empty() {
            continue;
        }
        if subscriptions.is_none() {
            // A held webhook is sent nothing until a second admin approves it.
            let rows = sqlx::query(
                "SELECT name, events, project FROM webhooks WHERE held_by IS NULL ORDER BY name",
            )
            .fetch_all(&mut **tx)
            .await?;
            let mut subs = Vec::with_capacity(rows.len());
            for row in &rows {
                subs.push(Subscription {
                    name: row.try_get("name")?,
                    events: json_column(row, "webhook", "events")?,
                    project: row.try_get("project")?,
                });
            }
            subscriptions = Some(subs);
        }
        let subs = subscriptions.as_deref().unwrap_or_default();
        for name in raised {
            for sub in subs.iter().filter(|s| s.wants(name, &details)) {
                let id = match next_id {
                    Some(id) => id,
                    None => {
                        let (max,): (Option<i64>,) =
                            sqlx::query_as("SELECT MAX(id) FROM webhook_deliveries")
                                .fetch_one(&mut **tx)
                                .await?;
                        max.unwrap_or(0) + 1
                    }
                };
                next_id = Some(id + 1);
                let body = payload(
                    id,
                    name,
                    &event.at,
                    event.seq,
                    details.clone(),
                    &event.actor,
                    &event.subject,
                );
                sqlx::query("INSERT INTO webhook_deliveries (id, webhook, event, audit_seq, payload, state, attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6)")
                    .bind(id)
                    .bind(&sub.name)
                    .bind(name)
                    .bind(event.seq)
                    .bind(body.to_string())
                    .bind(&event.at)
                    .execute(&mut **tx)
                    .await?;
                queued += 1;
            }
        }
    }
    Ok(queued)
}

impl WriteTx<'_> {
    pub async fn webhook(&mut self, name: &str) -> Result<Option<Webhook>> {
        let row = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(webhook).transpose()
    }

    pub async fn insert_webhook(&mut self, w: &Webhook, secret_sealed: &str) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}, secret_sealed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&w.name)
        .bind(&w.url)
        .bind(serde_json::to_string(&w.events).expect("strings serialise"))
        .bind(w.project.as_deref())
        .bind(&w.created_by)
        .bind(format_time(w.created_at))
        .bind(w.held_by)
        .bind(secret_sealed)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| StoreError::from_write(e, || format!("webhook {}", w.name)))?;
        Ok(())
    }

    /// Put in force the webhook held by configuration change request `request`. `false` when
    /// no webhook of that name waits for that request (it was removed meanwhile).
    pub async fn release_webhook(&mut self, name: &str, request: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE webhooks SET held_by = NULL WHERE name = $1 AND held_by = $2")
                .bind(name)
                .bind(request)
                .execute(&mut *self.tx)
                .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Drop the webhook held by a rejected request `request` (it never was in force). `false`
    /// when there is none (removed meanwhile).
    pub async fn drop_held_webhook(&mut self, name: &str, request: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE name = $1 AND held_by = $2")
            .bind(name)
            .bind(request)
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Remove a subscription; its pending deliveries will not be sent. `false` if unknown.
    pub async fn remove_webhook(&mut self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM webhooks WHERE name = $1")
            .bind(name)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("UPDATE webhook_deliveries SET state = 'failed', next_attempt_at = NULL, last_error = 'the webhook was removed', finished_at = $2 WHERE webhook = $1 AND state = 'pending'")
            .bind(name)
            .bind(now())
            .execute(&mut *self.tx)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// A webhook's sealed secret, whether it is held and its project, to check a signed
    /// callback from the tool it feeds.
    pub async fn webhook_callback_key(&self, name: &str) -> Result<Option<CallbackKey>> {
        let row: Option<(String, Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT secret_sealed, held_by, project FROM webhooks WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(secret_sealed, held_by, project)| CallbackKey {
            secret_sealed,
            held_by,
            project,
        }))
    }

    pub async fn webhooks(&self) -> Result<Vec<Webhook>> {
        let rows = sqlx::query(&format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks ORDER BY name"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(webhook).collect()
    }

    /// One page of the deliveries, of one webhook or all, newest first by id, each with its
    /// attempts; `before` is the id of the last delivery of the previous page.
    ///
    /// Keyed by id: deliveries are queued in the order of the audit events that caused them and
    /// never move, so the id is the order people read them in and makes it total. Read through
    /// the primary key, or `webhook_deliveries_webhook` (webhook, id) for one webhook; the
    /// attempts of exactly the page's deliveries are read after.
    pub async fn deliveries(
        &self,
        webhook: Option<&str>,
        before: Option<i64>,
        size: PageSize,
    ) -> Result<Page<Delivery>> {
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE ($1 IS NULL OR webhook = $1) AND id < $2 ORDER BY id DESC LIMIT $3"
        ))
        .bind(webhook)
        .bind(before.unwrap_or(i64::MAX))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let mut out = page_of(rows.iter().map(delivery).collect::<Result<Vec<_>>>()?, size);
        if out.items.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT delivery_id, attempt, at, status, error, duration_ms FROM webhook_attempts WHERE delivery_id IN ({}) ORDER BY delivery_id, attempt",
            placeholders(1, out.items.len())
        );
        let mut query = sqlx::query(&sql);
        for d in &out.items {
            query = query.bind(d.id);
        }
        let attempts = query.fetch_all(&self.pool).await?;
        for row in &attempts {
            let id: i64 = row.try_get("delivery_id")?;
            if let Some(d) = out.items.iter_mut().find(|d| d.id == id) {
                d.attempt_log.push(DeliveryAttempt {
                    attempt: row.try_get("attempt")?,
                    at: read_time(row, "at")?,
                    status: row.try_get("status")?,
                    error: row.try_get("error")?,
                    duration_ms: row.try_get("duration_ms")?,
                });
            }
        }
        Ok(out)
    }

    /// Claim up to `limit` deliveries due at `now` until `lease_until`: a claimed delivery is not
    /// due again before then, so two workers never send it at once, and one whose worker died is
    /// tried again after the lease.
    pub async fn claim_due_deliveries(
        &self,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<DueDelivery>> {
        let rows = self
            .claim_leased(WEBHOOK_OUTBOX, now, lease_until, limit)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    id: row.try_get("id")?,
                    webhook: row.try_get("webhook")?,
                    event: row.try_get("event")?,
                    payload: row.try_get("payload")?,
                    attempts: row.try_get("attempts")?,
                    url: row.try_get("url")?,
                    secret_sealed: row.try_get("secret_sealed")?,
                    claimed_until: lease_until.to_string(),
                })
            })
            .collect()
    }

    /// Record one attempt and where the delivery stands after it (`next_attempt_at` for pending),
    /// if `delivery`'s claim still holds: `false`, recording nothing, when its claim ran out and
    /// another worker claimed it again (that worker sends and records it; at least once).
    pub async fn record_delivery_attempt(
        &self,
        delivery: &DueDelivery,
        attempt: &DeliveryAttempt,
        state: DeliveryState,
        next_attempt_at: Option<&str>,
    ) -> Result<bool> {
        let _writer = self.unaudited_writer().await;
        let mut tx = self.pool.begin().await?;
        let finished = (state != DeliveryState::Pending).then(now);
        let claimed = sqlx::query("UPDATE webhook_deliveries SET state = $2, attempts = $3, next_attempt_at = $4, last_status = $5, last_error = $6, finished_at = $7 WHERE id = $1 AND state = 'pending' AND next_attempt_at = $8")
            .bind(delivery.id)
            .bind(state.as_str())
            .bind(attempt.attempt)
            .bind(next_attempt_at)
            .bind(attempt.status)
            .bind(attempt.error.as_deref())
            .bind(finished)
            .bind(&delivery.claimed_until)
            .execute(&mut *tx)
            .await?;
        if claimed.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("INSERT INTO webhook_attempts (delivery_id, attempt, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING")
            .bind(delivery.id)
            .bind(attempt.attempt)
            .bind(format_time(attempt.at))
            .bind(attempt.status)
            .bind(attempt.error.as_deref())
            .bind(attempt.duration_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Wait until a commit queues deliveries, or `timeout` passes.
    pub async fn outbox_queued(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.outbox.notified()).await;
    }
}
