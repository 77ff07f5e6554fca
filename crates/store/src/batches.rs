//! The batch inventory: one row per batch, environment and target, written by the `batch.*`
//! steps inside the transaction of their result, and read back for lists, details and exports.
//!
//! A row keeps the definition before its last install, so `batch.restore` puts it back. It
//! judges nothing: states and alerts are `core::supervision`'s.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use slipway_core::page::PageSize;
use slipway_core::supervision::batch::{Category, InstallState};
use slipway_core::supervision::hold::Hold;
use slipway_core::supervision::BatchState;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::page::{page_of, rows_to_read, Page};
use crate::time::{format_time, read_optional_time, read_time};
use crate::{json_column, named, Result, Store, StoreError, WriteTx};

/// What an install sets: everything a `batch.install` step and the project's `batches:` say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchDefinition {
    pub category: Category,
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub command: Option<String>,
    pub run_dir: Option<String>,
    pub log_dir: Option<String>,
    pub owner: Option<String>,
    pub customers: Vec<String>,
    pub state: InstallState,
}

/// A batch on one target of one environment, as the inventory holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub target: String,
    pub name: String,
    pub definition: BatchDefinition,
    pub created_at: Timestamp,
    pub installed_at: Timestamp,
    /// Who asked for the deployment that installed it.
    pub installed_by: String,
    pub installed_by_deployment: Option<i64>,
    pub last_run_at: Option<Timestamp>,
    pub last_exit_code: Option<i64>,
    pub next_expected_at: Option<Timestamp>,
    /// The supervision tick's last judgement; `None` until judged.
    pub status: Option<BatchState>,
    /// The key of its ping URL (`/ping/KEY`), for hosts without an agent.
    pub ping_key: Option<String>,
    /// Why it raises no alert now (maintenance, or a batch it needs is down); the tick's.
    pub hold: Option<Hold>,
    /// Why its agent cannot read its log directory (`log directory … cannot be read: …`), as
    /// the agent last reported; `None` when it reads or nothing was reported.
    pub log_problem: Option<String>,
}

/// Where a batch is: its environment, target and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlace<'a> {
    pub environment: &'a str,
    pub target: &'a str,
    pub name: &'a str,
}

/// An install of a batch by a deployment's step.
#[derive(Debug, Clone)]
pub struct BatchInstall<'a> {
    pub place: BatchPlace<'a>,
    pub project: &'a str,
    pub definition: BatchDefinition,
    pub by: &'a str,
    pub deployment: Option<i64>,
    pub at: Timestamp,
    /// The ping key a batch gets if it has none yet (a fresh random token from the caller).
    pub ping_key: &'a str,
}

/// Which batches a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchFilter {
    pub project: Option<String>,
    pub environment: Option<String>,
    pub name: Option<String>,
}

/// The stored form of a previous definition (a JSON column).
#[derive(Serialize, Deserialize)]
struct DefinitionJson {
    category: String,
    schedule: Option<String>,
    time_zone: Option<String>,
    command: Option<String>,
    run_dir: Option<String>,
    log_dir: Option<String>,
    owner: Option<String>,
    customers: Vec<String>,
    state: String,
}

impl DefinitionJson {
    fn of(d: &BatchDefinition) -> DefinitionJson {
        DefinitionJson {
            category: d.category.as_str().to_string(),
            schedule: d.schedule.clone(),
            time_zone: d.time_zone.clone(),
            command: d.command.clone(),
            run_dir: d.run_dir.clone(),
            log_dir: d.log_dir.clone(),
            owner: d.owner.clone(),
            customers: d.customers.clone(),
            state: d.state.as_str().to_string(),
        }
    }

    fn definition(self) -> Result<BatchDefinition> {
        Ok(BatchDefinition {
            category: self.category.parse()?,
            schedule: self.schedule,
            time_zone: self.time_zone,
            command: self.command,
            run_dir: self.run_dir,
            log_dir: self.log_dir,
            owner: self.owner,
            customers: self.customers,
            state: self.state.parse()?,
        })
    }
}

