//! Log-error rules of a batch, pure: which lines of its log directory raise an alert (the
//! default rule, "error" as a word in any case, plus regexes with a severity and exclusions),
//! the path → customer lookup, and the period lines are grouped over.
//!
//! The pieces the agent runs over real files live beside it, each pure and bounded:
//! `matcher` (finds the lines that match in a buffer), `scanner` (cuts a stream of bytes into
//! numbered lines with a bounded buffer), `throttle` (one report per key and period, counted),
//! `mask` (credentials in a line hidden). It never reads a file or a clock: callers pass bytes
//! and the time in.

pub mod counts;
pub mod mask;
pub mod matcher;
pub mod scanner;
pub mod throttle;

use std::fmt;

use serde::{Deserialize, Serialize};

use super::period::Period;
use crate::alerts::Severity;
use crate::name::Name;

pub use matcher::{LineMatch, Matcher};
pub use scanner::{Line, Scanner, MAX_LINE};
pub use throttle::{Report, Throttle};

/// The longest pattern accepted: a rule is a line of YAML, not a program.
pub const MAX_PATTERN: usize = 1000;

/// The compiled size a pattern may reach (the regex crate's own limit is 10 MiB).
const SIZE_LIMIT: usize = 2 * 1024 * 1024;

/// The default grouping period: lines under one key within it are one alert with a count.
pub const DEFAULT_PERIOD: Period = Period::from_secs(10 * 60);

/// The name of the default rule.
pub const DEFAULT_RULE: &str = "error";

/// A regular expression, valid by construction, kept with the text it was written as.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: regex::bytes::Regex,
}

/// Why a pattern does not read: where (a character position, from 1) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match .column { Some(c) => format!("at character {c}: {}", .message), None => .message.clone() })]
pub struct PatternError {
    pub column: Option<usize>,
    pub message: String,
}

impl Pattern {
    /// Read `source` as a regular expression (Rust `regex` syntax, matched against bytes so a
    /// line that is not UTF-8 is still searched).
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        if source.is_empty() {
            return Err(PatternError {
                column: None,
                message: "the pattern is empty and would match every line".into(),
            });
        }
        if source.chars().count() > MAX_PATTERN {
            return Err(PatternError {
                column: Some(MAX_PATTERN + 1),
                message: format!("the pattern is longer than {MAX_PATTERN} characters"),
            });
        }
        // The syntax parser names the position of a mistake; the regex crate only prints it.
        if let Err(e) = regex_syntax::ParserBuilder::new()
            .nest_limit(64)
            .build()
            .parse(source)
        {
            let (column, message) = match &e {
                regex_syntax::Error::Parse(p) => (p.span().start.column, p.kind().to_string()),
                regex_syntax::Error::Translate(t) => (t.span().start.column, t.kind().to_string()),
                other => (0, other.to_string()),
            };
            return Err(PatternError {
                column: (column > 0).then_some(column),
                message,
            });
        }
        let regex = regex::bytes::RegexBuilder::new(source)
            .size_limit(SIZE_LIMIT)
            .nest_limit(64)
            .build()
            .map_err(|e| PatternError {
                column: None,
                message: match e {
                    regex::Error::CompiledTooBig(_) => {
                        "the pattern is too large once compiled; make it simpler".into()
                    }
                    other => other.to_string(),
                },
            })?;
        Ok(Pattern {
            source: source.to_string(),
            regex,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    pub fn regex(&self) -> &regex::bytes::Regex {
        &self.regex
    }

    /// Whether the pattern matches somewhere in `line`.
    pub fn is_match(&self, line: &[u8]) -> bool {
        self.regex.is_match(line)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Pattern::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One rule: lines matching `pattern` and none of `exclude` raise an alert of `severity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRule {
    pub name: Name,
    pub pattern: Pattern,
    pub severity: Severity,
    #[serde(default)]
    pub exclude: Vec<Pattern>,
}

impl LogRule {
    /// The default rule: "error" as a word, in any case (`ERROR`, `Error:`, `[error]`), not
    /// inside another word (`errorless`, `terrors`).
    pub fn default_rule() -> LogRule {
        LogRule {
            name: Name::parse(DEFAULT_RULE).expect("`error` is a valid name"),
            pattern: Pattern::parse(r"(?i-u:\berror\b)").expect("the default pattern reads"),
            severity: Severity::Error,
            exclude: Vec::new(),
        }
    }
}

/// One entry of the path → customer lookup: a log file whose path matches `path` belongs to
/// `customer`, or, without one, to what the pattern's group named `customer` captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerPath {
    pub path: Pattern,
    #[serde(default)]
    pub customer: Option<String>,
}

/// The log rules of one batch, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRules {
    /// The rules in the order they are tried; the first that matches a line names its alert.
    pub rules: Vec<LogRule>,
    /// Lines matching any of these raise nothing, whatever rule matched.
    #[serde(default)]
    pub exclude: Vec<Pattern>,
    /// Lines under one key (batch, rule, customer) within this period are one alert, counted.
    pub period: Period,
    #[serde(default)]
    pub customers: Vec<CustomerPath>,
}

impl Default for LogRules {
    fn default() -> Self {
        LogRules {
            rules: vec![LogRule::default_rule()],
            exclude: Vec::new(),
            period: DEFAULT_PERIOD,
            customers: Vec::new(),
        }
    }
}

impl LogRules {
    /// The customer a log file belongs to, by the first lookup entry its path matches.
    pub fn customer_of(&self, path: &str) -> Option<String> {
        self.customers.iter().find_map(|c| {
            let captures = c.path.regex().captures(path.as_bytes())?;
            match &c.customer {
                Some(name) => Some(name.clone()),
                None => captures
                    .name("customer")
                    .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
                    .filter(|s| !s.is_empty()),
            }
        })
    }

    /// The rules compiled for searching.
    pub fn matcher(&self) -> Matcher {
        Matcher::new(self)
    }
}

/// The key lines are grouped under: `log:ENV/SERVER/BATCH:RULE`, and `/CUSTOMER` when the
/// file's path names one, so that two customers' errors are two alerts.
pub fn group_key(
    environment: &str,
    server: &str,
    batch: &str,
    rule: &str,
    customer: Option<&str>,
) -> String {
    let mut key = format!("log:{environment}/{server}/{batch}:{rule}");
    if let Some(c) = customer {
        key.push('/');
        key.push_str(c);
    }
    key
}

#[cfg(test)]
mod tests;
