//! Which deployment was running in an environment at a time: the seam through which field
//! signals become change failures.
//!
//! A complaint today (and an alert later: `IncidentSource` grows a variant, its service calls
//! [`running_at`] with the time the alert fired and hands an `IncidentFact` to `dora`) is
//! attributed to the deployment whose release ran where it was seen when it was seen. The rule
//! is honest about rollbacks: a successful rollback takes its deployment off the environment,
//! so what runs after it is the deployment before, and the answer says which rollback put it
//! back. A deployment that failed, or that its policy rolled back while deploying, never ran.

use jiff::Timestamp;

use crate::deploy::state::{DeploymentKind, DeploymentState};

/// One deployment of a project into an environment, as attribution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneDeployment {
    pub id: i64,
    pub kind: DeploymentKind,
    pub state: DeploymentState,
    pub release: String,
    pub rollback_of: Option<i64>,
    pub finished_at: Option<Timestamp>,
}

/// The deployment running at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    pub deployment: i64,
    pub release: String,
    /// The rollback that made it the running one again, when a rollback did.
    pub reinstated_by: Option<i64>,
}

/// The deployment whose release ran at `at`, from the environment's history (any order); `None`
/// when nothing had been deployed there yet, or every deployment had been rolled back.
pub fn running_at(history: &[LaneDeployment], at: Timestamp) -> Option<Running> {
    let mut done: Vec<(&LaneDeployment, Timestamp)> = history
        .iter()
        .filter(|d| d.state == DeploymentState::Succeeded)
        .filter_map(|d| d.finished_at.filter(|f| *f <= at).map(|f| (d, f)))
        .collect();
    done.sort_by_key(|(d, f)| (*f, d.id));
    // The deployments in force, newest last, and the rollback that uncovered the newest.
    let mut stack: Vec<&LaneDeployment> = Vec::new();
    let mut reinstated_by = None;
    for (d, _) in done {
        match d.kind {
            DeploymentKind::Deploy => {
                stack.push(d);
                reinstated_by = None;
            }
            DeploymentKind::Rollback => {
                let undone = d.rollback_of;
                let top = stack.last().map(|t| t.id);
                stack.retain(|s| Some(s.id) != undone);
                if top == undone && undone.is_some() {
                    reinstated_by = Some(d.id);
                }
            }
            DeploymentKind::DryRun => {}
        }
    }
    stack.last().map(|d| Running {
        deployment: d.id,
        release: d.release.clone(),
        reinstated_by,
    })
}
