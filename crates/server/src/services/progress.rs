//! Moving every active deployment forward, one decision at a time, from what is stored — so a
//! server that restarts simply carries on where the database says it was.
//!
//! Each move reads the deployment and its tasks, asks `core::deploy::progress::next` what comes
//! next, and writes the outcome with its audit event in one transaction. The orchestrator loop
//! (`crate::engine`) calls these; nothing here loops, sleeps or waits for a signal.

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::progress::{next, result_calls_for_decision, Next, TaskStatus};
use slipway_core::deploy::state::{
    task_transition, DeploymentEvent, DeploymentKind, DeploymentState, Phase, TaskEvent, TaskState,
};
use slipway_core::Name;
use slipway_protocol::MIN_LEASE_SECS;
use slipway_store::{StoredDeployment, StoredTask, WriteTx};

use crate::auth::new_secret;
use crate::transitions::deployment::{phase_runs, settle, start_rollback};
use crate::transitions::task_lease::{lease_next_of, Known, Leased, SharedReads};
use crate::waiting_agents::{Called, WaitingAgents};
use crate::{AppState, ServiceError};

/// How long an agent may stay silent on a task before it is declared lost
/// (`SLIPWAY_LEASE_SECS`, default 30, at least `MIN_LEASE_SECS`, at most an hour). Agents report
/// every second, and back off no longer than the shortest lease allows (`slipway_protocol`).
pub(crate) fn lease_secs() -> u64 {
    static SECS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SECS.get_or_init(|| {
        std::env::var("SLIPWAY_LEASE_SECS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(30, |s| s.clamp(MIN_LEASE_SECS, 3600))
    })
}

/// When a lease taken or renewed now runs out.
pub(crate) fn lease_deadline() -> jiff::Timestamp {
    slipway_store::current_time() + jiff::SignedDuration::from_secs(lease_secs() as i64)
}

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
    state.store.extend_test_trigger_leases(until).await?;
    Ok(())
}

/// One turn: expire the leases of silent agents, then take the next decision for every active
/// deployment.
pub(crate) async fn tick(state: &AppState) -> Result<(), ServiceError> {
    expire_leases(state).await?;
    super::test_batteries::expire_leases(state).await?;
    let active = state.store.active_deployments().await?;
    // Read after the deployments: a task list older than its deployment's row would at worst
    // open a write that finds nothing to decide.
    let mut tasks = state.store.moving_task_statuses().await?;
    for d in active {
        // Most turns find a deployment waiting for its agents: a read says so, without
        // queueing behind the writers. Only one with a decision to take opens a write.
        if !waits(&d, &tasks.remove(&d.id).unwrap_or_default()) {
            advance(state, d.id).await?;
        }
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
    let now = slipway_store::now();
    // Almost every turn finds none: a read says so without queueing behind the writers.
    if !state.store.has_expired_leases(&now).await? {
        return Ok(());
    }
    let mut tx = state.store.write().await?;
    let expired = tx.expired_leases(&now).await?;
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

/// What the decisions of one call to [`advance`] did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Moved {
    /// Tasks were dispatched: agents have work.
    pub(crate) dispatched: bool,
    /// The targets they were dispatched to: only their agents are woken.
    pub(crate) targets: Vec<String>,
    /// The deployment as the dispatch read it (a dispatch does not change its row): the
    /// leases taken in the same write need not read it again.
    pub(crate) deployment: Option<StoredDeployment>,
    /// What the assignments of the tasks leased for it in the same write share.
    pub(crate) shared: SharedReads,
    /// The deployment's state changed (finished, failed, paused): promotions may move.
    pub(crate) changed: bool,
    /// The decision limit ended the chain before the deployment waited: the orchestrator's
    /// next turn carries it on.
    pub(crate) cut_short: bool,
}

impl Moved {
    /// The dispatched deployment, for the leases taken in the same write.
    pub(crate) fn known(&self) -> Option<Known<'_>> {
        self.deployment.as_ref().map(|deployment| Known {
            deployment,
            shared: &self.shared,
        })
    }

    /// Whether the decisions wrote anything (the transaction has something to commit).
    pub(crate) fn wrote(&self) -> bool {
        self.dispatched || self.changed
    }
}

