//! A testcase while it is read: its fields, cut at their bounds, and its attempts (the outcome
//! and Surefire's reruns), put in the order they ran when the testcase closes.

use slipway_core::quality::{Attempt, BoundedText, ReportedTest, TestStatus};

use super::text::cut_at_char;
use crate::bounded::Position;

/// A field being read, cut at its bound.
#[derive(Default)]
pub(super) struct Field {
    pub(super) text: String,
    pub(super) truncated: bool,
}

impl Field {
    pub(super) fn push(&mut self, more: &str, limit: usize) {
        if self.truncated {
            return;
        }
        let room = limit.saturating_sub(self.text.len());
        if more.len() <= room {
            self.text.push_str(more);
        } else {
            self.text.push_str(cut_at_char(more, room));
            self.truncated = true;
        }
    }

    fn into_bounded(self) -> Option<BoundedText> {
        if self.text.trim().is_empty() && !self.truncated {
            return None;
        }
        Some(BoundedText {
            text: self.text,
            truncated: self.truncated,
        })
    }
}

pub(super) struct AttemptBuilder {
    pub(super) status: TestStatus,
    pub(super) message: Option<BoundedText>,
    pub(super) failure_type: Option<String>,
    pub(super) detail: Field,
    pub(super) out: Field,
    pub(super) err: Field,
    pub(super) duration_ms: Option<u64>,
}

impl AttemptBuilder {
    pub(super) fn new(status: TestStatus) -> Self {
        AttemptBuilder {
            status,
            message: None,
            failure_type: None,
            detail: Field::default(),
            out: Field::default(),
            err: Field::default(),
            duration_ms: None,
        }
    }

    fn build(self, truncated: &mut u64) -> Attempt {
        let fields = [self.detail, self.out, self.err].map(|f| {
            *truncated += u64::from(f.truncated);
            f.into_bounded()
        });
        let [detail, system_out, system_err] = fields;
        Attempt {
            status: self.status,
            message: self.message,
            failure_type: self.failure_type,
            detail,
            system_out,
            system_err,
            duration_ms: self.duration_ms,
        }
    }
}

pub(super) struct CaseBuilder {
    pub(super) position: Position,
    pub(super) name: Option<String>,
    pub(super) classname: Option<String>,
    pub(super) file: Option<String>,
    pub(super) duration_ms: Option<u64>,
    pub(super) explicit_id: Option<String>,
    pub(super) parameters: Option<String>,
    /// A `failure`, `error` or `skipped` directly inside; none means passed.
    pub(super) outcome: Option<AttemptBuilder>,
    /// Surefire's `rerun*` (failed again) and `flaky*` (passed in the end), in report order.
    pub(super) reruns: Vec<(bool, AttemptBuilder)>,
    pub(super) out: Field,
    pub(super) err: Field,
    pub(super) broken: Option<String>,
}

impl CaseBuilder {
    pub(super) fn new(position: Position) -> Self {
        CaseBuilder {
            position,
            name: None,
            classname: None,
            file: None,
            duration_ms: None,
            explicit_id: None,
            parameters: None,
            outcome: None,
            reruns: Vec::new(),
            out: Field::default(),
            err: Field::default(),
            broken: None,
        }
    }

    /// The test this testcase reports, its attempts in the order they ran; `truncated` counts
    /// the fields that were cut.
    pub(super) fn finish(self, suite: &str, truncated: &mut u64) -> ReportedTest {
        let mut main = self
            .outcome
            .unwrap_or_else(|| AttemptBuilder::new(TestStatus::Passed));
        main.duration_ms = self.duration_ms;
        // Output directly in the testcase belongs to its final (main) run.
        main.out = self.out;
        main.err = self.err;
        let mut attempts = Vec::with_capacity(self.reruns.len() + 1);
        let main_failed = main.status.is_failure();
        let (flaky, reruns): (Vec<_>, Vec<_>) = self.reruns.into_iter().partition(|r| r.0);
        // flaky*: failed runs before the final pass; rerun*: failed runs after the first failure.
        attempts.extend(flaky.into_iter().map(|r| r.1.build(truncated)));
        if main_failed {
            attempts.push(main.build(truncated));
            attempts.extend(reruns.into_iter().map(|r| r.1.build(truncated)));
        } else {
            attempts.extend(reruns.into_iter().map(|r| r.1.build(truncated)));
            attempts.push(main.build(truncated));
        }
        ReportedTest {
            suite: suite.to_string(),
            classname: self.classname,
            name: self.name.unwrap_or_default(),
            explicit_id: self.explicit_id,
            parameters: self.parameters,
            file: self.file,
            attempts,
        }
    }
}
