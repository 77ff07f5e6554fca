//! JUnit XML in the dialects people produce — Maven Surefire/Failsafe (with `rerunFailure`,
//! `rerunError`, `flakyFailure`, `flakyError`), Gradle (with or without `mergeReruns`), pytest
//! (with pytest-rerunfailures' repeated testcases), Jest and Vitest, go-junit-report — read as a
//! stream of events into [`ReportedTest`]s, one per `<testcase>`, handed to the caller as they
//! complete.
//!
//! It never builds the document, never expands a DTD or an entity (an unknown entity stays as
//! written), bounds every field it keeps, and skips a broken testcase with its position rather than
//! refusing the file. It refuses a file only when it is not XML, not JUnit, or cut short.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read};

use flate2::read::MultiGzDecoder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use slipway_core::quality::{Attempt, BoundedText, ReportedTest, TestStatus};

use crate::bounded::{BoundedInput, InputRefusal, Position};

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

/// Read a JUnit report, plain or gzip (detected from its first bytes), handing each testcase
/// to `on_test` as soon as it is complete.
pub fn read_junit<R: Read>(
    input: R,
    limits: &Limits,
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
    let bounded = BoundedInput::new(decoded, limits.max_run_bytes, limits.max_input_bytes);
    let mut parser = Parser {
        reader: Reader::from_reader(bounded),
        limits,
        summary: JunitSummary::default(),
        stack: Vec::new(),
        suites: Vec::new(),
        suite_path: String::new(),
        case: None,
        capture: None,
        root_seen: false,
        gzip,
        event_start: Position { line: 1, column: 1 },
    };
    let config = parser.reader.config_mut();
    config.check_end_names = false;
    config.expand_empty_elements = false;
    config.trim_text(false);
    parser.run(&mut on_test)?;
    Ok(parser.summary)
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
    /// A hash of the element's name, to match its end tag without keeping a long name.
    name_hash: u64,
    /// For messages: JUnit's own names are not copied (most elements of a report are these).
    name: Cow<'static, str>,
}

/// The element names a JUnit report is made of, as static strings.
fn junit_name(name: &str) -> Option<&'static str> {
    const NAMES: [&str; 15] = [
        "testsuites",
        "testsuite",
        "testcase",
        "failure",
        "error",
        "skipped",
        "rerunFailure",
        "rerunError",
        "flakyFailure",
        "flakyError",
        "system-out",
        "system-err",
        "stackTrace",
        "properties",
        "property",
    ];
    NAMES.into_iter().find(|n| *n == name)
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

/// A field being read, cut at its bound.
#[derive(Default)]
struct Field {
    text: String,
    truncated: bool,
}

