//! Moving a manual governance clock (`SLIPWAY_CLOCK=manual`, for rehearsals and tests). A move
//! that lets a protected environment accept deployments the real time would refuse (into its
//! window, or past one of its freezes) is a break-glass: it goes through, but is recorded as
//! such (`clock.break_glass`, naming each environment and what the real time says), so no
//! rehearsal clock opens production silently. It never judges a promotion itself.

use serde_json::json;
use slipway_core::gates::calendar::Opening;

use crate::auth::Actor;
use crate::services::entry;
use crate::{AppState, ServiceError};

/// The protected environments that the real time keeps closed and the time `to` opens, each
/// with why the real time keeps it closed.
async fn opened_by_moving_to(
    state: &AppState,
    to: jiff::Timestamp,
) -> Result<Vec<(String, String)>, ServiceError> {
    let real = jiff::Timestamp::now();
    Ok(state
        .store
        .environments()
        .await?
        .into_iter()
        .filter(|e| e.protected)
        .filter_map(|e| {
            let calendar = &e.gates.calendar;
            match (calendar.opening(real), calendar.opening(to)) {
                (Opening::Closed { why, .. }, Opening::Open { .. }) => {
                    Some((e.name.to_string(), why))
                }
                _ => None,
            }
        })
        .collect())
}

/// Move the manual clock to `at`, audited; a move that opens a protected environment is also
/// audited as a break-glass and warned about on the server's error stream.
pub(crate) async fn set(
    state: &AppState,
    actor: &Actor,
    at: jiff::Timestamp,
) -> Result<(), ServiceError> {
    if !state.clock.is_manual() {
        return Err(ServiceError::state(
            "the server runs on the system clock",
            "only a server started with SLIPWAY_CLOCK=manual lets its clock be set",
        ));
    }
    let opened = opened_by_moving_to(state, at).await?;
    let mut tx = state.store.write().await?;
    tx.audit(entry(
        actor,
        "clock.set",
        "clock".into(),
        json!({ "from": state.clock.now().to_string(), "to": at.to_string() }),
    ));
    if !opened.is_empty() {
        let environments: Vec<serde_json::Value> = opened
            .iter()
            .map(|(name, why)| json!({ "environment": name, "real_time_says": why }))
            .collect();
        tx.audit(entry(
            actor,
            "clock.break_glass",
            "clock".into(),
            json!({ "to": at.to_string(), "real_time": jiff::Timestamp::now().to_string(), "opens": environments }),
        ));
        for (name, why) in &opened {
            eprintln!(
                "WARNING: {} moved the manual clock to {at}, which opens the protected environment {name} (at the real time: {why}); recorded as a break-glass",
                actor.username
            );
        }
    }
    tx.commit().await?;
    state.clock.set(at);
    state.wake_orchestrator();
    Ok(())
}
