//! The weekly batch report, pure: which week is due at an instant (Monday at a local time, in
//! a zone, daylight-saving aware), and the report of one project and environment over that
//! week's 7 days (runs, failures and error lines per batch, error lines per customer, the
//! batches down or late now), rendered as plain text, simple HTML and chat payloads.
//!
//! Reads no clock and no store: the caller passes `now` and the counts.

use std::fmt::Write as _;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde_json::{json, Value};

use super::verdict::BatchState;
use crate::alerts::ChannelKind;

/// How long after its due time a week's report may still go (a server down all that time skips
/// the week rather than sending it days late).
pub const LATEST_AFTER_DUE: SignedDuration = SignedDuration::from_hours(24);

/// A reported week: it ends on Monday `monday` at the report's local time, and covers the 7
/// days before (the same local time on the Monday before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Week {
    pub monday: Date,
    pub from: Timestamp,
    pub to: Timestamp,
}

fn monday_at(monday: Date, at: Time, zone: &TimeZone) -> Option<Timestamp> {
    // A local time the zone skips reads as the instant after the gap, one it repeats as the
    // first occurrence (jiff's compatible disambiguation).
    monday
        .to_datetime(at)
        .to_zoned(zone.clone())
        .ok()
        .map(|z| z.timestamp())
}

/// The week whose report is due at `now`: the latest Monday `at` (in `zone`) at or before
/// `now`, if `now` is within [`LATEST_AFTER_DUE`] of it.
pub fn due_week(now: Timestamp, zone: &TimeZone, at: Time) -> Option<Week> {
    let today = now.to_zoned(zone.clone()).date();
    let back = i64::from(today.weekday().to_monday_zero_offset());
    let mut monday = today.checked_sub(back.days()).ok()?;
    let mut to = monday_at(monday, at, zone)?;
    if to > now {
        monday = monday.checked_sub(7.days()).ok()?;
        to = monday_at(monday, at, zone)?;
    }
    if now.duration_since(to) >= LATEST_AFTER_DUE {
        return None;
    }
    let from = monday_at(monday.checked_sub(7.days()).ok()?, at, zone)?;
    Some(Week { monday, from, to })
}

/// One batch of the report (its rows on every server of the environment added up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLine {
    pub batch: String,
    pub runs: u64,
    pub failures: u64,
    pub error_lines: u64,
    /// Its worst state now across its servers; `None` when never judged.
    pub now: Option<BatchState>,
}

/// The report of one project and environment for one week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyReport {
    pub project: String,
    pub environment: String,
    pub week: Week,
    /// The zone the week is read in, for the dates shown.
    pub zone: String,
    /// Sorted by name.
    pub batches: Vec<BatchLine>,
    /// Error lines per customer, largest first.
    pub customers: Vec<(String, u64)>,
    /// The console's address, for a link; `None` when the project gives none.
    pub console_url: Option<String>,
}

/// How bad a state is, to keep a batch's worst across its servers.
pub fn worse(a: Option<BatchState>, b: BatchState) -> BatchState {
    let rank = |s: BatchState| match s {
        BatchState::Down => 4,
        BatchState::Late => 3,
        BatchState::Running => 2,
        BatchState::Up => 1,
        BatchState::Paused => 0,
    };
    match a {
        Some(a) if rank(a) >= rank(b) => a,
        _ => b,
    }
}

/// The widest bar of the HTML chart, in pixels.
const BAR_PX: u64 = 200;

impl WeeklyReport {
    pub fn runs(&self) -> u64 {
        self.batches.iter().map(|b| b.runs).sum()
    }

    pub fn failures(&self) -> u64 {
        self.batches.iter().map(|b| b.failures).sum()
    }

    pub fn error_lines(&self) -> u64 {
        self.batches.iter().map(|b| b.error_lines).sum()
    }

    /// The batches down or late now, with their state.
    pub fn troubled(&self) -> Vec<(&str, BatchState)> {
        self.batches
            .iter()
            .filter_map(|b| match b.now {
                Some(s @ (BatchState::Down | BatchState::Late)) => Some((b.batch.as_str(), s)),
                _ => None,
            })
            .collect()
    }

    fn day(&self, t: Timestamp) -> String {
        let zone = TimeZone::get(&self.zone).unwrap_or(TimeZone::UTC);
        t.to_zoned(zone).strftime("%Y-%m-%d %H:%M %Z").to_string()
    }

    pub fn subject(&self) -> String {
        format!(
            "Weekly batch report {} {}, week to {}: {} runs, {} failed, {} error lines",
            self.project,
            self.environment,
            self.week.monday,
            self.runs(),
            self.failures(),
            self.error_lines()
        )
        .replace(['\r', '\n'], " ")
    }

