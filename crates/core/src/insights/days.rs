//! What the store reads instead of every production deployment of a period (issue 14's budget:
//! two years, 25 000 production deployments, ≤ 200 ms): counts per UTC day for what is only
//! counted (deployment frequency, and the denominators of change failure rate and rework rate),
//! and as rows only the *notable* deployments, those that can make a change failure, a recovery
//! or rework, with the neighbours that decide them.
//!
//! Both are defined here, from a list of deployments, so that the store's SQL has a definition
//! to be checked against: `dora` over [`notable`] with [`DayFact::of`] gives the figures `dora`
//! gives over every deployment (a property test in `tests.rs`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{DeploymentFact, IncidentFact, Period};
use crate::deploy::state::{DeploymentKind, DeploymentState};
use crate::Name;

/// What ended on one UTC day in one project and environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayCounts {
    /// Deployments (not rollbacks, not dry runs) that ended: succeeded, failed or rolled back
    /// while deploying.
    pub deployments: u64,
    /// Those of them that succeeded.
    pub successes: u64,
    /// Those of them that failed or were rolled back while deploying.
    pub failures: u64,
    /// Rollback deployments that ended.
    pub rollbacks: u64,
}

impl DayCounts {
    /// What one deployment adds to the day it ended, and that day; `None` for a dry run or a
    /// deployment that has not ended.
    pub fn of(
        kind: DeploymentKind,
        state: DeploymentState,
        finished_at: Option<Timestamp>,
    ) -> Option<(Date, DayCounts)> {
        let at = finished_at?;
        let ended = matches!(
            state,
            DeploymentState::Succeeded | DeploymentState::Failed | DeploymentState::RolledBack
        );
        let mut counts = DayCounts::default();
        match kind {
            _ if !ended => return None,
            DeploymentKind::DryRun => return None,
            DeploymentKind::Rollback => counts.rollbacks = 1,
            DeploymentKind::Deploy => {
                counts.deployments = 1;
                if state == DeploymentState::Succeeded {
                    counts.successes = 1;
                } else {
                    counts.failures = 1;
                }
            }
        }
        Some((day_of(at), counts))
    }

    pub fn add(&mut self, other: &DayCounts) {
        self.deployments += other.deployments;
        self.successes += other.successes;
        self.failures += other.failures;
        self.rollbacks += other.rollbacks;
    }
}

/// The UTC day holding `at`.
pub fn day_of(at: Timestamp) -> Date {
    at.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// One day's counts (of one project and environment, or summed over several: `dora` sums the
/// entries of a day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayFact {
    pub day: Date,
    pub counts: DayCounts,
}

impl DayFact {
    /// The counts per day of the deployments into `production` that ended in `period`: what
    /// the store keeps per day (migration 0048) and counts for the parts of days at a period's
    /// ends.
    pub fn of(
        deployments: &[DeploymentFact],
        production: &[Name],
        period: &Period,
    ) -> Vec<DayFact> {
        let mut days: BTreeMap<Date, DayCounts> = BTreeMap::new();
        for d in deployments {
            if !production.contains(&d.environment) {
                continue;
            }
            if d.finished_at.is_none_or(|at| !period.contains(at)) {
                continue;
            }
            if let Some((day, counts)) = DayCounts::of(d.kind, d.state, d.finished_at) {
                days.entry(day).or_default().add(&counts);
            }
        }
        days.into_iter()
            .map(|(day, counts)| DayFact { day, counts })
            .collect()
    }
}

/// Whether `d` makes a change failure, a recovery or rework by itself: it did not succeed, it
/// is a rollback, or its release is a hotfix.
pub fn is_notable_by_itself(d: &DeploymentFact) -> bool {
    d.kind != DeploymentKind::DryRun
        && (d.state != DeploymentState::Succeeded || d.kind == DeploymentKind::Rollback || d.hotfix)
}

