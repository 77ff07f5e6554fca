//! The agent side of a deployment: leasing tasks (long poll), receiving logs and results, and
//! handing out artifacts. An agent only ever sees tasks for its own target, and only the
//! variables of its own task. What runs next is never decided here (`services::progress` does).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::state::{task_transition, DeploymentKind, Phase, TaskEvent, TaskState};
use slipway_core::deploy::vars::{mask, resolve};
use slipway_core::release::Version;
use slipway_core::Name;
use slipway_protocol::{
    AgentStart, AgentStarted, ArtifactRef, Assignment, LeaseRequest, LogAck, LogBatch, TaskResult,
};
use slipway_store::{StoredTask, Target};

use super::progress::{self, lease_deadline, lease_secs};
use crate::transitions::deployment::phase_runs;
use crate::transitions::task_lease::{self, Leased};
use crate::waiting_agents::{Called, WaitingAgents};
use crate::{AppState, ServiceError};

/// How long a lease request waits for work before answering "nothing".
const LONG_POLL: Duration = Duration::from_secs(20);

fn agent_entry(
    target: &str,
    verb: &str,
    deployment: i64,
    details: serde_json::Value,
) -> AuditEntry {
    AuditEntry {
        actor: format!("agent:{target}"),
        verb: verb.into(),
        subject: format!("deployment/{deployment}"),
        details,
    }
}

fn parse_name(s: &str) -> Result<Name, ServiceError> {
    Name::parse(s).map_err(|e| ServiceError::invalid(e.to_string(), ""))
}

/// The longest session id a starting agent may announce.
const MAX_SESSION_LEN: usize = 128;

/// A (re)started agent runs nothing, so every task still leased to its target was left by its
/// previous life: each settles now as `lost` (the environment's failure policy then applies, as
/// for a lease that ran out) instead of when its lease runs out. The session it announces is
/// the only one a lost lease answer is handed to again.
pub(crate) async fn agent_started(
    state: &AppState,
    target: &Target,
    start: AgentStart,
) -> Result<AgentStarted, ServiceError> {
    let well_formed = !start.session.is_empty()
        && start.session.len() <= MAX_SESSION_LEN
        && start
            .session
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !well_formed {
        return Err(ServiceError::invalid(
            format!(
                "the agent's session id is not 1 to {MAX_SESSION_LEN} letters, digits or dashes"
            ),
            "run the same Slipway version on the agent and the server",
        ));
    }
    let mut tx = state.store.write().await?;
    tx.set_agent_session(&target.name, &start.session).await?;
    let mut settled = Vec::new();
    for mut task in tx.leased_tasks_of(&target.name).await? {
        let killed = start
            .abandoned
            .iter()
            .find(|a| a.task_id == task.id && a.attempt == task.attempt)
            .map_or(0, |a| a.killed_processes);
        task.state = task_transition(task.state, TaskEvent::LeaseExpired)
            .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
        task.finished_at = Some(slipway_store::current_time());
        task.leased_until = None;
        task.summary = Some(format!(
            "the agent on {} restarted while the step ran: step lost ({killed} leftover process(es) killed)",
            target.name
        ));
        tx.update_task(&task).await?;
        tx.audit(agent_entry(
            &target.name,
            "task.lost",
            task.deployment_id,
            json!({ "task": task.id, "target": task.target, "attempt": task.attempt, "reason": "agent restarted", "killed_processes": killed }),
        ));
        settled.push(task.id);
    }
    let batteries = super::test_batteries::lose_abandoned(&mut tx, &target.name).await?;
    tx.audit(AuditEntry {
        actor: format!("agent:{}", target.name),
        verb: "agent.started".into(),
        subject: format!("target/{}", target.name),
        details: json!({ "settled": settled, "batteries_lost": batteries }),
    });
    tx.commit().await?;
    if !settled.is_empty() {
        state.wake_orchestrator();
    }
    Ok(AgentStarted { settled })
}

