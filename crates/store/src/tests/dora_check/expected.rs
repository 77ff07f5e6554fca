//! The independent computation: every figure from the generated list with plain loops, from
//! docs/insights.md's definitions, sharing nothing with the store's reads or core.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};

use super::history::{Gen, History};

/// Nearest rank: the value at position ⌈p·n/100⌉ (1-based) of the sorted values.
fn percentile(values: &[i64], p: usize) -> Option<i64> {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return None;
    }
    let mut rank = p * sorted.len() / 100;
    if !(p * sorted.len()).is_multiple_of(100) {
        rank += 1;
    }
    Some(sorted[rank.max(1) - 1])
}

fn seconds(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_second() - from.as_second()).max(0)
}

/// The independent computation: every figure from the generated list with plain loops.
pub(crate) struct Expected {
    pub(crate) frequency: (u64, u64),
    /// The successful production deployments counted, by id.
    pub(crate) frequency_ids: Vec<i64>,
    pub(crate) lead: Option<(i64, i64, u64)>,
    pub(crate) stages: BTreeMap<String, Option<(i64, i64, u64)>>,
    pub(crate) ranges: Vec<u64>,
    pub(crate) lead_commits: Vec<(String, i64)>,
    pub(crate) counted: Vec<i64>,
    pub(crate) failed: Vec<i64>,
    pub(crate) recoveries: Vec<(i64, Option<i64>)>,
    pub(crate) recovery: Option<(i64, i64)>,
    pub(crate) rework: (Vec<i64>, Vec<i64>),
}

fn spread3(values: &[i64]) -> Option<(i64, i64, u64)> {
    Some((
        percentile(values, 50)?,
        percentile(values, 90)?,
        values.len() as u64,
    ))
}

/// What the independent computation is asked: the history, the production environments, the
/// chain and the period.
pub(crate) struct Question<'h> {
    pub(crate) history: &'h History,
    pub(crate) production: &'h [&'h str],
    pub(crate) chain: &'h [&'h str],
    pub(crate) from: Timestamp,
    pub(crate) to: Timestamp,
}

impl Question<'_> {
    fn in_period(&self, t: Timestamp) -> bool {
        self.from <= t && t < self.to
    }

    fn prod(&self, d: &Gen) -> bool {
        self.production.contains(&d.environment)
    }
}

/// Lead time: each commit's first arrival per environment, by plain loops.
struct ExpectedLead {
    values: Vec<i64>,
    stages: BTreeMap<String, Vec<i64>>,
    ranges: Vec<u64>,
    commits: Vec<(String, i64)>,
}

fn expected_lead(q: &Question<'_>) -> ExpectedLead {
    let (history, production, chain) = (q.history, q.production, q.chain);
    let all = &history.deployments;
    let in_period = |t: Timestamp| q.in_period(t);
    let mut first: BTreeMap<(&str, &str), (Timestamp, i64)> = BTreeMap::new();
    for d in all {
        if d.kind != DeploymentKind::Deploy || d.state != DeploymentState::Succeeded {
            continue;
        }
        for hash in &history.commits[&d.release] {
            let slot = first
                .entry((hash.as_str(), d.environment))
                .or_insert((d.finished, d.id));
            if (d.finished, d.id) < *slot {
                *slot = (d.finished, d.id);
            }
        }
    }
    let mut lead_commits = Vec::new();
    let mut lead_values = Vec::new();
    let mut stage_values: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (hash, authored) in &history.authored {
        let arrival = production
            .iter()
            .filter_map(|e| first.get(&(hash.as_str(), *e)))
            .min();
        for e in chain {
            match first.get(&(hash.as_str(), *e)) {
                Some((at, _)) if in_period(*at) => stage_values
                    .entry(e.to_string())
                    .or_default()
                    .push(seconds(*authored, *at)),
                _ => {}
            }
        }
        let Some((at, deployment)) = arrival else {
            continue;
        };
        if !in_period(*at) {
            continue;
        }
        lead_commits.push((*at, hash.clone(), *deployment));
        lead_values.push(seconds(*authored, *at));
    }
    lead_commits.sort();
    let bounds = [3_600, 86_400, 7 * 86_400, 30 * 86_400];
    let mut ranges = vec![0u64; 5];
    for v in &lead_values {
        let i = bounds.iter().filter(|b| *v >= **b).count();
        ranges[i] += 1;
    }
    ExpectedLead {
        values: lead_values,
        stages: stage_values,
        ranges,
        commits: lead_commits.into_iter().map(|(_, h, d)| (h, d)).collect(),
    }
}

