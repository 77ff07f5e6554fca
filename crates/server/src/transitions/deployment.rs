//! The state transitions of a deployment that more than one caller writes: applying a
//! state-machine event, switching to the rollback phase, and storing a new deployment.
//!
//! Each function changes the rows it is handed inside the caller's transaction; the caller
//! commits, writes its own audit event where it has one, and wakes the orchestrator. This module
//! never authorises, never commits, and never imports `services` or `engine`.

use serde_json::json;
use slipway_core::deploy::progress::{rollback_runs, Run, TaskStatus};
use slipway_core::deploy::state::{
    transition, DeploymentEvent, DeploymentKind, DeploymentState, Phase, TaskState,
};
use slipway_core::Name;
use slipway_store::{StoredDeployment, StoredTask, WriteTx};

use crate::ServiceError;

/// The runs of the phase a deployment is in: forward, or its rollback.
pub(crate) fn phase_runs(d: &StoredDeployment) -> &[Run] {
    match d.phase {
        Phase::Forward => &d.runs,
        Phase::Rollback => &d.rollback_runs,
    }
}

pub(crate) fn statuses(tasks: &[StoredTask], phase: Phase) -> Vec<TaskStatus> {
    tasks
        .iter()
        .filter(|t| t.phase == phase)
        .map(|t| TaskStatus {
            run: t.run_index as usize,
            batch: t.batch_index as usize,
            target: t.target.clone(),
            state: t.state,
        })
        .collect()
}

/// Apply a state-machine event; a final state gets its finishing time.
pub(crate) fn settle(
    d: &mut StoredDeployment,
    event: DeploymentEvent,
    failure: Option<String>,
) -> Result<(), ServiceError> {
    d.state = transition(d.state, event).map_err(|e| {
        ServiceError::invalid(e.to_string(), "reload the deployment: its state moved on")
    })?;
    if failure.is_some() {
        d.failure = failure;
    }
    if d.state.is_final() {
        d.finished_at = Some(slipway_store::current_time());
    }
    Ok(())
}

/// Switch a deployment to its rollback phase: the undo of every run that completed somewhere.
pub(crate) async fn start_rollback(
    tx: &mut WriteTx<'_>,
    d: &mut StoredDeployment,
    tasks: &[StoredTask],
) -> Result<(), ServiceError> {
    let forward = statuses(tasks, Phase::Forward);
    d.rollback_runs = rollback_runs(&d.runs, &forward, |_| Vec::new()).into();
    d.phase = Phase::Rollback;
    if d.rollback_runs.is_empty() {
        d.state = transition(d.state, DeploymentEvent::RollbackCompleted)
            .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
        d.finished_at = Some(slipway_store::current_time());
    }
    // Pending forward tasks will never run now.
    for mut t in tasks
        .iter()
        .filter(|t| matches!((t.phase, t.state), (Phase::Forward, TaskState::Pending)))
        .cloned()
    {
        t.state = TaskState::Cancelled;
        tx.update_task(&t).await?;
    }
    Ok(())
}

/// What a new deployment is: who asks for which release of which project where, of which kind
/// (a rollback names the deployment it undoes), with its runs already spread over targets.
pub(crate) struct NewDeployment<'a> {
    pub(crate) requested_by: &'a str,
    pub(crate) project: &'a Name,
    pub(crate) version: &'a str,
    pub(crate) environment: &'a Name,
    pub(crate) kind: DeploymentKind,
    pub(crate) rollback_of: Option<i64>,
    pub(crate) runs: Vec<Run>,
    /// Why, in the requester's words (a rollback in a protected environment must say).
    pub(crate) reason: Option<&'a str>,
}

/// Store a new deployment and its audit event in `tx`, once the environment is free.
pub(crate) async fn insert_in(
    tx: &mut slipway_store::WriteTx<'_>,
    new: NewDeployment<'_>,
) -> Result<StoredDeployment, ServiceError> {
    let NewDeployment {
        requested_by,
        project,
        version,
        environment,
        kind,
        rollback_of,
        runs,
        reason,
    } = new;
    if let Some(busy) = tx
        .busy_deployment(project.as_str(), environment.as_str())
        .await?
    {
        return Err(ServiceError::state(
            format!("deployment {busy} of {project} in {environment} is still in progress"),
            "one deployment at a time per environment: wait for it, or cancel it",
        ));
    }
    let mut d = StoredDeployment {
        id: 0,
        project: project.to_string(),
        release_version: version.to_string(),
        environment: environment.to_string(),
        kind,
        rollback_of,
        state: transition(DeploymentState::Pending, DeploymentEvent::Start)
            .expect("a new deployment can start"),
        phase: Phase::Forward,
        runs: runs.into(),
        rollback_runs: Vec::new().into(),
        requested_by: requested_by.to_string(),
        created_at: slipway_store::current_time(),
        finished_at: None,
        failure: None,
    };
    d.id = tx.insert_deployment(&d).await?;
    let steps: Vec<String> = d
        .runs
        .iter()
        .map(|r| format!("{} {}", r.step, r.name))
        .collect();
    let mut details = json!({ "project": project, "release": version, "environment": environment, "rollback_of": rollback_of, "steps": steps });
    if let Some(reason) = reason {
        details["reason"] = json!(reason);
    }
    tx.audit(slipway_core::audit::AuditEntry {
        actor: requested_by.to_string(),
        verb: format!("deployment.{kind}"),
        subject: format!("deployment/{}", d.id),
        details,
    });
    Ok(d)
}
