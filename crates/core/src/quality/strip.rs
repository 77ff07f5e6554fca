//! A test's outcome strip: its last outcomes in one suite and environment, one per run, oldest
//! first, kept by every push that adds a result, so that a flakiness report reads one short row
//! per test instead of every result of the runs it covers.
//!
//! Pure: the store keeps the strip as text and the push decides when to record; this module
//! says how an outcome is recorded, how the strip is written, and which covered runs it can
//! answer for exactly.

use std::fmt::Write as _;

use super::{Flakiness, RunOutcome, TestStatus};

/// Outcomes a strip keeps: twice the default report of 30 runs, so the usual report and its
/// attribute-filtered variants are answered from strips; a longer report recounts the results.
pub const STRIP_LENGTH: usize = 64;

/// A strip's text could not be read (written by nobody but the store: a corrupt row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("test outcome strip entry {entry:?} is not a status letter followed by a run id")]
pub struct StripError {
    pub entry: String,
}

/// A test's last outcomes, oldest run first, one per run, at most [`STRIP_LENGTH`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutcomeStrip {
    outcomes: Vec<RunOutcome>,
}

fn letter(outcome: &RunOutcome) -> char {
    match outcome.status {
        TestStatus::Passed if outcome.passed_after_retry => 'r',
        TestStatus::Passed => 'p',
        TestStatus::Failed => 'f',
        TestStatus::Errored => 'e',
        TestStatus::Skipped => 's',
    }
}

fn entry(text: &str) -> Result<RunOutcome, StripError> {
    let broken = || StripError {
        entry: text.chars().take(40).collect(),
    };
    let mut chars = text.chars();
    let (status, passed_after_retry) = match chars.next() {
        Some('p') => (TestStatus::Passed, false),
        Some('r') => (TestStatus::Passed, true),
        Some('f') => (TestStatus::Failed, false),
        Some('e') => (TestStatus::Errored, false),
        Some('s') => (TestStatus::Skipped, false),
        _ => return Err(broken()),
    };
    let run_id = chars.as_str().parse().map_err(|_| broken())?;
    Ok(RunOutcome {
        run_id,
        status,
        passed_after_retry,
    })
}

impl OutcomeStrip {
    /// Read a strip as [`OutcomeStrip::encode`] wrote it.
    pub fn parse(text: &str) -> Result<OutcomeStrip, StripError> {
        let mut strip = OutcomeStrip::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            strip.record(entry(part)?);
        }
        Ok(strip)
    }

    /// The strip as stored: `p12,f15,r19` (status letter, run id), oldest first.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(self.outcomes.len() * 8);
        for (i, outcome) in self.outcomes.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            let _ = write!(text, "{}{}", letter(outcome), outcome.run_id);
        }
        text
    }

    /// Record the test's outcome in a run: it replaces the outcome of that run when a later push
    /// merged into it, else takes its place in run order; past [`STRIP_LENGTH`] the oldest goes.
    pub fn record(&mut self, outcome: RunOutcome) {
        match self
            .outcomes
            .binary_search_by_key(&outcome.run_id, |o| o.run_id)
        {
            Ok(at) => self.outcomes[at] = outcome,
            Err(at) => {
                self.outcomes.insert(at, outcome);
                if self.outcomes.len() > STRIP_LENGTH {
                    self.outcomes.remove(0);
                }
            }
        }
    }

    pub fn outcomes(&self) -> &[RunOutcome] {
        &self.outcomes
    }
}

/// One entry read backwards from `end` (exclusive): its outcome and where the entry before it
/// ends (its comma skipped).
fn entry_before(text: &str, end: usize) -> Result<(RunOutcome, usize), StripError> {
    let bytes = text.as_bytes();
    let broken = |at: usize| StripError {
        entry: text[at.min(end)..end].chars().take(40).collect(),
    };
    let mut at = end;
    let mut run_id: i64 = 0;
    let mut scale: i64 = 1;
    while at > 0 && bytes[at - 1].is_ascii_digit() {
        let digit = i64::from(bytes[at - 1] - b'0');
        run_id = digit
            .checked_mul(scale)
            .and_then(|d| run_id.checked_add(d))
            .ok_or_else(|| broken(at - 1))?;
        scale = scale.saturating_mul(10);
        at -= 1;
    }
    if at == end || at == 0 {
        return Err(broken(at));
    }
    let (status, passed_after_retry) = match bytes[at - 1] {
        b'p' => (TestStatus::Passed, false),
        b'r' => (TestStatus::Passed, true),
        b'f' => (TestStatus::Failed, false),
        b'e' => (TestStatus::Errored, false),
        b's' => (TestStatus::Skipped, false),
        _ => return Err(broken(at - 1)),
    };
    at -= 1;
    if at > 0 {
        if bytes[at - 1] != b',' {
            return Err(broken(at - 1));
        }
        at -= 1;
    }
    let outcome = RunOutcome {
        run_id,
        status,
        passed_after_retry,
    };
    Ok((outcome, at))
}

