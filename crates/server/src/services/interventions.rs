//! Manual interventions: a `manual` step pauses its deployment until an authorised person
//! proceeds or aborts. An abort counts as a failed step, so the environment's failure policy
//! applies; every answer is audited with who answered and their comment.

use serde::{Deserialize, Serialize};
use serde_json::json;
use slipway_core::access::{allows, Operation, Role};
use slipway_core::deploy::progress::{Run, INTERVENTION_TARGET};
use slipway_core::deploy::state::{task_transition, DeploymentEvent, DeploymentState, TaskEvent};
use slipway_core::plan::Action;
use slipway_store::{StoredDeployment, StoredTask};

use super::{entry, parse_name, require};
use crate::auth::Actor;
use crate::transitions::deployment::{phase_runs, settle, start_rollback};
use crate::{AppState, ServiceError};

/// The longest comment an answer keeps.
const MAX_COMMENT: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Proceed,
    Abort,
}

/// The intervention a deployment waits for, as people need to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intervention {
    /// The plan step number.
    pub step: usize,
    pub name: String,
    pub instructions: String,
    /// The role the step names, if any.
    pub approvers: Option<Role>,
    /// Who may answer, in words ("admin or ops").
    pub who_may_answer: String,
    pub since: Option<String>,
}

fn manual_run<'a>(d: &'a StoredDeployment, task: &StoredTask) -> Option<&'a Run> {
    phase_runs(d)
        .get(task.run_index as usize)
        .filter(|r| matches!(r.action, Action::Manual(_)))
}

fn waiting_task<'a>(d: &StoredDeployment, tasks: &'a [StoredTask]) -> Option<&'a StoredTask> {
    if d.state != DeploymentState::WaitingForIntervention {
        return None;
    }
    tasks.iter().find(|t| {
        t.phase == d.phase
            && t.target == INTERVENTION_TARGET
            && t.state == slipway_core::deploy::state::TaskState::Pending
            && manual_run(d, t).is_some()
    })
}

fn operation(run: &Run, protected: bool) -> Operation {
    let approvers = match &run.action {
        Action::Manual(p) => p.approvers,
        _ => None,
    };
    Operation::AnswerIntervention {
        protected,
        approvers,
    }
}

