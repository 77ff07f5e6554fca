//! The runs of a deployment: a release's frozen plan for one environment, spread over the targets
//! enrolled there.
//!
//! Deployments and promotions both prepare runs before they insert a deployment, so this sits
//! below both of them. It only reads; it never writes a deployment nor authorises an actor.

use slipway_core::deploy::progress::Run;
use slipway_core::deploy::schedule::{schedule_with_canary, TargetInfo};
use slipway_core::Name;

use crate::{AppState, ServiceError};

/// The release's frozen plan for `environment`, spread over the targets enrolled there.
pub(crate) async fn prepare_runs(
    state: &AppState,
    release: &slipway_store::StoredRelease,
    environment: &Name,
) -> Result<Vec<Run>, ServiceError> {
    let plan = release.snapshot.project.steps_for(environment);
    if plan.is_empty() {
        return Err(ServiceError::invalid(
            format!(
                "release {} of {} has no step for {environment}",
                release.version, release.project
            ),
            "check the steps' `when:` conditions",
        ));
    }
    let targets = enrolled_targets(state, environment).await?;
    let canary = release.snapshot.project.canary_share();
    let scheduled = schedule_with_canary(&plan, &targets, environment, &canary)
        .map_err(|e| ServiceError::invalid(e.to_string(), e.hint()))?;
    Ok(scheduled
        .into_iter()
        .filter_map(|s| {
            // A canary runs a step twice (its share, then the rest): found by number.
            let (_, step) = plan.iter().find(|(number, _)| *number == s.number)?;
            Some(Run {
                step: s.number,
                name: s.name,
                action: step.action.clone(),
                batches: s.batches,
            })
        })
        .collect())
}

async fn enrolled_targets(
    state: &AppState,
    environment: &Name,
) -> Result<Vec<TargetInfo>, ServiceError> {
    Ok(crate::services::targets::enrolled_in(state, environment)
        .await?
        .into_iter()
        .map(|t| TargetInfo {
            roles: t.roles.iter().filter_map(|r| Name::parse(r).ok()).collect(),
            name: t.name,
        })
        .collect())
}
