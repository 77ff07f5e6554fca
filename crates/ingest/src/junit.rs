//! JUnit XML in the dialects people produce — Maven Surefire/Failsafe (with `rerunFailure`,
//! `rerunError`, `flakyFailure`, `flakyError`), Gradle (with or without `mergeReruns`), pytest
//! (with pytest-rerunfailures' repeated testcases), Jest and Vitest, go-junit-report — read as a
//! stream of tokens (`markup`) into [`ReportedTest`]s, one per `<testcase>`, handed to the caller as they
//! complete.
//!
//! It never builds the document, never expands a DTD or an entity (an unknown entity stays as
//! written), bounds every field it keeps, and skips a broken testcase with its position rather than
//! refusing the file. It refuses a file only when it is not XML, not JUnit, or cut short.

mod case;
mod text;

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;

use flate2::read::MultiGzDecoder;
use slipway_core::quality::{BoundedText, ReportedTest, TestStatus};

use crate::bounded::Position;
use crate::markup::{split_attributes, AttributeRange, Token, TokenError, Tokenizer};
use case::{AttemptBuilder, CaseBuilder, Field};
pub(crate) use text::cut_at_char;
use text::{decode, parse_seconds};

/// The bounds a report is read within. Memory stays within a few times `max_run_bytes` plus what
/// the caller keeps of each test, whatever the size of the report.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A failure message, stack trace or `system-out` keeps this many bytes; more is marked truncated.
    pub max_field_bytes: usize,
    /// A name, classname, file or property value keeps this many bytes.
    pub max_name_bytes: usize,
    /// No tag, DOCTYPE or text is buffered beyond this many bytes.
    pub max_run_bytes: usize,
    /// Elements nest at most this deep.
    pub max_depth: usize,
    /// The report, once decompressed, is at most this large.
    pub max_input_bytes: u64,
    /// Problems listed one by one; more are only counted.
    pub max_problems: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_field_bytes: 64 * 1024,
            max_name_bytes: 2048,
            max_run_bytes: 1024 * 1024,
            max_depth: 256,
            max_input_bytes: 4 * 1024 * 1024 * 1024,
            max_problems: 100,
        }
    }
}

/// Something in the report that was not read, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub position: Position,
    pub message: String,
}

/// What reading a report gave besides its tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JunitSummary {
    /// `<testcase>` elements read and handed over.
    pub testcases: u64,
    /// Broken testcases skipped.
    pub skipped_testcases: u64,
    /// The first problems, in report order.
    pub problems: Vec<Problem>,
    /// Problems beyond the listed ones.
    pub problems_not_listed: u64,
    /// Fields cut to their bound.
    pub truncated_fields: u64,
}

/// Why a report was refused as a whole; nothing of it should be kept.
#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("the report is not well-formed XML at {position}: {reason}")]
    Malformed { position: Position, reason: String },
    #[error("the report is not JUnit XML: {reason} (at {position}); expected a <testsuites> or <testsuite> root element")]
    NotJunit { position: Position, reason: String },
    #[error("the report ends at {position} inside <{element}>; the file was probably cut short: push it again once it is complete")]
    CutShort { position: Position, element: String },
    #[error("the report nests elements deeper than {limit} at {position}; JUnit reports nest a few levels")]
    TooDeep { position: Position, limit: usize },
    #[error("a tag at {position} is longer than {limit} bytes")]
    TagTooLong { position: Position, limit: usize },
    #[error("the DOCTYPE at {position} is longer than {limit} bytes; JUnit reports need none")]
    DoctypeTooLong { position: Position, limit: usize },
    #[error("the report is larger than {limit} bytes once decompressed")]
    TooLarge { limit: u64 },
    #[error("the gzip stream is broken at {position}: {reason}")]
    BrokenGzip { position: Position, reason: String },
    #[error("the report could not be read: {0}")]
    Io(std::io::Error),
}

