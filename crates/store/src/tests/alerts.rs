//! Alerts: an alert row per key while open, counted, silenced, acknowledged and resolved; its
//! channel deliveries queued in the alert's transaction and claimed once.

use slipway_core::alerts::{AlertContext, AlertStatus, Notice, Severity, Signal, SourceKind};
use slipway_core::notify::DeliveryState;

use super::*;

fn signal(occurrence: &str, silenced: bool) -> Signal {
    Signal {
        key: "batch:DEV/web-1/export:failed".into(),
        source: SourceKind::Batch,
        severity: Severity::Error,
        summary: "batch export failed with exit code 1".into(),
        occurrence: occurrence.into(),
        silenced,
        context: AlertContext {
            project: Some("pets".into()),
            environment: Some("DEV".into()),
            target: Some("web-1".into()),
            customers: vec!["ACME".into()],
            line: Some("error: ******".into()),
            ..AlertContext::default()
        },
    }
}

#[tokio::test]
async fn an_alert_is_counted_acknowledged_resolved_and_its_deliveries_are_claimed_once() {
    on_both_backends(|store| async move {
        let at: jiff::Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut tx = store.write().await.unwrap();
        let alert = tx.insert_alert(&signal("run-1", false), at).await.unwrap();
        let queued = tx
            .queue_alert_deliveries(alert.id, "pets", &["chat", "mail"], Notice::Fired)
            .await
            .unwrap();
        tx.audit(entry("alert.fired", "alert/1"));
        tx.commit().await.unwrap();
        assert_eq!((queued, alert.count, alert.last_notified), (2, 1, Some(at)));
        assert_eq!(alert.context.customers, ["ACME"]);

        let mut tx = store.write().await.unwrap();
        tx.repeat_alert(alert.id, &signal("run-2", false), true, at)
            .await
            .unwrap();
        tx.set_alert_silenced(alert.id, true).await.unwrap();
        tx.acknowledge_alert(alert.id, "olga", at).await.unwrap();
        tx.audit(entry("alert.acknowledged", "alert/1"));
        tx.commit().await.unwrap();
        let open = store.open_alerts().await.unwrap();
        assert_eq!(open.len(), 1);
        let a = &open[0];
        assert_eq!(
            (a.count, a.silenced, a.status, a.acknowledged_by.as_deref()),
            (2, true, AlertStatus::Acknowledged, Some("olga"))
        );

        let now = crate::now();
        let claimed = store
            .claim_due_alert_deliveries(&now, "9999-01-01T00:00:00.000000Z", 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 2);
        let again = store
            .claim_due_alert_deliveries(&now, "9999-01-01T00:00:00.000000Z", 10)
            .await
            .unwrap();
        assert!(again.is_empty(), "a claimed delivery is not claimed twice");
        assert!(store
            .record_alert_delivery(&claimed[0], 1, DeliveryState::Delivered, None, None)
            .await
            .unwrap());
        // A sender whose claim ran out (another claimed it since) records nothing.
        let mut stale = claimed[1].clone();
        stale.next_attempt_at = Some(now.clone());
        assert!(!store
            .record_alert_delivery(&stale, 1, DeliveryState::Failed, None, Some("late"))
            .await
            .unwrap());
        let deliveries = store.alert_deliveries(alert.id).await.unwrap();
        assert_eq!(deliveries[0].state, DeliveryState::Delivered);
        assert_eq!(deliveries[1].state, DeliveryState::Pending);

        let mut tx = store.write().await.unwrap();
        tx.resolve_alert(alert.id, None, at).await.unwrap();
        tx.audit(entry("alert.resolved", "alert/1"));
        tx.commit().await.unwrap();
        assert!(store.open_alerts().await.unwrap().is_empty());
        let listed = store
            .alerts(
                &AlertFilter {
                    status: Some(AlertStatus::Resolved),
                    ..AlertFilter::default()
                },
                slipway_core::page::PageSize::at_most(10),
            )
            .await
            .unwrap();
        assert!(!listed.more);
        let listed = listed.items;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].resolved_by, None, "resolved by itself");
    })
    .await;
}

/// Alerts page newest first by id, each exactly once, the filters applied before the page.
#[tokio::test]
async fn alert_pages_hold_each_alert_once_newest_first_within_the_filters() {
    use slipway_core::page::PageSize;
    on_both_backends(|store| async move {
        let at: jiff::Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for i in 0..7 {
            let mut s = signal(&format!("run-{i}"), false);
            s.key = format!("batch:DEV/web-{i}/export:failed");
            if i % 2 == 1 {
                s.source = SourceKind::Log;
            }
            ids.push(tx.insert_alert(&s, at).await.unwrap().id);
        }
        tx.audit(entry("alert.fired", "alert/1"));
        tx.commit().await.unwrap();
        for (source, expected) in [
            (None, ids.iter().rev().copied().collect::<Vec<_>>()),
            (Some(SourceKind::Log), vec![ids[5], ids[3], ids[1]]),
        ] {
            for size in [1, 2, 3, 7, 500] {
                let (mut seen, mut before) = (Vec::new(), None);
                loop {
                    let page = store
                        .alerts(
                            &AlertFilter {
                                source,
                                before,
                                ..AlertFilter::default()
                            },
                            PageSize::at_most(size),
                        )
                        .await
                        .unwrap();
                    seen.extend(page.items.iter().map(|a| a.id));
                    if !page.more {
                        break;
                    }
                    before = page.items.last().map(|a| a.id);
                    assert!(seen.len() <= 7, "pages never end");
                }
                assert_eq!(seen, expected, "source {source:?}, size {size}");
            }
        }
    })
    .await;
}
