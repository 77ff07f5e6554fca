//! The same server, on PostgreSQL over a real connection; and two of them on one database.

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
        server.set_secret("pets", "DB_PASSWORD", Some("PROD-EU"), secret);
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

/// Two server processes on one PostgreSQL database, both writing at once, keep one linear audit
/// chain: every event follows the one before it, no sequence number twice, none missing.
#[test]
fn two_servers_writing_at_once_keep_one_linear_audit_chain() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let Some(url) = rt.block_on(slipway_store::testing::fresh_postgres_database()) else {
        return;
    };
    {
        let first = Server::start_with(Some(&url));
        // The second server shares the database, so it must hold the same master key.
        let key = first.data.path().join("master.key");
        let second = Server::start_with_env(
            Some(&url),
            &[("SLIPWAY_MASTER_KEY_FILE", key.to_str().unwrap())],
        );
        let before = json(first.cli(None, &["audit", "list", "--limit", "500", "-o", "json"]))
            ["items"]
            .as_array()
            .unwrap()
            .len();
        const EACH: usize = 12;
        std::thread::scope(|s| {
            for (server, prefix) in [(&first, "a"), (&second, "b")] {
                s.spawn(move || {
                    for i in 0..EACH {
                        ok(server.cli_with_stdin(
                            None,
                            &[
                                "user",
                                "create",
                                &format!("{prefix}{i}"),
                                "--role",
                                "viewer",
                                "--password-stdin",
                            ],
                            "a long enough passphrase",
                        ));
                    }
                });
            }
        });
        for server in [&first, &second] {
            assert!(ok(server.cli(None, &["audit", "verify"])).contains("audit chain intact"));
        }
        let events = json(second.cli(None, &["audit", "list", "--limit", "500", "-o", "json"]))
            ["items"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(events.len(), before + 2 * EACH, "every write is one event");
        // Newest first: each event's prev_hash is the hash of the one after it in the list.
        for pair in events.windows(2) {
            assert_eq!(
                pair[0]["seq"].as_i64().unwrap(),
                pair[1]["seq"].as_i64().unwrap() + 1,
                "no gap and no repeat: {pair:#?}"
            );
            assert_eq!(pair[0]["prev_hash"], pair[1]["hash"], "{pair:#?}");
        }
        // Both servers' writes are in it (interleaved, in whatever order they committed).
        let created: Vec<&str> = events
            .iter()
            .filter(|e| e["verb"] == "user.create" && e["subject"] != "user/admin")
            .map(|e| e["subject"].as_str().unwrap())
            .collect();
        assert_eq!(created.len(), 2 * EACH, "{created:?}");
        for prefix in ["user/a", "user/b"] {
            assert_eq!(
                created.iter().filter(|s| s.starts_with(prefix)).count(),
                EACH,
                "{created:?}"
            );
        }
    }
    rt.block_on(slipway_store::testing::drop_postgres_database(&url));
}
