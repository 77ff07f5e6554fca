//! `slipway-loadgen fill-history`: a history at the size (10 000 releases, 100 000
//! deployments, 1 000 000 audit events) in minutes, for the reads to be measured against.
//!
//! Making it through the API and agents is honest but takes hours (9–27 s per 1 000
//! deployments), so the bulk is written straight into the store — through `slipway_store`'s own
//! write functions (`insert_release`, `insert_deployment`, `insert_task`, `append_logs`) and its
//! audit chain (`WriteTx::audit`), a few hundred deployments to a transaction, so the derived
//! counts (insights' days, arrivals) and the hash chain are what the product would have written.
//! Each generated row is a copy of one the product made: the newest succeeded deployment of the
//! template project (with its tasks and output) and its release, made beforehand through the API
//! and real agents. It never runs beside a server on SQLite (the caller stops it first); the
//! chain stays whole either way, since an append checks the head it extends.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use slipway_core::audit::AuditEntry;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase, TaskState};
use slipway_core::name::Name;
use slipway_core::page::PageSize;
use slipway_core::release::Version;
use slipway_store::{
    current_time, LogFilter, LogStart, Store, StoreError, StoredDeployment, StoredRelease,
    StoredTask, WriteTx, MAX_LOG_PAGE,
};

/// The most releases, deployments and events one fill writes.
pub const MAX_FILL_ROWS: u64 = 10_000_000;
/// Releases written per transaction (each with its `release.create` event).
const RELEASES_PER_TRANSACTION: u64 = 1_000;
/// Deployments written per transaction, with their tasks, output and events.
const DEPLOYMENTS_PER_TRANSACTION: u64 = 100;
/// Output lines each generated task gets when the template's task had none.
const DEFAULT_LOG_LINES: usize = 3;
/// The actor of everything generated.
const ACTOR: &str = "loadgen-fill";

/// What to fill.
#[derive(Debug, Clone)]
pub struct FillOptions {
    /// `sqlite://…/slipway.db` or `postgres://…`, with no server writing to it (SQLite).
    pub database_url: String,
    /// The project whose newest succeeded deployment and its release are copied; generated
    /// releases and most deployments are its own.
    pub project: String,
    pub releases: u64,
    pub deployments: u64,
    /// Audit events to append in all, at least one per release and one per deployment.
    pub events: u64,
    /// Projects whose names start with this share the deployments (half of them), each with a
    /// release 1.0.0: the dashboard's projects with history behind them.
    pub spread_prefix: Option<String>,
    pub max_seconds: u64,
}

/// What was written: the JSON `fill-history` prints.
#[derive(Debug, Default, Serialize)]
pub struct FillSummary {
    pub releases: u64,
    pub deployments: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub rolled_back: u64,
    pub tasks: u64,
    pub log_lines: u64,
    pub events: u64,
    pub projects: usize,
    pub environments: usize,
    pub secs: f64,
    /// `max_seconds` came before everything asked was written (what was, is whole).
    pub stopped_early: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error("{0}")]
    Invalid(String),
    #[error("the store: {0}")]
    Store(#[from] StoreError),
}

impl FillOptions {
    pub fn check(&self) -> Result<(), FillError> {
        for (what, value) in [
            ("--releases", self.releases),
            ("--deployments", self.deployments),
            ("--events", self.events),
        ] {
            if value > MAX_FILL_ROWS {
                return Err(FillError::Invalid(format!(
                    "{what} takes at most {MAX_FILL_ROWS}"
                )));
            }
        }
        if Name::parse(&self.project).is_err() {
            return Err(FillError::Invalid(format!(
                "`{}` is not a project name",
                self.project
            )));
        }
        Ok(())
    }
}

/// The rows every generated deployment copies.
struct Template {
    deployment: StoredDeployment,
    release: StoredRelease,
    tasks: Vec<StoredTask>,
    /// Each template task's output, by its id.
    lines: HashMap<String, Vec<String>>,
}

/// Where one generated deployment goes and how it ends.
struct Placement {
    project: String,
    version: String,
    environment: String,
    state: DeploymentState,
}