const COLUMNS: &str = "id, project, environment, target, name, category, schedule, time_zone, command, run_dir, log_dir, state, owner, customers, created_at, installed_at, installed_by, installed_by_deployment, last_run_at, last_exit_code, next_expected_at, status, ping_key, hold, log_problem";

fn batch_row(row: &AnyRow) -> Result<StoredBatch> {
    Ok(StoredBatch {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        target: row.try_get("target")?,
        name: row.try_get("name")?,
        definition: BatchDefinition {
            category: named(row, "category")?,
            schedule: row.try_get("schedule")?,
            time_zone: row.try_get("time_zone")?,
            command: row.try_get("command")?,
            run_dir: row.try_get("run_dir")?,
            log_dir: row.try_get("log_dir")?,
            owner: row.try_get("owner")?,
            customers: json_column(row, "batch", "customers")?,
            state: named(row, "state")?,
        },
        created_at: read_time(row, "created_at")?,
        installed_at: read_time(row, "installed_at")?,
        installed_by: row.try_get("installed_by")?,
        installed_by_deployment: row.try_get("installed_by_deployment")?,
        last_run_at: read_optional_time(row, "last_run_at")?,
        last_exit_code: row.try_get("last_exit_code")?,
        next_expected_at: read_optional_time(row, "next_expected_at")?,
        status: {
            let text: Option<String> = row.try_get("status")?;
            text.map(|t| t.parse()).transpose()?
        },
        ping_key: row.try_get("ping_key")?,
        hold: {
            let text: Option<String> = row.try_get("hold")?;
            text.map(|t| {
                serde_json::from_str(&t)
                    .map_err(|e| StoreError::Corrupt(format!("batch hold: {e}")))
            })
            .transpose()?
        },
        log_problem: row.try_get("log_problem")?,
    })
}

