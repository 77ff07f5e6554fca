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

/// A multi-row statement's parameters take each database's form: plain `?` on SQLite, numbered
/// on PostgreSQL (where `?` is not a parameter at all).
#[tokio::test]
async fn multi_row_parameters_take_each_databases_form() {
    on_both_backends(|store| async move {
        let mut conn = store.pool.acquire().await.unwrap();
        let backend = store.backend();
        let expected = match backend {
            crate::Backend::Sqlite => "?, ?, ?",
            crate::Backend::Postgres => "$2, $3, $4",
        };
        assert_eq!(backend.positional(2, 3), expected);
        let sql = format!("SELECT {}", backend.positional(1, 3));
        let (a, b, c): (i64, String, i64) = sqlx::query_as(&sql)
            .bind(1_i64)
            .bind("two")
            .bind(3_i64)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!((a, b.as_str(), c), (1, "two", 3));
    })
    .await;
}
