//! The judgement of one batch at `now`: its state, the conditions that hold (missed run, running
//! too long, failed, consecutive failures), and which alerts to open or resolve given those
//! already open.
//!
//! It decides only; the caller stores runs, opens alerts and sends notifications.

use jiff::{SignedDuration, Timestamp};

use super::cron::Schedule;
use super::maintenance::{self, Interval, Window};
use crate::alerts::Severity;
use crate::state_name::state_names;

/// How a batch is supervised.
#[derive(Debug, Clone)]
pub struct Settings {
    /// When runs are expected; `None` for batches judged on their exit status alone.
    pub schedule: Option<Schedule>,
    /// How long after an expected fire time a run may still start before it is missed.
    pub grace: SignedDuration,
    /// How long a run may last before it is running too long; `None`: no limit.
    pub max_runtime: Option<SignedDuration>,
    /// From how many failed runs in a row the batch raises a critical alert (2 or more; below
    /// 2 the rule is off, the single failure already alerts).
    pub consecutive_failures: u32,
    /// A disabled batch is paused: nothing is expected of it and its alerts resolve.
    pub enabled: bool,
    /// Windows when the batch is not expected to run and raises nothing new (only those that
    /// apply in its environment).
    pub maintenance: Vec<Window>,
    /// Since when the batch is supervised (installed or enabled): no run is expected before.
    pub since: Timestamp,
    /// Whether a run may start while the previous one goes. When not, the fire times that come
    /// while a run goes are skipped (the agent records them as not started) and none of them
    /// is expected: the next run expected is the first fire time after the last run ended.
    pub overlap: bool,
}

/// One run of a batch as reported (by the agent, `batch exec` or a ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    pub started: Timestamp,
    /// When it ended and its exit status; `None` while it runs.
    pub ended: Option<(Timestamp, i32)>,
}

/// What came of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Running,
    Succeeded,
    Failed { exit_code: i32 },
}

impl Run {
    pub fn outcome(&self) -> RunOutcome {
        match self.ended {
            None => RunOutcome::Running,
            Some((_, 0)) => RunOutcome::Succeeded,
            Some((_, exit_code)) => RunOutcome::Failed { exit_code },
        }
    }
}

/// A batch's supervision state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Its last run succeeded and no run is overdue.
    Up,
    /// An expected run has not started, but it is still within its grace.
    Late,
    /// A run was missed after its grace, or the last run failed.
    Down,
    /// Disabled, or inside a maintenance window.
    Paused,
    /// A run has started and not ended.
    Running,
}

state_names!(BatchState, "batch state", {
    Up => "up",
    Late => "late",
    Down => "down",
    Paused => "paused",
    Running => "running",
});

/// A condition that holds an alert open; one alert per batch and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// The run expected at `expected` did not start within the grace.
    Missed { expected: Timestamp },
    /// The current run started at `started` and has outlived the maximum runtime.
    RunningTooLong { started: Timestamp },
    /// The last run ended with a non-zero exit status.
    Failed { exit_code: i32 },
    /// The last `count` runs all failed.
    ConsecutiveFailures { count: u32 },
}

/// The kind of a condition: the key an open alert is found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConditionKind {
    Missed,
    RunningTooLong,
    Failed,
    ConsecutiveFailures,
}

state_names!(ConditionKind, "batch alert condition", {
    Missed => "missed",
    RunningTooLong => "running_too_long",
    Failed => "failed",
    ConsecutiveFailures => "consecutive_failures",
});

impl Condition {
    pub fn kind(&self) -> ConditionKind {
        match self {
            Condition::Missed { .. } => ConditionKind::Missed,
            Condition::RunningTooLong { .. } => ConditionKind::RunningTooLong,
            Condition::Failed { .. } => ConditionKind::Failed,
            Condition::ConsecutiveFailures { .. } => ConditionKind::ConsecutiveFailures,
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Condition::RunningTooLong { .. } => Severity::Warning,
            Condition::Missed { .. } | Condition::Failed { .. } => Severity::Error,
            Condition::ConsecutiveFailures { .. } => Severity::Critical,
        }
    }

    /// One line saying what happened to `batch`, for the alert's summary.
    pub fn summary(&self, batch: &str) -> String {
        match self {
            Condition::Missed { expected } => {
                format!("batch {batch} missed its run expected at {expected}")
            }
            Condition::RunningTooLong { started } => {
                format!("batch {batch} has been running since {started}, longer than its maximum")
            }
            Condition::Failed { exit_code } => {
                format!("batch {batch} failed with exit code {exit_code}")
            }
            Condition::ConsecutiveFailures { count } => {
                format!("batch {batch} failed {count} times in a row")
            }
        }
    }
}

