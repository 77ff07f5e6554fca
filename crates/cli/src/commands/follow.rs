//! Following a deployment to its end: its log lines as they come, interventions as they open,
//! and the verdict as an exit code. Shared by `deploy`, `rollback` and `deployment wait`; it
//! never starts or steers a deployment.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use slipway_api::deployments::{DeploymentDetail, InterventionView, LogPage, TaskView};
use slipway_core::deploy::state::{DeploymentState, Phase};

use crate::client::Client;
use crate::error::{Exit, Failure};
use crate::output::{self, or_dash, Format};
use crate::paging::LogPlace;
use crate::remote::Remote;

pub(crate) fn finish(
    client: &Client,
    remote: &Remote,
    id: i64,
    wait: bool,
    timeout: u64,
) -> Result<(), Failure> {
    if !wait {
        if remote.output == Format::Json {
            output::json(&client.get::<DeploymentDetail>(&format!("/api/v1/deployments/{id}"))?);
        } else {
            println!("follow it with `slipway deployment show {id} --wait`");
        }
        return Ok(());
    }
    let view = follow(client, id, timeout, remote.output == Format::Human)?;
    if remote.output == Format::Json {
        output::json(&view);
    }
    verdict(&view)
}

/// The exit a script can trust: 0 only when the deployment did what was asked.
pub(crate) fn verdict(view: &DeploymentDetail) -> Result<(), Failure> {
    let d = &view.deployment;
    let id = d.id;
    let failure = or_dash(&d.failure);
    match d.state {
        DeploymentState::Succeeded => Ok(()),
        DeploymentState::AwaitingDecision => Err(Failure::new(
            Exit::Failed,
            format!("deployment {id} stopped: {failure}\n  hint: decide with `slipway deployment decide {id} retry|skip|roll-back|cancel`"),
        )),
        DeploymentState::RolledBack => Err(Failure::new(Exit::Failed, format!("deployment {id} failed and was rolled back: {failure}"))),
        other => Err(Failure::new(Exit::Failed, format!("deployment {id} ended {other}: {failure}"))),
    }
}

/// How long one request waits for the deployment to change: printing output, a second, so
/// lines of a long step keep coming; otherwise the server's usual long poll.
fn wait_secs(human: bool, left: Duration) -> u64 {
    let wait = if human { 1 } else { 20 };
    left.as_secs().clamp(1, wait)
}

