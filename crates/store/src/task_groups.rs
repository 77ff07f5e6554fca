//! Many tasks written or read in one statement: a step's tasks inserted at its dispatch, the
//! next pending tasks of the agents one write leases to, and a group of results' tasks read, saved
//! and given their last lines. Each statement is a round trip to SQLite's worker thread (and to
//! PostgreSQL over its socket): a 20-target step costs one of each instead of twenty.
//!
//! The rows and change numbers are those [`WriteTx::insert_task`], [`WriteTx::update_task`],
//! [`WriteTx::task`], [`WriteTx::next_pending_task`] and [`WriteTx::append_logs`] write and read
//! one at a time; it never decides what a task becomes.

use std::collections::HashSet;

use crate::deployments::{prefixed, task, StoredTask, TASK_COLUMNS};
use crate::{format_time, now, placeholders, Result, WriteTx};

/// Rows one statement carries at most: 13 parameters a task row, far below either database's
/// limit on parameters (SQLite 32 766, PostgreSQL 65 535).
const ROWS_PER_STATEMENT: usize = 200;

/// A task's change number in a statement over many: one past the newest of its deployment's
/// (`deployment` names the column holding the deployment's id), as `deployments::NEXT_CHANGE`
/// gives one task. Tasks of one deployment written in one statement may share a number: a
/// follower holding an older number reads all of them, one holding it reads none.
fn next_change(deployment: &str) -> String {
    format!("(SELECT COALESCE(MAX(c.change_seq), 0) + 1 FROM tasks c WHERE c.deployment_id = {deployment})")
}

/// `($first, $first+1, …)` for `rows` rows of `width` parameters, numbered from `first`.
fn values(rows: usize, width: usize, first: usize) -> String {
    (0..rows)
        .map(|r| format!("({})", placeholders(first + r * width, width)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A task's last lines as one result brought them.
pub struct TaskLines<'a> {
    pub task_id: &'a str,
    pub attempt: i64,
    pub first_line_no: i64,
    pub lines: &'a [String],
}

impl WriteTx<'_> {
    /// Store new tasks (a step's, at its dispatch).
    pub async fn insert_tasks(&mut self, tasks: &[StoredTask]) -> Result<()> {
        for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
            let columns = (1..=13)
                .map(|c| format!("v.column{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO tasks ({TASK_COLUMNS}, change_seq) SELECT {columns}, {} FROM (VALUES {}) AS v",
                next_change("v.column2"),
                values(chunk.len(), 13, 1)
            );
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(&t.id)
                    .bind(t.deployment_id)
                    .bind(t.phase.as_str())
                    .bind(t.run_index)
                    .bind(t.batch_index)
                    .bind(&t.target)
                    .bind(t.attempt)
                    .bind(t.state.as_str())
                    .bind(t.leased_until.map(format_time))
                    .bind(t.started_at.map(format_time))
                    .bind(t.finished_at.map(format_time))
                    .bind(t.exit_code)
                    .bind(t.summary.as_deref());
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Save tasks' attempts, states, times and outcomes, each with a new change number. A task
    /// may appear once only.
    pub async fn update_tasks(&mut self, tasks: &[StoredTask]) -> Result<()> {
        for chunk in tasks.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "UPDATE tasks SET attempt = v.column2, state = v.column3, leased_until = v.column4, \
                 started_at = v.column5, finished_at = v.column6, exit_code = v.column7, summary = v.column8, \
                 change_seq = {} FROM (VALUES {}) AS v WHERE tasks.id = v.column1",
                next_change("tasks.deployment_id"),
                values(chunk.len(), 8, 1)
            );
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(&t.id)
                    .bind(t.attempt)
                    .bind(t.state.as_str())
                    .bind(t.leased_until.map(format_time))
                    .bind(t.started_at.map(format_time))
                    .bind(t.finished_at.map(format_time))
                    .bind(t.exit_code)
                    .bind(t.summary.as_deref());
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// The tasks with these ids that exist, in no set order.
    pub async fn tasks_by_id(&mut self, ids: &[&str]) -> Result<Vec<StoredTask>> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                found.push(task(&row)?);
            }
        }
        Ok(found)
    }

    /// For each of `targets`, its oldest pending task in a deployment that is moving (the one
    /// [`WriteTx::next_pending_task`] answers), in no set order; none for a target without one.
    pub async fn next_pending_tasks(&mut self, targets: &[&str]) -> Result<Vec<StoredTask>> {
        let mut next = Vec::with_capacity(targets.len());
        for chunk in targets.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "SELECT {} FROM tasks t JOIN deployments d ON d.id = t.deployment_id WHERE t.target IN ({}) \
                 AND t.state = 'pending' AND d.state IN ('running', 'rolling_back') \
                 ORDER BY t.target, t.deployment_id, t.phase DESC, t.run_index, t.batch_index",
                prefixed("t", TASK_COLUMNS),
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for target in chunk {
                query = query.bind(*target);
            }
            let mut seen = HashSet::new();
            for row in query.fetch_all(&mut *self.tx).await? {
                let t = task(&row)?;
                // Ordered by target, then as `next_pending_task` orders: a target's first row.
                if seen.insert(t.target.clone()) {
                    next.push(t);
                }
            }
        }
        Ok(next)
    }

    /// [`WriteTx::append_logs`] for the last lines of many tasks (a group of results), with one
    /// time for all of them.
    pub async fn append_logs_of(&mut self, batches: &[TaskLines<'_>]) -> Result<()> {
        let rows: Vec<(&str, i64, i64, &String)> = batches
            .iter()
            .flat_map(|b| {
                b.lines
                    .iter()
                    .enumerate()
                    .map(move |(i, line)| (b.task_id, b.attempt, b.first_line_no + i as i64, line))
            })
            .collect();
        let at = now();
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            // The lines carry their task's deployment, for the deployment's reading order (0051).
            // The WHERE clause also keeps SQLite from reading `ON CONFLICT` as a join's `ON`.
            let sql = format!(
                "INSERT INTO task_logs (task_id, attempt, line_no, at, line, deployment_id) \
                 SELECT v.column1, v.column2, v.column3, $1, v.column4, t.deployment_id \
                 FROM (VALUES {}) AS v, tasks t WHERE t.id = v.column1 \
                 ON CONFLICT (task_id, attempt, line_no) DO NOTHING",
                values(chunk.len(), 4, 2)
            );
            let mut query = sqlx::query(&sql).bind(&at);
            for (task_id, attempt, line_no, line) in chunk {
                query = query
                    .bind(*task_id)
                    .bind(*attempt)
                    .bind(*line_no)
                    .bind(*line);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}
