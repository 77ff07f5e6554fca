//! The orchestrator loop: until the store closes, takes one turn of deployments, promotions,
//! batch supervision and expired break-glasses each second or as soon as something wakes it —
//! on the server that holds the background lease (`leader`), and only there. When a server
//! starts holding it (at its start, or taking over from one that died), it first resumes what
//! was in flight. A turn runs on the fenced state `leader::background` gives, so a server that
//! paused past its lease cannot write after another server took over.
//!
//! It only loops, waits and calls services (`services::progress`, `services::promotions`,
//! `services::config_changes`); the decisions and the writes are theirs. Nothing in `services` or `transitions` imports it.

use std::time::Duration;

use slipway_store::StoreError;

use crate::services;
use crate::{AppState, ServiceError};

/// Run the orchestrator until the process ends.
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        let mut was_leading = false;
        // Until the store closes (the server shuts down), not failing on every turn after it.
        while !state.store.is_closed() {
            // Every write of a turn goes through the fenced store: refused if the lease changed
            // hands since the turn began (`leader`).
            let background = crate::leader::background(&state);
            if let (Some(fenced), false) = (&background, was_leading) {
                if let Err(e) = services::progress::resume_after_restart(fenced).await {
                    tracing::error!(error = %e, "could not resume deployments");
                }
            }
            was_leading = background.is_some();
            if let Some(fenced) = &background {
                turn(fenced).await;
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(1), state.engine.orchestrator.notified())
                    .await;
        }
    });
}

/// One turn: deployments, promotions, batch supervision and the alerts it and the other
/// sources raise, expired break-glasses.
async fn turn(state: &AppState) {
    if let Err(e) = services::progress::tick(state).await {
        report(state, &e, "orchestrator step");
    }
    if let Err(e) = services::promotions::tick(state).await {
        report(state, &e, "judging promotions");
    }
    let now = state.clock.now();
    match services::batches::supervise(state, now).await {
        Ok(Some(judged)) => {
            if let Err(e) = services::alerts::evaluate(state, now, &judged).await {
                report(state, &e, "evaluating alerts");
            }
        }
        // A step changed a batch while it was judged: alerts wait for the next turn's judgement.
        Ok(None) => {}
        Err(e) => report(state, &e, "supervising batches"),
    }
    if let Err(e) = services::batches::weekly::send_due(state, now).await {
        report(state, &e, "sending the weekly batch reports");
    }
    if let Err(e) = services::config_changes::end_expired_break_glasses(state).await {
        report(state, &e, "ending expired break-glasses");
    }
}

/// Say that part of a turn failed, and will be tried again. A turn cut by the store closing
/// under it is the shutdown, not an error; one whose writes were fenced lost the lease on its
/// way (another server carries the work on), not an error either.
fn report(state: &AppState, e: &ServiceError, what: &str) {
    if state.store.is_closed() {
        return;
    }
    match e {
        ServiceError::Store(StoreError::Fenced { .. }) => {
            tracing::info!(error = %e, "{what}: the background lease changed hands during the turn; its write was refused");
        }
        _ => tracing::error!(error = %e, "{what} failed; retrying"),
    }
}
