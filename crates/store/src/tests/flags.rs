//! Feature flags: a flag and its state per environment, read in one query for the Unleash
//! client API, whose revision moves with every write; tokens found by their hash; SDK counts
//! added up.

use slipway_core::flags::{FlagKind, FlagState, TokenKind};

use super::*;

#[tokio::test]
async fn flag_states_read_back_and_every_write_moves_the_revision() {
    on_both_backends(|store| async move {
        let empty = store.flags_revision("shop", "DEV").await.unwrap();
        let mut tx = store.write().await.unwrap();
        tx.put_flag("shop", "payments", FlagKind::KillSwitch, "PSP")
            .await
            .unwrap();
        tx.put_flag("shop", "search", FlagKind::Release, "")
            .await
            .unwrap();
        let on = FlagState {
            enabled: true,
            ..Default::default()
        };
        tx.put_flag_state("shop", "payments", "DEV", &on, "otto")
            .await
            .unwrap();
        tx.audit(entry("flag.state", "flag/shop/payments/DEV"));
        tx.commit().await.unwrap();
        let written = store.flags_revision("shop", "DEV").await.unwrap();
        assert_ne!(written, empty);
        let rows = store.flags_in("shop", "DEV").await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0.name, "payments");
        assert_eq!(rows[0].0.kind, FlagKind::KillSwitch);
        assert_eq!(rows[0].1, Some(on.clone()));
        assert_eq!(rows[1].1, None, "never set in DEV");
        assert_eq!(
            store.flag_states("shop", Some("DEV")).await.unwrap().len(),
            1
        );
        assert_eq!(store.flags(None).await.unwrap().len(), 2);

        let mut tx = store.write().await.unwrap();
        tx.put_flag_state("shop", "payments", "DEV", &FlagState::default(), "ada")
            .await
            .unwrap();
        let id = tx
            .insert_flag_token(NewFlagToken {
                project: "shop",
                environment: "DEV",
                kind: TokenKind::Client,
                name: "web",
                secret_hash: "hash-1",
                created_by: "ada",
            })
            .await
            .unwrap();
        tx.audit(entry("flag.off", "flag/shop/payments/DEV"));
        tx.commit().await.unwrap();
        assert_ne!(store.flags_revision("shop", "DEV").await.unwrap(), written);
        assert_eq!(
            store
                .flags_revision("shop", "PROD")
                .await
                .unwrap()
                .split('|')
                .nth(2),
            Some("0")
        );
        let token = store.flag_token_by_hash("hash-1").await.unwrap().unwrap();
        assert_eq!((token.id, token.kind), (id, TokenKind::Client));

        store
            .record_flag_usage("shop", "DEV", "web", &[("payments".into(), 3, 1)])
            .await
            .unwrap();
        store
            .record_flag_usage("shop", "DEV", "web", &[("payments".into(), 2, 0)])
            .await
            .unwrap();
        let usage = store.flag_usage("shop").await.unwrap();
        assert_eq!((usage[0].yes, usage[0].no), (5, 1));
        store
            .record_flag_client("shop", "DEV", "web", "i-1", "unleash-python-sdk:6")
            .await
            .unwrap();
    })
    .await;
}

/// The deployment timeline's flag changes: the state changes of one project (not of a project
/// whose name starts the same, nor a flag's creation), in one environment or all, newest first;
/// a `_` in a name matches itself only.
#[tokio::test]
async fn flag_state_events_select_a_project_and_an_environment_newest_first() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for (verb, subject) in [
            ("flag.create", "flag/shop/payments"),
            ("flag.state", "flag/shop/payments/DEV"),
            ("flag.state", "flag/shop/payments/PROD"),
            ("flag.off", "flag/shop/payments/DEV"),
            ("flag.on", "flag/shop2/payments/DEV"),
            ("flag.on", "flag/s_op/payments/DEV"),
            ("flag.on", "flag/shop/search/PRE_DEV"),
            ("deployment.create", "deployment/shop"),
        ] {
            tx.audit(entry(verb, subject));
        }
        tx.commit().await.unwrap();
        let listed = |project: Option<&'static str>, env: Option<&'static str>, limit| {
            let store = store.clone();
            async move {
                let window = FlagChangeWindow {
                    project,
                    environment: env,
                    ..FlagChangeWindow::default()
                };
                store
                    .flag_state_events(window, limit)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| format!("{} {}", e.verb, e.subject))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            listed(Some("shop"), None, 100).await,
            [
                "flag.on flag/shop/search/PRE_DEV",
                "flag.off flag/shop/payments/DEV",
                "flag.state flag/shop/payments/PROD",
                "flag.state flag/shop/payments/DEV",
            ]
        );
        assert_eq!(
            listed(Some("shop"), Some("DEV"), 100).await,
            [
                "flag.off flag/shop/payments/DEV",
                "flag.state flag/shop/payments/DEV",
            ]
        );
        assert_eq!(
            listed(Some("s_op"), None, 100).await,
            ["flag.on flag/s_op/payments/DEV"]
        );
        assert_eq!(
            listed(None, Some("DEV"), 2).await.len(),
            2,
            "the limit holds"
        );
        assert_eq!(listed(None, None, 100).await.len(), 6);
    })
    .await;
}

/// The Deployments page's stretches of time: windows that meet at a bound hold every change
/// once, a change at a bound belongs to the later window's `from`, and changes at one instant
/// come newest (highest sequence) first.
#[tokio::test]
async fn flag_state_events_in_adjacent_windows_hold_each_change_once() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for i in 0..9 {
            tx.audit(entry("flag.on", &format!("flag/shop/f{i}/DEV")));
        }
        tx.commit().await.unwrap();
        // f0..f2 at T1, f3..f5 at T2, f6..f8 at T3: three changes share each instant.
        for (i, at) in [
            "2026-01-01T00:00:01.000000Z",
            "2026-01-01T00:00:02.000000Z",
            "2026-01-01T00:00:03.000000Z",
        ]
        .iter()
        .enumerate()
        {
            for f in 3 * i..3 * i + 3 {
                sqlx::query("UPDATE audit_events SET at = $1 WHERE subject = $2")
                    .bind(*at)
                    .bind(format!("flag/shop/f{f}/DEV"))
                    .execute(&store.pool)
                    .await
                    .unwrap();
            }
        }
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        let read = |from: Option<&'static str>, until: Option<&'static str>| {
            let store = store.clone();
            async move {
                let window = FlagChangeWindow {
                    project: Some("shop"),
                    environment: None,
                    from: from.map(t),
                    until: until.map(t),
                };
                store
                    .flag_state_events(window, 500)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|e| {
                        e.subject["flag/shop/".len()..e.subject.len() - "/DEV".len()].to_string()
                    })
                    .collect::<Vec<_>>()
            }
        };
        let newest = read(Some("2026-01-01T00:00:03.000000Z"), None).await;
        let middle = read(
            Some("2026-01-01T00:00:02.000000Z"),
            Some("2026-01-01T00:00:03.000000Z"),
        )
        .await;
        let oldest = read(None, Some("2026-01-01T00:00:02.000000Z")).await;
        assert_eq!(newest, ["f8", "f7", "f6"]);
        assert_eq!(middle, ["f5", "f4", "f3"]);
        assert_eq!(oldest, ["f2", "f1", "f0"]);
        assert_eq!(read(None, None).await.len(), 9);
        assert!(read(Some("2026-01-01T00:00:04.000000Z"), None)
            .await
            .is_empty());
    })
    .await;
}
