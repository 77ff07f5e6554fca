//! Reads for signed audit checkpoints: the events in chain order, a page at a time, and the
//! record of each checkpoint, written with its audit event.

use slipway_core::audit::AuditEvent;
use sqlx::Row;

use crate::audit::event;
use crate::{Result, Store, WriteTx};

/// The most events one page of [`Store::audit_events_after`] holds.
pub const MAX_EVENTS_PAGE: i64 = 1000;

/// A checkpoint the server signed, as recorded beside the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    pub size: i64,
    /// Hexadecimal SHA-256 root of the first `size` events.
    pub root: String,
    pub signed_at: jiff::Timestamp,
    /// The signed note, exactly as appended to the checkpoint log.
    pub note: String,
}

impl Store {
    /// Events with a sequence number above `after`, oldest first, at most `limit` (capped at
    /// [`MAX_EVENTS_PAGE`]): how a verifier streams the whole log in order.
    pub async fn audit_events_after(&self, after: i64, limit: i64) -> Result<Vec<AuditEvent>> {
        let rows = sqlx::query("SELECT seq, at, actor, verb, subject, details, prev_hash, hash FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(limit.clamp(1, MAX_EVENTS_PAGE))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(event).collect()
    }

    /// The number of the last stored event (0 for an empty log).
    pub async fn audit_last_seq(&self) -> Result<i64> {
        let (last,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM audit_events")
            .fetch_one(&self.pool)
            .await?;
        Ok(last.unwrap_or(0))
    }

    /// The largest checkpoint recorded, if any.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>> {
        let row = sqlx::query(
            "SELECT size, root, signed_at, note FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredCheckpoint {
                size: r.try_get("size")?,
                root: r.try_get("root")?,
                signed_at: crate::parse_time(
                    "a checkpoint's signing time",
                    &r.try_get::<String, _>("signed_at")?,
                )?,
                note: r.try_get("note")?,
            })
        })
        .transpose()
    }
}

impl WriteTx<'_> {
    /// Record a signed checkpoint; a second one of the same size is kept as the first.
    pub async fn record_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<()> {
        sqlx::query("INSERT INTO audit_checkpoints (size, root, signed_at, note) VALUES ($1, $2, $3, $4) ON CONFLICT (size) DO NOTHING")
            .bind(checkpoint.size)
            .bind(&checkpoint.root)
            .bind(crate::format_time(checkpoint.signed_at))
            .bind(&checkpoint.note)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}
