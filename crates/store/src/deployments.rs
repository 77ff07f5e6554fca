//! Deployments, their tasks and the tasks' log lines.

use std::sync::Arc;

use jiff::Timestamp;
use slipway_core::deploy::progress::{Run, TaskStatus};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState, Phase, TaskState};
use slipway_core::page::PageSize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::page::{page_of, rows_to_read, Page};
use crate::plans::{self, Column, PlanCache};
use crate::time::{read_optional_time, read_time};
use crate::{format_time, named, now, Result, Store, WriteTx};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeployment {
    pub id: i64,
    pub project: String,
    pub release_version: String,
    pub environment: String,
    /// A rollback undoes `rollback_of`.
    pub kind: DeploymentKind,
    pub rollback_of: Option<i64>,
    pub state: DeploymentState,
    /// `Forward` while the plan runs, `Rollback` once its undo runs.
    pub phase: Phase,
    /// The plan's runs, shared: read from a moving deployment's row, they are parsed once
    /// (`plans`).
    pub runs: Arc<[Run]>,
    pub rollback_runs: Arc<[Run]>,
    pub requested_by: String,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub failure: Option<String>,
}

/// A deployment without its plan: what an overview of many shows of each (the dashboard's
/// cells), read without the runs' JSON, whose parsing cost most of a 2 000-cell dashboard.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentHeadline {
    pub id: i64,
    pub project: String,
    pub release_version: String,
    pub environment: String,
    pub kind: DeploymentKind,
    pub state: DeploymentState,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

/// What an agent's log or result request needs of its deployment: its project (for the
/// secrets to mask) and whether it still moves — without reading and parsing its plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentStanding {
    pub project: String,
    pub state: DeploymentState,
}

/// A moving deployment in which a target holds a leased task: what an artifact fetch checks,
/// without reading and parsing the deployment's plan.
/// Which deployments a release's list holds: those of one release of a project, in one
/// environment or in every one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleaseDeployments<'a> {
    pub project: &'a str,
    pub version: &'a str,
    pub environment: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedDeployment {
    pub id: i64,
    pub project: String,
    pub release_version: String,
    pub environment: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTask {
    pub id: String,
    pub deployment_id: i64,
    pub phase: Phase,
    pub run_index: i64,
    pub batch_index: i64,
    pub target: String,
    pub attempt: i64,
    pub state: TaskState,
    pub leased_until: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub exit_code: Option<i64>,
    pub summary: Option<String>,
}

/// Tasks of one deployment that changed after a change number, and the number that covers them
/// ([`Store::task_changes`]): pass `through` as the next `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskChanges {
    pub tasks: Vec<StoredTask>,
    pub through: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub task_id: String,
    pub attempt: i64,
    pub line_no: i64,
    pub at: Timestamp,
    pub line: String,
}

/// The most lines one page of output carries.
pub const MAX_LOG_PAGE: i64 = 5000;

/// Which output lines to read: a task's or the whole deployment's, from a time on, from a
/// place in the output on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    pub task: Option<String>,
    pub since: Option<Timestamp>,
    pub start: LogStart,
    pub limit: i64,
}

/// Where a page of output starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LogStart {
    /// At the selection's first line.
    #[default]
    First,
    /// After this line (the last one the reader holds): a seek, whatever the depth.
    After(LogKey),
    /// After the first N lines of the selection: the former reading by count, which walks
    /// every line before the page (kept for readers that still send `after_line`).
    Skip(i64),
}

/// A line's place in a deployment's output: the order it is read in (arrival time, then task,
/// attempt and line number, which break ties between lines stored at the same time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    pub at: Timestamp,
    pub task_id: String,
    pub attempt: i64,
    pub line_no: i64,
}

impl LogLine {
    /// This line's place, to read on after it.
    pub fn key(&self) -> LogKey {
        LogKey {
            at: self.at,
            task_id: self.task_id.clone(),
            attempt: self.attempt,
            line_no: self.line_no,
        }
    }
}

