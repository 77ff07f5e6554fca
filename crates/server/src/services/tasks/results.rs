//! Recording the results agents report. A result, its task's transition and its audit event are
//! written in one transaction with the other results that arrived meanwhile (group commit,
//! `result_arrivals`); on the server holding the background lease, the decision they call for
//! and the next tasks' leases go into the same write. An agent is answered only once the write
//! holding its result committed. What runs next is `services::progress`'s to say.

use serde_json::json;
use slipway_core::deploy::state::{task_transition, TaskEvent, TaskState};
use slipway_core::deploy::vars::mask;
use slipway_protocol::{Assignment, LeaseRequest, TaskResult};
use slipway_store::{StoredDeployment, StoredTask, Target, TaskLines, WriteTx};

use std::collections::HashMap;

use super::{agent_entry, assignment, project_secrets, Bells, Looked};
use crate::result_arrivals::{Answer, Arrival, Queued, Taken};
use crate::services::progress;
use crate::services::progress::lease_deadline;
use crate::transitions::deployment::phase_runs;
use crate::transitions::task_lease::{lease_next_of, Leased};
use crate::waiting_agents::{Called, WaitingAgents};
use crate::{AppState, ServiceError};

/// Record a task's outcome. Sending the same result again is harmless: the first one counts.
///
/// The result waits for the write of the results that arrived before it, then goes into the
/// next write with every result that arrived meanwhile. On the server holding the background
/// lease (always, on SQLite) the decisions those results call for are taken in that write,
/// fenced as the orchestrator's are, so that the next step is dispatched in the same commit;
/// and when the agent asks for its next task with the result (`lease_next`) and that step is its
/// own, its lease is taken there too and answered here: one round trip per step. Elsewhere, or
/// when a decision fails (the write rolls back whole), the results are written alone and the
/// lease holder decides.
pub(crate) async fn result<'a>(
    state: &'a AppState,
    target: &Target,
    task_id: &str,
    result: TaskResult,
    next: Option<&LeaseRequest>,
) -> Result<Reported<'a>, ServiceError> {
    // Registered before the write looks for the agent's next task (`Taken::looked`), so that
    // work dispatched after that look still wakes the wait that follows.
    let bells = next.map(|_| Bells::ring_for(state, &target.name));
    let arrival = Arrival {
        target: target.clone(),
        task_id: task_id.to_string(),
        result,
        now: state.clock.now(),
        lease_next: next.is_some(),
        may_seat: next.is_some_and(|r| r.wait && r.session.is_some()),
    };
    let writer = state.clone();
    let taken = state
        .engine
        .arrivals
        .submit(arrival, move |group, turn| {
            // A task of its own: the group's other requests wait on it, and it must end (and
            // answer them) even when the request that took the turn is dropped.
            tokio::spawn(async move {
                write_group(&writer, group).await;
                drop(turn);
            });
        })
        .await?;
    let looked = match (taken.looked, bells) {
        (true, Some(bells)) => Some(Looked {
            bells,
            seat: taken.seat,
        }),
        _ => None,
    };
    let next = match taken.next {
        Some(leased) => Some(assignment(state, target, leased).await?),
        None => None,
    };
    Ok(Reported {
        recorded: taken.recorded,
        next,
        looked,
    })
}

/// What an agent's result request is answered.
pub(crate) struct Reported<'a> {
    /// Its result was recorded by this request (not sent again, nor of a task settled without
    /// it): the agent then holds no other lease of its session, none to hand again.
    pub(crate) recorded: bool,
    /// Its next task, when the write of its result leased one for it.
    pub(crate) next: Option<Assignment>,
    /// Without a next task: the write looked for one and for a battery and found neither, so
    /// the lease that follows waits without looking first (`tasks::lease_after_result`).
    pub(crate) looked: Option<Looked<'a>>,
}