/// The next task for this agent, waiting up to the long-poll time for one to appear.
pub(crate) async fn lease(
    state: &AppState,
    target: &Target,
    request: LeaseRequest,
) -> Result<Option<Assignment>, ServiceError> {
    let deadline = Instant::now()
        + if request.wait {
            LONG_POLL
        } else {
            Duration::ZERO
        };
    if let Some(session) = &request.session {
        if let Some(assignment) = hand_again(state, target, session).await? {
            return Ok(Some(assignment));
        }
    }
    let bell = state.engine.agent_bell(&target.name);
    // Under a session, a dispatch may lease this agent's task in its own write and hand it
    // over here (`waiting_agents`): what it hands and does not reach the agent is handed again
    // at its next request (`hand_again`), which only a session allows.
    let mut seat =
        (request.wait && request.session.is_some()).then(|| state.engine.waiting.sit(&target.name));
    loop {
        // Register interest before looking, so a task dispatched in between still wakes us:
        // a dispatch to this target rings its bell, anything else for anyone rings `agents`.
        let for_anyone = state.engine.agents.notified();
        let for_this_target = bell.notified();
        if let Some(assignment) = try_lease(state, target).await? {
            return Ok(Some(assignment));
        }
        // A deployment's step first; then a battery someone asked for.
        if let Some(battery) =
            crate::services::test_batteries::lease(state, target, lease_deadline(), lease_secs())
                .await?
        {
            return Ok(Some(battery));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return match seat.take() {
                Some(seat) => match seat.stand_up().await {
                    Some(leased) => assignment(state, target, leased).await.map(Some),
                    None => Ok(None),
                },
                None => Ok(None),
            };
        }
        let handed = async {
            match seat.as_mut() {
                Some(seat) => (&mut seat.handed).await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            handed = handed => match handed {
                Some(leased) => return assignment(state, target, leased).await.map(Some),
                // Called, but the dispatch leased nothing for it after all: it looks itself,
                // and waits on the bells alone from here.
                None => seat = None,
            },
            () = for_anyone => {}
            () = for_this_target => {}
            () = tokio::time::sleep(left) => {}
        }
    }
}

async fn try_lease(state: &AppState, target: &Target) -> Result<Option<Assignment>, ServiceError> {
    // Most looks find nothing: a read says so without queueing behind the writers.
    if !state.store.has_pending_task(&target.name).await? {
        return Ok(None);
    }
    let mut tx = state.store.write().await?;
    let Some(leased) = task_lease::lease_next(&mut tx, &target.name, lease_deadline()).await?
    else {
        return Ok(None);
    };
    tx.commit().await?;
    state.deployment_changed();
    assignment(state, target, leased).await.map(Some)
}

/// An agent asking for work runs nothing. So when it asks under the session it announced at
/// its start, a task still leased to its target in that session is one whose lease answer never
/// reached it (the connection cut between the two): hand the same attempt again, rather than
/// let it run out as lost. Under no session, or another, nothing is handed twice.
async fn hand_again(
    state: &AppState,
    target: &Target,
    session: &str,
) -> Result<Option<Assignment>, ServiceError> {
    // Almost always nothing to hand again: a read says so before any write.
    if !state
        .store
        .holds_lease_in_session(&target.name, session)
        .await?
    {
        return Ok(None);
    }
    let mut tx = state.store.write().await?;
    if tx.agent_session(&target.name).await?.as_deref() != Some(session) {
        return Ok(None);
    }
    for mut task in tx.leased_tasks_of(&target.name).await? {
        let Some(deployment) = tx.deployment(task.deployment_id).await? else {
            continue;
        };
        if deployment.state.is_final() || task.phase != deployment.phase {
            continue;
        }
        let Some(run) = phase_runs(&deployment)
            .get(task.run_index as usize)
            .cloned()
        else {
            continue;
        };
        task.leased_until = Some(lease_deadline());
        tx.update_task(&task).await?;
        tx.audit(agent_entry(
            &target.name,
            "task.handed_again",
            deployment.id,
            json!({ "task": task.id, "attempt": task.attempt, "step": run.step, "reason": "the lease answer did not reach the agent" }),
        ));
        tx.commit().await?;
        return assignment(
            state,
            target,
            Leased {
                task,
                deployment,
                run,
            },
        )
        .await
        .map(Some);
    }
    Ok(None)
}

/// What the agent is told about a task it leased: the action, the variables resolved for its
/// target (secrets included, for it only) and what to mask.
async fn assignment(
    state: &AppState,
    target: &Target,
    leased: Leased,
) -> Result<Assignment, ServiceError> {
    let Leased {
        task,
        deployment,
        run,
    } = leased;
    let project = parse_name(&deployment.project)?;
    let version = Version::parse(&deployment.release_version)
        .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let release = state
        .store
        .release(&project, &version)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("release {} {}", project, version), ""))?;
    let environment = parse_name(&deployment.environment)?;
    let roles: Vec<Name> = target
        .roles
        .iter()
        .filter_map(|r| Name::parse(r).ok())
        .collect();
    // The same values the promotion's `variables` criterion checked.
    let values = crate::services::variables::deployment_values(state, &release).await?;
    let resolved = resolve(&values, &environment, &roles);
    let secrets: Vec<String> = resolved
        .values()
        .filter(|r| r.sensitive)
        .map(|r| r.value.clone())
        .collect();
    let variables: BTreeMap<String, String> =
        resolved.into_iter().map(|(k, v)| (k, v.value)).collect();
    let artifacts = release
        .artifacts
        .iter()
        .map(|a| {
            (
                a.component.to_string(),
                ArtifactRef {
                    digest: a.digest.to_hex(),
                    version: a.version.to_string(),
                },
            )
        })
        .collect();
    let action = serde_json::to_value(&run.action).expect("actions serialise");
    let baseline = crate::services::verification::baseline_for(state, &deployment, &run).await?;
    Ok(Assignment {
        task_id: task.id,
        attempt: task.attempt,
        deployment_id: deployment.id,
        project: deployment.project,
        environment: deployment.environment,
        release: deployment.release_version,
        step: run.step,
        name: run.name,
        action,
        check_only: matches!(deployment.kind, DeploymentKind::DryRun),
        variables,
        secrets,
        artifacts,
        lease_secs: lease_secs(),
        undoes_deployment: match (deployment.phase, deployment.kind) {
            (Phase::Rollback, _) => Some(deployment.id),
            (Phase::Forward, DeploymentKind::Rollback) => deployment.rollback_of,
            (Phase::Forward, DeploymentKind::Deploy | DeploymentKind::DryRun) => None,
        },
        baseline,
        result_takes_lines: true,
    })
}