fn json_text<T: Serialize>(what: &str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl WriteTx<'_> {
    pub async fn batch_at(&mut self, place: BatchPlace<'_>) -> Result<Option<StoredBatch>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM batches WHERE environment = $1 AND target = $2 AND name = $3"
        ))
        .bind(place.environment)
        .bind(place.target)
        .bind(place.name)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(batch_row).transpose()
    }

    /// Record an install: a new row, or the row's new definition with the one it replaces kept
    /// for `batch.restore`.
    pub async fn install_batch(&mut self, install: &BatchInstall<'_>) -> Result<StoredBatch> {
        let d = &install.definition;
        let customers = json_text("batch customers", &d.customers)?;
        let at = format_time(install.at);
        match self.batch_at(install.place).await? {
            Some(existing) => {
                let previous =
                    json_text("batch previous", &DefinitionJson::of(&existing.definition))?;
                sqlx::query("UPDATE batches SET project = $1, category = $2, schedule = $3, time_zone = $4, command = $5, run_dir = $6, log_dir = $7, state = $8, owner = $9, customers = $10, installed_at = $11, installed_by = $12, installed_by_deployment = $13, previous = $14, ping_key = COALESCE(ping_key, $16), next_expected_at = NULL WHERE id = $15")
                    .bind(install.project)
                    .bind(d.category.as_str())
                    .bind(d.schedule.as_deref())
                    .bind(d.time_zone.as_deref())
                    .bind(d.command.as_deref())
                    .bind(d.run_dir.as_deref())
                    .bind(d.log_dir.as_deref())
                    .bind(d.state.as_str())
                    .bind(d.owner.as_deref())
                    .bind(&customers)
                    .bind(&at)
                    .bind(install.by)
                    .bind(install.deployment)
                    .bind(&previous)
                    .bind(existing.id)
                    .bind(install.ping_key)
                    .execute(&mut *self.tx)
                    .await?;
            }
            None => {
                let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM batches")
                    .fetch_one(&mut *self.tx)
                    .await?;
                sqlx::query("INSERT INTO batches (id, project, environment, target, name, category, schedule, time_zone, command, run_dir, log_dir, state, owner, customers, created_at, installed_at, installed_by, installed_by_deployment, ping_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $16, $17, $18)")
                    .bind(max.unwrap_or(0) + 1)
                    .bind(install.project)
                    .bind(install.place.environment)
                    .bind(install.place.target)
                    .bind(install.place.name)
                    .bind(d.category.as_str())
                    .bind(d.schedule.as_deref())
                    .bind(d.time_zone.as_deref())
                    .bind(d.command.as_deref())
                    .bind(d.run_dir.as_deref())
                    .bind(d.log_dir.as_deref())
                    .bind(d.state.as_str())
                    .bind(d.owner.as_deref())
                    .bind(&customers)
                    .bind(&at)
                    .bind(install.by)
                    .bind(install.deployment)
                    .bind(install.ping_key)
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        self.batch_at(install.place)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a batch just written is not there".into()))
    }

    /// Put back the definition the last install replaced; a batch whose first install is undone
    /// becomes inactive. `None` when the inventory has no such batch.
    pub async fn restore_batch(&mut self, place: BatchPlace<'_>) -> Result<Option<StoredBatch>> {
        let row = sqlx::query(
            "SELECT id, previous FROM batches WHERE environment = $1 AND target = $2 AND name = $3",
        )
        .bind(place.environment)
        .bind(place.target)
        .bind(place.name)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let previous: Option<String> = row.try_get("previous")?;
        match previous {
            Some(text) => {
                let d = serde_json::from_str::<DefinitionJson>(&text)
                    .map_err(|e| StoreError::Corrupt(format!("batch previous: {e}")))?
                    .definition()?;
                sqlx::query("UPDATE batches SET category = $1, schedule = $2, time_zone = $3, command = $4, run_dir = $5, log_dir = $6, state = $7, owner = $8, customers = $9, previous = NULL, next_expected_at = NULL WHERE id = $10")
                    .bind(d.category.as_str())
                    .bind(d.schedule.as_deref())
                    .bind(d.time_zone.as_deref())
                    .bind(d.command.as_deref())
                    .bind(d.run_dir.as_deref())
                    .bind(d.log_dir.as_deref())
                    .bind(d.state.as_str())
                    .bind(d.owner.as_deref())
                    .bind(json_text("batch customers", &d.customers)?)
                    .bind(id)
                    .execute(&mut *self.tx)
                    .await?;
            }
            None => {
                self.set_batch_state(place, InstallState::Inactive).await?;
            }
        }
        self.batch_at(place).await
    }

    /// Switch a batch on (`Ready`) or off (`Disabled`); `None` when there is no such batch.
    pub async fn set_batch_state(
        &mut self,
        place: BatchPlace<'_>,
        state: InstallState,
    ) -> Result<Option<StoredBatch>> {
        sqlx::query(
            "UPDATE batches SET state = $1, next_expected_at = NULL WHERE environment = $2 AND target = $3 AND name = $4",
        )
        .bind(state.as_str())
        .bind(place.environment)
        .bind(place.target)
        .bind(place.name)
        .execute(&mut *self.tx)
        .await?;
        self.batch_at(place).await
    }
}

/// What an agent says of one batch's log directory: why it cannot be read, or `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirectoryProblem<'a> {
    pub project: &'a str,
    pub name: &'a str,
    pub problem: Option<&'a str>,
}

