//! Saved dashboards in the console (Deliver → Insights → Dashboards): the list of those the reader
//! may open with the form that composes one (widgets, project, environment, period, shared), the
//! dashboard page whose URL is shared (one server-rendered SVG chart per widget, readable
//! without JavaScript and printable), each chart's data as CSV and JSON, and deletion.
//! It computes nothing: `services::saved_dashboards` does, for the API too.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use slipway_core::insights::widgets::{Widget, WidgetData};

use super::charts::{self, Bar, Caption, Tone};
use super::page::{render, see_other, Frame, OrProblemPage, PageResult, Section};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services::saved_dashboards::{self, DashboardInput};
use crate::services::{self, parse_name};
use crate::AppState;
use crate::ServiceError;

/// One dashboard in the list.
struct Row {
    id: i64,
    name: String,
    owner: String,
    shared: bool,
    widgets: String,
}

#[derive(Template)]
#[template(path = "dashboards.html")]
struct ListPage {
    frame: Frame,
    rows: Vec<Row>,
    widgets: Vec<(&'static str, &'static str)>,
    projects: Vec<String>,
    environments: Vec<String>,
}

#[derive(Template)]
#[template(path = "saved_dashboard.html")]
struct DashboardPage {
    frame: Frame,
    id: i64,
    name: String,
    owner: String,
    shared: bool,
    filters: String,
    from: String,
    to: String,
    may_delete: bool,
    /// (widget, title, svg)
    charts: Vec<(&'static str, String, String)>,
}

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let saved = saved_dashboards::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let projects = services::projects::list(&state, &user.actor)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|p| p.name.to_string())
        .collect();
    let environments = state
        .store
        .environments()
        .await
        .map_err(ServiceError::from)
        .or_page(&user)?
        .into_iter()
        .map(|e| e.name.to_string())
        .collect();
    let page = ListPage {
        frame: Frame::new("Dashboards", Some(&user), Section::Insights),
        rows: saved
            .into_iter()
            .map(|d| Row {
                id: d.id,
                name: d.name.to_string(),
                owner: d.owner,
                shared: d.shared,
                widgets: d
                    .widgets
                    .iter()
                    .map(|w| w.title())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        widgets: Widget::ALL
            .iter()
            .map(|w| (w.as_str(), w.title()))
            .collect(),
        projects,
        environments,
    };
    Ok(render(StatusCode::OK, &page))
}

fn instant(what: &str, text: &str) -> Result<jiff::Timestamp, ServiceError> {
    slipway_core::complaints::parse_instant(text).ok_or_else(|| {
        ServiceError::invalid(
            format!("{what} {text:?} is neither a YYYY-MM-DD date nor an RFC 3339 time"),
            "give dates such as 2026-11-01",
        )
    })
}

/// The compose form's fields: `widget` repeats, so they come as pairs.
fn input(fields: &[(String, String)]) -> Result<DashboardInput, ServiceError> {
    let one = |key: &str| {
        fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Ok(DashboardInput {
        name: one("name").unwrap_or_default(),
        widgets: fields
            .iter()
            .filter(|(k, _)| k == "widget")
            .map(|(_, v)| v.clone())
            .collect(),
        project: one("project")
            .map(|p| parse_name("project", &p))
            .transpose()?,
        environment: one("environment")
            .map(|e| parse_name("environment", &e))
            .transpose()?,
        from: one("from").map(|t| instant("from", &t)).transpose()?,
        to: one("to").map(|t| instant("to", &t)).transpose()?,
        shared: one("shared").is_some(),
    })
}

pub(super) async fn save(
    State(state): State<AppState>,
    signed: SignedForm<Vec<(String, String)>>,
) -> PageResult {
    let SignedForm { user, form } = signed;
    let input = input(&form).or_page(&user)?;
    let saved = saved_dashboards::save(&state, &user.actor, input)
        .await
        .or_page(&user)?;
    Ok(see_other(&format!("/dashboards/{}", saved.id)))
}

fn svg(chart: &WidgetData) -> String {
    let caption = Caption {
        title: &chart.title,
        description: "Each value is also in the CSV and JSON of this chart; no data is drawn as no bar, never as 0.",
    };
    let bars: Vec<Bar> = chart
        .points
        .iter()
        .map(|p| Bar {
            label: p.label.clone(),
            value: p.value.unwrap_or(f64::NAN),
            tone: match (chart.widget, p.value) {
                (_, None) => Tone::Idle,
                (Widget::SuccessRate, Some(v)) if v < 90.0 => Tone::Bad,
                (Widget::SuccessRate, Some(_)) => Tone::Good,
                (Widget::Rollbacks, Some(v)) if v > 0.0 => Tone::Warn,
                _ => Tone::Info,
            },
        })
        .collect();
    charts::bar_chart(&caption, &chart.unit, &bars)
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<i64>,
) -> PageResult {
    let opened = saved_dashboards::open(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let d = &opened.dashboard;
    let page = DashboardPage {
        frame: Frame::new(d.name.to_string(), Some(&user), Section::Insights),
        id: d.id,
        name: d.name.to_string(),
        owner: d.owner.clone(),
        shared: d.shared,
        filters: format!(
            "{} · {}",
            d.project.as_deref().unwrap_or("every project"),
            d.environment.as_deref().unwrap_or("every environment")
        ),
        from: opened.period.from().to_string(),
        to: opened.period.to().to_string(),
        may_delete: saved_dashboards::may_delete(&user.actor, d),
        charts: opened
            .charts
            .iter()
            .map(|c| (c.widget.as_str(), c.title.clone(), svg(c)))
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct DataQuery {
    widget: String,
    format: String,
}

/// One chart's data as CSV (`label,UNIT`, empty for no data) or JSON.
pub(super) async fn data(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<i64>,
    Query(q): Query<DataQuery>,
) -> Result<Response, Response> {
    let widget: Widget = q
        .widget
        .parse()
        .map_err(|e: slipway_core::insights::widgets::UnknownWidget| {
            ServiceError::invalid(
                e.to_string(),
                "the dashboard's page links each chart's data",
            )
        })
        .or_page(&user)?;
    let opened = saved_dashboards::open(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let chart = opened
        .charts
        .into_iter()
        .find(|c| c.widget == widget)
        .ok_or_else(|| {
            ServiceError::not_found(
                format!("widget {widget} on dashboard {id}"),
                "the dashboard's page links each chart's data",
            )
        })
        .or_page(&user)?;
    let (kind, body) = match q.format.as_str() {
        "csv" => {
            let rows: Vec<Vec<String>> = chart
                .points
                .iter()
                .map(|p| {
                    vec![
                        p.label.clone(),
                        p.value.map(|v| v.to_string()).unwrap_or_default(),
                    ]
                })
                .collect();
            let unit = if chart.unit.is_empty() {
                "value"
            } else {
                chart.unit.as_str()
            };
            (
                "text/csv; charset=utf-8",
                slipway_core::complaints::write_csv(&["label", unit], &rows),
            )
        }
        "json" => {
            let body = serde_json::json!({
                "dashboard": id,
                "from": opened.period.from().to_string(),
                "to": opened.period.to().to_string(),
                "chart": chart,
            });
            ("application/json", format!("{body:#}\n"))
        }
        other => {
            return Err(ServiceError::invalid(
                format!("format {other:?} is neither csv nor json"),
                "ask for format=csv or format=json",
            ))
            .or_page(&user)
        }
    };
    let disposition = format!(
        "attachment; filename=\"dashboard-{id}-{widget}.{}\"",
        q.format
    );
    Ok((
        [
            (header::CONTENT_TYPE, kind.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    signed: SignedForm<Vec<(String, String)>>,
) -> PageResult {
    let SignedForm { user, .. } = signed;
    saved_dashboards::delete(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    Ok(see_other("/dashboards"))
}
