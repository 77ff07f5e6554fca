//! Webhooks and their deliveries, queued in the same transaction as the events that raise them.

use slipway_core::notify::DeliveryState;
use slipway_core::page::PageSize;

use super::*;

fn hook(name: &str, events: &[&str], project: Option<&str>) -> Webhook {
    Webhook {
        name: name.into(),
        url: format!("http://127.0.0.1:9/{name}"),
        events: events.iter().map(|e| e.to_string()).collect(),
        project: project.map(str::to_string),
        created_by: "alice".into(),
        created_at: crate::current_time(),
        held_by: None,
    }
}

fn deploy_event(project: &str) -> AuditEntry {
    AuditEntry {
        actor: "alice".into(),
        verb: "deployment.deploy".into(),
        subject: "deployment/1".into(),
        details: json!({ "project": project, "release": "1.0.0", "environment": "DEV" }),
    }
}

#[tokio::test]
async fn deliveries_are_queued_with_the_events_that_raise_them_and_only_if_committed() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.insert_webhook(&hook("all", &["*"], None), "sealed-1")
            .await
            .unwrap();
        tx.insert_webhook(
            &hook("pets-starts", &["deployment.started"], Some("pets")),
            "sealed-2",
        )
        .await
        .unwrap();
        tx.audit(entry("webhook.add", "webhook/all"));
        tx.commit().await.unwrap();
        assert!(store
            .deliveries(None, None, PageSize::at_most(50))
            .await
            .unwrap()
            .items
            .is_empty());

        // A change that is rolled back notifies nobody.
        let mut tx = store.write().await.unwrap();
        tx.audit(deploy_event("pets"));
        drop(tx);
        assert!(store
            .deliveries(None, None, PageSize::at_most(50))
            .await
            .unwrap()
            .items
            .is_empty());

        let mut tx = store.write().await.unwrap();
        tx.audit(deploy_event("pets"));
        tx.audit(deploy_event("shop"));
        tx.audit(entry("environment.put", "environment/DEV"));
        let events = tx.commit().await.unwrap();
        let queued = store
            .deliveries(None, None, PageSize::at_most(50))
            .await
            .unwrap()
            .items;
        let mut seen: Vec<(String, i64)> = queued
            .iter()
            .map(|d| (d.webhook.clone(), d.audit_seq))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                ("all".to_string(), events[0].seq),
                ("all".to_string(), events[1].seq),
                ("pets-starts".to_string(), events[0].seq),
            ]
        );
        assert!(queued.iter().all(|d| d.state == DeliveryState::Pending
            && d.event == "deployment.started"
            && d.attempts == 0));

        // The worker claims what is due once; a claimed delivery waits for its lease.
        let far = "9999-01-01T00:00:00.000000Z";
        let due = store.claim_due_deliveries(&now(), far, 10).await.unwrap();
        assert_eq!(due.len(), 3);
        assert!(store
            .claim_due_deliveries(&now(), far, 10)
            .await
            .unwrap()
            .is_empty());
        let first = due.iter().find(|d| d.webhook == "all").unwrap();
        let body: serde_json::Value = serde_json::from_str(&first.payload).unwrap();
        assert_eq!(body["id"], first.id);
        assert_eq!(body["event"], "deployment.started");
        assert_eq!(body["data"]["release"], "1.0.0");
        assert_eq!(first.secret_sealed, "sealed-1");

        let attempt = |n: i64, status: Option<i64>| DeliveryAttempt {
            attempt: n,
            at: crate::current_time(),
            status,
            error: status.is_none().then(|| "connection refused".to_string()),
            duration_ms: 3,
        };
        let retry_at = now();
        assert!(store
            .record_delivery_attempt(
                first,
                &attempt(1, Some(500)),
                DeliveryState::Pending,
                Some(&retry_at),
            )
            .await
            .unwrap());
        let again = store.claim_due_deliveries(&now(), far, 10).await.unwrap();
        assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [first.id]);
        assert_eq!(again[0].attempts, 1);
        assert!(store
            .record_delivery_attempt(
                &again[0],
                &attempt(2, Some(200)),
                DeliveryState::Delivered,
                None,
            )
            .await
            .unwrap());
        let log = store
            .deliveries(Some("all"), None, PageSize::at_most(50))
            .await
            .unwrap()
            .items;
        let done = log.iter().find(|d| d.id == first.id).unwrap();
        assert_eq!(done.state, DeliveryState::Delivered);
        assert_eq!(done.attempts, 2);
        assert_eq!(done.last_status, Some(200));
        assert!(done.finished_at.is_some());
        assert_eq!(
            done.attempt_log
                .iter()
                .map(|a| a.status)
                .collect::<Vec<_>>(),
            [Some(500), Some(200)]
        );

        // Removing a webhook settles what it still had pending.
        let mut tx = store.write().await.unwrap();
        assert!(tx.remove_webhook("pets-starts").await.unwrap());
        assert!(!tx.remove_webhook("pets-starts").await.unwrap());
        tx.audit(entry("webhook.remove", "webhook/pets-starts"));
        tx.commit().await.unwrap();
        let gone = store
            .deliveries(Some("pets-starts"), None, PageSize::at_most(50))
            .await
            .unwrap()
            .items;
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].state, DeliveryState::Failed);
        assert_eq!(
            gone[0].last_error.as_deref(),
            Some("the webhook was removed")
        );
        assert_eq!(
            store
                .webhooks()
                .await
                .unwrap()
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>(),
            ["all"]
        );
        let mut tx = store.write().await.unwrap();
        let dup = tx.insert_webhook(&hook("all", &["*"], None), "x").await;
        assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
    })
    .await;
}

