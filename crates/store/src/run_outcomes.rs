//! Each run's outcomes as one compact text (migrations 0049 and 0053): for every test of the run,
//! a 64-bit hash of its identity, its outcome letter and its last attempt's duration, sorted by
//! hash. A push writes one such row per run (the run's previous text merged with the tests the
//! push gave), not one row per test; the flakiness report decodes the texts of the runs it
//! covers and names the tests it reports from their result rows.
//!
//! The text is the only record of a test that passed at once and as it did in the previous run
//! (`quality.rs` writes no result row for it): a run's totals, the tests a comparison adds and
//! removes, and the history strips read it. What the counts mean stays
//! `core::quality::flakiness`'s; the same statements run on SQLite and PostgreSQL.

use std::collections::{BTreeMap, HashMap, HashSet};

use slipway_core::quality::{RunTotals, TestKey, TestStatus};
use sqlx::any::AnyRow;
use sqlx::{Any, Row};

use crate::flakiness::{name_in, CoveredRun, HistoryCounts, TestHistoryCounts};
use crate::{named, Result, Store, StoreError, WriteTx};

/// The text's first line names its format and count: `o2 <entries>`.
const FORMAT: &str = "o2";
/// Hex digits of the hash, the outcome letter, then 8 hex digits of the duration in
/// milliseconds ([`NO_DURATION`] when the report gave none).
const ENTRY_LEN: usize = 25;
/// The duration of a test whose report gave none; longer ones are cut to the one below.
const NO_DURATION: u32 = u32::MAX;

/// A test's outcome in one run, under the hash of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) test: u64,
    pub(crate) status: TestStatus,
    pub(crate) passed_after_retry: bool,
    /// The last attempt's duration in milliseconds, [`NO_DURATION`] when the report gave none
    /// (a `u32` keeps an outcome at 16 bytes: a push holds a few hundred thousand of them).
    pub(crate) duration: u32,
}

impl Outcome {
    /// The outcome a result row gives: its status, a pass after a failed attempt, its duration.
    pub(crate) fn of(
        test: u64,
        (status, failed): (TestStatus, i64),
        duration_ms: Option<i64>,
    ) -> Outcome {
        Outcome {
            test,
            status,
            passed_after_retry: status == TestStatus::Passed && failed > 0,
            duration: match duration_ms {
                None => NO_DURATION,
                Some(ms) => u32::try_from(ms.max(0))
                    .unwrap_or(NO_DURATION - 1)
                    .min(NO_DURATION - 1),
            },
        }
    }

    /// The last attempt's duration in milliseconds, when the report gave one.
    pub(crate) fn duration_ms(self) -> Option<i64> {
        (self.duration != NO_DURATION).then_some(i64::from(self.duration))
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
        let _ = write!(
            text,
            "{:016x}{}{:08x}",
            outcome.test,
            outcome.letter(),
            outcome.duration
        );
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
        let broken = || {
            corrupt(format!(
                "entry {at} is not 16 hex digits, a letter and 8 hex digits"
            ))
        };
        fn hex(digits: &[u8]) -> Option<&str> {
            std::str::from_utf8(digits)
                .ok()
                .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()))
        }
        let test = hex(&entry[..16])
            .and_then(|d| u64::from_str_radix(d, 16).ok())
            .ok_or_else(broken)?;
        let duration = hex(&entry[17..])
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(broken)?;
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
            duration,
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