/// Fill the store at `options.database_url`; bounded by `options.max_seconds`.
pub fn fill(options: &FillOptions) -> Result<FillSummary, FillError> {
    options.check()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FillError::Invalid(format!("could not start the async runtime: {e}")))?;
    runtime.block_on(fill_store(options))
}

async fn fill_store(options: &FillOptions) -> Result<FillSummary, FillError> {
    let started = Instant::now();
    let stop_at = started + Duration::from_secs(options.max_seconds);
    let store = Store::open(&options.database_url).await?;
    let template = template(&store, &options.project).await?;
    let environments: Vec<String> = store
        .environments()
        .await?
        .into_iter()
        .map(|e| e.name.to_string())
        .collect();
    if environments.is_empty() {
        return Err(FillError::Invalid(
            "the store declares no environment".into(),
        ));
    }
    let spread: Vec<String> = match &options.spread_prefix {
        Some(prefix) => store
            .projects()
            .await?
            .into_iter()
            .map(|p| p.name.to_string())
            .filter(|n| n.starts_with(prefix.as_str()) && *n != options.project)
            .collect(),
        None => Vec::new(),
    };
    let mut summary = FillSummary {
        projects: spread.len() + 1,
        environments: environments.len(),
        ..FillSummary::default()
    };
    let versions =
        write_releases(&store, &template, options.releases, stop_at, &mut summary).await?;
    write_spread_releases(&store, &template, &spread, &mut summary).await?;
    let per_deployment = events_per_deployment(options);
    let mut next = 0;
    while next < options.deployments && !summary.stopped_early {
        if Instant::now() > stop_at {
            summary.stopped_early = true;
            break;
        }
        let end = (next + DEPLOYMENTS_PER_TRANSACTION).min(options.deployments);
        let mut tx = store.write().await?;
        for i in next..end {
            let placement = place(i, options, &template, &versions, &spread, &environments);
            let events = per_deployment(i);
            write_deployment(&mut tx, &template, &placement, events, &mut summary).await?;
        }
        tx.commit().await?;
        next = end;
    }
    summary.secs = started.elapsed().as_secs_f64();
    store.close().await;
    Ok(summary)
}

/// The newest succeeded deployment of `project`, its release, tasks and output.
async fn template(store: &Store, project: &str) -> Result<Template, FillError> {
    let page = store
        .deployments_page(
            Some(project),
            None,
            None,
            PageSize::at_most(slipway_core::page::MAX_PAGE_SIZE),
        )
        .await?;
    let deployment = page
        .items
        .into_iter()
        .find(|d| d.state == DeploymentState::Succeeded && d.kind == DeploymentKind::Deploy)
        .ok_or_else(|| {
            FillError::Invalid(format!(
                "project {project} has no succeeded deployment among its newest to copy: make one through the API first"
            ))
        })?;
    let name = Name::parse(project).map_err(|e| FillError::Invalid(e.to_string()))?;
    let version = Version::parse(&deployment.release_version)
        .map_err(|e| FillError::Invalid(e.to_string()))?;
    let release = store.release(&name, &version).await?.ok_or_else(|| {
        FillError::Invalid(format!("release {version} of {project} is not stored"))
    })?;
    let tasks = store.tasks(deployment.id).await?;
    let output = store
        .log_page(
            deployment.id,
            &LogFilter {
                task: None,
                since: None,
                start: LogStart::First,
                limit: MAX_LOG_PAGE,
            },
        )
        .await?;
    let mut lines: HashMap<String, Vec<String>> = HashMap::new();
    for line in output {
        lines.entry(line.task_id).or_default().push(line.line);
    }
    Ok(Template {
        deployment,
        release,
        tasks,
        lines,
    })
}

