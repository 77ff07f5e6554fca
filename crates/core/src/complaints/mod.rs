//! The complaints register decided purely: a complaint's severity and status (its lifecycle as
//! one transition function), the checks a new complaint passes, the CSV form of an import (every
//! bad row named with its column and reason) and of an export (formulas defused), and which
//! complaints count against a release in change failure rate (docs/complaints.md).
//!
//! It never reads a clock or a store: the caller passes `now` and the stored complaints in.
//! Which release ran somewhere at a time is `insights::attribution`'s, shared with alerts.

mod csv;
#[cfg(test)]
mod tests;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::release::Version;
use crate::state_name::state_names;
use crate::Name;

pub use csv::{parse_csv, write_csv, CsvError, CsvRowError, ImportLimits, IMPORT_COLUMNS};

/// How bad a complaint is, P1 the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    P1,
    P2,
    P3,
    P4,
}

state_names!(Severity, "complaint severity", {
    P1 => "P1",
    P2 => "P2",
    P3 => "P3",
    P4 => "P4",
});

impl Severity {
    /// Whether a complaint of this severity marks its release as a change failure when the
    /// threshold is `threshold` (P2: P1 and P2 count).
    pub fn counts_as_failure(self, threshold: Severity) -> bool {
        self <= threshold
    }

    /// `p1`, `P1` or `1`.
    pub fn from_label(text: &str) -> Option<Severity> {
        match text.trim().trim_start_matches(['p', 'P']) {
            "1" => Some(Severity::P1),
            "2" => Some(Severity::P2),
            "3" => Some(Severity::P3),
            "4" => Some(Severity::P4),
            _ => None,
        }
    }
}

/// The severity from which a complaint counts as a change failure unless configured otherwise.
pub const DEFAULT_FAILURE_THRESHOLD: Severity = Severity::P2;

/// Where a complaint is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Investigating,
    Resolved,
    Closed,
}

state_names!(Status, "complaint status", {
    New => "new",
    Investigating => "investigating",
    Resolved => "resolved",
    Closed => "closed",
});

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a complaint that is {from} cannot become {to}; from {from} it can become: {allowed}")]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
    pub allowed: String,
}

impl Status {
    /// The statuses a complaint in this one may move to. A resolved complaint may be reopened
    /// (back to investigating) until it is closed; closed is final.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::New => &[Status::Investigating, Status::Resolved],
            Status::Investigating => &[Status::Resolved],
            Status::Resolved => &[Status::Closed, Status::Investigating],
            Status::Closed => &[],
        }
    }

    /// The one transition function: the new status, or why not.
    pub fn move_to(self, to: Status) -> Result<Status, IllegalTransition> {
        if self.next().contains(&to) {
            return Ok(to);
        }
        let allowed: Vec<&str> = self.next().iter().map(|s| s.as_str()).collect();
        Err(IllegalTransition {
            from: self,
            to,
            allowed: if allowed.is_empty() {
                "nothing (it is final)".to_string()
            } else {
                allowed.join(", ")
            },
        })
    }

    /// Whether the complaint still stands (not yet resolved).
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::Investigating)
    }
}

/// The longest text each field keeps; longer is refused, never cut.
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_SHORT_TEXT: usize = 200;
pub const MAX_LINKS: usize = 20;
pub const MAX_LINK: usize = 2_000;

/// A complaint as someone typed it: text fields, unchecked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComplaintInput {
    pub received_at: String,
    pub customer: String,
    pub site: String,
    pub environment: String,
    pub version: String,
    pub severity: String,
    pub category: String,
    pub description: String,
    /// Separated by spaces, commas or semicolons.
    pub links: String,
    pub capa: String,
}

/// A complaint that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComplaint {
    pub received_at: Timestamp,
    pub customer: String,
    pub site: String,
    /// Where it was seen; its release at `received_at` is inferred from there.
    pub environment: Option<Name>,
    /// The version the customer reported, if any.
    pub reported_version: Option<String>,
    pub severity: Severity,
    pub category: String,
    pub description: String,
    pub links: Vec<String>,
    pub capa: Option<String>,
}

/// One field that did not pass, named by its column in the CSV form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{column}: {reason}")]
pub struct FieldError {
    pub column: &'static str,
    pub reason: String,
}

fn field(column: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        column,
        reason: reason.into(),
    }
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date read as midnight UTC.
pub fn parse_instant(text: &str) -> Option<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
}

/// How far in the future a received time may be, for clocks that differ a little.
const CLOCK_SLACK: SignedDuration = SignedDuration::from_secs(300);