/// Change failure rate and recovery: production deployments (not rollbacks) that ended in the
/// period, which of them failed, and each failure's recovery in seconds.
type ExpectedFailures = (Vec<i64>, Vec<i64>, Vec<(i64, Option<i64>)>);

fn expected_failures(q: &Question<'_>) -> ExpectedFailures {
    let all = &q.history.deployments;
    let lane = |d: &Gen| -> Vec<&Gen> {
        let mut later: Vec<&Gen> = all
            .iter()
            .filter(|o| o.environment == d.environment && (o.created, o.id) > (d.created, d.id))
            .collect();
        later.sort_by_key(|o| (o.created, o.id));
        later
    };
    let horizon = |t: Timestamp| t + SignedDuration::from_hours(24 * 30);
    let mut counted = Vec::new();
    let mut failed = Vec::new();
    let mut recoveries = Vec::new();
    let mut ended: Vec<&Gen> = all
        .iter()
        .filter(|d| q.prod(d) && d.kind == DeploymentKind::Deploy && q.in_period(d.finished))
        .collect();
    ended.sort_by_key(|d| (d.finished, d.id));
    for d in ended {
        counted.push(d.id);
        let later = lane(d);
        // (start, restored) of each reason.
        let mut sides: Vec<(Timestamp, Option<(Timestamp, i64)>)> = Vec::new();
        let first_success = |list: &[&Gen]| {
            list.iter()
                .find(|o| o.state == DeploymentState::Succeeded)
                .map(|o| (o.finished, o.id))
        };
        if d.state == DeploymentState::Failed {
            sides.push((d.created, first_success(&later[..])));
        }
        for (i, o) in later.iter().enumerate() {
            if o.created > horizon(d.finished) {
                break;
            }
            if o.kind == DeploymentKind::Rollback && o.rollback_of == Some(d.id) {
                sides.push((d.finished, first_success(&later[i..])));
            }
        }
        if let Some(i) = later.iter().position(|o| o.kind == DeploymentKind::Deploy) {
            let next = later[i];
            if next.hotfix && next.created <= horizon(d.finished) {
                sides.push((d.finished, first_success(&later[i..])));
            }
        }
        if sides.is_empty() {
            continue;
        }
        failed.push(d.id);
        let started = sides.iter().map(|(s, _)| *s).min().unwrap();
        let restored = sides.iter().filter_map(|(_, r)| *r).min();
        recoveries.push((d.id, restored.map(|(at, _)| seconds(started, at))));
    }
    (counted, failed, recoveries)
}

pub(crate) fn expected(q: &Question<'_>) -> Expected {
    let all = &q.history.deployments;
    // Deployment frequency.
    let mut days = BTreeSet::new();
    let mut count = 0;
    let mut frequency_ids = Vec::new();
    for d in all {
        if q.prod(d)
            && d.kind == DeploymentKind::Deploy
            && d.state == DeploymentState::Succeeded
            && q.in_period(d.finished)
        {
            count += 1;
            frequency_ids.push(d.id);
            days.insert(d.finished.as_second().div_euclid(86_400));
        }
    }
    let lead = expected_lead(q);
    let (counted, failed, recoveries) = expected_failures(q);
    let recovered: Vec<i64> = recoveries.iter().filter_map(|(_, s)| *s).collect();
    // Rework: every production deployment and rollback that ended in the period.
    let mut rework_all: Vec<&Gen> = all
        .iter()
        .filter(|d| q.prod(d) && q.in_period(d.finished))
        .collect();
    rework_all.sort_by_key(|d| (d.finished, d.id));
    let rework = rework_all
        .iter()
        .filter(|d| d.kind == DeploymentKind::Rollback || d.hotfix)
        .map(|d| d.id)
        .collect();
    frequency_ids.sort();
    Expected {
        frequency: (count, days.len() as u64),
        frequency_ids,
        lead: spread3(&lead.values),
        stages: q
            .chain
            .iter()
            .map(|e| {
                (
                    e.to_string(),
                    spread3(lead.stages.get(*e).map_or(&[][..], Vec::as_slice)),
                )
            })
            .collect(),
        ranges: lead.ranges,
        lead_commits: lead.commits,
        counted,
        failed,
        recoveries,
        recovery: percentile(&recovered, 50).zip(percentile(&recovered, 90)),
        rework: (rework_all.iter().map(|d| d.id).collect(), rework),
    }
}
