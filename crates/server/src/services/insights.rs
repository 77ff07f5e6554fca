//! DORA metrics for a project (or every project) over a period: reads the facts from the store
//! and asks `core::insights`, which defines every figure (docs/insights.md).
//!
//! It never computes a figure itself and never guesses which environments are production: the
//! environments declared `production: true` are.

use jiff::{SignedDuration, Timestamp};
use slipway_core::access::Operation;
use slipway_core::insights::{self, Facts, Insight, Period, FOLLOW_UP_DAYS};
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
    let scope = InsightScope {
        project: query.project.as_ref(),
        team: query.team.as_ref(),
        environments: &production,
        // A deployment ending in the period may have started the day before; follow-ups come
        // up to FOLLOW_UP_DAYS after it.
        created_from: period.from() - days(1),
        created_to: period.to() + days(FOLLOW_UP_DAYS),
    };
    let deployments = state.store.insight_deployments(&scope).await?;
    let lead_times = state
        .store
        .lead_time_facts(&scope, &chain, period.from(), period.to())
        .await?;
    // Complaints are the incidents today; alerts join them here (core::insights::attribution).
    let incidents = super::complaints::incidents(
        state,
        scope.projects(),
        &production,
        scope.created_from,
        scope.created_to,
    )
    .await?;
    let facts = Facts {
        production: &production,
        chain: &chain,
        deployments: &deployments,
        lead_times: &lead_times,
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