fn short(column: &'static str, text: &str, errors: &mut Vec<FieldError>) -> String {
    let text = text.trim();
    if text.chars().count() > MAX_SHORT_TEXT {
        errors.push(field(
            column,
            format!("longer than {MAX_SHORT_TEXT} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control()) {
        errors.push(field(column, "holds a control character (a line break?)"));
    }
    text.to_string()
}

/// Links typed as one text (separated by spaces, commas or semicolons), each an http(s) address.
pub fn parse_links(text: &str) -> Result<Vec<String>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let links = links(text, &mut errors);
    if errors.is_empty() {
        Ok(links)
    } else {
        Err(errors)
    }
}

fn links(text: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    let links: Vec<String> = text
        .split([' ', ',', ';', '\n', '\t'])
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if links.len() > MAX_LINKS {
        errors.push(field("links", format!("more than {MAX_LINKS} links")));
    }
    for link in &links {
        let web = link.starts_with("https://") || link.starts_with("http://");
        if !web || link.len() > MAX_LINK || link.chars().any(char::is_control) {
            errors.push(field(
                "links",
                format!(
                    "{:?} is not an http(s) address of at most {MAX_LINK} characters",
                    truncated(link)
                ),
            ));
        }
    }
    links
}

/// A text cut for a message, so a huge cell never makes a huge error.
pub(crate) fn truncated(text: &str) -> String {
    const SHOWN: usize = 60;
    if text.chars().count() <= SHOWN {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(SHOWN).collect::<String>())
    }
}

impl ComplaintInput {
    /// Check every field; all errors at once, so a person fixes a row in one go.
    pub fn check(&self, now: Timestamp) -> Result<NewComplaint, Vec<FieldError>> {
        let mut errors = Vec::new();
        let received_at = match parse_instant(self.received_at.trim()) {
            Some(at) if at > now + CLOCK_SLACK => {
                errors.push(field(
                    "received_at",
                    format!("{at} is in the future (now is {now})"),
                ));
                None
            }
            Some(at) => Some(at),
            None => {
                errors.push(field(
                    "received_at",
                    format!(
                        "{:?} is neither an RFC 3339 time nor a YYYY-MM-DD date",
                        truncated(&self.received_at)
                    ),
                ));
                None
            }
        };
        let customer = short("customer", &self.customer, &mut errors);
        if customer.is_empty() {
            errors.push(field(
                "customer",
                "is empty; name the customer who complained",
            ));
        }
        let site = short("site", &self.site, &mut errors);
        let environment = match self.environment.trim() {
            "" => None,
            text => match Name::parse(text) {
                Ok(name) => Some(name),
                Err(e) => {
                    errors.push(field("environment", e.to_string()));
                    None
                }
            },
        };
        let reported_version = match self.version.trim() {
            "" => None,
            text => match Version::parse(text) {
                Ok(v) => Some(v.to_string()),
                Err(e) => {
                    errors.push(field("version", e.to_string()));
                    None
                }
            },
        };
        let severity = Severity::from_label(&self.severity);
        if severity.is_none() {
            errors.push(field(
                "severity",
                format!(
                    "{:?} is not one of P1, P2, P3, P4",
                    truncated(&self.severity)
                ),
            ));
        }
        let category = short("category", &self.category, &mut errors);
        let description = self.description.trim().to_string();
        if description.is_empty() {
            errors.push(field("description", "is empty; say what went wrong"));
        } else if description.chars().count() > MAX_DESCRIPTION {
            errors.push(field(
                "description",
                format!("longer than {MAX_DESCRIPTION} characters"),
            ));
        }
        let links = links(&self.links, &mut errors);
        let capa = short("capa", &self.capa, &mut errors);
        match (received_at, severity) {
            (Some(received_at), Some(severity)) if errors.is_empty() => Ok(NewComplaint {
                received_at,
                customer,
                site,
                environment,
                reported_version,
                severity,
                category,
                description,
                links,
                capa: (!capa.is_empty()).then_some(capa),
            }),
            _ => Err(errors),
        }
    }
}

/// How long after a release reached production its complaints are shown with it.
pub const RELEASE_WINDOW_DAYS: i64 = 30;

/// Whether a complaint received at `at` falls in the window of a release that first reached
/// production at `reached`: `[reached, reached + 30 days)`.
pub fn in_release_window(reached: Timestamp, at: Timestamp) -> bool {
    at >= reached && at < reached + SignedDuration::from_hours(24 * RELEASE_WINDOW_DAYS)
}
