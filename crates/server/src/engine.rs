//! The orchestrator loop: it resumes after a restart, then, until the store closes, takes one
//! turn of deployments and one of promotions each second or as soon as something wakes it.
//!
//! It only loops, waits and calls services (`services::progress`, `services::promotions`); the
//! decisions and the writes are theirs. Nothing in `services` or `transitions` imports it.

use std::time::Duration;

use crate::services;
use crate::AppState;

/// Run the orchestrator until the process ends.
pub(crate) fn spawn(state: AppState) {
    tokio::spawn(async move {
        if let Err(e) = services::progress::resume_after_restart(&state).await {
            tracing::error!(error = %e, "could not resume deployments");
        }
        // Until the store closes (the server shuts down), not failing on every turn after it.
        while !state.store.is_closed() {
            // A turn cut by the store closing under it is the shutdown, not an error.
            if let Err(e) = services::progress::tick(&state).await {
                if !state.store.is_closed() {
                    tracing::error!(error = %e, "orchestrator step failed; retrying");
                }
            }
            if let Err(e) = services::promotions::tick(&state).await {
                if !state.store.is_closed() {
                    tracing::error!(error = %e, "judging promotions failed; retrying");
                }
            }
            if let Err(e) = services::batches::supervise(&state, state.clock.now()).await {
                if !state.store.is_closed() {
                    tracing::error!(error = %e, "supervising batches failed; retrying");
                }
            }
            let _ =
                tokio::time::timeout(Duration::from_secs(1), state.engine.orchestrator.notified())
                    .await;
        }
    });
}
