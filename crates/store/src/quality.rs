//! Test runs, their tests and every attempt: written one push at a time inside a [`WriteTx`],
//! read back for lists, details and comparisons.
//!
//! A push adds to the run of its (project, release, environment, suite, launch), creating it on
//! the first file; a test already in the run gains the pushed attempts and takes the status of
//! the last one. A test that passed at once and is new to the run has no result row: its outcome
//! lives in the run's text only (`run_outcomes`, see [`passed_at_once`]). The run's totals are
//! recounted from that text at the end of every push, so they never drift from what was pushed.
//! It judges nothing: comparisons are `core::quality`'s.

use std::collections::BTreeMap;

use jiff::Timestamp;
use slipway_core::page::PageSize;
use slipway_core::quality::{
    ReportedTest, RunTotals, TestKey, TestOutcome, TestStatus, RETRIED_WITHOUT_FAILURE,
};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::flakiness::{run_file_row, StoredRunFile};
use crate::page::{page_of, rows_to_read, Page};
use crate::run_outcomes::{self, identity, totals, Outcome, RunPush};
use crate::time::read_time;
use crate::{
    current_time, format_time, json_column, named, now, Result, Store, StoreError, WriteTx,
};

/// A run as stored, with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTestRun {
    pub id: i64,
    pub project: String,
    pub release: String,
    pub environment: String,
    pub suite: String,
    pub launch: String,
    pub attributes: BTreeMap<String, String>,
    /// Files pushed into the run.
    pub files: i64,
    pub totals: RunTotals,
    /// The sum of the tests' last-attempt durations.
    pub duration_ms: i64,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A test in a run: its outcome and how many attempts it took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTestResult {
    pub junit_suite: String,
    pub key: TestKey,
    pub classname: Option<String>,
    pub name: String,
    pub file: Option<String>,
    pub status: TestStatus,
    pub attempts: i64,
    pub failed_attempts: i64,
    pub duration_ms: Option<i64>,
    /// The last attempt's message, when it has one (failures and skips).
    pub message: Option<String>,
}

/// One attempt of a test, with its output as kept (cut texts end with the truncation mark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttempt {
    pub attempt: i64,
    pub status: TestStatus,
    pub message: Option<String>,
    pub failure_type: Option<String>,
    pub detail: Option<String>,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
    pub duration_ms: Option<i64>,
}

/// What a comparison of two runs reads ([`Store::compared_runs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComparedRuns {
    /// The previous run's tests that either run holds a result row for, with their outcome there.
    pub previous: Vec<TestOutcome>,
    /// The current run's tests that either run holds a result row for, with their outcome there.
    pub current: Vec<TestOutcome>,
    /// Tests of the current run the previous one did not hold.
    pub added: u64,
    /// Tests of the previous run the current one does not hold.
    pub removed: u64,
}

/// Which run a push goes into, and who pushes it.
#[derive(Debug, Clone)]
pub struct NewTestPush<'a> {
    pub project: &'a str,
    pub release: &'a str,
    pub environment: &'a str,
    pub suite: &'a str,
    pub launch: &'a str,
    pub attributes: &'a BTreeMap<String, String>,
    pub actor: &'a str,
}

/// A file as received, recorded with its push.
#[derive(Debug, Clone)]
pub struct PushedFile<'a> {
    pub sha256: &'a str,
    pub size: i64,
    pub testcases: i64,
    pub skipped_testcases: i64,
    pub actor: &'a str,
}

/// Which runs to list: all filters combine; newest first.
#[derive(Debug, Clone, Default)]
pub struct TestRunFilter {
    pub project: String,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub suite: Option<String>,
    pub limit: i64,
}

/// Tests (and attempts) written per statement: 9 (and 10) parameters each stay far below
/// SQLite's and PostgreSQL's limits on bound parameters. Such statements are not kept prepared
/// (`persistent(false)`): their text changes with the batch's length, and every connection would
/// keep up to a hundred large prepared statements (measured: 96 MB more during a 100 000-test
/// push, against 7 MB one test at a time).
const RESULTS_PER_STATEMENT: usize = 200;

