//! Which deployment was running in an environment at a time: the seam through which field
//! signals become change failures.
//!
//! A complaint is attributed to the deployment whose release ran where it was seen when it was
//! seen; an alert of a project's production environment to the one that ran there when it fired
//! ([`alert_incidents`]). The rule is honest about rollbacks: a successful rollback takes its
//! deployment off the environment, so what runs after it is the deployment before, and the
//! answer says which rollback put it back. A deployment that failed, or that its policy rolled
//! back while deploying, never ran.

use jiff::Timestamp;

use super::{IncidentFact, IncidentSource};
use crate::alerts::Severity as AlertSeverity;
use crate::complaints::Severity as Priority;
use crate::deploy::state::{DeploymentKind, DeploymentState};

/// One deployment of a project into an environment, as attribution sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneDeployment {
    pub id: i64,
    pub kind: DeploymentKind,
    pub state: DeploymentState,
    pub release: String,
    pub rollback_of: Option<i64>,
    pub created_at: Timestamp,
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

/// An alert fired on one project's environment, as DORA reads it (alerts still silenced, which
/// resolved during a deployment without a word, are left out by the reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiredAlert {
    pub id: i64,
    pub severity: AlertSeverity,
    pub fired_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// The priority an alert's severity stands for, on the complaints' scale, so that one threshold
/// says which incidents are change failures: critical is P1, error P2, warning P3, info P4.
pub fn alert_priority(severity: AlertSeverity) -> Priority {
    match severity {
        AlertSeverity::Critical => Priority::P1,
        AlertSeverity::Error => Priority::P2,
        AlertSeverity::Warning => Priority::P3,
        AlertSeverity::Info => Priority::P4,
    }
}

/// When an alert counts against a deployment: when it fired, or, when it fired while a
/// deployment into its environment was underway and that deployment then succeeded, when that
/// deployment ended (its noise is silenced meanwhile; a condition still there once it ran is
/// the new release's).
fn attributed_at(history: &[LaneDeployment], fired_at: Timestamp) -> Timestamp {
    history
        .iter()
        .filter(|d| d.state == DeploymentState::Succeeded && d.kind != DeploymentKind::DryRun)
        .filter_map(|d| d.finished_at.map(|end| (d.created_at, end)))
        .filter(|(start, end)| *start <= fired_at && fired_at < *end)
        .map(|(_, end)| end)
        .max()
        .unwrap_or(fired_at)
}

/// The incidents the alerts of one project's production environment make: each alert at or
/// above `threshold` ([`alert_priority`]), attributed to the deployment running there when it
/// counts ([`running_at`]); an alert when nothing ran makes none. `history` is the
/// environment's successful deployments and rollbacks.
pub fn alert_incidents(
    history: &[LaneDeployment],
    alerts: &[FiredAlert],
    threshold: Priority,
) -> Vec<IncidentFact> {
    alerts
        .iter()
        .filter(|a| alert_priority(a.severity).counts_as_failure(threshold))
        .filter_map(|a| {
            let at = attributed_at(history, a.fired_at);
            let running = running_at(history, at)?;
            Some(IncidentFact {
                source: IncidentSource::Alert,
                id: a.id,
                deployment: running.deployment,
                opened_at: a.fired_at,
                resolved_at: a.resolved_at,
            })
        })
        .collect()
}
