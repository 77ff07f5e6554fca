//! Deployments as people ask for them: deploy a release, dry-run it, roll back, decide after a
//! failure, follow one. `services::progress` does the moving, turned by the orchestrator loop.

use serde::{Deserialize, Serialize};
use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::deploy::progress::{rollback_runs, TaskStatus};
use slipway_core::deploy::state::{
    task_transition, DeploymentEvent, DeploymentKind, DeploymentState, Phase, TaskEvent, TaskState,
};
use slipway_core::governance::reason::{rollback_needs_reason, written_reason};
use slipway_core::release::Version;
use slipway_core::rollback::RollbackPlan;
use slipway_core::Name;
use slipway_store::{LogLine, ReleaseDeployments, StoredDeployment, StoredTask};

use super::paging::{Listed, PageRequest};
use super::runs::prepare_runs;
use super::{entry, parse_name, require};
use crate::auth::Actor;
use crate::transitions::deployment::{insert_in, settle, start_rollback, statuses, NewDeployment};
use crate::{AppState, ServiceError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Deploy,
    DryRun,
}

async fn environment_for(
    state: &AppState,
    actor: &Actor,
    environment: &Name,
    what: &str,
) -> Result<slipway_core::model::Environment, ServiceError> {
    let env = state.store.environment(environment).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("environment {environment}"),
            "list them with `slipway env list`",
        )
    })?;
    require(
        state,
        actor,
        Operation::Deploy {
            protected: env.protected,
        },
        what,
    )
    .await?;
    Ok(env)
}

/// Start deploying (or dry-running) a release into an environment.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    version: &str,
    environment: &Name,
    mode: Mode,
) -> Result<crate::services::promotions::Started, ServiceError> {
    let subject = format!("project/{project}/environment/{environment}");
    let env = environment_for(state, actor, environment, &subject).await?;
    let version = Version::parse(version)
        .map_err(|e| ServiceError::invalid(e.to_string(), "e.g. --release 1.4.2"))?;
    let release = state
        .store
        .release(project, &version)
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("release {version} of {project}"),
                "list releases with `slipway release list --project P`",
            )
        })?;
    if mode == Mode::Deploy {
        return crate::services::promotions::deploy_now(state, actor, &release, &env).await;
    }
    crate::services::releases::check_environment_policy(state, &release, environment).await?;
    let runs = prepare_runs(state, &release, environment).await?;
    insert(
        state,
        NewDeployment {
            requested_by: &actor.username,
            project,
            version: &version.to_string(),
            environment: &env.name,
            kind: DeploymentKind::DryRun,
            rollback_of: None,
            runs,
            reason: None,
        },
    )
    .await
    .map(crate::services::promotions::Started::Deployment)
}

/// Insert a deployment in a write of its own and wake the orchestrator.
async fn insert(
    state: &AppState,
    new: NewDeployment<'_>,
) -> Result<StoredDeployment, ServiceError> {
    let mut tx = state.store.write().await?;
    let d = insert_in(&mut tx, new).await?;
    tx.commit().await?;
    state.wake_orchestrator();
    Ok(d)
}

/// Undo the last successful deployment of `project` in `environment` with its derived rollback;
/// in a protected environment, only with a written `reason` (kept in the audit event).
pub async fn rollback(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    environment: &Name,
    reason: Option<&str>,
) -> Result<StoredDeployment, ServiceError> {
    let subject = format!("project/{project}/environment/{environment}");
    let env = environment_for(state, actor, environment, &subject).await?;
    let reason = if rollback_needs_reason(env.protected) {
        let act = format!("a rollback in the protected environment {environment}");
        Some(written_reason(&act, reason).map_err(|e| {
            ServiceError::invalid(
                e.to_string(),
                "say why, for the audit trail: e.g. --reason \"INC-4211: checkout errors since 1.4.0\"",
            )
        })?)
    } else {
        reason.map(str::trim).filter(|r| !r.is_empty())
    };
    let mut tx = state.store.write().await?;
    let last = tx
        .last_successful_deployment(project.as_str(), environment.as_str())
        .await?
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("a successful deployment of {project} in {environment}"),
                "there is nothing to roll back",
            )
        })?;
    let tasks = tx.tasks(last.id).await?;
    drop(tx);
    let done = statuses(&tasks, Phase::Forward);
    let runs = rollback_runs(&last.runs, &done, |_| Vec::new());
    if runs.is_empty() {
        return Err(ServiceError::invalid(
            format!("deployment {} changed nothing that can be undone", last.id),
            "redeploy an earlier release instead",
        ));
    }
    insert(
        state,
        NewDeployment {
            requested_by: &actor.username,
            project,
            version: &last.release_version,
            environment,
            kind: DeploymentKind::Rollback,
            rollback_of: Some(last.id),
            runs,
            reason,
        },
    )
    .await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Retry,
    Skip,
    RollBack,
    Cancel,
}