const RUN_COLUMNS: &str = "id, project, release, environment, suite, launch, attributes, files, tests, passed, failed, errored, skipped, passed_after_retry, attempts, duration_ms, created_by, created_at, updated_at";

fn run_row(row: &AnyRow) -> Result<StoredTestRun> {
    let count = |column: &str| -> Result<u64> {
        let value: i64 = row.try_get(column)?;
        Ok(u64::try_from(value).unwrap_or(0))
    };
    Ok(StoredTestRun {
        id: row.try_get("id")?,
        project: row.try_get("project")?,
        release: row.try_get("release")?,
        environment: row.try_get("environment")?,
        suite: row.try_get("suite")?,
        launch: row.try_get("launch")?,
        attributes: json_column(row, "test run", "attributes")?,
        files: row.try_get("files")?,
        totals: RunTotals {
            tests: count("tests")?,
            passed: count("passed")?,
            failed: count("failed")?,
            errored: count("errored")?,
            skipped: count("skipped")?,
            passed_after_retry: count("passed_after_retry")?,
            attempts: count("attempts")?,
        },
        duration_ms: row.try_get("duration_ms")?,
        created_by: row.try_get("created_by")?,
        created_at: read_time(row, "created_at")?,
        updated_at: read_time(row, "updated_at")?,
    })
}

