//! Log-error alerts, the agents' side: the batches an agent follows (those installed on its
//! target, with their log directory and their project's rules for them), and the reports of
//! matching lines it posts, counted in their groups with the project's secrets masked.
//!
//! The groups become alerts in the alert tick (`services::alerts::evaluate`); this never fires
//! an alert itself and never writes SQL.

use slipway_core::supervision::runs::RUN_REQUEST_LIFETIME;
use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use slipway_core::alerts::Severity;
use slipway_core::deploy::vars::mask;
use slipway_core::model::Project;
use slipway_core::supervision::batch::InstallState;
use slipway_core::supervision::logs::counts::{totals, HourCount, Totals};
use slipway_core::supervision::logs::{group_key, LogRules};
use slipway_protocol::batches::{
    AgentBatch, AgentBatches, LogDirectory, LogErrors, LogErrorsAck, RunNow,
};
use slipway_store::{BatchFilter, LogDirectoryProblem, NewLogError, StoredBatch, Target};

use super::project_secrets;
use crate::{AppState, ServiceError};

/// Reports one post may carry.
pub const MAX_REPORTS: usize = 1000;
/// The longest line kept of a report (the agent judges lines on their first 64 KiB).
const MAX_LINE_CHARS: usize = 16 * 1024;

/// The batches installed and enabled on `target`.
pub(super) async fn installed_on(
    state: &AppState,
    target: &Target,
) -> Result<Vec<StoredBatch>, ServiceError> {
    let Some(environment) = target.environment.clone() else {
        return Ok(Vec::new());
    };
    Ok(state
        .store
        .batches(&BatchFilter {
            environment: Some(environment),
            ..Default::default()
        })
        .await?
        .into_iter()
        .filter(|b| b.target == target.name && b.definition.state == InstallState::Ready)
        .collect())
}

fn rules_of<'p>(
    projects: &'p BTreeMap<String, Arc<Project>>,
    b: &StoredBatch,
) -> Option<&'p LogRules> {
    projects
        .get(&b.project)?
        .batches
        .iter()
        .find(|d| d.name.as_str() == b.name)
        .map(|d| &d.logs)
}

async fn projects(state: &AppState) -> Result<BTreeMap<String, Arc<Project>>, ServiceError> {
    Ok(state
        .store
        .projects_shared()
        .await?
        .into_iter()
        .map(|p| (p.name.to_string(), p))
        .collect())
}

/// What the agent of `target` follows and runs: each batch installed there, with its log
/// directory and rules, its schedule, command and grace; with `take_runs`, the runs people
/// asked for, each handed once (the scheduler asks so, the log follower does not).
pub async fn agent_batches(
    state: &AppState,
    target: &Target,
    take_runs: bool,
) -> Result<AgentBatches, ServiceError> {
    let projects = projects(state).await?;
    let installed = installed_on(state, target).await?;
    let requests = if take_runs {
        let ids: Vec<i64> = installed.iter().map(|b| b.id).collect();
        let now = state.clock.now();
        let not_before = now.checked_sub(RUN_REQUEST_LIFETIME).unwrap_or(now);
        state
            .store
            .take_batch_run_requests(&ids, now, not_before)
            .await?
    } else {
        Vec::new()
    };
    let batches = installed
        .into_iter()
        .map(|b| {
            let decl = projects
                .get(&b.project)
                .and_then(|p| p.batches.iter().find(|d| d.name.as_str() == b.name));
            let rules = decl.map(|d| d.logs.clone()).unwrap_or_default();
            AgentBatch {
                log_rules: serde_json::to_value(&rules).unwrap_or(serde_json::Value::Null),
                grace_secs: decl.map_or(900, |d| {
                    u64::try_from(d.grace.duration().as_secs()).unwrap_or(900)
                }),
                overlap: decl.is_some_and(|d| d.overlap),
                run_now: requests
                    .iter()
                    .filter(|r| r.batch_id == b.id)
                    .map(|r| RunNow {
                        id: r.id,
                        testmode: r.testmode,
                    })
                    .collect(),
                project: b.project,
                environment: b.environment,
                name: b.name,
                log_dir: b.definition.log_dir,
                schedule: b.definition.schedule,
                time_zone: b.definition.time_zone,
                command: b.definition.command,
                run_dir: b.definition.run_dir,
            }
        })
        .collect();
    Ok(AgentBatches {
        batches,
        refresh_secs: 5,
    })
}

