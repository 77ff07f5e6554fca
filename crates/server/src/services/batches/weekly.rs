//! The weekly batch report as a use case: on the lease holder's turn, for each project whose
//! `alerts.weekly_report` is set and each environment it reports on, the week due now
//! (`core::supervision::report::due_week`, Monday at the report's local time) is gathered from
//! the inventory, the runs and the log-error counts, rendered per channel, and recorded with its
//! audit event and its messages in one transaction; the week's row makes it go once, whatever
//! restarts or replicas do. `crate::channels` sends the messages.
//!
//! It reads no clock (the engine passes `now`) and writes no SQL.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::json;
use slipway_core::alerts::channel::WeeklyReport as ReportDecl;
use slipway_core::alerts::ChannelKind;
use slipway_core::audit::AuditEntry;
use slipway_core::model::Project;
use slipway_core::supervision::report::{due_week, worse, BatchLine, Week, WeeklyReport};
use slipway_core::Name;
use slipway_store::{BatchFilter, ReportMessage, ReportWeek, StoredBatch};

use crate::{AppState, ServiceError};

/// Record every weekly report due at `now` and not yet recorded.
pub async fn send_due(state: &AppState, now: Timestamp) -> Result<(), ServiceError> {
    let projects: Vec<Arc<Project>> = state
        .store
        .projects_shared()
        .await?
        .into_iter()
        .filter(|p| p.alerting.weekly_report.is_some())
        .collect();
    if projects.is_empty() {
        return Ok(());
    }
    let batches = state.store.batches(&BatchFilter::default()).await?;
    for project in &projects {
        let Some(decl) = &project.alerting.weekly_report else {
            continue;
        };
        for environment in reported_environments(project, decl, &batches) {
            let zone = zone_of(state, decl, &environment).await?;
            let Some(week) = due_week(now, &zone.1, decl.at.time()) else {
                continue;
            };
            let monday = week.monday.to_string();
            let key = ReportWeek {
                project: project.name.as_str(),
                environment: &environment,
                week: &monday,
            };
            if state.store.weekly_report_sent(key).await? {
                continue;
            }
            let report = gather(state, project, &environment, &batches, week, zone.0).await?;
            record(state, project, decl, key, &report, now).await?;
        }
    }
    Ok(())
}

/// The environments a report covers: those it names, else those the project has batches in.
fn reported_environments(
    project: &Project,
    decl: &ReportDecl,
    batches: &[StoredBatch],
) -> BTreeSet<String> {
    if !decl.environments.is_empty() {
        return decl.environments.iter().map(|e| e.to_string()).collect();
    }
    batches
        .iter()
        .filter(|b| b.project == project.name.as_str())
        .map(|b| b.environment.clone())
        .collect()
}

/// The report's zone: its own, else the environment's gates time zone, else UTC.
async fn zone_of(
    state: &AppState,
    decl: &ReportDecl,
    environment: &str,
) -> Result<(String, TimeZone), ServiceError> {
    if let Some(name) = &decl.time_zone {
        if let Ok(tz) = TimeZone::get(name) {
            return Ok((name.clone(), tz));
        }
    }
    let env = match Name::parse(environment) {
        Ok(name) => state.store.environment(&name).await?,
        Err(_) => None,
    };
    Ok(env.map_or_else(
        || ("UTC".to_string(), TimeZone::UTC),
        |e| {
            let zone = &e.gates.calendar.zone;
            (zone.as_str().to_string(), zone.tz())
        },
    ))
}

/// The report of one project and environment over `week`.
async fn gather(
    state: &AppState,
    project: &Project,
    environment: &str,
    batches: &[StoredBatch],
    week: Week,
    zone: String,
) -> Result<WeeklyReport, ServiceError> {
    let here: BTreeMap<i64, &StoredBatch> = batches
        .iter()
        .filter(|b| b.project == project.name.as_str() && b.environment == environment)
        .map(|b| (b.id, b))
        .collect();
    let mut lines: BTreeMap<String, BatchLine> = BTreeMap::new();
    for b in here.values() {
        let line = lines.entry(b.name.clone()).or_insert_with(|| BatchLine {
            batch: b.name.clone(),
            runs: 0,
            failures: 0,
            error_lines: 0,
            now: None,
        });
        if let Some(status) = b.status {
            line.now = Some(worse(line.now, status));
        }
    }
    for count in state.store.batch_run_counts(week.from, week.to).await? {
        if let Some(line) = here
            .get(&count.batch_id)
            .and_then(|b| lines.get_mut(&b.name))
        {
            line.runs += u64::try_from(count.runs).unwrap_or(0);
            line.failures += u64::try_from(count.failures).unwrap_or(0);
        }
    }
    let mut customers: BTreeMap<String, u64> = BTreeMap::new();
    for hour in state.store.log_error_hours(week.from).await? {
        if hour.hour >= week.to {
            continue;
        }
        let Some(b) = here.get(&hour.batch_id) else {
            continue;
        };
        let n = u64::try_from(hour.lines).unwrap_or(0);
        if let Some(line) = lines.get_mut(&b.name) {
            line.error_lines += n;
        }
        if !hour.customer.is_empty() {
            *customers.entry(hour.customer).or_default() += n;
        }
    }
    let mut customers: Vec<(String, u64)> = customers.into_iter().collect();
    customers.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(WeeklyReport {
        project: project.name.to_string(),
        environment: environment.to_string(),
        week,
        zone,
        batches: lines.into_values().collect(),
        customers,
        console_url: project.alerting.console_url.clone(),
    })
}

/// Write the week's row, its messages and its audit event in one transaction (nothing when
/// another turn recorded the week meanwhile).
async fn record(
    state: &AppState,
    project: &Project,
    decl: &ReportDecl,
    key: ReportWeek<'_>,
    report: &WeeklyReport,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let messages: Vec<ReportMessage> = decl
        .channels
        .iter()
        .filter_map(|name| project.alerting.channel(name.as_str()))
        .map(|channel| match channel.kind {
            ChannelKind::Email => ReportMessage {
                channel: channel.name.to_string(),
                subject: report.subject(),
                body: report.text(),
                html: Some(report.html()),
            },
            kind => ReportMessage {
                channel: channel.name.to_string(),
                subject: report.subject(),
                body: report
                    .chat_payload(kind)
                    .map(|p| p.to_string())
                    .unwrap_or_default(),
                html: None,
            },
        })
        .collect();
    let mut tx = state.store.write().await?;
    if !tx.record_weekly_report(key, now, &messages).await? {
        return Ok(());
    }
    tx.audit(AuditEntry {
        actor: "slipway".into(),
        verb: "batch.report.sent".into(),
        subject: format!("project/{}", key.project),
        details: json!({
            "environment": key.environment,
            "week": key.week,
            "from": report.week.from.to_string(),
            "to": report.week.to.to_string(),
            "runs": report.runs(),
            "failures": report.failures(),
            "error_lines": report.error_lines(),
            "channels": messages.iter().map(|m| m.channel.as_str()).collect::<Vec<_>>(),
        }),
    });
    tx.commit().await?;
    Ok(())
}
