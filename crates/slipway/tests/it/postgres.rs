//! The same server, on PostgreSQL over a real connection.

use crate::support::*;

#[test]
fn the_server_runs_on_postgresql_with_the_same_behaviour() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    {
        let server = Server::start_with(Some(&url));
        ok(server.apply(PETS));
        assert!(ok(server.apply(PETS)).contains("no change"));
        let secret = "pg-secret-value-42";
        ok(server.cli_with_stdin(
            None,
            &[
                "variable",
                "set",
                "--project",
                "pets",
                "--name",
                "DB_PASSWORD",
                "--env",
                "PROD-EU",
                "--sensitive",
            ],
            secret,
        ));
        assert!(!ok(server.cli(
            None,
            &["variable", "list", "--project", "pets", "-o", "json"]
        ))
        .contains(secret));
        assert!(ok(server.cli(None, &["audit", "verify"])).contains("audit chain intact"));
        rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            sqlx::query("UPDATE audit_events SET verb = 'project.nothing' WHERE seq = 8")
                .execute(&mut conn)
                .await
                .unwrap();
        });
        let out = server.cli(None, &["audit", "verify"]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("sequence 8"), "{}", stderr(&out));
    }
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}