impl Store {
    /// Keep what `target`'s agent says of its batches' log directories (a missing directory is
    /// a warning on the batch). An observation, written like telemetry behind the writer lock
    /// without an audit event; batches not installed on `target` are left alone. Answers how
    /// many rows changed.
    pub async fn set_batch_log_problems(
        &self,
        target: &str,
        problems: &[LogDirectoryProblem<'_>],
    ) -> Result<u64> {
        if problems.is_empty() {
            return Ok(0);
        }
        let _writer = self.write_lock.lock().await;
        let mut tx = match self.backend {
            crate::Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            crate::Backend::Postgres => self.pool.begin().await?,
        };
        let mut changed = 0;
        for p in problems {
            changed += sqlx::query(
                "UPDATE batches SET log_problem = $1 WHERE target = $2 AND project = $3 AND name = $4 \
                 AND (log_problem IS NULL AND $1 IS NOT NULL OR log_problem IS NOT NULL AND $1 IS NULL OR log_problem <> $1)",
            )
            .bind(p.problem)
            .bind(target)
            .bind(p.project)
            .bind(p.name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The batch a ping key belongs to.
    pub async fn batch_by_ping_key(&self, key: &str) -> Result<Option<StoredBatch>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM batches WHERE ping_key = $1"
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(batch_row).transpose()
    }

    /// The inventory, by project, environment, name and target.
    pub async fn batches(&self, filter: &BatchFilter) -> Result<Vec<StoredBatch>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM batches WHERE ($1 IS NULL OR project = $1) \
             AND ($2 IS NULL OR environment = $2) AND ($3 IS NULL OR name = $3) \
             ORDER BY project, environment, name, target"
        ))
        .bind(filter.project.as_deref())
        .bind(filter.environment.as_deref())
        .bind(filter.name.as_deref())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(batch_row).collect()
    }
}

/// A run of a batch as reported (`slipway batch exec`, later the agent and pings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatchRun {
    pub id: i64,
    pub batch_id: i64,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    /// The last lines of its output, secrets masked by the caller.
    pub output_tail: String,
    pub reported_by: String,
    /// Why the agent did not start it (its previous run still went, or the agent ran its most
    /// runs at once); `None` for a run that started. Such a run ended when it was refused, with
    /// no exit code (migration 0047).
    pub not_started: Option<String>,
}

/// A run's place in the list of a batch's runs: when it started, then its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRunKey {
    pub started_at: Timestamp,
    pub id: i64,
}

const RUN_COLUMNS: &str =
    "id, batch_id, started_at, ended_at, exit_code, duration_ms, output_tail, reported_by, not_started";

fn run_row(row: &AnyRow) -> Result<StoredBatchRun> {
    Ok(StoredBatchRun {
        id: row.try_get("id")?,
        batch_id: row.try_get("batch_id")?,
        started_at: read_time(row, "started_at")?,
        ended_at: read_optional_time(row, "ended_at")?,
        exit_code: row.try_get("exit_code")?,
        duration_ms: row.try_get("duration_ms")?,
        output_tail: row.try_get("output_tail")?,
        reported_by: row.try_get("reported_by")?,
        not_started: row.try_get("not_started")?,
    })
}

/// A run the agent refused to start, as it reported it.
#[derive(Debug, Clone, Copy)]
pub struct NotStartedRun<'a> {
    pub batch_id: i64,
    pub at: Timestamp,
    pub by: &'a str,
    /// `its previous run still goes (overlap: false)`.
    pub reason: &'a str,
}

/// The runs of a batch not started in a period: how many, and the latest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotStartedCount {
    pub count: i64,
    pub last_at: Timestamp,
    pub last_reason: String,
}