/// The outcomes of run `run_id` as its text holds them, `None` for a run without one.
pub(crate) async fn stored(
    conn: &mut sqlx::AnyConnection,
    run_id: i64,
) -> Result<Option<Vec<Outcome>>> {
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

/// The outcome of `test` in `outcomes` (sorted by test, as decoded).
pub(crate) fn find(outcomes: &[Outcome], test: u64) -> Option<Outcome> {
    outcomes
        .binary_search_by_key(&test, |o| o.test)
        .ok()
        .map(|at| outcomes[at])
}

/// The status of `test` in `outcomes` (sorted by test), if they hold it.
pub(crate) fn status_in(outcomes: &[Outcome], test: u64) -> Option<TestStatus> {
    find(outcomes, test).map(|o| o.status)
}

/// How many tests `now` holds that `before` does not, and the reverse (both sorted by test).
pub(crate) fn only_in_each(now: &[Outcome], before: &[Outcome]) -> (u64, u64) {
    let (mut only_now, mut only_before) = (0u64, 0u64);
    let (mut n, mut b) = (now.iter().peekable(), before.iter().peekable());
    loop {
        match (n.peek(), b.peek()) {
            (Some(x), Some(y)) if x.test == y.test => {
                n.next();
                b.next();
            }
            (Some(x), Some(y)) if x.test < y.test => {
                only_now += 1;
                n.next();
            }
            (Some(_), Some(_)) | (None, Some(_)) => {
                only_before += 1;
                b.next();
            }
            (Some(_), None) => {
                only_now += 1;
                n.next();
            }
            (None, None) => return (only_now, only_before),
        }
    }
}

/// What one transaction's pushes gave the tests of one run, until the push finishes and merges
/// it into the run's text. A test that passed at once and was not in the run yet is given
/// without a result row: this is then its only record.
pub(crate) struct RunPush {
    pub(crate) run_id: i64,
    /// The run's outcomes before this transaction, sorted by test.
    kept: Vec<Outcome>,
    /// The outcomes this transaction gave, in push order (a test given twice: the last wins).
    pushed: Vec<Outcome>,
    /// The tests this transaction gave.
    given: HashSet<u64>,
    /// Of those, the ones given without a result row, with the number of the file that gave them.
    without_row: HashMap<u64, (i64, Outcome)>,
}

impl RunPush {
    /// The run's state as stored, before this transaction adds to it.
    pub(crate) async fn load(conn: &mut sqlx::AnyConnection, run_id: i64) -> Result<RunPush> {
        Ok(RunPush {
            run_id,
            kept: stored(conn, run_id).await?.unwrap_or_default(),
            pushed: Vec::new(),
            given: HashSet::new(),
            without_row: HashMap::new(),
        })
    }

    /// Whether a test that passed at once can be kept without a result row: the run did not
    /// hold it yet (a test the run holds takes more attempts, which live in rows).
    pub(crate) fn passes_without_row(&self, test: u64) -> bool {
        !self.given.contains(&test) && find(&self.kept, test).is_none()
    }

    /// Record a test given without a result row by the file numbered `file_seq`.
    pub(crate) fn give_without_row(&mut self, file_seq: i64, outcome: Outcome) {
        self.given.insert(outcome.test);
        self.without_row.insert(outcome.test, (file_seq, outcome));
        self.pushed.push(outcome);
    }

    /// Record a test given with its result row written.
    pub(crate) fn give_with_row(&mut self, outcome: Outcome) {
        self.given.insert(outcome.test);
        self.pushed.push(outcome);
    }

    /// The earlier outcome of `test` in the run that may have no result row, as (the number of
    /// the file that gave it, its outcome): the row to write before the test takes another
    /// attempt. An outcome kept from an earlier transaction that passed at once may have a row
    /// or not (the caller writes it only if missing); any other outcome has one.
    pub(crate) fn earlier_without_row(&mut self, test: u64) -> Option<(i64, Outcome)> {
        if let Some(earlier) = self.without_row.remove(&test) {
            return Some(earlier);
        }
        if self.given.contains(&test) {
            return None;
        }
        // File number 0: an earlier file than any a push gives (they count from 1).
        find(&self.kept, test)
            .filter(|o| o.status == TestStatus::Passed && !o.passed_after_retry)
            .map(|o| (0, o))
    }

    /// The run's outcomes with this transaction's merged in.
    fn merged(self) -> Vec<Outcome> {
        merge(self.kept, self.pushed)
    }
}

/// A run's totals and the sum of its durations, from its outcomes (`attempts` counted by the
/// caller: they live in the result rows).
pub(crate) fn totals(outcomes: &[Outcome]) -> (RunTotals, i64) {
    let mut totals = RunTotals::default();
    let mut duration = 0i64;
    for outcome in outcomes {
        totals.tests += 1;
        duration = duration.saturating_add(outcome.duration_ms().unwrap_or(0));
        match outcome.status {
            TestStatus::Passed => {
                totals.passed += 1;
                totals.passed_after_retry += u64::from(outcome.passed_after_retry);
            }
            TestStatus::Failed => totals.failed += 1,
            TestStatus::Errored => totals.errored += 1,
            TestStatus::Skipped => totals.skipped += 1,
        }
    }
    (totals, duration)
}

impl WriteTx<'_> {
    /// This transaction's push state for `run_id`, taken out (loaded on the run's first push):
    /// the caller gives it back with [`WriteTx::give_back_run_push`].
    pub(crate) async fn take_run_push(&mut self, run_id: i64) -> Result<RunPush> {
        match self.test_pushes.iter().position(|p| p.run_id == run_id) {
            Some(at) => Ok(self.test_pushes.swap_remove(at)),
            None => RunPush::load(&mut self.tx, run_id).await,
        }
    }

    pub(crate) fn give_back_run_push(&mut self, push: RunPush) {
        self.test_pushes.push(push);
    }

    /// Merge the outcomes this transaction's pushes gave the tests of `run_id` into the run's
    /// text, and answer the merged outcomes: called by `finish_test_push`, so the text changes
    /// in the push's transaction.
    pub(crate) async fn record_run_outcomes(&mut self, run_id: i64) -> Result<Vec<Outcome>> {
        let merged = self.take_run_push(run_id).await?.merged();
        write(&mut self.tx, run_id, &merged).await?;
        Ok(merged)
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
            "SELECT junit_suite, test_key, status, failed_attempts, duration_ms FROM test_results WHERE run_id = $1",
        )
        .bind(run_id)
        .fetch_all(&mut **tx)
        .await?;
        let pushed = rows.iter().map(outcome_of).collect::<Result<Vec<_>>>()?;
        // Every test stored before migration 0053 has its row: the rows give the whole run.
        write(tx, run_id, &merge(Vec::new(), pushed)).await?;
    }
    Ok(())
}

