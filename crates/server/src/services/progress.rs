//! Moving every active deployment forward, one decision at a time, from what is stored — so a
//! server that restarts simply carries on where the database says it was.
//!
//! Each move reads the deployment and its tasks, asks `core::deploy::progress::next` what comes
//! next, and writes the outcome with its audit event in one transaction. The orchestrator loop
//! (`crate::engine`) calls these; nothing here loops, sleeps or waits for a signal.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::progress::{next, Next};
use slipway_core::deploy::state::{
    task_transition, DeploymentEvent, DeploymentKind, DeploymentState, Phase, TaskEvent, TaskState,
};
use slipway_core::Name;
use slipway_store::StoredTask;

use super::tasks::lease_deadline;
use crate::auth::new_secret;
use crate::transitions::deployment::{phase_runs, settle, start_rollback, statuses};
use crate::{AppState, ServiceError};

/// After a restart, agents that kept working while the server was down get a fresh lease, so a
/// step that is still running is not declared lost for the server's own absence.
pub(crate) async fn resume_after_restart(state: &AppState) -> Result<(), ServiceError> {
    let until = lease_deadline();
    for d in state.store.active_deployments().await? {
        for t in state
            .store
            .tasks(d.id)
            .await?
            .into_iter()
            .filter(|t| t.state == TaskState::Leased)
        {
            state.store.extend_lease(&t.id, t.attempt, until).await?;
        }
    }
    Ok(())
}

/// One turn: expire the leases of silent agents, then take the next decision for every active
/// deployment.
pub(crate) async fn tick(state: &AppState) -> Result<(), ServiceError> {
    expire_leases(state).await?;
    for d in state.store.active_deployments().await? {
        advance(state, d.id).await?;
    }
    Ok(())
}

fn system(verb: &str, deployment: i64, details: serde_json::Value) -> AuditEntry {
    AuditEntry {
        actor: "slipway".into(),
        verb: verb.into(),
        subject: format!("deployment/{deployment}"),
        details,
    }
}

async fn expire_leases(state: &AppState) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    let expired = tx.expired_leases(&slipway_store::now()).await?;
    if expired.is_empty() {
        return Ok(());
    }
    for mut t in expired {
        t.state = TaskState::Lost;
        t.finished_at = Some(slipway_store::current_time());
        t.summary = Some(format!(
            "the agent on {} stopped reporting: step lost",
            t.target
        ));
        tx.update_task(&t).await?;
        tx.audit(system(
            "task.lost",
            t.deployment_id,
            json!({ "task": t.id, "target": t.target, "attempt": t.attempt }),
        ));
    }
    tx.commit().await?;
    state.wake_orchestrator();
    Ok(())
}

