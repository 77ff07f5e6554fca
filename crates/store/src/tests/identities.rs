//! Outside identities (single sign-on) and sessions' sliding end.

use super::*;
use crate::{Identity, OidcRecheckDue, RecheckMark};

fn person(id: &str, name: &str) -> User {
    User {
        id: id.into(),
        username: name.into(),
        role: slipway_core::access::Role::Ops,
        disabled: false,
        created_at: current_time(),
        password_hash: None,
        full_name: Some("Quinn Q.".into()),
    }
}

#[tokio::test]
async fn a_provider_subject_ties_to_one_user_only() {
    on_both_backends(|store| async move {
        let oidc = Identity {
            source: "oidc".into(),
            subject: "https://id.example|u-42".into(),
        };
        let mut tx = store.write().await.unwrap();
        tx.create_user(&person("u1", "quinn")).await.unwrap();
        tx.link_identity("u1", &oidc).await.unwrap();
        tx.audit(entry("user.create", "user/quinn"));
        tx.commit().await.unwrap();
        assert_eq!(store.identity_of("u1").await.unwrap(), Some(oidc.clone()));
        let mut tx = store.write().await.unwrap();
        assert_eq!(
            tx.user_id_by_identity("oidc", &oidc.subject)
                .await
                .unwrap()
                .as_deref(),
            Some("u1")
        );
        assert_eq!(
            tx.user_id_by_identity("ldap", &oidc.subject).await.unwrap(),
            None
        );
        tx.create_user(&person("u2", "other")).await.unwrap();
        assert!(matches!(
            tx.link_identity("u2", &oidc).await,
            Err(StoreError::AlreadyExists(_))
        ));
        drop(tx);
        assert_eq!(store.identity_of("u2").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_used_session_is_extended_but_an_ended_one_stays_ended() {
    on_both_backends(|store| async move {
        let soon = current_time() + jiff::SignedDuration::from_mins(1);
        let later = current_time() + jiff::SignedDuration::from_mins(30);
        let past = current_time() - jiff::SignedDuration::from_mins(1);
        let mut tx = store.write().await.unwrap();
        tx.create_user(&person("u1", "quinn")).await.unwrap();
        tx.create_session("live", "u1", "c1", soon).await.unwrap();
        tx.create_session("dead", "u1", "c2", past).await.unwrap();
        tx.audit(entry("session.login", "user/quinn"));
        tx.commit().await.unwrap();
        store.extend_session("live", later).await.unwrap();
        store.extend_session("dead", later).await.unwrap();
        let live = store.session("live").await.unwrap().unwrap();
        assert_eq!(live.expires_at, later);
        assert!(live.created_at <= current_time());
        assert_eq!(store.session("dead").await.unwrap(), None);
        // Never shortened.
        store.extend_session("live", soon).await.unwrap();
        assert_eq!(
            store.session("live").await.unwrap().unwrap().expires_at,
            later
        );
    })
    .await;
}

#[tokio::test]
async fn a_fresh_authentication_signs_once_and_only_while_fresh() {
    on_both_backends(|store| async move {
        let oidc = Identity {
            source: "oidc".into(),
            subject: "https://id.example|u-7".into(),
        };
        let earlier = current_time() - jiff::SignedDuration::from_mins(10);
        let at = current_time();
        let mut tx = store.write().await.unwrap();
        tx.create_user(&person("u1", "quinn")).await.unwrap();
        tx.link_identity("u1", &oidc).await.unwrap();
        tx.record_fresh_authentication("u1", at).await.unwrap();
        tx.audit(entry("signature.reauthenticated", "user/quinn"));
        tx.commit().await.unwrap();
        assert_eq!(store.fresh_authentication("u1").await.unwrap(), Some(at));
        let mut tx = store.write().await.unwrap();
        let later = current_time() + jiff::SignedDuration::from_mins(1);
        assert!(
            !tx.take_fresh_authentication("u1", later).await.unwrap(),
            "too old"
        );
        assert!(tx.take_fresh_authentication("u1", earlier).await.unwrap());
        assert!(
            !tx.take_fresh_authentication("u1", earlier).await.unwrap(),
            "used once"
        );
        tx.audit(entry("signature.sign", "signature/x"));
        tx.commit().await.unwrap();
        assert_eq!(store.fresh_authentication("u1").await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn a_cli_sign_in_is_approved_once_and_collected_once_with_its_secret_only() {
    on_both_backends(|store| async move {
        let in_ten = current_time() + jiff::SignedDuration::from_mins(10);
        let gone = current_time() - jiff::SignedDuration::from_mins(1);
        let long_ago = current_time() - jiff::SignedDuration::from_hours(48);
        let mut tx = store.write().await.unwrap();
        tx.create_user(&person("u1", "quinn")).await.unwrap();
        for (id, expires_at) in [("live", in_ten), ("ended", gone), ("old", long_ago)] {
            let new = crate::NewCliSignIn {
                id,
                user_code: "BCDF-GHJK",
                poll_hash: "hash-of-secret",
                host: "laptop",
                expires_at,
            };
            tx.create_cli_sign_in(&new, long_ago).await.unwrap();
        }
        tx.audit(entry("cli_sign_in.requested", "cli-sign-in/live"));
        tx.commit().await.unwrap();
        assert_eq!(store.open_cli_sign_ins(current_time()).await.unwrap(), 1);
        assert!(store
            .cli_sign_in_secret_matches("live", "hash-of-secret")
            .await
            .unwrap());
        assert!(!store
            .cli_sign_in_secret_matches("live", "another")
            .await
            .unwrap());

        let mut tx = store.write().await.unwrap();
        // Not approved yet: nothing to collect.
        assert_eq!(
            tx.collect_cli_sign_in("live", "hash-of-secret", current_time())
                .await
                .unwrap(),
            None
        );
        assert!(tx
            .approve_cli_sign_in("live", "u1", current_time())
            .await
            .unwrap());
        assert!(
            !tx.approve_cli_sign_in("live", "u1", current_time())
                .await
                .unwrap(),
            "once"
        );
        assert!(
            !tx.approve_cli_sign_in("ended", "u1", current_time())
                .await
                .unwrap(),
            "expired"
        );
        assert_eq!(
            tx.collect_cli_sign_in("live", "another", current_time())
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            tx.collect_cli_sign_in("live", "hash-of-secret", current_time())
                .await
                .unwrap(),
            Some(("u1".to_string(), "quinn".to_string()))
        );
        assert_eq!(
            tx.collect_cli_sign_in("live", "hash-of-secret", current_time())
                .await
                .unwrap(),
            None,
            "collected once"
        );
        tx.audit(entry("cli_sign_in.approved", "user/quinn"));
        tx.commit().await.unwrap();
        let live = store.cli_sign_in("live").await.unwrap().expect("kept");
        assert!(live.collected);
        assert_eq!(live.user_id.as_deref(), Some("u1"));
        // A request that ended more than a day ago is forgotten at the next request.
        let mut tx = store.write().await.unwrap();
        let next = crate::NewCliSignIn {
            id: "next",
            user_code: "LMNP-QRST",
            poll_hash: "h",
            host: "laptop",
            expires_at: in_ten,
        };
        let day_ago = current_time() - jiff::SignedDuration::from_hours(24);
        tx.create_cli_sign_in(&next, day_ago).await.unwrap();
        tx.audit(entry("cli_sign_in.requested", "cli-sign-in/next"));
        tx.commit().await.unwrap();
        assert_eq!(store.cli_sign_in("old").await.unwrap(), None);
        assert!(store.cli_sign_in("ended").await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn an_oidc_recheck_is_due_only_for_people_with_a_kept_token_and_live_access() {
    on_both_backends(|store| async move {
        let at = |mins: i64| current_time() + jiff::SignedDuration::from_mins(mins);
        let mut tx = store.write().await.unwrap();
        for (id, name) in [
            ("u1", "quinn"),
            ("u2", "vera"),
            ("u3", "lena"),
            ("u4", "otto"),
        ] {
            tx.create_user(&person(id, name)).await.unwrap();
            let source = if id == "u3" { "ldap" } else { "oidc" };
            let identity = Identity {
                source: source.into(),
                subject: format!("https://id.example|{name}"),
            };
            tx.link_identity(id, &identity).await.unwrap();
            tx.create_session(&format!("s-{id}"), id, "c", at(30))
                .await
                .unwrap();
            tx.keep_refresh_token(id, Some(&format!("sealed-{name}")))
                .await
                .unwrap();
        }
        tx.keep_refresh_token("u2", None).await.unwrap();
        tx.audit(entry("session.login", "user/quinn"));
        tx.commit().await.unwrap();
        // Otto's only session has ended: he has no access left to lose.
        sqlx::query("UPDATE sessions SET expires_at = $1 WHERE user_id = 'u4'")
            .bind(format_time(at(-1)))
            .execute(&store.pool)
            .await
            .unwrap();
        // Just checked (at sign-in): not due until the interval has passed.
        assert!(store
            .oidc_rechecks_due(at(-15), at(0), 10)
            .await
            .unwrap()
            .is_empty());
        let due = store.oidc_rechecks_due(at(1), at(0), 10).await.unwrap();
        assert_eq!(
            due,
            vec![OidcRecheckDue {
                user_id: "u1".into(),
                username: "quinn".into(),
                subject: "https://id.example|quinn".into(),
                sealed_refresh_token: "sealed-quinn".into(),
                unreachable_since: None,
            }],
            "Vera has no token, Lena is a directory user, Otto's session ended"
        );
        // A silent provider: recorded quietly, and the token kept.
        let mark = RecheckMark {
            checked_at: at(0),
            sealed_refresh_token: Some("sealed-quinn-2"),
            unreachable_since: Some("2026-12-01T00:00:00Z".parse().unwrap()),
        };
        store.mark_rechecked_quietly("u1", mark).await.unwrap();
        let due = store.oidc_rechecks_due(at(1), at(0), 10).await.unwrap();
        assert_eq!(due[0].sealed_refresh_token, "sealed-quinn-2");
        assert_eq!(
            due[0].unreachable_since,
            Some("2026-12-01T00:00:00Z".parse().unwrap())
        );
        assert!(store
            .oidc_rechecks_due(at(-1), at(0), 10)
            .await
            .unwrap()
            .is_empty());
        // Forgotten (access ended): never due again.
        let mut tx = store.write().await.unwrap();
        let forget = RecheckMark {
            checked_at: at(0),
            sealed_refresh_token: None,
            unreachable_since: None,
        };
        tx.mark_rechecked("u1", forget).await.unwrap();
        tx.audit(entry("user.access_ended", "user/quinn"));
        tx.commit().await.unwrap();
        assert!(store
            .oidc_rechecks_due(at(60), at(0), 10)
            .await
            .unwrap()
            .is_empty());
    })
    .await;
}
