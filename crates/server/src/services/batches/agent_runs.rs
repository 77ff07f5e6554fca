//! Runs of installed batches started by the agents (on schedule, or because a person asked with
//! `slipway batch run`): the request, written with its audit event; the start and end an agent
//! reports for a batch of its own target, recorded like any other run (masked output tail); the
//! runs it did not start and why, kept in the run history; and where a request stands, for the
//! person who asked.
//!
//! It never runs anything (the agent does) and never writes SQL.

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::vars::mask;
use slipway_core::supervision::runs::{request_state, RequestState};
use slipway_core::Name;
use slipway_protocol::batches::{BatchRunEnd, BatchRunNotStarted, BatchRunStart, BatchRunStarted};
use slipway_store::{NotStartedRun, StoredBatch, StoredBatchRun, StoredRunRequest, Target};

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
    if let Some(request) = start.request {
        tx.answer_batch_run_request(request, batch.id, run.id)
            .await?;
    }
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

/// The longest reason kept of a run not started.
const MAX_REASON_CHARS: usize = 500;

/// The agent of `target` did not start a run of one of its batches: kept in the run history
/// with the reason (no exit code, never judged by supervision, no alert), answering the
/// request it was for, with its audit event.
pub async fn agent_not_started(
    state: &AppState,
    target: &Target,
    refused: BatchRunNotStarted,
) -> Result<BatchRunStarted, ServiceError> {
    let batch = installed_on(state, target)
        .await?
        .into_iter()
        .find(|b| b.project == refused.project && b.name == refused.batch)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("batch {} on {}", refused.batch, target.name),
                "the batch is no longer installed and enabled on this target",
            )
        })?;
    let reason: String = refused
        .reason
        .trim()
        .chars()
        .take(MAX_REASON_CHARS)
        .collect();
    if reason.is_empty() {
        return Err(ServiceError::invalid(
            "a run not started needs its reason",
            "say why the run did not start, e.g. `its previous run still goes (overlap: false)`",
        ));
    }
    let by = if refused.testmode {
        format!("agent {} (testmode)", target.name)
    } else {
        format!("agent {}", target.name)
    };
    let mut tx = state.store.write().await?;
    let run = tx
        .record_batch_run_not_started(NotStartedRun {
            batch_id: batch.id,
            at: state.clock.now(),
            by: &by,
            reason: &reason,
        })
        .await?;
    let answered = match refused.request {
        Some(request) => {
            tx.answer_batch_run_request(request, batch.id, run.id)
                .await?
        }
        None => false,
    };
    tx.audit(AuditEntry {
        actor: format!("agent:{}", target.name),
        verb: "batch.run.not_started".into(),
        subject: subject(&batch),
        details: json!({
            "run": run.id,
            "reason": reason,
            "testmode": refused.testmode,
            "request": refused.request.filter(|_| answered),
        }),
    });
    tx.commit().await?;
    Ok(BatchRunStarted { run: run.id })
}

/// A run asked for, where it stands, its batch and the run that answered it.
#[derive(Debug, Clone)]
pub struct RequestStatus {
    pub request: StoredRunRequest,
    pub state: RequestState,
    pub batch: StoredBatch,
    pub run: Option<StoredBatchRun>,
}

/// Where request `id` for batch `name` stands, with the run that answered it.
pub async fn request_status(
    state: &AppState,
    actor: &Actor,
    name: Name,
    id: i64,
) -> Result<RequestStatus, ServiceError> {
    require(state, actor, Operation::Read, &format!("batch/{name}")).await?;
    let not_found = || {
        ServiceError::not_found(
            format!("run request {id} of batch {name}"),
            "the id is the one `slipway batch run` printed (`request N`)",
        )
    };
    let request = state
        .store
        .batch_run_request(id)
        .await?
        .ok_or_else(not_found)?;
    let batch = state
        .store
        .batches(&slipway_store::BatchFilter {
            name: Some(name.to_string()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .find(|b| b.id == request.batch_id)
        .ok_or_else(not_found)?;
    let run = match request.run_id {
        Some(run) => state.store.batch_run_by_id(run).await?,
        None => None,
    };
    let now = state.clock.now();
    let answer = run.as_ref().map(|r| r.not_started.is_none());
    Ok(RequestStatus {
        state: request_state(
            request.requested_at,
            request.taken_at.is_some(),
            answer,
            now,
        ),
        request,
        batch,
        run,
    })
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
