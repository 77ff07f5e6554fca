//! Each run's outcomes as one compact text (migration 0049): for every test of the run, a 64-bit
//! hash of its identity and its outcome letter, sorted by hash. A push writes one such row per
//! run (the run's previous text merged with the tests the push gave), not one row per test; the
//! flakiness report decodes the texts of the runs it covers and names the tests it reports from
//! their result rows.
//!
//! It replaces the per-test outcome strips of migration 0033: a push of 100 000 tests read and
//! rewrote 100 000 strips, where it now writes one text of 1.7 MB. What the counts mean stays
//! `core::quality::flakiness`'s; the same statements run on SQLite and PostgreSQL.

use std::collections::{BTreeMap, HashMap};

use slipway_core::quality::{TestKey, TestStatus};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::flakiness::{name_in, CoveredRun, TestHistoryCounts};
use crate::{named, Result, Store, StoreError, WriteTx};

/// The text's first line names its format and count: `o1 <entries>`.
const FORMAT: &str = "o1";
/// Hex digits of the hash, then the outcome letter.
const ENTRY_LEN: usize = 17;

/// A test's outcome in one run, under the hash of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) test: u64,
    pub(crate) status: TestStatus,
    pub(crate) passed_after_retry: bool,
}

impl Outcome {
    /// The outcome a result row gives: its status, and a pass after a failed attempt.
    pub(crate) fn of(junit_suite: &str, key: &str, status: TestStatus, failed: i64) -> Outcome {
        Outcome {
            test: identity(junit_suite, key),
            status,
            passed_after_retry: status == TestStatus::Passed && failed > 0,
        }
    }

    fn letter(self) -> char {
        match self.status {
            TestStatus::Passed if self.passed_after_retry => 'r',
            TestStatus::Passed => 'p',
            TestStatus::Failed => 'f',
            TestStatus::Errored => 'e',
            TestStatus::Skipped => 's',
        }
    }
}

/// A test's identity as 64 bits: FNV-1a of its JUnit suite, a separator no text holds, and its
/// key. Stable across builds and machines (unlike `std`'s hasher); two tests of one suite
/// sharing a hash (odds about 1 in 10^9 for a run of 100 000 tests) would count as one in the
/// flakiness report, never anywhere else.
pub(crate) fn identity(junit_suite: &str, key: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in junit_suite
        .bytes()
        .chain(std::iter::once(0xff))
        .chain(key.bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    hash
}

/// The run's text: outcomes sorted by test, one per test.
pub(crate) fn encode(outcomes: &[Outcome]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(24 + outcomes.len() * ENTRY_LEN);
    let _ = writeln!(text, "{FORMAT} {}", outcomes.len());
    for outcome in outcomes {
        let _ = write!(text, "{:016x}{}", outcome.test, outcome.letter());
    }
    text
}

/// Read a run's text as [`encode`] wrote it. The text comes from our own database, but a damaged
/// one gives an error naming the run, never a panic nor an allocation its count asks for.
pub(crate) fn decode(run_id: i64, text: &str) -> Result<Vec<Outcome>> {
    let corrupt = |why: String| {
        StoreError::Corrupt(format!(
            "the outcomes of test run {run_id} cannot be read: {why}"
        ))
    };
    let (head, body) = text
        .split_once('\n')
        .ok_or_else(|| corrupt("it has no header line".into()))?;
    let count = match head.split_once(' ') {
        Some((FORMAT, count)) => count
            .parse::<usize>()
            .map_err(|_| corrupt(format!("its count {count:?} is not a number")))?,
        _ => {
            return Err(corrupt(format!(
                "its header {:?} is not format {FORMAT}",
                head.chars().take(20).collect::<String>()
            )))
        }
    };
    // The length is checked against the count before anything is allocated.
    if count.checked_mul(ENTRY_LEN) != Some(body.len()) {
        return Err(corrupt(format!(
            "it announces {count} tests but holds {} bytes of entries ({ENTRY_LEN} each)",
            body.len()
        )));
    }
    let mut outcomes = Vec::with_capacity(count);
    for (at, entry) in body.as_bytes().chunks_exact(ENTRY_LEN).enumerate() {
        let broken = || corrupt(format!("entry {at} is not 16 hex digits and a letter"));
        let hex = std::str::from_utf8(&entry[..16]).map_err(|_| broken())?;
        let test = u64::from_str_radix(hex, 16).map_err(|_| broken())?;
        let (status, passed_after_retry) = match entry[16] {
            b'p' => (TestStatus::Passed, false),
            b'r' => (TestStatus::Passed, true),
            b'f' => (TestStatus::Failed, false),
            b'e' => (TestStatus::Errored, false),
            b's' => (TestStatus::Skipped, false),
            _ => return Err(broken()),
        };
        if outcomes.last().is_some_and(|o: &Outcome| o.test >= test) {
            return Err(corrupt(format!("entry {at} is out of order")));
        }
        outcomes.push(Outcome {
            test,
            status,
            passed_after_retry,
        });
    }
    Ok(outcomes)
}

/// The run's outcomes once `pushed` (in push order: a test given twice takes its last outcome)
/// are merged into `kept` (sorted, as decoded): the tests the push gave take their new outcome.
pub(crate) fn merge(kept: Vec<Outcome>, mut pushed: Vec<Outcome>) -> Vec<Outcome> {
    // A stable sort keeps push order among one test's outcomes: the last of them wins.
    pushed.sort_by_key(|o| o.test);
    let mut merged: Vec<Outcome> = Vec::with_capacity(kept.len() + pushed.len());
    let mut kept = kept.into_iter().peekable();
    for outcome in pushed {
        while let Some(old) = kept.next_if(|old| old.test < outcome.test) {
            merged.push(old);
        }
        kept.next_if(|old| old.test == outcome.test);
        match merged.last_mut() {
            Some(last) if last.test == outcome.test => *last = outcome,
            _ => merged.push(outcome),
        }
    }
    merged.extend(kept);
    merged
}

async fn stored(conn: &mut sqlx::AnyConnection, run_id: i64) -> Result<Option<Vec<Outcome>>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT outcomes FROM test_run_outcomes WHERE run_id = $1")
            .bind(run_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|(text,)| decode(run_id, &text)).transpose()
}

