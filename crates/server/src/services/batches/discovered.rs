//! Jobs the agents find on their hosts that Slipway did not install (crontab lines, systemd
//! timers): recorded per target as its agent reports them, listed as the inventory's unmanaged
//! jobs, and adopted into the inventory by a person (`slipway batch adopt`), audited. An adopted
//! batch keeps its schedule (so a missed run is seen) but no command: cron or systemd still runs
//! it, and its runs are reported by wrapping the line in `slipway batch exec` or by the ping URL.
//!
//! It never writes SQL and runs nothing.

use serde_json::json;
use slipway_core::access::Operation;
use slipway_core::audit::AuditEntry;
use slipway_core::supervision::batch::{Category, InstallState};
use slipway_core::Name;
use slipway_protocol::batches::{Discovered, DiscoveredAck};
use slipway_store::{
    BatchDefinition, BatchInstall, BatchPlace, DiscoveredJobRow, StoredBatch, Target,
};

use super::subject;
use crate::auth::Actor;
use crate::services::require;
use crate::{AppState, ServiceError};

/// The most jobs one report may carry (the agent reads at most 1 000 per source).
const MAX_JOBS: usize = 5_000;

/// Record what `target`'s agent found, replacing its previous report.
pub async fn record(
    state: &AppState,
    target: &Target,
    report: Discovered,
) -> Result<DiscoveredAck, ServiceError> {
    if report.jobs.len() > MAX_JOBS {
        return Err(ServiceError::invalid(
            format!("{} jobs in one report", report.jobs.len()),
            format!("an agent reports at most {MAX_JOBS}"),
        ));
    }
    let now = state.clock.now();
    let clip = |s: &str, n: usize| s.chars().take(n).collect::<String>();
    let rows: Vec<DiscoveredJobRow> = report
        .jobs
        .into_iter()
        .map(|j| DiscoveredJobRow {
            target: target.name.clone(),
            key: clip(&j.key, 300),
            name: clip(&j.name, 64),
            source: clip(&j.source, 300),
            schedule: j.schedule.map(|s| clip(&s, 200)),
            time_zone: j.time_zone.map(|s| clip(&s, 64)),
            run_as: j.user.map(|s| clip(&s, 64)),
            command: clip(&j.command, 1000),
            seen_at: now,
        })
        .collect();
    state
        .store
        .replace_discovered_jobs(&target.name, &rows, now)
        .await?;
    Ok(DiscoveredAck {
        jobs: rows.len() as u64,
    })
}

/// A discovered job not adopted yet, with the environment of its target.
#[derive(Debug, Clone)]
pub struct Unmanaged {
    pub job: DiscoveredJobRow,
    pub environment: Option<String>,
}

/// The jobs found on the targets (of `environment`, when given) that no batch was adopted from.
pub async fn unmanaged(
    state: &AppState,
    actor: &Actor,
    environment: Option<&str>,
) -> Result<Vec<Unmanaged>, ServiceError> {
    require(state, actor, Operation::Read, "batches").await?;
    let adopted = state.store.adopted_jobs().await?;
    let targets = state.store.targets().await?;
    Ok(state
        .store
        .discovered_jobs(None)
        .await?
        .into_iter()
        .filter(|j| !adopted.iter().any(|(t, k)| *t == j.target && *k == j.key))
        .map(|job| Unmanaged {
            environment: targets
                .iter()
                .find(|t| t.name == job.target)
                .and_then(|t| t.environment.clone()),
            job,
        })
        .filter(|u| environment.is_none_or(|e| u.environment.as_deref() == Some(e)))
        .collect())
}

/// What a person adopts: a discovered job of a server, into a project, under a name.
#[derive(Debug, Clone)]
pub struct Adoption {
    pub server: String,
    pub key: String,
    pub project: Name,
    /// Its name in the inventory; the job's suggested name when `None`.
    pub name: Option<Name>,
}

/// Adopt a discovered job: a batch of the inventory on its server, with its schedule, owned by
/// `project`; audited `batch.adopted`.
pub async fn adopt(
    state: &AppState,
    actor: &Actor,
    a: Adoption,
) -> Result<StoredBatch, ServiceError> {
    let job = discovered_job(state, &a.server, &a.key).await?;
    let name = match a.name {
        Some(n) => n,
        None => crate::services::parse_name("name", &job.name)?,
    };
    let environment = environment_of_server(state, &a.server).await?;
    let env_name = crate::services::parse_name("environment", &environment)?;
    // An environment that is not there counts as protected: only ops and admins may.
    let protected = state
        .store
        .environment(&env_name)
        .await?
        .is_none_or(|e| e.protected);
    // Authorised before the write starts: a refusal is audited with a write of its own.
    require(
        state,
        actor,
        Operation::Deploy { protected },
        &format!("batch/{environment}/{name}"),
    )
    .await?;
    let mut tx = state.store.write().await?;
    let place = BatchPlace {
        environment: &environment,
        target: &a.server,
        name: name.as_str(),
    };
    if tx.batch_at(place).await?.is_some() {
        return Err(ServiceError::Conflict(format!(
            "{} already has a batch {name} in the inventory; adopt the job under another name with --name",
            a.server
        )));
    }
    let batch = tx
        .install_batch(&BatchInstall {
            place,
            project: a.project.as_str(),
            definition: BatchDefinition {
                category: Category::Other,
                schedule: job.schedule.clone(),
                time_zone: job.time_zone.clone(),
                command: None,
                run_dir: None,
                log_dir: None,
                owner: None,
                customers: Vec::new(),
                state: InstallState::Ready,
            },
            by: &actor.username,
            deployment: None,
            at: state.clock.now(),
            ping_key: &crate::auth::new_secret("pk_"),
        })
        .await?;
    tx.set_batch_adopted_from(batch.id, &job.key).await?;
    tx.audit(AuditEntry {
        actor: actor.username.clone(),
        verb: "batch.adopted".into(),
        subject: subject(&batch),
        details: json!({
            "project": a.project.as_str(),
            "job": job.key,
            "source": job.source,
            "schedule": job.schedule,
            "command": job.command,
        }),
    });
    tx.commit().await?;
    Ok(batch)
}

/// The job an agent reported under `key` on `server`.
async fn discovered_job(
    state: &AppState,
    server: &str,
    key: &str,
) -> Result<DiscoveredJobRow, ServiceError> {
    state
        .store
        .discovered_jobs(Some(server))
        .await?
        .into_iter()
        .find(|j| j.key == key)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("discovered job {key} on {server}"),
                "`slipway batch unmanaged` lists the jobs the agents found",
            )
        })
}

/// The environment a server's agent was enrolled into: a batch adopted there belongs to it.
async fn environment_of_server(state: &AppState, server: &str) -> Result<String, ServiceError> {
    let target = state
        .store
        .targets()
        .await?
        .into_iter()
        .find(|t| t.name == server)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("server {server}"),
                "`slipway target list` lists them",
            )
        })?;
    target.environment.ok_or_else(|| {
        ServiceError::invalid(
            format!("server {server} belongs to no environment"),
            "enrol its agent with a token of an environment",
        )
    })
}
