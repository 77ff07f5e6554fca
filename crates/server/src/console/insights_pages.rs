//! The pages behind the Insights figures: every deployment a figure counts and every commit
//! lead time counts, a page at a time (keyset: a page never shifts when later ones end), linked
//! from "What makes it" instead of listing thousands. It computes nothing:
//! `services::insights` reads the pages and the figures.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::insights::{CommitCursor, Counted, Insight};

use super::insights::InsightsQuery;
use super::page::{
    percent_encode, render, short_timestamp, Frame, OrProblemPage, PageResult, Section,
};
use super::user::ConsoleUser;
use crate::services;
use crate::{AppState, ServiceError};

#[derive(Deserialize)]
pub(super) struct DeploymentsQuery {
    #[serde(default)]
    figure: String,
    #[serde(default)]
    after: Option<i64>,
    #[serde(flatten)]
    insights: InsightsQuery,
}

/// One deployment behind a figure, as its row shows it.
struct CountedRow {
    id: i64,
    project: String,
    environment: String,
    release: String,
    kind: &'static str,
    state: &'static str,
    ended: String,
}

#[derive(Template)]
#[template(path = "insights_deployments.html")]
struct DeploymentsPage {
    frame: Frame,
    title: String,
    count: u64,
    from: String,
    to: String,
    rows: Vec<CountedRow>,
    next: Option<String>,
    back: String,
}

/// The rows a page of the console's drill-down shows.
const CONSOLE_PAGE: i64 = 100;

/// Every deployment a figure counts, a page at a time (keyset on the id): what "What makes it"
/// links to instead of listing thousands.
pub(super) async fn deployments(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<DeploymentsQuery>,
) -> PageResult {
    let counted = services::insights::parse_counted(Some(q.figure.as_str())).or_page(&user)?;
    let query = q.insights.dora().or_page(&user)?;
    let page =
        services::insights::counted(&state, &user.actor, query, counted, q.after, CONSOLE_PAGE)
            .await
            .or_page(&user)?;
    let (title, count) = match &page.answer.insight {
        Insight::Measured(d) => match counted {
            Counted::DeploymentFrequency => (
                "Successful production deployments",
                d.deployment_frequency.count,
            ),
            Counted::ChangeFailureRate => (
                "Production deployments counted by the change failure rate",
                d.change_failure_rate.counted,
            ),
            Counted::ReworkRate => (
                "Production deployments and rollbacks counted by the rework rate",
                d.rework_rate.counted,
            ),
        },
        Insight::NotConfigured => ("Nothing is measured: no production environment", 0),
    };
    let link = q.insights.link();
    let view = DeploymentsPage {
        frame: Frame::new("Insights", Some(&user), Section::Insights),
        title: title.to_string(),
        count,
        from: short_timestamp(page.answer.period.from()),
        to: short_timestamp(page.answer.period.to()),
        rows: page
            .deployments
            .iter()
            .map(|d| CountedRow {
                id: d.id,
                project: d.project.to_string(),
                environment: d.environment.to_string(),
                release: d.release.clone(),
                kind: d.kind.as_str(),
                state: d.state.as_str(),
                ended: d.finished_at.map(short_timestamp).unwrap_or_default(),
            })
            .collect(),
        next: page.next.map(|after| {
            format!(
                "/insights/deployments?figure={}&after={after}&{link}",
                counted.as_str()
            )
        }),
        back: format!("/insights?{link}"),
    };
    Ok(render(StatusCode::OK, &view))
}

#[derive(Deserialize)]
pub(super) struct CommitsQuery {
    #[serde(default)]
    after: String,
    #[serde(flatten)]
    insights: InsightsQuery,
}

/// One commit behind lead time, as its row shows it.
struct CommitRow {
    project: String,
    hash: String,
    short: String,
    authored: String,
    deployed: String,
    deployment: i64,
    lead_time: String,
}

#[derive(Template)]
#[template(path = "insights_commits.html")]
struct CommitsPage {
    frame: Frame,
    count: u64,
    from: String,
    to: String,
    rows: Vec<CommitRow>,
    next: Option<String>,
    back: String,
}

/// Every commit lead time counts, a page at a time in order of arrival in production (keyset
/// on arrival, project and hash).
pub(super) async fn commits(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<CommitsQuery>,
) -> PageResult {
    let after = match q.after.trim() {
        "" => None,
        text => Some(
            text.parse::<CommitCursor>()
                .map_err(|e| {
                    ServiceError::invalid(
                        format!("`after`: {e}"),
                        "follow the Next page link of the page before",
                    )
                })
                .or_page(&user)?,
        ),
    };
    let query = q.insights.dora().or_page(&user)?;
    let page = services::insights::commits(&state, &user.actor, query, after, CONSOLE_PAGE)
        .await
        .or_page(&user)?;
    let count = match &page.answer.insight {
        Insight::Measured(d) => d.lead_time.spread.map_or(0, |s| s.count),
        Insight::NotConfigured => 0,
    };
    let link = q.insights.link();
    let view = CommitsPage {
        frame: Frame::new("Insights", Some(&user), Section::Insights),
        count,
        from: short_timestamp(page.answer.period.from()),
        to: short_timestamp(page.answer.period.to()),
        rows: page
            .commits
            .iter()
            .map(|c| CommitRow {
                project: c.project.to_string(),
                hash: c.hash.clone(),
                short: c.hash.chars().take(12).collect(),
                authored: short_timestamp(c.authored_at),
                deployed: short_timestamp(c.deployed_at),
                deployment: c.deployment,
                lead_time: super::insights::duration(c.seconds),
            })
            .collect(),
        next: page.next.map(|after| {
            format!(
                "/insights/commits?after={}&{link}",
                percent_encode(&after.to_string())
            )
        }),
        back: format!("/insights?{link}"),
    };
    Ok(render(StatusCode::OK, &view))
}