#[tokio::test]
async fn a_worker_whose_claim_ran_out_records_nothing_and_the_next_claim_sends_it() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.insert_webhook(&hook("all", &["*"], None), "sealed-1")
            .await
            .unwrap();
        tx.audit(deploy_event("pets"));
        tx.commit().await.unwrap();
        // The first worker claims it with a claim that has already run out (it paused).
        let first = store
            .claim_due_deliveries(&now(), &now(), 10)
            .await
            .unwrap();
        assert_eq!(first.len(), 1);
        let far = "9999-01-01T00:00:00.000000Z";
        let second = store.claim_due_deliveries(&now(), far, 10).await.unwrap();
        assert_eq!(second.len(), 1, "a claim that ran out is claimed again");
        let attempt = |status: i64| DeliveryAttempt {
            attempt: 1,
            at: crate::current_time(),
            status: Some(status),
            error: None,
            duration_ms: 3,
        };
        // The paused worker wakes up: its outcome is not recorded over the new claim.
        let stale = store
            .record_delivery_attempt(&first[0], &attempt(500), DeliveryState::Failed, None)
            .await
            .unwrap();
        assert!(!stale);
        let log = store
            .deliveries(Some("all"), None, PageSize::at_most(50))
            .await
            .unwrap()
            .items;
        assert_eq!(log[0].state, DeliveryState::Pending);
        assert!(log[0].attempt_log.is_empty(), "{:?}", log[0].attempt_log);
        assert!(store
            .record_delivery_attempt(&second[0], &attempt(200), DeliveryState::Delivered, None)
            .await
            .unwrap());
        let log = store
            .deliveries(Some("all"), None, PageSize::at_most(50))
            .await
            .unwrap()
            .items;
        assert_eq!(log[0].state, DeliveryState::Delivered);
        assert_eq!(log[0].last_status, Some(200));
    })
    .await;
}

