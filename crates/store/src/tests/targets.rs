//! Targets and their agents' credentials, read through the store's short-lived cache.

use serde_json::json;
use slipway_core::deploy::target::TargetStatus;

use super::*;

fn enrolled(name: &str) -> Target {
    Target {
        name: name.to_string(),
        environment: None,
        roles: vec!["web".to_string()],
        facts: json!({ "os": "linux" }),
        status: TargetStatus::Enrolled,
        created_at: current_time(),
        last_seen_at: None,
        revoked_at: None,
    }
}

async fn enroll(store: &Store, t: &Target, hash: &str) {
    let mut tx = store.write().await.unwrap();
    tx.enroll_target(t, hash).await.unwrap();
    tx.audit(entry("target.enroll", &format!("target/{}", t.name)));
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_revoked_credential_stops_working_at_once_though_it_was_just_read() {
    on_both_backends(|store| async move {
        enroll(&store, &enrolled("web-1"), "hash-1").await;
        // Read twice: the second answer comes from the cache.
        for _ in 0..2 {
            let t = store.target_by_credential("hash-1").await.unwrap();
            assert_eq!(t.map(|t| t.name).as_deref(), Some("web-1"));
        }
        // A revocation that rolls back changes nothing.
        let mut tx = store.write().await.unwrap();
        assert!(tx.revoke_target("web-1").await.unwrap());
        drop(tx);
        assert!(store
            .target_by_credential("hash-1")
            .await
            .unwrap()
            .is_some());

        let mut tx = store.write().await.unwrap();
        assert!(tx.revoke_target("web-1").await.unwrap());
        tx.audit(entry("target.revoke", "target/web-1"));
        tx.commit().await.unwrap();
        assert_eq!(store.target_by_credential("hash-1").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_new_enrolment_retires_the_old_credential_and_liveness_shows_in_the_cached_target() {
    on_both_backends(|store| async move {
        let t = enrolled("web-2");
        enroll(&store, &t, "old-hash").await;
        assert!(store
            .target_by_credential("old-hash")
            .await
            .unwrap()
            .is_some());
        store.touch_target("web-2").await.unwrap();
        store
            .set_target_telemetry("web-2", &json!({ "os": "linux", "free_disk_mb": 5 }))
            .await
            .unwrap();
        let cached = store
            .target_by_credential("old-hash")
            .await
            .unwrap()
            .unwrap();
        let stored = store
            .targets()
            .await
            .unwrap()
            .into_iter()
            .find(|s| s.name == "web-2")
            .unwrap();
        assert_eq!(cached, stored);
        assert!(cached.last_seen_at.is_some());

        enroll(&store, &t, "new-hash").await;
        assert_eq!(store.target_by_credential("old-hash").await.unwrap(), None);
        assert!(store
            .target_by_credential("new-hash")
            .await
            .unwrap()
            .is_some());
    })
    .await;
}