pub(crate) const DEPLOYMENT_COLUMNS: &str = "id, project, release_version, environment, kind, rollback_of, state, phase, runs, rollback_runs, requested_by, created_at, finished_at, failure";
/// A task's next change number: one past the newest of its deployment's (`$2`), so a follower
/// holding a number reads only what changed after it ([`Store::task_changes`]). Only writes
/// under the writer lock take one (inserts and updates in a [`WriteTx`]), so the numbers of a
/// deployment commit in the order they were given; a lease renewal (`extend_lease`, outside the
/// lock) takes none, and a follower keeps the lease end it read last.
const NEXT_CHANGE: &str =
    "(SELECT COALESCE(MAX(c.change_seq), 0) + 1 FROM tasks c WHERE c.deployment_id = $2)";

pub(crate) const TASK_COLUMNS: &str = "id, deployment_id, phase, run_index, batch_index, target, attempt, state, leased_until, started_at, finished_at, exit_code, summary";

pub(crate) fn log_line(r: &AnyRow) -> Result<LogLine> {
    Ok(LogLine {
        task_id: r.try_get("task_id")?,
        attempt: r.try_get("attempt")?,
        line_no: r.try_get("line_no")?,
        at: read_time(r, "at")?,
        line: r.try_get("line")?,
    })
}

pub(crate) const HEADLINE_COLUMNS: &str =
    "id, project, release_version, environment, kind, state, created_at, finished_at";

pub(crate) fn headline(row: &AnyRow) -> Result<DeploymentHeadline> {
    Ok(DeploymentHeadline {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        release_version: row.try_get("release_version")?,
        environment: row.try_get("environment")?,
        kind: named(row, "kind")?,
        state: named(row, "state")?,
        created_at: read_time(row, "created_at")?,
        finished_at: read_optional_time(row, "finished_at")?,
    })
}

/// A deployment row, its runs parsed (history, lists: read once).
pub(crate) fn deployment(row: &AnyRow) -> Result<StoredDeployment> {
    decode(row, None)
}

/// A deployment row that is read again and again while it moves: its runs come from `plans`.
pub(crate) fn cached_deployment(plans: &PlanCache, row: &AnyRow) -> Result<StoredDeployment> {
    decode(row, Some(plans))
}

fn decode(row: &AnyRow, plans: Option<&PlanCache>) -> Result<StoredDeployment> {
    let id: i64 = row.try_get("id")?;
    let state = named::<DeploymentState>(row, "state")?;
    let runs = |column| match plans {
        Some(plans) => plans::runs(plans, row, id, column, !state.is_final()),
        None => plans::parse(row.try_get(column.name())?, column),
    };
    Ok(StoredDeployment {
        id,
        project: row.try_get("project")?,
        release_version: row.try_get("release_version")?,
        environment: row.try_get("environment")?,
        kind: named(row, "kind")?,
        rollback_of: row.try_get("rollback_of")?,
        state,
        phase: named(row, "phase")?,
        runs: runs(Column::Runs)?,
        rollback_runs: runs(Column::RollbackRuns)?,
        requested_by: row.try_get("requested_by")?,
        created_at: read_time(row, "created_at")?,
        finished_at: read_optional_time(row, "finished_at")?,
        failure: row.try_get("failure")?,
    })
}

/// A run or batch index as stored (never negative: the orchestrator writes them from a plan's
/// positions).
fn index(row: &AnyRow, column: &str) -> Result<usize> {
    let stored: i64 = row.try_get(column)?;
    Ok(usize::try_from(stored).unwrap_or(usize::MAX))
}

