//! What the orchestrator does next, from what has happened so far. A deployment is a list of
//! runs (a step or an undo, with its target batches); tasks record each target's attempt.

use serde::{Deserialize, Serialize};

use super::state::TaskState;
use crate::name::Name;
use crate::plan::{Action, Step};
use crate::rollback::derive_rollback;

/// Where a `manual` step "runs": its one task stands for the person who answers. It is no valid
/// target name, so no agent can ever lease it.
pub const INTERVENTION_TARGET: &str = "(manual)";

/// One step (or one undo) of a deployment, with the batches of targets it runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    /// The plan step number this run performs (or, in a rollback, undoes).
    pub step: usize,
    pub name: String,
    #[serde(flatten)]
    pub action: Action,
    pub batches: Vec<Vec<String>>,
}

/// A task as the decision needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskStatus {
    pub run: usize,
    pub batch: usize,
    pub target: String,
    pub state: TaskState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Create the tasks of this batch.
    Dispatch { run: usize, batch: usize },
    /// Tasks are out with agents.
    Wait,
    /// A `manual` step waits for a person: the deployment pauses until someone answers.
    Intervene { run: usize },
    /// A task failed or was lost: the failure policy decides.
    Failed {
        run: usize,
        target: String,
        lost: bool,
    },
    /// Every run finished.
    Done,
}

/// Runs go in order, batches in order; a batch starts when the previous one fully succeeded.
pub fn next(runs: &[Run], tasks: &[TaskStatus]) -> Next {
    for (r, run) in runs.iter().enumerate() {
        for b in 0..run.batches.len() {
            let batch: Vec<&TaskStatus> = tasks
                .iter()
                .filter(|t| t.run == r && t.batch == b)
                .collect();
            if batch.is_empty() {
                return Next::Dispatch { run: r, batch: b };
            }
            if let Some(bad) = batch
                .iter()
                .find(|t| matches!(t.state, TaskState::Failed | TaskState::Lost))
            {
                return Next::Failed {
                    run: r,
                    target: bad.target.clone(),
                    lost: bad.state == TaskState::Lost,
                };
            }
            if matches!(run.action, Action::Manual(_))
                && batch.iter().any(|t| t.state == TaskState::Pending)
            {
                return Next::Intervene { run: r };
            }
            if batch.iter().any(|t| !t.state.is_final()) {
                return Next::Wait;
            }
        }
    }
    Next::Done
}

/// Whether a result in a batch whose tasks are now in `batch` (its own included) can change
/// what [`next`] answers: a failure or loss decides at once, and a batch all final lets the next
/// one start; while another task of the batch still runs, [`next`] can only wait (batches go in
/// order, so none after it has started). Lets the server skip the decision's write for every
/// result but the last of a batch.
pub fn result_calls_for_decision(batch: &[TaskState]) -> bool {
    batch
        .iter()
        .any(|s| matches!(s, TaskState::Failed | TaskState::Lost))
        || batch.iter().all(|s| s.is_final())
}

