//! The complaints register's rows: a complaint with its attribution written and read back, its
//! life changed, listed with filters, and counted for DORA only when attributed to the asked
//! environments and received in the period; the deployment history attribution reads.

use jiff::{SignedDuration, Timestamp};
use slipway_core::complaints::{NewComplaint, Severity, Status};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};
use slipway_core::insights::attribution::Running;

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
            limit: 10,
            ..ComplaintFilter::default()
        };
        let all = store.complaints(&filter(None, None)).await.unwrap();
        assert_eq!(
            all.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![second, first],
            "newest received first"
        );
        let resolved = store
            .complaints(&filter(Some(Status::Resolved), None))
            .await
            .unwrap();
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].resolved_at, Some(resolved_at));
        assert_eq!(resolved[0].fixed_by_release.as_deref(), Some("1.0.1"));
        let of_release = store
            .complaints(&ComplaintFilter {
                release: Some("1.0.0".into()),
                ..filter(None, None)
            })
            .await
            .unwrap();
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