/// The most decisions one transaction takes in a row (a dry run's manual steps each pass at
/// once); past it, the orchestrator's next turn goes on.
const MAX_DECISIONS: usize = 64;

/// Take the next decisions for one deployment until it waits (for agents, a person or time),
/// in one transaction, and wake whoever they concern. Called by each orchestrator turn; a
/// result takes the same decisions in its own transaction (`tasks::results`, through
/// [`decide_in`]), so the next step is dispatched without waiting for a turn. Every decision
/// re-reads the deployment inside the transaction, so two callers never dispatch a batch twice.
pub(crate) async fn advance(state: &AppState, id: i64) -> Result<Moved, ServiceError> {
    let mut tx = state.store.write().await?;
    let moved = decide_in(&mut tx, id, None).await?;
    if !moved.wrote() {
        return Ok(moved);
    }
    let leases = lease_for_waiting(&mut tx, &state.engine.waiting, &moved, &[]).await?;
    tx.commit().await?;
    hand_over(state, leases.calls);
    wake_for(state, &moved);
    Ok(moved)
}

/// The leases one dispatching write took for agents: those its caller answers itself, and
/// those of the agents waiting on this server.
#[derive(Default)]
pub(crate) struct DispatchLeases {
    /// Leased for the targets the caller named (`own`), by target.
    pub(crate) own: Vec<(String, Leased)>,
    /// Leased for the agents waiting here, each to be handed over once the write commits.
    pub(crate) calls: Vec<(Called, Leased)>,
}

/// Lease, in the dispatching write `tx`, the tasks `moved` dispatched to `own`'s targets (the
/// caller answers those agents itself) and to the agents waiting on this server, so that none
/// of them opens a write of its own for it: [`hand_over`] gives the waiting ones their tasks once
/// `tx` commits. One read and one update for all of them. An agent waiting elsewhere (another
/// replica) is woken by its bell and leases as before.
pub(crate) async fn lease_for_waiting(
    tx: &mut WriteTx<'_>,
    waiting: &WaitingAgents,
    moved: &Moved,
    own: &[String],
) -> Result<DispatchLeases, ServiceError> {
    if !moved.dispatched {
        return Ok(DispatchLeases::default());
    }
    let own: Vec<String> = own
        .iter()
        .filter(|t| moved.targets.contains(t))
        .cloned()
        .collect();
    let mut called = Vec::new();
    for target in moved.targets.iter().filter(|t| !own.contains(t)) {
        if let Some(call) = waiting.call(target) {
            called.push((target.clone(), call));
        }
    }
    let targets: Vec<String> = own
        .iter()
        .cloned()
        .chain(called.iter().map(|(t, _)| t.clone()))
        .collect();
    let mut leases = DispatchLeases::default();
    for (target, leased) in lease_next_of(tx, &targets, lease_deadline(), moved.known()).await? {
        match called.iter().position(|(t, _)| *t == target) {
            Some(at) => leases.calls.push((called.swap_remove(at).1, leased)),
            None => leases.own.push((target, leased)),
        }
    }
    // The calls left had no pending task (it went to another request meanwhile): dropping
    // them tells those waiters to look for themselves.
    Ok(leases)
}

/// Give the waiting agents the tasks leased for them in a write that has committed. One whose
/// request ended meanwhile gets it again at its next request (`tasks::hand_again`).
pub(crate) fn hand_over(state: &AppState, calls: Vec<(Called, Leased)>) {
    let mut handed = 0;
    for (called, leased) in calls {
        let task = leased.task.id.clone();
        if called.hand(leased) {
            handed += 1;
        } else {
            tracing::debug!(task, "a waiting agent left before its task was handed over; it is handed again at its next request");
        }
    }
    state.metrics.handed_at_dispatch(handed);
}