#[tokio::test]
async fn a_held_webhook_is_sent_nothing_until_released_and_a_rejected_one_is_dropped() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        let held = Webhook {
            held_by: Some(7),
            ..hook("itsm", &["*"], None)
        };
        tx.insert_webhook(&held, "sealed-itsm").await.unwrap();
        tx.insert_webhook(&hook("in-force", &["*"], None), "sealed-2")
            .await
            .unwrap();
        tx.audit(entry("webhook.add", "webhook/itsm"));
        tx.commit().await.unwrap();
        let key = store.webhook_callback_key("itsm").await.unwrap().unwrap();
        assert_eq!(
            (key.held_by, key.secret_sealed.as_str()),
            (Some(7), "sealed-itsm")
        );

        let mut tx = store.write().await.unwrap();
        tx.audit(deploy_event("pets"));
        tx.commit().await.unwrap();
        let to: Vec<String> = store
            .deliveries(None, None, PageSize::at_most(50))
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|d| d.webhook)
            .collect();
        assert_eq!(to, ["in-force"], "the held webhook receives nothing");

        // Another request's id releases nothing; its own does.
        let mut tx = store.write().await.unwrap();
        assert!(!tx.release_webhook("itsm", 8).await.unwrap());
        assert!(tx.release_webhook("itsm", 7).await.unwrap());
        tx.audit(deploy_event("pets"));
        tx.commit().await.unwrap();
        assert_eq!(
            store
                .webhook_callback_key("itsm")
                .await
                .unwrap()
                .unwrap()
                .held_by,
            None
        );
        assert!(store
            .deliveries(Some("itsm"), None, PageSize::at_most(50))
            .await
            .unwrap()
            .items
            .iter()
            .any(|d| d.event == "deployment.started"));

        // A rejected request drops its held webhook, and only a held one.
        let mut tx = store.write().await.unwrap();
        assert!(!tx.drop_held_webhook("itsm", 7).await.unwrap());
        tx.insert_webhook(
            &Webhook {
                held_by: Some(9),
                ..hook("second", &["*"], None)
            },
            "sealed-3",
        )
        .await
        .unwrap();
        assert!(tx.drop_held_webhook("second", 9).await.unwrap());
        tx.audit(entry("config_change.reject", "config-change/9"));
        tx.commit().await.unwrap();
        assert!(store
            .webhook_callback_key("second")
            .await
            .unwrap()
            .is_none());
        assert!(store.webhook_callback_key("itsm").await.unwrap().is_some());
    })
    .await;
}

/// Walk every page of the delivery log (of one webhook or all) `size` at a time: the ids read
/// and, for each, how many attempts it came with.
async fn walk_deliveries(store: &Store, webhook: Option<&str>, size: u32) -> Vec<(i64, usize)> {
    let (mut seen, mut before) = (Vec::new(), None);
    loop {
        let page = store
            .deliveries(webhook, before, PageSize::at_most(size))
            .await
            .unwrap();
        assert!(page.items.len() <= size as usize);
        seen.extend(page.items.iter().map(|d| (d.id, d.attempt_log.len())));
        if !page.more {
            return seen;
        }
        before = page.items.last().map(|d| d.id);
        assert!(seen.len() <= 100, "pages never end");
    }
}

/// The delivery log pages newest first by id, each delivery exactly once, of one webhook or
/// all; a page of one webhook carries the attempts of its own deliveries only.
#[tokio::test]
async fn delivery_pages_hold_each_delivery_once_newest_first_with_their_own_attempts() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        tx.insert_webhook(&hook("all", &["*"], None), "sealed-1")
            .await
            .unwrap();
        tx.insert_webhook(
            &hook("pets-starts", &["deployment.started"], Some("pets")),
            "sealed-2",
        )
        .await
        .unwrap();
        tx.audit(entry("webhook.add", "webhook/all"));
        tx.commit().await.unwrap();
        for project in ["pets", "shop", "pets", "shop", "pets"] {
            let mut tx = store.write().await.unwrap();
            tx.audit(deploy_event(project));
            tx.commit().await.unwrap();
        }
        // Every delivery of `all` is tried once (they lie between those of pets-starts).
        let far = "9999-01-01T00:00:00.000000Z";
        for d in store.claim_due_deliveries(&now(), far, 50).await.unwrap() {
            if d.webhook == "all" {
                let tried = DeliveryAttempt {
                    attempt: 1,
                    at: crate::current_time(),
                    status: Some(500),
                    error: None,
                    duration_ms: 3,
                };
                store
                    .record_delivery_attempt(&d, &tried, DeliveryState::Pending, None)
                    .await
                    .unwrap();
            }
        }
        let every = walk_deliveries(&store, None, 500).await;
        assert_eq!(every.len(), 8, "5 to all, 3 to pets-starts");
        assert!(every.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
        let of_pets = walk_deliveries(&store, Some("pets-starts"), 500).await;
        assert_eq!(of_pets.len(), 3);
        assert!(of_pets.iter().all(|(_, attempts)| *attempts == 0));
        for size in [1, 2, 3, 7, 8, 9] {
            assert_eq!(
                walk_deliveries(&store, None, size).await,
                every,
                "size {size}"
            );
            assert_eq!(
                walk_deliveries(&store, Some("pets-starts"), size).await,
                of_pets,
                "pets-starts, size {size}"
            );
        }
    })
    .await;
}