/// A test pushed with one attempt that passed: it gets no attempt row, and no result row either
/// when the run did not hold it yet — its outcome in the run's text (`run_outcomes`: status,
/// duration) says all the run needs; comparisons and history strips read it there, and only
/// tests that failed or passed after a retry are ever named. Its output stays in the file as
/// received (kept in the vault and carried by the evidence bundle); [`Store::test_attempts`]
/// shows such an attempt as a bare pass. Most tests of most runs are these, so a push writes
/// rows only for the tests that failed, were skipped or were retried (measured: a push of
/// 100 000 tests spent half its time in 100 000 result upserts, BENCHMARKS.md).
fn passed_at_once(test: &ReportedTest) -> bool {
    matches!(test.attempts.as_slice(), [only] if only.status == TestStatus::Passed)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl WriteTx<'_> {
    /// The launch's run when a file with digest `sha256` was already pushed into it, with that
    /// file: a push sent again (its answer lost) is recognised before anything merges twice.
    pub async fn test_run_with_file(
        &mut self,
        push: &NewTestPush<'_>,
        sha256: &str,
    ) -> Result<Option<(StoredTestRun, StoredRunFile)>> {
        let found = sqlx::query(
            "SELECT f.run_id, f.seq, f.sha256, f.size, f.testcases, f.skipped_testcases, f.pushed_by, f.pushed_at \
             FROM test_runs r JOIN test_run_files f ON f.run_id = r.id \
             WHERE r.project = $1 AND r.release = $2 AND r.environment = $3 AND r.suite = $4 AND r.launch = $5 \
             AND f.sha256 = $6 ORDER BY f.seq LIMIT 1",
        )
        .bind(push.project)
        .bind(push.release)
        .bind(push.environment)
        .bind(push.suite)
        .bind(push.launch)
        .bind(sha256)
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = found else {
            return Ok(None);
        };
        let file = run_file_row(&row)?;
        let run_id: i64 = row.try_get("run_id")?;
        let run = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM test_runs WHERE id = $1"
        ))
        .bind(run_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(Some((run_row(&run)?, file)))
    }

    /// The run this push goes into, created (empty) if it is the launch's first file.
    pub async fn open_test_run(&mut self, push: &NewTestPush<'_>) -> Result<StoredTestRun> {
        let existing = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM test_runs WHERE project = $1 AND release = $2 AND environment = $3 AND suite = $4 AND launch = $5"
        ))
        .bind(push.project)
        .bind(push.release)
        .bind(push.environment)
        .bind(push.suite)
        .bind(push.launch)
        .fetch_optional(&mut *self.tx)
        .await?;
        if let Some(row) = existing {
            return run_row(&row);
        }
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM test_runs")
            .fetch_one(&mut *self.tx)
            .await?;
        let id = max.unwrap_or(0) + 1;
        let at = current_time();
        let attributes = serde_json::to_string(push.attributes)
            .map_err(|e| StoreError::Corrupt(format!("test run attributes: {e}")))?;
        sqlx::query("INSERT INTO test_runs (id, project, release, environment, suite, launch, attributes, files, tests, passed, failed, errored, skipped, passed_after_retry, attempts, duration_ms, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0, 0, 0, 0, 0, 0, 0, $8, $9, $9)")
            .bind(id)
            .bind(push.project)
            .bind(push.release)
            .bind(push.environment)
            .bind(push.suite)
            .bind(push.launch)
            .bind(&attributes)
            .bind(push.actor)
            .bind(format_time(at))
            .execute(&mut *self.tx)
            .await?;
        Ok(StoredTestRun {
            id,
            project: push.project.to_string(),
            release: push.release.to_string(),
            environment: push.environment.to_string(),
            suite: push.suite.to_string(),
            launch: push.launch.to_string(),
            attributes: push.attributes.clone(),
            files: 0,
            totals: RunTotals::default(),
            duration_ms: 0,
            created_by: push.actor.to_string(),
            created_at: at,
            updated_at: at,
        })
    }

    /// Add one reported test of the push numbered `file_seq` (the run's files + 1) to a run: a
    /// new test, or more attempts of a test already there. When the same file already gave the
    /// test, its previous attempt shown as passed was retried and counts as failed.
    pub async fn add_test_result(
        &mut self,
        run_id: i64,
        file_seq: i64,
        test: &ReportedTest,
    ) -> Result<()> {
        self.add_test_results(run_id, file_seq, std::slice::from_ref(test))
            .await
    }

    /// [`WriteTx::add_test_result`] for many tests, in their order, with a few statements per
    /// hundred tests instead of two per test: a test repeated in `tests` is added after the
    /// ones before it, as one at a time would. A test that passed at once and is new to the run
    /// gets no result row (see [`passed_at_once`]): only its outcome, kept in the run's text.
    pub async fn add_test_results(
        &mut self,
        run_id: i64,
        file_seq: i64,
        tests: &[ReportedTest],
    ) -> Result<()> {
        let mut push = self.take_run_push(run_id).await?;
        let added = self.add_tests_to(&mut push, file_seq, tests).await;
        self.give_back_run_push(push);
        added
    }

    async fn add_tests_to(
        &mut self,
        push: &mut RunPush,
        file_seq: i64,
        tests: &[ReportedTest],
    ) -> Result<()> {
        #[cfg(test)]
        let rows_for_every_test = self.rows_for_every_test;
        #[cfg(not(test))]
        let rows_for_every_test = false;
        let mut batch: Vec<(&ReportedTest, TestKey, u64)> = Vec::new();
        let mut in_batch = std::collections::HashSet::new();
        for test in tests.iter().filter(|t| !t.attempts.is_empty()) {
            let key = test.key();
            let hash = identity(&test.suite, key.as_str());
            if passed_at_once(test)
                && !rows_for_every_test
                && !in_batch.contains(&hash)
                && push.passes_without_row(hash)
            {
                let duration = test.attempts.last().and_then(|a| a.duration_ms);
                push.give_without_row(
                    file_seq,
                    Outcome::of(hash, (TestStatus::Passed, 0), duration.map(to_i64)),
                );
                continue;
            }
            // One statement may not change a row twice: a repeat waits for the next batch.
            if batch.len() == RESULTS_PER_STATEMENT || !in_batch.insert(hash) {
                self.add_result_batch(push, file_seq, &batch).await?;
                batch.clear();
                in_batch.clear();
                in_batch.insert(hash);
            }
            batch.push((test, key, hash));
        }
        self.add_result_batch(push, file_seq, &batch).await
    }

    /// Write the rows of the tests of `batch` that the run holds without one (they passed at
    /// once in an earlier file, or earlier in this one), before they take another attempt.
    async fn write_rows_held_without(
        &mut self,
        push: &mut RunPush,
        batch: &[(&ReportedTest, TestKey, u64)],
    ) -> Result<()> {
        let earlier: Vec<_> = batch
            .iter()
            .filter_map(|(test, key, hash)| {
                push.earlier_without_row(*hash)
                    .map(|(seq, outcome)| (*test, key, seq, outcome))
            })
            .collect();
        if earlier.is_empty() {
            return Ok(());
        }
        let values: Vec<String> = (0..earlier.len())
            .map(|i| {
                format!(
                    "({}, 'passed', 1, 0, 0)",
                    self.backend.positional(1 + i * 8, 8)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO test_results (run_id, junit_suite, test_key, classname, name, file, duration_ms, file_seq, status, attempts, failed_attempts, repeated_in_file) \
             VALUES {} ON CONFLICT (run_id, junit_suite, test_key) DO NOTHING",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for (test, key, seq, outcome) in earlier {
            query = query
                .bind(push.run_id)
                .bind(&test.suite)
                .bind(key.as_str())
                .bind(test.classname.as_deref())
                .bind(&test.name)
                .bind(test.file.as_deref())
                .bind(outcome.duration_ms())
                .bind(seq);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Tests of distinct identities: their results upserted in one statement, then their
    /// attempts inserted, numbered after the attempts the run already held.
    async fn add_result_batch(
        &mut self,
        push: &mut RunPush,
        file_seq: i64,
        batch: &[(&ReportedTest, TestKey, u64)],
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write_rows_held_without(push, batch).await?;
        let run_id = push.run_id;
        // Each row binds its own run and file number: parameters in order, each used once.
        let values: Vec<String> = (0..batch.len())
            .map(|i| format!("({}, 0)", self.backend.positional(1 + i * 11, 11)))
            .collect();
        let sql = format!(
            "INSERT INTO test_results (run_id, junit_suite, test_key, classname, name, file, status, attempts, failed_attempts, duration_ms, file_seq, repeated_in_file) \
             VALUES {} \
             ON CONFLICT (run_id, junit_suite, test_key) DO UPDATE SET status = excluded.status, \
             repeated_in_file = CASE WHEN test_results.file_seq = excluded.file_seq THEN 1 ELSE 0 END, \
             file_seq = excluded.file_seq, \
             attempts = test_results.attempts + excluded.attempts, \
             failed_attempts = test_results.failed_attempts + excluded.failed_attempts, \
             duration_ms = excluded.duration_ms, file = COALESCE(test_results.file, excluded.file) \
             RETURNING junit_suite, test_key, status, attempts, failed_attempts, repeated_in_file",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for (test, key, _) in batch {
            let last = test.attempts.last().map(|a| (a.status, a.duration_ms));
            let failed = test
                .attempts
                .iter()
                .filter(|a| a.status.is_failure())
                .count();
            query = query
                .bind(run_id)
                .bind(&test.suite)
                .bind(key.as_str())
                .bind(test.classname.as_deref())
                .bind(&test.name)
                .bind(test.file.as_deref())
                .bind(last.map(|(status, _)| status.as_str()))
                .bind(to_i64(test.attempts.len() as u64))
                .bind(to_i64(failed as u64))
                .bind(last.and_then(|(_, ms)| ms).map(to_i64))
                .bind(file_seq);
        }
        // The database returns the rows in no promised order: match them by identity.
        let mut totals = std::collections::HashMap::new();
        for row in query.fetch_all(&mut *self.tx).await? {
            let suite: String = row.try_get("junit_suite")?;
            let key: String = row.try_get("test_key")?;
            let total: i64 = row.try_get("attempts")?;
            let failed: i64 = row.try_get("failed_attempts")?;
            let status: TestStatus = named(&row, "status")?;
            let repeated: i64 = row.try_get("repeated_in_file")?;
            totals.insert((suite, key), (total, failed, status, repeated == 1));
        }
        let mut attempts = Vec::new();
        for (test, key, hash) in batch {
            let Some(&(total, failed, status, repeated)) =
                totals.get(&(test.suite.clone(), key.as_str().to_string()))
            else {
                return Err(StoreError::Corrupt(format!(
                    "the result of test {} in run {run_id} was not returned by its upsert",
                    key.as_str()
                )));
            };
            let first = total - to_i64(test.attempts.len() as u64) + 1;
            let retried = repeated
                && self
                    .retried_attempt_failed(run_id, test, key, first - 1)
                    .await?;
            let duration = test.attempts.last().and_then(|a| a.duration_ms);
            push.give_with_row(Outcome::of(
                *hash,
                (status, failed + i64::from(retried)),
                duration.map(to_i64),
            ));
            if passed_at_once(test) {
                continue;
            }
            attempts.extend(
                test.attempts
                    .iter()
                    .enumerate()
                    .map(|(offset, attempt)| (*test, key, first + offset as i64, attempt)),
            );
        }
        for chunk in attempts.chunks(RESULTS_PER_STATEMENT) {
            self.insert_attempts(run_id, chunk).await?;
        }
        Ok(())
    }

    /// The same file gave the test again: its attempt shown as passed before was retried, and
    /// counts as failed. A passed-at-once attempt has no row ([`passed_at_once`]): the row is
    /// written then, as failed; an attempt whose row says it failed already is left as it is.
    async fn retried_attempt_failed(
        &mut self,
        run_id: i64,
        test: &ReportedTest,
        key: &TestKey,
        attempt: i64,
    ) -> Result<bool> {
        let retried = sqlx::query(
            "UPDATE test_attempts SET status = 'failed', message = COALESCE(message, $5) \
             WHERE run_id = $1 AND junit_suite = $2 AND test_key = $3 AND attempt = $4 AND status = 'passed'",
        )
        .bind(run_id)
        .bind(&test.suite)
        .bind(key.as_str())
        .bind(attempt)
        .bind(RETRIED_WITHOUT_FAILURE)
        .execute(&mut *self.tx)
        .await?;
        let written = if retried.rows_affected() > 0 {
            0
        } else {
            sqlx::query(
                "INSERT INTO test_attempts (run_id, junit_suite, test_key, attempt, status, message) \
                 VALUES ($1, $2, $3, $4, 'failed', $5) \
                 ON CONFLICT (run_id, junit_suite, test_key, attempt) DO NOTHING",
            )
            .bind(run_id)
            .bind(&test.suite)
            .bind(key.as_str())
            .bind(attempt)
            .bind(RETRIED_WITHOUT_FAILURE)
            .execute(&mut *self.tx)
            .await?
            .rows_affected()
        };
        let counted = retried.rows_affected() + written > 0;
        if counted {
            sqlx::query("UPDATE test_results SET failed_attempts = failed_attempts + 1 WHERE run_id = $1 AND junit_suite = $2 AND test_key = $3")
                .bind(run_id)
                .bind(&test.suite)
                .bind(key.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(counted)
    }

    /// Attempts `(test, its key, number, attempt)` of one run, in one statement.
    async fn insert_attempts(
        &mut self,
        run_id: i64,
        attempts: &[(
            &ReportedTest,
            &TestKey,
            i64,
            &slipway_core::quality::Attempt,
        )],
    ) -> Result<()> {
        let values: Vec<String> = (0..attempts.len())
            .map(|i| format!("({})", self.backend.positional(1 + i * 11, 11)))
            .collect();
        let sql = format!(
            "INSERT INTO test_attempts (run_id, junit_suite, test_key, attempt, status, message, failure_type, detail, system_out, system_err, duration_ms) VALUES {}",
            values.join(", ")
        );
        let shown =
            |text: &Option<slipway_core::quality::BoundedText>| text.as_ref().map(|t| t.shown());
        let mut query = sqlx::query(&sql).persistent(false);
        for (test, key, number, attempt) in attempts {
            query = query
                .bind(run_id)
                .bind(&test.suite)
                .bind(key.as_str())
                .bind(*number)
                .bind(attempt.status.as_str())
                .bind(shown(&attempt.message))
                .bind(attempt.failure_type.as_deref())
                .bind(shown(&attempt.detail))
                .bind(shown(&attempt.system_out))
                .bind(shown(&attempt.system_err))
                .bind(attempt.duration_ms.map(to_i64));
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Close a push: record its file, merge the outcomes it gave into the run's outcomes
    /// (`run_outcomes`) and recount the run's totals from them.
    pub async fn finish_test_push(
        &mut self,
        run_id: i64,
        file: &PushedFile<'_>,
    ) -> Result<StoredTestRun> {
        let (files,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM test_run_files WHERE run_id = $1")
                .bind(run_id)
                .fetch_one(&mut *self.tx)
                .await?;
        let at = now();
        sqlx::query("INSERT INTO test_run_files (run_id, seq, sha256, size, testcases, skipped_testcases, pushed_by, pushed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(run_id)
            .bind(files + 1)
            .bind(file.sha256)
            .bind(file.size)
            .bind(file.testcases)
            .bind(file.skipped_testcases)
            .bind(file.actor)
            .bind(&at)
            .execute(&mut *self.tx)
            .await?;
        let outcomes = self.record_run_outcomes(run_id).await?;
        let (mut totals, duration) = totals(&outcomes);
        // A test without a result row took one attempt (it passed at once).
        let (rows, attempts): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), CAST(SUM(attempts) AS BIGINT) FROM test_results WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_one(&mut *self.tx)
        .await?;
        let without_row = totals
            .tests
            .saturating_sub(u64::try_from(rows).unwrap_or(0));
        totals.attempts = u64::try_from(attempts.unwrap_or(0)).unwrap_or(0) + without_row;
        sqlx::query("UPDATE test_runs SET files = $2, tests = $3, passed = $4, failed = $5, errored = $6, skipped = $7, passed_after_retry = $8, attempts = $9, duration_ms = $10, updated_at = $11 WHERE id = $1")
            .bind(run_id)
            .bind(files + 1)
            .bind(to_i64(totals.tests))
            .bind(to_i64(totals.passed))
            .bind(to_i64(totals.failed))
            .bind(to_i64(totals.errored))
            .bind(to_i64(totals.skipped))
            .bind(to_i64(totals.passed_after_retry))
            .bind(to_i64(totals.attempts))
            .bind(duration)
            .bind(&at)
            .execute(&mut *self.tx)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM test_runs WHERE id = $1"
        ))
        .bind(run_id)
        .fetch_one(&mut *self.tx)
        .await?;
        run_row(&row)
    }
}

/// The tests of a run that have a result row, with the hash of their identity.
async fn outcome_rows(
    conn: &mut sqlx::AnyConnection,
    run_id: i64,
) -> Result<Vec<(u64, TestOutcome)>> {
    let rows = sqlx::query(
        "SELECT junit_suite, test_key, name, status FROM test_results WHERE run_id = $1",
    )
    .bind(run_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let suite: String = row.try_get("junit_suite")?;
            let key: String = row.try_get("test_key")?;
            Ok((
                identity(&suite, &key),
                TestOutcome {
                    suite,
                    key: TestKey::from_stored(key),
                    name: row.try_get("name")?,
                    status: named(row, "status")?,
                },
            ))
        })
        .collect()
}

impl Store {
    /// The newest `filter.limit` runs (at most 500) that `filter` selects, newest first.
    pub async fn test_runs(&self, filter: &TestRunFilter) -> Result<Vec<StoredTestRun>> {
        self.select_test_runs(filter, None, filter.limit.clamp(1, 500))
            .await
    }

    /// One page of the runs `filter` selects (its `limit` is not read: the page holds `size`),
    /// newest first by id, after run `before` when given.
    ///
    /// Keyed by id: a run is numbered when its first file arrives and later files of the same
    /// launch merge into it without moving it, so the id is the order runs began in, and it is
    /// total. Read through `test_runs_release` (project, release, id) when a release is given,
    /// the API's case, or `test_runs_history` (project, environment, suite, id).
    pub async fn test_run_page(
        &self,
        filter: &TestRunFilter,
        before: Option<i64>,
        size: PageSize,
    ) -> Result<Page<StoredTestRun>> {
        let runs = self
            .select_test_runs(filter, before, rows_to_read(size))
            .await?;
        Ok(page_of(runs, size))
    }

    /// The runs `filter` selects after `before`, newest first, at most `rows`. Only the given
    /// filters are in the statement, so that the planner sees their equalities and picks the
    /// index they lead.
    async fn select_test_runs(
        &self,
        filter: &TestRunFilter,
        before: Option<i64>,
        rows: i64,
    ) -> Result<Vec<StoredTestRun>> {
        let narrowing = [
            ("release", filter.release.as_deref()),
            ("environment", filter.environment.as_deref()),
            ("suite", filter.suite.as_deref()),
        ];
        let mut sql = format!("SELECT {RUN_COLUMNS} FROM test_runs WHERE project = $1");
        let mut n = 1;
        for (column, _) in narrowing.iter().filter(|(_, v)| v.is_some()) {
            n += 1;
            sql.push_str(&format!(" AND {column} = ${n}"));
        }
        sql.push_str(&format!(
            " AND id < ${} ORDER BY id DESC LIMIT ${}",
            n + 1,
            n + 2
        ));
        let mut query = sqlx::query(&sql).bind(&filter.project);
        for value in narrowing.iter().filter_map(|(_, v)| *v) {
            query = query.bind(value);
        }
        let rows = query
            .bind(before.unwrap_or(i64::MAX))
            .bind(rows)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(run_row).collect()
    }

    pub async fn test_run(&self, id: i64) -> Result<Option<StoredTestRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM test_runs WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    /// The run of the same project, environment and suite pushed just before `run`.
    pub async fn previous_test_run(&self, run: &StoredTestRun) -> Result<Option<StoredTestRun>> {
        let row = sqlx::query(&format!(
            "SELECT {RUN_COLUMNS} FROM test_runs WHERE project = $1 AND environment = $2 AND suite = $3 AND id < $4 ORDER BY id DESC LIMIT 1"
        ))
        .bind(&run.project)
        .bind(&run.environment)
        .bind(&run.suite)
        .bind(run.id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(run_row).transpose()
    }

    /// A run's tests, failing first (failed, errored), then passed after a retry, then the rest;
    /// `only_notable` keeps the first two groups.
    pub async fn test_results(
        &self,
        run_id: i64,
        only_notable: bool,
        limit: i64,
    ) -> Result<Vec<StoredTestResult>> {
        let rows = sqlx::query(
            "SELECT r.junit_suite, r.test_key, r.classname, r.name, r.file, r.status, r.attempts, r.failed_attempts, r.duration_ms, a.message \
             FROM test_results r LEFT JOIN test_attempts a ON a.run_id = r.run_id AND a.junit_suite = r.junit_suite AND a.test_key = r.test_key AND a.attempt = r.attempts \
             WHERE r.run_id = $1 AND ($2 = 0 OR r.status IN ('failed', 'errored') OR r.failed_attempts > 0) \
             ORDER BY CASE WHEN r.status IN ('failed', 'errored') THEN 0 WHEN r.failed_attempts > 0 THEN 1 ELSE 2 END, r.junit_suite, r.test_key LIMIT $3",
        )
        .bind(run_id)
        .bind(i64::from(only_notable))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredTestResult {
                    junit_suite: row.try_get("junit_suite")?,
                    key: TestKey::from_stored(row.try_get("test_key")?),
                    classname: row.try_get("classname")?,
                    name: row.try_get("name")?,
                    file: row.try_get("file")?,
                    status: named(row, "status")?,
                    attempts: row.try_get("attempts")?,
                    failed_attempts: row.try_get("failed_attempts")?,
                    duration_ms: row.try_get("duration_ms")?,
                    message: row.try_get("message")?,
                })
            })
            .collect()
    }

    /// What a comparison of run `current` with run `previous` reads: the tests of each run that
    /// have a result row (every test that failed, errored, was skipped or retried), each
    /// completed with its outcome in the other run read from that run's text, and how many tests
    /// one run holds that the other does not. Tests without a row passed at once in their run;
    /// they matter to a comparison only where the other run has a row for them.
    pub async fn compared_runs(&self, previous: Option<i64>, current: i64) -> Result<ComparedRuns> {
        let mut conn = self.pool.acquire().await?;
        let now_text = run_outcomes::stored(&mut conn, current)
            .await?
            .unwrap_or_default();
        let now_rows = outcome_rows(&mut conn, current).await?;
        let (before_text, before_rows) = match previous {
            Some(previous) => (
                run_outcomes::stored(&mut conn, previous)
                    .await?
                    .unwrap_or_default(),
                outcome_rows(&mut conn, previous).await?,
            ),
            None => (Vec::new(), Vec::new()),
        };
        let (added, removed) = run_outcomes::only_in_each(&now_text, &before_text);
        let complete = |rows: &[(u64, TestOutcome)], others: &[(u64, TestOutcome)], text| {
            let held: std::collections::HashSet<u64> = rows.iter().map(|(h, _)| *h).collect();
            let mut tests: Vec<TestOutcome> = rows.iter().map(|(_, t)| t.clone()).collect();
            for (hash, test) in others {
                if held.contains(hash) {
                    continue;
                }
                if let Some(status) = run_outcomes::status_in(text, *hash) {
                    tests.push(TestOutcome {
                        status,
                        ..test.clone()
                    });
                }
            }
            tests
        };
        Ok(ComparedRuns {
            previous: complete(&before_rows, &now_rows, &before_text),
            current: complete(&now_rows, &before_rows, &now_text),
            added,
            removed,
        })
    }

    /// Every attempt of one test of a run, oldest first; an attempt that passed at once (kept
    /// without a row, see [`passed_at_once`]) is a bare pass, the last one with the test's
    /// duration.
    pub async fn test_attempts(
        &self,
        run_id: i64,
        junit_suite: &str,
        key: &TestKey,
    ) -> Result<Vec<StoredAttempt>> {
        let result: Option<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT attempts, duration_ms FROM test_results WHERE run_id = $1 AND junit_suite = $2 AND test_key = $3",
        )
        .bind(run_id)
        .bind(junit_suite)
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some((total, duration_ms)) = result else {
            return Ok(Vec::new());
        };
        let mut kept = self
            .attempt_rows(run_id, junit_suite, key)
            .await?
            .into_iter()
            .peekable();
        let mut attempts = Vec::with_capacity(usize::try_from(total).unwrap_or(0).min(1_000));
        for number in 1..=total.max(0) {
            match kept.next_if(|a| a.attempt == number) {
                Some(attempt) => attempts.push(attempt),
                None => attempts.push(StoredAttempt {
                    attempt: number,
                    status: TestStatus::Passed,
                    message: None,
                    failure_type: None,
                    detail: None,
                    system_out: None,
                    system_err: None,
                    duration_ms: if number == total { duration_ms } else { None },
                }),
            }
        }
        // Rows past the result's count cannot come from a push; shown rather than hidden.
        attempts.extend(kept);
        Ok(attempts)
    }

    /// The attempt rows of one test of a run, oldest first.
    async fn attempt_rows(
        &self,
        run_id: i64,
        junit_suite: &str,
        key: &TestKey,
    ) -> Result<Vec<StoredAttempt>> {
        let rows = sqlx::query(
            "SELECT attempt, status, message, failure_type, detail, system_out, system_err, duration_ms FROM test_attempts \
             WHERE run_id = $1 AND junit_suite = $2 AND test_key = $3 ORDER BY attempt",
        )
        .bind(run_id)
        .bind(junit_suite)
        .bind(key.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredAttempt {
                    attempt: row.try_get("attempt")?,
                    status: named(row, "status")?,
                    message: row.try_get("message")?,
                    failure_type: row.try_get("failure_type")?,
                    detail: row.try_get("detail")?,
                    system_out: row.try_get("system_out")?,
                    system_err: row.try_get("system_err")?,
                    duration_ms: row.try_get("duration_ms")?,
                })
            })
            .collect()
    }
}