/// The decisions [`advance`] takes, inside a write the caller commits (then calls
/// [`wake_for`]). The write must be the fenced store's (background work's): decisions are the
/// lease holder's to take. `known`: the deployment's row as `tx` read it, when nothing in `tx`
/// has changed it since (the first decision need not read it again).
pub(crate) async fn decide_in(
    tx: &mut WriteTx<'_>,
    id: i64,
    known: Option<StoredDeployment>,
) -> Result<Moved, ServiceError> {
    let mut moved = Moved {
        cut_short: true,
        ..Moved::default()
    };
    let mut known = known.filter(|d| d.id == id);
    for _ in 0..MAX_DECISIONS {
        match decide(tx, id, known.take()).await? {
            Decision::Waits => {
                moved.cut_short = false;
                break;
            }
            Decision::Dispatched(targets, deployment) => {
                moved.dispatched = true;
                moved.targets = targets;
                moved.deployment = Some(*deployment);
                moved.cut_short = false;
                break;
            }
            Decision::Changed => moved.changed = true,
        }
    }
    Ok(moved)
}

/// Wake whoever committed decisions concern.
pub(crate) fn wake_for(state: &AppState, moved: &Moved) {
    if moved.dispatched {
        state.wake_agents_of(&moved.targets);
    }
    // A dispatch alone concerns only the agents: the orchestrator is woken by what the deployment
    // becomes (promotions wait on it), or to carry on a chain the decision limit cut short.
    if moved.changed || moved.cut_short {
        state.wake_orchestrator();
    }
}

/// Whether the result just written for `task` gives its deployment `d` a decision to take
/// now, as the write `tx` sees them: asked in the result's own transaction, so that the
/// decision's write ([`advance`]) is opened only for a result that calls for one — of 20 agents
/// running a step, the last to report (`core::deploy::progress::result_calls_for_decision`).
/// Results are written one at a time, so the last one's transaction sees every other result.
pub(crate) async fn needs_decision(
    tx: &mut WriteTx<'_>,
    d: &StoredDeployment,
    task: &StoredTask,
) -> Result<bool, ServiceError> {
    if !matches!(
        d.state,
        DeploymentState::Running | DeploymentState::RollingBack
    ) {
        return Ok(false);
    }
    if task.phase != d.phase {
        // A late result of a phase left behind: let the decision look at the whole.
        return Ok(true);
    }
    let targets = phase_runs(d)
        .get(task.run_index as usize)
        .and_then(|run| run.batches.get(task.batch_index as usize))
        .map_or(0, Vec::len);
    if targets == 1 {
        // A batch of one target is the task just written (a retry reuses its row): its state
        // is the batch's, without a read.
        return Ok(result_calls_for_decision(&[task.state]));
    }
    let batch = tx
        .batch_task_states(d.id, d.phase, task.run_index, task.batch_index)
        .await?;
    Ok(result_calls_for_decision(&batch))
}

/// Whether the deployment `d` (as just read) waits for agents, a person or time, read outside
/// any write from the states of its current phase's tasks: the question [`decide`] asks first,
/// and asks again inside its write transaction. A task list read a little after `d` at worst
/// opens a write that finds nothing to decide.
fn waits(d: &StoredDeployment, current: &[TaskStatus]) -> bool {
    if !matches!(
        d.state,
        DeploymentState::Running | DeploymentState::RollingBack
    ) {
        return true;
    }
    matches!(next(phase_runs(d), current), Next::Wait)
}

/// What one decision wrote.
enum Decision {
    /// Nothing: the deployment waits (or is not active).
    Waits,
    /// Tasks for these targets, of the deployment as read for the decision (boxed: the other
    /// decisions carry nothing).
    Dispatched(Vec<String>, Box<StoredDeployment>),
    Changed,
}

/// Take the next decision for one deployment inside `tx` (`known`: its row as `tx` read it).
async fn decide(
    tx: &mut WriteTx<'_>,
    id: i64,
    known: Option<StoredDeployment>,
) -> Result<Decision, ServiceError> {
    let read = match known {
        Some(d) => Some(d),
        None => tx.deployment(id).await?,
    };
    let Some(mut d) = read else {
        return Ok(Decision::Waits);
    };
    if !matches!(
        d.state,
        DeploymentState::Running | DeploymentState::RollingBack
    ) {
        return Ok(Decision::Waits);
    }
    // The states are enough to decide; the whole tasks are read only when one is changed.
    let current = tx.task_statuses(id, d.phase).await?;
    match next(phase_runs(&d), &current) {
        Next::Wait => Ok(Decision::Waits),
        Next::Dispatch { run, batch } => {
            let targets = dispatch(tx, &d, run, batch).await?;
            Ok(Decision::Dispatched(targets, Box::new(d)))
        }
        Next::Intervene { run } => {
            let tasks = tx.tasks(id).await?;
            intervene(tx, &mut d, tasks, run).await
        }
        Next::Failed { run, target, lost } => {
            let tasks = tx.tasks(id).await?;
            failed(tx, &mut d, &tasks, run, &target, lost).await?;
            Ok(Decision::Changed)
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
            Ok(Decision::Changed)
        }
    }
}

