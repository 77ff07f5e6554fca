//! The batch inventory as a use case: the `batch.*` steps keep it (called by `services::tasks`
//! inside the transaction that records the step's result), and people list, show and export it.
//!
//! It never judges a batch (`core::supervision` does) and never writes SQL (`store` does).

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::state::DeploymentKind;
use slipway_core::deploy::vars::mask;
use slipway_core::plan::Action;
use slipway_core::supervision::batch::{BatchDecl, Category, InstallState};
use slipway_core::Name;
use slipway_store::{
    BatchDefinition, BatchFilter, BatchInstall, BatchPlace, BatchRunKey, NotStartedCount,
    StoredBatch, StoredBatchRun, StoredDeployment, WriteTx,
};

pub mod agent_runs;
pub mod discovered;
pub mod logs;
mod ping;
mod supervise;
pub mod timeline;
pub mod weekly;

pub use ping::{ping, Ping};
pub use supervise::{supervise, Judged};

use super::paging::{time_id_fields, Listed, PageRequest};
use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Keep the inventory in step with a `batch.*` step that succeeded on `target`, in the caller's
/// transaction (the one recording the step's result), with its audit event. Other actions and
/// dry runs change nothing.
pub(crate) async fn record_step(
    tx: &mut WriteTx<'_>,
    deployment: &StoredDeployment,
    target: &str,
    action: &Action,
    at: jiff::Timestamp,
) -> Result<(), ServiceError> {
    if deployment.kind == DeploymentKind::DryRun {
        return Ok(());
    }
    let (job, verb) = match action {
        Action::InstallBatch(p) => (&p.job, "batch.installed"),
        Action::RestoreBatch(p) => (&p.job, "batch.restored"),
        Action::EnableBatch(p) => (&p.job, "batch.enabled"),
        Action::DisableBatch(p) => (&p.job, "batch.disabled"),
        _ => return Ok(()),
    };
    let place = BatchPlace {
        environment: &deployment.environment,
        target,
        name: job.as_str(),
    };
    let stored = match action {
        Action::InstallBatch(p) => {
            let project = Name::parse(&deployment.project)
                .map_err(|e| ServiceError::invalid(format!("project: {e}"), ""))?;
            let declared = tx
                .project(&project)
                .await?
                .and_then(|p| p.batches.into_iter().find(|b| b.name == *job));
            Some(
                tx.install_batch(&BatchInstall {
                    place,
                    project: &deployment.project,
                    definition: definition(declared.as_ref(), p),
                    by: &deployment.requested_by,
                    deployment: Some(deployment.id),
                    at,
                    ping_key: &crate::auth::new_secret("pk_"),
                })
                .await?,
            )
        }
        Action::RestoreBatch(_) => tx.restore_batch(place).await?,
        Action::EnableBatch(_) => tx.set_batch_state(place, InstallState::Ready).await?,
        _ => tx.set_batch_state(place, InstallState::Disabled).await?,
    };
    let Some(stored) = stored else {
        // Enabling or restoring a batch the inventory never saw installed (installed before
        // Slipway kept an inventory): nothing to update, and nothing to invent.
        return Ok(());
    };
    tx.audit(AuditEntry {
        actor: format!("agent:{target}"),
        verb: verb.into(),
        subject: subject(&stored),
        details: json!({
            "deployment": deployment.id,
            "state": stored.definition.state.as_str(),
            "schedule": stored.definition.schedule,
        }),
    });
    Ok(())
}

