//! Runs people ask for (migration 0027): written with their audit event in the caller's
//! transaction, handed once to the agent of the batch's target, and answered by the run the
//! agent reports for it, started or not (migration 0047). It decides nothing.

use jiff::Timestamp;
use sqlx::Row;

use crate::time::{format_time, read_optional_time, read_time};
use crate::{Result, Store, WriteTx};

/// A run asked for, as it stands: handed to the agent or not, answered by a run or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRunRequest {
    pub id: i64,
    pub batch_id: i64,
    pub testmode: bool,
    pub requested_by: String,
    pub requested_at: Timestamp,
    pub taken_at: Option<Timestamp>,
    /// The run that answered it (started, or not started and why).
    pub run_id: Option<i64>,
}

/// A run asked for and not yet handed to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunRequest {
    pub id: i64,
    pub batch_id: i64,
    pub testmode: bool,
}

impl WriteTx<'_> {
    /// Ask for a run of batch `batch_id`; answers the request's id.
    pub async fn request_batch_run(
        &mut self,
        batch_id: i64,
        testmode: bool,
        by: &str,
        at: Timestamp,
    ) -> Result<i64> {
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM batch_run_requests")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        sqlx::query("INSERT INTO batch_run_requests (id, batch_id, testmode, requested_by, requested_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(batch_id)
            .bind(i64::from(testmode))
            .bind(by)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(id)
    }

    /// Tie request `id` of batch `batch_id` to the run that answered it; a request of another
    /// batch, or one already answered, is left as it is. Answers whether it was tied.
    pub async fn answer_batch_run_request(
        &mut self,
        id: i64,
        batch_id: i64,
        run_id: i64,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE batch_run_requests SET run_id = $1 WHERE id = $2 AND batch_id = $3 AND run_id IS NULL",
        )
        .bind(run_id)
        .bind(id)
        .bind(batch_id)
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Store {
    /// Request `id`, as it stands.
    pub async fn batch_run_request(&self, id: i64) -> Result<Option<StoredRunRequest>> {
        let row = sqlx::query(
            "SELECT id, batch_id, testmode, requested_by, requested_at, taken_at, run_id FROM batch_run_requests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredRunRequest {
                id: row.try_get("id")?,
                batch_id: row.try_get("batch_id")?,
                testmode: row.try_get::<i64, _>("testmode")? != 0,
                requested_by: row.try_get("requested_by")?,
                requested_at: read_time(&row, "requested_at")?,
                taken_at: read_optional_time(&row, "taken_at")?,
                run_id: row.try_get("run_id")?,
            })
        })
        .transpose()
    }
}

impl Store {
    /// Hand the requests for `batch_ids` not yet taken and asked for at or after `not_before`
    /// (older ones have expired and are never handed), marking them taken at `at`: each is
    /// handed once.
    pub async fn take_batch_run_requests(
        &self,
        batch_ids: &[i64],
        at: Timestamp,
        not_before: Timestamp,
    ) -> Result<Vec<RunRequest>> {
        if batch_ids.is_empty() {
            return Ok(Vec::new());
        }
        // Integers only, so the list is written into the statement.
        let ids: Vec<String> = batch_ids.iter().map(i64::to_string).collect();
        let ids = ids.join(", ");
        let not_before = format_time(not_before);
        // Every agent asks at each of its polls and there is seldom a request: a read answers
        // that, and only a request waiting takes the writer lock (SQLite's, in turn with the
        // audited writes) and a commit.
        let (waiting,): (i64,) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FROM batch_run_requests WHERE taken_at IS NULL AND requested_at >= $1 AND batch_id IN ({ids})"
        ))
        .bind(&not_before)
        .fetch_one(&self.pool)
        .await?;
        if waiting == 0 {
            return Ok(Vec::new());
        }
        let _writer = self.unaudited_writer().await;
        let at = format_time(at);
        // The write comes first, so a SQLite transaction never has to upgrade a read lock.
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!(
            "UPDATE batch_run_requests SET taken_at = $1 WHERE taken_at IS NULL AND requested_at >= $2 AND batch_id IN ({ids})"
        ))
        .bind(&at)
        .bind(&not_before)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(&format!(
            "SELECT id, batch_id, testmode FROM batch_run_requests WHERE taken_at = $1 AND batch_id IN ({ids}) ORDER BY id"
        ))
        .bind(&at)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let out = rows
            .iter()
            .map(|row| {
                Ok(RunRequest {
                    id: row.try_get("id")?,
                    batch_id: row.try_get("batch_id")?,
                    testmode: row.try_get::<i64, _>("testmode")? != 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(out)
    }
}
