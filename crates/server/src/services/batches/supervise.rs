//! The supervision tick: every batch of the inventory judged at `now` by `core::supervision`
//! from its settings and recent runs, its status and next expected run stored, and each change
//! of status audited (`batch.up`, `batch.late`, `batch.down`, `batch.paused`, `batch.running`)
//! with the conditions that hold, in one transaction per change.
//!
//! It decides nothing itself, and reads no clock: the engine passes `now`. It returns every
//! judgement, for `services::alerts` to turn the conditions into alerts.

use std::collections::BTreeMap;

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::model::Project;
use slipway_core::supervision::batch::{BatchDecl, InstallState, DEFAULT_GRACE};
use slipway_core::supervision::{judge, Run, Schedule, Settings, Verdict};
use slipway_core::Name;
use slipway_store::{BatchFilter, StoredBatch, StoredBatchRun};

use super::subject;
use crate::{AppState, ServiceError};

/// Runs of a batch the judgement reads: enough for any sensible `consecutive_failures`.
const RUNS_JUDGED: i64 = 50;

/// A batch as the tick judged it, with its latest finished run (the one a failure is about).
#[derive(Debug, Clone)]
pub struct Judged {
    pub batch: StoredBatch,
    pub verdict: Verdict,
    pub last_finished: Option<StoredBatchRun>,
}

/// Judge every batch at `now`; store and audit what changed. The inventory and the recent runs
/// of every batch are two reads, whatever the number of batches.
pub async fn supervise(
    state: &AppState,
    now: jiff::Timestamp,
) -> Result<Vec<Judged>, ServiceError> {
    let batches = state.store.batches(&BatchFilter::default()).await?;
    let mut judged = Vec::with_capacity(batches.len());
    let mut runs_of = state.store.recent_batch_runs(RUNS_JUDGED).await?;
    let mut projects: BTreeMap<String, Option<Project>> = BTreeMap::new();
    for batch in batches {
        if !projects.contains_key(&batch.project) {
            let project = match Name::parse(&batch.project) {
                Ok(name) => state.store.project(&name).await?,
                Err(_) => None,
            };
            projects.insert(batch.project.clone(), project);
        }
        let declared = projects
            .get(&batch.project)
            .and_then(Option::as_ref)
            .and_then(|p| p.batches.iter().find(|b| b.name.as_str() == batch.name));
        let runs = runs_of.remove(&batch.id).unwrap_or_default();
        let verdict = judge(&settings(&batch, declared), &core_runs(&runs), now);
        let last_finished = runs.iter().find(|r| r.ended_at.is_some()).cloned();
        if batch.status == Some(verdict.state) && batch.next_expected_at == verdict.next_expected {
            judged.push(Judged {
                batch,
                verdict,
                last_finished,
            });
            continue;
        }
        let mut tx = state.store.write().await?;
        tx.set_batch_status(batch.id, verdict.state, verdict.next_expected)
            .await?;
        if batch.status != Some(verdict.state) {
            let conditions: Vec<String> = verdict
                .conditions
                .iter()
                .map(|c| c.summary(&batch.name))
                .collect();
            tx.audit(AuditEntry {
                actor: "slipway".into(),
                verb: format!("batch.{}", verdict.state.as_str()),
                subject: subject(&batch),
                details: json!({
                    "from": batch.status.map(|s| s.as_str()),
                    "conditions": conditions,
                    "next_expected": verdict.next_expected.map(|t| t.to_string()),
                }),
            });
        }
        tx.commit().await?;
        judged.push(Judged {
            batch,
            verdict,
            last_finished,
        });
    }
    Ok(judged)
}

/// The settings the judgement needs: the inventory's schedule and state, the project's limits
/// for the batch (defaults when it declares none).
fn settings(batch: &StoredBatch, declared: Option<&BatchDecl>) -> Settings {
    let d = &batch.definition;
    let schedule = d
        .schedule
        .as_deref()
        .and_then(|cron| Schedule::parse(cron, d.time_zone.as_deref().unwrap_or("UTC")).ok());
    Settings {
        schedule,
        grace: declared.map_or(DEFAULT_GRACE, |b| b.grace).duration(),
        max_runtime: declared.and_then(|b| b.max_runtime).map(|p| p.duration()),
        consecutive_failures: declared.map_or(3, |b| b.consecutive_failures),
        enabled: d.state == InstallState::Ready,
        maintenance: Vec::new(),
        since: batch.installed_at,
    }
}

fn core_runs(runs: &[StoredBatchRun]) -> Vec<Run> {
    runs.iter()
        .map(|r| Run {
            started: r.started_at,
            ended: r
                .ended_at
                .zip(r.exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MAX))),
        })
        .collect()
}
