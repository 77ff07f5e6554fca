//! Routes of insights: the DORA figures of a period and the pages behind them. Thin: parse the query, call
//! `services::insights`, answer a `slipway_api::insights` view.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use slipway_api::insights::{
    CountedCommitView, CountedCommitsView, CountedDeploymentView, CountedDeploymentsView,
    DoraStatus, DoraView, DrillDownLinks,
};
use slipway_core::insights::{CommitCursor, Counted, Insight, DEFINITIONS_VERSION};
use slipway_core::Name;

use crate::auth::Actor;
use crate::services::insights::{self, DoraAnswer, DoraQuery};
use crate::services::parse_name;
use crate::{AppState, ServiceError};

type ApiResult<T> = Result<T, ServiceError>;

const DORA: &str = "/api/v1/insights/dora";
const DORA_DEPLOYMENTS: &str = "/api/v1/insights/dora/deployments";
const DORA_COMMITS: &str = "/api/v1/insights/dora/commits";

#[cfg(test)]
pub(super) const ROUTES: &[(&str, &str)] = &[
    ("get", DORA),
    ("get", DORA_DEPLOYMENTS),
    ("get", DORA_COMMITS),
];

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(DORA, get(dora))
        .route(DORA_DEPLOYMENTS, get(counted_deployments))
        .route(DORA_COMMITS, get(counted_commits))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DoraParams {
    project: Option<String>,
    team: Option<String>,
    environment: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// An RFC 3339 time, or a `YYYY-MM-DD` date read as midnight UTC.
pub(crate) fn parse_instant(what: &str, text: &str) -> Result<Timestamp, ServiceError> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Ok(at);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            ServiceError::invalid(
                format!("`{what}` {text:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"),
                format!("give {what}=2026-11-01 or {what}=2026-11-01T00:00:00Z"),
            )
        })
}

fn optional_name(what: &str, text: Option<String>) -> ApiResult<Option<Name>> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse_name(what, &t))
        .transpose()
}

/// The path of the deployments a figure counts, with the question's filters.
fn drill_down_path(answer: &DoraAnswer, counted: Counted) -> String {
    format!(
        "{DORA_DEPLOYMENTS}?figure={}&{}",
        counted.as_str(),
        filters(answer)
    )
}

/// The path of the commits lead time counts, with the question's filters.
fn commits_path(answer: &DoraAnswer) -> String {
    format!("{DORA_COMMITS}?{}", filters(answer))
}

/// The question's filters as a query string, for the drill-down's paths.
fn filters(answer: &DoraAnswer) -> String {
    let mut query = Vec::new();
    for (key, value) in [
        ("project", answer.project.as_ref()),
        ("team", answer.team.as_ref()),
        ("environment", answer.environment.as_ref()),
    ] {
        if let Some(value) = value {
            query.push(format!("{key}={value}"));
        }
    }
    query.push(format!(
        "from={}&to={}",
        answer.period.from(),
        answer.period.to()
    ));
    query.join("&")
}

pub(crate) fn dora_view(answer: DoraAnswer) -> DoraView {
    let drill_down = matches!(answer.insight, Insight::Measured(_)).then(|| DrillDownLinks {
        lead_time: commits_path(&answer),
        deployment_frequency: drill_down_path(&answer, Counted::DeploymentFrequency),
        change_failure_rate: drill_down_path(&answer, Counted::ChangeFailureRate),
        rework_rate: drill_down_path(&answer, Counted::ReworkRate),
    });
    let (status, figures) = match answer.insight {
        Insight::NotConfigured => (DoraStatus::NotConfigured, None),
        Insight::Measured(dora) => (DoraStatus::Measured, Some(*dora)),
    };
    DoraView {
        drill_down,
        definitions_version: DEFINITIONS_VERSION.to_string(),
        status,
        project: answer.project.map(|p| p.to_string()),
        team: answer.team.map(|t| t.to_string()),
        environment: answer.environment.map(|e| e.to_string()),
        from: answer.period.from().to_string(),
        to: answer.period.to().to_string(),
        figures,
    }
}

impl DoraParams {
    fn query(self) -> ApiResult<DoraQuery> {
        Ok(DoraQuery {
            project: optional_name("project", self.project)?,
            team: optional_name("team", self.team)?,
            environment: optional_name("environment", self.environment)?,
            from: self
                .from
                .as_deref()
                .map(|t| parse_instant("from", t))
                .transpose()?,
            to: self
                .to
                .as_deref()
                .map(|t| parse_instant("to", t))
                .transpose()?,
        })
    }
}

