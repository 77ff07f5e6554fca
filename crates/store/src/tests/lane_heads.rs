//! The lanes' heads (migration 0057) against the per-cell probes they replace, kept here as
//! the independent computation, over randomised histories: cancels, dry runs, failures after a
//! success, rollbacks that succeed and fail, deployments stored already ended with their tasks
//! after them, several lanes in one write, projects and environments deleted and declared again.

use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase, TaskState};
use sqlx::Row;

use super::*;

/// What the dashboard read before the lanes' heads: three probes per declared project ×
/// declared environment (`current_deployments` and `held_deployments` of session 20).
const PROBES: &str = "SELECT p.name AS project, e.name AS environment, \
     (SELECT d.id FROM deployments d WHERE d.project = p.name AND d.environment = e.name \
      AND d.kind <> 'dry_run' AND d.state <> 'cancelled' ORDER BY d.id DESC LIMIT 1) AS latest, \
     (SELECT d.id FROM deployments d WHERE d.project = p.name AND d.environment = e.name \
      AND d.kind = 'deploy' AND d.state = 'succeeded' ORDER BY d.id DESC LIMIT 1) AS last_success, \
     (SELECT d.id FROM deployments d WHERE d.project = p.name AND d.environment = e.name \
      AND d.kind = 'deploy' AND d.state = 'succeeded' \
      AND EXISTS (SELECT 1 FROM tasks t WHERE t.deployment_id = d.id AND t.phase = 'forward' AND t.state = 'succeeded') \
      AND NOT EXISTS (SELECT 1 FROM deployments r WHERE r.rollback_of = d.id AND r.state = 'succeeded') \
      ORDER BY d.id DESC LIMIT 1) AS held \
     FROM projects p CROSS JOIN environments e";

type Heads = (String, String, Option<i64>, Option<i64>, Option<i64>);

async fn probed(store: &Store) -> Vec<Heads> {
    let rows = sqlx::query(PROBES).fetch_all(&store.pool).await.unwrap();
    let mut out: Vec<Heads> = rows
        .iter()
        .map(|r| {
            (
                r.try_get("project").unwrap(),
                r.try_get("environment").unwrap(),
                r.try_get("latest").unwrap(),
                r.try_get("last_success").unwrap(),
                r.try_get("held").unwrap(),
            )
        })
        .filter(|h: &Heads| h.2.is_some() || h.3.is_some() || h.4.is_some())
        .collect();
    out.sort();
    out
}

async fn read_heads(store: &Store) -> Vec<Heads> {
    let mut out: Vec<Heads> = store
        .lane_heads()
        .await
        .unwrap()
        .into_iter()
        .map(|lane| {
            for d in [&lane.latest, &lane.last_success, &lane.held]
                .into_iter()
                .flatten()
            {
                assert_eq!(
                    (&d.project, &d.environment),
                    (&lane.project, &lane.environment),
                    "a head is a deployment of its own lane"
                );
            }
            let id = |d: &Option<DeploymentHeadline>| d.as_ref().map(|d| d.id);
            (
                lane.project.clone(),
                lane.environment.clone(),
                id(&lane.latest),
                id(&lane.last_success),
                id(&lane.held),
            )
        })
        .collect();
    out.sort();
    out
}

/// A small deterministic generator (xorshift), so that a failing seed replays.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % sides as u64) as usize
    }
}

const PROJECTS: [&str; 3] = ["pets", "shop", "zoo"];
const ENVIRONMENTS: [&str; 3] = ["DEV", "INT", "PROD"];

/// A deployment the history still moves: (id, project, environment, kind, forward task).
type Moving = (i64, String, String, DeploymentKind, String);

fn row(
    project: &str,
    environment: &str,
    kind: DeploymentKind,
    state: DeploymentState,
) -> StoredDeployment {
    StoredDeployment {
        id: 0,
        project: project.into(),
        release_version: "1.0.0".into(),
        environment: environment.into(),
        kind,
        rollback_of: None,
        state,
        phase: Phase::Forward,
        runs: Vec::new().into(),
        rollback_runs: Vec::new().into(),
        requested_by: "alice".into(),
        created_at: current_time(),
        finished_at: None,
        failure: None,
    }
}

fn forward_task(id: &str, deployment_id: i64, state: TaskState) -> StoredTask {
    StoredTask {
        id: id.into(),
        deployment_id,
        phase: Phase::Forward,
        run_index: 0,
        batch_index: 0,
        target: "web-1".into(),
        attempt: 1,
        state,
        leased_until: None,
        started_at: None,
        finished_at: None,
        exit_code: None,
        summary: None,
    }
}

