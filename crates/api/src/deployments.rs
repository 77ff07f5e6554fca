//! Deployments, their tasks, their output and the requests that start and steer them.
//! It never decides anything about a deployment: the server does, and these types carry it.

use serde::{Deserialize, Serialize};
use slipway_core::access::Role;
use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase, TaskState};
use slipway_core::rollback::RollbackPlan;

/// A deployment as lists and state changes answer it (`GET /api/v1/deployments`,
/// `POST /api/v1/deployments`, `POST /api/v1/rollbacks`, `…/decision`, `…/proceed`, `…/abort`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub id: i64,
    pub project: String,
    pub release_version: String,
    pub environment: String,
    /// `deploy`, `dry_run` or `rollback` (a deployment that undoes `rollback_of`).
    pub kind: DeploymentKind,
    pub rollback_of: Option<i64>,
    pub state: DeploymentState,
    /// `forward` while the plan runs, `rollback` once its undo runs.
    pub phase: Phase,
    /// The plan's steps with their target batches, in the order they run.
    pub runs: Vec<Run>,
    /// The steps that undo the completed ones, once a rollback started.
    pub rollback_runs: Vec<Run>,
    pub requested_by: String,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub created_at: String,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub finished_at: Option<String>,
    pub failure: Option<String>,
}

impl DeploymentView {
    /// The runs of a phase: the plan's, or those that undo it.
    pub fn runs_of(&self, phase: Phase) -> &[Run] {
        match phase {
            Phase::Forward => &self.runs,
            Phase::Rollback => &self.rollback_runs,
        }
    }
}

/// One deployment in full (`GET /api/v1/deployments/{id}`): the deployment, its tasks, the
/// rollback that would undo it, and the intervention it waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDetail {
    #[serde(flatten)]
    pub deployment: DeploymentView,
    pub tasks: Vec<TaskView>,
    /// What a rollback would undo if every step completed.
    pub rollback_preview: RollbackPlan,
    /// The manual intervention the deployment waits for, if it waits for one.
    pub intervention: Option<InterventionView>,
    /// The sequence number of the newest audit event about this deployment: pass it as
    /// `wait_after` to be answered at its next change. Absent from servers before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_event_seq: Option<i64>,
    /// The task change number `tasks` reflect: pass it as `tasks_after` to be answered only the
    /// tasks changed since (a follower merges them by `id` into those it holds). Absent from
    /// servers before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks_through: Option<i64>,
}

/// One step on one target, as an agent runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// The id `GET …/logs?task=` takes.
    pub id: String,
    pub deployment_id: i64,
    pub phase: Phase,
    /// The index of the task's run in `runs` (or `rollback_runs` for the rollback phase).
    pub run_index: i64,
    pub batch_index: i64,
    pub target: String,
    pub attempt: i64,
    pub state: TaskState,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub leased_until: Option<String>,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub started_at: Option<String>,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub finished_at: Option<String>,
    pub exit_code: Option<i64>,
    pub summary: Option<String>,
}

/// The manual intervention a deployment waits for, as people need to see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterventionView {
    /// The plan step number.
    pub step: usize,
    pub name: String,
    pub instructions: String,
    /// The role the step names, if any.
    pub approvers: Option<Role>,
    /// Who may answer, in words ("admin or ops").
    pub who_may_answer: String,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub since: Option<String>,
}

/// One output line of a task, secrets masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLineView {
    pub task_id: String,
    pub attempt: i64,
    pub line_no: i64,
    /// RFC 3339, UTC, microseconds: the text the store keeps.
    pub at: String,
    pub line: String,
}

/// One page of a deployment's output (`GET /api/v1/deployments/{id}/logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogPage {
    pub items: Vec<LogLineView>,
    /// The `after` cursor that reads on from here (with the same `task` and `since`): after
    /// the page's last line, or the one given when the page is empty; null only when nothing
    /// was read from the start. Unlike other lists' `next`, it is given at the end too, so a
    /// follower passes it back to read the lines that come later.
    #[serde(default)]
    pub next: Option<String>,
    /// The former count cursor: answered to a reader that sent `after_line` (or nothing), for
    /// clients of before `next`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_line: Option<i64>,
    /// The page was full: more lines are waiting now.
    pub more: bool,
}

/// `POST /api/v1/deployments`: deploy (or dry-run) a release into an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    pub project: String,
    pub release: String,
    pub environment: String,
    #[serde(default)]
    pub dry_run: bool,
}

/// `POST /api/v1/rollbacks`: undo the last successful deployment of a project in an environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRollback {
    pub project: String,
    pub environment: String,
    /// Why: required (10 characters at least) in a protected environment, kept in the audit
    /// event either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST …/proceed` and `POST …/abort`: the answer to a manual intervention.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterventionAnswer {
    /// Why, for the audit log and the deployment page (required to abort).
    #[serde(default)]
    pub comment: Option<String>,
}

/// `POST /api/v1/deployments/{id}/decision`: what to do after a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: Decision,
}

/// The answer to a deployment that stopped at a failed step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Retry,
    Skip,
    RollBack,
    Cancel,
}

/// What `POST /api/v1/deployments` started: a deployment (201), or a promotion that waits for
/// its gates (202, `{ "promotion": … }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Started {
    /// The promotion as `GET /api/v1/promotions/{id}` answers it.
    Waiting {
        promotion: Box<crate::governance::PromotionView>,
    },
    Deployment(Box<DeploymentView>),
}