impl Field {
    fn push(&mut self, more: &str, limit: usize) {
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

struct AttemptBuilder {
    status: TestStatus,
    message: Option<BoundedText>,
    failure_type: Option<String>,
    detail: Field,
    out: Field,
    err: Field,
    duration_ms: Option<u64>,
}

impl AttemptBuilder {
    fn new(status: TestStatus) -> Self {
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

struct CaseBuilder {
    position: Position,
    name: Option<String>,
    classname: Option<String>,
    file: Option<String>,
    duration_ms: Option<u64>,
    explicit_id: Option<String>,
    parameters: Option<String>,
    /// A `failure`, `error` or `skipped` directly inside; none means passed.
    outcome: Option<AttemptBuilder>,
    /// Surefire's `rerun*` (failed again) and `flaky*` (passed in the end), in report order.
    reruns: Vec<(bool, AttemptBuilder)>,
    out: Field,
    err: Field,
    broken: Option<String>,
}

struct Parser<'l, R: Read> {
    reader: Reader<BoundedInput<R>>,
    limits: &'l Limits,
    summary: JunitSummary,
    stack: Vec<Open>,
    suites: Vec<String>,
    /// The open suites' names joined, as each test gives it.
    suite_path: String,
    case: Option<CaseBuilder>,
    capture: Option<Capture>,
    root_seen: bool,
    gzip: bool,
    /// Where the event being handled starts.
    event_start: Position,
}

fn hash_name(name: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut hasher);
    hasher.finish()
}

/// The longest prefix of `text` at most `limit` bytes long that ends on a character boundary.
pub(crate) fn cut_at_char(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Decode bytes as UTF-8 (broken sequences become U+FFFD) and resolve the five XML escapes and
/// character references; anything else (`&lol;`) stays as written, never expanded. Borrowed when
/// nothing needs changing, which is most names and texts: no copy per event.
fn decode(raw: &[u8], escaped: bool) -> Cow<'_, str> {
    let text = String::from_utf8_lossy(raw);
    if !escaped || !text.contains('&') {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest: &str = &text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let reference = rest[1..]
            .find(';')
            .filter(|end| *end <= 12)
            .map(|end| &rest[1..=end]);
        match reference.and_then(resolve_reference) {
            Some(resolved) => {
                out.push(resolved);
                rest = &rest[reference.map_or(0, str::len) + 2..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character a predefined entity or a character reference stands for; `None` for any other
/// entity, which is never expanded.
fn resolve_reference(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number
                .strip_prefix('x')
                .or_else(|| number.strip_prefix('X'))
            {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code).filter(|c| *c != '\0')
        }
    }
}

/// Parse a JUnit `time` in seconds ("1.5", "1,234.5", "0.000") into milliseconds.
pub(crate) fn parse_seconds(text: &str) -> Option<u64> {
    let cleaned: String = text
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '_')
        .collect();
    let seconds: f64 = cleaned.parse().ok()?;
    if !seconds.is_finite() || !(0.0..=1.0e9).contains(&seconds) {
        return None;
    }
    Some((seconds * 1000.0).round() as u64)
}

impl<R: Read> Parser<'_, R> {
    fn position(&self) -> Position {
        self.reader.get_ref().position()
    }

    fn problem(&mut self, position: Position, message: String) {
        if self.summary.problems.len() < self.limits.max_problems {
            self.summary.problems.push(Problem { position, message });
        } else {
            self.summary.problems_not_listed += 1;
        }
    }

    fn refusal(&mut self, error: quick_xml::Error) -> JunitError {
        let position = self.position();
        match self.reader.get_ref().refusal.clone() {
            Some(InputRefusal::TagTooLong { limit }) => JunitError::TagTooLong { position, limit },
            Some(InputRefusal::DoctypeTooLong { limit }) => {
                JunitError::DoctypeTooLong { position, limit }
            }
            Some(InputRefusal::TooLarge { limit }) => JunitError::TooLarge { limit },
            None => match error {
                quick_xml::Error::Io(io) if self.gzip => JunitError::BrokenGzip {
                    position,
                    reason: io.to_string(),
                },
                quick_xml::Error::Io(io) => {
                    JunitError::Io(std::io::Error::new(io.kind(), io.to_string()))
                }
                other => JunitError::Malformed {
                    position,
                    reason: other.to_string(),
                },
            },
        }
    }

    fn run(&mut self, on_test: &mut impl FnMut(ReportedTest)) -> Result<(), JunitError> {
        let mut buf = Vec::with_capacity(4096);
        loop {
            buf.clear();
            // Before reading, the reader stands exactly where the next event starts.
            self.event_start = self.position();
            let event = match self.reader.read_event_into(&mut buf) {
                Ok(event) => event,
                Err(error) => return Err(self.refusal(error)),
            };
            match event {
                Event::Start(start) => self.open(&start, false, on_test)?,
                Event::Empty(start) => self.open(&start, true, on_test)?,
                Event::End(end) => {
                    let hash = hash_name(end.name().as_ref());
                    self.close(hash, end.name().as_ref(), on_test);
                    if self.root_seen && self.stack.is_empty() {
                        return Ok(());
                    }
                }
                Event::Text(text) => {
                    if !self.root_seen {
                        let raw = text.as_ref();
                        if raw.iter().any(|b| !b.is_ascii_whitespace()) {
                            let start: String = String::from_utf8_lossy(&raw[..raw.len().min(20)])
                                .trim()
                                .to_string();
                            return Err(JunitError::NotJunit {
                                position: self.event_start,
                                reason: format!(
                                    "it starts with text ({start:?}), not an XML element"
                                ),
                            });
                        }
                    } else {
                        let decoded = decode(text.as_ref(), true);
                        self.take_text(&decoded);
                    }
                }
                Event::CData(data) => {
                    let decoded = decode(data.as_ref(), false);
                    self.take_text(&decoded);
                }
                Event::Eof => {
                    let position = self.position();
                    return match self.stack.last() {
                        Some(open) => Err(JunitError::CutShort {
                            position,
                            element: open.name.to_string(),
                        }),
                        None => Err(JunitError::NotJunit {
                            position,
                            reason: "it holds no element at all".into(),
                        }),
                    };
                }
                Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
            }
        }
    }

    fn take_text(&mut self, text: &str) {
        let limit = self.limits.max_field_bytes;
        let (Some(capture), Some(case)) = (self.capture, self.case.as_mut()) else {
            return;
        };
        let field = match capture {
            Capture::OutcomeDetail => case.outcome.as_mut().map(|o| &mut o.detail),
            Capture::CaseOut => Some(&mut case.out),
            Capture::CaseErr => Some(&mut case.err),
            Capture::RerunDetail => case.reruns.last_mut().map(|r| &mut r.1.detail),
            Capture::RerunOut => case.reruns.last_mut().map(|r| &mut r.1.out),
            Capture::RerunErr => case.reruns.last_mut().map(|r| &mut r.1.err),
        };
        if let Some(field) = field {
            field.push(text, limit);
        }
    }

    fn open(
        &mut self,
        start: &BytesStart<'_>,
        empty: bool,
        on_test: &mut impl FnMut(ReportedTest),
    ) -> Result<(), JunitError> {
        let position = self.event_start;
        if self.stack.len() >= self.limits.max_depth {
            return Err(JunitError::TooDeep {
                position,
                limit: self.limits.max_depth,
            });
        }
        let raw_name = start.name();
        let name = decode(raw_name.as_ref(), false);
        let attributes = self.attributes(start);
        let parent = self.stack.last().map(|o| o.kind);
        let kind = match (parent, &*name) {
            (None, "testsuites") => Kind::Suites,
            (None, "testsuite") | (Some(Kind::Suites | Kind::Suite), "testsuite") => Kind::Suite,
            (None, other) => {
                return Err(JunitError::NotJunit {
                    position,
                    reason: format!("the root element is <{}>", cut_at_char(other, 64)),
                })
            }
            (Some(Kind::Suite | Kind::Suites), "testcase") => Kind::Case,
            (Some(Kind::Case), "failure" | "error" | "skipped") => Kind::Outcome,
            (Some(Kind::Case), "rerunFailure" | "rerunError" | "flakyFailure" | "flakyError") => {
                Kind::Rerun
            }
            (Some(Kind::Case | Kind::Rerun), "system-out" | "system-err") => Kind::Output,
            (Some(Kind::Rerun), "stackTrace") => Kind::Output,
            (Some(Kind::Case | Kind::Suite | Kind::Suites), "properties") => Kind::Properties,
            (Some(Kind::Properties), "property") => Kind::Property,
            _ => Kind::Other,
        };
        self.root_seen = true;
        match kind {
            Kind::Suite => {
                let suite_name = attribute(&attributes, "name").unwrap_or_default();
                let suite_name = self.bounded_name(suite_name);
                self.suites.push(suite_name);
                self.suite_path = self.suites.join(" / ");
            }
            Kind::Case => self.start_case(position, &attributes),
            Kind::Outcome => self.start_outcome(&name, &attributes),
            Kind::Rerun => self.start_rerun(&name, &attributes),
            Kind::Output => {
                self.capture = match (parent, &*name) {
                    (Some(Kind::Case), "system-out") => Some(Capture::CaseOut),
                    (Some(Kind::Case), _) => Some(Capture::CaseErr),
                    (_, "system-out") => Some(Capture::RerunOut),
                    (_, "system-err") => Some(Capture::RerunErr),
                    _ => Some(Capture::RerunDetail),
                };
            }
            Kind::Property => self.take_property(&attributes),
            Kind::Suites | Kind::Properties | Kind::Other => {}
        }
        if let Some(broken) = attributes.broken {
            if let Some(case) = self.case.as_mut() {
                case.broken.get_or_insert(broken);
            }
        }
        self.stack.push(Open {
            kind,
            name_hash: hash_name(raw_name.as_ref()),
            name: match junit_name(&name) {
                Some(known) => Cow::Borrowed(known),
                None => Cow::Owned(cut_at_char(&name, 64).to_string()),
            },
        });
        if empty {
            let hash = hash_name(raw_name.as_ref());
            self.close(hash, raw_name.as_ref(), on_test);
        }
        Ok(())
    }

    fn bounded_name(&mut self, text: &str) -> String {
        if text.len() > self.limits.max_name_bytes {
            self.summary.truncated_fields += 1;
            format!("{}…", cut_at_char(text, self.limits.max_name_bytes))
        } else {
            text.to_string()
        }
    }

    fn attributes<'a>(&mut self, start: &'a BytesStart<'_>) -> Attributes<'a> {
        let mut found = Attributes::default();
        for attribute in start.attributes().with_checks(true) {
            match attribute {
                Ok(attribute) => {
                    let key = decode(attribute.key.into_inner(), false);
                    let value = match attribute.value {
                        Cow::Borrowed(raw) => decode(raw, true),
                        Cow::Owned(raw) => Cow::Owned(decode(&raw, true).into_owned()),
                    };
                    if found.pairs.len() < 32 {
                        found.pairs.push((key, value));
                    }
                }
                Err(error) => {
                    found.broken = Some(format!("an attribute cannot be read: {error}"));
                    break;
                }
            }
        }
        found
    }

    fn start_case(&mut self, position: Position, attributes: &Attributes) {
        let mut broken = attributes.broken.clone();
        let name = attribute(attributes, "name").filter(|n| !n.trim().is_empty());
        if name.is_none() {
            broken.get_or_insert("the testcase has no name attribute; add name=\"…\"".into());
        }
        let duration_ms = match attribute(attributes, "time") {
            Some(time) => match parse_seconds(time) {
                Some(ms) => Some(ms),
                None => {
                    broken.get_or_insert(format!(
                        "time={:?} is not a number of seconds (e.g. time=\"1.5\")",
                        cut_at_char(time, 40)
                    ));
                    None
                }
            },
            None => None,
        };
        let name = name.map(|n| self.bounded_name(n));
        let classname = attribute(attributes, "classname")
            .or_else(|| attribute(attributes, "class"))
            .map(|c| self.bounded_name(c));
        let file = attribute(attributes, "file").map(|f| self.bounded_name(f));
        self.case = Some(CaseBuilder {
            position,
            name,
            classname,
            file,
            duration_ms,
            explicit_id: None,
            parameters: None,
            outcome: None,
            reruns: Vec::new(),
            out: Field::default(),
            err: Field::default(),
            broken,
        });
    }

    fn start_outcome(&mut self, element: &str, attributes: &Attributes) {
        let status = match element {
            "failure" => TestStatus::Failed,
            "error" => TestStatus::Errored,
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

    fn start_rerun(&mut self, element: &str, attributes: &Attributes) {
        let (status, flaky) = match element {
            "rerunFailure" => (TestStatus::Failed, false),
            "rerunError" => (TestStatus::Errored, false),
            "flakyFailure" => (TestStatus::Failed, true),
            _ => (TestStatus::Errored, true),
        };
        let mut attempt = self.attempt(status, attributes);
        attempt.duration_ms = attribute(attributes, "time").and_then(parse_seconds);
        if let Some(case) = self.case.as_mut() {
            if case.reruns.len() < 100 {
                case.reruns.push((flaky, attempt));
                self.capture = Some(Capture::RerunDetail);
            }
        }
    }

    fn attempt(&mut self, status: TestStatus, attributes: &Attributes) -> AttemptBuilder {
        let mut attempt = AttemptBuilder::new(status);
        attempt.message = attribute(attributes, "message").map(|m| {
            let mut field = Field::default();
            field.push(m, self.limits.max_field_bytes);
            self.summary.truncated_fields += u64::from(field.truncated);
            BoundedText {
                text: field.text,
                truncated: field.truncated,
            }
        });
        attempt.failure_type = attribute(attributes, "type")
            .filter(|t| !t.is_empty())
            .map(|t| self.bounded_name(t));
        attempt
    }

    fn take_property(&mut self, attributes: &Attributes) {
        let Some(case) = self.case.as_mut() else {
            return;
        };
        let (Some(name), Some(value)) = (
            attribute(attributes, "name"),
            attribute(attributes, "value"),
        ) else {
            return;
        };
        let value = cut_at_char(value, self.limits.max_name_bytes).to_string();
        match name {
            "test_id" | "test-id" | "testId" | "testCaseId" | "test_case_id" | "id" => {
                case.explicit_id = Some(value)
            }
            "parameters" | "params" => case.parameters = Some(value),
            _ => {}
        }
    }

    /// Close the element `raw_name`; an end tag that does not match the open element breaks the
    /// testcase it is in and closes up to the element it does match. The name is decoded only
    /// for a message.
    fn close(&mut self, hash: u64, raw_name: &[u8], on_test: &mut impl FnMut(ReportedTest)) {
        let innermost = self.stack.last().is_some_and(|o| o.name_hash == hash);
        let name = if innermost {
            Cow::Borrowed("")
        } else {
            decode(raw_name, false)
        };
        let name = name.as_ref();
        let Some(depth) = self.stack.iter().rposition(|o| o.name_hash == hash) else {
            let position = self.position();
            if let Some(case) = self.case.as_mut() {
                case.broken.get_or_insert(format!(
                    "</{}> at {position} closes nothing that is open",
                    cut_at_char(name, 64)
                ));
            } else {
                self.problem(
                    position,
                    format!(
                        "</{}> closes nothing that is open; ignored",
                        cut_at_char(name, 64)
                    ),
                );
            }
            return;
        };
        if depth + 1 < self.stack.len() {
            let position = self.position();
            let open = &self.stack[self.stack.len() - 1];
            let message = format!(
                "</{}> at {position} closes <{}> that is not the innermost open element (<{}>)",
                cut_at_char(name, 64),
                cut_at_char(name, 64),
                open.name
            );
            if let Some(case) = self.case.as_mut() {
                case.broken.get_or_insert(message);
            } else {
                self.problem(position, message);
            }
        }
        while self.stack.len() > depth {
            let open = self.stack.pop().expect("the stack is deeper than depth");
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
        let Some(case) = self.case.take() else {
            return;
        };
        self.summary.testcases += 1;
        if let Some(reason) = case.broken {
            self.summary.skipped_testcases += 1;
            self.problem(case.position, format!("testcase skipped: {reason}"));
            return;
        }
        let truncated = &mut self.summary.truncated_fields;
        let mut main = case
            .outcome
            .unwrap_or_else(|| AttemptBuilder::new(TestStatus::Passed));
        main.duration_ms = case.duration_ms;
        // Output directly in the testcase belongs to its final (main) run.
        main.out = case.out;
        main.err = case.err;
        let mut attempts = Vec::with_capacity(case.reruns.len() + 1);
        let main_failed = main.status.is_failure();
        let (flaky, reruns): (Vec<_>, Vec<_>) = case.reruns.into_iter().partition(|r| r.0);
        // flaky*: failed runs before the final pass; rerun*: failed runs after the first failure.
        attempts.extend(flaky.into_iter().map(|r| r.1.build(truncated)));
        if main_failed {
            attempts.push(main.build(truncated));
            attempts.extend(reruns.into_iter().map(|r| r.1.build(truncated)));
        } else {
            attempts.extend(reruns.into_iter().map(|r| r.1.build(truncated)));
            attempts.push(main.build(truncated));
        }
        on_test(ReportedTest {
            suite: self.suite_path.clone(),
            classname: case.classname,
            name: case.name.unwrap_or_default(),
            explicit_id: case.explicit_id,
            parameters: case.parameters,
            file: case.file,
            attempts,
        });
    }
}

/// An element's attributes, borrowed from the reader's buffer unless decoding changed them.
#[derive(Default)]
struct Attributes<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    broken: Option<String>,
}

fn attribute<'b>(attributes: &'b Attributes<'_>, name: &str) -> Option<&'b str> {
    attributes
        .pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_with_thousands_separators() {
        assert_eq!(parse_seconds("1,234.5"), Some(1_234_500));
        assert_eq!(parse_seconds(" 0.000 "), Some(0));
        assert_eq!(parse_seconds("2"), Some(2000));
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("soon"), None);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        assert_eq!(cut_at_char("héllo", 2), "h");
        assert_eq!(cut_at_char("héllo", 3), "hé");
    }

    #[test]
    fn unknown_entities_stay_as_written() {
        assert_eq!(
            decode(b"a &amp; b &lol9; c &#x41;&", true),
            "a & b &lol9; c A&"
        );
        assert_eq!(decode(b"a &amp; b &#65;", true), "a & b A");
        assert_eq!(decode(b"caf\xe9", true), "caf\u{fffd}");
    }
}
