//! Test batteries asked for with `slipway tests trigger` (migration 0030): written with their
//! audit event in the caller's transaction, claimed by one agent of the suite's role, their
//! output's tail (each line once, by its number: migration 0033) and the run they pushed into
//! kept, and their end, lost included. It decides nothing: which
//! agent may claim and what an end means are the services'.

use jiff::Timestamp;
use slipway_core::quality::battery::TriggerState;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::{format_time, read_optional_time, read_time};
use crate::{named, placeholders, Result, Store, WriteTx};

/// The output a trigger keeps: its last 16 KiB.
const OUTPUT_TAIL: usize = 16 * 1024;

const COLUMNS: &str = "id, project, environment, release, suite, role, battery, state, target, \
     leased_until, run_id, summary, output, requested_by, requested_at, started_at, finished_at";

/// A battery asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTestTrigger {
    pub id: i64,
    pub project: String,
    pub environment: String,
    pub release: String,
    pub suite: String,
    pub role: String,
    /// The `tests.run` parameters as JSON, frozen when it was asked for.
    pub battery: String,
    /// As stored: a running battery whose lease ran out reads as running here.
    pub state: TriggerState,
    pub target: Option<String>,
    pub leased_until: Option<Timestamp>,
    pub run_id: Option<i64>,
    pub summary: Option<String>,
    pub output: String,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// A battery to ask for.
#[derive(Debug, Clone)]
pub struct NewTestTrigger<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub release: &'a str,
    pub suite: &'a str,
    pub role: &'a str,
    pub battery: &'a str,
    pub requested_by: &'a str,
    pub at: Timestamp,
}

fn trigger_row(row: &AnyRow) -> Result<StoredTestTrigger> {
    Ok(StoredTestTrigger {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        environment: row.try_get("environment")?,
        release: row.try_get("release")?,
        suite: row.try_get("suite")?,
        role: row.try_get("role")?,
        battery: row.try_get("battery")?,
        state: named(row, "state")?,
        target: row.try_get("target")?,
        leased_until: read_optional_time(row, "leased_until")?,
        run_id: row.try_get("run_id")?,
        summary: row.try_get("summary")?,
        output: row.try_get("output")?,
        requested_by: row.try_get("requested_by")?,
        requested_at: read_time(row, "requested_at")?,
        started_at: read_optional_time(row, "started_at")?,
        finished_at: read_optional_time(row, "finished_at")?,
    })
}