/// Count the reports of `target`'s agent in their groups. A report of a batch not installed
/// there (removed meanwhile) or of an unknown severity is ignored, and said so in the answer.
pub async fn record_log_errors(
    state: &AppState,
    target: &Target,
    reports: LogErrors,
) -> Result<LogErrorsAck, ServiceError> {
    if reports.errors.len() > MAX_REPORTS || reports.directories.len() > MAX_REPORTS {
        return Err(ServiceError::invalid(
            format!(
                "{} log-error reports and {} log directories in one post; at most {MAX_REPORTS} of each",
                reports.errors.len(),
                reports.directories.len()
            ),
            "send them in several posts",
        ));
    }
    let now = state.clock.now();
    let projects = projects(state).await?;
    let batches = installed_on(state, target).await?;
    let mut secrets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut prepared = Vec::new();
    let mut ignored = 0;
    for r in &reports.errors {
        let Some(batch) = batches
            .iter()
            .find(|b| b.project == r.project && b.name == r.batch)
        else {
            ignored += 1;
            continue;
        };
        let Ok(severity) = r.severity.parse::<Severity>() else {
            ignored += 1;
            continue;
        };
        if !secrets.contains_key(&batch.project) {
            let values = project_secrets(state, &batch.project).await?;
            secrets.insert(batch.project.clone(), values);
        }
        let line: String = r.line.chars().take(MAX_LINE_CHARS).collect();
        let line = mask(&line, &secrets[&batch.project]);
        let customer = r.customer.as_deref().filter(|c| !c.is_empty());
        let period = rules_of(&projects, batch)
            .map_or(slipway_core::supervision::logs::DEFAULT_PERIOD, |l| {
                l.period
            });
        prepared.push((
            r,
            batch.id,
            group_key(
                &batch.environment,
                &batch.target,
                &batch.name,
                &r.rule,
                customer,
            ),
            severity,
            line,
            r.at.parse::<Timestamp>().unwrap_or(now),
            period.duration(),
        ));
    }
    let records: Vec<NewLogError<'_>> = prepared
        .iter()
        .map(
            |(r, batch_id, key, severity, line, line_at, period)| NewLogError {
                key,
                batch_id: *batch_id,
                rule: &r.rule,
                severity: *severity,
                customer: r.customer.as_deref().filter(|c| !c.is_empty()),
                log_path: &r.path,
                line,
                line_number: i64::try_from(r.line_number).unwrap_or(i64::MAX),
                line_at: *line_at,
                count: i64::try_from(r.count.max(1)).unwrap_or(i64::MAX),
                period: *period,
                at: now,
            },
        )
        .collect();
    record_directories(state, target, &reports.directories).await?;
    if !records.is_empty() {
        state.store.record_log_errors(&records).await?;
        // The alert tick runs at once, so the first line's alert leaves within a second.
        state.engine.orchestrator.notify_one();
    }
    Ok(LogErrorsAck {
        accepted: records.len() as u64,
        ignored,
    })
}

/// Keep on each batch what the agent says of its log directory: a missing or unreadable
/// directory is a warning on the batch (`batch show`, the API, the batch's page), cleared when
/// the agent reads it again.
async fn record_directories(
    state: &AppState,
    target: &Target,
    directories: &[LogDirectory],
) -> Result<(), ServiceError> {
    let problems: Vec<LogDirectoryProblem<'_>> = directories
        .iter()
        .map(|d| LogDirectoryProblem {
            project: &d.project,
            name: &d.batch,
            problem: d.problem.as_deref().map(|p| cut(p, MAX_PROBLEM_BYTES)),
        })
        .collect();
    state
        .store
        .set_batch_log_problems(&target.name, &problems)
        .await?;
    Ok(())
}

/// The longest problem kept of a log directory (a path and an OS error fit well inside).
const MAX_PROBLEM_BYTES: usize = 1024;

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Matching log lines per batch and per customer over the last 24 hours and the last 7 days,
/// at the server's clock, for the Batches page.
pub async fn error_counts(
    state: &AppState,
    actor: &crate::auth::Actor,
) -> Result<(Totals, Totals), ServiceError> {
    let batches = super::list(state, actor, super::BatchQuery::default()).await?;
    let now = state.clock.now();
    let week = now
        .checked_sub(jiff::SignedDuration::from_hours(7 * 24))
        .unwrap_or(now);
    let day = now
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap_or(now);
    let names: BTreeMap<i64, String> = batches
        .iter()
        .map(|b| (b.id, format!("{} ({}/{})", b.name, b.environment, b.target)))
        .collect();
    let counts: Vec<HourCount> = state
        .store
        .log_error_hours(week)
        .await?
        .into_iter()
        .filter_map(|h| {
            Some(HourCount {
                batch: names.get(&h.batch_id)?.clone(),
                customer: h.customer,
                hour: h.hour,
                lines: h.lines,
            })
        })
        .collect();
    Ok((totals(&counts, day), totals(&counts, week)))
}
