//! A verification step's baseline: measured from the stored probe minutes before the deployment
//! started, the first time one of its tasks is handed to an agent, and kept with the deployment
//! (the evidence the deployment page shows). The agent judges the soak against it with
//! `core::health::verdict`; nothing here judges.

use slipway_core::deploy::progress::Run;
use slipway_core::deploy::state::Phase;
use slipway_core::health::{baseline_window, BASELINE_MINUTES};
use slipway_core::plan::Action;
use slipway_protocol::Baseline;
use slipway_store::{StoredBaseline, StoredDeployment};

use crate::{AppState, ServiceError};

/// The baseline a task of `run` is judged against, if it is a verification going forward.
pub(crate) async fn baseline_for(
    state: &AppState,
    deployment: &StoredDeployment,
    run: &Run,
) -> Result<Option<Baseline>, ServiceError> {
    let Action::VerifyHealth(p) = &run.action else {
        return Ok(None);
    };
    if deployment.phase != Phase::Forward {
        return Ok(None);
    }
    let step = i64::try_from(run.step).unwrap_or(i64::MAX);
    let kept = match state.store.baseline(deployment.id, step).await? {
        Some(kept) => kept,
        None => {
            let minutes = p.baseline_minutes.unwrap_or(BASELINE_MINUTES);
            let (from, to) = baseline_window(deployment.created_at, minutes);
            let probes: Vec<&str> = p.probes.iter().map(|n| n.as_str()).collect();
            let tally = state
                .store
                .probes_tally(
                    &deployment.project,
                    &deployment.environment,
                    &probes,
                    from,
                    to,
                )
                .await?;
            state
                .store
                .keep_baseline(&StoredBaseline {
                    deployment_id: deployment.id,
                    step,
                    probes: probes.iter().map(|p| p.to_string()).collect(),
                    from,
                    to,
                    tally,
                })
                .await?
        }
    };
    Ok(Some(Baseline {
        from: kept.from.to_string(),
        to: kept.to.to_string(),
        results: kept.tally.total,
        failures: kept.tally.failures,
        latency_sum_ms: kept.tally.latency_sum_ms,
        latency_max_ms: kept.tally.latency_max_ms,
        latency_buckets: kept.tally.latency.0.to_vec(),
    }))
}

/// One verification task's judgement, as the agent wrote it in its `evidence:` line.
#[derive(Debug, Clone)]
pub struct Judged {
    pub task_id: String,
    pub evidence: serde_json::Value,
}

/// What a deployment's verifications watched: each step's baseline and each task's evidence.
#[derive(Debug, Clone, Default)]
pub struct Verifications {
    pub baselines: Vec<StoredBaseline>,
    pub judged: Vec<Judged>,
}

/// The baselines kept with a deployment and the evidence its verification tasks wrote.
pub async fn of_deployment(
    state: &AppState,
    actor: &crate::auth::Actor,
    id: i64,
) -> Result<Verifications, ServiceError> {
    crate::services::require(
        state,
        actor,
        slipway_core::access::Operation::Read,
        &format!("deployment/{id}"),
    )
    .await?;
    let baselines = state.store.baselines(id).await?;
    let judged = state
        .store
        .verification_evidence(id)
        .await?
        .into_iter()
        .filter_map(|line| {
            let json = line.line.strip_prefix("evidence: ")?;
            let evidence = serde_json::from_str(json).ok()?;
            Some(Judged {
                task_id: line.task_id,
                evidence,
            })
        })
        .collect();
    Ok(Verifications { baselines, judged })
}
