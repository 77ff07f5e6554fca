//! Runs of installed batches started by the agents (on schedule, or because a person asked with
//! `slipway batch run`): the request, written with its audit event; the start and end an agent
//! reports for a batch of its own target, recorded like any other run (masked output tail).
//!
//! It never runs anything (the agent does) and never writes SQL.

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::vars::mask;
use slipway_core::Name;
use slipway_protocol::batches::{BatchRunEnd, BatchRunStart, BatchRunStarted};
use slipway_store::Target;

use super::logs::installed_on;
use super::{one_batch, project_secrets, subject, tail};
use crate::auth::Actor;
use crate::services::require;
use crate::{AppState, ServiceError};

/// Ask for a run of batch `name` in `environment` now (a dry run with `testmode`); the agent
/// of its server starts it within seconds. Answers the request's id and the server.
pub async fn request_run(
    state: &AppState,
    actor: &Actor,
    name: Name,
    environment: Name,
    server: Option<String>,
    testmode: bool,
) -> Result<(i64, String), ServiceError> {
    // An environment that is not there counts as protected: only ops and admins may.
    let protected = state
        .store
        .environment(&environment)
        .await?
        .is_none_or(|e| e.protected);
    require(
        state,
        actor,
        Operation::Deploy { protected },
        &format!("batch/{environment}/{name}"),
    )
    .await?;
    let batch = one_batch(state, &name, &environment, server.as_deref()).await?;
    let mut tx = state.store.write().await?;
    let id = tx
        .request_batch_run(batch.id, testmode, &actor.username, state.clock.now())
        .await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "batch.run.requested".into(),
        subject: subject(&batch),
        details: json!({ "request": id, "testmode": testmode }),
    });
    tx.commit().await?;
    Ok((id, batch.target))
}

/// The agent of `target` started a run of one of its batches.
pub async fn agent_start(
    state: &AppState,
    target: &Target,
    start: BatchRunStart,
) -> Result<BatchRunStarted, ServiceError> {
    let batch = installed_on(state, target)
        .await?
        .into_iter()
        .find(|b| b.project == start.project && b.name == start.batch)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("batch {} on {}", start.batch, target.name),
                "the batch is no longer installed and enabled on this target",
            )
        })?;
    let by = if start.testmode {
        format!("agent {} (testmode)", target.name)
    } else {
        format!("agent {}", target.name)
    };
    let mut tx = state.store.write().await?;
    let run = tx.start_batch_run(batch.id, state.clock.now(), &by).await?;
    tx.audit(AuditEntry {
        actor: format!("agent:{}", target.name),
        verb: "batch.run.started".into(),
        subject: subject(&batch),
        details: json!({ "run": run.id, "by": "agent", "testmode": start.testmode, "request": start.request }),
    });
    tx.commit().await?;
    state.engine.orchestrator.notify_one();
    Ok(BatchRunStarted { run: run.id })
}

/// The agent of `target` ended run `id`: exit code, duration, output tail (secrets masked).
pub async fn agent_end(
    state: &AppState,
    target: &Target,
    id: i64,
    end: BatchRunEnd,
) -> Result<(), ServiceError> {
    let not_found = || {
        ServiceError::not_found(
            format!("run {id} on {}", target.name),
            "end the run this agent started; its id is in the start's answer",
        )
    };
    let mut tx = state.store.write().await?;
    let mut run = tx.batch_run(id).await?.ok_or_else(not_found)?;
    let batch = installed_on(state, target)
        .await?
        .into_iter()
        .find(|b| b.id == run.batch_id)
        .ok_or_else(not_found)?;
    if run.ended_at.is_some() {
        return Ok(());
    }
    let secrets = project_secrets(state, &batch.project).await?;
    let now = state.clock.now();
    run.ended_at = Some(now);
    run.exit_code = Some(end.exit_code);
    run.duration_ms = Some(i64::try_from(end.duration_ms).unwrap_or(i64::MAX));
    run.output_tail = mask(&tail(&end.output), &secrets);
    tx.end_batch_run(&run).await?;
    tx.audit(AuditEntry {
        actor: format!("agent:{}", target.name),
        verb: "batch.run.ended".into(),
        subject: subject(&batch),
        details: json!({ "run": run.id, "exit_code": end.exit_code, "duration_ms": run.duration_ms, "by": "agent" }),
    });
    tx.commit().await?;
    state.engine.orchestrator.notify_one();
    Ok(())
}
