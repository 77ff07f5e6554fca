//! The deployment and task state machines: one transition function each; an illegal transition
//! is a typed error, never a silent no-op.

use serde::{Deserialize, Serialize};

use crate::state_name::state_names;

// The failure policy is an environment setting and lives in the model; slipway-store still reads
// it from here, beside the transitions it steers.
pub use crate::model::FailurePolicy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Created, waiting for its start (a window, an agent, the orchestrator).
    Pending,
    Running,
    /// A step failed and the environment's policy is to stop and ask: retry, skip or roll back.
    AwaitingDecision,
    /// A `manual` step was reached: the deployment waits for an authorised person to proceed
    /// or abort.
    WaitingForIntervention,
    RollingBack,
    Succeeded,
    Failed,
    RolledBack,
    Cancelled,
}

impl DeploymentState {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeploymentState::Succeeded
                | DeploymentState::Failed
                | DeploymentState::RolledBack
                | DeploymentState::Cancelled
        )
    }
}

state_names!(DeploymentState, "deployment state", {
    Pending => "pending",
    Running => "running",
    AwaitingDecision => "awaiting_decision",
    WaitingForIntervention => "waiting_for_intervention",
    RollingBack => "rolling_back",
    Succeeded => "succeeded",
    Failed => "failed",
    RolledBack => "rolled_back",
    Cancelled => "cancelled",
});

/// What a deployment does: install a release, only check that it could, or undo an earlier
/// deployment (`rollback_of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentKind {
    Deploy,
    /// Every step checks and changes nothing.
    DryRun,
    /// Undoes the deployment it names.
    Rollback,
}

state_names!(DeploymentKind, "deployment kind", {
    Deploy => "deploy",
    DryRun => "dry_run",
    Rollback => "rollback",
});

/// Which runs a deployment (and each of its tasks) carries out: the plan, or the undo of what
/// the plan completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The plan runs.
    Forward,
    /// The undo of every run that completed somewhere runs.
    Rollback,
}

state_names!(Phase, "deployment phase", {
    Forward => "forward",
    Rollback => "rollback",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentEvent {
    Start,
    /// Every step finished (successfully or skipped).
    Completed,
    StepFailed {
        policy: FailurePolicy,
    },
    Retry,
    Skip,
    RollBack,
    RollbackCompleted,
    RollbackFailed,
    Cancel,
    /// A dry run or an undo deployment hit a failure: it ends, there is nothing to ask.
    Abort,
    /// A `manual` step was reached: wait for a person.
    AwaitIntervention,
    /// The person proceeded: the next step runs. (An abort is a `StepFailed`.)
    Proceed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a deployment that is {from} cannot {event}")]
pub struct IllegalTransition {
    pub from: DeploymentState,
    pub event: &'static str,
}

impl DeploymentEvent {
    fn describe(self) -> &'static str {
        match self {
            DeploymentEvent::Start => "start",
            DeploymentEvent::Completed => "complete",
            DeploymentEvent::StepFailed { .. } => "fail a step",
            DeploymentEvent::Retry => "retry a step",
            DeploymentEvent::Skip => "skip a step",
            DeploymentEvent::RollBack => "roll back",
            DeploymentEvent::RollbackCompleted => "finish a rollback",
            DeploymentEvent::RollbackFailed => "fail a rollback",
            DeploymentEvent::Cancel => "be cancelled",
            DeploymentEvent::Abort => "abort",
            DeploymentEvent::AwaitIntervention => "wait for an intervention",
            DeploymentEvent::Proceed => "proceed after an intervention",
        }
    }
}

pub fn transition(
    from: DeploymentState,
    event: DeploymentEvent,
) -> Result<DeploymentState, IllegalTransition> {
    use DeploymentEvent as E;
    use DeploymentState as S;
    let to = match (from, event) {
        (S::Pending, E::Start) => S::Running,
        (S::Running, E::Completed) => S::Succeeded,
        (
            S::Running,
            E::StepFailed {
                policy: FailurePolicy::StopAndAsk,
            },
        ) => S::AwaitingDecision,
        (
            S::Running,
            E::StepFailed {
                policy: FailurePolicy::RollBack,
            },
        ) => S::RollingBack,
        (S::AwaitingDecision, E::Retry | E::Skip) => S::Running,
        (S::AwaitingDecision, E::RollBack) => S::RollingBack,
        (S::AwaitingDecision, E::Cancel) => S::Failed,
        (S::RollingBack, E::RollbackCompleted) => S::RolledBack,
        (S::RollingBack, E::RollbackFailed) => S::Failed,
        // An undo that fails ends the deployment as failed: a person must look at the target.
        (S::RollingBack, E::StepFailed { .. }) => S::Failed,
        (S::Pending | S::Running, E::Cancel) => S::Cancelled,
        (S::Running, E::Abort) => S::Failed,
        (S::Running, E::AwaitIntervention) => S::WaitingForIntervention,
        (S::WaitingForIntervention, E::Proceed) => S::Running,
        // An abort counts as a failed step: the environment's policy applies.
        (
            S::WaitingForIntervention,
            E::StepFailed {
                policy: FailurePolicy::StopAndAsk,
            },
        ) => S::AwaitingDecision,
        (
            S::WaitingForIntervention,
            E::StepFailed {
                policy: FailurePolicy::RollBack,
            },
        ) => S::RollingBack,
        (S::WaitingForIntervention, E::Cancel) => S::Cancelled,
        _ => {
            return Err(IllegalTransition {
                from,
                event: event.describe(),
            })
        }
    };
    Ok(to)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its agent to lease it.
    Pending,
    /// Handed to an agent, which must report before the lease ends.
    Leased,
    Succeeded,
    Failed,
    /// The agent's lease ran out without a result: the agent vanished mid-step.
    Lost,
    Skipped,
    Cancelled,
}

impl TaskState {
    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Leased)
    }
}