/// Write a group of results and answer each of its requests.
async fn write_group(state: &AppState, group: Vec<Queued>) {
    let (arrivals, replies): (Vec<Arrival>, Vec<_>) =
        group.into_iter().map(|q| (q.arrival, q.reply)).unzip();
    let mut answers = match written(state, &arrivals).await {
        Ok(answers) => answers,
        Err(e) if arrivals.len() == 1 => vec![Err(e)],
        // One result's write failed and the group's went with it: each is written alone, so
        // that a result is answered only with its own failure.
        Err(e) => {
            tracing::debug!(error = %e, results = arrivals.len(), "a group of results is written one by one");
            let mut answers = Vec::with_capacity(arrivals.len());
            for arrival in &arrivals {
                answers.push(match written(state, std::slice::from_ref(arrival)).await {
                    Ok(mut one) => one.pop().expect("one answer per result"),
                    Err(e) => Err(e),
                });
            }
            answers
        }
    };
    // The agents the write found nothing for wait seated, taken before the group's turn is
    // given up: the next group's write, which may dispatch their next step, calls them.
    for (arrival, answer) in arrivals.iter().zip(answers.iter_mut()) {
        if let Ok(taken) = answer {
            if taken.looked && arrival.may_seat {
                taken.seat = Some(state.engine.waiting.sit(&arrival.target.name));
            }
        }
    }
    for (reply, answer) in replies.into_iter().zip(answers) {
        // A request dropped meanwhile: its agent sends the result again, and hears it is in.
        let _ = reply.send(answer);
    }
}

/// Write `arrivals` in one transaction, with the decisions they call for on the lease holder;
/// one answer per arrival, in order. Fails whole when a result's write failed.
async fn written(state: &AppState, arrivals: &[Arrival]) -> Result<Vec<Answer>, ServiceError> {
    if let Some(fenced) = crate::leader::background(state) {
        match record(state, &fenced.store, arrivals, Some(&state.engine.waiting)).await {
            Ok(recorded) => return Ok(recorded.announce(state)),
            Err(Failed::Result(e)) => return Err(e),
            // The lease changed hands, or a decision failed: the results alone, below.
            Err(Failed::Decision(e)) => {
                tracing::debug!(error = %e, "the decision after a result is left to the orchestrator's turn");
            }
        }
    }
    let recorded = record(state, &state.store, arrivals, None)
        .await
        .map_err(Failed::into_inner)?;
    let decide = recorded.decide;
    let answers = recorded.announce(state);
    if decide {
        state.wake_orchestrator();
    }
    Ok(answers)
}

/// Why [`record`] wrote nothing.
enum Failed {
    /// A result could not be written (a database error, a transition its task refuses).
    Result(ServiceError),
    /// A decision taken with the results failed, or the background lease changed hands:
    /// writing the results alone may still succeed.
    Decision(ServiceError),
}

impl Failed {
    fn into_inner(self) -> ServiceError {
        match self {
            Failed::Result(e) | Failed::Decision(e) => e,
        }
    }
}

/// What one write of results committed.
struct Recorded {
    /// One answer per arrival, in order.
    answers: Vec<Answer>,
    /// A result called for a decision that was not taken in the write.
    decide: bool,
    /// The decisions taken in it.
    moved: Vec<progress::Moved>,
    /// The tasks it dispatched to agents waiting here, leased in it for them.
    calls: Vec<(Called, Leased)>,
    /// How many results it recorded.
    results: usize,
}

impl Recorded {
    /// Wake whoever the commit concerns; the answers.
    fn announce(self, state: &AppState) -> Vec<Answer> {
        if self.results > 0 {
            state.metrics.results_written(self.results as u64);
        }
        state.deployment_changed();
        progress::hand_over(state, self.calls);
        for moved in &self.moved {
            progress::wake_for(state, moved);
        }
        self.answers
    }
}

/// What writing one result did inside the group's transaction.
enum Written {
    /// Refused (another agent's task, another attempt): nothing written for it.
    Refused(ServiceError),
    /// Already settled (a retried request, or lost or cancelled without this agent): its
    /// lines, if any, are kept all the same once the write is done, as a log request's would be.
    Settled(Option<(i64, i64, Vec<String>)>),
    /// Recorded: the task as written, with its deployment (boxed: the other answers are small).
    Recorded(Box<(StoredTask, Option<StoredDeployment>)>),
}

/// What the results of one group read once for all of them: their deployments (no result
/// changes a deployment's row; the decisions come after every result), and the secret values
/// of their projects, masked out of what the agents sent.
#[derive(Default)]
struct Reads {
    /// The group's tasks, read in one statement before the first result and kept as each
    /// result changes them (a result sent twice in one group finds its task settled).
    tasks: HashMap<String, StoredTask>,
    deployments: HashMap<i64, Option<StoredDeployment>>,
    secrets: HashMap<String, Vec<String>>,
}

