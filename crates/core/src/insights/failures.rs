//! Change failure rate, failed-deployment recovery time and rework rate: which production
//! deployments failed, why (each reason names the deployment or incident that shows it), and
//! when production was restored.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::bands::{Band, Goal};
use super::stats::Spread;
use super::{
    in_production, Counted, DeploymentFact, Facts, IncidentFact, IncidentSource, Period,
    FOLLOW_UP_DAYS,
};
use crate::deploy::state::{DeploymentKind, DeploymentState};
use crate::Name;

/// Why a production deployment counts as a change failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureReason {
    /// It ended failed.
    Failed,
    /// It failed and its environment's policy rolled it back.
    RolledBackDuringDeployment,
    /// A rollback deployment undid it.
    RolledBack { rollback: i64 },
    /// The next deployment into the same project and environment was a hotfix release.
    Hotfix { deployment: i64 },
    /// An incident (a complaint, later an alert) was attributed to it.
    Incident { source: IncidentSource, id: i64 },
}

impl FailureReason {
    fn is_incident(&self) -> bool {
        matches!(self, FailureReason::Incident { .. })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDeployment {
    pub deployment: i64,
    pub project: Name,
    pub environment: Name,
    pub release: String,
    pub ended_at: Timestamp,
    pub reasons: Vec<FailureReason>,
}

/// Failed production deployments over production deployments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeFailureRate {
    /// `None` when no production deployment ended in the period.
    pub rate: Option<f64>,
    pub band: Option<Band>,
    pub goal: Goal,
    /// The production deployments counted (the denominator), from the day counts; the store
    /// pages through them (`GET /api/v1/insights/dora/deployments`).
    pub counted: u64,
    /// The failed ones (the numerator), with their reasons.
    pub failed: Vec<FailedDeployment>,
}

/// How long one failed deployment kept production failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recovery {
    pub deployment: i64,
    pub started_at: Timestamp,
    /// `None` while not recovered.
    pub recovered_at: Option<Timestamp>,
    pub seconds: Option<i64>,
    /// The deployment that restored production, when a deployment did.
    pub restored_by: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecoveryTime {
    /// Over the recovered failures; `None` when none recovered.
    pub spread: Option<Spread>,
    pub band: Option<Band>,
    pub goal: Goal,
    /// Every failed deployment of the period, recovered or not.
    pub recoveries: Vec<Recovery>,
}

/// Unplanned production deployments (rollbacks and hotfix releases) over all production
/// deployments and rollbacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReworkRate {
    pub rate: Option<f64>,
    /// The production deployments and rollbacks counted (the denominator), from the day counts.
    pub counted: u64,
    /// The unplanned ones: rollbacks and deployments of hotfix releases.
    pub rework: Vec<i64>,
}

/// Production's deployments per project and environment, in the order they were created.
struct Timeline<'a> {
    lanes: BTreeMap<(Name, Name), Vec<&'a DeploymentFact>>,
    by_id: BTreeMap<i64, &'a DeploymentFact>,
    /// The rollbacks of each deployment, and the incidents attributed to it: looked up once
    /// per deployment instead of walking its 30 days of follow-ups (25 000 production
    /// deployments over two years made that walk most of the answer's time).
    rollbacks_of: BTreeMap<i64, Vec<&'a DeploymentFact>>,
    incidents_of: BTreeMap<i64, Vec<&'a IncidentFact>>,
}

impl<'a> Timeline<'a> {
    fn new(facts: &Facts<'a>) -> Timeline<'a> {
        let mut lanes: BTreeMap<(Name, Name), Vec<&DeploymentFact>> = BTreeMap::new();
        let mut by_id = BTreeMap::new();
        for d in facts.deployments.iter().filter(|d| in_production(facts, d)) {
            if d.kind == DeploymentKind::DryRun {
                continue;
            }
            lanes
                .entry((d.project.clone(), d.environment.clone()))
                .or_default()
                .push(d);
            by_id.insert(d.id, d);
        }
        for lane in lanes.values_mut() {
            lane.sort_by_key(|d| (d.created_at, d.id));
        }
        let mut rollbacks_of: BTreeMap<i64, Vec<&DeploymentFact>> = BTreeMap::new();
        for d in by_id.values() {
            if let (DeploymentKind::Rollback, Some(of)) = (d.kind, d.rollback_of) {
                rollbacks_of.entry(of).or_default().push(*d);
            }
        }
        let mut incidents_of: BTreeMap<i64, Vec<&IncidentFact>> = BTreeMap::new();
        for i in facts.incidents {
            incidents_of.entry(i.deployment).or_default().push(i);
        }
        Timeline {
            lanes,
            by_id,
            rollbacks_of,
            incidents_of,
        }
    }

    /// The rollbacks of `d` into its project and environment created after it, in lane order.
    fn rollbacks(&self, d: &DeploymentFact) -> Vec<&'a DeploymentFact> {
        let mut found: Vec<&DeploymentFact> = self
            .rollbacks_of
            .get(&d.id)
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .copied()
            .filter(|o| {
                (o.project == d.project && o.environment == d.environment)
                    && (o.created_at, o.id) > (d.created_at, d.id)
            })
            .collect();
        found.sort_by_key(|o| (o.created_at, o.id));
        found
    }

