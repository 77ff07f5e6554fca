//! Each test's outcome strip (migration 0033): kept by the push that adds a result, inside its
//! transaction, and read by the flakiness report one short row per test.
//!
//! The same statements run on SQLite and PostgreSQL; what a strip holds and when it can answer
//! are `core::quality::OutcomeStrip`'s, what the counts mean is `core::quality::flakiness`'s.

use std::collections::{BTreeMap, BTreeSet};

use slipway_core::quality::{judge_within, OutcomeStrip, RunOutcome, TestKey, TestStatus};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::flakiness::{name_in, CoveredRun, FlakinessScope, TestHistoryCounts};
use crate::{named, Backend, Result, Store, StoreError, WriteTx};

/// Strips one read or one upsert handles (bound parameters stay far below both databases'
/// limits).
const STRIP_CHUNK: usize = 200;
/// Results of one push turned into strips at a time.
const STRIP_PAGE: i64 = 2_000;

/// Which suite and environment strips belong to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct StripGroup {
    project: String,
    environment: String,
    suite: String,
}

type StripsByTest = BTreeMap<(String, String), OutcomeStrip>;

fn corrupt(e: slipway_core::quality::StripError) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// A result row's outcome in its run.
fn outcome_of(row: &AnyRow, run_id: i64) -> Result<RunOutcome> {
    let status: TestStatus = named(row, "status")?;
    let failed: i64 = row.try_get("failed_attempts")?;
    Ok(RunOutcome {
        run_id,
        status,
        passed_after_retry: status == TestStatus::Passed && failed > 0,
    })
}

/// Read the stored strips of `keys` (all of one JUnit suite) into `strips`.
async fn read_strips(
    conn: &mut sqlx::AnyConnection,
    group: &StripGroup,
    junit_suite: &str,
    keys: &[&str],
    strips: &mut StripsByTest,
) -> Result<()> {
    // Parameters in order, each once: plain `?` on SQLite (`Backend::positional`).
    let backend = Backend::of(conn);
    let scope: Vec<String> = (1..=4).map(|n| backend.positional(n, 1)).collect();
    let sql = format!(
        "SELECT test_key, outcomes FROM test_strips WHERE project = {} AND environment = {} \
         AND suite = {} AND junit_suite = {} AND test_key IN ({})",
        scope[0],
        scope[1],
        scope[2],
        scope[3],
        backend.positional(5, keys.len())
    );
    let mut query = sqlx::query(&sql)
        .persistent(false)
        .bind(&group.project)
        .bind(&group.environment)
        .bind(&group.suite)
        .bind(junit_suite);
    for key in keys {
        query = query.bind(*key);
    }
    for row in query.fetch_all(&mut *conn).await? {
        let key: String = row.try_get("test_key")?;
        let text: String = row.try_get("outcomes")?;
        strips.insert(
            (junit_suite.to_string(), key),
            OutcomeStrip::parse(&text).map_err(corrupt)?,
        );
    }
    Ok(())
}