    fn troubled_text(&self) -> String {
        let troubled = self.troubled();
        if troubled.is_empty() {
            return "none".into();
        }
        troubled
            .iter()
            .map(|(b, s)| format!("{b} ({})", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The plain-text report.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Weekly batch report: {} in {}\nFrom {} to {}\n\nRuns: {}  Failed: {}  Error lines: {}\nDown or late now: {}\n\nPer batch (runs, failed, error lines):\n",
            self.project,
            self.environment,
            self.day(self.week.from),
            self.day(self.week.to),
            self.runs(),
            self.failures(),
            self.error_lines(),
            self.troubled_text(),
        );
        for b in &self.batches {
            let now = b.now.map_or("not judged", |s| s.as_str());
            let _ = writeln!(
                out,
                "  {}: {} runs, {} failed, {} error lines; now {now}",
                b.batch, b.runs, b.failures, b.error_lines
            );
        }
        out.push_str("\nError lines per customer:\n");
        if self.customers.is_empty() {
            out.push_str("  none\n");
        }
        for (customer, lines) in &self.customers {
            let _ = writeln!(out, "  {customer}: {lines}");
        }
        if let Some(url) = &self.console_url {
            let _ = writeln!(out, "\nOpen in Slipway: {url}/batches");
        }
        out
    }

    /// The report as simple HTML (tables, and bars as widths: mail readers drop SVG and
    /// scripts); every text escaped.
    pub fn html(&self) -> String {
        let mut out = format!(
            "<!doctype html><html><body style=\"font-family:sans-serif\"><h1>Weekly batch report: {} in {}</h1><p>From {} to {}</p><p><strong>{}</strong> runs, <strong>{}</strong> failed, <strong>{}</strong> error lines. Down or late now: {}.</p>",
            escape(&self.project),
            escape(&self.environment),
            escape(&self.day(self.week.from)),
            escape(&self.day(self.week.to)),
            self.runs(),
            self.failures(),
            self.error_lines(),
            escape(&self.troubled_text()),
        );
        let widest = self
            .batches
            .iter()
            .map(|b| b.error_lines)
            .max()
            .unwrap_or(0);
        out.push_str("<h2>Per batch</h2><table><tr><th>Batch</th><th>Runs</th><th>Failed</th><th>Error lines</th><th>Now</th></tr>");
        for b in &self.batches {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td></tr>",
                escape(&b.batch),
                b.runs,
                b.failures,
                bar(b.error_lines, widest),
                b.error_lines,
                b.now.map_or("not judged", |s| s.as_str()),
            );
        }
        out.push_str("</table><h2>Error lines per customer</h2>");
        if self.customers.is_empty() {
            out.push_str("<p>None.</p>");
        } else {
            let widest = self.customers.iter().map(|c| c.1).max().unwrap_or(0);
            out.push_str("<table><tr><th>Customer</th><th>Error lines</th></tr>");
            for (customer, lines) in &self.customers {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}{lines}</td></tr>",
                    escape(customer),
                    bar(*lines, widest)
                );
            }
            out.push_str("</table>");
        }
        if let Some(url) = &self.console_url {
            let _ = write!(
                out,
                "<p><a href=\"{0}/batches\">Open in Slipway</a></p>",
                escape(url)
            );
        }
        out.push_str("</body></html>");
        out
    }

    /// The report for a chat channel; `None` for mail.
    pub fn chat_payload(&self, kind: ChannelKind) -> Option<Value> {
        let title = format!(
            "Weekly batch report: {} in {}, week to {}",
            self.project, self.environment, self.week.monday
        );
        let mut facts = vec![
            ("Runs".to_string(), self.runs().to_string()),
            ("Failed".to_string(), self.failures().to_string()),
            ("Error lines".to_string(), self.error_lines().to_string()),
            ("Down or late now".to_string(), self.troubled_text()),
        ];
        for b in &self.batches {
            facts.push((
                format!("Batch {}", b.batch),
                format!(
                    "{} runs, {} failed, {} error lines",
                    b.runs, b.failures, b.error_lines
                ),
            ));
        }
        for (customer, lines) in &self.customers {
            facts.push((
                format!("Customer {customer}"),
                format!("{lines} error lines"),
            ));
        }
        let link = self
            .console_url
            .as_ref()
            .map(|u| format!("{u}/batches"))
            .unwrap_or_default();
        match kind {
            ChannelKind::Slack | ChannelKind::Mattermost => Some(json!({
                "text": if link.is_empty() { title.clone() } else { format!("{title} — <{link}|open in Slipway>") },
                "attachments": [{
                    "color": if self.troubled().is_empty() { "#2eb67d" } else { "#e01e5a" },
                    "fallback": title,
                    "fields": facts.iter().map(|(k, v)| json!({ "title": k, "value": v, "short": true }))
                        .collect::<Vec<_>>(),
                }],
            })),
            ChannelKind::Teams => Some(json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": title,
                "title": title,
                "sections": [{
                    "facts": facts.iter().map(|(k, v)| json!({ "name": k, "value": v }))
                        .collect::<Vec<_>>(),
                }],
            })),
            ChannelKind::Email => None,
        }
    }
}

/// A bar as wide as `value` is of `widest`, drawn with a background (no image, no script).
fn bar(value: u64, widest: u64) -> String {
    if value == 0 || widest == 0 {
        return String::new();
    }
    let px = (value.saturating_mul(BAR_PX) / widest).max(1);
    format!("<span style=\"display:inline-block;background:#e01e5a;height:0.8em;width:{px}px;margin-right:4px\"></span>")
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
