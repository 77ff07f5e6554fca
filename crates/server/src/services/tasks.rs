//! The agent side of a deployment: leasing tasks (long poll), receiving logs and results
//! (`results`), and handing out artifacts. An agent only ever sees tasks for its own target,
//! and only the variables of its own task. What runs next is never decided here (`services::progress` does).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::futures::{Notified, OwnedNotified};

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::state::{task_transition, DeploymentKind, Phase, TaskEvent, TaskState};
use slipway_core::deploy::vars::{mask, resolve};
use slipway_core::release::Version;
use slipway_core::Name;
use slipway_protocol::{
    AgentStart, AgentStarted, ArtifactRef, Assignment, LeaseRequest, LogAck, LogBatch,
};
use slipway_store::{StoredTask, Target};

use super::progress::{lease_deadline, lease_secs};
use crate::transitions::deployment::phase_runs;
use crate::transitions::task_lease::{self, Leased, SharedReads};
use crate::waiting_agents::Seated;
use crate::{AppState, ServiceError};

mod results;
pub(crate) use results::{result, Reported};

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
    if let Some(session) = &request.session {
        if let Some(assignment) = hand_again(state, target, session).await? {
            return Ok(Some(assignment));
        }
    }
    lease_new(state, target, request).await
}

/// [`lease`] for an agent whose result this request just recorded (`tasks::Reported`): it ran
/// the task the answer before handed it, so no answer of its session was lost since and it
/// holds no lease to hand again (the read that asks is left out). A result sent again asks
/// [`lease`] instead. `looked`: the result's write already looked for its next task and a
/// battery after these bells were registered (`Reported::looked`), so the wait starts at once.
pub(crate) async fn lease_after_result(
    state: &AppState,
    target: &Target,
    request: LeaseRequest,
    looked: Option<Looked<'_>>,
) -> Result<Option<Assignment>, ServiceError> {
    match looked {
        Some(Looked { bells, seat }) => {
            wait_for_work(state, target, &request, seat, Some(bells)).await
        }
        None => lease_new(state, target, request).await,
    }
}

/// What a lease long poll waits on besides its seat: its target's bell (a dispatch to it) and
/// the bell for any agent (a battery, a wake-up naming nobody). Registered before the look for
/// work they follow, so that work dispatched after that look still wakes the wait.
pub(crate) struct Bells<'a> {
    for_anyone: Notified<'a>,
    for_this_target: OwnedNotified,
}

impl<'a> Bells<'a> {
    pub(crate) fn ring_for(state: &'a AppState, target: &str) -> Bells<'a> {
        Bells {
            for_anyone: state.engine.agents.notified(),
            for_this_target: state.engine.agent_bell(target).notified_owned(),
        }
    }
}

/// A look for an agent's next task made by the write of its result, which found nothing: the
/// bells registered before it, and the seat taken after it when the request waits under a
/// session (`results::Taken::looked`).
pub(crate) struct Looked<'a> {
    pub(crate) bells: Bells<'a>,
    pub(crate) seat: Option<Seated>,
}

/// A task not yet leased to this agent, waiting up to the long-poll time for one to appear.
async fn lease_new(
    state: &AppState,
    target: &Target,
    request: LeaseRequest,
) -> Result<Option<Assignment>, ServiceError> {
    // Under a session, a dispatch may lease this agent's task in its own write and hand it
    // over here (`waiting_agents`): what it hands and does not reach the agent is handed again
    // at its next request (`hand_again`), which only a session allows.
    let seat =
        (request.wait && request.session.is_some()).then(|| state.engine.waiting.sit(&target.name));
    wait_for_work(state, target, &request, seat, None).await
}

/// Look for work and wait for it until the long poll's end, in `seat` when it has one.
/// `looked`: a look was made after these bells were registered, so the first wait needs none.
async fn wait_for_work(
    state: &AppState,
    target: &Target,
    request: &LeaseRequest,
    mut seat: Option<Seated>,
    mut looked: Option<Bells<'_>>,
) -> Result<Option<Assignment>, ServiceError> {
    let deadline = Instant::now()
        + if request.wait {
            LONG_POLL
        } else {
            Duration::ZERO
        };
    loop {
        let bells = match looked.take() {
            Some(bells) => bells,
            None => {
                // Register interest before looking, so a task dispatched in between still wakes
                // us: a dispatch to this target rings its bell, anything else for anyone rings
                // `agents`.
                let bells = Bells::ring_for(state, &target.name);
                if let Some(assignment) = try_lease(state, target).await? {
                    return Ok(Some(assignment));
                }
                // A deployment's step first; then a battery someone asked for.
                if let Some(battery) = crate::services::test_batteries::lease(
                    state,
                    target,
                    lease_deadline(),
                    lease_secs(),
                )
                .await?
                {
                    return Ok(Some(battery));
                }
                bells
            }
        };
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
            () = bells.for_anyone => {}
            () = bells.for_this_target => {}
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
    let Some(leased) =
        task_lease::lease_next(&mut tx, &target.name, lease_deadline(), None).await?
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
                shared: SharedReads::default(),
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
        shared,
    } = leased;
    let project = parse_name(&deployment.project)?;
    let version = Version::parse(&deployment.release_version)
        .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    let (release, values) = shared
        .get_or_read(|| async {
            let release = state
                .store
                .release(&project, &version)
                .await?
                .ok_or_else(|| {
                    ServiceError::not_found(format!("release {} {}", project, version), "")
                })?;
            // The same values the promotion's `variables` criterion checked.
            let values = crate::services::variables::deployment_values(state, &release).await?;
            Ok::<_, ServiceError>((release, values))
        })
        .await?;
    let environment = parse_name(&deployment.environment)?;
    let roles: Vec<Name> = target
        .roles
        .iter()
        .filter_map(|r| Name::parse(r).ok())
        .collect();
    let resolved = resolve(values, &environment, &roles);
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
    project_secrets(state, &d.project).await
}

/// The secret values of `project`'s variables.
async fn project_secrets(state: &AppState, project: &str) -> Result<Vec<String>, ServiceError> {
    let project = parse_name(project)?;
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