impl WriteTx<'_> {
    /// Record that a run of batch `batch_id` started at `at`; the batch's last run is this one,
    /// its outcome unknown until it ends.
    pub async fn start_batch_run(
        &mut self,
        batch_id: i64,
        at: Timestamp,
        by: &str,
    ) -> Result<StoredBatchRun> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM batch_runs")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let started = format_time(at);
        sqlx::query("INSERT INTO batch_runs (id, batch_id, started_at, output_tail, reported_by) VALUES ($1, $2, $3, '', $4)")
            .bind(id)
            .bind(batch_id)
            .bind(&started)
            .bind(by)
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("UPDATE batches SET last_run_at = $1, last_exit_code = NULL WHERE id = $2")
            .bind(&started)
            .bind(batch_id)
            .execute(&mut *self.tx)
            .await?;
        self.batch_run(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a batch run just written is not there".into()))
    }

    /// Record a run the agent did not start, and why: in the run history as a run that ended
    /// when it was refused, with no exit code. The batch's last run stays the last one that
    /// started (a refusal is not a run of the batch, and supervision never reads it).
    pub async fn record_batch_run_not_started(
        &mut self,
        run: NotStartedRun<'_>,
    ) -> Result<StoredBatchRun> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM batch_runs")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let at = format_time(run.at);
        sqlx::query("INSERT INTO batch_runs (id, batch_id, started_at, ended_at, duration_ms, output_tail, reported_by, not_started) VALUES ($1, $2, $3, $3, 0, '', $4, $5)")
            .bind(id)
            .bind(run.batch_id)
            .bind(&at)
            .bind(run.by)
            .bind(run.reason)
            .execute(&mut *self.tx)
            .await?;
        self.batch_run(id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a batch run just written is not there".into()))
    }

    pub async fn batch_run(&mut self, id: i64) -> Result<Option<StoredBatchRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM batch_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    /// Record a run's end (`run` carries its end, exit code, duration and output tail); the
    /// batch's last outcome follows when this is its latest run, and its latest success when it
    /// succeeded.
    pub async fn end_batch_run(&mut self, run: &StoredBatchRun) -> Result<()> {
        let ended = run.ended_at.map(format_time);
        sqlx::query("UPDATE batch_runs SET ended_at = $1, exit_code = $2, duration_ms = $3, output_tail = $4 WHERE id = $5")
            .bind(ended.as_deref())
            .bind(run.exit_code)
            .bind(run.duration_ms)
            .bind(&run.output_tail)
            .bind(run.id)
            .execute(&mut *self.tx)
            .await?;
        let started = format_time(run.started_at);
        sqlx::query("UPDATE batches SET last_exit_code = $1 WHERE id = $2 AND last_run_at = $3")
            .bind(run.exit_code)
            .bind(run.batch_id)
            .bind(&started)
            .execute(&mut *self.tx)
            .await?;
        if run.exit_code == Some(0) {
            // Supervision reads no run older than the latest success (`recent_batch_runs`).
            sqlx::query(
                "UPDATE batches SET last_success_started_at = $1 WHERE id = $2 \
                 AND (last_success_started_at IS NULL OR last_success_started_at < $1)",
            )
            .bind(&started)
            .bind(run.batch_id)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }
}

/// The part of a batch's definition its supervision judgement derives from (on/off, schedule,
/// time zone), as the tick read it. The tick's writes carry it and land only where the row still
/// holds it: a `batch.*` step that disabled or rescheduled the batch between the tick's read and
/// its write would otherwise get back a status and a next expected run judged from the definition
/// it replaced (the next tick judges the new one).
#[derive(Debug, Clone, Copy)]
pub struct JudgedDefinition<'a> {
    pub state: InstallState,
    pub schedule: Option<&'a str>,
    pub time_zone: Option<&'a str>,
}

impl<'a> JudgedDefinition<'a> {
    pub fn of(definition: &'a BatchDefinition) -> Self {
        Self {
            state: definition.state,
            schedule: definition.schedule.as_deref(),
            time_zone: definition.time_zone.as_deref(),
        }
    }
}

/// The condition that the row still holds the judged definition, its parameters from `$first`.
fn still_judged(first: usize) -> String {
    format!(
        "state = ${first} AND schedule IS NOT DISTINCT FROM ${} AND time_zone IS NOT DISTINCT FROM ${}",
        first + 1,
        first + 2
    )
}

