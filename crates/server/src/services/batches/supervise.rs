//! The supervision tick: every batch of the inventory judged at `now` by `core::supervision`
//! from its settings and recent runs, held back by its maintenance windows or by a batch it
//! needs that is down or late (`core::supervision::hold`), its status, next expected run and hold
//! stored, and each change of status or hold audited (`batch.up`, `batch.late`, `batch.down`,
//! `batch.paused`, `batch.running`, `batch.held`, `batch.released`) with the conditions that
//! hold. A tick's changes are written 25 to a transaction (every change with its audit event;
//! the next expected runs that moved with the first): when a schedule turns a thousand batches
//! late in the same second, the pings and the rest wait behind a short commit, not behind a
//! thousand commits nor one long one.
//!
//! It decides nothing itself, and reads no clock: the engine passes `now`. It returns every
//! judgement, for `services::alerts` to turn the conditions into alerts.

use std::collections::BTreeMap;

use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::model::Project;
use slipway_core::supervision::batch::{BatchDecl, InstallState, DEFAULT_GRACE};
use slipway_core::supervision::hold::{self, Hold};
use slipway_core::supervision::{judge, BatchState, Run, Settings, Verdict};
use slipway_core::Name;
use slipway_store::{
    BatchFilter, JudgedDefinition, MovedNextExpected, StoredBatch, StoredBatchRun, WriteTx,
};

use super::subject;
use crate::{AppState, ServiceError};

/// Runs of a batch the judgement reads: enough for any sensible `consecutive_failures`.
const RUNS_JUDGED: i64 = 50;

/// Audited changes a transaction of the tick holds: when a thousand batches turn late in the same
/// second, the tick commits them in a few dozen short transactions rather than one per change
/// (a thousand commits the API queues behind) or one for all (a writer lock held for a second,
/// which every ping arriving meanwhile waits out).
const CHANGES_PER_COMMIT: usize = 25;

/// A batch as the tick judged it, with its latest finished run (the one a failure is about).
#[derive(Debug, Clone)]
pub struct Judged {
    pub batch: StoredBatch,
    pub verdict: Verdict,
    pub last_finished: Option<StoredBatchRun>,
    /// Why it raises no alert now; `verdict.held` is set whenever this is.
    pub hold: Option<Hold>,
}

/// Judge every batch at `now`; store and audit what changed. The inventory and the recent runs
/// of every batch are two reads, whatever the number of batches.
///
/// `None` when a `batch.*` step changed a judged batch's definition between the reads and the
/// writes: what that batch's judgement says is stale (it may be disabled now), so this turn
/// raises and resolves no alert from it; the next turn judges the inventory as it is.
pub async fn supervise(
    state: &AppState,
    now: jiff::Timestamp,
) -> Result<Option<Vec<Judged>>, ServiceError> {
    let batches = state.store.batches(&BatchFilter::default()).await?;
    let mut runs_of = state.store.recent_batch_runs(RUNS_JUDGED).await?;
    let mut projects: BTreeMap<String, Option<Project>> = BTreeMap::new();
    let mut judged = Vec::with_capacity(batches.len());
    let mut needs_of = Vec::with_capacity(batches.len());
    for batch in batches {
        if !projects.contains_key(&batch.project) {
            let project = match Name::parse(&batch.project) {
                Ok(name) => state.store.project(&name).await?,
                Err(_) => None,
            };
            projects.insert(batch.project.clone(), project);
        }
        let project = projects.get(&batch.project).and_then(Option::as_ref);
        let declared =
            project.and_then(|p| p.batches.iter().find(|b| b.name.as_str() == batch.name));
        let settings = settings(state, &batch, project, declared);
        let runs = runs_of.remove(&batch.id).unwrap_or_default();
        let mut verdict = judge(&settings, &core_runs(&runs), now);
        let hold = hold::maintenance(&verdict, &settings.maintenance, now);
        verdict.held |= hold.is_some();
        let last_finished = runs.iter().find(|r| r.ended_at.is_some()).cloned();
        needs_of.push(declared.map_or_else(Vec::new, |d| {
            d.needs.iter().map(|n| n.to_string()).collect::<Vec<_>>()
        }));
        judged.push(Judged {
            batch,
            verdict,
            last_finished,
            hold,
        });
    }
    hold_by_needs(&mut judged, &needs_of);
    let all_written = store_judgements(state, &judged).await?;
    Ok(all_written.then_some(judged))
}

/// Hold back each batch whose needed batch is down or late in its project and environment.
fn hold_by_needs(judged: &mut [Judged], needs_of: &[Vec<String>]) {
    type Place = (String, String);
    let mut states: BTreeMap<Place, BTreeMap<String, Vec<BatchState>>> = BTreeMap::new();
    for j in judged.iter() {
        let place = (j.batch.project.clone(), j.batch.environment.clone());
        states
            .entry(place)
            .or_default()
            .entry(j.batch.name.clone())
            .or_default()
            .push(j.verdict.state);
    }
    for (j, needs) in judged.iter_mut().zip(needs_of) {
        if j.hold.is_some() || needs.is_empty() {
            continue;
        }
        let place = (j.batch.project.clone(), j.batch.environment.clone());
        let Some(here) = states.get(&place) else {
            continue;
        };
        if let Some(h) = hold::needs(&j.verdict, needs, here) {
            j.verdict.held = true;
            j.hold = Some(h);
        }
    }
}