impl JunitError {
    /// Where in the report the problem is, when it has a place.
    pub fn position(&self) -> Option<Position> {
        match self {
            JunitError::Malformed { position, .. }
            | JunitError::NotJunit { position, .. }
            | JunitError::CutShort { position, .. }
            | JunitError::TooDeep { position, .. }
            | JunitError::TagTooLong { position, .. }
            | JunitError::DoctypeTooLong { position, .. }
            | JunitError::BrokenGzip { position, .. } => Some(*position),
            JunitError::TooLarge { .. } | JunitError::Io(_) => None,
        }
    }
}

/// How much of the report is read at once.
const CHUNK_BYTES: usize = 256 * 1024;

/// Read a JUnit report, plain or gzip (detected from its first bytes), handing each testcase
/// to `on_test` as soon as it is complete.
pub fn read_junit<R: Read>(
    input: R,
    limits: &Limits,
    on_test: impl FnMut(ReportedTest),
) -> Result<JunitSummary, JunitError> {
    read_in_chunks(input, limits, CHUNK_BYTES, on_test)
}

/// [`read_junit`], reading `chunk` bytes at a time (tests read with tiny chunks: what a report
/// gives must not depend on where the reads cut it).
pub(crate) fn read_in_chunks<R: Read>(
    input: R,
    limits: &Limits,
    chunk: usize,
    mut on_test: impl FnMut(ReportedTest),
) -> Result<JunitSummary, JunitError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, input);
    let head = buffered.fill_buf().map_err(JunitError::Io)?;
    let gzip = head.starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn Read> = if gzip {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut tokens = Tokenizer::new(decoded, chunk, limits.max_run_bytes, limits.max_input_bytes);
    let mut reading = Reading {
        limits,
        summary: JunitSummary::default(),
        stack: Vec::new(),
        names: Vec::new(),
        open_tags: 0,
        suites: Vec::new(),
        suite_path: String::new(),
        case: None,
        capture: None,
        root_seen: false,
        leading_text: None,
        attributes: Vec::new(),
        unescaped: String::new(),
    };
    loop {
        let (at, token) = match tokens.next_token() {
            Ok(next) => next,
            Err(error) => {
                let position = tokens.position();
                return Err(reading.refusal(error, position, gzip));
            }
        };
        if reading.leading_text.is_some() && !matches!(token, Token::Text { .. }) {
            return Err(reading.leading_error());
        }
        let root_closed = match token {
            Token::Start { content, empty } => reading.open(content, empty, at, &mut on_test)?,
            Token::End { name } => reading.end_tag(name, at, &mut on_test)?,
            Token::Text { raw, cdata } => {
                reading.text(raw, cdata, at)?;
                false
            }
            Token::Eof => {
                let position = tokens.position();
                return Err(reading.ended(position));
            }
        };
        if root_closed {
            return Ok(reading.summary);
        }
    }
}

/// The position after `passed`, read from `from`.
fn advance(from: Position, passed: &[u8]) -> Position {
    match memchr::memrchr(b'\n', passed) {
        Some(last) => Position {
            line: from.line + memchr::memchr_iter(b'\n', passed).count() as u64,
            column: (passed.len() - last) as u64,
        },
        None => Position {
            line: from.line,
            column: from.column + passed.len() as u64,
        },
    }
}

/// What an open element is, as far as JUnit goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Suites,
    Suite,
    Case,
    /// `failure`, `error`, `skipped` directly in a testcase.
    Outcome,
    /// `rerunFailure`, `flakyError`… in a testcase.
    Rerun,
    Output,
    Properties,
    Property,
    Other,
}

struct Open {
    kind: Kind,
    /// The element's name as [`name_key`] keeps it, in `Reading::names`.
    key: Range<usize>,
}

/// Names longer than this are kept as their first bytes and a hash of the whole.
const NAME_KEPT: usize = 64;

/// The bytes an open element's name is matched by: the name itself, or for a long one its first
/// bytes and a hash, so the stack holds at most a few dozen bytes per element.
fn name_key(name: &[u8], keys: &mut Vec<u8>) {
    if name.len() <= NAME_KEPT {
        keys.extend_from_slice(name);
    } else {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        name.hash(&mut hasher);
        keys.extend_from_slice(&name[..NAME_KEPT]);
        keys.extend_from_slice(&hasher.finish().to_le_bytes());
    }
}