fn outcome_of(row: &AnyRow) -> Result<Outcome> {
    let junit_suite: String = row.try_get("junit_suite")?;
    let key: String = row.try_get("test_key")?;
    Ok(Outcome::of(
        identity(&junit_suite, &key),
        (named(row, "status")?, row.try_get("failed_attempts")?),
        row.try_get("duration_ms")?,
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
    /// holds one run's outcomes and one tally per test), the tests that switched or passed after
    /// a retry named from their result rows; `None` when a covered run has no text (the caller
    /// recounts from the results).
    pub(crate) async fn run_outcome_counts(
        &self,
        runs: &[CoveredRun],
    ) -> Result<Option<HistoryCounts>> {
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
        let judged = tallies.len() as u64;
        // Only a test that failed or was retried in some run can be flaky; it has a result row
        // there to be named from.
        tallies.retain(|_, t| t.switches > 0 || t.passed_after_retry > 0);
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
        Ok(Some(HistoryCounts::of(judged, counts)))
    }

    /// Each of `tests`' status in each of `runs` where it ran, oldest first, with whether it
    /// passed only after a retry: the history strips of flaky tests. Read from the runs' outcome
    /// texts, one run at a time (a test that passed at once may have no result row there).
    pub async fn test_histories(
        &self,
        runs: &[CoveredRun],
        tests: &[(&str, &TestKey)],
    ) -> Result<Vec<Vec<(i64, TestStatus, bool)>>> {
        let hashes: Vec<u64> = tests
            .iter()
            .map(|(junit_suite, key)| identity(junit_suite, key.as_str()))
            .collect();
        let mut histories = vec![Vec::new(); tests.len()];
        if tests.is_empty() {
            return Ok(histories);
        }
        let mut ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut conn = self.pool.acquire().await?;
        for run_id in ids {
            let Some(outcomes) = stored(&mut conn, run_id).await? else {
                continue;
            };
            for (history, &hash) in histories.iter_mut().zip(&hashes) {
                if let Some(outcome) = find(&outcomes, hash) {
                    history.push((run_id, outcome.status, outcome.passed_after_retry));
                }
            }
        }
        Ok(histories)
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
            duration: test as u32 * 10,
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
        assert_eq!(
            text,
            "o2 2\n0000000000000003s0000001e0000000000000009p0000005a"
        );
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
        let no_duration = Outcome::of(5, (TestStatus::Passed, 1), None);
        let long = Outcome::of(6, (TestStatus::Passed, 0), Some(i64::MAX));
        let decoded = decode(1, &encode(&[no_duration, long])).unwrap();
        assert_eq!(decoded, [no_duration, long]);
        assert_eq!(decoded[0].duration_ms(), None);
        assert!(decoded[0].passed_after_retry);
        assert_eq!(decoded[1].duration_ms(), Some(i64::from(u32::MAX - 1)));
    }

    #[test]
    fn a_damaged_run_text_is_an_error_that_names_the_run_never_a_panic() {
        let good = encode(&[
            outcome(3, TestStatus::Passed),
            outcome(9, TestStatus::Failed),
        ]);
        let cases = [
            ("", "no header"),
            ("o2 2", "no header"),
            (&good[..good.len() - 1], "announces 2 tests"),
            (&good[..good.len() - 25], "announces 2 tests"),
            ("o1 0\n", "not format o2"),
            ("x", "no header"),
            ("o2 -1\n", "not a number"),
            ("o2 18446744073709551615\n", "announces"),
            ("o2 99999999999999999999999\n", "not a number"),
            ("o2 1\nzzzzzzzzzzzzzzzzp00000000", "entry 0"),
            ("o2 1\n00000000000000éq00000000", "entry 0"),
            ("o2 1\n000000000000000é00000000", "entry 0"),
            ("o2 1\n0000000000000003q00000000", "entry 0"),
            ("o2 1\n+000000000000003p00000000", "entry 0"),
            ("o2 1\n0000000000000003p+0000000", "entry 0"),
            ("o2 1\n0000000000000003p000000é", "entry 0"),
            (
                "o2 2\n0000000000000009p000000000000000000000003p00000000",
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
