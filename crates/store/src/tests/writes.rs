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
