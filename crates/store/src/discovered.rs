//! Jobs the agents found on their hosts that Slipway did not install (migration 0029): each
//! target's whole list replaced at each report, written outside the audit chain like telemetry
//! (behind the writer lock); adopting one is the inventory's business, audited there.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{format_time, read_time};
use crate::{Result, Store};

/// A job as an agent found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredJobRow {
    pub target: String,
    /// Stable on its host (`/etc/cron.d/export:3`, `systemd:logrotate.timer`).
    pub key: String,
    pub name: String,
    pub source: String,
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    /// The user it runs as, when its source says.
    pub run_as: Option<String>,
    pub command: String,
    /// When its agent last reported it.
    pub seen_at: Timestamp,
}

const COLUMNS: &str =
    "target, job_key, name, source, schedule, time_zone, run_as, command, seen_at";

fn row_of(row: &AnyRow) -> Result<DiscoveredJobRow> {
    Ok(DiscoveredJobRow {
        target: row.try_get("target")?,
        key: row.try_get("job_key")?,
        name: row.try_get("name")?,
        source: row.try_get("source")?,
        schedule: row.try_get("schedule")?,
        time_zone: row.try_get("time_zone")?,
        run_as: row.try_get("run_as")?,
        command: row.try_get("command")?,
        seen_at: read_time(row, "seen_at")?,
    })
}

impl Store {
    /// Replace what `target`'s agent found with `jobs` (their `target` and `seen_at` are set
    /// here): one transaction, so a reader sees the old list or the new one.
    pub async fn replace_discovered_jobs(
        &self,
        target: &str,
        jobs: &[DiscoveredJobRow],
        at: Timestamp,
    ) -> Result<()> {
        // The writer lock on both backends: two replacements at once on PostgreSQL could each
        // delete only the rows they saw and leave the union of both lists.
        let _writer = self.write_lock.lock().await;
        let mut tx = match self.backend {
            crate::Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            crate::Backend::Postgres => self.pool.begin().await?,
        };
        sqlx::query("DELETE FROM discovered_jobs WHERE target = $1")
            .bind(target)
            .execute(&mut *tx)
            .await?;
        let at = format_time(at);
        for j in jobs {
            sqlx::query(&format!(
                "INSERT INTO discovered_jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING"
            ))
            .bind(target)
            .bind(&j.key)
            .bind(&j.name)
            .bind(&j.source)
            .bind(j.schedule.as_deref())
            .bind(j.time_zone.as_deref())
            .bind(j.run_as.as_deref())
            .bind(&j.command)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What the agents found, by target and key; of one target when given.
    pub async fn discovered_jobs(&self, target: Option<&str>) -> Result<Vec<DiscoveredJobRow>> {
        let rows = match target {
            Some(t) => {
                sqlx::query(&format!(
                "SELECT {COLUMNS} FROM discovered_jobs WHERE target = $1 ORDER BY target, job_key"
            ))
                .bind(t)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM discovered_jobs ORDER BY target, job_key"
                ))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(row_of).collect()
    }
}

impl crate::WriteTx<'_> {
    /// Mark batch `id` as adopted from the discovered job `key` of its target.
    pub async fn set_batch_adopted_from(&mut self, id: i64, key: &str) -> Result<()> {
        sqlx::query("UPDATE batches SET adopted_from = $1 WHERE id = $2")
            .bind(key)
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }
}

impl Store {
    /// The discovered jobs already adopted, as (target, key).
    pub async fn adopted_jobs(&self) -> Result<Vec<(String, String)>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT target, adopted_from FROM batches WHERE adopted_from IS NOT NULL ORDER BY target",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows)
    }
}
