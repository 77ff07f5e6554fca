//! The alert tick (run by the engine on the lease holder after batch supervision): the
//! conditions every source reports now become signals, `core::alerts::decide` compares them with
//! the open alerts, and each decision is written with its audit event and its messages in one
//! transaction.
//!
//! Silencing: while a deployment runs on a target, signals from that target's batches (and the
//! probes and SLOs of its project and environment) are marked silenced.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::json;
use slipway_core::alerts::{
    decide, AlertContext, Decision, Notice, OpenAlert, Severity, Signal, SourceKind,
};
use slipway_core::audit::AuditEntry;
use slipway_core::health::ProbeState;
use slipway_core::model::Project;
use slipway_core::supervision::Condition;

use super::{details, queue};
use crate::services::batches::Judged;
use crate::{AppState, ServiceError};

/// Where deployments run now: their targets, and their (project, environment) pairs.
#[derive(Debug, Default)]
struct Busy {
    targets: BTreeSet<String>,
    places: BTreeSet<(String, String)>,
}

async fn busy(state: &AppState) -> Result<Busy, ServiceError> {
    let mut busy = Busy::default();
    for d in state.store.unfinished_deployments().await? {
        for run in d.runs.iter().chain(d.rollback_runs.iter()) {
            busy.targets.extend(run.batches.iter().flatten().cloned());
        }
        busy.places.insert((d.project, d.environment));
    }
    Ok(busy)
}

/// Turn the sources' conditions into alerts at `now`.
pub async fn evaluate(
    state: &AppState,
    now: Timestamp,
    judged: &[Judged],
) -> Result<(), ServiceError> {
    let projects: BTreeMap<String, Arc<Project>> = state
        .store
        .projects_shared()
        .await?
        .into_iter()
        .map(|p| (p.name.to_string(), p))
        .collect();
    let busy = busy(state).await?;
    let mut signals = batch_signals(judged, &projects, &busy);
    let log_signals = super::log_signals::signals(state, now, judged, &busy.targets).await?;
    let logs_hold = !log_signals.is_empty();
    signals.extend(log_signals);
    for project in projects.values() {
        signals.extend(health_signals(state, project, &busy).await?);
    }
    let open = state.store.open_alerts().await?;
    let open_core: Vec<OpenAlert> = open
        .iter()
        .map(|a| OpenAlert {
            id: a.id,
            key: a.key.clone(),
            status: a.status,
            occurrence: a.occurrence.clone(),
            silenced: a.silenced,
            last_notified: a.last_notified,
            renotify: a
                .context
                .project
                .as_ref()
                .and_then(|p| projects.get(p))
                .map_or(Some(slipway_core::alerts::channel::DEFAULT_RENOTIFY), |p| {
                    p.alerting.renotify
                }),
        })
        .collect();
    for decision in decide(&signals, &open_core, now) {
        apply(state, &projects, decision, now).await?;
    }
    if logs_hold {
        // A log alert counts the lines of its group, not the ticks that saw it.
        state.store.sync_log_alert_counts().await?;
    }
    Ok(())
}

/// One decision, written with its audit event and messages.
async fn apply(
    state: &AppState,
    projects: &BTreeMap<String, Arc<Project>>,
    decision: Decision<'_>,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let project_of = |c: &AlertContext| {
        c.project
            .as_ref()
            .and_then(|p| projects.get(p))
            .map(|p| &**p)
    };
    let mut tx = state.store.write().await?;
    let (verb, alert, notice) = match decision {
        Decision::Fire(signal) => {
            let alert = tx.insert_alert(signal, now).await?;
            let notice = (!signal.silenced).then_some(Notice::Fired);
            ("alert.fired", alert, notice)
        }
        Decision::Repeat { id, signal } => {
            tx.repeat_alert(id, signal, true, now).await?;
            (("alert.repeated"), stored(&mut tx, id).await?, None)
        }
        Decision::Silence { id } => {
            tx.set_alert_silenced(id, true).await?;
            ("alert.silenced", stored(&mut tx, id).await?, None)
        }
        Decision::Restore { id, notify, signal } => {
            tx.set_alert_silenced(id, false).await?;
            tx.repeat_alert(id, signal, false, now).await?;
            if notify {
                tx.set_alert_notified(id, now).await?;
            }
            let notice = notify.then_some(Notice::Fired);
            ("alert.restored", stored(&mut tx, id).await?, notice)
        }
        Decision::Renotify { id } => {
            tx.set_alert_notified(id, now).await?;
            (
                "alert.renotified",
                stored(&mut tx, id).await?,
                Some(Notice::Renotified),
            )
        }
        Decision::Resolve { id, notify } => {
            tx.resolve_alert(id, None, now).await?;
            let notice = notify.then_some(Notice::Resolved);
            ("alert.resolved", stored(&mut tx, id).await?, notice)
        }
    };
    let channels = match notice {
        Some(notice) => queue(&mut tx, &alert, project_of(&alert.context), notice).await?,
        None => Vec::new(),
    };
    let mut details = details(&alert);
    details["silenced"] = json!(alert.silenced);
    details["notify"] = json!(notice.is_some());
    details["channels"] = json!(channels);
    tx.audit(AuditEntry {
        actor: "slipway".into(),
        verb: verb.into(),
        subject: format!("alert/{}", alert.id),
        details,
    });
    tx.commit().await?;
    Ok(())
}