/// Follow until the deployment ends or waits for a person, printing task changes and output:
/// each request is answered at the deployment's next change (`wait_after`), so the end is seen
/// when it happens. A server that does not answer `last_event_seq` (older) is asked again every
/// 300 ms instead.
pub(crate) fn follow(
    client: &Client,
    id: i64,
    timeout: u64,
    human: bool,
) -> Result<DeploymentDetail, Failure> {
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let mut follower = Follower {
        client,
        id,
        human,
        seen: BTreeMap::new(),
        log_place: LogPlace::Start,
        last_seq: None,
        plan: None,
        tasks: Vec::new(),
        tasks_through: None,
    };
    loop {
        let view = follower.next_view(deadline)?;
        if human {
            follower.print_output()?;
            follower.print_task_changes(&view);
        }
        let state = view.deployment.state;
        // Waiting for a person is no end: say so once per intervention, and keep waiting.
        if state == DeploymentState::WaitingForIntervention {
            if let Some(i) = &view.intervention {
                let key = format!("intervention/{}", i.step);
                if follower.seen.insert(key, String::new()).is_none() {
                    eprintln!("{}", intervention_help(&id.to_string(), i));
                }
            }
        }
        if state.is_final() || state == DeploymentState::AwaitingDecision {
            if human {
                println!("deployment {id}: {state}");
            }
            return Ok(view);
        }
        if Instant::now() > deadline {
            return Err(Failure::new(Exit::Failed, format!("gave up waiting for deployment {id} after {timeout} s; it goes on: `slipway deployment show {id}`")));
        }
        follower.last_seq = view.last_event_seq;
        if follower.last_seq.is_none() {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// What a follower holds between two answers.
struct Follower<'a> {
    client: &'a Client,
    id: i64,
    human: bool,
    /// The last state printed per task (`phase/run/target`), and the interventions told.
    seen: BTreeMap<String, String>,
    /// Output lines printed so far.
    log_place: LogPlace,
    /// The event the last answer reflected; none before the first answer or from an older
    /// server.
    last_seq: Option<i64>,
    /// The last whole answer, plan included, of the current phase.
    plan: Option<DeploymentDetail>,
    /// Every task as last answered, in the server's order.
    tasks: Vec<TaskView>,
    /// The task change number `tasks` reflect; none before the first answer or from an older
    /// server, which then answers every task each time.
    tasks_through: Option<i64>,
}

impl Follower<'_> {
    /// The deployment at its next change. After the first answer the plan is not asked for
    /// again (`plan=false`) while the phase stays: the plan held is put back into each answer,
    /// and a new phase (a rollback's undo runs) is read whole once. Likewise only the tasks
    /// changed since the last answer are asked for (`tasks_after`) and merged into those held.
    fn next_view(&mut self, deadline: Instant) -> Result<DeploymentDetail, Failure> {
        let id = self.id;
        let path = match self.last_seq {
            Some(seq) => {
                let left = deadline.saturating_duration_since(Instant::now());
                let tasks_after = self
                    .tasks_through
                    .map(|n| format!("&tasks_after={n}"))
                    .unwrap_or_default();
                format!(
                    "/api/v1/deployments/{id}?wait_after={seq}&wait_secs={}&plan=false{tasks_after}",
                    wait_secs(self.human, left)
                )
            }
            None => format!("/api/v1/deployments/{id}"),
        };
        let mut view: DeploymentDetail = self.client.get(&path)?;
        let partial = self.last_seq.is_some();
        let changes_only = partial && self.tasks_through.is_some();
        if changes_only {
            merge_tasks(&mut self.tasks, std::mem::take(&mut view.tasks));
            view.tasks.clone_from(&self.tasks);
        }
        let mut whole = !changes_only;
        match &self.plan {
            Some(held) if partial && held.deployment.phase == view.deployment.phase => {
                view.deployment.runs.clone_from(&held.deployment.runs);
                view.deployment
                    .rollback_runs
                    .clone_from(&held.deployment.rollback_runs);
                view.rollback_preview.clone_from(&held.rollback_preview);
            }
            Some(_) if partial => {
                view = self.client.get(&format!("/api/v1/deployments/{id}"))?;
                whole = true;
            }
            _ => {}
        }
        if whole {
            // A whole answer (or an older server's, which answers every task each time).
            self.tasks.clone_from(&view.tasks);
        }
        self.tasks_through = view.tasks_through;
        if self
            .plan
            .as_ref()
            .is_none_or(|held| held.deployment.phase != view.deployment.phase)
        {
            self.plan = Some(view.clone());
        }
        Ok(view)
    }

    /// The output lines printed since the last call.
    fn print_output(&mut self) -> Result<(), Failure> {
        let place = self
            .log_place
            .query()
            .map_or_else(String::new, |q| format!("&{q}"));
        let logs: LogPage = self.client.get(&format!(
            "/api/v1/deployments/{}/logs?limit={PAGE}{place}",
            self.id
        ))?;
        for line in &logs.items {
            println!("    {}", line.line);
        }
        self.log_place.advance(&logs);
        Ok(())
    }

    /// One line per task whose state or attempt changed since it was last printed.
    fn print_task_changes(&mut self, view: &DeploymentDetail) {
        for t in &view.tasks {
            let key = format!("{}/{}/{}", t.phase, t.run_index, t.target);
            let state = format!("{} #{}", t.state.as_str(), t.attempt);
            if self.seen.get(&key) == Some(&state) {
                continue;
            }
            let run = usize::try_from(t.run_index)
                .ok()
                .and_then(|i| view.deployment.runs_of(t.phase).get(i));
            let phase = match t.phase {
                Phase::Rollback => "undo ",
                Phase::Forward => "",
            };
            println!(
                "  {phase}step {} {:<32} {:<12} {}{}",
                or_dash(&run.map(|r| r.step)),
                or_dash(&run.map(|r| &r.name)),
                t.target,
                t.state.as_str(),
                t.summary
                    .as_deref()
                    .map(|s| format!(" — {s}"))
                    .unwrap_or_default()
            );
            self.seen.insert(key, state);
        }
    }
}

/// Put the tasks that changed in place of those held (by id); new ones join in the server's
/// order (undo runs first, then by run and batch; the server's order of targets within a batch
/// is kept for the tasks already held).
fn merge_tasks(held: &mut Vec<TaskView>, changed: Vec<TaskView>) {
    let mut joined = false;
    for task in changed {
        match held.iter_mut().find(|t| t.id == task.id) {
            Some(old) => *old = task,
            None => {
                held.push(task);
                joined = true;
            }
        }
    }
    if joined {
        held.sort_by_key(|t| {
            (
                std::cmp::Reverse(t.phase.as_str()),
                t.run_index,
                t.batch_index,
            )
        });
    }
}

/// Lines asked for in one request (the server's page bound).
pub(crate) const PAGE: i64 = 5000;

/// The lines that tell a person a deployment waits for them, and how to answer.
pub(crate) fn intervention_help(id: &str, i: &InterventionView) -> String {
    format!(
        "deployment {id} waits for a manual intervention at step {} \"{}\":\n  {}\n  answered by: {}\n  answer with `slipway deployment proceed {id} [--comment …]` or `slipway deployment abort {id} --comment …`",
        i.step, i.name, i.instructions, i.who_may_answer,
    )
}

#[cfg(test)]
mod tests {
    use slipway_core::deploy::state::{Phase, TaskState};

    use super::*;

    fn task(id: &str, phase: Phase, run_index: i64, state: TaskState) -> TaskView {
        TaskView {
            id: id.into(),
            deployment_id: 1,
            phase,
            run_index,
            batch_index: 0,
            target: "web-1".into(),
            attempt: 1,
            state,
            leased_until: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            summary: None,
        }
    }

    #[test]
    fn changed_tasks_replace_those_held_and_new_ones_join_in_the_servers_order() {
        let mut held = vec![
            task("f0", Phase::Forward, 0, TaskState::Succeeded),
            task("f1", Phase::Forward, 1, TaskState::Leased),
            task("f2", Phase::Forward, 2, TaskState::Pending),
        ];
        merge_tasks(
            &mut held,
            vec![
                task("r0", Phase::Rollback, 0, TaskState::Pending),
                task("f1", Phase::Forward, 1, TaskState::Failed),
            ],
        );
        let seen: Vec<(&str, TaskState)> = held.iter().map(|t| (t.id.as_str(), t.state)).collect();
        assert_eq!(
            seen,
            [
                ("r0", TaskState::Pending),
                ("f0", TaskState::Succeeded),
                ("f1", TaskState::Failed),
                ("f2", TaskState::Pending),
            ]
        );
    }
}
