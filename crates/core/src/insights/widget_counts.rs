//! What the deployment widgets of a dashboard read instead of every deployment of a period
//! (issue 14: a dashboard over two years should cost what one over a week costs): per project
//! and environment, what ended ([`DayCounts`]) and how long the deployments took, counted in
//! log-spaced buckets; per pair of environments, how long releases stayed in the first before
//! they reached the second, counted the same way. The store keeps these counts per UTC day.
//!
//! Defined here from rows ([`WidgetCounts::of`]), so that the store's counts have a definition
//! to be checked against; what one deployment or one arrival adds is [`duration_of`] and
//! [`stays_of`]. It never reads a clock or a store.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::Timestamp;

use super::days::DayCounts;
use super::lead_buckets::LeadHistogram;
use super::{DeploymentFact, Period};
use crate::deploy::state::{DeploymentKind, DeploymentState};
use crate::Name;

/// What ended in the period in one project and environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndedCounts {
    pub counts: DayCounts,
    /// The seconds from creation to end of its deployments (not rollbacks) that ended.
    pub durations: LeadHistogram,
}

/// The counts the deployment widgets are computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WidgetCounts {
    /// Per (project, environment).
    pub ended: BTreeMap<(Name, Name), EndedCounts>,
    /// Per (environment, later environment): for the releases whose first successful arrival
    /// in the later one is in the period, the seconds since their first successful arrival in
    /// the first one (0 when they arrived there later).
    pub stays: BTreeMap<(Name, Name), LeadHistogram>,
}

/// A deployment's day and seconds (creation to end, 0 when the clock went back), when it is
/// a deployment (not a rollback, not a dry run) that ended: what it adds to the durations.
pub fn duration_of(
    kind: DeploymentKind,
    state: DeploymentState,
    created_at: Timestamp,
    finished_at: Option<Timestamp>,
) -> Option<(Date, i64)> {
    let (day, counts) = DayCounts::of(kind, state, finished_at)?;
    let end = finished_at?;
    (counts.deployments == 1).then(|| (day, end.duration_since(created_at).as_secs().max(0)))
}

/// One release's stay: from its first arrival in `from` to its first arrival in `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stay<'a> {
    pub from: &'a Name,
    pub to: &'a Name,
    /// Its first arrival in `to`: the day it is counted on.
    pub at: Timestamp,
    /// 0 when it arrived in `from` after `to`.
    pub seconds: i64,
}

/// The stays of one release, given its first successful arrival in each environment: one for
/// every ordered pair of distinct environments it arrived in.
pub fn stays_of(arrivals: &[(Name, Timestamp)]) -> Vec<Stay<'_>> {
    let mut out = Vec::new();
    for (from, came) in arrivals {
        for (to, left) in arrivals {
            if from != to {
                out.push(Stay {
                    from,
                    to,
                    at: *left,
                    seconds: left.duration_since(*came).as_secs().max(0),
                });
            }
        }
    }
    out
}

impl WidgetCounts {
    /// The definition, over rows: `deployments` of every time (the first arrivals of a release
    /// may be long before the period), each counted when it ended in the period.
    pub fn of(deployments: &[DeploymentFact], period: &Period) -> WidgetCounts {
        let mut out = WidgetCounts::default();
        for d in deployments {
            let Some(end) = d.finished_at.filter(|at| period.contains(*at)) else {
                continue;
            };
            let Some((_, counts)) = DayCounts::of(d.kind, d.state, Some(end)) else {
                continue;
            };
            let entry = out
                .ended
                .entry((d.project.clone(), d.environment.clone()))
                .or_default();
            entry.counts.add(&counts);
            if let Some((_, seconds)) = duration_of(d.kind, d.state, d.created_at, Some(end)) {
                entry.durations.add_seconds(seconds);
            }
        }
        let mut first: BTreeMap<(&Name, &str), BTreeMap<&Name, Timestamp>> = BTreeMap::new();
        for d in deployments {
            if d.kind != DeploymentKind::Deploy || d.state != DeploymentState::Succeeded {
                continue;
            }
            let Some(at) = d.finished_at else { continue };
            let slot = first
                .entry((&d.project, d.release.as_str()))
                .or_default()
                .entry(&d.environment)
                .or_insert(at);
            *slot = (*slot).min(at);
        }
        for arrivals in first.values() {
            let arrivals: Vec<(Name, Timestamp)> =
                arrivals.iter().map(|(e, at)| ((*e).clone(), *at)).collect();
            for stay in stays_of(&arrivals) {
                if period.contains(stay.at) {
                    out.stays
                        .entry((stay.from.clone(), stay.to.clone()))
                        .or_default()
                        .add_seconds(stay.seconds);
                }
            }
        }
        out
    }

    /// Add what another read counted (the whole days and the edges of a period).
    pub fn merge(&mut self, other: WidgetCounts) {
        for (key, ended) in other.ended {
            let entry = self.ended.entry(key).or_default();
            entry.counts.add(&ended.counts);
            entry.durations.merge(&ended.durations);
        }
        for (key, stays) in other.stays {
            self.stays.entry(key).or_default().merge(&stays);
        }
    }
}
