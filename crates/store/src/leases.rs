//! Leases: which server of several runs a kind of background work, and until when.
//!
//! A lease is taken or renewed by single statements, so two servers racing on PostgreSQL never
//! both hold it: the row is created once, then changes hands only when it has expired. Each
//! change of hands adds one to its token, so work done under an older token can be told apart.
//! It never reads the clock: callers pass the time.
//!
//! Fencing: a store made with [`Store::fenced`] checks, inside every write transaction it opens
//! (after the writers' lock), that the lease row still names its holder and token, by updating
//! that row to itself. A holder that paused, lost the lease and woke up has its writes refused
//! with [`StoreError::Fenced`], and they change nothing. The check also locks the row until
//! the write commits (PostgreSQL), so a takeover waits for a write already checked rather than
//! overlapping it: every fenced write is ordered before the change of hands, or refused.

use jiff::{SignedDuration, Timestamp};
use sqlx::Row;

use crate::{format_time, Result, Store, StoreError};

/// The lease a fenced store's writes must still hold: its name, holder and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub lease: String,
    pub holder: String,
    pub token: i64,
}

/// A lease held: its fencing token and when it runs out unless renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldLease {
    pub token: i64,
    pub until: Timestamp,
}

/// Refuse the transaction unless `fence` still holds its lease with its token. An update of the
/// row to itself, rather than a read, so that PostgreSQL keeps the row locked until `tx` ends
/// and a takeover (an update of the same row) waits for it; portable SQL for both databases.
pub(crate) async fn check_fence(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    fence: &Fence,
) -> Result<()> {
    let held = sqlx::query(
        "UPDATE leases SET token = token WHERE name = $1 AND holder = $2 AND token = $3",
    )
    .bind(&fence.lease)
    .bind(&fence.holder)
    .bind(fence.token)
    .execute(&mut **tx)
    .await?;
    if held.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::Fenced {
            lease: fence.lease.clone(),
            token: fence.token,
        })
    }
}

impl Store {
    /// The same database, whose every write first checks that `fence` still holds its lease
    /// (background work writes through it; requests never do).
    pub fn fenced(&self, fence: Fence) -> Store {
        Store {
            fence: Some(std::sync::Arc::new(fence)),
            ..self.clone()
        }
    }

    /// The lease this store's writes check, if it is fenced.
    pub fn fence(&self) -> Option<&Fence> {
        self.fence.as_deref()
    }

    /// Take the lease `name` for `holder` until `now + ttl` if it is free, expired or already
    /// `holder`'s (a renewal); `None` when another holder has it.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> Result<Option<HeldLease>> {
        let until = now + ttl;
        let (now_text, until_text) = (format_time(now), format_time(until));
        // SQLite: one writer at a time, in turn with the audited writes (no busy-wait).
        let _writer = self.unaudited_writer().await;
        sqlx::query(
            "INSERT INTO leases (name, holder, token, expires_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(holder)
        .bind(&until_text)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE leases SET \
               token = CASE WHEN holder = $2 THEN token ELSE token + 1 END, \
               holder = $2, expires_at = $3 \
             WHERE name = $1 AND (holder = $2 OR expires_at < $4)",
        )
        .bind(name)
        .bind(holder)
        .bind(&until_text)
        .bind(&now_text)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT holder, token, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await?;
        let current: String = row.try_get("holder")?;
        if current != holder {
            return Ok(None);
        }
        Ok(Some(HeldLease {
            token: row.try_get("token")?,
            until: crate::time::read_time(&row, "expires_at")?,
        }))
    }

    /// Take the lease whoever holds it: for a store only one server can open (SQLite, whose
    /// data folder a server locks), where a holder other than `holder` is a server that died.
    pub async fn seize_lease(
        &self,
        name: &str,
        holder: &str,
        now: Timestamp,
        ttl: SignedDuration,
    ) -> Result<Option<HeldLease>> {
        self.release_lease_of_anyone(name, now).await?;
        self.take_lease(name, holder, now, ttl).await
    }

    async fn release_lease_of_anyone(&self, name: &str, now: Timestamp) -> Result<()> {
        // Expired a microsecond ago, so `take_lease` sees it free.
        let before = now - SignedDuration::from_micros(1);
        let _writer = self.unaudited_writer().await;
        sqlx::query("UPDATE leases SET expires_at = $2 WHERE name = $1")
            .bind(name)
            .bind(format_time(before))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Give the lease up at once (a server stopping), so another takes it without waiting for it
    /// to expire. Nothing happens when `holder` does not hold it.
    pub async fn release_lease(&self, name: &str, holder: &str, now: Timestamp) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        sqlx::query("UPDATE leases SET expires_at = $3 WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .bind(format_time(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who holds the lease `name` and until when, if anyone ever took it.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<(String, i64, Timestamp)>> {
        let row = sqlx::query("SELECT holder, token, expires_at FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok((
                r.try_get("holder")?,
                r.try_get("token")?,
                crate::time::read_time(&r, "expires_at")?,
            ))
        })
        .transpose()
    }
}