pub(super) async fn dora(
    State(state): State<AppState>,
    actor: Actor,
    Query(params): Query<DoraParams>,
) -> ApiResult<Json<DoraView>> {
    Ok(Json(dora_view(
        insights::dora(&state, &actor, params.query()?).await?,
    )))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CountedParams {
    figure: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
    project: Option<String>,
    team: Option<String>,
    environment: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub(super) async fn counted_deployments(
    State(state): State<AppState>,
    actor: Actor,
    Query(params): Query<CountedParams>,
) -> ApiResult<Json<CountedDeploymentsView>> {
    let counted = insights::parse_counted(params.figure.as_deref())?;
    let limit = page_limit(params.limit)?;
    let after = cursor(params.after.as_deref(), |text| {
        text.parse::<i64>()
            .map_err(|_| format!("`after` {text:?} is not a cursor of this list"))
    })?;
    let page = insights::counted(
        &state,
        &actor,
        DoraParams {
            project: params.project,
            team: params.team,
            environment: params.environment,
            from: params.from,
            to: params.to,
        }
        .query()?,
        counted,
        after,
        limit,
    )
    .await?;
    Ok(Json(counted_view(page)))
}

/// A drill-down page's `after`, read with `parse`; what it cannot read is refused with its
/// problem and the one fix there is.
fn cursor<T>(
    text: Option<&str>,
    parse: impl Fn(&str) -> Result<T, String>,
) -> ApiResult<Option<T>> {
    text.map(|t| {
        parse(t).map_err(|problem| {
            ServiceError::invalid(
                problem,
                "give back the `next` of the page before, unchanged",
            )
        })
    })
    .transpose()
}

/// The `limit` of a drill-down page: 100 unless given, refused outside 1 ..= MAX_PAGE.
fn page_limit(limit: Option<i64>) -> ApiResult<i64> {
    let limit = limit.unwrap_or(100);
    if !(1..=insights::MAX_PAGE).contains(&limit) {
        return Err(ServiceError::invalid(
            format!("`limit` {limit} is out of range"),
            format!("give limit= from 1 to {}", insights::MAX_PAGE),
        ));
    }
    Ok(limit)
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CommitsParams {
    after: Option<String>,
    limit: Option<i64>,
    project: Option<String>,
    team: Option<String>,
    environment: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub(super) async fn counted_commits(
    State(state): State<AppState>,
    actor: Actor,
    Query(params): Query<CommitsParams>,
) -> ApiResult<Json<CountedCommitsView>> {
    let limit = page_limit(params.limit)?;
    let after = cursor(params.after.as_deref(), |text| {
        text.parse::<CommitCursor>()
            .map_err(|e| format!("`after`: {e}"))
    })?;
    let page = insights::commits(
        &state,
        &actor,
        DoraParams {
            project: params.project,
            team: params.team,
            environment: params.environment,
            from: params.from,
            to: params.to,
        }
        .query()?,
        after,
        limit,
    )
    .await?;
    let answer = &page.answer;
    let count = match &answer.insight {
        Insight::Measured(d) => d.lead_time.spread.map_or(0, |s| s.count),
        Insight::NotConfigured => 0,
    };
    Ok(Json(CountedCommitsView {
        definitions_version: DEFINITIONS_VERSION.to_string(),
        project: answer.project.as_ref().map(|p| p.to_string()),
        team: answer.team.as_ref().map(|t| t.to_string()),
        environment: answer.environment.as_ref().map(|e| e.to_string()),
        from: answer.period.from().to_string(),
        to: answer.period.to().to_string(),
        count,
        items: page
            .commits
            .iter()
            .map(|c| CountedCommitView {
                project: c.project.to_string(),
                hash: c.hash.clone(),
                authored_at: c.authored_at.to_string(),
                deployed_at: c.deployed_at.to_string(),
                deployment: c.deployment,
                seconds: c.seconds,
            })
            .collect(),
        next: page.next.map(|cursor| cursor.to_string()),
    }))
}

fn counted_view(page: insights::CountedPage) -> CountedDeploymentsView {
    let answer = &page.answer;
    let count = match &answer.insight {
        Insight::Measured(d) => match page.counted {
            Counted::DeploymentFrequency => d.deployment_frequency.count,
            Counted::ChangeFailureRate => d.change_failure_rate.counted,
            Counted::ReworkRate => d.rework_rate.counted,
        },
        Insight::NotConfigured => 0,
    };
    CountedDeploymentsView {
        definitions_version: DEFINITIONS_VERSION.to_string(),
        figure: page.counted.as_str().to_string(),
        project: answer.project.as_ref().map(|p| p.to_string()),
        team: answer.team.as_ref().map(|t| t.to_string()),
        environment: answer.environment.as_ref().map(|e| e.to_string()),
        from: answer.period.from().to_string(),
        to: answer.period.to().to_string(),
        count,
        items: page
            .deployments
            .iter()
            .map(|d| CountedDeploymentView {
                id: d.id,
                project: d.project.to_string(),
                environment: d.environment.to_string(),
                release: d.release.clone(),
                kind: d.kind.as_str().to_string(),
                state: d.state.as_str().to_string(),
                created_at: d.created_at.to_string(),
                finished_at: d.finished_at.map(|t| t.to_string()),
            })
            .collect(),
        next: page.next.map(|after| after.to_string()),
    }
}
