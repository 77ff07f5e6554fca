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

/// Requests page newest first by id, each exactly once, pending only when asked.
#[tokio::test]
async fn config_change_pages_hold_each_request_once_newest_first() {
    use slipway_core::page::PageSize;
    on_both_backends(|store| async move {
        let desired = json!({ "protected": false });
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..6 {
            let subject = format!("environment/E{i}");
            ids.push(
                tx.insert_config_change(NewConfigChange {
                    subject: &subject,
                    kind: SubjectKind::Environment,
                    base: None,
                    desired: &desired,
                    details: &[],
                    reasons: &[],
                    author: "otto",
                })
                .await
                .unwrap(),
            );
        }
        for settled in [ids[0], ids[3]] {
            tx.settle_config_change(settled, ChangeState::Applied, "ada", "")
                .await
                .unwrap();
        }
        tx.audit(entry("config_change.request", "config-change/1"));
        tx.commit().await.unwrap();
        for (selection, expected) in [
            (
                ChangeSelection::All,
                ids.iter().rev().copied().collect::<Vec<_>>(),
            ),
            (
                ChangeSelection::Pending,
                vec![ids[5], ids[4], ids[2], ids[1]],
            ),
            (ChangeSelection::Decided, vec![ids[3], ids[0]]),
        ] {
            for size in [1, 2, 4, 6, 500] {
                let (mut seen, mut before) = (Vec::new(), None);
                loop {
                    let page = store
                        .config_changes_page(selection, before, PageSize::at_most(size))
                        .await
                        .unwrap();
                    seen.extend(page.items.iter().map(|c| c.id));
                    if !page.more {
                        break;
                    }
                    before = page.items.last().map(|c| c.id);
                    assert!(seen.len() <= 6, "pages never end");
                }
                assert_eq!(seen, expected, "{selection:?}, size {size}");
            }
        }
    })
    .await;
}