/// The name as a message shows it.
fn shown_name(key: &[u8]) -> Cow<'_, str> {
    decode(&key[..key.len().min(NAME_KEPT)], false)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    OutcomeDetail,
    CaseOut,
    CaseErr,
    RerunDetail,
    RerunOut,
    RerunErr,
}

/// Everything known while the tokens pass: open elements, the testcase being read, the summary.
/// Names and attribute values are read from the tokenizer's buffer; only what a test keeps is
/// copied.
struct Reading<'l> {
    limits: &'l Limits,
    summary: JunitSummary,
    stack: Vec<Open>,
    /// The open elements' name keys, one after the other.
    names: Vec<u8>,
    /// Start tags not yet ended, however the end tags matched: an end tag with none open is
    /// not XML.
    open_tags: usize,
    suites: Vec<String>,
    /// The open suites' names joined, as each test gives it.
    suite_path: String,
    case: Option<CaseBuilder>,
    capture: Option<Capture>,
    root_seen: bool,
    /// Text met before the root element: where it starts and its first bytes.
    leading_text: Option<(Position, Vec<u8>)>,
    /// The current tag's attributes, reused from tag to tag.
    attributes: Vec<AttributeRange>,
    /// A captured text with its escapes resolved, reused from text to text.
    unescaped: String,
}

/// A tag's attributes, looked up by name and decoded (borrowed unless an escape was resolved).
struct Attributes<'a> {
    content: &'a [u8],
    ranges: &'a [AttributeRange],
}

impl<'a> Attributes<'a> {
    fn get(&self, name: &str) -> Option<Cow<'a, str>> {
        let content: &'a [u8] = self.content;
        self.ranges
            .iter()
            .find(|(key, _)| &content[key.clone()] == name.as_bytes())
            .map(|(_, value)| decode(&content[value.clone()], true))
    }
}

