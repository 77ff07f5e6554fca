//! A moving deployment's plan is parsed once and shared, yet a read never answers a plan the
//! row no longer holds: not after a rollback's undo runs are written, not after an edit by
//! hand (another server, an operator), and its entries go once the deployment ends.

use std::sync::Arc;

use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase};

use super::*;

fn run(step: usize, name: &str) -> Run {
    Run {
        step,
        name: name.into(),
        action: slipway_core::plan::Action::Command(slipway_core::plan::CommandParams {
            run: "/bin/true".into(),
            timeout_secs: 10,
            env: Default::default(),
            cwd: None,
            undo: None,
        }),
        batches: vec![vec!["web-01".into()]],
    }
}

fn moving(runs: Vec<Run>) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: "shop".into(),
        release_version: "1.0.0".into(),
        environment: "DEV".into(),
        kind: DeploymentKind::Deploy,
        rollback_of: None,
        state: DeploymentState::Running,
        phase: Phase::Forward,
        runs: runs.into(),
        rollback_runs: Vec::new().into(),
        requested_by: "alice".into(),
        created_at: current_time(),
        finished_at: None,
        failure: None,
    }
}

async fn insert(store: &Store, d: &StoredDeployment) -> i64 {
    let mut tx = store.write().await.unwrap();
    let id = tx.insert_deployment(d).await.unwrap();
    tx.audit(entry("deployment.create", &format!("deployment/{id}")));
    tx.commit().await.unwrap();
    id
}

async fn update(store: &Store, d: &StoredDeployment) {
    let mut tx = store.write().await.unwrap();
    tx.update_deployment(d).await.unwrap();
    tx.audit(entry("deployment.update", &format!("deployment/{}", d.id)));
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_moving_plan_is_parsed_once_and_follows_every_change_of_its_row() {
    on_both_backends(|store| async move {
        let plan: Vec<Run> = (1..=30).map(|i| run(i, &format!("step-{i}"))).collect();
        let id = insert(&store, &moving(plan.clone())).await;

        let first = store.deployment(id).await.unwrap().unwrap();
        let again = store.deployment(id).await.unwrap().unwrap();
        assert_eq!(&*first.runs, &plan[..]);
        assert!(Arc::ptr_eq(&first.runs, &again.runs), "parsed twice");
        // The writers' reads share it too.
        let mut tx = store.write().await.unwrap();
        let in_write = tx.deployment(id).await.unwrap().unwrap();
        drop(tx);
        assert!(Arc::ptr_eq(&first.runs, &in_write.runs));
        let active = store.active_deployments().await.unwrap();
        assert!(Arc::ptr_eq(&first.runs, &active[0].runs));

        // The undo runs written by a rollback are read, not the empty ones kept before.
        let mut rolling = first.clone();
        rolling.state = DeploymentState::RollingBack;
        rolling.phase = Phase::Rollback;
        rolling.rollback_runs = vec![run(1, "Undo 1: step-1")].into();
        update(&store, &rolling).await;
        let read = store.deployment(id).await.unwrap().unwrap();
        assert_eq!(read.rollback_runs, rolling.rollback_runs);
        assert!(Arc::ptr_eq(&first.runs, &read.runs));

        // Edited by hand (or by another server): the new text counts, and bad text is refused.
        sqlx::query("UPDATE deployments SET runs = $1 WHERE id = $2")
            .bind(serde_json::to_string(&[run(1, "only")]).unwrap())
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
        let edited = store.deployment(id).await.unwrap().unwrap();
        assert_eq!(&*edited.runs, &[run(1, "only")][..]);
        sqlx::query("UPDATE deployments SET runs = '[{\"step\": ' WHERE id = $1")
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(matches!(
            store.deployment(id).await,
            Err(StoreError::Corrupt(_))
        ));
        sqlx::query("UPDATE deployments SET runs = $1 WHERE id = $2")
            .bind(serde_json::to_string(&plan).unwrap())
            .bind(id)
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            &*store.deployment(id).await.unwrap().unwrap().runs,
            &plan[..]
        );
        assert_eq!(store.plans.len(), 2);

        // Ended: read as stored, and no longer kept.
        let mut ended = store.deployment(id).await.unwrap().unwrap();
        ended.state = DeploymentState::RolledBack;
        ended.finished_at = Some(current_time());
        update(&store, &ended).await;
        let last = store.deployment(id).await.unwrap().unwrap();
        assert_eq!(&*last.runs, &plan[..]);
        assert_eq!(store.plans.len(), 0);
    })
    .await;
}

