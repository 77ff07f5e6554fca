//! Maintenance windows of batches, pure: a recurring window (a cron schedule of its openings in
//! a time zone, each lasting an elapsed duration) or a one-off `[from, to)`, optionally limited
//! to some environments; whether one covers an instant, and until when.
//!
//! A recurring window's length is elapsed time: one that opens at 01:30 Europe/Paris for 2h on
//! the night clocks go forward closes at 04:30 local time, two real hours later. Reads no clock.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::cron::Schedule;
use super::period::Period;
use crate::name::Name;

/// When a maintenance window is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Opening {
    /// Opens at every fire time of `schedule` and stays open for `lasts`.
    Every { schedule: Schedule, lasts: Period },
    /// Open from `from` (included) to `to` (excluded), once.
    Once { from: Timestamp, to: Timestamp },
}

/// A maintenance window of a batch (or of every batch of a project), as declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub opening: Opening,
    /// The environments it applies in; empty: every environment.
    #[serde(default)]
    pub environments: Vec<Name>,
    /// Why, shown beside "in maintenance until …".
    #[serde(default)]
    pub reason: String,
}

/// One opening of a window, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub from: Timestamp,
    pub to: Timestamp,
}

/// How many back-to-back openings `until` follows before it stops looking further.
const MAX_CHAINED: usize = 1_000;

impl Window {
    /// A one-off window, for tests and callers that hold the instants already.
    pub fn once(from: Timestamp, to: Timestamp) -> Window {
        Window {
            opening: Opening::Once { from, to },
            environments: Vec::new(),
            reason: String::new(),
        }
    }

    /// Whether the window applies to batches of `environment`.
    pub fn applies_in(&self, environment: &str) -> bool {
        self.environments.is_empty() || self.environments.iter().any(|e| e.as_str() == environment)
    }

    /// An opening that covers `at`, if one does: for a recurring window, the earliest one still
    /// open (`until` follows the openings after it).
    pub fn covering(&self, at: Timestamp) -> Option<Interval> {
        match &self.opening {
            Opening::Once { from, to } => (*from <= at && at < *to).then_some(Interval {
                from: *from,
                to: *to,
            }),
            Opening::Every { schedule, lasts } => {
                // An opening covers `at` when it started in (at − lasts, at]. The first fire
                // after `at − lasts` is one search, where the latest would be one per fire.
                let earliest = at.checked_sub(lasts.duration()).ok()?;
                let start = schedule.next_after(earliest).filter(|s| *s <= at)?;
                let to = start.checked_add(lasts.duration()).ok()?;
                Some(Interval { from: start, to })
            }
        }
    }

    /// Whether the window is open at `at`.
    pub fn covers(&self, at: Timestamp) -> bool {
        self.covering(at).is_some()
    }
}

/// The maintenance that holds at `at` under any of `windows`: from the earliest opening that
/// covers it to the moment no window is open any more (openings that follow each other without
/// a gap are one stretch); `None` outside every window.
pub fn until(windows: &[Window], at: Timestamp) -> Option<Interval> {
    let covering = |t: Timestamp| windows.iter().filter_map(move |w| w.covering(t));
    let first = covering(at).reduce(|a, b| Interval {
        from: a.from.min(b.from),
        to: a.to.max(b.to),
    })?;
    let mut stretch = first;
    for _ in 0..MAX_CHAINED {
        match covering(stretch.to).map(|i| i.to).max() {
            Some(to) if to > stretch.to => stretch.to = to,
            _ => break,
        }
    }
    Some(stretch)
}

#[cfg(test)]
mod tests;