/// Whether the tick's judgement changes the batch's status or hold (an audited change).
fn changed(j: &Judged) -> bool {
    j.batch.status != Some(j.verdict.state) || j.batch.hold != j.hold
}

/// Write what changed of the tick's judgements: each change of status or hold with its audit
/// event, [`CHANGES_PER_COMMIT`] changes a transaction, the first also moving every next expected
/// run that moved (derived, unaudited). A tick with only moved next expected runs writes them in
/// one transaction of their own. `false` when some write found the batch's definition changed
/// since the tick read it (that write, and its audit event, are dropped).
async fn store_judgements(state: &AppState, judged: &[Judged]) -> Result<bool, ServiceError> {
    let moved: Vec<MovedNextExpected<'_>> = judged
        .iter()
        .filter(|j| !changed(j) && j.batch.next_expected_at != j.verdict.next_expected)
        .map(|j| MovedNextExpected {
            id: j.batch.id,
            judged: JudgedDefinition::of(&j.batch.definition),
            next: j.verdict.next_expected,
        })
        .collect();
    if !judged.iter().any(changed) {
        if moved.is_empty() {
            return Ok(true);
        }
        let written = state.store.set_batches_next_expected(&moved).await?;
        return Ok(written == moved.len());
    }
    let mut all_written = true;
    let changes: Vec<&Judged> = judged.iter().filter(|j| changed(j)).collect();
    for (n, chunk) in changes.chunks(CHANGES_PER_COMMIT).enumerate() {
        let mut tx = state.store.write().await?;
        let mut audited = false;
        for j in chunk {
            let written = record_change(&mut tx, j).await?;
            audited |= written;
            all_written &= written;
        }
        if !audited {
            // Every change of the chunk was refused as stale: nothing to audit, nothing to
            // commit (a write without its audit event is refused); the moved runs go alone.
            drop(tx);
            if n == 0 && !moved.is_empty() {
                all_written &= state.store.set_batches_next_expected(&moved).await? == moved.len();
            }
            continue;
        }
        if n == 0 {
            all_written &= tx.move_batches_next_expected(&moved).await? == moved.len();
        }
        tx.commit().await?;
    }
    Ok(all_written)
}

/// One batch's new status and hold, with its audit event, in the tick's transaction; `false`
/// (nothing written) when its judged definition changed since the tick read it.
async fn record_change(tx: &mut WriteTx<'_>, j: &Judged) -> Result<bool, ServiceError> {
    let batch = &j.batch;
    let verdict = &j.verdict;
    let status_changed = batch.status != Some(verdict.state);
    let written = tx
        .set_batch_status(
            batch.id,
            JudgedDefinition::of(&batch.definition),
            verdict.state,
            verdict.next_expected,
            j.hold.as_ref(),
        )
        .await?;
    if !written {
        // A `batch.*` step changed what was judged since the tick read it: the next tick
        // judges the new definition, and audits that.
        return Ok(false);
    }
    let verb = match (&j.hold, status_changed) {
        (_, true) => format!("batch.{}", verdict.state.as_str()),
        (Some(_), false) => "batch.held".to_string(),
        (None, false) => "batch.released".to_string(),
    };
    let conditions: Vec<String> = verdict
        .conditions
        .iter()
        .map(|c| c.summary(&batch.name))
        .collect();
    tx.audit(AuditEntry {
        actor: "slipway".into(),
        verb,
        subject: subject(batch),
        details: json!({
            "from": batch.status.map(|s| s.as_str()),
            "conditions": conditions,
            "next_expected": verdict.next_expected.map(|t| t.to_string()),
            "hold": j.hold.as_ref().map(ToString::to_string),
        }),
    });
    Ok(true)
}

/// The settings the judgement needs: the inventory's schedule and state, the project's limits
/// for the batch (defaults when it declares none), and the maintenance windows of the batch and
/// of the project that apply in its environment.
fn settings(
    state: &AppState,
    batch: &StoredBatch,
    project: Option<&Project>,
    declared: Option<&BatchDecl>,
) -> Settings {
    let d = &batch.definition;
    let schedule = d.schedule.as_deref().and_then(|cron| {
        state
            .schedules
            .get(cron, d.time_zone.as_deref().unwrap_or("UTC"))
    });
    let maintenance = declared
        .map(|b| b.maintenance.as_slice())
        .unwrap_or_default()
        .iter()
        .chain(
            project
                .map(|p| p.batch_maintenance.as_slice())
                .unwrap_or_default(),
        )
        .filter(|w| w.applies_in(&batch.environment))
        .cloned()
        .collect();
    Settings {
        schedule,
        grace: declared.map_or(DEFAULT_GRACE, |b| b.grace).duration(),
        max_runtime: declared.and_then(|b| b.max_runtime).map(|p| p.duration()),
        consecutive_failures: declared.map_or(3, |b| b.consecutive_failures),
        enabled: d.state == InstallState::Ready,
        maintenance,
        since: batch.installed_at,
        overlap: declared.is_some_and(|b| b.overlap),
    }
}

/// Stored runs as the judgement reads them.
pub(super) fn core_runs(runs: &[StoredBatchRun]) -> Vec<Run> {
    // A run the agent did not start is no run of the batch: it ended at once with no exit code,
    // which would read as a run still going.
    runs.iter()
        .filter(|r| r.not_started.is_none())
        .map(|r| Run {
            started: r.started_at,
            ended: r
                .ended_at
                .zip(r.exit_code.map(|c| i32::try_from(c).unwrap_or(i32::MAX))),
        })
        .collect()
}
