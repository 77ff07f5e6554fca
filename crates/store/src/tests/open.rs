//! Opening a database: each migration runs once, and a database URL never shows its password.

use super::*;

#[tokio::test]
async fn migrations_run_once_and_reopen_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slipway.db");
    let store = Store::open_sqlite(&path).await.unwrap();
    put_env(&store, &env("DEV", 0, false)).await;
    store.close().await;
    let again = Store::open_sqlite(&path).await.unwrap();
    assert_eq!(again.environments().await.unwrap().len(), 1);
    // Each migration exactly once.
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM schema_migrations")
        .fetch_one(&again.pool)
        .await
        .unwrap();
    assert_eq!(n, crate::migrations::MIGRATIONS.len() as i64);
}

#[test]
fn passwords_never_show_in_database_urls() {
    assert_eq!(
        redact("postgres://slipway:s3cret@db:5432/slipway"),
        "postgres://slipway:***@db:5432/slipway"
    );
    assert_eq!(
        redact("sqlite:///var/lib/slipway/slipway.db"),
        "sqlite:///var/lib/slipway/slipway.db"
    );
}
