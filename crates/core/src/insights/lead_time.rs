//! Lead time for changes: from a commit's authored time to the first successful deployment of a
//! release holding it into production, and the same into each stage of the chain.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::bands::{Band, Goal};
use super::stats::Spread;
use super::{Arrival, CommitFact, Facts, Period};
use crate::Name;

/// One commit's way to production.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitLeadTime {
    pub project: Name,
    pub hash: String,
    pub authored_at: Timestamp,
    pub deployed_at: Timestamp,
    /// The first successful production deployment holding it.
    pub deployment: i64,
    /// 0 when the authored time is after the deployment (a clock that was wrong).
    pub seconds: i64,
}

/// From authored to the first successful deployment into one environment of the chain, for
/// the commits that reached production in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageLeadTime {
    pub environment: Name,
    /// `None` when none of these commits was deployed there.
    pub spread: Option<Spread>,
    pub goal: Goal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// `None` when no commit with an authored time reached production in the period.
    pub spread: Option<Spread>,
    pub band: Option<Band>,
    pub goal: Goal,
    /// The chain's stages, in delivery order.
    pub stages: Vec<StageLeadTime>,
    /// Every commit counted, in order of arrival in production.
    pub commits: Vec<CommitLeadTime>,
}

fn seconds(from: Timestamp, to: Timestamp) -> i64 {
    to.duration_since(from).as_secs().max(0)
}

/// The first arrival of `commit` in one of `environments`.
fn first_in<'a>(commit: &'a CommitFact, environments: &[Name]) -> Option<&'a Arrival> {
    commit
        .arrivals
        .iter()
        .filter(|a| environments.contains(&a.environment))
        .min_by_key(|a| (a.at, a.deployment))
}

pub(super) fn lead_time(facts: &Facts<'_>, period: &Period) -> LeadTime {
    let reached: Vec<(&CommitFact, &Arrival)> = facts
        .commits
        .iter()
        .filter_map(|c| first_in(c, facts.production).map(|a| (c, a)))
        .filter(|(_, a)| period.contains(a.at))
        .collect();
    let mut commits: Vec<CommitLeadTime> = reached
        .iter()
        .map(|(c, a)| CommitLeadTime {
            project: c.project.clone(),
            hash: c.hash.clone(),
            authored_at: c.authored_at,
            deployed_at: a.at,
            deployment: a.deployment,
            seconds: seconds(c.authored_at, a.at),
        })
        .collect();
    commits.sort_by(|a, b| {
        (a.deployed_at, &a.project, &a.hash).cmp(&(b.deployed_at, &b.project, &b.hash))
    });
    let stages = facts
        .chain
        .iter()
        .map(|environment| {
            let values: Vec<i64> = reached
                .iter()
                .filter_map(|(c, _)| {
                    first_in(c, std::slice::from_ref(environment))
                        .map(|a| seconds(c.authored_at, a.at))
                })
                .collect();
            let spread = Spread::of(&values);
            StageLeadTime {
                environment: environment.clone(),
                spread,
                goal: Goal::lead_time(spread.map(|s| s.median_seconds)),
            }
        })
        .collect();
    let values: Vec<i64> = commits.iter().map(|c| c.seconds).collect();
    let spread = Spread::of(&values);
    let median = spread.map(|s| s.median_seconds);
    LeadTime {
        spread,
        band: median.map(Band::of_lead_time),
        goal: Goal::lead_time(median),
        stages,
        commits,
    }
}