async fn write(conn: &mut sqlx::AnyConnection, run_id: i64, outcomes: &[Outcome]) -> Result<()> {
    sqlx::query(
        "INSERT INTO test_run_outcomes (run_id, outcomes) VALUES ($1, $2) \
         ON CONFLICT (run_id) DO UPDATE SET outcomes = excluded.outcomes",
    )
    .bind(run_id)
    .bind(encode(outcomes))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

impl WriteTx<'_> {
    /// Merge the outcomes this transaction's pushes gave the tests of `run_id` into the run's
    /// text: called by `finish_test_push`, so the text changes in the push's transaction.
    pub(crate) async fn record_run_outcomes(&mut self, run_id: i64) -> Result<()> {
        let (pushed, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.test_outcomes)
            .into_iter()
            .partition(|(run, _)| *run == run_id);
        self.test_outcomes = others;
        let pushed: Vec<Outcome> = pushed.into_iter().map(|(_, outcome)| outcome).collect();
        let kept = stored(&mut self.tx, run_id).await?.unwrap_or_default();
        write(&mut self.tx, run_id, &merge(kept, pushed)).await
    }
}

/// Write every run's text from its results (migration 0049, and tests that insert results in
/// bulk): one run at a time, so memory holds one run's outcomes.
pub(crate) async fn fill_run_outcomes(tx: &mut sqlx::Transaction<'_, Any>) -> Result<()> {
    let runs: Vec<(i64,)> = sqlx::query_as("SELECT id FROM test_runs ORDER BY id")
        .fetch_all(&mut **tx)
        .await?;
    for (run_id,) in runs {
        let rows = sqlx::query(
            "SELECT junit_suite, test_key, status, failed_attempts FROM test_results WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_all(&mut **tx)
        .await?;
        let pushed = rows.iter().map(outcome_of).collect::<Result<Vec<_>>>()?;
        write(tx, run_id, &merge(Vec::new(), pushed)).await?;
    }
    Ok(())
}

fn outcome_of(row: &AnyRow) -> Result<Outcome> {
    let junit_suite: String = row.try_get("junit_suite")?;
    let key: String = row.try_get("test_key")?;
    Ok(Outcome::of(
        &junit_suite,
        &key,
        named(row, "status")?,
        row.try_get("failed_attempts")?,
    ))
}

/// A test's counts while the covered runs are read, oldest first.
#[derive(Default)]
struct Tally {
    runs: u64,
    switches: u64,
    passed_after_retry: u64,
    last_switch_run: Option<i64>,
    /// Whether its newest counted run failed.
    last_failed: Option<bool>,
}

impl Store {
    /// Every test's outcome counts over `runs` from the runs' texts, one run at a time (memory
    /// holds one run's outcomes and one tally per test), the tests named from their result rows;
    /// `None` when a covered run has no text (the caller recounts from the results).
    pub(crate) async fn run_outcome_counts(
        &self,
        runs: &[CoveredRun],
    ) -> Result<Option<Vec<TestHistoryCounts>>> {
        let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut tallies: HashMap<u64, Tally> = HashMap::new();
        let mut conn = self.pool.acquire().await?;
        for &run_id in &ids {
            let Some(outcomes) = stored(&mut conn, run_id).await? else {
                return Ok(None);
            };
            for outcome in outcomes {
                if outcome.status == TestStatus::Skipped {
                    continue;
                }
                let tally = tallies.entry(outcome.test).or_default();
                let failed = outcome.status.is_failure();
                tally.runs += 1;
                tally.passed_after_retry += u64::from(outcome.passed_after_retry);
                if tally.last_failed.is_some_and(|before| before != failed) {
                    tally.switches += 1;
                    tally.last_switch_run = Some(run_id);
                }
                tally.last_failed = Some(failed);
            }
        }
        let names = self.name_tests(&mut conn, &ids, &tallies).await?;
        let mut counts: Vec<TestHistoryCounts> = names
            .into_iter()
            .filter_map(|(test, (junit_suite, key))| {
                let tally = tallies.remove(&test)?;
                let key = TestKey::from_stored(key);
                Some(TestHistoryCounts {
                    junit_suite,
                    name: name_in(&key).to_string(),
                    key,
                    runs: tally.runs,
                    switches: tally.switches,
                    passed_after_retry: tally.passed_after_retry,
                    last_switch_run: tally.last_switch_run,
                })
            })
            .collect();
        counts.sort_by(|a, b| (&a.junit_suite, &a.key).cmp(&(&b.junit_suite, &b.key)));
        Ok(Some(counts))
    }

    /// The JUnit suite and key of each test in `wanted`, read from the result rows of the runs
    /// `ids`, newest first, until every one is named: a test counted in a run has a row there.
    async fn name_tests(
        &self,
        conn: &mut sqlx::AnyConnection,
        ids: &[i64],
        wanted: &HashMap<u64, Tally>,
    ) -> Result<BTreeMap<u64, (String, String)>> {
        let mut names = BTreeMap::new();
        for &run_id in ids.iter().rev() {
            if names.len() == wanted.len() {
                break;
            }
            let rows = sqlx::query(
                "SELECT junit_suite, test_key FROM test_results WHERE run_id = $1 AND status <> 'skipped'",
            )
            .bind(run_id)
            .fetch_all(&mut *conn)
            .await?;
            for row in &rows {
                let junit_suite: String = row.try_get("junit_suite")?;
                let key: String = row.try_get("test_key")?;
                let test = identity(&junit_suite, &key);
                if wanted.contains_key(&test) {
                    names.entry(test).or_insert((junit_suite, key));
                }
            }
        }
        if names.len() < wanted.len() {
            return Err(StoreError::Corrupt(format!(
                "{} tests counted in the outcomes of runs {ids:?} have no result row",
                wanted.len() - names.len()
            )));
        }
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(test: u64, status: TestStatus) -> Outcome {
        Outcome {
            test,
            status,
            passed_after_retry: false,
        }
    }

    #[test]
    fn a_run_text_round_trips_and_a_later_push_replaces_the_tests_it_gives() {
        let kept = merge(
            Vec::new(),
            vec![
                outcome(9, TestStatus::Passed),
                outcome(3, TestStatus::Failed),
                outcome(3, TestStatus::Skipped),
            ],
        );
        assert_eq!(
            kept,
            [
                outcome(3, TestStatus::Skipped),
                outcome(9, TestStatus::Passed)
            ]
        );
        let text = encode(&kept);
        assert_eq!(text, "o1 2\n0000000000000003s0000000000000009p");
        assert_eq!(decode(1, &text).unwrap(), kept);
        let later = merge(
            kept,
            vec![
                outcome(1, TestStatus::Errored),
                outcome(9, TestStatus::Failed),
            ],
        );
        assert_eq!(
            later,
            [
                outcome(1, TestStatus::Errored),
                outcome(3, TestStatus::Skipped),
                outcome(9, TestStatus::Failed)
            ]
        );
        assert_eq!(decode(1, &encode(&[])).unwrap(), []);
    }

    #[test]
    fn a_damaged_run_text_is_an_error_that_names_the_run_never_a_panic() {
        let good = encode(&[
            outcome(3, TestStatus::Passed),
            outcome(9, TestStatus::Failed),
        ]);
        let cases = [
            ("", "no header"),
            ("o1 2", "no header"),
            (&good[..good.len() - 1], "announces 2 tests"),
            (&good[..good.len() - 17], "announces 2 tests"),
            ("o2 0\n", "not format o1"),
            ("x", "no header"),
            ("o1 -1\n", "not a number"),
            ("o1 18446744073709551615\n", "announces"),
            ("o1 99999999999999999999999\n", "not a number"),
            ("o1 1\nzzzzzzzzzzzzzzzzp", "entry 0"),
            ("o1 1\n00000000000000éq", "entry 0"),
            ("o1 1\n000000000000000é", "entry 0"),
            ("o1 1\n0000000000000003q", "entry 0"),
            (
                "o1 2\n0000000000000009p0000000000000003p",
                "entry 1 is out of order",
            ),
        ];
        for (text, why) in cases {
            let error = decode(42, text).unwrap_err().to_string();
            assert!(
                error.contains("test run 42") && error.contains(why),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn identities_differ_by_suite_and_key_and_never_change() {
        assert_ne!(identity("a", "b::c"), identity("a b", "::c"));
        assert_ne!(identity("", "x"), identity("x", ""));
        // The stored texts depend on this value: a change would need a migration.
        assert_eq!(identity("", ""), 0xaf64_724c_8602_eb6e);
    }
}
