//! SQLite's WAL checkpoints, kept off the commit path (issue 12). By default the commit that
//! pushes the WAL past 1 000 pages copies it back into the database file itself, with the
//! writer lock held, so one request in a thousand waits for a checkpoint's writes and fsync:
//! the agents' ping tail. Every SQLite connection turns that automatic checkpoint off
//! (`wal_autocheckpoint = 0`) and one background task runs a PASSIVE checkpoint each second
//! instead, which waits for no reader and no writer. PostgreSQL has none of this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;

/// How often the background task checkpoints: at 1 000 commits a second of small writes the
/// WAL grows by a few megabytes between two checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// What the checkpointer has done, for the tests and for whoever wonders whether it runs.
#[derive(Debug, Default)]
pub(crate) struct CheckpointCount {
    /// Checkpoints run.
    pub(crate) runs: AtomicU64,
    /// WAL frames copied back into the database.
    pub(crate) frames: AtomicU64,
}

/// Start the checkpointer of a SQLite store's pool; it stops once the pool is closed.
pub(crate) fn spawn_checkpointer(pool: AnyPool) -> Arc<CheckpointCount> {
    let count = Arc::new(CheckpointCount::default());
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if pool.is_closed() {
                return;
            }
            match checkpoint(&pool).await {
                Ok(frames) => {
                    counted.runs.fetch_add(1, Ordering::Relaxed);
                    counted.frames.fetch_add(frames, Ordering::Relaxed);
                }
                // A failed checkpoint is retried at the next tick; the WAL only grows meanwhile.
                Err(e) if !pool.is_closed() => tracing::warn!(error = %e, "WAL checkpoint failed"),
                Err(_) => return,
            }
        }
    });
    count
}

/// One PASSIVE checkpoint: copies what no reader still needs and answers how many frames.
async fn checkpoint(pool: &AnyPool) -> Result<u64, sqlx::Error> {
    let (_busy, _log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(copied).unwrap_or(0))
}