/// Judge a stored strip over the runs `covered` accepts, when the strip holds every outcome the
/// test has from `oldest_covered` on; `None` when older ones were dropped from it (the caller
/// recounts from the results). The judgement is [`flakiness`](super::flakiness) of those
/// outcomes.
///
/// One pass from the strip's newest end, stopping at the first run older than `oldest_covered`:
/// a long strip costs what the report covers, not its length, and nothing is allocated.
pub fn judge_within(
    text: &str,
    oldest_covered: i64,
    covered: impl Fn(i64) -> bool,
) -> Result<Option<Flakiness>, StripError> {
    let mut end = text.len();
    let mut read = 0usize;
    let mut reached_older = false;
    let mut first_read: Option<i64> = None;
    let (mut runs, mut switches, mut retried) = (0u64, 0u64, 0u64);
    let mut last_switch_run = None;
    // The newer outcome already counted: whether it failed, and its run.
    let mut newer: Option<(bool, i64)> = None;
    while end > 0 {
        let (outcome, before) = entry_before(text, end)?;
        end = before;
        read += 1;
        first_read = Some(outcome.run_id);
        if outcome.run_id < oldest_covered {
            reached_older = true;
            break;
        }
        if outcome.status == TestStatus::Skipped || !covered(outcome.run_id) {
            continue;
        }
        runs += 1;
        retried += u64::from(outcome.passed_after_retry);
        let failed = outcome.status.is_failure();
        if let Some((newer_failed, newer_run)) = newer {
            if newer_failed != failed {
                switches += 1;
                // Read newest first: the first switch found is the last one.
                last_switch_run.get_or_insert(newer_run);
            }
        }
        newer = Some((failed, outcome.run_id));
    }
    // A strip that is not full holds the test's whole history; a full one holds everything from
    // its first entry on, which is enough when that entry is the oldest covered run or older.
    let whole =
        reached_older || read < STRIP_LENGTH || first_read.is_some_and(|r| r <= oldest_covered);
    if !whole {
        return Ok(None);
    }
    Ok(Some(Flakiness::from_counts(
        runs,
        switches,
        retried,
        last_switch_run,
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;
    use crate::quality::flakiness;

    fn outcome(run_id: i64, status: TestStatus, retried: bool) -> RunOutcome {
        RunOutcome {
            run_id,
            status,
            passed_after_retry: retried && status == TestStatus::Passed,
        }
    }

    #[test]
    fn a_strip_round_trips_and_a_later_push_into_a_run_replaces_its_outcome() {
        let mut strip = OutcomeStrip::default();
        strip.record(outcome(12, TestStatus::Passed, false));
        strip.record(outcome(19, TestStatus::Passed, true));
        strip.record(outcome(15, TestStatus::Failed, false));
        assert_eq!(strip.encode(), "p12,f15,r19");
        strip.record(outcome(15, TestStatus::Errored, false));
        assert_eq!(strip.encode(), "p12,e15,r19");
        assert_eq!(OutcomeStrip::parse(&strip.encode()).unwrap(), strip);
        assert_eq!(OutcomeStrip::parse("").unwrap(), OutcomeStrip::default());
    }

    #[test]
    fn a_full_strip_drops_its_oldest_outcome_and_says_when_it_cannot_answer() {
        let mut strip = OutcomeStrip::default();
        for run in 1..=(STRIP_LENGTH as i64 + 10) {
            strip.record(outcome(run, TestStatus::Passed, false));
        }
        assert_eq!(strip.outcomes().len(), STRIP_LENGTH);
        assert_eq!(strip.outcomes()[0].run_id, 11);
        let text = strip.encode();
        assert_eq!(judge_within(&text, 11, |_| true).unwrap().unwrap().runs, 64);
        assert_eq!(judge_within(&text, 40, |_| true).unwrap().unwrap().runs, 35);
        assert_eq!(judge_within(&text, 10, |_| true).unwrap(), None);
    }

    #[test]
    fn a_corrupt_strip_is_named_not_guessed() {
        for text in ["x12", "p", "p12,q3", "p1x", "p99999999999999999999999"] {
            let error = OutcomeStrip::parse(text).unwrap_err();
            assert!(error.to_string().contains("strip entry"), "{text}");
        }
        for text in [
            "p1,zz",
            "p1,",
            "p1;f2",
            "p",
            "12",
            "p99999999999999999999999",
        ] {
            assert!(judge_within(text, 0, |_| true).is_err(), "{text}");
        }
    }

    fn status() -> impl Strategy<Value = TestStatus> {
        prop_oneof![
            4 => Just(TestStatus::Passed),
            2 => Just(TestStatus::Failed),
            1 => Just(TestStatus::Errored),
            1 => Just(TestStatus::Skipped),
        ]
    }

    proptest! {
        /// Pushes in any order, merges into older runs included: whenever the strip can answer
        /// for a set of covered runs, its answer is the judgement of the whole history.
        #[test]
        fn the_strip_answers_like_the_whole_history(
            pushes in proptest::collection::vec((1i64..120, status(), any::<bool>()), 0..200),
            covered in proptest::collection::btree_set(1i64..120, 1..40),
        ) {
            let mut strip = OutcomeStrip::default();
            let mut history: BTreeMap<i64, RunOutcome> = BTreeMap::new();
            for (run, status, retried) in pushes {
                let o = outcome(run, status, retried);
                strip.record(o);
                history.insert(run, o);
            }
            let text = strip.encode();
            prop_assert_eq!(OutcomeStrip::parse(&text).unwrap(), strip);
            let covered: BTreeSet<i64> = covered;
            let oldest = *covered.iter().next().expect("at least one covered run");
            let expected: Vec<RunOutcome> =
                history.values().filter(|o| covered.contains(&o.run_id)).copied().collect();
            match judge_within(&text, oldest, |run| covered.contains(&run)).unwrap() {
                Some(found) => prop_assert_eq!(found, flakiness(&expected)),
                // It declines only when it is full: then it cannot tell whether outcomes were
                // dropped from it (the caller recounts the results instead).
                None => prop_assert!(history.len() >= STRIP_LENGTH),
            }
        }
    }
}
