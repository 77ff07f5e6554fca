//! Leasing a target's next pending task inside a caller's write, or the next tasks of many
//! targets at once (one read and one update for all): the one transition both an agent's own
//! lease request (`services::tasks`) and a dispatch that hands work to agents already waiting
//! or answers them with their results (`services::progress`) write.
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
    let targets = [target.to_string()];
    Ok(lease_next_of(tx, &targets, until, known)
        .await?
        .pop()
        .map(|(_, leased)| leased))
}

/// [`lease_next`] for each of `targets` at once: their next pending tasks read in one
/// statement and leased in one more (a dispatch's 20 waiting agents cost two statements, not
/// forty). The targets that had one, each with its task, in no set order.
pub(crate) async fn lease_next_of(
    tx: &mut WriteTx<'_>,
    targets: &[String],
    until: jiff::Timestamp,
    known: Option<Known<'_>>,
) -> Result<Vec<(String, Leased)>, ServiceError> {
    if targets.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = targets.iter().map(String::as_str).collect();
    let pending = tx.next_pending_tasks(&names).await?;
    // The deployments of the tasks, read once each (most often the one `known` holds).
    let mut deployments: Vec<(StoredDeployment, SharedReads)> = Vec::new();
    if let Some(k) = known {
        deployments.push((k.deployment.clone(), k.shared.clone()));
    }
    let mut leased = Vec::with_capacity(pending.len());
    for mut task in pending {
        let at = match deployments
            .iter()
            .position(|(d, _)| d.id == task.deployment_id)
        {
            Some(at) => at,
            None => match tx.deployment(task.deployment_id).await? {
                Some(d) => {
                    deployments.push((d, SharedReads::default()));
                    deployments.len() - 1
                }
                None => continue,
            },
        };
        let (deployment, shared) = &deployments[at];
        task.state = task_transition(task.state, TaskEvent::Lease)
            .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
        task.leased_until = Some(until);
        task.started_at = Some(slipway_store::current_time());
        let run = phase_runs(deployment)
            .get(task.run_index as usize)
            .cloned()
            .ok_or_else(|| ServiceError::invalid("a task points past its deployment's runs", ""))?;
        tx.audit(AuditEntry {
            actor: format!("agent:{}", task.target),
            verb: "task.start".into(),
            subject: format!("deployment/{}", deployment.id),
            details: json!({ "task": task.id, "attempt": task.attempt, "step": run.step, "name": run.name }),
        });
        leased.push((
            task.target.clone(),
            Leased {
                task,
                deployment: deployment.clone(),
                run,
                shared: shared.clone(),
            },
        ));
    }
    let tasks: Vec<StoredTask> = leased.iter().map(|(_, l)| l.task.clone()).collect();
    tx.update_tasks(&tasks).await?;
    Ok(leased)
}
