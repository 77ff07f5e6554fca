//! Log-error groups as alert signals: a group whose last matching line is within its period
//! holds one signal (its key, its rule's severity, its first line with the number and time it
//! was read, the customer its path names, else the batch's customers). When no line came for
//! the period, the signal ends and its alert resolves; the next line is a new alert.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use slipway_core::alerts::{AlertContext, Signal, SourceKind};
use slipway_store::format_time;

use crate::services::batches::Judged;
use crate::{AppState, ServiceError};

/// The longest a group lasts after its last line (`logs.period` is at most a day).
const LONGEST_PERIOD: SignedDuration = SignedDuration::from_hours(24);

pub(super) async fn signals(
    state: &AppState,
    now: Timestamp,
    judged: &[Judged],
    busy_targets: &BTreeSet<String>,
) -> Result<Vec<Signal>, ServiceError> {
    let since = now.checked_sub(LONGEST_PERIOD).unwrap_or(now);
    let groups = state.store.log_groups_since(since).await?;
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let batches: BTreeMap<i64, &slipway_store::StoredBatch> =
        judged.iter().map(|j| (j.batch.id, &j.batch)).collect();
    let mut out = Vec::new();
    for g in groups {
        if now.duration_since(g.last_seen) > g.period {
            continue;
        }
        let Some(b) = batches.get(&g.batch_id) else {
            continue;
        };
        let customers = match &g.customer {
            Some(c) => vec![c.clone()],
            None => b.definition.customers.clone(),
        };
        out.push(Signal {
            key: g.key.clone(),
            source: SourceKind::Log,
            severity: g.severity,
            summary: format!(
                "batch {} logged a line matching rule {} on {}",
                b.name, g.rule, b.target
            ),
            occurrence: format_time(g.first_seen),
            silenced: busy_targets.contains(&b.target),
            context: AlertContext {
                project: Some(b.project.clone()),
                environment: Some(b.environment.clone()),
                team: b.definition.owner.clone(),
                target: Some(b.target.clone()),
                batch: Some(b.name.clone()),
                customers,
                log_path: Some(g.log_path.clone()),
                line: Some(g.line.clone()),
                line_number: u64::try_from(g.line_number).ok(),
                line_at: Some(g.line_at.to_string()),
                ..AlertContext::default()
            },
        });
    }
    Ok(out)
}