/// The task, if it is this agent's.
async fn own_task(
    state: &AppState,
    target: &Target,
    task_id: &str,
) -> Result<StoredTask, ServiceError> {
    match state.store.task(task_id).await? {
        Some(t) if t.target == target.name => Ok(t),
        // Another agent's task looks exactly like one that does not exist.
        _ => Err(ServiceError::not_found(format!("task {task_id}"), "")),
    }
}

/// Secret values of a task's variables, to mask what the agent sends a second time.
async fn secrets_for(state: &AppState, task: &StoredTask) -> Result<Vec<String>, ServiceError> {
    let Some(d) = state.store.deployment_standing(task.deployment_id).await? else {
        return Ok(Vec::new());
    };
    let project = parse_name(&d.project)?;
    Ok(state
        .store
        .variable_values(&project)
        .await?
        .into_iter()
        .filter(|s| s.sensitive)
        .filter_map(|s| crate::services::variables::reveal(state, &project, &s))
        .collect())
}

pub(crate) async fn logs(
    state: &AppState,
    target: &Target,
    task_id: &str,
    batch: LogBatch,
) -> Result<LogAck, ServiceError> {
    let task = own_task(state, target, task_id).await?;
    if task.attempt != batch.attempt {
        return Err(ServiceError::Conflict(format!(
            "attempt {} of task {task_id} (it is at attempt {})",
            batch.attempt, task.attempt
        )));
    }
    if !batch.lines.is_empty() {
        let secrets = secrets_for(state, &task).await?;
        let lines: Vec<String> = batch.lines.iter().map(|l| mask(l, &secrets)).collect();
        state
            .store
            .append_logs(task_id, batch.attempt, batch.first_line_no, &lines)
            .await?;
    }
    let alive = task.state == TaskState::Leased
        && state
            .store
            .extend_lease(task_id, task.attempt, lease_deadline())
            .await?;
    let deployment_moving = state
        .store
        .deployment_standing(task.deployment_id)
        .await?
        .is_some_and(|d| !d.state.is_final());
    Ok(LogAck {
        proceed: alive && deployment_moving,
    })
}

/// Record a task's outcome. Sending the same result again is harmless: the first one counts.
///
/// On the server holding the background lease (always, on SQLite) the decision the result calls
/// for is taken in the result's own transaction, fenced as the orchestrator's are, so that the
/// next step is dispatched in the same commit; and when the agent asks for its next task with
/// the result (`lease_next`) and that step is its own, its lease is taken there too and answered
/// here: one write and one round trip per step. Elsewhere, or when the decision fails (its
/// write rolls back whole), the result is written alone and the lease holder decides.
pub(crate) async fn result(
    state: &AppState,
    target: &Target,
    task_id: &str,
    result: TaskResult,
    lease_next: bool,
) -> Result<Option<Assignment>, ServiceError> {
    let secrets = {
        let task = own_task(state, target, task_id).await?;
        secrets_for(state, &task).await?
    };
    let report = Report {
        target,
        task_id,
        result: &result,
        secrets: &secrets,
        now: state.clock.now(),
        waiting: &state.engine.waiting,
    };
    if let Some(fenced) = crate::leader::background(state) {
        match record(&fenced.store, &report, Some(lease_next)).await {
            Ok(recorded) => return recorded.announce(state, target).await,
            Err(Failed::Result(e)) => return Err(e),
            // The lease changed hands, or the decision failed: the result alone, below.
            Err(Failed::Decision(e)) => {
                tracing::debug!(error = %e, task_id, "the decision after a result is left to the orchestrator's turn");
            }
        }
    }
    let recorded = record(&state.store, &report, None)
        .await
        .map_err(Failed::into_inner)?;
    let decide = recorded.decide;
    recorded.announce(state, target).await?;
    if decide {
        state.wake_orchestrator();
    }
    Ok(None)
}