    fn incidents(&self, d: &DeploymentFact) -> &[&'a IncidentFact] {
        self.incidents_of.get(&d.id).map_or(&[], Vec::as_slice)
    }

    /// The deployments into `d`'s project and environment created after it.
    fn after<'s>(&'s self, d: &DeploymentFact) -> impl Iterator<Item = &'a DeploymentFact> + 's {
        let lane = self
            .lanes
            .get(&(d.project.clone(), d.environment.clone()))
            .map_or(&[][..], Vec::as_slice);
        let start = lane.partition_point(|o| (o.created_at, o.id) <= (d.created_at, d.id));
        lane[start..].iter().copied()
    }

    /// The first success among `d` (when `including`) and the deployments after it.
    fn restored_from(&self, d: &'a DeploymentFact, including: bool) -> Option<(Timestamp, i64)> {
        let own = including.then_some(d).into_iter();
        own.chain(self.after(d))
            .find_map(|o| o.succeeded_at().map(|at| (at, o.id)))
    }
}

/// The production deployments that count: deployments (not rollbacks or dry runs) that ended
/// in the period.
fn counted<'a>(
    facts: &Facts<'a>,
    period: &Period,
) -> impl Iterator<Item = (&'a DeploymentFact, Timestamp)> + 'a {
    let facts = *facts;
    let period = *period;
    facts.deployments.iter().filter_map(move |d| {
        let ended = d.ended()?;
        (in_production(&facts, d) && d.kind == DeploymentKind::Deploy && period.contains(ended))
            .then_some((d, ended))
    })
}

fn follow_up_end(ended: Timestamp) -> Timestamp {
    ended + SignedDuration::from_hours(24 * FOLLOW_UP_DAYS)
}

fn reasons(timeline: &Timeline<'_>, d: &DeploymentFact, ended: Timestamp) -> Vec<FailureReason> {
    let horizon = follow_up_end(ended);
    let mut reasons = Vec::new();
    match d.state {
        DeploymentState::Failed => reasons.push(FailureReason::Failed),
        DeploymentState::RolledBack => reasons.push(FailureReason::RolledBackDuringDeployment),
        _ => {}
    }
    for later in timeline.rollbacks(d) {
        if later.created_at <= horizon {
            reasons.push(FailureReason::RolledBack { rollback: later.id });
        }
    }
    let next = timeline.after(d).find(|o| o.kind == DeploymentKind::Deploy);
    if let Some(next) = next.filter(|n| n.hotfix && n.created_at <= horizon) {
        reasons.push(FailureReason::Hotfix {
            deployment: next.id,
        });
    }
    let mut incidents: Vec<_> = timeline
        .incidents(d)
        .iter()
        .filter(|i| i.opened_at <= horizon)
        .map(|i| (i.source, i.id))
        .collect();
    incidents.sort();
    incidents.dedup();
    reasons.extend(
        incidents
            .into_iter()
            .map(|(source, id)| FailureReason::Incident { source, id }),
    );
    reasons
}

/// The failed production deployments of the period, in the order they ended: only the
/// notable ones can be (`days::notable`), so only the deployments read are walked.
fn failed_deployments(
    timeline: &Timeline<'_>,
    facts: &Facts<'_>,
    period: &Period,
) -> Vec<FailedDeployment> {
    let mut all: Vec<(&DeploymentFact, Timestamp)> = counted(facts, period).collect();
    all.sort_by_key(|(d, ended)| (*ended, d.id));
    let mut failed = Vec::new();
    for (d, ended) in &all {
        let reasons = reasons(timeline, d, *ended);
        if !reasons.is_empty() {
            failed.push(FailedDeployment {
                deployment: d.id,
                project: d.project.clone(),
                environment: d.environment.clone(),
                release: d.release.clone(),
                ended_at: *ended,
                reasons,
            });
        }
    }
    failed
}

fn ratio(part: usize, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Change failure rate and recovery time, from one walk of production's deployments: both
/// start from the same failed deployments (computing them twice was a third of core's time
/// over two years).
pub(super) fn failures(facts: &Facts<'_>, period: &Period) -> (ChangeFailureRate, RecoveryTime) {
    let timeline = Timeline::new(facts);
    let failed = failed_deployments(&timeline, facts, period);
    let recovery = recovery_time(&timeline, &failed);
    let counted: u64 = facts
        .days
        .iter()
        .map(|d| Counted::ChangeFailureRate.of_day(&d.counts))
        .sum();
    let rate = ratio(failed.len(), counted);
    let change_failure_rate = ChangeFailureRate {
        rate,
        band: rate.map(Band::of_change_failure_rate),
        goal: Goal::change_failure_rate(rate),
        counted,
        failed,
    };
    (change_failure_rate, recovery)
}

/// When the deployment side of a failure began and was restored, if a deployment restored it.
fn restoration(
    timeline: &Timeline<'_>,
    d: &DeploymentFact,
    reason: &FailureReason,
    ended: Timestamp,
) -> Option<(Timestamp, Option<(Timestamp, i64)>)> {
    let d = *timeline.by_id.get(&d.id)?;
    let from = |id: i64| timeline.by_id.get(&id).copied();
    match reason {
        FailureReason::RolledBackDuringDeployment => {
            Some((d.created_at, d.finished_at.map(|at| (at, d.id))))
        }
        FailureReason::Failed => Some((d.created_at, timeline.restored_from(d, false))),
        FailureReason::RolledBack { rollback: by } | FailureReason::Hotfix { deployment: by } => {
            Some((
                ended,
                from(*by).and_then(|o| timeline.restored_from(o, true)),
            ))
        }
        FailureReason::Incident { .. } => None,
    }
}

fn recovery(timeline: &Timeline<'_>, d: &DeploymentFact, f: &FailedDeployment) -> Recovery {
    // The earliest start among the reasons: a complaint counts from its receipt.
    let mut started_at = Timestamp::MAX;
    // The deployment side: restored by the first deployment that restored it.
    let sides: Vec<_> = f
        .reasons
        .iter()
        .filter_map(|r| restoration(timeline, d, r, f.ended_at))
        .collect();
    let mut deployment_side: Option<Option<(Timestamp, i64)>> = None;
    for (start, restored) in sides {
        started_at = started_at.min(start);
        deployment_side = Some(match (deployment_side.flatten(), restored) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        });
    }
    // The incident side: recovered when every attributed incident is resolved.
    let ids: Vec<i64> = f
        .reasons
        .iter()
        .filter_map(|r| match r {
            FailureReason::Incident { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    let mut incident_side: Option<Option<Timestamp>> = None;
    if f.reasons.iter().any(FailureReason::is_incident) {
        let mut resolved = Some(Timestamp::MIN);
        for i in timeline.incidents(d).iter().filter(|i| ids.contains(&i.id)) {
            started_at = started_at.min(i.opened_at);
            resolved = match (resolved, i.resolved_at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        incident_side = Some(resolved);
    }
    let recovered_at = match (deployment_side, incident_side) {
        (Some(Some((a, _))), Some(Some(b))) => Some(a.max(b)),
        (Some(Some((a, _))), None) => Some(a),
        (None, Some(Some(b))) => Some(b),
        _ => None,
    };
    let started_at = if started_at == Timestamp::MAX {
        f.ended_at
    } else {
        started_at
    };
    Recovery {
        deployment: d.id,
        started_at,
        recovered_at,
        seconds: recovered_at.map(|at| at.duration_since(started_at).as_secs().max(0)),
        restored_by: deployment_side.flatten().map(|(_, id)| id),
    }
}

fn recovery_time(timeline: &Timeline<'_>, failed: &[FailedDeployment]) -> RecoveryTime {
    let recoveries: Vec<Recovery> = failed
        .iter()
        .filter_map(|f| {
            let d = *timeline.by_id.get(&f.deployment)?;
            Some(recovery(timeline, d, f))
        })
        .collect();
    let seconds: Vec<i64> = recoveries.iter().filter_map(|r| r.seconds).collect();
    let spread = Spread::of(&seconds);
    let median = spread.map(|s| s.median_seconds);
    RecoveryTime {
        spread,
        band: median.map(Band::of_recovery_time),
        goal: Goal::recovery_time(median),
        recoveries,
    }
}

pub(super) fn rework_rate(facts: &Facts<'_>, period: &Period) -> ReworkRate {
    let mut rework: Vec<(Timestamp, i64)> = facts
        .deployments
        .iter()
        .filter(|d| in_production(facts, d) && d.kind != DeploymentKind::DryRun)
        .filter(|d| d.kind == DeploymentKind::Rollback || d.hotfix)
        .filter_map(|d| d.ended().map(|at| (at, d.id)))
        .filter(|(at, _)| period.contains(*at))
        .collect();
    rework.sort();
    let counted: u64 = facts
        .days
        .iter()
        .map(|d| Counted::ReworkRate.of_day(&d.counts))
        .sum();
    ReworkRate {
        rate: ratio(rework.len(), counted),
        counted,
        rework: rework.into_iter().map(|(_, id)| id).collect(),
    }
}
