//! Leasing a target's next pending task inside a caller's write: the one transition both an
//! agent's own lease request (`services::tasks`) and a dispatch that hands work to agents
//! already waiting (`services::progress`) write.
//!
//! It changes the task and writes its `task.start` audit event in the caller's transaction; it
//! never commits, never answers the agent and never decides what runs next.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::{task_transition, TaskEvent};
use slipway_store::{StoredDeployment, StoredTask, WriteTx};

use super::deployment::phase_runs;
use crate::ServiceError;

/// A task leased in a write, with what its assignment is made of once that write commits.
#[derive(Debug, Clone)]
pub(crate) struct Leased {
    pub(crate) task: StoredTask,
    pub(crate) deployment: StoredDeployment,
    pub(crate) run: Run,
}

/// Lease `target`'s next pending task inside `tx` until `until`; `None` when it has none.
/// `known`: a deployment as `tx` just read it (the one a dispatch in `tx` was written for),
/// used instead of reading it again when the task is its.
pub(crate) async fn lease_next(
    tx: &mut WriteTx<'_>,
    target: &str,
    until: jiff::Timestamp,
    known: Option<&StoredDeployment>,
) -> Result<Option<Leased>, ServiceError> {
    let Some(mut task) = tx.next_pending_task(target).await? else {
        return Ok(None);
    };
    let deployment = match known.filter(|d| d.id == task.deployment_id) {
        Some(d) => d.clone(),
        None => match tx.deployment(task.deployment_id).await? {
            Some(d) => d,
            None => return Ok(None),
        },
    };
    task.state = task_transition(task.state, TaskEvent::Lease)
        .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    task.leased_until = Some(until);
    task.started_at = Some(slipway_store::current_time());
    tx.update_task(&task).await?;
    let run = phase_runs(&deployment)
        .get(task.run_index as usize)
        .cloned()
        .ok_or_else(|| ServiceError::invalid("a task points past its deployment's runs", ""))?;
    tx.audit(AuditEntry {
        actor: format!("agent:{target}"),
        verb: "task.start".into(),
        subject: format!("deployment/{}", deployment.id),
        details: json!({ "task": task.id, "attempt": task.attempt, "step": run.step, "name": run.name }),
    });
    Ok(Some(Leased {
        task,
        deployment,
        run,
    }))
}