impl Reading<'_> {
    fn problem(&mut self, position: Position, message: String) {
        if self.summary.problems.len() < self.limits.max_problems {
            self.summary.problems.push(Problem { position, message });
        } else {
            self.summary.problems_not_listed += 1;
        }
    }

    fn refusal(&self, error: TokenError, position: Position, gzip: bool) -> JunitError {
        match error {
            TokenError::TagTooLong { limit } => JunitError::TagTooLong { position, limit },
            TokenError::DoctypeTooLong { limit } => JunitError::DoctypeTooLong { position, limit },
            TokenError::TooLarge { limit } => JunitError::TooLarge { limit },
            TokenError::Malformed(reason) => JunitError::Malformed { position, reason },
            TokenError::UnexpectedEof(inside) => match self.stack.last() {
                Some(open) => JunitError::CutShort {
                    position,
                    element: shown_name(&self.names[open.key.clone()]).into_owned(),
                },
                None => JunitError::Malformed {
                    position,
                    reason: format!("the file ends inside {inside}"),
                },
            },
            TokenError::Io(io) if gzip => JunitError::BrokenGzip {
                position,
                reason: io.to_string(),
            },
            TokenError::Io(io) => JunitError::Io(io),
        }
    }

    /// The input ended with the root element still open, or before any element.
    fn ended(&self, position: Position) -> JunitError {
        match self.stack.last() {
            Some(open) => JunitError::CutShort {
                position,
                element: shown_name(&self.names[open.key.clone()]).into_owned(),
            },
            None => JunitError::NotJunit {
                position,
                reason: "it holds no element at all".into(),
            },
        }
    }

    fn text(&mut self, raw: &[u8], cdata: bool, at: Position) -> Result<(), JunitError> {
        if !self.root_seen {
            return self.text_before_root(raw, cdata, at);
        }
        let limit = self.limits.max_field_bytes;
        let (Some(capture), Some(case)) = (self.capture, self.case.as_mut()) else {
            return Ok(());
        };
        let field = match capture {
            Capture::OutcomeDetail => case.outcome.as_mut().map(|o| &mut o.detail),
            Capture::CaseOut => Some(&mut case.out),
            Capture::CaseErr => Some(&mut case.err),
            Capture::RerunDetail => case.reruns.last_mut().map(|r| &mut r.1.detail),
            Capture::RerunOut => case.reruns.last_mut().map(|r| &mut r.1.out),
            Capture::RerunErr => case.reruns.last_mut().map(|r| &mut r.1.err),
        };
        let Some(field) = field.filter(|f| !f.truncated) else {
            return Ok(());
        };
        let text = decode(raw, false);
        if cdata || memchr::memchr(b'&', raw).is_none() {
            field.push(&text, limit);
        } else {
            // Unescaped into a buffer kept from text to text: no allocation per field.
            self.unescaped.clear();
            text::unescape_into(&text, &mut self.unescaped);
            field.push(&self.unescaped, limit);
        }
        Ok(())
    }

    /// Text before the root element: whitespace is fine; anything else is not JUnit, shown by its
    /// first bytes (gathered across pieces, so the message does not depend on the reads).
    fn text_before_root(
        &mut self,
        raw: &[u8],
        cdata: bool,
        at: Position,
    ) -> Result<(), JunitError> {
        const SHOWN: usize = 20;
        if let Some((_, shown)) = self.leading_text.as_mut() {
            shown.extend_from_slice(&raw[..raw.len().min(SHOWN - shown.len())]);
        } else if let Some(first) = raw.iter().position(|b| !b.is_ascii_whitespace()) {
            if cdata {
                return Ok(());
            }
            let shown = raw[first..raw.len().min(first + SHOWN)].to_vec();
            self.leading_text = Some((advance(at, &raw[..first]), shown));
        }
        match &self.leading_text {
            Some((_, shown)) if shown.len() >= SHOWN => Err(self.leading_error()),
            _ => Ok(()),
        }
    }

    /// The refusal of a report that starts with text (see [`Reading::text_before_root`]).
    fn leading_error(&self) -> JunitError {
        let (position, shown) = match &self.leading_text {
            Some((position, shown)) => (*position, shown.as_slice()),
            None => (Position { line: 1, column: 1 }, &[][..]),
        };
        let start = String::from_utf8_lossy(shown).trim_end().to_string();
        JunitError::NotJunit {
            position,
            reason: format!("it starts with text ({start:?}), not an XML element"),
        }
    }

    /// A start tag (or an empty element, opened and closed at once); `true` once the root closed.
    fn open(
        &mut self,
        content: &[u8],
        empty: bool,
        position: Position,
        on_test: &mut impl FnMut(ReportedTest),
    ) -> Result<bool, JunitError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(JunitError::TooDeep {
                position,
                limit: self.limits.max_depth,
            });
        }
        let name = &content[..crate::markup::name_length(content)];
        let parent = self.stack.last().map(|o| o.kind);
        let kind = match (parent, name) {
            (None, b"testsuites") => Kind::Suites,
            (None, b"testsuite") | (Some(Kind::Suites | Kind::Suite), b"testsuite") => Kind::Suite,
            (None, other) => {
                return Err(JunitError::NotJunit {
                    position,
                    reason: format!(
                        "the root element is <{}>",
                        cut_at_char(&decode(other, false), 64)
                    ),
                })
            }
            (Some(Kind::Suite | Kind::Suites), b"testcase") => Kind::Case,
            (Some(Kind::Case), b"failure" | b"error" | b"skipped") => Kind::Outcome,
            (
                Some(Kind::Case),
                b"rerunFailure" | b"rerunError" | b"flakyFailure" | b"flakyError",
            ) => Kind::Rerun,
            (Some(Kind::Case | Kind::Rerun), b"system-out" | b"system-err") => Kind::Output,
            (Some(Kind::Rerun), b"stackTrace") => Kind::Output,
            (Some(Kind::Case | Kind::Suite | Kind::Suites), b"properties") => Kind::Properties,
            (Some(Kind::Properties), b"property") => Kind::Property,
            _ => Kind::Other,
        };
        self.root_seen = true;
        let mut ranges = std::mem::take(&mut self.attributes);
        let broken = split_attributes(content, &mut ranges)
            .err()
            .map(|why| format!("an attribute cannot be read: {why}"));
        let attributes = Attributes {
            content,
            ranges: &ranges,
        };
        match kind {
            Kind::Suite => {
                let suite_name = attributes.get("name").unwrap_or_default();
                let suite_name = self.bounded_name(&suite_name);
                self.suites.push(suite_name);
                self.suite_path = self.suites.join(" / ");
            }
            Kind::Case => self.start_case(position, &attributes),
            Kind::Outcome => self.start_outcome(name, &attributes),
            Kind::Rerun => self.start_rerun(name, &attributes),
            Kind::Output => {
                self.capture = match (parent, name) {
                    (Some(Kind::Case), b"system-out") => Some(Capture::CaseOut),
                    (Some(Kind::Case), _) => Some(Capture::CaseErr),
                    (_, b"system-out") => Some(Capture::RerunOut),
                    (_, b"system-err") => Some(Capture::RerunErr),
                    _ => Some(Capture::RerunDetail),
                };
            }
            Kind::Property => self.take_property(&attributes),
            Kind::Suites | Kind::Properties | Kind::Other => {}
        }
        self.attributes = ranges;
        if let Some(broken) = broken {
            if let Some(case) = self.case.as_mut() {
                case.broken.get_or_insert(broken);
            }
        }
        let key_start = self.names.len();
        name_key(name, &mut self.names);
        self.stack.push(Open {
            kind,
            key: key_start..self.names.len(),
        });
        if empty {
            self.close(name, position, on_test);
            return Ok(self.stack.is_empty());
        }
        self.open_tags += 1;
        Ok(false)
    }

    /// An end tag; `true` once the root closed.
    fn end_tag(
        &mut self,
        name: &[u8],
        position: Position,
        on_test: &mut impl FnMut(ReportedTest),
    ) -> Result<bool, JunitError> {
        let Some(open_tags) = self.open_tags.checked_sub(1) else {
            return Err(JunitError::Malformed {
                position,
                reason: format!(
                    "</{}> ends an element while none is open",
                    cut_at_char(&decode(name, false), 64)
                ),
            });
        };
        self.open_tags = open_tags;
        self.close(name, position, on_test);
        Ok(self.root_seen && self.stack.is_empty())
    }

    fn bounded_name(&mut self, text: &str) -> String {
        if text.len() > self.limits.max_name_bytes {
            self.summary.truncated_fields += 1;
            format!("{}…", cut_at_char(text, self.limits.max_name_bytes))
        } else {
            text.to_string()
        }
    }

    fn start_case(&mut self, position: Position, attributes: &Attributes) {
        let mut case = CaseBuilder::new(position);
        let name = attributes.get("name").filter(|n| !n.trim().is_empty());
        if name.is_none() {
            case.broken = Some("the testcase has no name attribute; add name=\"…\"".into());
        }
        if let Some(time) = attributes.get("time") {
            case.duration_ms = parse_seconds(&time);
            if case.duration_ms.is_none() {
                case.broken.get_or_insert(format!(
                    "time={:?} is not a number of seconds (e.g. time=\"1.5\")",
                    cut_at_char(&time, 40)
                ));
            }
        }
        case.name = name.map(|n| self.bounded_name(&n));
        case.classname = attributes
            .get("classname")
            .or_else(|| attributes.get("class"))
            .map(|c| self.bounded_name(&c));
        case.file = attributes.get("file").map(|f| self.bounded_name(&f));
        self.case = Some(case);
    }

    fn start_outcome(&mut self, element: &[u8], attributes: &Attributes) {
        let status = match element {
            b"failure" => TestStatus::Failed,
            b"error" => TestStatus::Errored,
            _ => TestStatus::Skipped,
        };
        let attempt = self.attempt(status, attributes);
        if let Some(case) = self.case.as_mut() {
            // Two outcomes in one testcase: the worse one wins, failures over skips.
            let keep_old = case
                .outcome
                .as_ref()
                .is_some_and(|old| old.status.is_failure() && !status.is_failure());
            if !keep_old {
                case.outcome = Some(attempt);
            }
            self.capture = (!keep_old).then_some(Capture::OutcomeDetail);
        }
    }

    fn start_rerun(&mut self, element: &[u8], attributes: &Attributes) {
        let (status, flaky) = match element {
            b"rerunFailure" => (TestStatus::Failed, false),
            b"rerunError" => (TestStatus::Errored, false),
            b"flakyFailure" => (TestStatus::Failed, true),
            _ => (TestStatus::Errored, true),
        };
        let mut attempt = self.attempt(status, attributes);
        attempt.duration_ms = attributes.get("time").and_then(|t| parse_seconds(&t));
        if let Some(case) = self.case.as_mut() {
            if case.reruns.len() < 100 {
                case.reruns.push((flaky, attempt));
                self.capture = Some(Capture::RerunDetail);
            }
        }
    }

    fn attempt(&mut self, status: TestStatus, attributes: &Attributes) -> AttemptBuilder {
        let mut attempt = AttemptBuilder::new(status);
        attempt.message = attributes.get("message").map(|m| {
            let mut field = Field::default();
            field.push(&m, self.limits.max_field_bytes);
            self.summary.truncated_fields += u64::from(field.truncated);
            BoundedText {
                text: field.text,
                truncated: field.truncated,
            }
        });
        attempt.failure_type = attributes
            .get("type")
            .filter(|t| !t.is_empty())
            .map(|t| self.bounded_name(&t));
        attempt
    }

    fn take_property(&mut self, attributes: &Attributes) {
        let Some(case) = self.case.as_mut() else {
            return;
        };
        let (Some(name), Some(value)) = (attributes.get("name"), attributes.get("value")) else {
            return;
        };
        let value = cut_at_char(&value, self.limits.max_name_bytes).to_string();
        match &*name {
            "test_id" | "test-id" | "testId" | "testCaseId" | "test_case_id" | "id" => {
                case.explicit_id = Some(value)
            }
            "parameters" | "params" => case.parameters = Some(value),
            _ => {}
        }
    }

    /// Close the element `name`; an end tag that does not match the open element breaks the
    /// testcase it is in and closes up to the element it does match.
    fn close(&mut self, name: &[u8], position: Position, on_test: &mut impl FnMut(ReportedTest)) {
        let mut long_key = Vec::new();
        let key: &[u8] = if name.len() <= NAME_KEPT {
            name
        } else {
            name_key(name, &mut long_key);
            &long_key
        };
        let Some(depth) = self
            .stack
            .iter()
            .rposition(|o| &self.names[o.key.clone()] == key)
        else {
            let shown = cut_at_char(&decode(name, false), 64).to_string();
            if let Some(case) = self.case.as_mut() {
                case.broken.get_or_insert(format!(
                    "</{shown}> at {position} closes nothing that is open"
                ));
            } else {
                self.problem(
                    position,
                    format!("</{shown}> closes nothing that is open; ignored"),
                );
            }
            return;
        };
        if depth + 1 < self.stack.len() {
            let shown = cut_at_char(&decode(name, false), 64).to_string();
            let innermost = self.stack.last().expect("the stack is deeper than depth");
            let message = format!(
                "</{shown}> at {position} closes <{shown}> that is not the innermost open element (<{}>)",
                shown_name(&self.names[innermost.key.clone()])
            );
            if let Some(case) = self.case.as_mut() {
                case.broken.get_or_insert(message);
            } else {
                self.problem(position, message);
            }
        }
        while self.stack.len() > depth {
            let open = self.stack.pop().expect("the stack is deeper than depth");
            self.names.truncate(open.key.start);
            match open.kind {
                Kind::Suite => {
                    self.suites.pop();
                    self.suite_path = self.suites.join(" / ");
                }
                Kind::Case => self.finish_case(on_test),
                Kind::Outcome | Kind::Rerun | Kind::Output => self.capture = None,
                _ => {}
            }
        }
    }

    fn finish_case(&mut self, on_test: &mut impl FnMut(ReportedTest)) {
        self.capture = None;
        let Some(mut case) = self.case.take() else {
            return;
        };
        self.summary.testcases += 1;
        if let Some(reason) = case.broken.take() {
            self.summary.skipped_testcases += 1;
            self.problem(case.position, format!("testcase skipped: {reason}"));
            return;
        }
        on_test(case.finish(&self.suite_path, &mut self.summary.truncated_fields));
    }
}

#[cfg(test)]
mod tests;