fn who_may(op: Operation) -> String {
    Role::ALL
        .into_iter()
        .filter(|r| allows(*r, op))
        .map(Role::as_str)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The intervention `d` waits for, if it waits for one.
pub fn waiting(
    d: &StoredDeployment,
    tasks: &[StoredTask],
    protected: bool,
) -> Option<Intervention> {
    let task = waiting_task(d, tasks)?;
    let run = manual_run(d, task)?;
    let Action::Manual(p) = &run.action else {
        return None;
    };
    Some(Intervention {
        step: run.step,
        name: run.name.clone(),
        instructions: p.instructions.clone(),
        approvers: p.approvers,
        who_may_answer: who_may(operation(run, protected)),
        since: task.started_at.map(slipway_store::format_time),
    })
}

/// The intervention `d` waits for, with who may answer it in its environment.
pub async fn for_view(
    state: &AppState,
    d: &StoredDeployment,
    tasks: &[StoredTask],
) -> Result<Option<Intervention>, ServiceError> {
    if waiting_task(d, tasks).is_none() {
        return Ok(None);
    }
    let protected = environment_protected(state, &d.environment).await?;
    Ok(waiting(d, tasks, protected))
}

/// Whether `actor` may answer the intervention `d` waits for (false when it waits for none).
pub async fn may_answer(
    state: &AppState,
    actor: &Actor,
    d: &StoredDeployment,
    tasks: &[StoredTask],
) -> bool {
    let Some(task) = waiting_task(d, tasks) else {
        return false;
    };
    let Some(run) = manual_run(d, task) else {
        return false;
    };
    let protected = environment_protected(state, &d.environment)
        .await
        .unwrap_or(true);
    allows(actor.role, operation(run, protected))
}

async fn environment_protected(state: &AppState, environment: &str) -> Result<bool, ServiceError> {
    let name = parse_name("environment", environment)?;
    // A deleted environment counts as protected: only ops and admins answer there.
    Ok(state
        .store
        .environment(&name)
        .await?
        .is_none_or(|e| e.protected))
}

/// Proceed (the next step runs) or abort (the step fails; the environment's policy applies).
pub async fn answer(
    state: &AppState,
    actor: &Actor,
    id: i64,
    answer: Answer,
    comment: Option<String>,
) -> Result<StoredDeployment, ServiceError> {
    let comment = comment
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty());
    if comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_COMMENT)
    {
        return Err(ServiceError::invalid(
            format!("the comment is longer than {MAX_COMMENT} characters"),
            "say it shorter, and link to the details",
        ));
    }
    if answer == Answer::Abort && comment.is_none() {
        return Err(ServiceError::invalid(
            "an abort needs a comment saying why",
            format!("e.g. `slipway deployment abort {id} --comment \"error rate too high\"`"),
        ));
    }
    let not_found = || {
        ServiceError::not_found(
            format!("deployment {id}"),
            "list them with `slipway deployment list`",
        )
    };
    let d = state.store.deployment(id).await?.ok_or_else(not_found)?;
    let tasks = state.store.tasks(id).await?;
    let subject = format!("deployment/{id}");
    let Some(run) = waiting_task(&d, &tasks).and_then(|t| manual_run(&d, t)) else {
        return Err(ServiceError::Conflict(format!(
            "deployment {id} is {}, not waiting for a manual intervention; there is nothing to answer",
            d.state
        )));
    };
    let protected = environment_protected(state, &d.environment).await?;
    require(state, actor, operation(run, protected), &subject).await?;

    let mut tx = state.store.write().await?;
    let mut d = tx.deployment(id).await?.ok_or_else(not_found)?;
    let mut tasks = tx.tasks(id).await?;
    let Some(index) =
        waiting_task(&d, &tasks).and_then(|w| tasks.iter().position(|t| t.id == w.id))
    else {
        return Err(ServiceError::Conflict(format!(
            "deployment {id} was answered meanwhile (it is {}); reload it",
            d.state
        )));
    };
    let run = manual_run(&d, &tasks[index])
        .cloned()
        .expect("waiting_task only finds manual runs");
    let proceed = answer == Answer::Proceed;
    let task = &mut tasks[index];
    task.state = task_transition(task.state, TaskEvent::Answer { proceed })
        .map_err(|e| ServiceError::invalid(e.to_string(), "reload the deployment"))?;
    task.finished_at = Some(slipway_store::current_time());
    let verb = if proceed { "proceeded" } else { "aborted" };
    task.summary = Some(match &comment {
        Some(c) => format!("{verb} by {}: {c}", actor.username),
        None => format!("{verb} by {}", actor.username),
    });
    tx.update_task(task).await?;
    if proceed {
        settle(&mut d, DeploymentEvent::Proceed, None)?;
    } else {
        let policy = tx
            .environment(&parse_name("environment", &d.environment)?)
            .await?
            .map(|e| e.on_failure)
            .unwrap_or_default();
        let why = format!(
            "step {} \"{}\" was aborted by {}: {}",
            run.step,
            run.name,
            actor.username,
            comment.as_deref().unwrap_or_default()
        );
        settle(&mut d, DeploymentEvent::StepFailed { policy }, Some(why))?;
        if d.state == DeploymentState::RollingBack {
            start_rollback(&mut tx, &mut d, &tasks).await?;
        }
    }
    tx.update_deployment(&d).await?;
    tx.audit(entry(
        actor,
        "deployment.intervention",
        subject,
        json!({ "answer": answer, "comment": comment, "step": run.step, "name": run.name, "state": d.state }),
    ));
    tx.commit().await?;
    state.wake_orchestrator();
    Ok(d)
}