/// Retry the failed step, skip it, roll back, or cancel.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: i64,
    decision: Decision,
) -> Result<StoredDeployment, ServiceError> {
    let d = state
        .store
        .deployment(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("deployment {id}"), ""))?;
    environment_for(
        state,
        actor,
        &parse_name("environment", &d.environment)?,
        &format!("deployment/{id}"),
    )
    .await?;
    let mut tx = state.store.write().await?;
    let mut d = tx
        .deployment(id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("deployment {id}"), ""))?;
    let tasks = tx.tasks(id).await?;
    let stuck: Vec<StoredTask> = tasks
        .iter()
        .filter(|t| t.phase == d.phase && matches!(t.state, TaskState::Failed | TaskState::Lost))
        .cloned()
        .collect();
    match decision {
        Decision::Retry | Decision::Skip => {
            let event = if decision == Decision::Retry {
                DeploymentEvent::Retry
            } else {
                DeploymentEvent::Skip
            };
            settle(&mut d, event, None)?;
            for mut t in stuck {
                t.state = task_transition(
                    t.state,
                    if decision == Decision::Retry {
                        TaskEvent::Retry
                    } else {
                        TaskEvent::Skip
                    },
                )
                .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
                if decision == Decision::Retry {
                    t.attempt += 1;
                    t.started_at = None;
                    t.finished_at = None;
                    t.exit_code = None;
                    t.summary = None;
                }
                tx.update_task(&t).await?;
            }
            d.failure = None;
        }
        Decision::RollBack => {
            settle(&mut d, DeploymentEvent::RollBack, None)?;
            start_rollback(&mut tx, &mut d, &tasks).await?;
        }
        Decision::Cancel => {
            settle(
                &mut d,
                DeploymentEvent::Cancel,
                Some(format!("cancelled by {}", actor.username)),
            )?;
            for mut t in tasks.into_iter().filter(|t| t.state == TaskState::Pending) {
                t.state = TaskState::Cancelled;
                tx.update_task(&t).await?;
            }
        }
    }
    tx.update_deployment(&d).await?;
    tx.audit(entry(
        actor,
        "deployment.decision",
        format!("deployment/{id}"),
        json!({ "decision": decision, "state": d.state, "kind": d.kind, "project": d.project, "release": d.release_version, "environment": d.environment }),
    ));
    tx.commit().await?;
    state.wake_orchestrator();
    Ok(d)
}

/// A deployment with its tasks and, before it runs, the rollback Ops should validate.
#[derive(Debug)]
pub struct DeploymentView {
    pub deployment: StoredDeployment,
    pub tasks: Vec<StoredTask>,
    /// What a rollback would undo if every step completed.
    pub rollback_preview: RollbackPlan,
    /// The manual intervention the deployment waits for, if it waits for one.
    pub intervention: Option<super::interventions::Intervention>,
    /// The task change number `tasks` reflect: a follower passes it back to be answered only
    /// the tasks changed since ([`ViewParts::tasks_after`]).
    pub tasks_through: i64,
}

/// Which parts of a deployment a reader asks for: a follower holds the plan and the tasks of
/// its earlier answers, and asks only for what changes.
#[derive(Debug, Clone, Copy)]
pub struct ViewParts {
    /// The plan (runs, undo runs, rollback preview); left out, they answer empty.
    pub plan: bool,
    /// Only the tasks changed after this task change number; none: every task.
    pub tasks_after: Option<i64>,
}

impl ViewParts {
    /// Everything: what `GET /deployments/{id}` answers without parameters.
    pub const WHOLE: ViewParts = ViewParts {
        plan: true,
        tasks_after: None,
    };
}

pub async fn get(state: &AppState, actor: &Actor, id: i64) -> Result<DeploymentView, ServiceError> {
    get_with(state, actor, id, ViewParts::WHOLE).await
}