pub(crate) fn task(row: &AnyRow) -> Result<StoredTask> {
    Ok(StoredTask {
        id: row.try_get("id")?,
        deployment_id: row.try_get("deployment_id")?,
        phase: named(row, "phase")?,
        run_index: row.try_get("run_index")?,
        batch_index: row.try_get("batch_index")?,
        target: row.try_get("target")?,
        attempt: row.try_get("attempt")?,
        state: named::<TaskState>(row, "state")?,
        leased_until: read_optional_time(row, "leased_until")?,
        started_at: read_optional_time(row, "started_at")?,
        finished_at: read_optional_time(row, "finished_at")?,
        exit_code: row.try_get("exit_code")?,
        summary: row.try_get("summary")?,
    })
}

impl Store {
    pub async fn deployment(&self, id: i64) -> Result<Option<StoredDeployment>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|row| cached_deployment(&self.plans, row))
            .transpose()
    }

    /// A deployment's project and state, without its runs (see [`DeploymentStanding`]).
    pub async fn deployment_standing(&self, id: i64) -> Result<Option<DeploymentStanding>> {
        let row = sqlx::query("SELECT project, state FROM deployments WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(DeploymentStanding {
                project: row.try_get("project")?,
                state: named::<DeploymentState>(&row, "state")?,
            })
        })
        .transpose()
    }

    /// Newest first, optionally for one project and/or environment.
    pub async fn deployments(
        &self,
        project: Option<&str>,
        environment: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE ($1 IS NULL OR project = $1) AND ($2 IS NULL OR environment = $2) ORDER BY id DESC LIMIT $3"
        ))
        .bind(project)
        .bind(environment)
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment).collect()
    }

    /// One page of deployments, newest first (by id), optionally for one project and/or
    /// environment, after deployment `after` when given.
    pub async fn deployments_page(
        &self,
        project: Option<&str>,
        environment: Option<&str>,
        after: Option<i64>,
        size: PageSize,
    ) -> Result<Page<StoredDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE ($1 IS NULL OR project = $1) AND ($2 IS NULL OR environment = $2) \
             AND id < $3 ORDER BY id DESC LIMIT $4"
        ))
        .bind(project)
        .bind(environment)
        .bind(after.unwrap_or(i64::MAX))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(deployment).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }

    /// One page of one release's deployments, newest first (by id), optionally in one
    /// environment, after deployment `after` when given. Read through `deployments_release`
    /// (project, release_version, id), so an old release's page costs what a new one's does.
    pub async fn release_deployments_page(
        &self,
        release: ReleaseDeployments<'_>,
        after: Option<i64>,
        size: PageSize,
    ) -> Result<Page<StoredDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE project = $1 AND release_version = $2 \
             AND ($3 IS NULL OR environment = $3) AND id < $4 ORDER BY id DESC LIMIT $5"
        ))
        .bind(release.project)
        .bind(release.version)
        .bind(release.environment)
        .bind(after.unwrap_or(i64::MAX))
        .bind(rows_to_read(size))
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(deployment).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, size))
    }

    /// What each environment holds, per project: the newest deployment that is not a dry run
    /// and was not cancelled, and the newest successful `deploy` when that is an older one (the
    /// version still there after a failure). Ordered by project, environment (as bytes), newest
    /// first. Read from the lanes' heads ([`Store::lane_heads`]), so the read costs the same at
    /// 100 000 deployments as at 100. Headlines only: the dashboard shows no plan.
    pub async fn current_deployments(&self) -> Result<Vec<DeploymentHeadline>> {
        let mut current = Vec::new();
        for lane in self.lane_heads().await? {
            let latest_id = lane.latest.as_ref().map(|d| d.id);
            current.extend(lane.latest);
            current.extend(lane.last_success.filter(|d| Some(d.id) != latest_id));
        }
        current.sort_by(|a, b| {
            (&a.project, &a.environment, std::cmp::Reverse(a.id)).cmp(&(
                &b.project,
                &b.environment,
                std::cmp::Reverse(b.id),
            ))
        });
        Ok(current)
    }

    /// Deployments (dry runs included) created at or after `since`, newest first, at most
    /// `limit`.
    pub async fn deployments_since(
        &self,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<StoredDeployment>> {
        let rows = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE created_at >= $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(format_time(since))
        .bind(limit.clamp(1, 2000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(deployment).collect()
    }

    /// Whether a task waits for `target`'s agent in a moving deployment: the read a lease
    /// request makes before it opens a write (most long polls find nothing).
    pub async fn has_pending_task(&self, target: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT t.deployment_id FROM tasks t JOIN deployments d ON d.id = t.deployment_id WHERE t.target = $1 AND t.state = 'pending' \
             AND d.state IN ('running', 'rolling_back') LIMIT 1",
        )
        .bind(target)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Whether `target` holds a leased task under the agent session `session`: the read made
    /// before handing a lease answer again (`WriteTx::leased_tasks_of` under the writer lock).
    pub async fn holds_lease_in_session(&self, target: &str, session: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT t.deployment_id FROM tasks t JOIN targets g ON g.name = t.target \
             WHERE t.target = $1 AND t.state = 'leased' AND g.agent_session = $2 LIMIT 1",
        )
        .bind(target)
        .bind(session)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Whether a lease ended before `now` without a result: the read each orchestrator turn
    /// makes before it opens a write to settle them (`WriteTx::expired_leases`).
    pub async fn has_expired_leases(&self, now: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT deployment_id FROM tasks WHERE state = 'leased' AND leased_until < $1 LIMIT 1",
        )
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// The moving deployments in which `target` holds a leased task, oldest first.
    pub async fn deployments_leased_to(&self, target: &str) -> Result<Vec<LeasedDeployment>> {
        let rows = sqlx::query(
            "SELECT DISTINCT d.id, d.project, d.release_version, d.environment FROM tasks t JOIN deployments d ON d.id = t.deployment_id \
             WHERE t.target = $1 AND t.state = 'leased' AND d.state IN ('pending', 'running', 'rolling_back') ORDER BY d.id",
        )
        .bind(target)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LeasedDeployment {
                    id: row.try_get("id")?,
                    project: row.try_get("project")?,
                    release_version: row.try_get("release_version")?,
                    environment: row.try_get("environment")?,
                })
            })
            .collect()
    }

    /// The states of the tasks of every deployment that runs or rolls back, in its current
    /// phase, grouped by deployment (each group in the order of [`WriteTx::task_statuses`]):
    /// what an orchestrator turn looks at, in one read rather than one per deployment, without
    /// the tasks' times and output (a turn decodes no timestamp).
    pub async fn moving_task_statuses(
        &self,
    ) -> Result<std::collections::HashMap<i64, Vec<TaskStatus>>> {
        let rows = sqlx::query(
            "SELECT t.deployment_id, t.run_index, t.batch_index, t.target, t.state FROM tasks t \
             JOIN deployments d ON d.id = t.deployment_id AND d.phase = t.phase \
             WHERE d.state IN ('running', 'rolling_back') \
             ORDER BY t.deployment_id, t.run_index, t.batch_index, t.target",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut grouped: std::collections::HashMap<i64, Vec<TaskStatus>> = Default::default();
        for row in &rows {
            grouped
                .entry(row.try_get("deployment_id")?)
                .or_default()
                .push(TaskStatus {
                    run: index(row, "run_index")?,
                    batch: index(row, "batch_index")?,
                    target: row.try_get("target")?,
                    state: named::<TaskState>(row, "state")?,
                });
        }
        Ok(grouped)
    }

    /// Deployments the orchestrator must move forward.
    pub async fn active_deployments(&self) -> Result<Vec<StoredDeployment>> {
        let rows = sqlx::query(&format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE state IN ('pending', 'running', 'rolling_back') ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| cached_deployment(&self.plans, row))
            .collect()
    }

    /// Deployments that have not ended, whatever they wait for (an intervention, a decision):
    /// while one is unfinished its targets' alerts are silenced.
    pub async fn unfinished_deployments(&self) -> Result<Vec<StoredDeployment>> {
        let rows = sqlx::query(&format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE finished_at IS NULL AND kind <> 'dry_run' ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| cached_deployment(&self.plans, row))
            .collect()
    }

    pub async fn tasks(&self, deployment_id: i64) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE deployment_id = $1 ORDER BY phase DESC, run_index, batch_index, target"))
            .bind(deployment_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(task).collect()
    }

    /// A deployment's tasks changed after the change number `after` (every task without one),
    /// in the order of [`Store::tasks`], with the number the reader holds afterwards: what a
    /// follower reads at each change, so following costs the same at the hundredth step as at
    /// the first.
    pub async fn task_changes(
        &self,
        deployment_id: i64,
        after: Option<i64>,
    ) -> Result<TaskChanges> {
        let after = after.unwrap_or(-1);
        let rows = sqlx::query(&format!("SELECT {TASK_COLUMNS}, change_seq FROM tasks WHERE deployment_id = $1 AND change_seq > $2 ORDER BY phase DESC, run_index, batch_index, target"))
            .bind(deployment_id)
            .bind(after)
            .fetch_all(&self.pool)
            .await?;
        let mut through = after.max(0);
        for row in &rows {
            through = through.max(row.try_get::<i64, _>("change_seq")?);
        }
        Ok(TaskChanges {
            tasks: rows.iter().map(task).collect::<Result<_>>()?,
            through,
        })
    }

    pub async fn task(&self, id: &str) -> Result<Option<StoredTask>> {
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(task).transpose()
    }

    /// One page of a deployment's output, optionally of one task and/or from a time on, in the
    /// order the lines arrived ([`LogKey`]). From a key, the page is a seek in the index that
    /// holds every deployment's lines in that order (migration 0051) and a scan of `limit`
    /// lines: it costs the same at the end of a long log as at its start. Only the predicates a
    /// filter uses are in the statement, so each reading keeps to that index.
    pub async fn log_page(&self, deployment_id: i64, filter: &LogFilter) -> Result<Vec<LogLine>> {
        let mut sql = String::from(
            "SELECT task_id, attempt, line_no, at, line FROM task_logs WHERE deployment_id = $1",
        );
        let mut next = 2;
        let mut placeholder = || {
            next += 1;
            format!("${}", next - 1)
        };
        if filter.task.is_some() {
            sql.push_str(&format!(" AND task_id = {}", placeholder()));
        }
        if filter.since.is_some() {
            sql.push_str(&format!(" AND at >= {}", placeholder()));
        }
        if let LogStart::After(_) = &filter.start {
            let (a, t, n, l) = (placeholder(), placeholder(), placeholder(), placeholder());
            sql.push_str(&format!(
                " AND (at, task_id, attempt, line_no) > ({a}, {t}, {n}, {l})"
            ));
        }
        sql.push_str(&format!(
            " ORDER BY at, task_id, attempt, line_no LIMIT {}",
            placeholder()
        ));
        if let LogStart::Skip(_) = &filter.start {
            sql.push_str(&format!(" OFFSET {}", placeholder()));
        }
        let mut query = sqlx::query(&sql).bind(deployment_id);
        if let Some(task) = &filter.task {
            query = query.bind(task.clone());
        }
        if let Some(since) = filter.since {
            query = query.bind(format_time(since));
        }
        if let LogStart::After(key) = &filter.start {
            query = query
                .bind(format_time(key.at))
                .bind(key.task_id.clone())
                .bind(key.attempt)
                .bind(key.line_no);
        }
        query = query.bind(filter.limit.clamp(1, MAX_LOG_PAGE));
        if let LogStart::Skip(skip) = filter.start {
            query = query.bind(skip.max(0));
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(log_line).collect()
    }

    /// The last `limit` lines one attempt of a task printed, in order: what a failed step said
    /// last, shown above the whole log.
    pub async fn task_log_tail(
        &self,
        task_id: &str,
        attempt: i64,
        limit: i64,
    ) -> Result<Vec<LogLine>> {
        let rows = sqlx::query(
            "SELECT task_id, attempt, line_no, at, line FROM task_logs \
             WHERE task_id = $1 AND attempt = $2 ORDER BY line_no DESC LIMIT $3",
        )
        .bind(task_id)
        .bind(attempt)
        .bind(limit.clamp(1, MAX_LOG_PAGE))
        .fetch_all(&self.pool)
        .await?;
        let mut lines = rows.iter().map(log_line).collect::<Result<Vec<_>>>()?;
        lines.reverse();
        Ok(lines)
    }

    /// Append log lines; a batch sent twice (a retried request) is stored once. Output is data
    /// about a task, not a change anyone makes: it is kept outside the audit chain.
    pub async fn append_logs(
        &self,
        task_id: &str,
        attempt: i64,
        first_line_no: i64,
        lines: &[String],
    ) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        // One transaction per batch: a backlog of many thousand lines is one commit per batch,
        // not one per line.
        let mut tx = self.pool.begin().await?;
        insert_log_lines(&mut tx, task_id, attempt, first_line_no, lines).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Keep a leased task's lease alive while its agent works on it.
    pub async fn extend_lease(
        &self,
        task_id: &str,
        attempt: i64,
        until: Timestamp,
    ) -> Result<bool> {
        let _writer = self.unaudited_writer().await;
        let done = sqlx::query("UPDATE tasks SET leased_until = $3 WHERE id = $1 AND attempt = $2 AND state = 'leased'")
            .bind(task_id)
            .bind(attempt)
            .bind(format_time(until))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// Releases of `project` that retention must keep for deployments: the one last deployed
    /// successfully in each environment, and any a deployment still in progress uses.
    pub async fn releases_in_use(&self, project: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT release_version FROM deployments d WHERE d.project = $1 AND ( \
               d.state IN ('pending', 'running', 'awaiting_decision', 'waiting_for_intervention', 'rolling_back') \
               OR d.id IN (SELECT MAX(id) FROM deployments WHERE project = $1 AND kind = 'deploy' AND state = 'succeeded' GROUP BY environment))",
        )
        .bind(project)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

/// Lines of a task's output from `first_line_no` on; a line already stored (a batch sent twice)
/// is kept as it was.
async fn insert_log_lines(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    task_id: &str,
    attempt: i64,
    first_line_no: i64,
    lines: &[String],
) -> Result<()> {
    let at = now();
    // Many lines to a statement (each statement is a round trip to SQLite's worker thread),
    // few enough that the parameters stay far below either database's limit.
    for (chunk_no, chunk) in lines.chunks(LOG_LINES_PER_STATEMENT).enumerate() {
        let first = first_line_no + (chunk_no * LOG_LINES_PER_STATEMENT) as i64;
        let rows = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 4 + 2 * i, 5 + 2 * i))
            .collect::<Vec<_>>()
            .join(", ");
        // The lines carry their task's deployment, for the deployment's reading order (0051).
        let sql = format!(
            "INSERT INTO task_logs (task_id, attempt, line_no, at, line, deployment_id) \
             SELECT $1, $2, v.column1, $3, v.column2, t.deployment_id FROM tasks t, (VALUES {rows}) AS v \
             WHERE t.id = $1 \
             ON CONFLICT (task_id, attempt, line_no) DO NOTHING"
        );
        let mut query = sqlx::query(&sql).bind(task_id).bind(attempt).bind(&at);
        for (i, line) in chunk.iter().enumerate() {
            query = query.bind(first + i as i64).bind(line);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// How many output lines one statement inserts at most.
const LOG_LINES_PER_STATEMENT: usize = 100;

impl WriteTx<'_> {
    /// [`Store::append_logs`] in this transaction: a task's last lines, stored with its result.
    pub async fn append_logs(
        &mut self,
        task_id: &str,
        attempt: i64,
        first_line_no: i64,
        lines: &[String],
    ) -> Result<()> {
        insert_log_lines(&mut self.tx, task_id, attempt, first_line_no, lines).await
    }

    pub async fn deployment(&mut self, id: i64) -> Result<Option<StoredDeployment>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref()
            .map(|row| cached_deployment(self.plans, row))
            .transpose()
    }

    pub async fn tasks(&mut self, deployment_id: i64) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE deployment_id = $1 ORDER BY phase DESC, run_index, batch_index, target"))
            .bind(deployment_id)
            .fetch_all(&mut *self.tx)
            .await?;
        rows.iter().map(task).collect()
    }

    /// The states of the tasks of one batch of one run (a result's batch), in no set order: what
    /// a result reads to know whether its deployment has a decision to take.
    pub async fn batch_task_states(
        &mut self,
        deployment_id: i64,
        phase: Phase,
        run_index: i64,
        batch_index: i64,
    ) -> Result<Vec<TaskState>> {
        let rows = sqlx::query(
            "SELECT state FROM tasks WHERE deployment_id = $1 AND phase = $2 AND run_index = $3 AND batch_index = $4",
        )
        .bind(deployment_id)
        .bind(phase.as_str())
        .bind(run_index)
        .bind(batch_index)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| named::<TaskState>(row, "state"))
            .collect()
    }

    /// The states of a deployment's tasks in one phase, in the order of [`WriteTx::tasks`],
    /// without their times and output: what the decision after each result reads
    /// (`progress::next`), so that it does not parse every task's times at every step.
    pub async fn task_statuses(
        &mut self,
        deployment_id: i64,
        phase: Phase,
    ) -> Result<Vec<TaskStatus>> {
        let rows = sqlx::query(
            "SELECT run_index, batch_index, target, state FROM tasks WHERE deployment_id = $1 AND phase = $2 \
             ORDER BY run_index, batch_index, target",
        )
        .bind(deployment_id)
        .bind(phase.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(TaskStatus {
                    run: index(row, "run_index")?,
                    batch: index(row, "batch_index")?,
                    target: row.try_get("target")?,
                    state: named::<TaskState>(row, "state")?,
                })
            })
            .collect()
    }

    pub async fn task(&mut self, id: &str) -> Result<Option<StoredTask>> {
        let row = sqlx::query(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *self.tx)
            .await?;
        row.as_ref().map(task).transpose()
    }

    /// Store a new deployment, giving it the next number.
    pub async fn insert_deployment(&mut self, d: &StoredDeployment) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM deployments")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query(&format!("INSERT INTO deployments ({DEPLOYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"))
            .bind(id)
            .bind(&d.project)
            .bind(&d.release_version)
            .bind(&d.environment)
            .bind(d.kind.as_str())
            .bind(d.rollback_of)
            .bind(d.state.as_str())
            .bind(d.phase.as_str())
            .bind(serde_json::to_string(&d.runs).expect("runs serialise"))
            .bind(serde_json::to_string(&d.rollback_runs).expect("runs serialise"))
            .bind(&d.requested_by)
            .bind(now())
            .bind(d.finished_at.map(format_time))
            .bind(d.failure.as_deref())
            .execute(&mut *self.tx)
            .await?;
        // Insights (issue 14): a deployment stored already succeeded is an arrival too, and one
        // stored already ended counts on its day.
        self.record_commit_arrivals(id, d).await?;
        self.count_deployment_day(d, None).await?;
        self.follow_lane(d, None);
        Ok(id)
    }

    /// Save a deployment's state, phase, undo runs and outcome.
    pub async fn update_deployment(&mut self, d: &StoredDeployment) -> Result<()> {
        let before = self.deployment_outcome(d.id).await?;
        sqlx::query("UPDATE deployments SET state = $2, phase = $3, rollback_runs = $4, finished_at = $5, failure = $6 WHERE id = $1")
            .bind(d.id)
            .bind(d.state.as_str())
            .bind(d.phase.as_str())
            .bind(serde_json::to_string(&d.rollback_runs).expect("runs serialise"))
            .bind(d.finished_at.map(format_time))
            .bind(d.failure.as_deref())
            .execute(&mut *self.tx)
            .await?;
        // Insights (issue 14): a success is its commits' arrival, and an end counts on its day,
        // in the same transaction.
        self.record_commit_arrivals(d.id, d).await?;
        self.follow_lane(d, before.map(|(state, _)| state));
        self.count_deployment_day(d, before).await?;
        Ok(())
    }

    /// Store one new task: the group insert's statement with one row (`task_groups`), so one and
    /// many write the same row and change number.
    pub async fn insert_task(&mut self, t: &StoredTask) -> Result<()> {
        self.insert_tasks(std::slice::from_ref(t)).await
    }

    pub async fn update_task(&mut self, t: &StoredTask) -> Result<()> {
        sqlx::query(&format!(
            "UPDATE tasks SET attempt = $3, state = $4, leased_until = $5, started_at = $6, finished_at = $7, exit_code = $8, summary = $9, \
             change_seq = {NEXT_CHANGE} WHERE id = $1",
        ))
        .bind(&t.id)
        .bind(t.deployment_id)
        .bind(t.attempt)
        .bind(t.state.as_str())
        .bind(t.leased_until.map(format_time))
        .bind(t.started_at.map(format_time))
        .bind(t.finished_at.map(format_time))
        .bind(t.exit_code)
        .bind(t.summary.as_deref())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// The oldest pending task for `target` in a deployment that is moving.
    pub async fn next_pending_task(&mut self, target: &str) -> Result<Option<StoredTask>> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM tasks t JOIN deployments d ON d.id = t.deployment_id WHERE t.target = $1 AND t.state = 'pending' \
             AND d.state IN ('running', 'rolling_back') ORDER BY t.deployment_id, t.phase DESC, t.run_index, t.batch_index LIMIT 1",
            TASK_COLUMNS.split(", ").map(|c| format!("t.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(target)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(task).transpose()
    }

    /// The tasks leased to `target` now, whatever their lease's end.
    pub async fn leased_tasks_of(&mut self, target: &str) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'leased' AND target = $1 ORDER BY deployment_id, id"
        ))
        .bind(target)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(task).collect()
    }

    /// Leased tasks whose lease ended before `now`.
    pub async fn expired_leases(&mut self, now: &str) -> Result<Vec<StoredTask>> {
        let rows = sqlx::query(&format!(
            "SELECT {TASK_COLUMNS} FROM tasks WHERE state = 'leased' AND leased_until < $1"
        ))
        .bind(now)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter().map(task).collect()
    }

    /// The newest finished `deploy` deployment of `project` in `environment` that succeeded.
    pub async fn last_successful_deployment(
        &mut self,
        project: &str,
        environment: &str,
    ) -> Result<Option<StoredDeployment>> {
        let row = sqlx::query(&format!(
            "SELECT {DEPLOYMENT_COLUMNS} FROM deployments WHERE project = $1 AND environment = $2 AND kind = 'deploy' AND state = 'succeeded' ORDER BY id DESC LIMIT 1"
        ))
        .bind(project)
        .bind(environment)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(deployment).transpose()
    }

    /// Whether a deployment into this environment is still moving (one at a time per environment).
    pub async fn busy_deployment(
        &mut self,
        project: &str,
        environment: &str,
    ) -> Result<Option<i64>> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM deployments WHERE project = $1 AND environment = $2 AND state IN ('pending', 'running', 'awaiting_decision', 'waiting_for_intervention', 'rolling_back') ORDER BY id LIMIT 1",
        )
        .bind(project)
        .bind(environment)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(row.map(|r| r.0))
    }
}

/// `columns` (comma-separated) each prefixed with the table alias `alias`.
pub(crate) fn prefixed(alias: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{alias}.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