/// A result on its way into the store.
struct Report<'a> {
    target: &'a Target,
    task_id: &'a str,
    result: &'a TaskResult,
    /// The task's secret values, masked out of its summary and lines.
    secrets: &'a [String],
    /// The server's clock at the result, for a batch step's inventory.
    now: jiff::Timestamp,
    /// The agents waiting here, whose tasks a decision taken with the result leases for them.
    waiting: &'a WaitingAgents,
}

/// Why [`record`] wrote nothing.
enum Failed {
    /// The result itself was refused (another agent's task, another attempt) or not written.
    Result(ServiceError),
    /// The decision taken with it failed, or the background lease changed hands: writing the
    /// result alone may still succeed.
    Decision(ServiceError),
}

impl Failed {
    fn into_inner(self) -> ServiceError {
        match self {
            Failed::Result(e) | Failed::Decision(e) => e,
        }
    }
}

/// What one result's transaction committed.
struct Recorded {
    /// The result called for a decision that was not taken in its transaction.
    decide: bool,
    /// The decisions taken in it.
    moved: Option<progress::Moved>,
    /// The agent's next task, leased in it.
    leased: Option<Leased>,
    /// The tasks it dispatched to other agents waiting here, leased in it for them.
    calls: Vec<(Called, Leased)>,
}

impl Recorded {
    /// Wake whoever the commit concerns; the assignment of the task leased with it.
    async fn announce(
        self,
        state: &AppState,
        target: &Target,
    ) -> Result<Option<Assignment>, ServiceError> {
        state.deployment_changed();
        progress::hand_over(state, self.calls);
        if let Some(moved) = &self.moved {
            progress::wake_for(state, moved);
        }
        match self.leased {
            Some(leased) => assignment(state, target, leased).await.map(Some),
            None => Ok(None),
        }
    }
}