impl WriteTx<'_> {
    /// Record the supervision tick's judgement of batch `id` and its next expected run, unless
    /// a step changed the judged definition since (then `false`, and the caller audits nothing).
    pub async fn set_batch_status(
        &mut self,
        id: i64,
        judged: JudgedDefinition<'_>,
        status: BatchState,
        next_expected: Option<Timestamp>,
        hold: Option<&Hold>,
    ) -> Result<bool> {
        let hold = hold.map(|h| json_text("batch hold", h)).transpose()?;
        let written = sqlx::query(&format!(
            "UPDATE batches SET status = $1, next_expected_at = $2, hold = $3 WHERE id = $4 AND {}",
            still_judged(5)
        ))
        .bind(status.as_str())
        .bind(next_expected.map(format_time))
        .bind(hold)
        .bind(id)
        .bind(judged.state.as_str())
        .bind(judged.schedule)
        .bind(judged.time_zone)
        .execute(&mut *self.tx)
        .await?;
        Ok(written.rows_affected() == 1)
    }
}

impl Store {
    /// The runs of a batch, newest first, at most `limit`.
    pub async fn batch_runs(&self, batch_id: i64, limit: i64) -> Result<Vec<StoredBatchRun>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM batch_runs WHERE batch_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2"
        ))
        .bind(batch_id)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_row).collect()
    }

    /// One page of the runs of the batches `batch_ids` (one batch on each server or
    /// environment it runs in), newest started first, ties by id, after `after` when given.
    ///
    /// The key is (started_at, id): people read runs by when they started, a start time never
    /// changes once reported (an end only fills `ended_at`), and the id makes the order total
    /// when two runs start in the same instant. Each batch is read through
    /// `batch_runs_newest` (batch_id, started_at, id) from the key on, one page's worth, and the
    /// reads are merged: a page costs the same however many runs the batches hold.
    pub async fn batch_run_page(
        &self,
        batch_ids: &[i64],
        after: Option<BatchRunKey>,
        size: PageSize,
    ) -> Result<Page<StoredBatchRun>> {
        let sql = if after.is_some() {
            format!("SELECT {RUN_COLUMNS} FROM batch_runs WHERE batch_id = $1 AND (started_at, id) < ($2, $3) ORDER BY started_at DESC, id DESC LIMIT $4")
        } else {
            format!("SELECT {RUN_COLUMNS} FROM batch_runs WHERE batch_id = $1 AND ($2 = '' AND $3 = 0) ORDER BY started_at DESC, id DESC LIMIT $4")
        };
        let mut runs = Vec::new();
        for &batch_id in batch_ids {
            let rows = sqlx::query(&sql)
                .bind(batch_id)
                .bind(after.map(|k| format_time(k.started_at)).unwrap_or_default())
                .bind(after.map_or(0, |k| k.id))
                .bind(rows_to_read(size))
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                runs.push(run_row(row)?);
            }
        }
        runs.sort_by_key(|r| std::cmp::Reverse((r.started_at, r.id)));
        Ok(page_of(runs, size))
    }

    /// Run `id`, outside a transaction.
    pub async fn batch_run_by_id(&self, id: i64) -> Result<Option<StoredBatchRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM batch_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    /// The latest run of a batch that started (not one the agent refused), ended or not.
    pub async fn latest_started_batch_run(&self, batch_id: i64) -> Result<Option<StoredBatchRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM batch_runs WHERE batch_id = $1 AND not_started IS NULL ORDER BY started_at DESC, id DESC LIMIT 1"
        ))
        .bind(batch_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    /// For each batch with runs the agent did not start at or after `since`: how many, and the
    /// latest with its reason. One query by the partial index, whatever the inventory's size.
    pub async fn not_started_counts(
        &self,
        since: Timestamp,
    ) -> Result<std::collections::BTreeMap<i64, NotStartedCount>> {
        // Counted in the database: a batch refused each minute for a day is 1 440 rows, read
        // as one; the reason is the latest refusal's.
        let rows = sqlx::query(
            "SELECT g.batch_id, g.refused, g.last_at, MAX(r.not_started) AS reason FROM (\
               SELECT batch_id, COUNT(*) AS refused, MAX(started_at) AS last_at FROM batch_runs \
               WHERE not_started IS NOT NULL AND started_at >= $1 GROUP BY batch_id) g \
             JOIN batch_runs r ON r.batch_id = g.batch_id AND r.started_at = g.last_at \
               AND r.not_started IS NOT NULL \
             GROUP BY g.batch_id, g.refused, g.last_at ORDER BY g.batch_id",
        )
        .bind(format_time(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("batch_id")?,
                    NotStartedCount {
                        count: row.try_get("refused")?,
                        last_at: read_time(row, "last_at")?,
                        last_reason: row.try_get("reason")?,
                    },
                ))
            })
            .collect()
    }

    /// The runs of every batch since its latest success (that one included, as it ends any run
    /// of failures), at most the latest `limit`, newest first, in one query: what the
    /// supervision tick judges every batch from each turn. A query per batch would grow with the
    /// inventory; ranking every run ever reported would grow with the history (a thousand
    /// batches reporting each minute are 1.4 million runs a day); this reads each batch's recent
    /// runs by index (`batch_runs_newest`).
    pub async fn recent_batch_runs(
        &self,
        limit: i64,
    ) -> Result<std::collections::BTreeMap<i64, Vec<StoredBatchRun>>> {
        let rows = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM (\
               SELECT r.id, r.batch_id, r.started_at, r.ended_at, r.exit_code, r.duration_ms, r.output_tail, r.reported_by, r.not_started, \
               ROW_NUMBER() OVER (PARTITION BY r.batch_id ORDER BY r.started_at DESC, r.id DESC) AS recent \
               FROM batches b JOIN batch_runs r ON r.batch_id = b.id \
               AND r.started_at >= COALESCE(b.last_success_started_at, '') \
               AND r.not_started IS NULL) x \
             WHERE recent <= $1 ORDER BY batch_id, started_at DESC, id DESC"
        ))
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        let mut out: std::collections::BTreeMap<i64, Vec<StoredBatchRun>> = Default::default();
        for row in &rows {
            let run = run_row(row)?;
            out.entry(run.batch_id).or_default().push(run);
        }
        Ok(out)
    }
}