/// What an install sets: the project's `batches:` entry when it declares the job, else what
/// the step alone says (its schedule, in UTC).
fn definition(
    declared: Option<&BatchDecl>,
    step: &slipway_core::plan::BatchInstallParams,
) -> BatchDefinition {
    let schedule = declared.and_then(|d| d.schedule.as_ref());
    BatchDefinition {
        category: declared.map_or(Category::Other, |d| d.category),
        schedule: Some(
            schedule.map_or_else(|| step.schedule.clone(), |s| s.expression().to_string()),
        ),
        time_zone: Some(schedule.map_or_else(|| "UTC".to_string(), |s| s.zone().to_string())),
        command: Some(step.command.clone()),
        run_dir: declared
            .and_then(|d| d.run_dir.clone())
            .or_else(|| step.run_dir.clone()),
        log_dir: declared
            .and_then(|d| d.log_dir.clone())
            .or_else(|| step.log_dir.clone()),
        owner: declared.and_then(|d| d.owner.as_ref().map(|o| o.to_string())),
        customers: declared.map(|d| d.customers.clone()).unwrap_or_default(),
        state: InstallState::Ready,
    }
}

fn subject(b: &StoredBatch) -> String {
    format!("batch/{}/{}/{}", b.environment, b.target, b.name)
}

/// Which batches to list.
#[derive(Debug, Clone, Default)]
pub struct BatchQuery {
    pub project: Option<Name>,
    pub environment: Option<Name>,
    pub name: Option<Name>,
}

/// The inventory, filtered, with each batch's next expected run computed at `now`.
pub async fn list(
    state: &AppState,
    actor: &Actor,
    query: BatchQuery,
) -> Result<Vec<StoredBatch>, ServiceError> {
    require(state, actor, Operation::Read, "batches").await?;
    let now = state.clock.now();
    let mut batches = state
        .store
        .batches(&BatchFilter {
            project: query.project.map(|p| p.to_string()),
            environment: query.environment.map(|e| e.to_string()),
            name: query.name.map(|n| n.to_string()),
        })
        .await?;
    for b in batches
        .iter_mut()
        .filter(|b| b.status.is_none() || b.next_expected_at.is_none())
    {
        // Not judged by the supervision tick yet, or not since a step changed its definition
        // (which clears the next expected run): the next fire time from here.
        b.next_expected_at = next_expected(&state.schedules, &b.definition, now);
    }
    Ok(batches)
}

/// One batch on every target that has it (of one environment, when given); a 404 that says
/// how batches enter the inventory when there is none.
pub async fn show(
    state: &AppState,
    actor: &Actor,
    name: Name,
    environment: Option<Name>,
) -> Result<Vec<StoredBatch>, ServiceError> {
    let found = list(
        state,
        actor,
        BatchQuery {
            project: None,
            environment,
            name: Some(name.clone()),
        },
    )
    .await?;
    if found.is_empty() {
        return Err(ServiceError::not_found(
            format!("batch {name}"),
            "a batch enters the inventory when a deployment's batch.install step installs it; `slipway batch list` shows those known",
        ));
    }
    Ok(found)
}

/// When a ready batch is next expected to run; none when it is not ready or has no schedule
/// that reads.
fn next_expected(
    schedules: &crate::schedule_cache::ScheduleCache,
    d: &BatchDefinition,
    now: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    if d.state != InstallState::Ready {
        return None;
    }
    schedules
        .get(
            d.schedule.as_deref()?,
            d.time_zone.as_deref().unwrap_or("UTC"),
        )?
        .next_after(now)
}

