//! Flakiness and quarantine as stored: the last runs of a suite in an environment, each test's
//! outcome counts over them (switches, passes after a retry) from the runs' outcome texts
//! (`run_outcomes`) or recounted from the results, a test's history strip, and the quarantine
//! list.
//!
//! It judges nothing: what the counts mean (flaky or not, a suite's share, a gate's verdict) is
//! `core::quality`'s and `core::governance`'s.

use std::collections::BTreeMap;

use jiff::Timestamp;
use slipway_core::quality::{TestKey, TestStatus};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::time::read_time;
use crate::{json_column, named, now, Result, Store, WriteTx};

/// Runs read to find the last N that match an attribute filter; past it the filter gives up.
const RUNS_SCANNED: i64 = 5_000;
/// Tests whose switches one statement counts (bound parameters stay far below both databases'
/// limits).
const SWITCH_READ_CHUNK: usize = 500;

/// Which runs a flakiness report covers: the last `runs` of a suite in an environment whose
/// attributes include every pair of `attributes`.
#[derive(Debug, Clone)]
pub struct FlakinessScope<'a> {
    pub project: &'a str,
    pub environment: &'a str,
    pub suite: &'a str,
    pub attributes: &'a BTreeMap<String, String>,
    pub runs: i64,
}

/// A run a report covers: its id, release and when it was last pushed into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoveredRun {
    pub id: i64,
    pub release: String,
    pub updated_at: Timestamp,
}

/// A test's outcome counts over the runs a report covers, skipped runs left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestHistoryCounts {
    pub junit_suite: String,
    pub key: TestKey,
    /// The name as the identity carries it.
    pub name: String,
    /// Runs where it passed or failed.
    pub runs: u64,
    /// Passed↔failed changes between consecutive such runs.
    pub switches: u64,
    /// Runs where it passed after a failed attempt.
    pub passed_after_retry: u64,
    pub last_switch_run: Option<i64>,
}

/// What a flakiness report judges over the runs it covers: how many tests passed or failed in at
/// least one of them, and the counts of those that switched or passed after a retry — the only
/// tests whose counts can make them flaky, and the only ones named (a test that passed at once
/// in every run may have no result row to be named from, `quality::passed_at_once`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryCounts {
    pub judged: u64,
    /// By JUnit suite and key.
    pub unsteady: Vec<TestHistoryCounts>,
}

impl HistoryCounts {
    /// The counts of every judged test, of which those that switched or passed after a retry
    /// are kept.
    pub(crate) fn of(judged: u64, counts: impl IntoIterator<Item = TestHistoryCounts>) -> Self {
        HistoryCounts {
            judged,
            unsteady: counts
                .into_iter()
                .filter(|c| c.switches > 0 || c.passed_after_retry > 0)
                .collect(),
        }
    }
}

/// A test in quarantine for a project's suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredQuarantine {
    pub project: String,
    pub suite: String,
    pub key: TestKey,
    pub reason: String,
    pub expires_at: Timestamp,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// A quarantine to record.
#[derive(Debug, Clone)]
pub struct NewQuarantine<'a> {
    pub project: &'a str,
    pub suite: &'a str,
    pub key: &'a TestKey,
    pub reason: &'a str,
    pub expires_at: &'a str,
    pub actor: &'a str,
}

fn count(row: &AnyRow, column: &str) -> Result<u64> {
    let value: i64 = row.try_get(column)?;
    Ok(u64::try_from(value).unwrap_or(0))
}

fn quarantine_row(row: &AnyRow) -> Result<StoredQuarantine> {
    Ok(StoredQuarantine {
        project: row.try_get("project")?,
        suite: row.try_get("suite")?,
        key: TestKey::from_stored(row.try_get("test_key")?),
        reason: row.try_get("reason")?,
        expires_at: read_time(row, "expires_at")?,
        created_by: row.try_get("created_by")?,
        created_at: read_time(row, "created_at")?,
    })
}

/// The test's name as its identity carries it (`classname::name[parameters]`, or `id:…`): the
/// counts query reads the index alone, without the name column.
pub(crate) fn name_in(key: &TestKey) -> &str {
    let text = key.as_str();
    let after = text.split_once("::").map_or(text, |(_, name)| name);
    match after.find('[') {
        Some(at) if after.ends_with(']') => &after[..at],
        _ => after,
    }
}