/// `count` releases of the template's project (`3.M.P`), older than the template's, 1 000 to a
/// transaction; their versions, oldest first.
async fn write_releases(
    store: &Store,
    template: &Template,
    count: u64,
    stop_at: Instant,
    summary: &mut FillSummary,
) -> Result<Vec<String>, FillError> {
    let mut versions = Vec::new();
    let mut next = 0;
    while next < count {
        if Instant::now() > stop_at {
            summary.stopped_early = true;
            break;
        }
        let end = (next + RELEASES_PER_TRANSACTION).min(count);
        let mut tx = store.write().await?;
        for i in next..end {
            let version = format!("3.{}.{}", i / 1000, i % 1000);
            let mut release = template.release.clone();
            release.version = Version::parse(&version).expect("3.M.P is a version");
            // Older than the template's, one every ten minutes, ending at it.
            release.created_at = template.release.created_at
                - jiff::SignedDuration::from_mins(10 * (count - i) as i64);
            release.created_by = ACTOR.into();
            tx.insert_release(&release).await?;
            tx.audit(AuditEntry {
                actor: ACTOR.into(),
                verb: "release.create".into(),
                subject: format!("release/{}/{version}", release.project),
                details: json!({ "artifacts": release.artifacts.len() }),
            });
            versions.push(version);
        }
        tx.commit().await?;
        summary.releases += end - next;
        summary.events += end - next;
        next = end;
    }
    Ok(versions)
}

/// Release 1.0.0 (the template's, renamed, without artifacts) of each spread project that has
/// none.
async fn write_spread_releases(
    store: &Store,
    template: &Template,
    spread: &[String],
    summary: &mut FillSummary,
) -> Result<(), FillError> {
    if spread.is_empty() {
        return Ok(());
    }
    let version = Version::parse("1.0.0").expect("1.0.0 is a version");
    let mut tx = store.write().await?;
    for project in spread {
        let name = Name::parse(project).expect("a stored project's name is a name");
        if tx.release_exists(&name, &version).await? {
            continue;
        }
        let mut release = template.release.clone();
        release.project = name;
        release.version = version.clone();
        // The template's artifacts are its project's (the vault's rows name the project).
        release.artifacts.clear();
        release.created_by = ACTOR.into();
        tx.insert_release(&release).await?;
        tx.audit(AuditEntry {
            actor: ACTOR.into(),
            verb: "release.create".into(),
            subject: format!("release/{project}/1.0.0"),
            details: json!({ "artifacts": release.artifacts.len() }),
        });
        summary.releases += 1;
        summary.events += 1;
    }
    // A write with no event is refused: one says the spread releases exist.
    tx.audit(AuditEntry {
        actor: ACTOR.into(),
        verb: "release.checked".into(),
        subject: format!("project/{}", template.release.project),
        details: json!({ "spread_projects": spread.len() }),
    });
    summary.events += 1;
    tx.commit().await?;
    Ok(())
}

/// How many events deployment `i` gets: the events left after the releases', shared out, at
/// least one each.
fn events_per_deployment(options: &FillOptions) -> impl Fn(u64) -> u64 {
    let deployments = options.deployments.max(1);
    let left = options.events.saturating_sub(options.releases);
    let (each, extra) = (left / deployments, left % deployments);
    move |i| (each + u64::from(i < extra)).max(1)
}

/// Deployment `i`'s project, release, environment and end: half in the template's project
/// (each release through every environment in turn), half over the spread projects; 88 %
/// succeeded, 8 % failed, 4 % rolled back.
fn place(
    i: u64,
    options: &FillOptions,
    template: &Template,
    versions: &[String],
    spread: &[String],
    environments: &[String],
) -> Placement {
    let n_env = environments.len() as u64;
    let state = match i % 100 {
        0..=3 => DeploymentState::RolledBack,
        4..=11 => DeploymentState::Failed,
        _ => DeploymentState::Succeeded,
    };
    if !spread.is_empty() && i % 2 == 1 {
        let j = i / 2;
        let n = spread.len() as u64;
        return Placement {
            project: spread[(j % n) as usize].clone(),
            version: "1.0.0".into(),
            environment: environments[((j / n) % n_env) as usize].clone(),
            state,
        };
    }
    let j = if spread.is_empty() { i } else { i / 2 };
    let version = if versions.is_empty() {
        template.deployment.release_version.clone()
    } else {
        versions[((j / n_env) % versions.len() as u64) as usize].clone()
    };
    Placement {
        project: options.project.clone(),
        version,
        environment: environments[(j % n_env) as usize].clone(),
        state,
    }
}

