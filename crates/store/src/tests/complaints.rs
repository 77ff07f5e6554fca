//! The complaints register's rows: a complaint with its attribution written and read back, its
//! life changed, listed with filters, and counted for DORA only when attributed to the asked
//! environments and received in the period; the deployment history attribution reads.

use jiff::{SignedDuration, Timestamp};
use slipway_core::complaints::{NewComplaint, Severity, Status};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};
use slipway_core::insights::attribution::Running;
use slipway_core::page::PageSize;

use super::vault::n;
use super::*;

fn complaint(
    environment: Option<&str>,
    severity: Severity,
    received_at: Timestamp,
) -> NewComplaint {
    NewComplaint {
        received_at,
        customer: "=cmd|' /C calc'!A0".into(),
        site: "Lyon".into(),
        environment: environment.map(|e| Name::parse(e).unwrap()),
        reported_version: None,
        severity,
        category: "outage".into(),
        description: "stops at night".into(),
        links: vec!["https://t.example/1".into()],
        capa: None,
    }
}

#[tokio::test]
async fn a_complaint_keeps_its_attribution_and_its_life_on_both_backends() {
    on_both_backends(|store| async move {
        let now = current_time();
        let mut tx = store.write().await.unwrap();
        let deployed = tx
            .insert_deployment(&StoredDeployment {
                id: 0,
                project: "pets".into(),
                release_version: "1.0.0".into(),
                environment: "PROD".into(),
                kind: DeploymentKind::Deploy,
                rollback_of: None,
                state: DeploymentState::Succeeded,
                phase: Phase::Forward,
                runs: Vec::new().into(),
                rollback_runs: Vec::new().into(),
                requested_by: "alice".into(),
                created_at: now - SignedDuration::from_hours(2),
                finished_at: Some(now - SignedDuration::from_hours(1)),
                failure: None,
            })
            .await
            .unwrap();
        let running = Running {
            deployment: deployed,
            release: "1.0.0".into(),
            reinstated_by: None,
        };
        let p1 = complaint(
            Some("PROD"),
            Severity::P1,
            now - SignedDuration::from_mins(30),
        );
        let p3 = complaint(None, Severity::P3, now - SignedDuration::from_mins(10));
        let first = tx
            .insert_complaint(&NewComplaintRow {
                project: "pets",
                complaint: &p1,
                running: Some(&running),
                actor: "alice",
                at: now,
            })
            .await
            .unwrap();
        let second = tx
            .insert_complaint(&NewComplaintRow {
                project: "pets",
                complaint: &p3,
                running: None,
                actor: "alice",
                at: now,
            })
            .await
            .unwrap();
        assert_eq!(second, first + 1);
        tx.audit(entry("complaint.recorded", "complaint/pets/1"));
        tx.commit().await.unwrap();

        let history = store.lane_history("pets", "PROD", now).await.unwrap();
        assert_eq!(history.len(), 1);
        assert!(store
            .lane_history("pets", "PROD", now - SignedDuration::from_hours(3))
            .await
            .unwrap()
            .is_empty());

        let stored = store.complaint("pets", first).await.unwrap().unwrap();
        assert_eq!(stored.customer, "=cmd|' /C calc'!A0", "kept as text");
        assert_eq!(stored.deployment_id, Some(deployed));
        assert_eq!(stored.inferred_version.as_deref(), Some("1.0.0"));
        assert_eq!(stored.status, Status::New);
        assert_eq!(stored.links, ["https://t.example/1"]);
        assert!(store.complaint("shop", first).await.unwrap().is_none());

        let resolved_at = now - SignedDuration::from_mins(5);
        let mut tx = store.write().await.unwrap();
        tx.change_complaint(
            first,
            &ComplaintChange {
                status: Status::Resolved,
                capa: Some("CAPA-1"),
                fixed_by_release: Some("1.0.1"),
                links: &stored.links,
                resolved_at: Some(resolved_at),
                closed_at: None,
                at: now,
            },
        )
        .await
        .unwrap();
        tx.audit(entry("complaint.resolved", "complaint/pets/1"));
        tx.commit().await.unwrap();

        let filter = |status: Option<Status>, severity: Option<Severity>| ComplaintFilter {
            project: "pets".into(),
            status,
            severity,
            ..ComplaintFilter::default()
        };
        let ten = PageSize::at_most(10);
        let all = store
            .complaints(&filter(None, None), ten)
            .await
            .unwrap()
            .items;
        assert_eq!(
            all.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![second, first],
            "newest received first"
        );
        let resolved = store
            .complaints(&filter(Some(Status::Resolved), None), ten)
            .await
            .unwrap()
            .items;
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].resolved_at, Some(resolved_at));
        assert_eq!(resolved[0].fixed_by_release.as_deref(), Some("1.0.1"));
        let of_release = store
            .complaints(
                &ComplaintFilter {
                    release: Some("1.0.0".into()),
                    ..filter(None, None)
                },
                ten,
            )
            .await
            .unwrap()
            .items;
        assert_eq!(of_release.len(), 1);

        let counted = store
            .attributed_complaints(
                ProjectSelection {
                    project: Some(&n("pets")),
                    team: None,
                },
                &["PROD".into()],
                now - SignedDuration::from_hours(1),
                now,
            )
            .await
            .unwrap();
        assert_eq!(counted.len(), 1, "only the attributed one");
        assert_eq!(counted[0].deployment_id, deployed);
        assert_eq!(counted[0].resolved_at, Some(resolved_at));
        assert!(store
            .attributed_complaints(
                ProjectSelection {
                    project: Some(&n("pets")),
                    team: None,
                },
                &["DEV".into()],
                now - SignedDuration::from_hours(1),
                now
            )
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            store
                .first_arrival("pets", "1.0.0", &["PROD".into()])
                .await
                .unwrap(),
            Some(now - SignedDuration::from_hours(1))
        );
        assert_eq!(
            store
                .first_arrival("pets", "1.0.0", &["DEV".into()])
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

/// Walk every page of `filter`'s complaints `size` at a time: their ids in the order read.
async fn walk(store: &Store, filter: &ComplaintFilter, size: u32) -> Vec<i64> {
    let (mut seen, mut filter) = (Vec::new(), filter.clone());
    loop {
        let page = store
            .complaints(&filter, PageSize::at_most(size))
            .await
            .unwrap();
        assert!(page.items.len() <= size as usize);
        seen.extend(page.items.iter().map(|c| c.id));
        if !page.more {
            return seen;
        }
        filter.after = page.items.last().map(|c| ComplaintKey {
            received_at: c.received_at,
            id: c.id,
        });
        assert!(seen.len() <= 100, "pages never end");
    }
}

/// Complaints page newest received first, ties by id: an import dated in the past sorts among
/// the old ones, complaints received in the same instant come by id, and every page size and
/// filter walks each complaint exactly once.
#[tokio::test]
async fn complaint_pages_hold_each_complaint_once_newest_received_first_within_the_filters() {
    on_both_backends(|store| async move {
        let at = |minute: i64| -> Timestamp {
            "2026-11-20T08:00:00Z".parse::<Timestamp>().unwrap() + SignedDuration::from_mins(minute)
        };
        // Recorded in this order; received at these minutes (two pairs share an instant).
        let received = [50, 10, 30, 30, 5, 50, 40, 20];
        let mut tx = store.write().await.unwrap();
        let mut ids = Vec::new();
        for (i, minute) in received.iter().enumerate() {
            let severity = if i % 2 == 0 {
                Severity::P1
            } else {
                Severity::P3
            };
            let c = complaint(Some("PROD"), severity, at(*minute));
            ids.push(
                tx.insert_complaint(&NewComplaintRow {
                    project: "pets",
                    complaint: &c,
                    running: None,
                    actor: "alice",
                    at: at(60),
                })
                .await
                .unwrap(),
            );
        }
        let other = complaint(None, Severity::P1, at(45));
        tx.insert_complaint(&NewComplaintRow {
            project: "shop",
            complaint: &other,
            running: None,
            actor: "alice",
            at: at(60),
        })
        .await
        .unwrap();
        tx.audit(entry("complaint.recorded", "complaint/pets/1"));
        tx.commit().await.unwrap();

        let mut expected: Vec<(i64, i64)> = received.iter().copied().zip(ids.clone()).collect();
        expected.sort_by(|a, b| b.cmp(a));
        let newest_first: Vec<i64> = expected.iter().map(|(_, id)| *id).collect();
        let p1: Vec<i64> = newest_first
            .iter()
            .copied()
            .filter(|id| ids.iter().position(|i| i == id).unwrap() % 2 == 0)
            .collect();
        let all = ComplaintFilter {
            project: "pets".into(),
            ..ComplaintFilter::default()
        };
        let only_p1 = ComplaintFilter {
            severity: Some(Severity::P1),
            ..all.clone()
        };
        for size in [1, 2, 3, 7, 8, 9, 500] {
            assert_eq!(walk(&store, &all, size).await, newest_first, "size {size}");
            assert_eq!(walk(&store, &only_p1, size).await, p1, "P1, size {size}");
        }
        // After the last complaint: an empty page, the end.
        let last = *expected.last().unwrap();
        let after_last = store
            .complaints(
                &ComplaintFilter {
                    after: Some(ComplaintKey {
                        received_at: at(last.0),
                        id: last.1,
                    }),
                    ..all.clone()
                },
                PageSize::default(),
            )
            .await
            .unwrap();
        assert!(after_last.items.is_empty() && !after_last.more);
    })
    .await;
}
