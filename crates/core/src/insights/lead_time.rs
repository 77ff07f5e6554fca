//! Lead time for changes: from a commit's authored time to the first successful deployment of a
//! release holding it into production, and the same into each stage of the chain.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::bands::{Band, Goal};
use super::lead_buckets::{range_of, ErrorBound, LEAD_TIME_ERROR, LEAD_TIME_RANGES};
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
/// the commits whose first arrival there is in the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageLeadTime {
    pub environment: Name,
    /// `None` when none of these commits was deployed there.
    pub spread: Option<Spread>,
    pub goal: Goal,
}

/// Where a page of the commits behind lead time ends: the last commit's arrival in production,
/// project and hash, the order the drill-down pages in (keyset: a page never shifts when later
/// commits arrive). Written `ARRIVED~PROJECT~HASH` (`~` is in neither a time nor a name; the
/// hash is the rest, whatever it holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitCursor {
    pub arrived_at: Timestamp,
    pub project: Name,
    pub hash: String,
}

impl CommitCursor {
    /// The cursor just after `commit`.
    pub fn after(commit: &CommitLeadTime) -> CommitCursor {
        CommitCursor {
            arrived_at: commit.deployed_at,
            project: commit.project.clone(),
            hash: commit.hash.clone(),
        }
    }

    /// Whether `commit` comes after the cursor in the drill-down's order.
    pub fn precedes(&self, commit: &CommitLeadTime) -> bool {
        (self.arrived_at, &self.project, &self.hash)
            < (commit.deployed_at, &commit.project, &commit.hash)
    }
}

impl std::fmt::Display for CommitCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}~{}~{}", self.arrived_at, self.project, self.hash)
    }
}

/// Text that is not a [`CommitCursor`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a cursor of the commits' pages (ARRIVED~PROJECT~HASH)")]
pub struct BadCommitCursor(pub String);

impl std::str::FromStr for CommitCursor {
    type Err = BadCommitCursor;

    fn from_str(text: &str) -> Result<CommitCursor, BadCommitCursor> {
        let bad = || BadCommitCursor(text.to_string());
        let mut parts = text.splitn(3, '~');
        let (Some(at), Some(project), Some(hash)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if hash.is_empty() {
            return Err(bad());
        }
        Ok(CommitCursor {
            arrived_at: at.parse().map_err(|_| bad())?,
            project: Name::parse(project).map_err(|_| bad())?,
            hash: hash.to_string(),
        })
    }
}

/// The commits of a period whose lead time falls in one of [`LEAD_TIME_RANGES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeCount {
    pub range: String,
    pub count: u64,
}

/// Lead times already reduced to their spreads: what the store reads from its first-arrival
/// table (one row per commit and environment, written when a deployment succeeds), or what
/// [`LeadTimeFacts::of`] computes from whole commit histories. Both follow one definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeadTimeFacts {
    /// Authored → first successful deployment into any production environment, for the commits
    /// whose first arrival there is in the period.
    pub production: Option<Spread>,
    /// Authored → first successful deployment into each environment, for the commits whose
    /// first arrival there is in the period.
    pub stages: Vec<(Name, Spread)>,
    /// Those commits counted per range of [`LEAD_TIME_RANGES`], in its order; the commits
    /// themselves are paged (`counted_commits`), never listed with the figures.
    pub ranges: [u64; 5],
}

impl LeadTimeFacts {
    /// The definition, over whole commit histories: each commit's first arrival in production
    /// and in every environment.
    pub fn of(commits: &[CommitFact], production: &[Name], period: &Period) -> LeadTimeFacts {
        let listed = counted_commits(commits, production, period);
        let mut ranges = [0u64; 5];
        for c in &listed {
            ranges[range_of(c.seconds)] += 1;
        }
        let mut environments: Vec<&Name> = commits
            .iter()
            .flat_map(|c| c.arrivals.iter().map(|a| &a.environment))
            .collect();
        environments.sort();
        environments.dedup();
        let stages = environments
            .into_iter()
            .filter_map(|environment| {
                let values: Vec<i64> = commits
                    .iter()
                    .filter_map(|c| {
                        first_in(c, std::slice::from_ref(environment))
                            .filter(|a| period.contains(a.at))
                            .map(|a| seconds(c.authored_at, a.at))
                    })
                    .collect();
                Spread::of(&values).map(|s| (environment.clone(), s))
            })
            .collect();
        let values: Vec<i64> = listed.iter().map(|c| c.seconds).collect();
        let production = Spread::of(&values);
        LeadTimeFacts {
            production,
            stages,
            ranges,
        }
    }
}

/// The commits lead time counts over `period` (those whose first arrival in any of
/// `production` is in it), in the drill-down's order: arrival, project, hash
/// ([`CommitCursor`]). The definition the store's pages follow.
pub fn counted_commits(
    commits: &[CommitFact],
    production: &[Name],
    period: &Period,
) -> Vec<CommitLeadTime> {
    let mut listed: Vec<CommitLeadTime> = commits
        .iter()
        .filter_map(|c| first_in(c, production).map(|a| (c, a)))
        .filter(|(_, a)| period.contains(a.at))
        .map(|(c, a)| CommitLeadTime {
            project: c.project.clone(),
            hash: c.hash.clone(),
            authored_at: c.authored_at,
            deployed_at: a.at,
            deployment: a.deployment,
            seconds: seconds(c.authored_at, a.at),
        })
        .collect();
    listed.sort_by(|a, b| {
        (a.deployed_at, &a.project, &a.hash).cmp(&(b.deployed_at, &b.project, &b.hash))
    });
    listed
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeadTime {
    /// `None` when no commit with an authored time reached production in the period.
    pub spread: Option<Spread>,
    /// How far the medians and 90th percentiles (of production and of each stage) may be from
    /// the exact nearest-rank values: they are read from pre-counted buckets
    /// (`lead_buckets`). Counts, ranges and the commits listed are exact.
    pub error_bound: ErrorBound,
    pub band: Option<Band>,
    pub goal: Goal,
    /// The chain's stages, in delivery order.
    pub stages: Vec<StageLeadTime>,
    /// Every commit counted per range of [`LEAD_TIME_RANGES`]; the commits themselves are
    /// paged by the drill-down (`GET /api/v1/insights/dora/commits`), `spread.count` of them.
    pub ranges: Vec<RangeCount>,
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

pub(super) fn lead_time(facts: &Facts<'_>) -> LeadTime {
    let lead = facts.lead_times;
    let stages = facts
        .chain
        .iter()
        .map(|environment| {
            let spread = lead
                .stages
                .iter()
                .find(|(e, _)| e == environment)
                .map(|(_, s)| *s);
            StageLeadTime {
                environment: environment.clone(),
                spread,
                goal: Goal::lead_time(spread.map(|s| s.median_seconds)),
            }
        })
        .collect();
    let median = lead.production.map(|s| s.median_seconds);
    LeadTime {
        spread: lead.production,
        error_bound: LEAD_TIME_ERROR,
        band: median.map(Band::of_lead_time),
        goal: Goal::lead_time(median),
        stages,
        ranges: LEAD_TIME_RANGES
            .iter()
            .zip(lead.ranges)
            .map(|((range, _), count)| RangeCount {
                range: (*range).to_string(),
                count,
            })
            .collect(),
    }
}