/// Write `strips` of `group`, replacing the stored ones.
async fn write_strips(
    conn: &mut sqlx::AnyConnection,
    group: &StripGroup,
    strips: &StripsByTest,
) -> Result<()> {
    let backend = Backend::of(conn);
    let all: Vec<(&(String, String), &OutcomeStrip)> = strips.iter().collect();
    for chunk in all.chunks(STRIP_CHUNK) {
        // Each row binds its own group: parameters in order, each once (`Backend::positional`).
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| format!("({})", backend.positional(1 + i * 6, 6)))
            .collect();
        let sql = format!(
            "INSERT INTO test_strips (project, environment, suite, junit_suite, test_key, outcomes) \
             VALUES {} ON CONFLICT (project, environment, suite, junit_suite, test_key) \
             DO UPDATE SET outcomes = excluded.outcomes",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql).persistent(false);
        for ((junit_suite, key), strip) in chunk {
            query = query
                .bind(&group.project)
                .bind(&group.environment)
                .bind(&group.suite)
                .bind(junit_suite)
                .bind(key)
                .bind(strip.encode());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Record in each strip the outcome the run now gives the tests of `results` (key, outcome).
async fn record_outcomes(
    conn: &mut sqlx::AnyConnection,
    group: &StripGroup,
    results: Vec<(String, String, RunOutcome)>,
) -> Result<()> {
    let mut by_suite: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (junit_suite, key, _) in &results {
        by_suite.entry(junit_suite).or_default().push(key);
    }
    let mut strips = StripsByTest::new();
    for (junit_suite, keys) in &by_suite {
        for chunk in keys.chunks(STRIP_CHUNK) {
            read_strips(conn, group, junit_suite, chunk, &mut strips).await?;
        }
    }
    for (junit_suite, key, outcome) in results {
        strips
            .entry((junit_suite, key))
            .or_default()
            .record(outcome);
    }
    write_strips(conn, group, &strips).await
}

impl WriteTx<'_> {
    /// Record in the strips the outcomes push `file_seq` gave the tests it touched in `run_id`
    /// (a later push into the same run replaces that run's outcome): called by
    /// `finish_test_push`, so the strips change in the push's transaction.
    pub(crate) async fn record_test_strips(&mut self, run_id: i64, file_seq: i64) -> Result<()> {
        let (project, environment, suite): (String, String, String) =
            sqlx::query_as("SELECT project, environment, suite FROM test_runs WHERE id = $1")
                .bind(run_id)
                .fetch_one(&mut *self.tx)
                .await?;
        let group = StripGroup {
            project,
            environment,
            suite,
        };
        // A page of results at a time (keyset order of the primary key): a push of 100 000
        // tests never holds them, or their strips, all at once.
        let mut after: Option<(String, String)> = None;
        loop {
            let rows = sqlx::query(
                "SELECT junit_suite, test_key, status, failed_attempts FROM test_results \
                 WHERE run_id = $1 AND file_seq = $2 \
                 AND ($3 IS NULL OR junit_suite > $3 OR (junit_suite = $3 AND test_key > $4)) \
                 ORDER BY junit_suite, test_key LIMIT $5",
            )
            .bind(run_id)
            .bind(file_seq)
            .bind(after.as_ref().map(|a| a.0.as_str()))
            .bind(after.as_ref().map(|a| a.1.as_str()))
            .bind(STRIP_PAGE)
            .fetch_all(&mut *self.tx)
            .await?;
            let mut results: Vec<(String, String, RunOutcome)> = Vec::with_capacity(rows.len());
            for row in &rows {
                results.push((
                    row.try_get("junit_suite")?,
                    row.try_get("test_key")?,
                    outcome_of(row, run_id)?,
                ));
            }
            let Some((suite, key, _)) = results.last() else {
                return Ok(());
            };
            after = Some((suite.clone(), key.clone()));
            let full = results.len() as i64 == STRIP_PAGE;
            record_outcomes(&mut self.tx, &group, results).await?;
            if !full {
                return Ok(());
            }
        }
    }
}

/// Fill every test's strip from the results stored (migration 0033, and tests that insert
/// results in bulk): each suite and environment in turn, its runs in order, so memory holds one
/// suite's strips at a time.
pub(crate) async fn fill_test_strips(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let groups: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT DISTINCT project, environment, suite FROM test_runs ORDER BY project, environment, suite",
    )
    .fetch_all(&mut **tx)
    .await?;
    for (project, environment, suite) in groups {
        let group = StripGroup {
            project,
            environment,
            suite,
        };
        let runs: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM test_runs WHERE project = $1 AND environment = $2 AND suite = $3 ORDER BY id",
        )
        .bind(&group.project)
        .bind(&group.environment)
        .bind(&group.suite)
        .fetch_all(&mut **tx)
        .await?;
        let mut strips = StripsByTest::new();
        for (run_id,) in runs {
            let rows = sqlx::query(
                "SELECT junit_suite, test_key, status, failed_attempts FROM test_results WHERE run_id = $1",
            )
            .bind(run_id)
            .fetch_all(&mut **tx)
            .await?;
            for row in &rows {
                let key = (row.try_get("junit_suite")?, row.try_get("test_key")?);
                strips
                    .entry(key)
                    .or_default()
                    .record(outcome_of(row, run_id)?);
            }
        }
        write_strips(tx, &group, &strips).await?;
    }
    Ok(())
}

impl Store {
    /// Every test's outcome counts over `runs` (of `scope`'s suite and environment) from the
    /// strips, one row per test; `None` when a strip no longer holds every covered run (a report
    /// longer than the strips, or an attribute filter reaching far back), which the caller
    /// recounts from the results.
    pub(crate) async fn strip_history_counts(
        &self,
        scope: &FlakinessScope<'_>,
        runs: &[CoveredRun],
    ) -> Result<Option<Vec<TestHistoryCounts>>> {
        let covered: BTreeSet<i64> = runs.iter().map(|r| r.id).collect();
        let (Some(&oldest), Some(&newest)) = (covered.first(), covered.last()) else {
            return Ok(Some(Vec::new()));
        };
        // Without an attribute filter the covered runs are the suite's newest ones: every run of
        // its strips from the oldest covered to the newest covered (a run pushed since has a
        // higher id) is one of them.
        let every_run = scope.attributes.is_empty();
        let rows = sqlx::query(
            "SELECT junit_suite, test_key, outcomes FROM test_strips \
             WHERE project = $1 AND environment = $2 AND suite = $3 ORDER BY junit_suite, test_key",
        )
        .bind(scope.project)
        .bind(scope.environment)
        .bind(scope.suite)
        .fetch_all(&self.pool)
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let text: String = row.try_get("outcomes")?;
            let in_report = |run: i64| {
                if every_run {
                    run <= newest
                } else {
                    covered.contains(&run)
                }
            };
            let Some(judged) = judge_within(&text, oldest, in_report).map_err(corrupt)? else {
                return Ok(None);
            };
            if judged.runs == 0 {
                continue;
            }
            let key = TestKey::from_stored(row.try_get("test_key")?);
            counts.push(TestHistoryCounts {
                junit_suite: row.try_get("junit_suite")?,
                name: name_in(&key).to_string(),
                key,
                runs: judged.runs,
                switches: judged.switches,
                passed_after_retry: judged.passed_after_retry,
                last_switch_run: judged.last_switch_run,
            });
        }
        Ok(Some(counts))
    }
}
