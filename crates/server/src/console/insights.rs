//! The Insights page (Deliver): the DORA figures of a project, production environment and
//! period, each with its performance band and seed 000's goal, opening onto the deployments,
//! commits and complaints that make it; server-rendered SVG charts (deployments per week, change
//! failure rate per slice with its goal line, lead time distribution), each chart's data as CSV
//! and JSON. It computes no figure: `services::insights` (and so `core::insights`) does.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use slipway_core::complaints::parse_instant;
use slipway_core::insights::{
    Band, Counted, Dora, ErrorBound, FailureReason, Goal, IncidentSource, Insight, Period, Spread,
};
use slipway_core::Name;

use super::charts::{self, Bar, Caption, Point, Series, Tone};
use super::page::{
    percent_encode, render, short_timestamp, Frame, OrProblemPage, PageResult, Section,
};
use super::user::ConsoleUser;
use crate::auth::Actor;
use crate::services::insights::{DoraAnswer, DoraQuery};
use crate::services::{self, parse_name};
use crate::{AppState, ServiceError};

/// The most slices the change-failure trend is cut into (one DORA computation each).
const TREND_SLICES: i64 = 12;

#[derive(Deserialize, Default)]
pub(super) struct InsightsQuery {
    #[serde(default)]
    project: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

impl InsightsQuery {
    pub(super) fn dora(&self) -> Result<DoraQuery, ServiceError> {
        let name = |what: &str, text: &str| {
            let text = text.trim();
            (!text.is_empty())
                .then(|| parse_name(what, text))
                .transpose()
        };
        let time = |what: &str, text: &str| {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            parse_instant(text).map(Some).ok_or_else(|| {
                ServiceError::invalid(
                    format!("{what} {text:?} is neither a YYYY-MM-DD date nor an RFC 3339 time"),
                    "give dates such as 2026-11-01",
                )
            })
        };
        Ok(DoraQuery {
            project: name("project", &self.project)?,
            team: name("team", &self.team)?,
            environment: name("environment", &self.environment)?,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
        })
    }

    /// The query string that asks the same again, for links.
    pub(super) fn link(&self) -> String {
        format!(
            "project={}&team={}&environment={}&from={}&to={}",
            percent_encode(&self.project),
            percent_encode(&self.team),
            percent_encode(&self.environment),
            percent_encode(&self.from),
            percent_encode(&self.to)
        )
    }
}

/// One figure's card.
struct Figure {
    id: &'static str,
    name: &'static str,
    value: String,
    detail: String,
    band: String,
    goal: String,
    /// ` good`, ` bad` or ``: the goal's tag tone.
    goal_tone: &'static str,
}

/// One line of a figure's drill-down.
struct Item {
    href: String,
    label: String,
    detail: String,
}

/// What makes one figure: the notable items listed, and for a figure that counts every
/// deployment or commit of the period, the link to page through them (`/insights/deployments`,
/// `/insights/commits`).
struct Drill {
    id: &'static str,
    title: &'static str,
    /// How many the figure counts or lists.
    count: u64,
    items: Vec<Item>,
    /// (href, words) of the paged list of every deployment or commit counted.
    pages: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "insights.html")]
struct InsightsPage {
    frame: Frame,
    projects: Vec<String>,
    project: String,
    /// The teams the projects name, for the team filter.
    teams: Vec<String>,
    team: String,
    production: Vec<String>,
    environment: String,
    from: String,
    to: String,
    configured: bool,
    figures: Vec<Figure>,
    drill: Vec<Drill>,
    charts: Vec<(&'static str, &'static str, String)>,
    link: String,
}

fn band(b: Option<Band>) -> String {
    b.map_or("no band (no data)".into(), |b| format!("{b} performer"))
}

fn goal(g: &Goal, words: &str) -> (String, &'static str) {
    match g.met {
        Some(true) => (format!("goal {words}: met"), " good"),
        Some(false) => (format!("goal {words}: missed"), " bad"),
        None => (format!("goal {words}: no data"), ""),
    }
}

