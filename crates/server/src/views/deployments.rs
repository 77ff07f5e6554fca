//! Deployment, task and output-line rows as the API answers them. It never decides what a
//! deployment shows: `services::deployments` does.

use slipway_api::deployments::{DeploymentView, LogLineView, TaskView};
use slipway_store::{format_time, LogLine, StoredDeployment, StoredTask};

use super::IntoView;

impl IntoView for StoredDeployment {
    type View = DeploymentView;
    fn into_view(self) -> DeploymentView {
        DeploymentView {
            id: self.id,
            project: self.project,
            release_version: self.release_version,
            environment: self.environment,
            kind: self.kind,
            rollback_of: self.rollback_of,
            state: self.state,
            phase: self.phase,
            runs: self.runs.to_vec(),
            rollback_runs: self.rollback_runs.to_vec(),
            requested_by: self.requested_by,
            created_at: format_time(self.created_at),
            finished_at: self.finished_at.map(format_time),
            failure: self.failure,
        }
    }
}

impl IntoView for StoredTask {
    type View = TaskView;
    fn into_view(self) -> TaskView {
        TaskView {
            id: self.id,
            deployment_id: self.deployment_id,
            phase: self.phase,
            run_index: self.run_index,
            batch_index: self.batch_index,
            target: self.target,
            attempt: self.attempt,
            state: self.state,
            leased_until: self.leased_until.map(format_time),
            started_at: self.started_at.map(format_time),
            finished_at: self.finished_at.map(format_time),
            exit_code: self.exit_code,
            summary: self.summary,
        }
    }
}

impl IntoView for LogLine {
    type View = LogLineView;
    fn into_view(self) -> LogLineView {
        LogLineView {
            task_id: self.task_id,
            attempt: self.attempt,
            line_no: self.line_no,
            at: format_time(self.at),
            line: self.line,
        }
    }
}
