//! The facts of the DORA metrics: production deployments of a period with their release's
//! labels, and each commit's first successful deployment into each environment.

use jiff::SignedDuration;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};

use super::vault::{n, release};
use super::*;

fn finished(env: &str, version: &str, state: DeploymentState, minutes: i64) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: "pets".into(),
        release_version: version.into(),
        environment: env.into(),
        kind: DeploymentKind::Deploy,
        rollback_of: None,
        state,
        phase: Phase::Forward,
        runs: Vec::new(),
        rollback_runs: Vec::new(),
        requested_by: "alice".into(),
        created_at: current_time(),
        finished_at: Some(current_time() + SignedDuration::from_mins(minutes)),
        failure: None,
    }
}

#[tokio::test]
async fn a_commit_arrives_first_where_its_release_first_succeeded_in_each_environment() {
    on_both_backends(|store| async move {
        let start = current_time() - SignedDuration::from_hours(1);
        release(&store, "1.0.0", &[], "2026-11-01T00:00:00.000000Z").await;
        release(&store, "1.1.0", &[], "2026-11-02T00:00:00.000000Z").await;
        let authored = start - SignedDuration::from_hours(48);
        let mut tx = store.write().await.unwrap();
        let commits = [
            ReleaseCommit {
                hash: "aaa1111".into(),
                authored_at: authored,
            },
            ReleaseCommit {
                hash: "aaa1111".into(),
                authored_at: authored + SignedDuration::from_hours(1),
            },
        ];
        tx.insert_release_commits(&n("pets"), "1.0.0", &commits)
            .await
            .unwrap();
        tx.insert_release_commits(&n("pets"), "1.1.0", &commits[..1])
            .await
            .unwrap();
        let dev = tx
            .insert_deployment(&finished("DEV", "1.0.0", DeploymentState::Succeeded, 1))
            .await
            .unwrap();
        let failed = tx
            .insert_deployment(&finished("PROD", "1.0.0", DeploymentState::Failed, 2))
            .await
            .unwrap();
        let prod = tx
            .insert_deployment(&finished("PROD", "1.1.0", DeploymentState::Succeeded, 3))
            .await
            .unwrap();
        tx.insert_deployment(&finished("PROD", "1.1.0", DeploymentState::Succeeded, 9))
            .await
            .unwrap();
        let mut dry = finished("PROD", "1.1.0", DeploymentState::Succeeded, 1);
        dry.kind = DeploymentKind::DryRun;
        tx.insert_deployment(&dry).await.unwrap();
        tx.audit(entry("deployment.create", "deployment/pets"));
        tx.commit().await.unwrap();

        let production = [n("PROD")];
        let project = n("pets");
        let scope = InsightScope {
            project: Some(&project),
            environments: &production,
            created_from: start,
            created_to: start + SignedDuration::from_hours(2),
        };
        let deployments = store.insight_deployments(&scope).await.unwrap();
        let ids: Vec<i64> = deployments.iter().map(|d| d.id).collect();
        assert_eq!(
            ids,
            vec![failed, prod, prod + 1],
            "dry runs and DEV are left out"
        );
        assert!(deployments.iter().all(|d| !d.hotfix));

        let commits = store
            .insight_commits(&scope, start, start + SignedDuration::from_hours(2))
            .await
            .unwrap();
        assert_eq!(commits.len(), 1);
        let c = &commits[0];
        assert_eq!((c.hash.as_str(), c.authored_at), ("aaa1111", authored));
        let arrivals: Vec<(&str, i64)> = c
            .arrivals
            .iter()
            .map(|a| (a.environment.as_str(), a.deployment))
            .collect();
        assert_eq!(arrivals, vec![("DEV", dev), ("PROD", prod)]);

        // Another project, or a period before, holds nothing.
        let other = n("shop");
        let elsewhere = InsightScope {
            project: Some(&other),
            ..scope.clone()
        };
        assert!(store
            .insight_deployments(&elsewhere)
            .await
            .unwrap()
            .is_empty());
        let before = store
            .insight_commits(&scope, start - SignedDuration::from_hours(5), start)
            .await
            .unwrap();
        assert!(before.is_empty());
        assert_eq!(
            store
                .release_commits(&project, "1.0.0")
                .await
                .unwrap()
                .len(),
            1
        );
    })
    .await;
}
