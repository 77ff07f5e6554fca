//! SQLite commits leave the WAL checkpoint to the background task (`wal`): no connection
//! checkpoints on commit, and the task copies the WAL back while writes go on.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::*;

#[tokio::test]
async fn sqlite_commits_leave_the_wal_checkpoint_to_the_background_task() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("slipway.db"))
        .await
        .unwrap();
    let (auto,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(auto, 0, "a commit must not checkpoint");
    let count = store
        .wal_checkpoints
        .clone()
        .expect("a SQLite store runs a checkpointer");
    sqlx::query("CREATE TABLE filler (n BIGINT, text TEXT)")
        .execute(&store.pool)
        .await
        .unwrap();
    let page = "x".repeat(4000);
    for n in 0..300_i64 {
        sqlx::query("INSERT INTO filler (n, text) VALUES ($1, $2)")
            .bind(n)
            .bind(&page)
            .execute(&store.pool)
            .await
            .unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count.frames.load(Ordering::Relaxed) < 300 {
        assert!(
            std::time::Instant::now() < deadline,
            "the checkpointer copied {} frames in 10 s ({} runs)",
            count.frames.load(Ordering::Relaxed),
            count.runs.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    store.close().await;
}

#[tokio::test]
async fn postgres_runs_no_wal_checkpointer() {
    if let Some(url) = fresh_postgres_database().await {
        let pg = Store::open(&url).await.unwrap();
        assert!(pg.wal_checkpoints.is_none());
        pg.close().await;
        drop_postgres_database(&url).await;
    }
}
