//! DORA metrics as pure functions of deployments, commits and incidents (docs/insights.md).
//!
//! The caller passes the facts read from the store and the period; every figure comes back with
//! the ids of what makes it (its drill-down), and "no data" is `None`, never 0.
//! The definitions are versioned by [`DEFINITIONS_VERSION`]: a change to how a figure is
//! computed changes the version and docs/insights.md in the same commit.
//! It never reads a clock or a store.

pub mod attribution;
mod bands;
pub mod component_changes;
mod days;
mod failures;
pub mod lead_buckets;
mod lead_time;
mod stats;
#[cfg(test)]
mod tests;
pub mod widget_counts;
pub mod widgets;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::deploy::state::{DeploymentKind, DeploymentState};
use crate::Name;

pub use bands::{Band, Goal};
pub use days::{day_of, is_notable_by_itself, notable, Counted, DayCounts, DayFact};
pub use failures::{
    ChangeFailureRate, FailedDeployment, FailureReason, Recovery, RecoveryTime, ReworkRate,
};
pub use lead_buckets::{range_of, ErrorBound, LeadHistogram, LEAD_TIME_ERROR, LEAD_TIME_RANGES};
pub use lead_time::{
    counted_commits, BadCommitCursor, CommitCursor, CommitLeadTime, LeadTime, LeadTimeFacts,
    RangeCount, StageLeadTime,
};
pub use stats::Spread;

/// The version of the definitions in docs/insights.md that these functions implement.
pub const DEFINITIONS_VERSION: &str = "2026-12.2";

/// The widest period the metrics are computed over: three years.
pub const MAX_PERIOD_DAYS: i64 = 3 * 366;

/// How long after a production deployment a rollback, a hotfix or an incident is still
/// attributed to it.
pub const FOLLOW_UP_DAYS: i64 = 30;

/// A half-open period `[from, to)`, valid by construction: it ends after it starts and is at
/// most [`MAX_PERIOD_DAYS`] wide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    from: Timestamp,
    to: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("the period ends ({to}) before or when it starts ({from})")]
    EndsBeforeStart { from: Timestamp, to: Timestamp },
    #[error(
        "the period from {from} to {to} is {days} days wide; the widest allowed is {max} days"
    )]
    TooWide {
        from: Timestamp,
        to: Timestamp,
        days: i64,
        max: i64,
    },
}

impl Period {
    pub fn new(from: Timestamp, to: Timestamp) -> Result<Period, PeriodError> {
        if to <= from {
            return Err(PeriodError::EndsBeforeStart { from, to });
        }
        let width = to.duration_since(from);
        if width > SignedDuration::from_hours(24 * MAX_PERIOD_DAYS) {
            return Err(PeriodError::TooWide {
                from,
                to,
                days: width.as_hours() / 24,
                max: MAX_PERIOD_DAYS,
            });
        }
        Ok(Period { from, to })
    }

    pub fn from(&self) -> Timestamp {
        self.from
    }

    pub fn to(&self) -> Timestamp {
        self.to
    }

    pub fn contains(&self, at: Timestamp) -> bool {
        self.from <= at && at < self.to
    }

    /// The period's width in days, fractional.
    fn days(&self) -> f64 {
        self.to.duration_since(self.from).as_secs_f64() / 86_400.0
    }
}

/// A deployment as the metrics see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFact {
    pub id: i64,
    pub project: Name,
    pub environment: Name,
    pub release: String,
    pub kind: DeploymentKind,
    pub state: DeploymentState,
    /// The deployment a rollback undoes.
    pub rollback_of: Option<i64>,
    /// Its release carries the `hotfix` label.
    pub hotfix: bool,
    pub created_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}

impl DeploymentFact {
    /// A deployment or rollback that ended (succeeded, failed or rolled back), with its end.
    fn ended(&self) -> Option<Timestamp> {
        match self.state {
            DeploymentState::Succeeded | DeploymentState::Failed | DeploymentState::RolledBack => {
                self.finished_at
            }
            _ => None,
        }
    }

    fn succeeded_at(&self) -> Option<Timestamp> {
        match self.state {
            DeploymentState::Succeeded => self.finished_at,
            _ => None,
        }
    }
}

/// A commit of a release, with the first successful deployment of any release holding it into
/// each environment it reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitFact {
    pub project: Name,
    pub hash: String,
    pub authored_at: Timestamp,
    pub arrivals: Vec<Arrival>,
}

/// The first successful deployment holding a commit into one environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub environment: Name,
    pub at: Timestamp,
    pub deployment: i64,
}

/// Where an incident attributed to a deployment comes from: a complaint (attributed when it
/// is recorded) or an alert of a production environment (attributed when DORA reads it,
/// [`attribution::alert_incidents`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentSource {
    Complaint,
    Alert,
}

