//! Outbound webhooks (admins): the subscriptions and the delivery log, newest first.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use slipway_core::notify::DeliveryState;
use slipway_core::page::PageSize;

use super::page::{
    query_string, render, short_timestamp, Frame, OrProblemPage, PageResult, Section,
};
use super::user::ConsoleUser;
use crate::services;
use crate::services::paging::PageRequest;
use crate::AppState;

struct WebhookRow {
    name: String,
    url: String,
    events: String,
    project: String,
    created: String,
    /// The configuration change request a held webhook waits for.
    held_by: Option<i64>,
}

struct DeliveryRow {
    id: i64,
    webhook: String,
    event: String,
    audit_seq: i64,
    state: DeliveryState,
    /// The tag's extra class: ` good` once delivered, ` bad` once failed.
    tone: &'static str,
    attempts: i64,
    last: String,
    next_retry: String,
    created: String,
}

#[derive(Template)]
#[template(path = "webhooks.html")]
struct WebhooksPage {
    frame: Frame,
    webhooks: Vec<WebhookRow>,
    deliveries: Vec<DeliveryRow>,
    /// The webhook the log is narrowed to, if any.
    shown: String,
    /// The link to the next, older page of the log, keeping the webhook.
    older: Option<String>,
    /// The link back to the newest deliveries, when this is not the first page.
    newest: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct LogQuery {
    #[serde(default)]
    webhook: String,
    /// The cursor of this page of the log (`next` of the page before); empty on the first.
    #[serde(default)]
    after: String,
}

/// Deliveries a page of the console holds.
const DELIVERIES_PER_PAGE: u32 = 100;

pub(super) async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<LogQuery>,
) -> PageResult {
    let webhooks = services::webhooks::list(&state, &user.actor)
        .await
        .or_page(&user)?;
    let request = PageRequest {
        size: PageSize::at_most(DELIVERIES_PER_PAGE),
        after: Some(q.after.clone()).filter(|a| !a.is_empty()),
    };
    let deliveries =
        services::webhooks::deliveries(&state, &user.actor, Some(q.webhook.as_str()), &request)
            .await
            .or_page(&user)?;
    let link = |after: &str| {
        format!(
            "/webhooks{}",
            query_string(&[("webhook", &q.webhook), ("after", after)])
        )
    };
    let older = deliveries.next.as_deref().map(link);
    let newest = (!q.after.is_empty()).then(|| link(""));
    let page = WebhooksPage {
        frame: Frame::new("Webhooks", Some(&user), Section::Webhooks),
        webhooks: webhooks
            .into_iter()
            .map(|w| WebhookRow {
                name: w.name,
                url: w.url,
                events: w.events.join(", "),
                project: w.project.unwrap_or_else(|| "all".into()),
                created: short_timestamp(w.created_at),
                held_by: w.held_by,
            })
            .collect(),
        deliveries: deliveries
            .items
            .into_iter()
            .map(|d| DeliveryRow {
                last: match (d.last_status, d.last_error) {
                    (_, Some(error)) => error,
                    (Some(status), None) => format!("HTTP {status}"),
                    (None, None) => "—".into(),
                },
                next_retry: match (d.state, d.next_attempt_at) {
                    (DeliveryState::Pending, Some(at)) => short_timestamp(at),
                    _ => "—".into(),
                },
                tone: match d.state {
                    DeliveryState::Pending => "",
                    DeliveryState::Delivered => " good",
                    DeliveryState::Failed => " bad",
                },
                created: short_timestamp(d.created_at),
                id: d.id,
                webhook: d.webhook,
                event: d.event,
                audit_seq: d.audit_seq,
                state: d.state,
                attempts: d.attempts,
            })
            .collect(),
        shown: q.webhook,
        older,
        newest,
    };
    Ok(render(StatusCode::OK, &page))
}