/// [`get`] with only the `parts` asked for: without the plan (runs, undo runs and rollback
/// preview empty) and with only the tasks changed since the follower's last answer, so that
/// following a deployment costs the same at its hundredth step as at its first.
async fn get_with(
    state: &AppState,
    actor: &Actor,
    id: i64,
    parts: ViewParts,
) -> Result<DeploymentView, ServiceError> {
    require(state, actor, Operation::Read, &format!("deployment/{id}")).await?;
    let mut deployment = state.store.deployment(id).await?.ok_or_else(|| {
        ServiceError::not_found(
            format!("deployment {id}"),
            "list them with `slipway deployment list`",
        )
    })?;
    let changes = state.store.task_changes(id, parts.tasks_after).await?;
    let (tasks, tasks_through) = (changes.tasks, changes.through);
    let intervention = match parts.tasks_after {
        // The task an intervention waits on may have changed before the follower's number.
        Some(_) if deployment.state == DeploymentState::WaitingForIntervention => {
            let all = state.store.tasks(id).await?;
            super::interventions::for_view(state, &deployment, &all).await?
        }
        _ => super::interventions::for_view(state, &deployment, &tasks).await?,
    };
    if !parts.plan {
        deployment.runs = Vec::new().into();
        deployment.rollback_runs = Vec::new().into();
        return Ok(DeploymentView {
            deployment,
            tasks,
            rollback_preview: RollbackPlan {
                steps: Vec::new(),
                left_as_is: Vec::new(),
            },
            intervention,
            tasks_through,
        });
    }
    let all: Vec<TaskStatus> = deployment
        .runs
        .iter()
        .enumerate()
        .flat_map(|(r, run)| {
            run.batches.iter().flatten().map(move |t| TaskStatus {
                run: r,
                batch: 0,
                target: t.clone(),
                state: TaskState::Succeeded,
            })
        })
        .collect();
    let preview_runs = rollback_runs(&deployment.runs, &all, |_| Vec::new());
    let rollback_preview = RollbackPlan {
        steps: preview_runs
            .into_iter()
            .map(|r| slipway_core::rollback::RollbackStep {
                undoes: r.step,
                name: r.name,
                roles: Vec::new(),
                action: r.action,
            })
            .collect(),
        left_as_is: Vec::new(),
    };
    Ok(DeploymentView {
        deployment,
        tasks,
        rollback_preview,
        intervention,
        tasks_through,
    })
}

/// The longest a reader may wait for a deployment to change (`wait_secs`).
pub const MAX_WAIT_SECS: u64 = 60;

/// [`get`] once the deployment has changed since `after` (the `last_event_seq` the reader
/// holds), or once `wait` has passed, with the sequence number of its newest event (read before
/// the deployment, so no change is missed between two calls). The readers of a deployment wait
/// on the signal its changes ring here, and look again each second for the changes another server
/// of a PostgreSQL database made.
pub async fn get_after(
    state: &AppState,
    actor: &Actor,
    id: i64,
    after: Option<i64>,
    wait: std::time::Duration,
    parts: ViewParts,
) -> Result<(DeploymentView, i64), ServiceError> {
    require(state, actor, Operation::Read, &format!("deployment/{id}")).await?;
    let subject = format!("deployment/{id}");
    let deadline = tokio::time::Instant::now() + wait;
    let mut waited = false;
    loop {
        // Registered before the reads, so a change committed in between still wakes this reader
        // (and a change of the deployment's state, the burst's wait below).
        let changed = state.engine.deployments.notified();
        let states = state.engine.deployment_states.notified();
        let seq = state.store.last_event_seq(&subject).await?;
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if after.is_none_or(|a| seq > a) || left.is_zero() {
            if waited && !left.is_zero() && still_moving(state, id).await? {
                // A change seen as it happens is the first of a burst (a step's result, the
                // decision after it, the next lease): let the burst land, so a follower reads
                // the view once for it rather than once per event. The end of a deployment
                // (or its stop for a person) is no burst's start: it is answered at once,
                // and so is an end that lands while the burst settles.
                let_burst_land(state, id, SETTLE.min(left), states).await?;
                let seq = state.store.last_event_seq(&subject).await?;
                return Ok((get_with(state, actor, id, parts).await?, seq));
            }
            return Ok((get_with(state, actor, id, parts).await?, seq));
        }
        let look_again = left.min(std::time::Duration::from_secs(1));
        let _ = tokio::time::timeout(look_again, changed).await;
        waited = true;
    }
}

