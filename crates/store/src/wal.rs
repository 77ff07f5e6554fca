//! SQLite's WAL checkpoints, kept off the commit path (issue 12). By default the commit that
//! pushes the WAL past 1 000 pages copies it back into the database file itself, with the
//! writer lock held, so one request in a thousand waits for a checkpoint's writes and fsync:
//! the agents' ping tail. Every SQLite connection turns that automatic checkpoint off
//! (`wal_autocheckpoint = 0`) and one background task runs a PASSIVE checkpoint each second
//! instead, on a connection of its own, which waits for no reader and no writer. PostgreSQL has
//! none of this.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::{AnyConnection, AnyPool, Connection};

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

/// Start the checkpointer of a SQLite store; it stops once `pool` is closed. It checkpoints on
/// a connection of its own (opened from `url`, reopened after a failure), so a checkpoint's
/// copy and fsync never hold one of the pool's few connections the requests need.
pub(crate) fn spawn_checkpointer(pool: AnyPool, url: Arc<str>) -> Arc<CheckpointCount> {
    let count = Arc::new(CheckpointCount::default());
    let counted = Arc::clone(&count);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut connection: Option<AnyConnection> = None;
        loop {
            every.tick().await;
            if pool.is_closed() {
                break;
            }
            let done = match connection.as_mut() {
                Some(conn) => checkpoint(conn).await,
                None => match AnyConnection::connect(&url).await {
                    Ok(mut conn) => {
                        let done = checkpoint(&mut conn).await;
                        connection = Some(conn);
                        done
                    }
                    Err(e) => Err(e),
                },
            };
            match done {
                Ok(frames) => {
                    counted.runs.fetch_add(1, Ordering::Relaxed);
                    counted.frames.fetch_add(frames, Ordering::Relaxed);
                }
                // Retried at the next tick on a new connection; the WAL only grows meanwhile.
                Err(e) => {
                    tracing::warn!(error = %e, "WAL checkpoint failed");
                    connection = None;
                }
            }
        }
        if let Some(conn) = connection {
            // Closed within a tick of the pool: whichever connection closes last checkpoints
            // the WAL away, as SQLite does for its last connection.
            let _ = conn.close().await;
        }
    });
    count
}

/// One PASSIVE checkpoint: copies what no reader still needs and answers how many frames.
async fn checkpoint(conn: &mut AnyConnection) -> Result<u64, sqlx::Error> {
    let (_busy, _log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(&mut *conn)
        .await?;
    Ok(u64::try_from(copied).unwrap_or(0))
}
