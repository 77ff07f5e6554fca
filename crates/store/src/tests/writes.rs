//! The write transaction: a write commits only with its audit event, and a dropped one leaves
//! nothing.

use super::*;

#[tokio::test]
async fn a_write_without_an_audit_event_commits_nothing() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.put_environment(&env("DEV", 0, false)).await.unwrap();
        assert!(matches!(tx.commit().await, Err(StoreError::Unaudited)));
        assert!(store.environments().await.unwrap().is_empty());
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(0));
    })
    .await;
}

#[tokio::test]
async fn a_dropped_write_leaves_no_trace() {
    on_both_backends(|store| async move {
        {
            let mut tx = store.write().await.unwrap();
            tx.put_environment(&env("DEV", 0, false)).await.unwrap();
            tx.audit(entry("environment.put", "environment/DEV"));
        }
        assert!(store.environments().await.unwrap().is_empty());
        assert!(store
            .audit_events(&AuditFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .items
            .is_empty());
    })
    .await;
}

/// Half the writers record audited changes, half unaudited telemetry (flag counts, each report
/// naming the flags in another order): every change and every count is there, and the audit
/// chain is one unbroken chain of exactly the audited writes.
#[tokio::test]
async fn unaudited_writes_beside_audited_ones_lose_nothing_and_keep_one_chain() {
    const WRITERS: usize = 8;
    const EACH: i64 = 12;
    on_both_backends(|store| async move {
        let mut writers = Vec::new();
        for w in 0..WRITERS {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..EACH {
                    if w % 2 == 0 {
                        put_env(&store, &env(&format!("E{w}-{i}"), i, false)).await;
                    } else {
                        let mut counts =
                            vec![("alpha".to_string(), 1, 0), ("beta".to_string(), 0, 1)];
                        if i % 2 == 1 {
                            counts.reverse();
                        }
                        store
                            .record_flag_usage("pets", "DEV", "shop", &counts)
                            .await
                            .unwrap();
                    }
                }
            }));
        }
        for writer in writers {
            writer.await.unwrap();
        }
        let audited = (WRITERS as u64 / 2) * EACH as u64;
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(audited));
        assert_eq!(store.environments().await.unwrap().len() as u64, audited);
        let usage = store.flag_usage("pets").await.unwrap();
        let total = |flag: &str| {
            let u = usage.iter().find(|u| u.flag == flag).unwrap();
            (u.yes, u.no)
        };
        let reports = (WRITERS as i64 / 2) * EACH;
        assert_eq!(total("alpha"), (reports, 0));
        assert_eq!(total("beta"), (0, reports));
    })
    .await;
}

/// While an audited write is open, an unaudited one goes ahead on PostgreSQL (row locks
/// suffice) and waits its turn on SQLite (one writer at a time); both commit.
#[tokio::test]
async fn an_unaudited_write_waits_for_the_writer_lock_on_sqlite_only() {
    on_both_backends(|store| async move {
        let mut open = store.write().await.unwrap();
        open.put_environment(&env("DEV", 0, false)).await.unwrap();
        open.audit(entry("environment.put", "environment/DEV"));
        let other = store.clone();
        let mut report = tokio::spawn(async move {
            other
                .record_flag_usage("pets", "DEV", "shop", &[("alpha".to_string(), 1, 0)])
                .await
        });
        match store.backend() {
            Backend::Postgres => {
                let done = tokio::time::timeout(std::time::Duration::from_secs(30), &mut report)
                    .await
                    .expect("an unaudited write on PostgreSQL waited for the audited one");
                done.unwrap().unwrap();
            }
            Backend::Sqlite => {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                assert!(!report.is_finished(), "SQLite took two writers at once");
            }
        }
        open.commit().await.unwrap();
        if !report.is_finished() {
            report.await.unwrap().unwrap();
        }
        assert_eq!(store.flag_usage("pets").await.unwrap()[0].yes, 1);
        assert_eq!(store.verify_audit_chain().await.unwrap(), Ok(1));
    })
    .await;
}
