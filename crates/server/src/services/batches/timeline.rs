//! A batch's page: the batch on each server of one environment with its runs of the last 7
//! days, its schedule and grace, for the run timeline the console draws
//! (`core::supervision::timeline` decides which fire times were late or missed).
//!
//! It never writes, and reads the clock only through `state.clock`.

use jiff::{SignedDuration, Timestamp};
use slipway_core::supervision::batch::DEFAULT_GRACE;
use slipway_core::supervision::{Run, Schedule};
use slipway_core::Name;
use slipway_store::{StoredBatch, StoredBatchRun};

use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// The most runs a page reads per server (a run a minute for 7 days would be 10 080: the
/// timeline then shows the latest).
const RUNS_READ: i64 = 500;

/// One batch on one server, with what its timeline needs.
#[derive(Debug, Clone)]
pub struct BatchTimeline {
    pub batch: StoredBatch,
    /// Runs that started in the last 8 days (a run may straddle the 7-day window), newest first.
    pub runs: Vec<StoredBatchRun>,
    /// The same runs as `core::supervision` reads them.
    pub core_runs: Vec<Run>,
    pub schedule: Option<Schedule>,
    pub grace: SignedDuration,
    /// Whether its runs may overlap; when not, the fire times that came while a run went were
    /// skipped by its agent, not missed.
    pub overlap: bool,
    pub now: Timestamp,
}

/// The batch `name` of `environment` on each server that has it.
pub async fn timelines(
    state: &AppState,
    actor: &Actor,
    name: Name,
    environment: Name,
) -> Result<Vec<BatchTimeline>, ServiceError> {
    let found = super::show(state, actor, name, Some(environment)).await?;
    let now = state.clock.now();
    let since = now
        .checked_sub(SignedDuration::from_hours(8 * 24))
        .unwrap_or(now);
    let mut out = Vec::with_capacity(found.len());
    for batch in found {
        let project = match Name::parse(&batch.project) {
            Ok(p) => state.store.project(&p).await?,
            Err(_) => None,
        };
        let declared = project
            .as_ref()
            .and_then(|p| p.batches.iter().find(|b| b.name.as_str() == batch.name));
        let grace = declared.map_or(DEFAULT_GRACE, |b| b.grace).duration();
        let overlap = declared.is_some_and(|b| b.overlap);
        let d = &batch.definition;
        let schedule = d.schedule.as_deref().and_then(|cron| {
            state
                .schedules
                .get(cron, d.time_zone.as_deref().unwrap_or("UTC"))
        });
        let runs = state
            .store
            .batch_runs(batch.id, RUNS_READ)
            .await?
            .into_iter()
            .filter(|r| r.started_at >= since)
            .collect::<Vec<_>>();
        out.push(BatchTimeline {
            batch,
            core_runs: super::supervise::core_runs(&runs),
            runs,
            schedule,
            grace,
            overlap,
            now,
        });
    }
    Ok(out)
}