/// `IN (…)` of run ids: integers read from the store, so written into the statement as they are.
fn id_list(runs: &[CoveredRun]) -> String {
    runs.iter()
        .map(|r| r.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// The last `scope.runs` runs of the suite in the environment carrying the attributes asked
    /// for, newest first.
    pub async fn covered_runs(&self, scope: &FlakinessScope<'_>) -> Result<Vec<CoveredRun>> {
        let wanted = usize::try_from(scope.runs.clamp(1, 1_000)).unwrap_or(1);
        let rows = sqlx::query(
            "SELECT id, release, attributes, updated_at FROM test_runs \
             WHERE project = $1 AND environment = $2 AND suite = $3 ORDER BY id DESC LIMIT $4",
        )
        .bind(scope.project)
        .bind(scope.environment)
        .bind(scope.suite)
        .bind(if scope.attributes.is_empty() {
            i64::try_from(wanted).unwrap_or(1)
        } else {
            RUNS_SCANNED
        })
        .fetch_all(&self.pool)
        .await?;
        let mut covered = Vec::new();
        for row in &rows {
            let attributes: BTreeMap<String, String> = json_column(row, "test run", "attributes")?;
            let matches = scope
                .attributes
                .iter()
                .all(|(k, v)| attributes.get(k) == Some(v));
            if matches {
                covered.push(CoveredRun {
                    id: row.try_get("id")?,
                    release: row.try_get("release")?,
                    updated_at: read_time(row, "updated_at")?,
                });
                if covered.len() == wanted {
                    break;
                }
            }
        }
        Ok(covered)
    }

    /// Every test's outcome counts over `runs` (a report's covered runs): read from the runs'
    /// outcome texts (one row per run, kept at push time, `run_outcomes`), or recounted from the
    /// results when a covered run has none.
    pub async fn test_history_counts(&self, runs: &[CoveredRun]) -> Result<HistoryCounts> {
        match self.run_outcome_counts(runs).await? {
            Some(counts) => Ok(counts),
            None => self.recount_test_history(runs).await,
        }
    }

    /// Every test's outcome counts over `runs` recounted from the results, in one pass and a
    /// short second read: the answer for runs without outcome texts (`run_outcomes`: runs stored
    /// before migration 0049, whose tests all have result rows), and what the tests hold those
    /// texts to.
    ///
    /// The pass sums each test's runs, failing runs and passes after a retry, reading the runs'
    /// results through the primary key (migration 0049 dropped the index by test that made
    /// this the report's fast path; each push paid for it). A test whose runs all passed or all
    /// failed has switched zero times; only the others — flaky candidates, a few percent — have
    /// their outcomes read again, in run order, to count the switches and find the last.
    pub(crate) async fn recount_test_history(&self, runs: &[CoveredRun]) -> Result<HistoryCounts> {
        if runs.is_empty() {
            return Ok(HistoryCounts::default());
        }
        let ids = id_list(runs);
        let rows = sqlx::query(&format!(
            "SELECT junit_suite, test_key, COUNT(*) AS runs, \
               CAST(SUM(CASE WHEN status IN ('failed', 'errored') THEN 1 ELSE 0 END) AS BIGINT) AS failing, \
               CAST(SUM(CASE WHEN status = 'passed' AND failed_attempts > 0 THEN 1 ELSE 0 END) AS BIGINT) AS retried \
             FROM test_results WHERE run_id IN ({ids}) AND status <> 'skipped' \
             GROUP BY junit_suite, test_key ORDER BY junit_suite, test_key"
        ))
        .fetch_all(&self.pool)
        .await?;
        let mut counts = Vec::with_capacity(rows.len());
        let mut mixed: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for row in &rows {
            let key = TestKey::from_stored(row.try_get("test_key")?);
            let junit_suite: String = row.try_get("junit_suite")?;
            let runs = count(row, "runs")?;
            let failing = count(row, "failing")?;
            if failing > 0 && failing < runs {
                mixed
                    .entry(junit_suite.clone())
                    .or_default()
                    .push(counts.len());
            }
            counts.push(TestHistoryCounts {
                junit_suite,
                name: name_in(&key).to_string(),
                key,
                runs,
                switches: 0,
                passed_after_retry: count(row, "retried")?,
                last_switch_run: None,
            });
        }
        for (junit_suite, positions) in mixed {
            for chunk in positions.chunks(SWITCH_READ_CHUNK) {
                self.count_switches(&ids, &junit_suite, chunk, &mut counts)
                    .await?;
            }
        }
        Ok(HistoryCounts::of(counts.len() as u64, counts))
    }

    /// Count the switches of the tests at `positions` (all of `junit_suite`) from their
    /// outcomes in run order.
    async fn count_switches(
        &self,
        ids: &str,
        junit_suite: &str,
        positions: &[usize],
        counts: &mut [TestHistoryCounts],
    ) -> Result<()> {
        let placeholders: Vec<String> = (0..positions.len())
            .map(|i| format!("${}", i + 2))
            .collect();
        let sql = format!(
            "SELECT test_key, run_id, status FROM test_results \
             WHERE junit_suite = $1 AND test_key IN ({}) AND run_id IN ({ids}) AND status <> 'skipped' \
             ORDER BY test_key, run_id",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).persistent(false).bind(junit_suite);
        for &at in positions {
            query = query.bind(counts[at].key.as_str().to_string());
        }
        let rows = query.fetch_all(&self.pool).await?;
        let at_key: BTreeMap<&str, usize> = positions
            .iter()
            .map(|&at| (counts[at].key.as_str(), at))
            .collect();
        let mut tally: BTreeMap<usize, (u64, Option<i64>)> = BTreeMap::new();
        let mut before: Option<(String, bool)> = None;
        for row in &rows {
            let key: String = row.try_get("test_key")?;
            let run: i64 = row.try_get("run_id")?;
            let status: TestStatus = named(row, "status")?;
            let failing = status.is_failure();
            if let Some((previous_key, previous)) = &before {
                if *previous_key == key && *previous != failing {
                    if let Some(&at) = at_key.get(key.as_str()) {
                        let entry = tally.entry(at).or_default();
                        entry.0 += 1;
                        entry.1 = Some(run);
                    }
                }
            }
            before = Some((key, failing));
        }
        for (at, (switches, last)) in tally {
            counts[at].switches = switches;
            counts[at].last_switch_run = last;
        }
        Ok(())
    }

    /// The project's quarantined tests (expired ones included: the caller knows the time), of
    /// one suite or of all.
    pub async fn quarantines(
        &self,
        project: &str,
        suite: Option<&str>,
    ) -> Result<Vec<StoredQuarantine>> {
        let rows = sqlx::query(
            "SELECT project, suite, test_key, reason, expires_at, created_by, created_at FROM test_quarantines \
             WHERE project = $1 AND ($2 IS NULL OR suite = $2) ORDER BY suite, test_key",
        )
        .bind(project)
        .bind(suite)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(quarantine_row).collect()
    }
}

impl WriteTx<'_> {
    /// Put a test in quarantine, or change the reason and expiry of its quarantine.
    pub async fn put_quarantine(&mut self, q: &NewQuarantine<'_>) -> Result<StoredQuarantine> {
        let at = now();
        let row = sqlx::query(
            "INSERT INTO test_quarantines (project, suite, test_key, reason, expires_at, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (project, suite, test_key) DO UPDATE SET reason = excluded.reason, \
             expires_at = excluded.expires_at, created_by = excluded.created_by, created_at = excluded.created_at \
             RETURNING project, suite, test_key, reason, expires_at, created_by, created_at",
        )
        .bind(q.project)
        .bind(q.suite)
        .bind(q.key.as_str())
        .bind(q.reason)
        .bind(q.expires_at)
        .bind(q.actor)
        .bind(&at)
        .fetch_one(&mut *self.tx)
        .await?;
        quarantine_row(&row)
    }

    /// Lift a test's quarantine; `None` when it was not in quarantine.
    pub async fn lift_quarantine(
        &mut self,
        project: &str,
        suite: &str,
        key: &TestKey,
    ) -> Result<Option<StoredQuarantine>> {
        let row = sqlx::query(
            "DELETE FROM test_quarantines WHERE project = $1 AND suite = $2 AND test_key = $3 \
             RETURNING project, suite, test_key, reason, expires_at, created_by, created_at",
        )
        .bind(project)
        .bind(suite)
        .bind(key.as_str())
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(quarantine_row).transpose()
    }
}