async fn stored(
    tx: &mut slipway_store::WriteTx<'_>,
    id: i64,
) -> Result<slipway_store::StoredAlert, ServiceError> {
    tx.alert(id).await?.ok_or_else(|| {
        ServiceError::Store(slipway_store::StoreError::Corrupt(format!(
            "open alert {id} vanished during the tick"
        )))
    })
}

/// The line of what a run printed that tells what went wrong: the last one naming an error
/// (seed 004's rule: "error", "fail", "fatal" or "exception", any case), else the last
/// non-empty one. The output is already masked; the line is cut at 500 characters.
fn telling_line(output: &str) -> Option<String> {
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tells = |l: &&&str| {
        let lower = l.to_lowercase();
        ["error", "fail", "fatal", "exception"]
            .iter()
            .any(|w| lower.contains(w))
    };
    lines
        .iter()
        .rev()
        .find(tells)
        .or(lines.last())
        .map(|l| l.chars().take(500).collect())
}

/// A signal per condition of every judged batch (none inside a maintenance window).
fn batch_signals(
    judged: &[Judged],
    projects: &BTreeMap<String, Arc<Project>>,
    busy: &Busy,
) -> Vec<Signal> {
    let mut out = Vec::new();
    for j in judged.iter().filter(|j| !j.verdict.held) {
        let b = &j.batch;
        let team = b.definition.owner.clone().or_else(|| {
            projects
                .get(&b.project)
                .and_then(|p| p.batches.iter().find(|d| d.name.as_str() == b.name))
                .and_then(|d| d.owner.as_ref().map(|o| o.to_string()))
        });
        let last_started = j.last_finished.as_ref().map(|r| r.started_at.to_string());
        for condition in &j.verdict.conditions {
            let (occurrence, line) = match condition {
                Condition::Missed { expected } => (expected.to_string(), None),
                Condition::RunningTooLong { started } => (started.to_string(), None),
                Condition::Failed { .. } | Condition::ConsecutiveFailures { .. } => (
                    last_started.clone().unwrap_or_default(),
                    j.last_finished
                        .as_ref()
                        .and_then(|r| telling_line(&r.output_tail)),
                ),
            };
            out.push(Signal {
                key: format!(
                    "batch:{}/{}/{}:{}",
                    b.environment,
                    b.target,
                    b.name,
                    condition.kind().as_str()
                ),
                source: SourceKind::Batch,
                severity: condition.severity(),
                summary: condition.summary(&b.name),
                occurrence,
                silenced: busy.targets.contains(&b.target),
                context: AlertContext {
                    project: Some(b.project.clone()),
                    environment: Some(b.environment.clone()),
                    team: team.clone(),
                    target: Some(b.target.clone()),
                    batch: Some(b.name.clone()),
                    probe: None,
                    customers: b.definition.customers.clone(),
                    log_path: b.definition.log_dir.clone(),
                    line,
                    ..AlertContext::default()
                },
            });
        }
    }
    out
}

/// Probes that are down and SLO burn-rate rules that fire, for one project.
async fn health_signals(
    state: &AppState,
    project: &Project,
    busy: &Busy,
) -> Result<Vec<Signal>, ServiceError> {
    let mut out = Vec::new();
    if project.probes.is_empty() {
        return Ok(out);
    }
    let name = project.name.as_str();
    let silenced = |env: &str| busy.places.contains(&(name.to_string(), env.to_string()));
    let context = |env: &str| AlertContext {
        project: Some(name.to_string()),
        environment: Some(env.to_string()),
        ..AlertContext::default()
    };
    for p in state.store.probe_statuses(name).await? {
        if p.state != ProbeState::Down {
            continue;
        }
        let error = p.latest.error.clone().unwrap_or_default();
        out.push(Signal {
            key: format!("probe:{name}/{}/{}:down", p.environment, p.probe),
            source: SourceKind::Probe,
            severity: Severity::Error,
            summary: format!(
                "probe {} of {name} is down in {}: {error}",
                p.probe, p.environment
            ),
            occurrence: p
                .state_changed_at
                .map(|t| t.to_string())
                .unwrap_or_default(),
            silenced: silenced(&p.environment),
            context: AlertContext {
                target: Some(p.latest.reported_by.clone()),
                probe: Some(p.probe.clone()),
                line: p.latest.error.clone(),
                ..context(&p.environment)
            },
        });
    }
    for s in state.store.slo_alerts(name).await? {
        if !s.firing {
            continue;
        }
        let severity = match s.severity {
            slipway_core::health::Severity::Page => Severity::Critical,
            _ => Severity::Warning,
        };
        out.push(Signal {
            key: format!("slo:{name}/{}:{}", s.environment, s.severity.as_str()),
            source: SourceKind::Slo,
            severity,
            summary: format!(
                "the error budget of {name} in {} burns too fast ({} rule)",
                s.environment,
                s.severity.as_str()
            ),
            occurrence: s.changed_at.to_string(),
            silenced: silenced(&s.environment),
            context: context(&s.environment),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::telling_line;

    #[test]
    fn the_telling_line_is_the_last_naming_an_error_else_the_last() {
        assert_eq!(
            telling_line("error: key refused\nexporting\n\n").as_deref(),
            Some("error: key refused")
        );
        assert_eq!(telling_line("a\nb\n").as_deref(), Some("b"));
        assert_eq!(telling_line("  \n"), None);
    }
}
