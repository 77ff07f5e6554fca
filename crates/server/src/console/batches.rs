//! The Batches page: the inventory with each batch's supervision status, server, schedule,
//! owner and customers, last run and next expected run. It reads `services::batches` only.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;

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
}

pub(super) async fn list(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    let batches = services::batches::list(&state, &user.actor, BatchQuery::default())
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
        },
    ))
}
