//! The Batches page: the inventory with each batch's supervision status, server, schedule,
//! owner and customers, last run and next expected run. It reads `services::batches` only.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

use slipway_core::supervision::logs::counts::Totals;

use super::charts::{bar_chart, Bar, Caption, Tone};
use super::page::{render, short_timestamp, Frame, OrProblemPage, PageResult, Section};
use super::user::ConsoleUser;
use crate::services;
use crate::services::batches::BatchQuery;
use crate::AppState;

struct BatchRow {
    name: String,
    project: String,
    environment: String,
    server: String,
    category: &'static str,
    state: &'static str,
    status: &'static str,
    /// `good`, `warn` or `bad`, for the status tag.
    tone: &'static str,
    schedule: String,
    owner: String,
    customers: String,
    last_run: String,
    next: String,
}

#[derive(Template)]
#[template(path = "batches.html")]
struct BatchesPage {
    frame: Frame,
    batches: Vec<BatchRow>,
    /// Error lines of the batches' logs: per batch and per customer, 24 hours and 7 days
    /// (server-rendered SVG, escaped by `charts`).
    error_charts: Vec<String>,
}

/// The four bar charts of the log error counts; none when no line matched in 7 days.
fn error_charts(day: &Totals, week: &Totals) -> Vec<String> {
    if week.by_batch.is_empty() {
        return Vec::new();
    }
    let bars = |rows: &[(String, i64)]| -> Vec<Bar> {
        rows.iter()
            .take(20)
            .map(|(label, n)| Bar {
                label: label.clone(),
                // Counts stay far below 2^53: exact as a float.
                value: *n as f64,
                tone: Tone::Bad,
            })
            .collect()
    };
    [
        ("Error lines per batch, last 24 hours", &day.by_batch),
        ("Error lines per customer, last 24 hours", &day.by_customer),
        ("Error lines per batch, last 7 days", &week.by_batch),
        ("Error lines per customer, last 7 days", &week.by_customer),
    ]
    .into_iter()
    .map(|(title, rows)| {
        bar_chart(
            &Caption {
                title,
                description: "Lines of the batches' logs that matched a log-error rule, counted by the agents (at most 20 bars, largest first).",
            },
            "lines",
            &bars(rows),
        )
    })
    .collect()
}

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let batches = services::batches::list(&state, &user.actor, BatchQuery::default())
        .await
        .or_page(&user)?;
    let (day, week) = services::batches::logs::error_counts(&state, &user.actor)
        .await
        .or_page(&user)?;
    let batches = batches
        .into_iter()
        .map(|b| {
            let d = b.definition;
            let status = b.status.map_or("not judged", |s| s.as_str());
            BatchRow {
                tone: match status {
                    "up" | "running" => "good",
                    "late" | "paused" => "warn",
                    "down" => "bad",
                    _ => "",
                },
                status,
                category: d.category.as_str(),
                state: d.state.as_str(),
                schedule: match (d.schedule, d.time_zone) {
                    (Some(s), Some(z)) => format!("{s} ({z})"),
                    (Some(s), None) => s,
                    _ => "—".into(),
                },
                owner: d.owner.unwrap_or_else(|| "—".into()),
                customers: d.customers.join(", "),
                last_run: match (b.last_run_at, b.last_exit_code) {
                    (Some(at), Some(code)) => format!("{} (exit {code})", short_timestamp(at)),
                    (Some(at), None) => format!("{} (running)", short_timestamp(at)),
                    _ => "never".into(),
                },
                next: b
                    .next_expected_at
                    .map_or_else(|| "—".into(), short_timestamp),
                name: b.name,
                project: b.project,
                environment: b.environment,
                server: b.target,
            }
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &BatchesPage {
            frame: Frame::new("Batches", Some(&user), Section::Batches),
            batches,
            error_charts: error_charts(&day, &week),
        },
    ))
}