impl WriteTx<'_> {
    /// Ask for a battery; answers its id.
    pub async fn insert_test_trigger(&mut self, t: &NewTestTrigger<'_>) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM test_triggers")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query(
            "INSERT INTO test_triggers (id, project, environment, release, suite, role, battery, state, output, requested_by, requested_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, '', $9, $10)",
        )
        .bind(id)
        .bind(t.project)
        .bind(t.environment)
        .bind(t.release)
        .bind(t.suite)
        .bind(t.role)
        .bind(t.battery)
        .bind(TriggerState::Requested.as_str())
        .bind(t.requested_by)
        .bind(format_time(t.at))
        .execute(&mut *self.tx)
        .await?;
        Ok(id)
    }

    /// Which of `environments` have a battery waiting to be claimed, in no set order:
    /// [`Store::test_trigger_requested`] asked once for the agents of a group of results that
    /// found nothing else to do (`services::tasks::results`), inside its write.
    pub async fn test_triggers_requested_in(
        &mut self,
        environments: &[&str],
    ) -> Result<Vec<String>> {
        if environments.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT DISTINCT environment FROM test_triggers WHERE state = $1 AND environment IN ({})",
            placeholders(2, environments.len())
        );
        let mut query = sqlx::query_as(&sql).bind(TriggerState::Requested.as_str());
        for environment in environments {
            query = query.bind(*environment);
        }
        let rows: Vec<(String,)> = query.fetch_all(&mut *self.tx).await?;
        Ok(rows.into_iter().map(|(e,)| e).collect())
    }

    /// The oldest battery waiting in `environment` for one of `roles`, claimed for `target`
    /// until `leased_until`; `None` when none waits.
    pub async fn claim_test_trigger(
        &mut self,
        environment: &str,
        roles: &[String],
        target: &str,
        leased_until: Timestamp,
    ) -> Result<Option<StoredTestTrigger>> {
        let rows = sqlx::query(
            "SELECT id, role FROM test_triggers WHERE environment = $1 AND state = $2 ORDER BY id",
        )
        .bind(environment)
        .bind(TriggerState::Requested.as_str())
        .fetch_all(&mut *self.tx)
        .await?;
        let mut claimed = None;
        for row in &rows {
            let role: String = row.try_get("role")?;
            if roles.contains(&role) {
                claimed = Some(row.try_get::<i64, _>("id")?);
                break;
            }
        }
        let Some(id) = claimed else {
            return Ok(None);
        };
        let now = format_time(crate::current_time());
        sqlx::query(
            "UPDATE test_triggers SET state = $1, target = $2, leased_until = $3, started_at = $4 \
             WHERE id = $5 AND state = $6",
        )
        .bind(TriggerState::Running.as_str())
        .bind(target)
        .bind(format_time(leased_until))
        .bind(&now)
        .bind(id)
        .bind(TriggerState::Requested.as_str())
        .execute(&mut *self.tx)
        .await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM test_triggers WHERE id = $1"
        ))
        .bind(id)
        .fetch_one(&mut *self.tx)
        .await?;
        trigger_row(&row).map(Some)
    }

    /// End a running battery of `target` as `state` with its summary; false when it was not
    /// running there (already ended: a result sent twice).
    pub async fn finish_test_trigger(
        &mut self,
        id: i64,
        target: &str,
        state: TriggerState,
        summary: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE test_triggers SET state = $1, summary = $2, finished_at = $3, leased_until = NULL \
             WHERE id = $4 AND target = $5 AND state = $6",
        )
        .bind(state.as_str())
        .bind(summary)
        .bind(format_time(crate::current_time()))
        .bind(id)
        .bind(target)
        .bind(TriggerState::Running.as_str())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl WriteTx<'_> {
    /// End a running battery as lost with `summary`: every running one of `target` (its agent
    /// restarted), or only `id` when its lease still ended before `expired_before` (a renewal
    /// since then keeps it running). Answers the batteries it ended.
    pub async fn lose_test_triggers(
        &mut self,
        which: LostTriggers<'_>,
        summary: &str,
    ) -> Result<Vec<StoredTestTrigger>> {
        let rows = match which {
            LostTriggers::OfTarget(target) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM test_triggers WHERE target = $1 AND state = $2 ORDER BY id"
                ))
                .bind(target)
                .bind(TriggerState::Running.as_str())
                .fetch_all(&mut *self.tx)
                .await?
            }
            LostTriggers::ExpiredBefore(now) => {
                sqlx::query(&format!(
                    "SELECT {COLUMNS} FROM test_triggers WHERE state = $1 AND leased_until < $2 ORDER BY id"
                ))
                .bind(TriggerState::Running.as_str())
                .bind(format_time(now))
                .fetch_all(&mut *self.tx)
                .await?
            }
        };
        let expired_before = match which {
            LostTriggers::ExpiredBefore(now) => Some(format_time(now)),
            LostTriggers::OfTarget(_) => None,
        };
        let mut lost = Vec::new();
        for row in &rows {
            let mut trigger = trigger_row(row)?;
            let at = crate::current_time();
            let ended = sqlx::query(
                "UPDATE test_triggers SET state = $1, summary = $2, finished_at = $3, leased_until = NULL \
                 WHERE id = $4 AND state = $5 AND ($6 IS NULL OR leased_until < $6)",
            )
            .bind(TriggerState::Lost.as_str())
            .bind(summary)
            .bind(format_time(at))
            .bind(trigger.id)
            .bind(TriggerState::Running.as_str())
            .bind(expired_before.as_deref())
            .execute(&mut *self.tx)
            .await?;
            if ended.rows_affected() != 1 {
                continue;
            }
            trigger.state = TriggerState::Lost;
            trigger.summary = Some(summary.to_string());
            trigger.finished_at = Some(at);
            trigger.leased_until = None;
            lost.push(trigger);
        }
        Ok(lost)
    }
}