impl Reads {
    async fn tasks(tx: &mut WriteTx<'_>, arrivals: &[Arrival]) -> Result<Reads, ServiceError> {
        let mut ids: Vec<&str> = arrivals.iter().map(|a| a.task_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        let tasks = tx.tasks_by_id(&ids).await?;
        Ok(Reads {
            tasks: tasks.into_iter().map(|t| (t.id.clone(), t)).collect(),
            ..Reads::default()
        })
    }

    async fn deployment(
        &mut self,
        tx: &mut WriteTx<'_>,
        id: i64,
    ) -> Result<Option<StoredDeployment>, ServiceError> {
        if let Some(known) = self.deployments.get(&id) {
            return Ok(known.clone());
        }
        let read = tx.deployment(id).await?;
        self.deployments.insert(id, read.clone());
        Ok(read)
    }

    async fn secrets(
        &mut self,
        state: &AppState,
        project: &str,
    ) -> Result<&[String], ServiceError> {
        if !self.secrets.contains_key(project) {
            let values = project_secrets(state, project).await?;
            self.secrets.insert(project.to_string(), values);
        }
        Ok(self.secrets.get(project).map_or(&[], Vec::as_slice))
    }
}

/// Write `arrivals` in one transaction of `store`. With `decide_with` (`store` is then the
/// fenced one), also the decisions they call for, the next tasks of the agents that asked for
/// theirs with their result, and those of the agents waiting here (`decide_with`).
async fn record(
    state: &AppState,
    store: &slipway_store::Store,
    arrivals: &[Arrival],
    decide_with: Option<&WaitingAgents>,
) -> Result<Recorded, Failed> {
    let in_decision = decide_with.is_some();
    let failed = |e: ServiceError| {
        if in_decision {
            Failed::Decision(e)
        } else {
            Failed::Result(e)
        }
    };
    // A fenced write refused at its start: the lease changed hands, the results go alone.
    let mut tx = store.write().await.map_err(|e| failed(e.into()))?;
    let mut recorded = Recorded {
        answers: Vec::with_capacity(arrivals.len()),
        decide: false,
        moved: Vec::new(),
        calls: Vec::new(),
        results: 0,
    };
    let mut settled_lines = Vec::new();
    // One result of each batch the group reported in: after every result is written, each
    // batch is asked once whether it calls for a decision.
    let mut batches: Vec<(StoredDeployment, StoredTask)> = Vec::new();
    let mut reads = Reads::tasks(&mut tx, arrivals)
        .await
        .map_err(Failed::Result)?;
    // The group's task changes and last lines, written in one statement each after the loop.
    let mut changes = Changes::default();
    for (at, arrival) in arrivals.iter().enumerate() {
        match write_one(&mut tx, state, &mut reads, &mut changes, arrival)
            .await
            .map_err(Failed::Result)?
        {
            Written::Refused(e) => recorded.answers.push(Err(e)),
            Written::Settled(lines) => {
                recorded.answers.push(Ok(Taken {
                    recorded: false,
                    next: None,
                    looked: false,
                    seat: None,
                }));
                settled_lines.extend(lines.map(|l| (at, l)));
            }
            Written::Recorded(written) => {
                let (task, deployment) = *written;
                recorded.answers.push(Ok(Taken {
                    recorded: true,
                    next: None,
                    looked: false,
                    seat: None,
                }));
                recorded.results += 1;
                if let Some(d) = deployment {
                    let seen = batches.iter().any(|(d2, t)| {
                        d2.id == d.id
                            && (t.phase, t.run_index, t.batch_index)
                                == (task.phase, task.run_index, task.batch_index)
                    });
                    if !seen {
                        batches.push((d, task));
                    }
                }
            }
        }
    }
    changes
        .write(&mut tx, &reads)
        .await
        .map_err(Failed::Result)?;
    let mut to_decide: Vec<StoredDeployment> = Vec::new();
    for (d, task) in &batches {
        if !to_decide.iter().any(|known| known.id == d.id)
            && progress::needs_decision(&mut tx, d, task)
                .await
                .map_err(Failed::Result)?
        {
            to_decide.push(d.clone());
        }
    }
    match decide_with {
        Some(waiting) => {
            for known in to_decide {
                decide(&mut tx, known, arrivals, waiting, &mut recorded)
                    .await
                    .map_err(Failed::Decision)?;
            }
        }
        None => recorded.decide = !to_decide.is_empty(),
    }
    look_for_the_idle(&mut tx, arrivals, &mut recorded.answers)
        .await
        .map_err(failed)?;
    if recorded.results > 0 {
        tx.commit().await.map_err(|e| failed(e.into()))?;
    } else {
        // Nothing recorded, nothing to commit (a write without an audit event is refused).
        drop(tx);
    }
    for (at, (attempt, first_line_no, lines)) in settled_lines {
        let arrival = &arrivals[at];
        if let Err(e) = store
            .append_logs(&arrival.task_id, attempt, first_line_no, &lines)
            .await
        {
            recorded.answers[at] = Err(e.into());
        }
    }
    Ok(recorded)
}

/// What the results of a group change, written together once every result is taken
/// ([`Changes::write`]): the tasks ended (ids into `Reads::tasks`) and their last lines.
#[derive(Default)]
struct Changes {
    ended: Vec<String>,
    lines: Vec<(String, i64, i64, Vec<String>)>,
}

impl Changes {
    /// The last lines first, so that whoever reads a task's end reads every line (one
    /// transaction: a reader sees both or neither).
    async fn write(&self, tx: &mut WriteTx<'_>, reads: &Reads) -> Result<(), ServiceError> {
        let lines: Vec<TaskLines<'_>> = self
            .lines
            .iter()
            .map(|(task_id, attempt, first_line_no, lines)| TaskLines {
                task_id,
                attempt: *attempt,
                first_line_no: *first_line_no,
                lines,
            })
            .collect();
        tx.append_logs_of(&lines).await?;
        let ended: Vec<StoredTask> = self
            .ended
            .iter()
            .filter_map(|id| reads.tasks.get(id).cloned())
            .collect();
        tx.update_tasks(&ended).await?;
        Ok(())
    }
}

/// Take one result into the group's transaction: its last lines and its task's transition
/// (kept in `changes`, written with the group's), a batch step's inventory and its audit event.
async fn write_one(
    tx: &mut WriteTx<'_>,
    state: &AppState,
    reads: &mut Reads,
    changes: &mut Changes,
    arrival: &Arrival,
) -> Result<Written, ServiceError> {
    let Arrival {
        target,
        task_id,
        result,
        now,
        lease_next: _,
        may_seat: _,
    } = arrival;
    let Some(mut task) = reads
        .tasks
        .get(task_id)
        .filter(|t| t.target == target.name)
        .cloned()
    else {
        return Ok(Written::Refused(ServiceError::not_found(
            format!("task {task_id}"),
            "",
        )));
    };
    if task.attempt != result.attempt {
        return Ok(Written::Refused(ServiceError::Conflict(format!(
            "a result for attempt {} of task {task_id} (it is at attempt {})",
            result.attempt, task.attempt
        ))));
    }
    let deployment = reads.deployment(tx, task.deployment_id).await?;
    let secrets = match &deployment {
        Some(d) => reads.secrets(state, &d.project).await?,
        None => &[],
    };
    // Its last lines, masked as a log request's are (a result of another attempt, lines
    // included, is refused above, as a log request of it would be).
    let last_lines = result
        .last_lines
        .as_ref()
        .filter(|b| b.attempt == task.attempt && !b.lines.is_empty())
        .map(|b| {
            let lines: Vec<String> = b.lines.iter().map(|l| mask(l, secrets)).collect();
            (task.attempt, b.first_line_no, lines)
        });
    if task.state != TaskState::Leased {
        return Ok(Written::Settled(last_lines));
    }
    if let Some((attempt, first_line_no, lines)) = last_lines {
        changes
            .lines
            .push((task_id.clone(), attempt, first_line_no, lines));
    }
    task.state = task_transition(
        task.state,
        TaskEvent::Report {
            success: result.success,
        },
    )
    .map_err(|e| ServiceError::invalid(e.to_string(), ""))?;
    task.finished_at = Some(slipway_store::current_time());
    task.exit_code = result.exit_code;
    task.summary = Some(mask(&result.summary, secrets));
    task.leased_until = None;
    reads.tasks.insert(task_id.clone(), task.clone());
    changes.ended.push(task_id.clone());
    if let (true, Some(deployment)) = (result.success, &deployment) {
        // A batch step keeps the inventory in the transaction of its result.
        if let Some(run) = phase_runs(deployment).get(task.run_index as usize) {
            let action = run.action.clone();
            crate::services::batches::record_step(tx, deployment, &target.name, &action, *now)
                .await?;
        }
    }
    let verb = if result.success {
        "task.succeeded"
    } else {
        "task.failed"
    };
    tx.audit(agent_entry(&target.name, verb, task.deployment_id, json!({ "task": task.id, "attempt": task.attempt, "exit_code": task.exit_code, "summary": task.summary })));
    Ok(Written::Recorded(Box::new((task, deployment))))
}

/// Take the decisions deployment `known` calls for inside the group's write (`known`: its row
/// as the write read it; no result changes it); lease the next task of each agent of the group
/// that asked for it with its result, when the decisions dispatched one to its target
/// (answered with its result), and those of the agents waiting here.
async fn decide(
    tx: &mut WriteTx<'_>,
    known: StoredDeployment,
    arrivals: &[Arrival],
    waiting: &WaitingAgents,
    recorded: &mut Recorded,
) -> Result<(), ServiceError> {
    let id = known.id;
    let moved = progress::decide_in(tx, id, Some(known)).await?;
    // The agents of the group that asked for their next task with a result recorded here,
    // each once, and those waiting here: leased together.
    let mut asking: Vec<String> = Vec::new();
    for (at, arrival) in arrivals.iter().enumerate() {
        let name = &arrival.target.name;
        if arrival.lease_next && unanswered(&recorded.answers[at]) && !asking.contains(name) {
            asking.push(name.clone());
        }
    }
    let leases = progress::lease_for_waiting(tx, waiting, &moved, &asking).await?;
    for (target, leased) in leases.own {
        let at = arrivals
            .iter()
            .enumerate()
            .position(|(at, a)| {
                a.target.name == target && a.lease_next && unanswered(&recorded.answers[at])
            })
            .expect("a lease taken for an asking arrival answers it");
        if let Ok(taken) = &mut recorded.answers[at] {
            taken.next = Some(leased);
        }
    }
    recorded.calls.extend(leases.calls);
    recorded.moved.push(moved);
    Ok(())
}

/// Whether an arrival's answer so far is a result taken without a next task.
fn unanswered(answer: &Answer) -> bool {
    matches!(answer, Ok(Taken { next: None, .. }))
}

/// Look, in the group's write, for the next task of each agent that asked for it with a result
/// recorded here and got none from the decisions (of 20 agents running a step, all but the
/// last group's): a task pending for its target is leased to it here (one read for all of
/// them), and for the others, whether a battery waits in their environment (one more). Those
/// with neither are `looked`: their requests wait for a dispatch without looking again, instead
/// of making the same two reads each.
///
/// A result sent again (not recorded here) is left to the whole lease, which also hands again
/// what its session may hold.
async fn look_for_the_idle(
    tx: &mut WriteTx<'_>,
    arrivals: &[Arrival],
    answers: &mut [Answer],
) -> Result<(), ServiceError> {
    let idle_at = |answers: &[Answer], at: usize| {
        arrivals[at].lease_next
            && matches!(
                answers[at],
                Ok(Taken {
                    recorded: true,
                    next: None,
                    ..
                })
            )
    };
    let mut idle: Vec<String> = Vec::new();
    for (at, arrival) in arrivals.iter().enumerate() {
        if idle_at(answers, at) && !idle.contains(&arrival.target.name) {
            idle.push(arrival.target.name.clone());
        }
    }
    if idle.is_empty() {
        return Ok(());
    }
    for (target, leased) in lease_next_of(tx, &idle, lease_deadline(), None).await? {
        let at = (0..arrivals.len())
            .find(|&at| arrivals[at].target.name == target && idle_at(answers, at))
            .expect("a lease taken for an idle agent answers it");
        if let Ok(taken) = &mut answers[at] {
            taken.next = Some(leased);
        }
        idle.retain(|t| *t != target);
    }
    let mut environments: Vec<&str> = Vec::new();
    for arrival in arrivals.iter().filter(|a| idle.contains(&a.target.name)) {
        if let Some(e) = arrival.target.environment.as_deref() {
            if !environments.contains(&e) {
                environments.push(e);
            }
        }
    }
    let batteries = tx.test_triggers_requested_in(&environments).await?;
    for at in 0..arrivals.len() {
        let target = &arrivals[at].target;
        let battery_waits = target
            .environment
            .as_ref()
            .is_some_and(|e| batteries.contains(e));
        if idle.contains(&target.name) && !battery_waits && idle_at(answers, at) {
            if let Ok(taken) = &mut answers[at] {
                taken.looked = true;
            }
        }
    }
    Ok(())
}
