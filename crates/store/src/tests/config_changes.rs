//! Configuration change requests: stored with their diff and author, settled once.

use slipway_core::governance::config_change::{ChangeState, SubjectKind};

use super::*;

#[tokio::test]
async fn a_config_change_is_stored_pending_and_settles_once() {
    on_both_backends(|store| async move {
        let base = json!({ "protected": true });
        let desired = json!({ "protected": false });
        let details = ["protected: true → false".to_string()];
        let reasons = ["it removes the protection of PROD".to_string()];
        let mut tx = store.write().await.unwrap();
        let id = tx
            .insert_config_change(NewConfigChange {
                subject: "environment/PROD",
                kind: SubjectKind::Environment,
                base: Some(&base),
                desired: &desired,
                details: &details,
                reasons: &reasons,
                author: "otto",
            })
            .await
            .unwrap();
        assert_eq!(id, 1);
        assert_eq!(
            tx.pending_config_changes("environment/PROD")
                .await
                .unwrap()
                .len(),
            1
        );
        tx.audit(entry("config_change.request", "config-change/1"));
        tx.commit().await.unwrap();
        let stored = store.config_change(1).await.unwrap().unwrap();
        assert_eq!(stored.state, ChangeState::Pending);
        assert_eq!(stored.base, Some(base));
        assert_eq!(stored.desired, desired);
        assert_eq!(stored.details, details);
        assert_eq!(stored.author, "otto");
        assert_eq!(store.config_changes(true).await.unwrap().len(), 1);

        let mut tx = store.write().await.unwrap();
        assert!(tx
            .settle_config_change(1, ChangeState::Applied, "ada", "looks right")
            .await
            .unwrap());
        // Settled once: a second decision finds nothing pending.
        assert!(!tx
            .settle_config_change(1, ChangeState::Rejected, "ada", "")
            .await
            .unwrap());
        tx.audit(entry("config_change.decide", "config-change/1"));
        tx.commit().await.unwrap();
        let stored = store.config_change(1).await.unwrap().unwrap();
        assert_eq!(stored.state, ChangeState::Applied);
        assert_eq!(stored.decided_by.as_deref(), Some("ada"));
        assert!(store.config_changes(true).await.unwrap().is_empty());
        assert_eq!(store.config_changes(false).await.unwrap().len(), 1);
    })
    .await;
}