state_names!(TaskState, "task state", {
    Pending => "pending",
    Leased => "leased",
    Succeeded => "succeeded",
    Failed => "failed",
    Lost => "lost",
    Skipped => "skipped",
    Cancelled => "cancelled",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvent {
    Lease,
    Report {
        success: bool,
    },
    LeaseExpired,
    Retry,
    Skip,
    Cancel,
    /// A person answered a manual intervention (which no agent leases).
    Answer {
        proceed: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a task that is {} cannot take {event:?}", from.as_str())]
pub struct IllegalTaskTransition {
    pub from: TaskState,
    pub event: TaskEvent,
}

pub fn task_transition(
    from: TaskState,
    event: TaskEvent,
) -> Result<TaskState, IllegalTaskTransition> {
    use TaskEvent as E;
    use TaskState as S;
    let to = match (from, event) {
        (S::Pending, E::Lease) => S::Leased,
        (S::Leased, E::Report { success: true }) => S::Succeeded,
        (S::Leased, E::Report { success: false }) => S::Failed,
        (S::Leased, E::LeaseExpired) => S::Lost,
        (S::Failed | S::Lost, E::Retry) => S::Pending,
        (S::Failed | S::Lost | S::Pending, E::Skip) => S::Skipped,
        (S::Pending | S::Leased, E::Cancel) => S::Cancelled,
        (S::Pending, E::Answer { proceed: true }) => S::Succeeded,
        (S::Pending, E::Answer { proceed: false }) => S::Failed,
        _ => return Err(IllegalTaskTransition { from, event }),
    };
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use DeploymentEvent as E;
    use DeploymentState as S;

    #[test]
    fn a_failed_step_follows_the_environment_policy() {
        assert_eq!(
            transition(
                S::Running,
                E::StepFailed {
                    policy: FailurePolicy::StopAndAsk
                }
            ),
            Ok(S::AwaitingDecision)
        );
        assert_eq!(
            transition(
                S::Running,
                E::StepFailed {
                    policy: FailurePolicy::RollBack
                }
            ),
            Ok(S::RollingBack)
        );
    }

    #[test]
    fn the_operator_decides_after_a_stop() {
        assert_eq!(transition(S::AwaitingDecision, E::Retry), Ok(S::Running));
        assert_eq!(transition(S::AwaitingDecision, E::Skip), Ok(S::Running));
        assert_eq!(
            transition(S::AwaitingDecision, E::RollBack),
            Ok(S::RollingBack)
        );
        assert_eq!(
            transition(S::RollingBack, E::RollbackCompleted),
            Ok(S::RolledBack)
        );
    }

    #[test]
    fn finished_deployments_do_not_move() {
        let err = transition(S::Succeeded, E::Retry).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a deployment that is succeeded cannot retry a step"
        );
        assert!(transition(S::RolledBack, E::Start).is_err());
    }

    #[test]
    fn a_result_reported_twice_is_refused_the_second_time() {
        let leased = task_transition(TaskState::Pending, TaskEvent::Lease).unwrap();
        let done = task_transition(leased, TaskEvent::Report { success: true }).unwrap();
        assert!(task_transition(done, TaskEvent::Report { success: true }).is_err());
        assert_eq!(
            task_transition(TaskState::Leased, TaskEvent::LeaseExpired),
            Ok(TaskState::Lost)
        );
    }

    #[test]
    fn a_manual_step_waits_for_a_person_who_proceeds_or_aborts() {
        let waiting = transition(S::Running, E::AwaitIntervention).unwrap();
        assert_eq!(waiting, S::WaitingForIntervention);
        assert!(!waiting.is_final());
        assert_eq!(transition(waiting, E::Proceed), Ok(S::Running));
        assert_eq!(
            transition(
                waiting,
                E::StepFailed {
                    policy: FailurePolicy::RollBack
                }
            ),
            Ok(S::RollingBack)
        );
        assert_eq!(
            transition(
                waiting,
                E::StepFailed {
                    policy: FailurePolicy::StopAndAsk
                }
            ),
            Ok(S::AwaitingDecision)
        );
        assert_eq!(transition(waiting, E::Cancel), Ok(S::Cancelled));
        // Only a waiting deployment can be answered, and a waiting one runs nothing else.
        assert!(transition(S::Running, E::Proceed).is_err());
        assert!(transition(S::AwaitingDecision, E::Proceed).is_err());
        assert!(transition(waiting, E::Completed).is_err());
        assert!(transition(waiting, E::Retry).is_err());
        assert_eq!(
            task_transition(TaskState::Pending, TaskEvent::Answer { proceed: false }),
            Ok(TaskState::Failed)
        );
        assert!(
            task_transition(TaskState::Succeeded, TaskEvent::Answer { proceed: true }).is_err()
        );
    }

    #[test]
    fn every_state_name_reads_back_and_an_unknown_one_is_refused() {
        use crate::state_name::assert_names_round_trip;
        assert_names_round_trip(DeploymentState::ALL, "deployment state");
        assert_names_round_trip(DeploymentKind::ALL, "deployment kind");
        assert_names_round_trip(Phase::ALL, "deployment phase");
        assert_names_round_trip(TaskState::ALL, "task state");
    }

    #[test]
    fn an_unknown_phase_names_itself_and_the_known_ones() {
        let err = "sideways".parse::<Phase>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"sideways\" is not a deployment phase; expected one of: forward, rollback"
        );
    }

    fn any_event() -> impl Strategy<Value = DeploymentEvent> {
        prop_oneof![
            Just(E::Start),
            Just(E::Completed),
            Just(E::StepFailed {
                policy: FailurePolicy::StopAndAsk
            }),
            Just(E::StepFailed {
                policy: FailurePolicy::RollBack
            }),
            Just(E::Retry),
            Just(E::Skip),
            Just(E::RollBack),
            Just(E::RollbackCompleted),
            Just(E::RollbackFailed),
            Just(E::Cancel),
            Just(E::Abort),
            Just(E::AwaitIntervention),
            Just(E::Proceed),
        ]
    }

    proptest! {
        /// Whatever happens, a deployment never leaves a final state, and every state names itself.
        #[test]
        fn final_states_are_final(events in proptest::collection::vec(any_event(), 0..40)) {
            let mut state = S::Pending;
            for e in events {
                if let Ok(next) = transition(state, e) {
                    prop_assert!(!state.is_final(), "{state} moved on {e:?}");
                    state = next;
                }
                prop_assert_eq!(state.as_str().parse::<S>(), Ok(state));
            }
        }
    }
}
