//! The Alerts page (Supervise): open, acknowledged and resolved alerts with their context
//! (server, batch, customers, the line), filters, and Acknowledge / Resolve buttons for those
//! who may; silenced alerts are marked. One alert's page adds the messages sent to its
//! channels. It decides nothing: `services::alerts` does, on every post.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::access::{allows, Operation};
use slipway_core::alerts::AlertStatus;
use slipway_core::page::PageSize;
use slipway_store::{StoredAlert, StoredAlertDelivery};

use super::notice::{see_other_done, Done};
use super::page::{
    query_string, render, short_time, short_timestamp, Frame, OrProblemPage, PageResult, Section,
};
use super::session::SignedForm;
use super::user::ConsoleUser;
use crate::services;
use crate::services::alerts::AlertQuery;
use crate::services::paging::PageRequest;
use crate::AppState;

struct Row {
    id: i64,
    summary: String,
    status: &'static str,
    /// `bad` while fired, `warn` once acknowledged, `good` once resolved.
    tone: &'static str,
    silenced: bool,
    severity: &'static str,
    source: &'static str,
    environment: String,
    server: String,
    batch: String,
    customers: String,
    line: String,
    count: i64,
    last_seen: String,
    handled: String,
    may_acknowledge: bool,
    may_resolve: bool,
}

fn or_dash(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into())
}

fn row(a: StoredAlert, user: &ConsoleUser) -> Row {
    let handles = allows(user.actor.role, Operation::HandleAlert);
    let c = a.context;
    Row {
        status: a.status.as_str(),
        tone: match a.status {
            AlertStatus::Fired => "bad",
            AlertStatus::Acknowledged => "warn",
            AlertStatus::Resolved => "good",
        },
        may_acknowledge: handles && a.status == AlertStatus::Fired,
        may_resolve: handles && a.status != AlertStatus::Resolved,
        handled: match (&a.acknowledged_by, &a.resolved_at) {
            (_, Some(at)) => format!(
                "resolved {}{}",
                short_timestamp(*at),
                a.resolved_by
                    .as_ref()
                    .map(|b| format!(" by {b}"))
                    .unwrap_or_default()
            ),
            (Some(by), None) => format!("acknowledged by {by}"),
            _ => String::new(),
        },
        id: a.id,
        summary: a.summary,
        silenced: a.silenced,
        severity: a.severity.as_str(),
        source: a.source.as_str(),
        environment: or_dash(c.environment),
        server: or_dash(c.target),
        batch: or_dash(c.batch.or(c.probe)),
        customers: or_dash(Some(c.customers.join(", "))),
        line: c.line.unwrap_or_default(),
        count: a.count,
        last_seen: short_timestamp(a.last_seen),
    }
}

/// One choice of a filter's list; the empty value is "any".
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices(values: &[&'static str], chosen: &str) -> Vec<Choice> {
    std::iter::once("")
        .chain(values.iter().copied())
        .map(|value| Choice {
            value,
            label: if value.is_empty() { "any" } else { value },
            selected: value == chosen,
        })
        .collect()
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    frame: Frame,
    alerts: Vec<Row>,
    statuses: Vec<Choice>,
    sources: Vec<Choice>,
    environment: String,
    /// Whether a filter narrows the list (the empty state then says so).
    filtered: bool,
    /// The link to the next, older page, keeping the filters.
    older: Option<String>,
    /// The link back to the newest alerts, when this is not the first page.
    newest: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    env: String,
    /// The cursor of this page (`next` of the page before); empty on the first.
    #[serde(default)]
    after: String,
}

/// Alerts a page of the console holds.
const ALERTS_PER_PAGE: u32 = 200;

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(filters): Query<Filters>,
) -> PageResult {
    let query = AlertQuery {
        status: Some(filters.status.clone()),
        source: Some(filters.source.clone()),
        environment: Some(filters.env.clone()),
        project: None,
    };
    let request = PageRequest {
        size: PageSize::at_most(ALERTS_PER_PAGE),
        after: Some(filters.after.clone()).filter(|a| !a.is_empty()),
    };
    let alerts = services::alerts::list(&state, &user.actor, &query, &request)
        .await
        .or_page(&user)?;
    let link = |after: &str| {
        format!(
            "/alerts{}",
            query_string(&[
                ("status", &filters.status),
                ("source", &filters.source),
                ("env", &filters.env),
                ("after", after),
            ])
        )
    };
    let older = alerts.next.as_deref().map(link);
    let newest = (!filters.after.is_empty()).then(|| link(""));
    let page = AlertsPage {
        frame: Frame::new("Alerts", Some(&user), Section::Alerts),
        alerts: alerts.items.into_iter().map(|a| row(a, &user)).collect(),
        older,
        newest,
        filtered: !(filters.status.is_empty()
            && filters.source.is_empty()
            && filters.env.is_empty()),
        statuses: choices(&["fired", "acknowledged", "resolved"], &filters.status),
        sources: choices(&["batch", "log", "probe", "slo"], &filters.source),
        environment: filters.env,
    };
    Ok(render(StatusCode::OK, &page))
}

struct DeliveryRow {
    channel: String,
    notice: &'static str,
    state: &'static str,
    attempts: i64,
    error: String,
    created: String,
}

#[derive(Template)]
#[template(path = "alert_detail.html")]
struct AlertPage {
    frame: Frame,
    a: Row,
    key: String,
    project: String,
    team: String,
    log_path: String,
    first_seen: String,
    notified: String,
    deliveries: Vec<DeliveryRow>,
}

fn delivery(d: StoredAlertDelivery) -> DeliveryRow {
    DeliveryRow {
        channel: d.channel,
        notice: d.notice.as_str(),
        state: d.state.as_str(),
        attempts: d.attempts,
        error: d.last_error.unwrap_or_default(),
        created: short_time(&d.created_at),
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<i64>,
) -> PageResult {
    let (alert, deliveries) = services::alerts::show(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    let page = AlertPage {
        frame: Frame::new(format!("Alert {id}"), Some(&user), Section::Alerts),
        key: alert.key.clone(),
        project: or_dash(alert.context.project.clone()),
        team: or_dash(alert.context.team.clone()),
        log_path: or_dash(alert.context.log_path.clone()),
        first_seen: short_timestamp(alert.first_seen),
        notified: alert
            .last_notified
            .map_or_else(|| "never".into(), short_timestamp),
        a: row(alert, &user),
        deliveries: deliveries.into_iter().map(delivery).collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct NoFields {}

pub(super) async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    signed: SignedForm<NoFields>,
) -> PageResult {
    let SignedForm { user, .. } = signed;
    services::alerts::acknowledge(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    Ok(see_other_done(&state, "/alerts", Done::AlertAcknowledged))
}

pub(super) async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    signed: SignedForm<NoFields>,
) -> PageResult {
    let SignedForm { user, .. } = signed;
    services::alerts::resolve(&state, &user.actor, id)
        .await
        .or_page(&user)?;
    Ok(see_other_done(&state, "/alerts", Done::AlertResolved))
}