/// The inventory as CSV, the spreadsheet seed 004's team kept by hand: one line per batch and
/// target, fields quoted when they hold a comma, a quote or a line break.
pub fn csv(batches: &[StoredBatch]) -> String {
    let mut out = String::from(
        "project,environment,server,name,category,state,schedule,time_zone,run_dir,log_dir,owner,customers,created_at,installed_at,installed_by,deployment,last_run_at,last_exit_code,next_expected_at\n",
    );
    for b in batches {
        let d = &b.definition;
        let time = |t: Option<jiff::Timestamp>| t.map(|t| t.to_string()).unwrap_or_default();
        let fields = [
            b.project.clone(),
            b.environment.clone(),
            b.target.clone(),
            b.name.clone(),
            d.category.as_str().to_string(),
            d.state.as_str().to_string(),
            d.schedule.clone().unwrap_or_default(),
            d.time_zone.clone().unwrap_or_default(),
            d.run_dir.clone().unwrap_or_default(),
            d.log_dir.clone().unwrap_or_default(),
            d.owner.clone().unwrap_or_default(),
            d.customers.join("; "),
            b.created_at.to_string(),
            b.installed_at.to_string(),
            b.installed_by.clone(),
            b.installed_by_deployment
                .map(|d| d.to_string())
                .unwrap_or_default(),
            time(b.last_run_at),
            b.last_exit_code.map(|c| c.to_string()).unwrap_or_default(),
            time(b.next_expected_at),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

fn csv_field(value: &str) -> String {
    // A leading =, +, - or @ would be run as a formula by a spreadsheet: quote it with a tick.
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// One page of the runs of batch `name` (on every server and environment it runs in, or one
/// environment when given), newest started first, ties by id (see
/// `slipway_store::Store::batch_run_page`), each with the batch it belongs to.
pub async fn runs(
    state: &AppState,
    actor: &Actor,
    name: Name,
    environment: Option<Name>,
    request: &PageRequest,
) -> Result<Listed<(StoredBatch, StoredBatchRun)>, ServiceError> {
    // One cursor name per batch whatever the environment: a key stays a valid place in either.
    let list = format!("batch-runs:{name}");
    let after = request
        .time_id_key(&list, "start time")?
        .map(|(started_at, id)| BatchRunKey { started_at, id });
    let found = show(state, actor, name, environment).await?;
    let ids: Vec<i64> = found.iter().map(|b| b.id).collect();
    let page = state
        .store
        .batch_run_page(&ids, after, request.size)
        .await?;
    let listed = Listed::from_page(page, &list, |r| time_id_fields(r.started_at, r.id));
    Ok(listed.map(|run| {
        let batch = found
            .iter()
            .find(|b| b.id == run.batch_id)
            .expect("every run read belongs to one of the batches whose runs were read")
            .clone();
        (batch, run)
    }))
}

/// For each batch whose agent did not start some of its runs in the last 24 hours: how many,
/// and the latest with why (`batch show`, the API's `not_started`). Read by one query.
pub async fn not_started_last_day(
    state: &AppState,
) -> Result<std::collections::BTreeMap<i64, NotStartedCount>, ServiceError> {
    let now = state.clock.now();
    let since = now
        .checked_sub(jiff::SignedDuration::from_hours(24))
        .unwrap_or(now);
    Ok(state.store.not_started_counts(since).await?)
}

/// The most output a run keeps: its last 8 KiB.
const MAX_TAIL: usize = 8 * 1024;

/// The batch `name` of `environment` on `server`, or on its only server; errors say which
/// servers have it, or how a batch enters the inventory.
async fn one_batch(
    state: &AppState,
    name: &Name,
    environment: &Name,
    server: Option<&str>,
) -> Result<StoredBatch, ServiceError> {
    let found: Vec<StoredBatch> = state
        .store
        .batches(&BatchFilter {
            project: None,
            environment: Some(environment.to_string()),
            name: Some(name.to_string()),
        })
        .await?
        .into_iter()
        .filter(|b| server.is_none_or(|s| b.target == s))
        .collect();
    match found.len() {
        0 => Err(ServiceError::not_found(
            format!(
                "batch {name} in {environment}{}",
                server.map(|s| format!(" on {s}")).unwrap_or_default()
            ),
            "a batch enters the inventory when a deployment's batch.install step installs it; `slipway batch list` shows those known",
        )),
        1 => Ok(found.into_iter().next().expect("one batch was found")),
        _ => {
            let servers: Vec<&str> = found.iter().map(|b| b.target.as_str()).collect();
            Err(ServiceError::invalid(
                format!(
                    "batch {name} is installed on several servers of {environment}: {}",
                    servers.join(", ")
                ),
                "name the target this run is on with --target",
            ))
        }
    }
}

/// Record the start of a run, at the server's clock, with its audit event.
pub async fn start_run(
    state: &AppState,
    actor: &Actor,
    name: Name,
    environment: Name,
    server: Option<String>,
) -> Result<(StoredBatch, StoredBatchRun), ServiceError> {
    require(
        state,
        actor,
        Operation::ReportCheck,
        &format!("batch/{environment}/{name}"),
    )
    .await?;
    let batch = one_batch(state, &name, &environment, server.as_deref()).await?;
    let mut tx = state.store.write().await?;
    let run = tx
        .start_batch_run(batch.id, state.clock.now(), &actor.username)
        .await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "batch.run.started".into(),
        subject: subject(&batch),
        details: json!({ "run": run.id }),
    });
    tx.commit().await?;
    Ok((batch, run))
}

/// Record the end of run `id` of batch `name`: exit code, duration, and the tail of its output
/// with the project's secrets masked. Ending it again with the same answer changes nothing.
pub async fn end_run(
    state: &AppState,
    actor: &Actor,
    name: Name,
    id: i64,
    exit_code: i64,
    output: &str,
) -> Result<(StoredBatch, StoredBatchRun), ServiceError> {
    require(
        state,
        actor,
        Operation::ReportCheck,
        &format!("batch/{name}"),
    )
    .await?;
    let not_found = || {
        ServiceError::not_found(
            format!("run {id} of batch {name}"),
            "end the run `slipway batch exec` started; its id is in the start's answer",
        )
    };
    let mut tx = state.store.write().await?;
    let mut run = tx.batch_run(id).await?.ok_or_else(not_found)?;
    let batch = state
        .store
        .batches(&BatchFilter {
            name: Some(name.to_string()),
            ..Default::default()
        })
        .await?
        .into_iter()
        .find(|b| b.id == run.batch_id)
        .ok_or_else(not_found)?;
    if run.ended_at.is_some() {
        if run.exit_code == Some(exit_code) {
            return Ok((batch, run));
        }
        return Err(ServiceError::Conflict(format!(
            "run {id} of batch {name} already ended with exit code {}",
            run.exit_code.map(|c| c.to_string()).unwrap_or_default()
        )));
    }
    let secrets = project_secrets(state, &batch.project).await?;
    let now = state.clock.now();
    run.ended_at = Some(now);
    run.exit_code = Some(exit_code);
    run.duration_ms = Some(
        i64::try_from(now.duration_since(run.started_at).as_millis().max(0)).unwrap_or(i64::MAX),
    );
    run.output_tail = mask(&tail(output), &secrets);
    tx.end_batch_run(&run).await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "batch.run.ended".into(),
        subject: subject(&batch),
        details: json!({ "run": run.id, "exit_code": exit_code, "duration_ms": run.duration_ms }),
    });
    tx.commit().await?;
    Ok((batch, run))
}

/// The last `MAX_TAIL` bytes of `output`, cut at a character boundary.
fn tail(output: &str) -> String {
    if output.len() <= MAX_TAIL {
        return output.to_string();
    }
    let mut start = output.len() - MAX_TAIL;
    while !output.is_char_boundary(start) {
        start += 1;
    }
    output[start..].to_string()
}

/// The values of the project's sensitive variables, to mask in what a run printed.
async fn project_secrets(state: &AppState, project: &str) -> Result<Vec<String>, ServiceError> {
    let Ok(project) = Name::parse(project) else {
        return Ok(Vec::new());
    };
    Ok(state
        .store
        .variable_values(&project)
        .await?
        .into_iter()
        .filter(|s| s.sensitive)
        .filter_map(|s| crate::services::variables::reveal(state, &project, &s))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1"), "'-1");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn the_tail_keeps_the_last_bytes_on_a_character_boundary() {
        let long = format!("{}{}", "é".repeat(MAX_TAIL), "end");
        let t = tail(&long);
        assert!(t.len() <= MAX_TAIL && t.ends_with("end"));
        assert_eq!(tail("short"), "short");
    }
}
