//! Leasing a target's next pending task inside a caller's write: the one transition both an
//! agent's own lease request (`services::tasks`) and a dispatch that hands work to agents
//! already waiting (`services::progress`) write.
//!
//! It changes the task and writes its `task.start` audit event in the caller's transaction; it
//! never commits, never answers the agent and never decides what runs next.

use std::sync::Arc;

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::{task_transition, TaskEvent};
use slipway_core::deploy::vars::ScopedValue;
use slipway_store::{StoredDeployment, StoredRelease, StoredTask, WriteTx};

use super::deployment::phase_runs;
use crate::ServiceError;

/// A task leased in a write, with what its assignment is made of once that write commits.
#[derive(Debug, Clone)]
pub(crate) struct Leased {
    pub(crate) task: StoredTask,
    pub(crate) deployment: StoredDeployment,
    pub(crate) run: Run,
    /// What its assignment reads, shared with the other tasks of its deployment leased in the
    /// same write.
    pub(crate) shared: SharedReads,
}

/// The reads the assignments of one deployment's tasks leased in one write have in common:
/// its release and the variable values that apply to it. The first assignment made reads them;
/// the others (a step's 20 targets handed at its dispatch) use them, so a dispatch reads them
/// once rather than once per target. A later write's leases read them again.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedReads(Arc<tokio::sync::OnceCell<(StoredRelease, Vec<ScopedValue>)>>);

impl SharedReads {
    /// The release and its values, read by `read` if no assignment sharing them has yet.
    pub(crate) async fn get_or_read<E, F, Fut>(
        &self,
        read: F,
    ) -> Result<&(StoredRelease, Vec<ScopedValue>), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(StoredRelease, Vec<ScopedValue>), E>>,
    {
        self.0.get_or_try_init(read).await
    }
}

/// A deployment as a write just read it for a dispatch, with the reads its leases in that
/// write share.
pub(crate) struct Known<'a> {
    pub(crate) deployment: &'a StoredDeployment,
    pub(crate) shared: &'a SharedReads,
}

/// Lease `target`'s next pending task inside `tx` until `until`; `None` when it has none.
/// `known`: a deployment as `tx` just read it (the one a dispatch in `tx` was written for),
/// used instead of reading it again when the task is its.
pub(crate) async fn lease_next(
    tx: &mut WriteTx<'_>,
    target: &str,
    until: jiff::Timestamp,
    known: Option<Known<'_>>,
) -> Result<Option<Leased>, ServiceError> {
    let Some(mut task) = tx.next_pending_task(target).await? else {
        return Ok(None);
    };
    let (deployment, shared) = match known.filter(|k| k.deployment.id == task.deployment_id) {
        Some(k) => (k.deployment.clone(), k.shared.clone()),
        None => match tx.deployment(task.deployment_id).await? {
            Some(d) => (d, SharedReads::default()),
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
        shared,
    }))
}