/// Take the next decision for one deployment, in one transaction.
async fn advance(state: &AppState, id: i64) -> Result<(), ServiceError> {
    let mut tx = state.store.write().await?;
    let Some(mut d) = tx.deployment(id).await? else {
        return Ok(());
    };
    if !matches!(
        d.state,
        DeploymentState::Running | DeploymentState::RollingBack
    ) {
        return Ok(());
    }
    let tasks = tx.tasks(id).await?;
    let current = statuses(&tasks, d.phase);
    match next(phase_runs(&d), &current) {
        Next::Wait => return Ok(()),
        Next::Dispatch { run, batch } => {
            let targets = phase_runs(&d)[run].batches[batch].clone();
            for target in &targets {
                let task = StoredTask {
                    id: new_secret("")[..20].to_string(),
                    deployment_id: id,
                    phase: d.phase,
                    run_index: run as i64,
                    batch_index: batch as i64,
                    target: target.clone(),
                    attempt: 1,
                    state: TaskState::Pending,
                    leased_until: None,
                    started_at: None,
                    finished_at: None,
                    exit_code: None,
                    summary: None,
                };
                tx.insert_task(&task).await?;
            }
            let step = &phase_runs(&d)[run];
            tx.audit(system("deployment.dispatch", id, json!({ "phase": d.phase, "step": step.step, "name": step.name, "targets": targets })));
            tx.commit().await?;
            state.wake_agents();
            state.wake_orchestrator();
            return Ok(());
        }
        Next::Intervene { run } => {
            let step = phase_runs(&d)[run].clone();
            let instructions = match &step.action {
                slipway_core::plan::Action::Manual(p) => p.instructions.clone(),
                _ => String::new(),
            };
            let Some(mut task) = tasks
                .into_iter()
                .find(|t| t.phase == d.phase && t.run_index == run as i64)
            else {
                return Ok(());
            };
            if matches!(d.kind, DeploymentKind::DryRun) {
                // Check mode reports the pause and goes on: nobody waits in a dry run.
                task.state = task_transition(task.state, TaskEvent::Answer { proceed: true })
                    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
                let now = slipway_store::current_time();
                task.started_at = Some(now);
                task.finished_at = Some(now);
                task.summary = Some(format!(
                    "would pause for a manual intervention: {instructions}"
                ));
                tx.update_task(&task).await?;
                tx.audit(system(
                    "task.succeeded",
                    id,
                    json!({ "task": task.id, "step": step.step, "name": step.name, "summary": task.summary }),
                ));
            } else {
                settle(&mut d, DeploymentEvent::AwaitIntervention, None)?;
                task.started_at = Some(slipway_store::current_time());
                tx.update_task(&task).await?;
                tx.update_deployment(&d).await?;
                tx.audit(system(
                    "deployment.intervention_requested",
                    id,
                    json!({ "step": step.step, "name": step.name, "instructions": instructions }),
                ));
            }
        }
        Next::Failed { run, target, lost } => {
            let step = phase_runs(&d)[run].clone();
            let why = format!(
                "step {} \"{}\" {} on {target}",
                step.step,
                step.name,
                if lost {
                    "was lost: its agent went silent, or restarted without it"
                } else {
                    "failed"
                }
            );
            match (d.phase, d.kind) {
                (Phase::Rollback, _) => {
                    settle(&mut d, DeploymentEvent::RollbackFailed, Some(why.clone()))?;
                }
                // A dry run or an undo deployment has nothing to ask: it ends.
                (Phase::Forward, DeploymentKind::DryRun | DeploymentKind::Rollback) => {
                    settle(&mut d, DeploymentEvent::Abort, Some(why.clone()))?;
                }
                (Phase::Forward, DeploymentKind::Deploy) => {
                    let policy = tx
                        .environment(&name(&d.environment)?)
                        .await?
                        .map(|e| e.on_failure)
                        .unwrap_or_default();
                    settle(
                        &mut d,
                        DeploymentEvent::StepFailed { policy },
                        Some(why.clone()),
                    )?;
                    if d.state == DeploymentState::RollingBack {
                        start_rollback(&mut tx, &mut d, &tasks).await?;
                    }
                }
            }
            tx.update_deployment(&d).await?;
            tx.audit(system(
                "deployment.step_failed",
                id,
                json!({ "reason": why, "state": d.state, "kind": d.kind, "project": d.project, "release": d.release_version, "environment": d.environment }),
            ));
        }
        Next::Done => {
            let event = match d.phase {
                Phase::Forward => DeploymentEvent::Completed,
                Phase::Rollback => DeploymentEvent::RollbackCompleted,
            };
            settle(&mut d, event, None)?;
            tx.update_deployment(&d).await?;
            tx.audit(system(
                "deployment.finished",
                id,
                json!({ "state": d.state, "kind": d.kind, "project": d.project, "release": d.release_version, "environment": d.environment }),
            ));
        }
    }
    tx.commit().await?;
    state.wake_orchestrator();
    Ok(())
}

fn name(s: &str) -> Result<Name, ServiceError> {
    Name::parse(s).map_err(|e| ServiceError::invalid(e.to_string(), ""))
}