/// The runs that undo what `forward` did: for each run, in reverse order, the inverse of its
/// action on the targets where it succeeded. Runs that need no undo are left out.
pub fn rollback_runs(
    forward: &[Run],
    tasks: &[TaskStatus],
    roles_of: impl Fn(usize) -> Vec<Name>,
) -> Vec<Run> {
    let mut undo = Vec::new();
    for (r, run) in forward.iter().enumerate().rev() {
        let done: Vec<String> = tasks
            .iter()
            .filter(|t| t.run == r && t.state == TaskState::Succeeded)
            .map(|t| t.target.clone())
            .collect();
        if done.is_empty() {
            continue;
        }
        let step = Step {
            name: run.name.clone(),
            roles: roles_of(run.step),
            when: Default::default(),
            batch_size: None,
            action: run.action.clone(),
        };
        let derived = derive_rollback(&[(run.step, &step)]);
        for s in derived.steps {
            undo.push(Run {
                step: s.undoes,
                name: s.name,
                action: s.action,
                batches: vec![done.clone()],
            });
        }
    }
    undo
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_last_result_of_a_batch_or_a_failure_calls_for_a_decision() {
        use super::result_calls_for_decision as calls;
        use TaskState::*;
        let runs = vec![run(1, cmd("/bin/true", None), &[&["a", "b", "c"]])];
        // Whatever `next` answers for a batch, `result_calls_for_decision` is false only when
        // `next` waits.
        for states in [
            vec![Succeeded, Leased, Pending],
            vec![Succeeded, Succeeded, Leased],
            vec![Succeeded, Succeeded, Succeeded],
            vec![Succeeded, Failed, Leased],
            vec![Lost, Leased, Leased],
            vec![Succeeded, Skipped, Succeeded],
        ] {
            let tasks: Vec<TaskStatus> = ["a", "b", "c"]
                .iter()
                .zip(&states)
                .map(|(t, s)| TaskStatus {
                    run: 0,
                    batch: 0,
                    target: t.to_string(),
                    state: *s,
                })
                .collect();
            let waits = next(&runs, &tasks) == Next::Wait;
            assert_eq!(calls(&states), !waits, "{states:?}");
        }
        assert!(!calls(&[Succeeded, Leased]));
        assert!(calls(&[Succeeded]));
    }

    use super::*;
    use crate::plan::{CommandParams, ServiceParams};

    fn cmd(run: &str, undo: Option<&str>) -> Action {
        Action::Command(CommandParams {
            run: run.into(),
            timeout_secs: 10,
            env: Default::default(),
            cwd: None,
            undo: undo.map(String::from),
        })
    }

    fn run(step: usize, action: Action, batches: &[&[&str]]) -> Run {
        Run {
            step,
            name: format!("s{step}"),
            action,
            batches: batches
                .iter()
                .map(|b| b.iter().map(|t| t.to_string()).collect())
                .collect(),
        }
    }

    fn task(run: usize, batch: usize, target: &str, state: TaskState) -> TaskStatus {
        TaskStatus {
            run,
            batch,
            target: target.into(),
            state,
        }
    }

    #[test]
    fn batches_and_steps_go_in_order() {
        let runs = [
            run(1, cmd("a", None), &[&["t1", "t2"]]),
            run(2, cmd("b", None), &[&["t1"], &["t2"]]),
        ];
        assert_eq!(next(&runs, &[]), Next::Dispatch { run: 0, batch: 0 });
        let mut tasks = vec![
            task(0, 0, "t1", TaskState::Succeeded),
            task(0, 0, "t2", TaskState::Leased),
        ];
        assert_eq!(next(&runs, &tasks), Next::Wait);
        tasks[1].state = TaskState::Succeeded;
        assert_eq!(next(&runs, &tasks), Next::Dispatch { run: 1, batch: 0 });
        tasks.push(task(1, 0, "t1", TaskState::Succeeded));
        assert_eq!(next(&runs, &tasks), Next::Dispatch { run: 1, batch: 1 });
        tasks.push(task(1, 1, "t2", TaskState::Skipped));
        assert_eq!(next(&runs, &tasks), Next::Done);
    }

    #[test]
    fn a_manual_step_pauses_until_answered_then_goes_on_and_leaves_no_undo() {
        let manual = Action::Manual(crate::plan::ManualParams {
            instructions: "check the dashboards".into(),
            approvers: None,
        });
        let runs = [
            run(1, cmd("a", Some("undo a")), &[&["t1"]]),
            run(2, manual, &[&[INTERVENTION_TARGET]]),
            run(3, cmd("b", Some("undo b")), &[&["t1"]]),
        ];
        let mut tasks = vec![
            task(0, 0, "t1", TaskState::Succeeded),
            task(1, 0, INTERVENTION_TARGET, TaskState::Pending),
        ];
        assert_eq!(next(&runs, &tasks), Next::Intervene { run: 1 });
        tasks[1].state = TaskState::Succeeded;
        assert_eq!(next(&runs, &tasks), Next::Dispatch { run: 2, batch: 0 });
        tasks[1].state = TaskState::Failed;
        assert_eq!(
            next(&runs, &tasks),
            Next::Failed {
                run: 1,
                target: INTERVENTION_TARGET.into(),
                lost: false
            }
        );
        tasks[1].state = TaskState::Succeeded;
        tasks.push(task(2, 0, "t1", TaskState::Succeeded));
        let undo = rollback_runs(&runs, &tasks, |_| vec![]);
        let steps: Vec<usize> = undo.iter().map(|r| r.step).collect();
        assert_eq!(steps, [3, 1]);
    }

    #[test]
    fn a_failure_or_a_lost_agent_stops_the_run() {
        let runs = [run(1, cmd("a", None), &[&["t1", "t2"]])];
        let tasks = [
            task(0, 0, "t1", TaskState::Succeeded),
            task(0, 0, "t2", TaskState::Lost),
        ];
        assert_eq!(
            next(&runs, &tasks),
            Next::Failed {
                run: 0,
                target: "t2".into(),
                lost: true
            }
        );
    }

    #[test]
    fn rollback_undoes_completed_runs_in_reverse_on_the_targets_they_touched() {
        let svc = ServiceParams {
            service: "jboss".into(),
            command: None,
        };
        let runs = [
            run(1, Action::StopService(svc.clone()), &[&["t1", "t2"]]),
            run(2, cmd("migrate", Some("unmigrate")), &[&["t1", "t2"]]),
            run(3, cmd("deploy", Some("undeploy")), &[&["t1", "t2"]]),
        ];
        let tasks = [
            task(0, 0, "t1", TaskState::Succeeded),
            task(0, 0, "t2", TaskState::Succeeded),
            task(1, 0, "t1", TaskState::Succeeded),
            task(1, 0, "t2", TaskState::Failed),
        ];
        let undo = rollback_runs(&runs, &tasks, |_| vec![]);
        let kinds: Vec<(usize, &str, Vec<String>)> = undo
            .iter()
            .map(|r| (r.step, r.action.kind(), r.batches[0].clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (2, "command", vec!["t1".to_string()]),
                (1, "service.start", vec!["t1".to_string(), "t2".to_string()])
            ]
        );
        assert_eq!(undo[0].action, cmd("unmigrate", None));
    }
}
