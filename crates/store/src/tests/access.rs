//! Users, API tokens and sessions.

use super::*;

#[tokio::test]
async fn users_are_unique_and_tokens_resolve_until_revoked() {
    on_both_backends(|store| async move {
        let alice = User {
            id: "u1".into(),
            username: "alice".into(),
            role: slipway_core::access::Role::Ops,
            disabled: false,
            created_at: current_time(),
            password_hash: Some("h".into()),
            full_name: None,
        };
        let mut tx = store.write().await.unwrap();
        tx.create_user(&alice).await.unwrap();
        tx.create_api_token("t1", "u1", "ci", "secrethash")
            .await
            .unwrap();
        tx.audit(entry("user.create", "user/alice"));
        tx.commit().await.unwrap();
        let mut tx = store.write().await.unwrap();
        assert!(matches!(
            tx.create_user(&alice).await,
            Err(StoreError::AlreadyExists(_))
        ));
        drop(tx);
        assert_eq!(
            store
                .user_by_token_hash("secrethash")
                .await
                .unwrap()
                .unwrap()
                .username,
            "alice"
        );
        let mut tx = store.write().await.unwrap();
        tx.revoke_api_token("t1").await.unwrap();
        tx.audit(entry("token.revoke", "token/t1"));
        tx.commit().await.unwrap();
        assert_eq!(store.user_by_token_hash("secrethash").await.unwrap(), None);
        assert!(store.api_tokens(Some("u1")).await.unwrap()[0]
            .revoked_at
            .is_some());
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_and_die_with_a_disabled_user() {
    on_both_backends(|store| async move {
        let mut bob = User {
            id: "u2".into(),
            username: "bob".into(),
            role: slipway_core::access::Role::Viewer,
            disabled: false,
            created_at: current_time(),
            password_hash: None,
            full_name: None,
        };
        let mut tx = store.write().await.unwrap();
        tx.create_user(&bob).await.unwrap();
        tx.create_session(
            "live",
            "u2",
            "csrf1",
            "2999-01-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
        tx.create_session(
            "old",
            "u2",
            "csrf2",
            "2000-01-01T00:00:00Z".parse().unwrap(),
        )
        .await
        .unwrap();
        tx.audit(entry("session.create", "user/bob"));
        tx.commit().await.unwrap();
        assert_eq!(store.session("live").await.unwrap().unwrap().csrf, "csrf1");
        assert_eq!(store.session("old").await.unwrap(), None);
        bob.disabled = true;
        let mut tx = store.write().await.unwrap();
        tx.update_user(&bob).await.unwrap();
        tx.audit(entry("user.disable", "user/bob"));
        tx.commit().await.unwrap();
        assert_eq!(store.session("live").await.unwrap(), None);
    })
    .await;
}
