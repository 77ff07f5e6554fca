//! The claim and the recorded outcome shared by the outboxes whose deliveries are claimed with a
//! lease written into their `next_attempt_at` (alert deliveries, weekly report messages).
//!
//! A claimed delivery is not due again before its lease ends, so two senders never send it at
//! once, and one whose sender died is sent again afterwards; an outcome is recorded only while
//! the delivery still carries the claim's lease (no other sender claimed it again meanwhile).
//! Outbox telemetry, outside the audit chain (`unaudited_writer`: queued behind the writer lock on
//! SQLite only). It never decides when to retry: the sender does.

use slipway_core::notify::DeliveryState;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{Result, Store};

/// A table of leased deliveries, what its due rows are read from (the table, or the table
/// joined with what a sender needs), and the columns they are read with (`id` among them).
#[derive(Clone, Copy)]
pub(crate) struct LeasedOutbox {
    pub table: &'static str,
    pub from: &'static str,
    pub columns: &'static str,
}

/// One attempt's outcome, to record under the claim that sent it.
pub(crate) struct LeasedAttempt<'a> {
    pub id: i64,
    /// The lease the claim wrote (the delivery's `next_attempt_at` when claimed).
    pub claim: Option<&'a str>,
    pub attempts: i64,
    pub state: DeliveryState,
    pub next_attempt_at: Option<&'a str>,
    pub error: Option<&'a str>,
}

impl Store {
    /// Claim up to `limit` deliveries of `outbox` due at `now` until `lease_until`; the rows
    /// taken, as read before the claim (their `next_attempt_at` is now `lease_until`).
    pub(crate) async fn claim_leased(
        &self,
        outbox: LeasedOutbox,
        now: &str,
        lease_until: &str,
        limit: i64,
    ) -> Result<Vec<AnyRow>> {
        let LeasedOutbox {
            table,
            from,
            columns,
        } = outbox;
        let _writer = self.unaudited_writer().await;
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM {from} \
             WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = row.try_get("id")?;
            let taken = sqlx::query(&format!(
                "UPDATE {table} SET next_attempt_at = $3 WHERE id = $1 AND state = 'pending' AND next_attempt_at <= $2"
            ))
            .bind(id)
            .bind(now)
            .bind(lease_until)
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() == 1 {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    /// Record one attempt's outcome if its claim still holds; `false`, recording nothing, when
    /// it ran out and another sender claimed the delivery again.
    pub(crate) async fn record_leased(
        &self,
        outbox: LeasedOutbox,
        attempt: LeasedAttempt<'_>,
    ) -> Result<bool> {
        let _writer = self.unaudited_writer().await;
        let finished = (attempt.state != DeliveryState::Pending).then(crate::now);
        let done = sqlx::query(&format!(
            "UPDATE {} SET state = $2, attempts = $3, next_attempt_at = $4, last_error = $5, finished_at = $6 \
             WHERE id = $1 AND state = 'pending' AND next_attempt_at = $7",
            outbox.table
        ))
        .bind(attempt.id)
        .bind(attempt.state.as_str())
        .bind(attempt.attempts)
        .bind(attempt.next_attempt_at)
        .bind(attempt.error)
        .bind(finished)
        .bind(attempt.claim)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