/// The deployments of `deployments` (production's, every one of a span) that `dora` needs as
/// rows; every other one is only counted, and `dora` over these with the day counts gives what
/// it gives over all of them:
/// - the notable ones by themselves ([`is_notable_by_itself`]);
/// - the deployment each rollback undoes;
/// - for each hotfix deployment, the deployment before it in its project and environment (the
///   one the hotfix marks as failed);
/// - for each one that did not succeed, the first success after it there (what restores
///   production);
/// - the deployments incidents are attributed to.
///
/// The store selects the same set in SQL (`Store::notable_deployments`).
pub fn notable(deployments: &[DeploymentFact], incidents: &[IncidentFact]) -> Vec<DeploymentFact> {
    let mut lanes: BTreeMap<(&Name, &Name), Vec<&DeploymentFact>> = BTreeMap::new();
    for d in deployments
        .iter()
        .filter(|d| d.kind != DeploymentKind::DryRun)
    {
        lanes
            .entry((&d.project, &d.environment))
            .or_default()
            .push(d);
    }
    let mut wanted: BTreeSet<i64> = incidents.iter().map(|i| i.deployment).collect();
    for lane in lanes.values_mut() {
        lane.sort_by_key(|d| (d.created_at, d.id));
        for (i, d) in lane.iter().enumerate() {
            if !is_notable_by_itself(d) {
                continue;
            }
            wanted.insert(d.id);
            if let Some(of) = d.rollback_of.filter(|_| d.kind == DeploymentKind::Rollback) {
                wanted.insert(of);
            }
            if d.hotfix && d.kind == DeploymentKind::Deploy {
                let before = lane[..i].iter().rev();
                if let Some(p) = before.copied().find(|p| p.kind == DeploymentKind::Deploy) {
                    wanted.insert(p.id);
                }
            }
            if d.state != DeploymentState::Succeeded {
                let mut after = lane[i + 1..].iter();
                if let Some(s) = after.find(|s| s.state == DeploymentState::Succeeded) {
                    wanted.insert(s.id);
                }
            }
        }
    }
    deployments
        .iter()
        .filter(|d| d.kind != DeploymentKind::DryRun && wanted.contains(&d.id))
        .cloned()
        .collect()
}

/// The deployments a figure counts, which its drill-down pages through: the answer gives their
/// number, never their list (two years hold 25 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Counted {
    /// Deployment frequency: the successful deployments (not rollbacks) that ended.
    DeploymentFrequency,
    /// Change failure rate's denominator: the deployments (not rollbacks) that ended,
    /// succeeded or not.
    ChangeFailureRate,
    /// Rework rate's denominator: the deployments and rollbacks that ended.
    ReworkRate,
}

impl Counted {
    pub const ALL: [Counted; 3] = [
        Counted::DeploymentFrequency,
        Counted::ChangeFailureRate,
        Counted::ReworkRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Counted::DeploymentFrequency => "deployment-frequency",
            Counted::ChangeFailureRate => "change-failure-rate",
            Counted::ReworkRate => "rework-rate",
        }
    }

    pub fn parse(text: &str) -> Option<Counted> {
        Counted::ALL.into_iter().find(|c| c.as_str() == text)
    }

    /// Whether the figure counts a deployment that ended (`DayCounts::of` gives `Some`).
    pub fn counts(self, kind: DeploymentKind, state: DeploymentState) -> bool {
        match self {
            Counted::DeploymentFrequency => {
                kind == DeploymentKind::Deploy && state == DeploymentState::Succeeded
            }
            Counted::ChangeFailureRate => kind == DeploymentKind::Deploy,
            Counted::ReworkRate => kind != DeploymentKind::DryRun,
        }
    }

    /// How many of a day's ended deployments the figure counts.
    pub fn of_day(self, counts: &DayCounts) -> u64 {
        match self {
            Counted::DeploymentFrequency => counts.successes,
            Counted::ChangeFailureRate => counts.deployments,
            Counted::ReworkRate => counts.deployments + counts.rollbacks,
        }
    }
}