impl WriteTx<'_> {
    /// Move the next expected run of each batch whose status stays, in the supervision tick's
    /// transaction; answers how many were moved (those whose judged definition still holds).
    pub async fn move_batches_next_expected(
        &mut self,
        moved: &[MovedNextExpected<'_>],
    ) -> Result<usize> {
        move_next_expected(&mut self.tx, moved).await
    }
}

/// A batch's next expected run moved by the supervision tick, its status unchanged.
#[derive(Debug, Clone, Copy)]
pub struct MovedNextExpected<'a> {
    pub id: i64,
    pub judged: JudgedDefinition<'a>,
    pub next: Option<Timestamp>,
}

async fn move_next_expected(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    moved: &[MovedNextExpected<'_>],
) -> Result<usize> {
    let update = format!(
        "UPDATE batches SET next_expected_at = $1 WHERE id = $2 AND {}",
        still_judged(3)
    );
    let mut written = 0;
    for m in moved {
        let done = sqlx::query(&update)
            .bind(m.next.map(format_time))
            .bind(m.id)
            .bind(m.judged.state.as_str())
            .bind(m.judged.schedule)
            .bind(m.judged.time_zone)
            .execute(&mut **tx)
            .await?;
        written += usize::try_from(done.rows_affected()).unwrap_or(0);
    }
    Ok(written)
}

impl Store {
    /// Move the next expected run of each batch whose status stays, in one transaction: a value the supervision tick derives each second from the schedule and the
    /// runs (the runs themselves are audited), so it is written outside the audit chain, behind
    /// the writer lock and the fence.
    pub async fn set_batches_next_expected(
        &self,
        moved: &[MovedNextExpected<'_>],
    ) -> Result<usize> {
        let _writer = self.write_lock.lock().await;
        let mut tx = match self.backend {
            crate::Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            crate::Backend::Postgres => self.pool.begin().await?,
        };
        if let Some(fence) = &self.fence {
            crate::leases::check_fence(&mut tx, fence).await?;
        }
        let written = move_next_expected(&mut tx, moved).await?;
        tx.commit().await?;
        Ok(written)
    }
}
