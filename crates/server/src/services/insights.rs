//! DORA metrics for a project (or every project) over a period: reads the facts from the store
//! and asks `core::insights`, which defines every figure (docs/insights.md).
//!
//! It never computes a figure itself and never guesses which environments are production: the
//! environments declared `production: true` are.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use slipway_core::access::Operation;
use slipway_core::insights::attribution::{self, FiredAlert};
use slipway_core::insights::{
    self, CommitCursor, CommitLeadTime, Counted, DeploymentFact, Facts, IncidentFact, Insight,
    Period, FOLLOW_UP_DAYS,
};
use slipway_core::Name;
use slipway_store::InsightScope;

use super::require;
use crate::auth::Actor;
use crate::{AppState, ServiceError};

/// The period a question without one covers: the 30 days up to now.
const DEFAULT_DAYS: i64 = 30;

/// What to measure: all optional.
#[derive(Debug, Clone, Default)]
pub struct DoraQuery {
    pub project: Option<Name>,
    /// The projects whose `team:` names it (narrowed to `project` when both are given).
    pub team: Option<Name>,
    /// One production environment instead of all of them.
    pub environment: Option<Name>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// The figures with what they were computed over.
#[derive(Debug, Clone)]
pub struct DoraAnswer {
    pub project: Option<Name>,
    pub team: Option<Name>,
    pub environment: Option<Name>,
    pub period: Period,
    pub insight: Insight,
}

fn days(n: i64) -> SignedDuration {
    SignedDuration::from_hours(24 * n)
}

/// The period asked for, or a refusal that gives the allowed range.
pub fn period(
    from: Option<Timestamp>,
    to: Option<Timestamp>,
    now: Timestamp,
) -> Result<Period, ServiceError> {
    let to = to.unwrap_or(now);
    let from = from.unwrap_or(to - days(DEFAULT_DAYS));
    Period::new(from, to).map_err(|e| {
        ServiceError::invalid(
            e.to_string(),
            format!(
                "give from < to, at most {} days apart (e.g. from=2026-01-01&to=2026-04-01); without them the last {DEFAULT_DAYS} days are measured",
                insights::MAX_PERIOD_DAYS
            ),
        )
    })
}

pub async fn dora(
    state: &AppState,
    actor: &Actor,
    query: DoraQuery,
) -> Result<DoraAnswer, ServiceError> {
    let subject = query
        .project
        .as_ref()
        .map_or_else(|| "insights".to_string(), |p| format!("project/{p}"));
    require(state, actor, Operation::Read, &subject).await?;
    measure(state, query).await
}

/// The figures of every project over the last 30 days, for the `/metrics` gauges: aggregates
/// only, so they need no caller; `None` when not configured.
pub async fn gauges(state: &AppState) -> Result<Option<insights::Dora>, ServiceError> {
    Ok(match measure(state, DoraQuery::default()).await?.insight {
        Insight::Measured(dora) => Some(*dora),
        Insight::NotConfigured => None,
    })
}

async fn measure(state: &AppState, query: DoraQuery) -> Result<DoraAnswer, ServiceError> {
    // Deployments are stamped with the real time, never the governance clock.
    let period = period(query.from, query.to, slipway_store::current_time())?;
    if let Some(project) = &query.project {
        if state.store.project(project).await?.is_none() {
            return Err(ServiceError::not_found(
                format!("project {project}"),
                "`slipway project list` lists the projects",
            ));
        }
    }
    if let Some(team) = &query.team {
        owns_a_project(state, team).await?;
    }
    let environments = state.store.environments().await?;
    let chain: Vec<Name> = environments.iter().map(|e| e.name.clone()).collect();
    let mut production: Vec<Name> = environments
        .iter()
        .filter(|e| e.production)
        .map(|e| e.name.clone())
        .collect();
    if let Some(wanted) = &query.environment {
        if !chain.contains(wanted) {
            return Err(ServiceError::not_found(
                format!("environment {wanted}"),
                "`slipway env list` lists the environments",
            ));
        }
        if !production.contains(wanted) {
            return Err(ServiceError::invalid(
                format!("environment {wanted} is not declared production"),
                format!(
                    "pick one of the production environments ({}), or declare it `production: true` in slipway.yaml",
                    if production.is_empty() { "none declared".to_string() } else { names(&production) }
                ),
            ));
        }
        production = vec![wanted.clone()];
    }
    let scope = scope(&query, &production, &period);
    // The incidents: complaints (attributed when recorded) and the production environments'
    // alerts (attributed here, core::insights::attribution).
    let mut incidents = super::complaints::incidents(
        state,
        scope.projects(),
        &production,
        scope.created_from,
        scope.created_to,
    )
    .await?;
    incidents.extend(alert_incidents(state, &scope).await?);
    // Only the deployments that can make a failure, a recovery or rework are read as rows;
    // the others are counted per day (core::insights::notable, migration 0048).
    let attributed: Vec<i64> = incidents.iter().map(|i| i.deployment).collect();
    let read = state
        .store
        .dora_reads(&scope, &chain, &period, &attributed)
        .await?;
    let facts = Facts {
        production: &production,
        chain: &chain,
        days: &read.days,
        deployments: &read.deployments,
        lead_times: &read.lead_times,
        incidents: &incidents,
    };
    Ok(DoraAnswer {
        insight: insights::dora(&facts, &period),
        project: query.project,
        team: query.team,
        environment: query.environment,
        period,
    })
}

/// The alerts of the scope's production environments fired in its times, as incidents: each
/// environment's alerts attributed with its history (read once per project and environment),
/// those at or above the failure threshold (`SLIPWAY_COMPLAINT_FAILURE_SEVERITY`, through
/// `attribution::alert_priority`).
async fn alert_incidents(
    state: &AppState,
    scope: &InsightScope<'_>,
) -> Result<Vec<IncidentFact>, ServiceError> {
    let threshold = super::complaints::failure_threshold()?;
    let names: Vec<String> = scope.environments.iter().map(ToString::to_string).collect();
    let fired = state
        .store
        .fired_alerts(
            scope.projects(),
            &names,
            scope.created_from,
            scope.created_to,
        )
        .await?;
    let mut lanes: BTreeMap<(String, String), Vec<FiredAlert>> = BTreeMap::new();
    for a in fired {
        lanes
            .entry((a.project, a.environment))
            .or_default()
            .push(a.alert);
    }
    let mut incidents = Vec::new();
    for ((project, environment), alerts) in lanes {
        let history = state
            .store
            .lane_history(&project, &environment, scope.created_to)
            .await?;
        incidents.extend(attribution::alert_incidents(&history, &alerts, threshold));
    }
    Ok(incidents)
}

/// What a question reads: its projects, the production environments, and the deployments
/// created from the day before the period (one ending in it may have started then) to
/// FOLLOW_UP_DAYS after it (its follow-ups).
fn scope<'a>(query: &'a DoraQuery, production: &'a [Name], period: &Period) -> InsightScope<'a> {
    InsightScope {
        project: query.project.as_ref(),
        team: query.team.as_ref(),
        environments: production,
        created_from: period.from() - days(1),
        created_to: period.to() + days(FOLLOW_UP_DAYS),
    }
}

/// The production environments the answer was computed over (none when not configured).
fn production_of(answer: &DoraAnswer) -> Vec<Name> {
    match &answer.insight {
        Insight::Measured(d) => d.production_environments.clone(),
        Insight::NotConfigured => Vec::new(),
    }
}

/// Drops the one item read beyond `limit` (read to know whether a page follows) and gives the
/// next page's `after`: the key of the last item kept, or `None` on the last page.
fn cut_page<T, K>(items: &mut Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Option<K> {
    if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(key)
    } else {
        None
    }
}

/// A page of the deployments behind a figure, and where the next page starts.
#[derive(Debug, Clone)]
pub struct CountedPage {
    pub answer: DoraAnswer,
    pub counted: Counted,
    pub deployments: Vec<DeploymentFact>,
    /// The `after` of the next page; `None` on the last page.
    pub next: Option<i64>,
}

/// The deployments a figure of `query` counts, a page at a time (keyset on the id, so a page
/// never shifts), with the figures they make.
pub async fn counted(
    state: &AppState,
    actor: &Actor,
    query: DoraQuery,
    counted: Counted,
    after: Option<i64>,
    limit: i64,
) -> Result<CountedPage, ServiceError> {
    let answer = dora(state, actor, query.clone()).await?;
    let production = production_of(&answer);
    let scope = scope(&query, &production, &answer.period);
    let limit = limit.clamp(1, MAX_PAGE);
    let mut deployments = state
        .store
        .counted_deployments(
            &scope,
            &answer.period,
            counted,
            after.unwrap_or(0),
            limit + 1,
        )
        .await?;
    let next = cut_page(&mut deployments, limit, |d| d.id);
    Ok(CountedPage {
        answer,
        counted,
        deployments,
        next,
    })
}

/// A page of the commits behind lead time, and where the next page starts.
#[derive(Debug, Clone)]
pub struct CommitPage {
    pub answer: DoraAnswer,
    pub commits: Vec<CommitLeadTime>,
    /// The `after` of the next page; `None` on the last page.
    pub next: Option<CommitCursor>,
}

/// The commits lead time counts for `query`, a page at a time (keyset on arrival, project and
/// hash, so a page never shifts), with the figures they make.
pub async fn commits(
    state: &AppState,
    actor: &Actor,
    query: DoraQuery,
    after: Option<CommitCursor>,
    limit: i64,
) -> Result<CommitPage, ServiceError> {
    let answer = dora(state, actor, query.clone()).await?;
    let production = production_of(&answer);
    let scope = scope(&query, &production, &answer.period);
    let limit = limit.clamp(1, MAX_PAGE);
    let mut commits = state
        .store
        .counted_commits(&scope, &answer.period, after.as_ref(), limit + 1)
        .await?;
    let next = cut_page(&mut commits, limit, CommitCursor::after);
    Ok(CommitPage {
        answer,
        commits,
        next,
    })
}

/// The figure a drill-down asks for, or a refusal naming those there are.
pub fn parse_counted(text: Option<&str>) -> Result<Counted, ServiceError> {
    let known = || {
        Counted::ALL
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = text.ok_or_else(|| {
        ServiceError::invalid(
            "`figure` is missing",
            format!("give figure= one of {}", known()),
        )
    })?;
    Counted::parse(text).ok_or_else(|| {
        ServiceError::invalid(
            format!("`figure` {text:?} is not a figure that counts deployments"),
            format!("give figure= one of {}", known()),
        )
    })
}

/// The most deployments or commits a drill-down page holds.
pub const MAX_PAGE: i64 = 500;

/// A team is known by the projects that name it: one that no project names is refused rather
/// than measured as "no data", which would hide a misspelt name.
async fn owns_a_project(state: &AppState, team: &Name) -> Result<(), ServiceError> {
    let projects = state.store.projects().await?;
    if projects.iter().any(|p| p.team.as_ref() == Some(team)) {
        return Ok(());
    }
    let mut teams: Vec<&str> = projects
        .iter()
        .filter_map(|p| p.team.as_ref().map(Name::as_str))
        .collect();
    teams.sort_unstable();
    teams.dedup();
    Err(ServiceError::not_found(
        format!("team {team} (no project names it)"),
        if teams.is_empty() {
            "no project names a team yet: set `team:` under `project:` in slipway.yaml and apply it"
                .to_string()
        } else {
            format!("the teams projects name: {}", teams.join(", "))
        },
    ))
}

fn names(list: &[Name]) -> String {
    list.iter().map(Name::as_str).collect::<Vec<_>>().join(", ")
}