/// The judgement of a batch at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub state: BatchState,
    /// The conditions that hold now.
    pub conditions: Vec<Condition>,
    /// The next (or overdue) expected run; `None` without a schedule or while paused.
    pub next_expected: Option<Timestamp>,
    /// Inside a maintenance window, or held by a batch it needs (`hold`): conditions are shown
    /// but open no alert.
    pub held: bool,
    /// The maintenance that holds now, from its opening to when no window is open any more.
    pub maintenance: Option<Interval>,
}

/// How many fire times a maintenance window may swallow before we stop looking past it.
const MAX_FIRES_SKIPPED: usize = 10_000;

/// The first fire time after `after` that falls in no maintenance window.
fn expected_after(settings: &Settings, schedule: &Schedule, after: Timestamp) -> Option<Timestamp> {
    let mut cursor = after;
    for _ in 0..MAX_FIRES_SKIPPED {
        let next = schedule.next_after(cursor)?;
        if !settings.maintenance.iter().any(|m| m.covers(next)) {
            return Some(next);
        }
        cursor = next;
    }
    None
}

/// Judge a batch from its settings and runs (any order) at `now`.
pub fn judge(settings: &Settings, runs: &[Run], now: Timestamp) -> Verdict {
    if !settings.enabled {
        return Verdict {
            state: BatchState::Paused,
            conditions: Vec::new(),
            next_expected: None,
            held: false,
            maintenance: None,
        };
    }
    let mut newest_first: Vec<&Run> = runs.iter().filter(|r| r.started <= now).collect();
    newest_first.sort_by_key(|r| std::cmp::Reverse(r.started));
    let latest = newest_first.first().copied();
    let mut conditions = Vec::new();

    let running = latest.filter(|r| r.ended.is_none());
    if let (Some(run), Some(max)) = (running, settings.max_runtime) {
        if now.duration_since(run.started) > max {
            conditions.push(Condition::RunningTooLong {
                started: run.started,
            });
        }
    }

    let finished: Vec<RunOutcome> = newest_first
        .iter()
        .map(|r| r.outcome())
        .filter(|o| *o != RunOutcome::Running)
        .collect();
    if let Some(RunOutcome::Failed { exit_code }) = finished.first() {
        conditions.push(Condition::Failed {
            exit_code: *exit_code,
        });
        let count = finished
            .iter()
            .take_while(|o| matches!(o, RunOutcome::Failed { .. }))
            .count();
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        if settings.consecutive_failures >= 2 && count >= settings.consecutive_failures {
            conditions.push(Condition::ConsecutiveFailures { count });
        }
    }

    let reference = latest.map_or(settings.since, |r| {
        let from = match (settings.overlap, r.ended) {
            (false, Some((ended, _))) => ended,
            _ => r.started,
        };
        from.max(settings.since)
    });
    let expected = settings
        .schedule
        .as_ref()
        .and_then(|s| expected_after(settings, s, reference));
    let mut late = false;
    if let (Some(expected), None) = (expected, running) {
        if now > expected {
            match expected.checked_add(settings.grace) {
                Ok(deadline) if now <= deadline => late = true,
                _ => conditions.push(Condition::Missed { expected }),
            }
        }
    }
    // While a run goes on, the next expected run is the one after it started.
    let next_expected = match (expected, settings.schedule.as_ref()) {
        (Some(e), Some(s)) if running.is_some() && e <= now => expected_after(settings, s, now),
        (e, _) => e,
    };

    let maintenance = maintenance::until(&settings.maintenance, now);
    let held = maintenance.is_some();
    let down = conditions
        .iter()
        .any(|c| matches!(c, Condition::Missed { .. } | Condition::Failed { .. }));
    let state = if held {
        BatchState::Paused
    } else if running.is_some() {
        BatchState::Running
    } else if down {
        BatchState::Down
    } else if late {
        BatchState::Late
    } else {
        BatchState::Up
    };
    Verdict {
        state,
        conditions,
        next_expected,
        held,
        maintenance,
    }
}

/// What to do with a batch's alerts: open the new conditions, resolve the ones that ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    pub open: Vec<Condition>,
    pub resolve: Vec<ConditionKind>,
    /// The batch is healthy again: the resolutions are a recovery (notified as such), not a
    /// pause.
    pub recovered: bool,
}

/// Compare the conditions that hold with the alerts already open (by kind).
pub fn reconcile(open: &[ConditionKind], verdict: &Verdict) -> Changes {
    let holding: Vec<ConditionKind> = verdict.conditions.iter().map(|c| c.kind()).collect();
    let resolve: Vec<ConditionKind> = open
        .iter()
        .copied()
        .filter(|k| !holding.contains(k))
        .collect();
    let open_now = if verdict.held {
        Vec::new()
    } else {
        verdict
            .conditions
            .iter()
            .copied()
            .filter(|c| !open.contains(&c.kind()))
            .collect()
    };
    let recovered = !resolve.is_empty()
        && verdict.conditions.is_empty()
        && matches!(verdict.state, BatchState::Up | BatchState::Running);
    Changes {
        open: open_now,
        resolve,
        recovered,
    }
}

#[cfg(test)]
mod tests;
