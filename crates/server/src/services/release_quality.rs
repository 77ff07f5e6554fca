//! A release's quality at a glance, for its Quality page: the runs of each suite in each
//! environment with what changed since the suite's previous run, the suite's recent trend and
//! flaky tests, coverage per kind, and the findings the release carries with their risk
//! acceptances.
//!
//! It reads through the services that own each part (`quality`, `flakiness`, `coverage`,
//! `findings`), so the page sees exactly what the API and the gates see; it decides nothing.

use std::collections::BTreeMap;

use slipway_core::quality::RunComparison;
use slipway_core::Name;
use slipway_store::{StoredAcceptance, StoredTestRun, TestRunFilter};

use super::coverage::KindCoverage;
use super::findings::{FindingQuery, FindingStatus};
use super::flakiness::{FlakinessQuery, FlakinessReport, DEFAULT_RUNS};
use super::paging::{Listed, PageRequest};
use super::{coverage, findings, flakiness, parse_name, quality};
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// Runs of the release read to find its suites; a release with more details the suites of its
/// newest.
const RUNS_READ: i64 = 500;
/// Suites (per environment) the page details; past this they are listed only.
const SUITES_DETAILED: usize = 20;

/// One suite in one environment: the release's latest run of it and its context.
#[derive(Debug)]
pub struct SuiteQuality {
    pub environment: String,
    pub suite: String,
    pub latest: StoredTestRun,
    /// What changed since the suite's previous run in the environment (any release).
    pub previous: Option<StoredTestRun>,
    pub changes: RunComparison,
    /// The suite's last runs in the environment, across releases, oldest first.
    pub trend: Vec<StoredTestRun>,
    pub flakiness: FlakinessReport,
}

/// Everything the Quality page shows of one release.
#[derive(Debug)]
pub struct ReleaseQuality {
    /// One page of the release's runs, newest first.
    pub runs: Listed<StoredTestRun>,
    /// By environment then suite; at most [`SUITES_DETAILED`].
    pub suites: Vec<SuiteQuality>,
    pub coverage: Vec<KindCoverage>,
    /// One page of the findings the release carries, the most severe first.
    pub findings: Listed<FindingStatus>,
    /// The risk acceptances of the findings listed, newest first.
    pub acceptances: Vec<StoredAcceptance>,
}

/// Which page of each list the Quality page shows.
#[derive(Debug, Clone, Default)]
pub struct QualityPages {
    pub runs: PageRequest,
    pub findings: PageRequest,
}

/// The release's quality evidence, read as `actor` (who must be allowed to read the release).
pub async fn of_release(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
    pages: &QualityPages,
) -> Result<ReleaseQuality, ServiceError> {
    let runs = quality::list(
        state,
        actor,
        quality::RunQuery {
            project: project.clone(),
            release: release.to_string(),
            environment: None,
            suite: None,
        },
        &pages.runs,
    )
    .await?;
    // The suites come from the release's newest runs, whichever page of runs is shown.
    let version = quality::release_of(state, project, release).await?;
    let newest = state
        .store
        .test_runs(&TestRunFilter {
            project: project.to_string(),
            release: Some(version.to_string()),
            environment: None,
            suite: None,
            limit: RUNS_READ,
        })
        .await?;
    let mut suites = Vec::new();
    for latest in latest_per_suite(&newest).into_iter().take(SUITES_DETAILED) {
        suites.push(suite_quality(state, actor, project, release, latest.clone()).await?);
    }
    let coverage = coverage::of_release(state, actor, project, release).await?;
    let findings = findings::page(
        state,
        actor,
        FindingQuery {
            project: project.clone(),
            release: Some(release.to_string()),
            component: None,
            state: None,
            overdue: false,
            limit: 0,
        },
        &pages.findings,
    )
    .await?;
    let listed: Vec<i64> = findings.items.iter().map(|f| f.finding.id).collect();
    let acceptances = state
        .store
        .acceptances_of_findings(project.as_str(), &listed)
        .await?;
    Ok(ReleaseQuality {
        runs,
        suites,
        coverage,
        findings,
        acceptances,
    })
}

/// The newest run of each (environment, suite), ordered by environment then suite.
fn latest_per_suite(runs: &[StoredTestRun]) -> Vec<&StoredTestRun> {
    let mut latest: BTreeMap<(&str, &str), &StoredTestRun> = BTreeMap::new();
    for run in runs {
        latest
            .entry((run.environment.as_str(), run.suite.as_str()))
            .and_modify(|kept| {
                if run.id > kept.id {
                    *kept = run;
                }
            })
            .or_insert(run);
    }
    latest.into_values().collect()
}

async fn suite_quality(
    state: &AppState,
    actor: &Actor,
    project: &Name,
    release: &str,
    latest: StoredTestRun,
) -> Result<SuiteQuality, ServiceError> {
    let changes = quality::compare(state, actor, project, release, latest.id).await?;
    let mut trend = state
        .store
        .test_runs(&TestRunFilter {
            project: project.to_string(),
            release: None,
            environment: Some(latest.environment.clone()),
            suite: Some(latest.suite.clone()),
            limit: DEFAULT_RUNS,
        })
        .await?;
    trend.reverse();
    let flakiness = flakiness::report(
        state,
        actor,
        FlakinessQuery {
            project: project.clone(),
            environment: parse_name("environment", &latest.environment)?,
            suite: latest.suite.clone(),
            runs: DEFAULT_RUNS,
            attributes: BTreeMap::new(),
        },
    )
    .await?;
    Ok(SuiteQuality {
        environment: latest.environment.clone(),
        suite: latest.suite.clone(),
        previous: changes.previous,
        changes: changes.comparison,
        trend,
        flakiness,
        latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_core::quality::RunTotals;

    fn run(id: i64, environment: &str, suite: &str) -> StoredTestRun {
        StoredTestRun {
            id,
            project: "pets".into(),
            release: "1.0.0".into(),
            environment: environment.into(),
            suite: suite.into(),
            launch: format!("l{id}"),
            attributes: BTreeMap::new(),
            files: 1,
            totals: RunTotals::default(),
            duration_ms: 0,
            created_by: "ci".into(),
            created_at: jiff::Timestamp::UNIX_EPOCH,
            updated_at: jiff::Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn each_suite_of_each_environment_is_shown_by_its_newest_run() {
        let runs = [
            run(7, "MET", "e2e"),
            run(5, "DEV", "unit"),
            run(9, "DEV", "unit"),
            run(3, "MET", "e2e"),
            run(4, "DEV", "contract"),
        ];
        let latest: Vec<(i64, &str, &str)> = latest_per_suite(&runs)
            .iter()
            .map(|r| (r.id, r.environment.as_str(), r.suite.as_str()))
            .collect();
        assert_eq!(
            latest,
            [
                (4, "DEV", "contract"),
                (9, "DEV", "unit"),
                (7, "MET", "e2e")
            ]
        );
        assert!(latest_per_suite(&[]).is_empty());
    }
}