/// Wait `most` for a burst of changes to land, but no longer than the deployment goes on: each
/// change that may be of its state (`Signals::deployment_states`, rung with every wake-up of
/// the orchestrator; `states` registered before the caller last asked) asks whether it still
/// moves (a read of one row, not the view); the tasks' changes, most of a burst, ask nothing.
async fn let_burst_land(
    state: &AppState,
    id: i64,
    most: std::time::Duration,
    states: tokio::sync::futures::Notified<'_>,
) -> Result<(), ServiceError> {
    let until = tokio::time::Instant::now() + most;
    let mut changed = std::pin::pin!(states);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(until) => return Ok(()),
            () = &mut changed => {}
        }
        // Registered before the read, so a change committed in between still wakes this wait.
        changed.set(state.engine.deployment_states.notified());
        if !still_moving(state, id).await? {
            return Ok(());
        }
    }
}

/// Whether the deployment goes on by itself (neither ended nor waiting for a person): only
/// then do more changes follow the one a reader just saw.
async fn still_moving(state: &AppState, id: i64) -> Result<bool, ServiceError> {
    Ok(state.store.deployment_standing(id).await?.is_some_and(|d| {
        !d.state.is_final()
            && !matches!(
                d.state,
                DeploymentState::AwaitingDecision | DeploymentState::WaitingForIntervention
            )
    }))
}

/// How long a waiting reader lets a burst of changes land before it reads ([`get_after`]): a
/// follower sees a change this much later, and the server reads the view a third as often
/// while steps go by.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(25);

pub async fn list(
    state: &AppState,
    actor: &Actor,
    project: Option<&str>,
    environment: Option<&str>,
    limit: i64,
) -> Result<Vec<StoredDeployment>, ServiceError> {
    require(state, actor, Operation::Read, "deployments").await?;
    Ok(state.store.deployments(project, environment, limit).await?)
}

/// Which deployments a list holds: every one, or those of a project, an environment, one
/// release of a project (`version` needs `project`), or a combination.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeploymentFilter<'a> {
    pub project: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub version: Option<&'a str>,
}

/// One page of deployments, newest first (by id), within `filter`. A release's list reads
/// that release's deployments through their own index, however many others the project has.
pub async fn page(
    state: &AppState,
    actor: &Actor,
    filter: DeploymentFilter<'_>,
    request: &PageRequest,
) -> Result<Listed<StoredDeployment>, ServiceError> {
    require(state, actor, Operation::Read, "deployments").await?;
    let after = request.id_key(LIST, "deployment id")?;
    let found = match (filter.project, filter.version) {
        (_, None) => {
            state
                .store
                .deployments_page(filter.project, filter.environment, after, request.size)
                .await?
        }
        (Some(project), Some(version)) => {
            let release = ReleaseDeployments {
                project,
                version,
                environment: filter.environment,
            };
            state
                .store
                .release_deployments_page(release, after, request.size)
                .await?
        }
        (None, Some(version)) => {
            // The query itself is wrong, as a bad page request is: a 400, not a 422.
            return Err(ServiceError::BadRequest {
                message: format!(
                    "version {version} is given without project: a version names a release of one project"
                ),
                hint: format!("pass project as well, e.g. ?project=pets&version={version}"),
            });
        }
    };
    // One cursor name whatever the filters: an id stays a valid place in any of them.
    Ok(Listed::from_page(found, LIST, |d| vec![d.id.to_string()]))
}

/// The name deployment cursors carry.
const LIST: &str = "deployments";

/// How many of a failed step's last lines lead a failed deployment's page.
pub const FAILURE_TAIL_LINES: i64 = 12;

/// The step whose failure ended a deployment and what it printed last.
#[derive(Debug)]
pub struct FailureTail {
    pub task: StoredTask,
    pub lines: Vec<LogLine>,
}

/// The first task to fail (or be lost) — a forward step before an undo — and the last
/// `FAILURE_TAIL_LINES` lines of its last attempt; `None` while nothing has failed. A reader
/// sees why at the top of the page instead of scrolling a long log for it.
pub async fn failure_tail(
    state: &AppState,
    actor: &Actor,
    view: &DeploymentView,
) -> Result<Option<FailureTail>, ServiceError> {
    let id = view.deployment.id;
    require(state, actor, Operation::Read, &format!("deployment/{id}")).await?;
    let Some(task) = view
        .tasks
        .iter()
        .filter(|t| matches!(t.state, TaskState::Failed | TaskState::Lost))
        .min_by_key(|t| {
            (
                matches!(t.phase, Phase::Rollback),
                t.finished_at,
                t.run_index,
            )
        })
    else {
        return Ok(None);
    };
    let lines = state
        .store
        .task_log_tail(&task.id, task.attempt, FAILURE_TAIL_LINES)
        .await?;
    Ok(Some(FailureTail {
        task: task.clone(),
        lines,
    }))
}