/// One write of the history: a few changes, committed together.
async fn one_write(store: &Store, dice: &mut Dice, moving: &mut Vec<Moving>, tasks: &mut usize) {
    let mut tx = store.write().await.unwrap();
    for _ in 0..1 + dice.roll(3) {
        let project = PROJECTS[dice.roll(PROJECTS.len())];
        let environment = ENVIRONMENTS[dice.roll(ENVIRONMENTS.len())];
        *tasks += 1;
        let task_id = format!("t{tasks}");
        match dice.roll(10) {
            // A deployment starts, its step waiting.
            0..=2 => {
                let kind = if dice.roll(5) == 0 {
                    DeploymentKind::DryRun
                } else {
                    DeploymentKind::Deploy
                };
                let state = if dice.roll(2) == 0 {
                    DeploymentState::Pending
                } else {
                    DeploymentState::Running
                };
                let id = tx
                    .insert_deployment(&row(project, environment, kind, state))
                    .await
                    .unwrap();
                tx.insert_task(&forward_task(&task_id, id, TaskState::Pending))
                    .await
                    .unwrap();
                moving.push((id, project.into(), environment.into(), kind, task_id));
            }
            // A moving deployment ends (or starts rolling back), its step first.
            3..=5 if !moving.is_empty() => {
                let (id, _, _, kind, task) = moving.remove(dice.roll(moving.len()));
                let mut d = tx.deployment(id).await.unwrap().unwrap();
                let (deployment, step) = match (d.state, dice.roll(6)) {
                    (DeploymentState::RollingBack, n) if n < 3 => {
                        (DeploymentState::RolledBack, TaskState::Failed)
                    }
                    (DeploymentState::RollingBack, _) => {
                        (DeploymentState::Failed, TaskState::Failed)
                    }
                    (_, 0 | 1) => (DeploymentState::Succeeded, TaskState::Succeeded),
                    // Succeeded with no step done (all skipped): never what a lane holds.
                    (_, 2) => (DeploymentState::Succeeded, TaskState::Skipped),
                    (_, 3) => (DeploymentState::Failed, TaskState::Failed),
                    (_, 4) => (DeploymentState::Cancelled, TaskState::Cancelled),
                    _ if kind == DeploymentKind::Deploy => {
                        (DeploymentState::RollingBack, TaskState::Failed)
                    }
                    _ => (DeploymentState::Failed, TaskState::Failed),
                };
                let mut t = tx.task(&task).await.unwrap().unwrap();
                t.state = step;
                tx.update_task(&t).await.unwrap();
                d.state = deployment;
                if deployment == DeploymentState::RollingBack {
                    d.phase = Phase::Rollback;
                    moving.push((id, d.project.clone(), d.environment.clone(), kind, task));
                } else {
                    d.finished_at = Some(current_time());
                }
                tx.update_deployment(&d).await.unwrap();
            }
            // A rollback of the lane's last successful deploy.
            6 => {
                let Some(last) = tx
                    .last_successful_deployment(project, environment)
                    .await
                    .unwrap()
                else {
                    continue;
                };
                let mut r = row(
                    project,
                    environment,
                    DeploymentKind::Rollback,
                    DeploymentState::Running,
                );
                r.rollback_of = Some(last.id);
                let id = tx.insert_deployment(&r).await.unwrap();
                tx.insert_task(&forward_task(&task_id, id, TaskState::Pending))
                    .await
                    .unwrap();
                moving.push((
                    id,
                    project.into(),
                    environment.into(),
                    DeploymentKind::Rollback,
                    task_id,
                ));
            }
            // Stored already ended, its step after it in the same write (as the history fill
            // and imports write).
            7 => {
                let (state, step) = match dice.roll(3) {
                    0 => (DeploymentState::Failed, TaskState::Failed),
                    _ => (DeploymentState::Succeeded, TaskState::Succeeded),
                };
                let mut d = row(project, environment, DeploymentKind::Deploy, state);
                d.finished_at = Some(current_time());
                let id = tx.insert_deployment(&d).await.unwrap();
                tx.insert_task(&forward_task(&task_id, id, step))
                    .await
                    .unwrap();
            }
            // A project or an environment deleted, or declared (again).
            8 => {
                if tx.delete_project(&super::vault::n(project)).await.unwrap() {
                    continue;
                }
                let mut p = super::vault::pets();
                p.name = super::vault::n(project);
                tx.put_project(&p).await.unwrap();
            }
            9 => {
                if tx
                    .delete_environment(&super::vault::n(environment))
                    .await
                    .unwrap()
                {
                    continue;
                }
                let position = ENVIRONMENTS.iter().position(|e| *e == environment).unwrap();
                tx.put_environment(&env(environment, position as i64, false))
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
    tx.audit(entry("deployment.deploy", "project/pets"));
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn lane_heads_are_what_the_per_cell_probes_find_over_random_histories() {
    on_both_backends(|store| async move {
        for (i, name) in ENVIRONMENTS.into_iter().enumerate() {
            put_env(&store, &env(name, i as i64, false)).await;
        }
        let mut tx = store.write().await.unwrap();
        for name in PROJECTS {
            let mut p = super::vault::pets();
            p.name = super::vault::n(name);
            tx.put_project(&p).await.unwrap();
        }
        tx.audit(entry("project.apply", "project/pets"));
        tx.commit().await.unwrap();
        let (mut moving, mut tasks) = (Vec::new(), 0);
        // Whether the history ever had a lane whose latest is not its last success (a failure
        // after a success), and one whose last success is not what it holds (rolled back, or no
        // step done): it is not trivial.
        let (mut failed_after_success, mut success_not_held) = (false, false);
        for seed in [0x9e37_79b9_7f4a_7c15_u64, 0x2545_f491_4f6c_dd1d, 7] {
            let mut dice = Dice(seed);
            for write in 0..40 {
                one_write(&store, &mut dice, &mut moving, &mut tasks).await;
                let heads = probed(&store).await;
                failed_after_success |= heads.iter().any(|h| h.2.is_some() && h.2 != h.3);
                success_not_held |= heads.iter().any(|h| h.3.is_some() && h.3 != h.4);
                assert_eq!(
                    read_heads(&store).await,
                    heads,
                    "seed {seed:#x}, after write {write}"
                );
            }
        }
        assert!(failed_after_success && success_not_held);
        let heads = probed(&store).await;
        // The migration's fill, from the deployments alone, finds the same rows.
        let mut tx = store.pool.begin().await.unwrap();
        sqlx::query("DELETE FROM lane_heads")
            .execute(&mut *tx)
            .await
            .unwrap();
        crate::lane_heads::fill_lane_heads(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(read_heads(&store).await, heads);
    })
    .await;
}