impl Store {
    /// The tests of a run that ended failed or errored, at most `limit`.
    pub async fn failing_tests(
        &self,
        run_id: i64,
        limit: i64,
    ) -> Result<Vec<(String, TestKey, String)>> {
        let rows = sqlx::query(
            "SELECT junit_suite, test_key, name FROM test_results \
             WHERE run_id = $1 AND status IN ('failed', 'errored') ORDER BY junit_suite, test_key LIMIT $2",
        )
        .bind(run_id)
        .bind(limit.clamp(1, 100_000))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("junit_suite")?,
                    TestKey::from_stored(row.try_get("test_key")?),
                    row.try_get("name")?,
                ))
            })
            .collect()
    }
}

/// A file pushed into a run, as received: its digest, size and what was read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRunFile {
    pub seq: i64,
    pub sha256: String,
    pub size: i64,
    pub testcases: i64,
    pub skipped_testcases: i64,
    pub pushed_by: String,
    pub pushed_at: Timestamp,
}

impl Store {
    /// The files pushed into a run, in push order.
    pub async fn test_run_files(&self, run_id: i64) -> Result<Vec<StoredRunFile>> {
        let rows = sqlx::query(
            "SELECT seq, sha256, size, testcases, skipped_testcases, pushed_by, pushed_at FROM test_run_files WHERE run_id = $1 ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(run_file_row).collect()
    }
}

pub(crate) fn run_file_row(row: &AnyRow) -> Result<StoredRunFile> {
    Ok(StoredRunFile {
        seq: row.try_get("seq")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        testcases: row.try_get("testcases")?,
        skipped_testcases: row.try_get("skipped_testcases")?,
        pushed_by: row.try_get("pushed_by")?,
        pushed_at: read_time(row, "pushed_at")?,
    })
}