/// One deployment copied from the template to `placement`, with its tasks, their output and
/// `events` audit events, in `tx`.
async fn write_deployment(
    tx: &mut WriteTx<'_>,
    template: &Template,
    placement: &Placement,
    events: u64,
    summary: &mut FillSummary,
) -> Result<(), FillError> {
    let now = current_time();
    let ended_badly = placement.state != DeploymentState::Succeeded;
    let mut d = template.deployment.clone();
    d.project.clone_from(&placement.project);
    d.release_version.clone_from(&placement.version);
    d.environment.clone_from(&placement.environment);
    d.state = placement.state;
    d.phase = if placement.state == DeploymentState::RolledBack {
        Phase::Rollback
    } else {
        Phase::Forward
    };
    d.requested_by = ACTOR.into();
    d.finished_at = Some(now);
    d.failure = ended_badly.then(|| "step 1 failed: exit code 1".to_string());
    let id = tx.insert_deployment(&d).await?;
    let last = template.tasks.len().saturating_sub(1);
    for (n, t) in template.tasks.iter().enumerate() {
        let mut task = t.clone();
        task.id = format!("fill{id}t{n}");
        task.deployment_id = id;
        task.started_at = Some(now);
        task.finished_at = Some(now);
        let failed_here = ended_badly && n == last;
        task.state = if failed_here {
            TaskState::Failed
        } else {
            TaskState::Succeeded
        };
        task.exit_code = Some(i64::from(failed_here));
        tx.insert_task(&task).await?;
        let lines = template.lines.get(&t.id).cloned().unwrap_or_else(|| {
            (1..=DEFAULT_LOG_LINES)
                .map(|l| format!("{} line {l}", t.target))
                .collect()
        });
        tx.append_logs(&task.id, task.attempt, 1, &lines).await?;
        summary.tasks += 1;
        summary.log_lines += lines.len() as u64;
    }
    for entry in deployment_events(id, &d, template, events) {
        tx.audit(entry);
    }
    summary.deployments += 1;
    summary.events += events;
    match placement.state {
        DeploymentState::Succeeded => summary.succeeded += 1,
        DeploymentState::Failed => summary.failed += 1,
        _ => summary.rolled_back += 1,
    }
    Ok(())
}

/// `count` events a deployment's life writes: its creation, its tasks' starts and results
/// (repeated when there are more to write than tasks), and its end.
fn deployment_events(
    id: i64,
    d: &StoredDeployment,
    template: &Template,
    count: u64,
) -> Vec<AuditEntry> {
    let subject = format!("deployment/{id}");
    let entry = |actor: &str, verb: &str, details: serde_json::Value| AuditEntry {
        actor: actor.into(),
        verb: verb.into(),
        subject: subject.clone(),
        details,
    };
    let mut events = vec![entry(
        ACTOR,
        "deployment.deploy",
        json!({ "project": d.project, "release": d.release_version, "environment": d.environment, "rollback_of": null }),
    )];
    let middle = count.saturating_sub(2);
    for k in 0..middle {
        let n = (k / 2) as usize % template.tasks.len().max(1);
        let target = template
            .tasks
            .get(n)
            .map_or("target", |t| t.target.as_str());
        let task = format!("fill{id}t{n}");
        let (verb, details) = if k % 2 == 0 {
            ("task.start", json!({ "task": task, "attempt": 1 }))
        } else {
            (
                "task.succeeded",
                json!({ "task": task, "attempt": 1, "exit_code": 0 }),
            )
        };
        events.push(entry(&format!("agent:{target}"), verb, details));
    }
    if count >= 2 {
        let verb = match d.state {
            DeploymentState::Succeeded => "deployment.finished",
            _ => "deployment.failed",
        };
        events.push(entry("system", verb, json!({ "state": d.state.as_str() })));
    }
    events
}