/// Which running batteries a lost agent takes with it.
#[derive(Debug, Clone, Copy)]
pub enum LostTriggers<'a> {
    /// Every one running on this target (its agent restarted and abandoned them).
    OfTarget(&'a str),
    /// Every one whose lease ended before this time (its agent went silent).
    ExpiredBefore(Timestamp),
}

impl Store {
    /// Give every running battery a lease until `until`: after a restart of the server, an agent
    /// that kept running one is not declared lost for the server's own absence. Unaudited, like
    /// a task's lease renewal.
    pub async fn extend_test_trigger_leases(&self, until: Timestamp) -> Result<()> {
        let _writer = self.unaudited_writer().await;
        sqlx::query("UPDATE test_triggers SET leased_until = $1 WHERE state = $2")
            .bind(format_time(until))
            .bind(TriggerState::Running.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a running battery's lease ended before `now` (read before opening a write).
    pub async fn any_expired_test_trigger(&self, now: Timestamp) -> Result<bool> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM test_triggers WHERE state = $1 AND leased_until < $2 LIMIT 1",
        )
        .bind(TriggerState::Running.as_str())
        .bind(format_time(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    /// Whether a battery someone asked for waits in `environment`: the read a lease request
    /// makes before it opens a write to claim one (`WriteTx::claim_test_trigger`).
    pub async fn test_trigger_requested(&self, environment: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT id FROM test_triggers WHERE environment = $1 AND state = $2 LIMIT 1",
        )
        .bind(environment)
        .bind(TriggerState::Requested.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn test_trigger(&self, id: i64) -> Result<Option<StoredTestTrigger>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM test_triggers WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(trigger_row).transpose()
    }

    /// Keep a running battery's lease until `leased_until` and add `lines`, numbered from
    /// `first_line_no` (the agent counts from 1), to its output's tail; lines at or below the
    /// number already received (a batch sent again after a lost answer) are not added twice.
    /// False when it no longer runs on `target`. Written without audit, like task logs.
    pub async fn renew_test_trigger(
        &self,
        id: i64,
        target: &str,
        leased_until: Timestamp,
        first_line_no: i64,
        lines: &[String],
    ) -> Result<bool> {
        // Outside the audit chain: on SQLite it queues with the audited writes (one writer at a
        // time), on PostgreSQL the row lock the update takes first suffices. The write comes
        // first, so a SQLite transaction never has to upgrade a read lock.
        let _writer = self.unaudited_writer().await;
        let mut tx = self.pool.begin().await?;
        let renewed = sqlx::query(
            "UPDATE test_triggers SET leased_until = $1 WHERE id = $2 AND target = $3 AND state = $4",
        )
        .bind(format_time(leased_until))
        .bind(id)
        .bind(target)
        .bind(TriggerState::Running.as_str())
        .execute(&mut *tx)
        .await?;
        if renewed.rows_affected() != 1 {
            return Ok(false);
        }
        let (mut output, received): (String, i64) =
            sqlx::query_as("SELECT output, output_lines FROM test_triggers WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        let already = usize::try_from(received.saturating_sub(first_line_no) + 1)
            .unwrap_or(0)
            .min(lines.len());
        let fresh = &lines[already..];
        if !fresh.is_empty() {
            let last_line_no = first_line_no.saturating_add(lines.len() as i64 - 1);
            for line in fresh {
                output.push_str(line);
                output.push('\n');
            }
            if output.len() > OUTPUT_TAIL {
                let mut cut = output.len() - OUTPUT_TAIL;
                while !output.is_char_boundary(cut) {
                    cut += 1;
                }
                output.drain(..cut);
            }
            sqlx::query("UPDATE test_triggers SET output = $1, output_lines = $2 WHERE id = $3")
                .bind(&output)
                .bind(last_line_no.max(received))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Note the run a battery's files went into (the push itself is audited).
    pub async fn set_test_trigger_run(&self, id: i64, run_id: i64) -> Result<()> {
        sqlx::query("UPDATE test_triggers SET run_id = $1 WHERE id = $2")
            .bind(run_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