/// Write one result in one transaction of `store`. With `decide_and_lease` (`store` is then the
/// fenced one), also the decision it calls for and, when asked (`Some(true)`), the agent's next
/// task if that decision dispatched one to it.
async fn record(
    store: &slipway_store::Store,
    report: &Report<'_>,
    decide_and_lease: Option<bool>,
) -> Result<Recorded, Failed> {
    let Report {
        target,
        task_id,
        result,
        secrets,
        now,
        waiting,
    } = *report;
    let in_decision = decide_and_lease.is_some();
    // A fenced write refused at its start: the lease changed hands, the result goes alone.
    let mut tx = store.write().await.map_err(|e| {
        if in_decision {
            Failed::Decision(e.into())
        } else {
            Failed::Result(e.into())
        }
    })?;
    let rf = |e: ServiceError| Failed::Result(e);
    let Some(mut task) = tx
        .task(task_id)
        .await
        .map_err(|e| rf(e.into()))?
        .filter(|t| t.target == target.name)
    else {
        return Err(rf(ServiceError::not_found(format!("task {task_id}"), "")));
    };
    if task.attempt != result.attempt {
        return Err(rf(ServiceError::Conflict(format!(
            "a result for attempt {} of task {task_id} (it is at attempt {})",
            result.attempt, task.attempt
        ))));
    }
    // Its last lines, masked as a log request's are (a result of another attempt, lines
    // included, is refused above, as a log request of it would be).
    let last_lines = result
        .last_lines
        .as_ref()
        .filter(|b| b.attempt == task.attempt && !b.lines.is_empty())
        .map(|b| {
            let lines: Vec<String> = b.lines.iter().map(|l| mask(l, secrets)).collect();
            (b.first_line_no, lines)
        });
    if task.state != TaskState::Leased {
        // Already recorded (a retried request), or settled without this agent (lost, cancelled):
        // its lines are kept all the same, as a log request would keep them.
        drop(tx);
        if let Some((first_line_no, lines)) = &last_lines {
            store
                .append_logs(task_id, task.attempt, *first_line_no, lines)
                .await
                .map_err(|e| rf(e.into()))?;
        }
        return Ok(Recorded {
            decide: false,
            moved: None,
            leased: None,
            calls: Vec::new(),
        });
    }
    if let Some((first_line_no, lines)) = &last_lines {
        // Before the task's end, so whoever reads the end reads every line.
        tx.append_logs(task_id, task.attempt, *first_line_no, lines)
            .await
            .map_err(|e| rf(e.into()))?;
    }
    task.state = task_transition(
        task.state,
        TaskEvent::Report {
            success: result.success,
        },
    )
    .map_err(|e| rf(ServiceError::invalid(e.to_string(), "")))?;
    task.finished_at = Some(slipway_store::current_time());
    task.exit_code = result.exit_code;
    task.summary = Some(mask(&result.summary, secrets));
    task.leased_until = None;
    tx.update_task(&task).await.map_err(|e| rf(e.into()))?;
    let deployment = tx
        .deployment(task.deployment_id)
        .await
        .map_err(|e| rf(e.into()))?;
    if let (true, Some(deployment)) = (result.success, &deployment) {
        // A batch step keeps the inventory in the transaction of its result.
        if let Some(run) = phase_runs(deployment).get(task.run_index as usize) {
            let action = run.action.clone();
            crate::services::batches::record_step(&mut tx, deployment, &target.name, &action, now)
                .await
                .map_err(rf)?;
        }
    }
    let decide = match &deployment {
        Some(d) => progress::needs_decision(&mut tx, d, &task)
            .await
            .map_err(rf)?,
        None => false,
    };
    let verb = if result.success {
        "task.succeeded"
    } else {
        "task.failed"
    };
    tx.audit(agent_entry(&target.name, verb, task.deployment_id, json!({ "task": task.id, "attempt": task.attempt, "exit_code": task.exit_code, "summary": task.summary })));
    let mut recorded = Recorded {
        decide,
        moved: None,
        leased: None,
        calls: Vec::new(),
    };
    if let (true, Some(lease_next)) = (decide, decide_and_lease) {
        let moved = progress::decide_in(&mut tx, task.deployment_id)
            .await
            .map_err(Failed::Decision)?;
        let own = lease_next && moved.targets.contains(&target.name);
        if own {
            recorded.leased = task_lease::lease_next(&mut tx, &target.name, lease_deadline())
                .await
                .map_err(Failed::Decision)?;
        }
        recorded.calls =
            progress::lease_for_waiting(&mut tx, waiting, &moved, own.then_some(&target.name))
                .await
                .map_err(Failed::Decision)?;
        recorded.decide = false;
        recorded.moved = Some(moved);
    }
    tx.commit().await.map_err(|e| {
        if in_decision {
            Failed::Decision(e.into())
        } else {
            Failed::Result(e.into())
        }
    })?;
    Ok(recorded)
}

/// What an agent asks for when it fetches an artifact: which deployment needs it, where to.
#[derive(Debug, Clone)]
pub struct Handout {
    pub deployment: i64,
    pub project: Name,
    pub release: Version,
    pub environment: Name,
    pub component: Name,
    pub version: slipway_core::release::ArtifactVersion,
    pub digest: slipway_core::Sha256,
    pub target: String,
}

/// An agent may fetch an artifact only while it holds a task of a release that contains it.
pub(crate) async fn may_fetch(
    state: &AppState,
    target: &Target,
    digest: &slipway_core::Sha256,
) -> Result<Handout, ServiceError> {
    for d in state.store.deployments_leased_to(&target.name).await? {
        let (Ok(project), Ok(version), Ok(environment)) = (
            Name::parse(&d.project),
            Version::parse(&d.release_version),
            Name::parse(&d.environment),
        ) else {
            continue;
        };
        if let Some(release) = state.store.release(&project, &version).await? {
            if let Some(artifact) = release.artifacts.iter().find(|a| a.digest == *digest) {
                return Ok(Handout {
                    deployment: d.id,
                    project,
                    release: version,
                    environment,
                    component: artifact.component.clone(),
                    version: artifact.version.clone(),
                    digest: *digest,
                    target: target.name.clone(),
                });
            }
        }
    }
    // The same answer as for bytes that do not exist: an agent learns nothing about others' work.
    Err(ServiceError::not_found(
        format!("an artifact {digest} for a task of this agent"),
        "",
    ))
}