/// Insert the pending tasks of one batch of a run; the targets they are for.
async fn dispatch(
    tx: &mut WriteTx<'_>,
    d: &StoredDeployment,
    run: usize,
    batch: usize,
) -> Result<Vec<String>, ServiceError> {
    let targets = phase_runs(d)[run].batches[batch].clone();
    let tasks: Vec<StoredTask> = targets
        .iter()
        .map(|target| StoredTask {
            id: new_secret("")[..20].to_string(),
            deployment_id: d.id,
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
        })
        .collect();
    // One statement for the batch's tasks, however many targets it has.
    tx.insert_tasks(&tasks).await?;
    let step = &phase_runs(d)[run];
    tx.audit(system(
        "deployment.dispatch",
        d.id,
        json!({ "phase": d.phase, "step": step.step, "name": step.name, "targets": targets }),
    ));
    Ok(targets)
}

/// A manual step: a dry run reports the pause and goes on; a deployment waits for a person.
async fn intervene(
    tx: &mut WriteTx<'_>,
    d: &mut StoredDeployment,
    tasks: Vec<StoredTask>,
    run: usize,
) -> Result<Decision, ServiceError> {
    let id = d.id;
    let step = phase_runs(d)[run].clone();
    let instructions = match &step.action {
        slipway_core::plan::Action::Manual(p) => p.instructions.clone(),
        _ => String::new(),
    };
    let Some(mut task) = tasks
        .into_iter()
        .find(|t| t.phase == d.phase && t.run_index == run as i64)
    else {
        return Ok(Decision::Waits);
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
        settle(d, DeploymentEvent::AwaitIntervention, None)?;
        task.started_at = Some(slipway_store::current_time());
        tx.update_task(&task).await?;
        tx.update_deployment(d).await?;
        tx.audit(system(
            "deployment.intervention_requested",
            id,
            json!({ "step": step.step, "name": step.name, "instructions": instructions }),
        ));
    }
    Ok(Decision::Changed)
}

/// A step failed or was lost on a target: the phase and kind say what follows (the
/// environment's failure policy for a forward deployment).
async fn failed(
    tx: &mut WriteTx<'_>,
    d: &mut StoredDeployment,
    tasks: &[StoredTask],
    run: usize,
    target: &str,
    lost: bool,
) -> Result<(), ServiceError> {
    let step = phase_runs(d)[run].clone();
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
            settle(d, DeploymentEvent::RollbackFailed, Some(why.clone()))?;
        }
        // A dry run or an undo deployment has nothing to ask: it ends.
        (Phase::Forward, DeploymentKind::DryRun | DeploymentKind::Rollback) => {
            settle(d, DeploymentEvent::Abort, Some(why.clone()))?;
        }
        (Phase::Forward, DeploymentKind::Deploy) => {
            let policy = tx
                .environment(&name(&d.environment)?)
                .await?
                .map(|e| e.on_failure)
                .unwrap_or_default();
            settle(d, DeploymentEvent::StepFailed { policy }, Some(why.clone()))?;
            if d.state == DeploymentState::RollingBack {
                start_rollback(tx, d, tasks).await?;
            }
        }
    }
    tx.update_deployment(d).await?;
    tx.audit(system(
        "deployment.step_failed",
        d.id,
        json!({ "reason": why, "state": d.state, "kind": d.kind, "project": d.project, "release": d.release_version, "environment": d.environment }),
    ));
    Ok(())
}

fn name(s: &str) -> Result<Name, ServiceError> {
    Name::parse(s).map_err(|e| ServiceError::invalid(e.to_string(), ""))
}