/// `2d 3h`, `45m`, `12s`.
pub(super) fn duration(seconds: i64) -> String {
    let (d, h, m) = (
        seconds / 86_400,
        seconds % 86_400 / 3_600,
        seconds % 3_600 / 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

fn spread(s: Option<Spread>) -> (String, String) {
    match s {
        Some(s) => (
            format!("median {}", duration(s.median_seconds)),
            format!("p90 {}, {} measured", duration(s.p90_seconds), s.count),
        ),
        None => ("no data".into(), "nothing measured in the period".into()),
    }
}

/// The line that says a figure read from pre-counted buckets is approximate, and how much.
fn approximate(bound: &ErrorBound) -> String {
    format!(
        "median and p90 within {:.1} % + {} s of the exact values",
        bound.relative * 100.0,
        bound.absolute_seconds
    )
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("no data".into(), |r| format!("{:.1} %", r * 100.0))
}

fn figures(d: &Dora) -> Vec<Figure> {
    let f = &d.deployment_frequency;
    let (lead, lead_detail) = spread(d.lead_time.spread);
    let (lead_goal, lead_tone) = goal(&d.lead_time.goal, "≤ 1 working day");
    let cfr = &d.change_failure_rate;
    let (cfr_goal, cfr_tone) = goal(&cfr.goal, "< 10 %");
    let (restore, restore_detail) = spread(d.recovery_time.spread);
    let (restore_goal, restore_tone) = goal(&d.recovery_time.goal, "≤ 60 min");
    vec![
        Figure {
            id: "frequency",
            name: "Deployment frequency",
            value: if f.count == 0 {
                "no data".into()
            } else {
                format!("{:.1} deployment-days a week", f.days_per_week)
            },
            detail: format!("{} deployments on {} days", f.count, f.deployment_days),
            band: band(f.band),
            goal: String::new(),
            goal_tone: "",
        },
        Figure {
            id: "lead-time",
            name: "Lead time for changes",
            value: lead,
            // The bound says how near a measured median is; with nothing measured it says nothing.
            detail: match d.lead_time.spread {
                Some(_) => format!("{lead_detail}; {}", approximate(&d.lead_time.error_bound)),
                None => lead_detail,
            },
            band: band(d.lead_time.band),
            goal: lead_goal,
            goal_tone: lead_tone,
        },
        Figure {
            id: "change-failure-rate",
            name: "Change failure rate",
            value: percent(cfr.rate),
            detail: format!(
                "{} of {} production deployments",
                cfr.failed.len(),
                cfr.counted
            ),
            band: band(cfr.band),
            goal: cfr_goal,
            goal_tone: cfr_tone,
        },
        Figure {
            id: "recovery-time",
            name: "Failed-deployment recovery time",
            value: restore,
            detail: restore_detail,
            band: band(d.recovery_time.band),
            goal: restore_goal,
            goal_tone: restore_tone,
        },
        Figure {
            id: "rework-rate",
            name: "Rework rate",
            value: percent(d.rework_rate.rate),
            detail: format!(
                "{} of {} production changes unplanned",
                d.rework_rate.rework.len(),
                d.rework_rate.counted
            ),
            band: "no DORA band".into(),
            goal: String::new(),
            goal_tone: "",
        },
    ]
}

fn deployment(id: i64, detail: String) -> Item {
    Item {
        href: format!("/deployments/{id}"),
        label: format!("deployment #{id}"),
        detail,
    }
}

fn reason(r: &FailureReason, project: &Name) -> (String, Option<String>) {
    match r {
        FailureReason::Failed => ("failed".into(), None),
        FailureReason::RolledBackDuringDeployment => ("rolled back while deploying".into(), None),
        FailureReason::RolledBack { rollback } => (
            format!("rolled back by #{rollback}"),
            Some(format!("/deployments/{rollback}")),
        ),
        FailureReason::Hotfix { deployment } => (
            format!("followed by hotfix #{deployment}"),
            Some(format!("/deployments/{deployment}")),
        ),
        FailureReason::Incident {
            source: IncidentSource::Complaint,
            id,
        } => (
            format!("complaint #{id}"),
            Some(format!(
                "/complaints/{}/{id}",
                percent_encode(project.as_str())
            )),
        ),
        FailureReason::Incident {
            source: IncidentSource::Alert,
            id,
        } => (format!("alert #{id}"), Some(format!("/alerts/{id}"))),
    }
}

/// The link to the paged list of the deployments a figure counts, with the page's filters.
fn pages(counted: Counted, link: &str, count: u64, words: &str) -> Option<(String, String)> {
    (count > 0).then(|| {
        (
            format!("/insights/deployments?figure={}&{link}", counted.as_str()),
            format!("Every one of the {count} {words}, a page at a time"),
        )
    })
}

fn drill(d: &Dora, link: &str) -> Vec<Drill> {
    let frequency = &d.deployment_frequency;
    let commits = d.lead_time.spread.map_or(0, |s| s.count);
    let mut failed = Vec::new();
    for f in &d.change_failure_rate.failed {
        failed.push(deployment(
            f.deployment,
            format!("{} {} in {}", f.project, f.release, f.environment),
        ));
        for r in &f.reasons {
            let (label, href) = reason(r, &f.project);
            failed.push(Item {
                href: href.unwrap_or_else(|| format!("/deployments/{}", f.deployment)),
                label: format!("  ↳ {label}"),
                detail: String::new(),
            });
        }
    }
    let recoveries: Vec<Item> = d
        .recovery_time
        .recoveries
        .iter()
        .map(|r| {
            deployment(
                r.deployment,
                format!(
                    "from {} to {}",
                    short_timestamp(r.started_at),
                    r.recovered_at
                        .map_or("not recovered yet".into(), short_timestamp)
                ),
            )
        })
        .collect();
    let rework: Vec<Item> = d
        .rework_rate
        .rework
        .iter()
        .map(|id| deployment(*id, String::new()))
        .collect();
    let cfr = &d.change_failure_rate;
    vec![
        Drill {
            id: "frequency",
            title: "Deployments counted",
            count: frequency.count,
            items: Vec::new(),
            pages: pages(
                Counted::DeploymentFrequency,
                link,
                frequency.count,
                "successful production deployments",
            ),
        },
        Drill {
            id: "lead-time",
            title: "Commits measured",
            count: commits,
            items: Vec::new(),
            pages: (commits > 0).then(|| {
                (
                    format!("/insights/commits?{link}"),
                    format!("Every one of the {commits} commits that reached production, a page at a time"),
                )
            }),
        },
        Drill {
            id: "change-failure-rate",
            title: "Failed deployments and why",
            count: cfr.failed.len() as u64,
            items: failed,
            pages: pages(
                Counted::ChangeFailureRate,
                link,
                cfr.counted,
                "production deployments counted",
            ),
        },
        Drill {
            id: "recovery-time",
            title: "Recoveries",
            count: recoveries.len() as u64,
            items: recoveries,
            pages: None,
        },
        Drill {
            id: "rework-rate",
            title: "Unplanned deployments",
            count: rework.len() as u64,
            items: rework,
            pages: pages(
                Counted::ReworkRate,
                link,
                d.rework_rate.counted,
                "production deployments and rollbacks counted",
            ),
        },
    ]
}

/// A chart's data: its title, unit and points (label, value; `None` is no data).
struct ChartData {
    name: &'static str,
    title: &'static str,
    unit: &'static str,
    points: Vec<(String, Option<f64>)>,
}

/// The slices the trend is cut into: weeks when the period holds at most 12, else 12 equal
/// slices.
fn slices(period: &Period) -> Vec<(Timestamp, Timestamp)> {
    let width = period.to().duration_since(period.from());
    let week = SignedDuration::from_hours(24 * 7);
    let count = if width <= week * 12 {
        (width.as_secs() + week.as_secs() - 1) / week.as_secs()
    } else {
        TREND_SLICES
    }
    .max(1);
    let step = SignedDuration::from_secs(width.as_secs() / count);
    (0..count)
        .map(|i| {
            let from = period.from() + step * i32::try_from(i).unwrap_or(0);
            let to = if i + 1 == count {
                period.to()
            } else {
                from + step
            };
            (from, to)
        })
        .collect()
}

async fn chart_data(
    state: &AppState,
    actor: &Actor,
    query: &DoraQuery,
    answer: &DoraAnswer,
) -> Result<Vec<ChartData>, ServiceError> {
    let Insight::Measured(d) = &answer.insight else {
        return Ok(Vec::new());
    };
    let weeks = ChartData {
        name: "deployments-per-week",
        title: "Production deployments per week",
        unit: "deployments",
        points: d
            .deployment_frequency
            .weeks
            .iter()
            .map(|w| (w.week.clone(), Some(w.count as f64)))
            .collect(),
    };
    let mut trend = Vec::new();
    for (from, to) in slices(&answer.period) {
        let slice = DoraQuery {
            from: Some(from),
            to: Some(to),
            ..query.clone()
        };
        let rate = match services::insights::dora(state, actor, slice).await?.insight {
            Insight::Measured(d) => d.change_failure_rate.rate.map(|r| r * 100.0),
            Insight::NotConfigured => None,
        };
        trend.push((from.to_string()[..10].to_string(), rate));
    }
    let lead = ChartData {
        name: "lead-time-distribution",
        title: "Lead time for changes: commits per range",
        unit: "commits",
        points: d
            .lead_time
            .ranges
            .iter()
            .map(|r| {
                (
                    r.range.clone(),
                    d.lead_time.spread.is_some().then_some(r.count as f64),
                )
            })
            .collect(),
    };
    Ok(vec![
        weeks,
        ChartData {
            name: "change-failure-rate-trend",
            title: "Change failure rate per slice of the period (goal under 10 %)",
            unit: "%",
            points: trend,
        },
        lead,
    ])
}

fn svg(chart: &ChartData) -> String {
    let caption = Caption {
        title: chart.title,
        description: "Each value is also in the CSV and JSON of this chart; no data is drawn as no point, never as 0.",
    };
    match chart.name {
        "lead-time-distribution" => charts::bar_chart(
            &caption,
            chart.unit,
            &chart
                .points
                .iter()
                .map(|(label, v)| Bar {
                    label: label.clone(),
                    value: v.unwrap_or(f64::NAN),
                    tone: if label.starts_with("under") || label.starts_with("1 hour") {
                        Tone::Good
                    } else {
                        Tone::Warn
                    },
                })
                .collect::<Vec<_>>(),
        ),
        name => charts::time_series(&Series {
            caption,
            unit: chart.unit,
            points: chart
                .points
                .iter()
                .map(|(label, v)| Point {
                    label: label.clone(),
                    value: v.unwrap_or(f64::NAN),
                })
                .collect(),
            goal: (name == "change-failure-rate-trend").then_some(10.0),
        }),
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<InsightsQuery>,
) -> PageResult {
    let listed = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let projects: Vec<String> = listed.iter().map(|p| p.name.to_string()).collect();
    let teams: Vec<String> = listed
        .iter()
        .filter_map(|p| p.team.as_ref().map(Name::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let production: Vec<String> = state
        .store
        .environments()
        .await
        .map_err(ServiceError::from)
        .or_page(&user)?
        .into_iter()
        .filter(|e| e.production)
        .map(|e| e.name.to_string())
        .collect();
    let query = q.dora().or_page(&user)?;
    let answer = services::insights::dora(&state, &user.actor, query.clone())
        .await
        .or_page(&user)?;
    let data = chart_data(&state, &user.actor, &query, &answer)
        .await
        .or_page(&user)?;
    let link = q.link();
    let (configured, figures, drill) = match &answer.insight {
        Insight::Measured(d) => (true, figures(d), drill(d, &link)),
        Insight::NotConfigured => (false, Vec::new(), Vec::new()),
    };
    let page = InsightsPage {
        frame: Frame::new("Insights", Some(&user), Section::Insights),
        projects,
        project: q.project.trim().to_string(),
        teams,
        team: q.team.trim().to_string(),
        production,
        environment: q.environment.trim().to_string(),
        from: answer.period.from().to_string()[..10].to_string(),
        to: answer.period.to().to_string()[..10].to_string(),
        configured,
        figures,
        drill,
        charts: data.iter().map(|c| (c.name, c.title, svg(c))).collect(),
        link,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct DataQuery {
    chart: String,
    format: String,
    #[serde(flatten)]
    insights: InsightsQuery,
}

/// One chart's data as CSV (`label,value`, empty for no data) or JSON.
pub(super) async fn data(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<DataQuery>,
) -> Result<Response, Response> {
    let query = q.insights.dora().or_page(&user)?;
    let answer = services::insights::dora(&state, &user.actor, query.clone())
        .await
        .or_page(&user)?;
    let all = chart_data(&state, &user.actor, &query, &answer)
        .await
        .or_page(&user)?;
    let chart = all
        .into_iter()
        .find(|c| c.name == q.chart)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("chart {:?}", q.chart),
                "the Insights page links each chart's data",
            )
        })
        .or_page(&user)?;
    let file = format!("{}.{}", chart.name, q.format);
    let disposition = format!("attachment; filename=\"{file}\"");
    let (kind, body) = if q.format == "csv" {
        let rows: Vec<Vec<String>> = chart
            .points
            .iter()
            .map(|(l, v)| vec![l.clone(), v.map(|v| v.to_string()).unwrap_or_default()])
            .collect();
        (
            "text/csv; charset=utf-8",
            slipway_core::complaints::write_csv(&["label", chart.unit], &rows),
        )
    } else {
        let points: Vec<serde_json::Value> = chart
            .points
            .iter()
            .map(|(l, v)| serde_json::json!({ "label": l, "value": v }))
            .collect();
        let body = serde_json::json!({
            "chart": chart.name,
            "title": chart.title,
            "unit": chart.unit,
            "from": answer.period.from().to_string(),
            "to": answer.period.to().to_string(),
            "points": points,
        });
        ("application/json", format!("{body:#}\n"))
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}