#[tokio::test]
async fn the_kept_plans_stay_bounded() {
    on_both_backends(|store| async move {
        let mut tx = store.write().await.unwrap();
        for i in 0..(crate::plans::MAX_PLANS / 2 + 10) {
            let mut d = moving(vec![run(1, &format!("step-{i}"))]);
            d.environment = format!("E{i}");
            tx.insert_deployment(&d).await.unwrap();
        }
        tx.audit(entry("deployment.create", "deployment/many"));
        tx.commit().await.unwrap();
        let all = store.active_deployments().await.unwrap();
        assert_eq!(all.len(), crate::plans::MAX_PLANS / 2 + 10);
        assert!(store.plans.len() <= crate::plans::MAX_PLANS);
        assert_eq!(&*all[3].runs, &[run(1, "step-3")][..]);
    })
    .await;
}

/// A release read one by one (each lease reads its own) has its frozen snapshot parsed once;
/// its text edited by hand is read again, and text that does not parse is refused.
#[tokio::test]
async fn a_release_snapshot_is_parsed_once_and_follows_its_row() {
    on_both_backends(|store| async move {
        super::vault::release_labelled(&store, "1.0.0", &[], "2024-01-01T00:00:00.000000Z").await;
        let name = Name::parse("pets").unwrap();
        let version = slipway_core::release::Version::parse("1.0.0").unwrap();
        let first = store.release(&name, &version).await.unwrap().unwrap();
        let again = store.release(&name, &version).await.unwrap().unwrap();
        assert!(
            Arc::ptr_eq(&first.snapshot, &again.snapshot),
            "parsed twice"
        );

        let mut edited = (*first.snapshot).clone();
        edited.variables.clear();
        edited.project.description = "edited by hand".into();
        sqlx::query(
            "UPDATE releases SET snapshot = $1 WHERE project = 'pets' AND version = '1.0.0'",
        )
        .bind(serde_json::to_string(&edited).unwrap())
        .execute(&store.pool)
        .await
        .unwrap();
        let read = store.release(&name, &version).await.unwrap().unwrap();
        assert_eq!(*read.snapshot, edited);
        sqlx::query("UPDATE releases SET snapshot = '{' WHERE project = 'pets'")
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(matches!(
            store.release(&name, &version).await,
            Err(StoreError::Corrupt(_))
        ));
    })
    .await;
}

#[tokio::test]
async fn projects_are_decoded_once_yet_every_change_of_their_rows_is_read() {
    on_both_backends(|store| async move {
        let mut pets = super::vault::pets();
        let mut toys = super::vault::pets();
        toys.name = super::vault::n("toys");
        let mut tx = store.write().await.unwrap();
        tx.put_project(&pets).await.unwrap();
        tx.put_project(&toys).await.unwrap();
        tx.audit(entry("project.apply", "project/pets"));
        tx.commit().await.unwrap();

        let first = store.projects_shared().await.unwrap();
        let again = store.projects_shared().await.unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!((*first[0]).clone(), pets);
        assert_eq!((*first[1]).clone(), toys);
        assert!(Arc::ptr_eq(&first[0], &again[0]), "decoded twice");
        assert_eq!(
            store.projects().await.unwrap(),
            vec![pets.clone(), toys.clone()]
        );

        // Changed through the store, by hand or by another server: the new text counts.
        pets.description = "changed through the store".into();
        let mut tx = store.write().await.unwrap();
        tx.put_project(&pets).await.unwrap();
        tx.audit(entry("project.apply", "project/pets"));
        tx.commit().await.unwrap();
        let read = store.projects_shared().await.unwrap();
        assert_eq!(*read[0], pets);
        assert!(
            Arc::ptr_eq(&first[1], &read[1]),
            "an unchanged project decoded again"
        );
        let mut by_hand = pets.clone();
        by_hand.description = "edited by hand".into();
        sqlx::query("UPDATE projects SET spec = $1 WHERE name = 'pets'")
            .bind(serde_json::to_string(&by_hand).unwrap())
            .execute(&store.pool)
            .await
            .unwrap();
        assert_eq!(*store.projects_shared().await.unwrap()[0], by_hand);
        sqlx::query("UPDATE projects SET spec = '{' WHERE name = 'pets'")
            .execute(&store.pool)
            .await
            .unwrap();
        assert!(matches!(
            store.projects_shared().await,
            Err(StoreError::Corrupt(_))
        ));

        // A deleted project is neither answered nor kept.
        let mut tx = store.write().await.unwrap();
        assert!(tx.delete_project(&super::vault::n("pets")).await.unwrap());
        tx.audit(entry("project.delete", "project/pets"));
        tx.commit().await.unwrap();
        let left = store.projects_shared().await.unwrap();
        assert_eq!(left.len(), 1);
        assert!(Arc::ptr_eq(&first[1], &left[0]));
        assert_eq!(store.projects.len(), 1);
    })
    .await;
}