/// Something that went wrong in the field, attributed to the production deployment that was
/// running there when it was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentFact {
    pub source: IncidentSource,
    pub id: i64,
    pub deployment: i64,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// What the metrics are computed from. `days` counts what ended in the period in the
/// production environments, per day ([`DayFact::of`]); `deployments` holds at least the
/// [`notable`] deployments into the production environments ending in the period and up to
/// [`FOLLOW_UP_DAYS`] past its end (later ones are the follow-ups that mark a deployment as
/// failed) — every deployment gives the same figures, only slower; `chain` is every environment
/// in delivery order, for lead time per stage; `lead_times` are the period's lead times,
/// already reduced (by the store's first-arrival table, or by [`LeadTimeFacts::of`]).
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub production: &'a [Name],
    pub chain: &'a [Name],
    pub days: &'a [DayFact],
    pub deployments: &'a [DeploymentFact],
    pub lead_times: &'a LeadTimeFacts,
    pub incidents: &'a [IncidentFact],
}

/// The answer: the production environments are declared or the metrics are not configured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Insight {
    /// No environment is declared `production: true`: there is nothing to measure, which is
    /// not the same as measuring 0.
    NotConfigured,
    Measured(Box<Dora>),
}

/// The five figures of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dora {
    pub production_environments: Vec<Name>,
    pub deployment_frequency: DeploymentFrequency,
    pub lead_time: LeadTime,
    pub change_failure_rate: ChangeFailureRate,
    pub recovery_time: RecoveryTime,
    pub rework_rate: ReworkRate,
}

/// How often production changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentFrequency {
    /// Successful deployments into production that ended in the period.
    pub count: u64,
    /// UTC days with at least one of them.
    pub deployment_days: u64,
    /// Deployment-days per week, averaged over the period.
    pub days_per_week: f64,
    /// `None` when the period holds no deployment at all.
    pub band: Option<Band>,
    /// Deployments per week (weeks start on Monday, UTC), every week of the period listed.
    pub weeks: Vec<WeekCount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeekCount {
    /// The Monday that starts the week, `YYYY-MM-DD`.
    pub week: String,
    pub count: u64,
}

/// Whether a deployment counts as production's.
fn in_production(facts: &Facts<'_>, d: &DeploymentFact) -> bool {
    facts.production.contains(&d.environment)
}

/// The DORA figures of `period`, from `facts`.
pub fn dora(facts: &Facts<'_>, period: &Period) -> Insight {
    if facts.production.is_empty() {
        return Insight::NotConfigured;
    }
    let mut production: Vec<Name> = facts.production.to_vec();
    production.sort();
    production.dedup();
    let (change_failure_rate, recovery_time) = failures::failures(facts, period);
    Insight::Measured(Box::new(Dora {
        production_environments: production,
        deployment_frequency: deployment_frequency(facts, period),
        lead_time: lead_time::lead_time(facts),
        change_failure_rate,
        recovery_time,
        rework_rate: failures::rework_rate(facts, period),
    }))
}

fn deployment_frequency(facts: &Facts<'_>, period: &Period) -> DeploymentFrequency {
    let mut per_day: std::collections::BTreeMap<jiff::civil::Date, u64> = Default::default();
    for d in facts.days {
        *per_day.entry(d.day).or_default() += Counted::DeploymentFrequency.of_day(&d.counts);
    }
    per_day.retain(|_, n| *n > 0);
    let count: u64 = per_day.values().sum();
    let days_per_week = per_day.len() as f64 / (period.days() / 7.0);
    let band = (count > 0).then(|| Band::of_deployment_days(days_per_week));
    DeploymentFrequency {
        count,
        deployment_days: per_day.len() as u64,
        days_per_week,
        band,
        weeks: weeks(period, &per_day),
    }
}

/// The Monday (UTC) of the week holding `at`.
fn monday(at: Timestamp) -> jiff::civil::Date {
    monday_of(day_of(at))
}

/// The Monday of the week holding `date`.
fn monday_of(date: jiff::civil::Date) -> jiff::civil::Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(jiff::Span::new().days(back))
        .expect("a Monday within a week of a valid date exists")
}

fn weeks(
    period: &Period,
    per_day: &std::collections::BTreeMap<jiff::civil::Date, u64>,
) -> Vec<WeekCount> {
    let mut counts: std::collections::BTreeMap<jiff::civil::Date, u64> = Default::default();
    let last = monday(period.to() - SignedDuration::from_nanos(1));
    let mut week = monday(period.from());
    while week <= last {
        counts.insert(week, 0);
        week = week
            .checked_add(jiff::Span::new().days(7))
            .expect("weeks of a period of at most three years are valid dates");
    }
    for (day, n) in per_day {
        *counts.entry(monday_of(*day)).or_default() += n;
    }
    counts
        .into_iter()
        .map(|(week, count)| WeekCount {
            week: week.to_string(),
            count,
        })
        .collect()
}
