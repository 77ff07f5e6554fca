//! The Batches page: the inventory with each batch's supervision status, server, schedule,
//! owner and customers, last run and next expected run; and a batch's page, with its run
//! timelines over 24 hours and 7 days, how many runs did not start in the last 24 hours, and
//! its runs on every server a page at a time, newest first (those its agent did not start with
//! why). It reads `services::batches` only.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use slipway_core::supervision::timeline::{fires, runs_in, skipped_while_running, Fire};
use slipway_core::supervision::RunOutcome;

use slipway_core::supervision::logs::counts::Totals;

use super::charts::{bar_chart, run_timeline, Bar, Caption, FireMark, RunBar, RunTimeline, Tone};
use super::page::{
    percent_encode, query_string, render, short_timestamp, Frame, OrProblemPage, PageResult,
    Section,
};
use super::user::ConsoleUser;
use crate::services;
use crate::services::batches::timeline::BatchTimeline;
use crate::services::batches::BatchQuery;
use crate::services::paging::PageRequest;
use crate::AppState;
use serde::Deserialize;
use slipway_core::page::PageSize;
use slipway_store::{NotStartedCount, StoredBatch, StoredBatchRun};

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
    /// "in maintenance until …" or "held: needs X which is down"; empty when nothing holds it.
    hold: String,
    /// Why its agent cannot read its log directory; empty when it reads.
    warning: String,
    /// Runs its agent did not start in the last 24 hours, and the latest's reason; empty when
    /// none (a refused run does not change the status, so the list says it apart).
    not_started: String,
}

/// A job an agent found that nobody adopted.
struct UnmanagedRow {
    environment: String,
    server: String,
    key: String,
    name: String,
    schedule: String,
    command: String,
}

#[derive(Template)]
#[template(path = "batches.html")]
struct BatchesPage {
    frame: Frame,
    batches: Vec<BatchRow>,
    unmanaged: Vec<UnmanagedRow>,
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
    let refused = services::batches::not_started_last_day(&state)
        .await
        .or_page(&user)?;
    let unmanaged = services::batches::discovered::unmanaged(&state, &user.actor, None)
        .await
        .or_page(&user)?
        .into_iter()
        .map(|u| UnmanagedRow {
            environment: u.environment.unwrap_or_else(|| "—".into()),
            server: u.job.target,
            key: u.job.key,
            name: u.job.name,
            schedule: match (u.job.schedule, u.job.time_zone) {
                (Some(s), Some(z)) => format!("{s} ({z})"),
                (Some(s), None) => s,
                _ => "—".into(),
            },
            command: u.job.command,
        })
        .collect();
    let batches = batches
        .into_iter()
        .map(|b| {
            let d = b.definition;
            let status = b.status.map_or("not judged", |s| s.as_str());
            BatchRow {
                tone: tone_of(status),
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
                hold: b.hold.map(|h| h.to_string()).unwrap_or_default(),
                warning: b.log_problem.unwrap_or_default(),
                not_started: not_started_line(refused.get(&b.id)),
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
            unmanaged,
            error_charts: error_charts(&day, &week),
        },
    ))
}

/// One server's batch on the batch's page.
struct ServerSection {
    server: String,
    project: String,
    status: &'static str,
    tone: &'static str,
    hold: String,
    /// Why its agent cannot read its log directory; empty when it reads.
    warning: String,
    /// Runs its agent did not start in the last 24 hours, and the latest's reason; empty when
    /// none.
    not_started: String,
    schedule: String,
    /// The 24-hour and 7-day timelines (server-rendered SVG, escaped by `charts`).
    timelines: Vec<String>,
}

struct RunRow {
    server: String,
    started: String,
    ended: String,
    outcome: String,
    by: String,
}

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage {
    frame: Frame,
    name: String,
    environment: String,
    servers: Vec<ServerSection>,
    /// One page of the batch's runs on every server of the environment, newest first.
    runs: Vec<RunRow>,
    /// The link to the next, older page of runs.
    older: Option<String>,
    /// The link back to the newest runs, when this is not the first page.
    newest: Option<String>,
}

fn secs(from: Timestamp, t: Timestamp) -> f64 {
    t.duration_since(from).as_secs_f64()
}

/// The run timeline of one batch over the `window` before now.
fn timeline(t: &BatchTimeline, title: &str, window: SignedDuration, daily: bool) -> String {
    let now = t.now;
    let from = now.checked_sub(window).unwrap_or(now);
    let runs = runs_in(&t.core_runs, from, now, now)
        .into_iter()
        .map(|(start, end, outcome)| {
            let (tone, word) = match outcome {
                RunOutcome::Succeeded => (Tone::Good, "succeeded".to_string()),
                RunOutcome::Failed { exit_code } => {
                    (Tone::Bad, format!("failed with exit code {exit_code}"))
                }
                RunOutcome::Running => (Tone::Info, "running".to_string()),
            };
            RunBar {
                start: secs(from, start),
                end: secs(from, end),
                tone,
                tooltip: format!("started {start}, {word}"),
            }
        })
        .collect();
    let marks = t
        .schedule
        .as_ref()
        // No run was expected before the batch was installed.
        .map(|s| {
            fires(
                s,
                t.grace,
                &t.core_runs,
                from.max(t.batch.installed_at),
                now,
                now,
            )
        })
        .map(|mut marks| {
            if !t.overlap {
                skipped_while_running(&mut marks, &t.core_runs, now);
            }
            marks
        })
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(at, fire)| {
            let (tone, tooltip) = match fire {
                Fire::Late { started } => (
                    Tone::Warn,
                    format!("expected {at}, started late at {started}"),
                ),
                Fire::Missed => (Tone::Bad, format!("expected {at}, missed")),
                // A skipped fire is in the runs below, as a run not started.
                Fire::OnTime | Fire::Pending | Fire::Skipped => return None,
            };
            Some(FireMark {
                at: secs(from, at),
                tone,
                tooltip,
            })
        })
        .collect();
    let span = window.as_secs_f64();
    let (step, format) = if daily {
        (86_400.0, "%a %d")
    } else {
        (6.0 * 3600.0, "%H:%M")
    };
    let ticks = (0..=((span / step) as i64))
        .map(|i| {
            let at = i as f64 * step;
            let moment = from
                .checked_add(SignedDuration::from_secs_f64(at))
                .unwrap_or(from);
            (at, moment.strftime(format).to_string())
        })
        .collect();
    run_timeline(&RunTimeline {
        caption: Caption {
            title,
            description: "Each run as a bar from its start to its end (✓ succeeded, ✕ failed, ▶ running); fire times that started late (!) or were missed (✕) are marked above; times in UTC.",
        },
        span,
        ticks,
        runs,
        fires: marks,
    })
}

fn section(t: BatchTimeline, refused: &BTreeMap<i64, NotStartedCount>) -> ServerSection {
    let day = timeline(
        &t,
        &format!(
            "Runs of {} on {}, last 24 hours",
            t.batch.name, t.batch.target
        ),
        SignedDuration::from_hours(24),
        false,
    );
    let week = timeline(
        &t,
        &format!(
            "Runs of {} on {}, last 7 days",
            t.batch.name, t.batch.target
        ),
        SignedDuration::from_hours(7 * 24),
        true,
    );
    let status = t.batch.status.map_or("not judged", |s| s.as_str());
    let d = &t.batch.definition;
    ServerSection {
        tone: tone_of(status),
        status,
        hold: t
            .batch
            .hold
            .as_ref()
            .map(|h| h.to_string())
            .unwrap_or_default(),
        warning: t.batch.log_problem.clone().unwrap_or_default(),
        not_started: not_started_line(refused.get(&t.batch.id)),
        schedule: match (&d.schedule, &d.time_zone) {
            (Some(s), Some(z)) => format!("{s} ({z})"),
            (Some(s), None) => s.clone(),
            _ => "—".into(),
        },
        timelines: vec![day, week],
        server: t.batch.target,
        project: t.batch.project,
    }
}

/// "2 runs not started in the last 24 hours; the latest at 10:01: its previous run still goes
/// (overlap: false)", or empty.
fn not_started_line(count: Option<&NotStartedCount>) -> String {
    let Some(n) = count else {
        return String::new();
    };
    let runs = if n.count == 1 { "run" } else { "runs" };
    format!(
        "{} {runs} not started in the last 24 hours; the latest at {}: {}",
        n.count,
        short_timestamp(n.last_at),
        n.last_reason
    )
}

/// A status's tag class: `good`, `warn` or `bad`.
fn tone_of(status: &str) -> &'static str {
    match status {
        "up" | "running" => "good",
        "late" | "paused" => "warn",
        "down" => "bad",
        _ => "",
    }
}

fn run_row(batch: &StoredBatch, r: &StoredBatchRun) -> RunRow {
    RunRow {
        server: batch.target.clone(),
        started: short_timestamp(r.started_at),
        ended: r.ended_at.map_or_else(|| "—".into(), short_timestamp),
        outcome: match (&r.not_started, r.exit_code) {
            (Some(why), _) => format!("not started: {why}"),
            (None, None) => "running".into(),
            (None, Some(0)) => "succeeded".into(),
            (None, Some(code)) => format!("failed (exit {code})"),
        },
        by: r.reported_by.clone(),
    }
}

/// The page of runs a batch's page shows: the cursor of this page (`next` of the page before);
/// empty on the first.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RunsQuery {
    #[serde(default)]
    after: String,
}

/// Runs a batch's page holds.
const RUNS_PER_PAGE: u32 = 50;

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path((environment, name)): Path<(String, String)>,
    Query(q): Query<RunsQuery>,
) -> PageResult {
    let env = services::parse_name("environment", &environment).or_page(&user)?;
    let batch = services::parse_name("batch", &name).or_page(&user)?;
    let timelines =
        services::batches::timeline::timelines(&state, &user.actor, batch.clone(), env.clone())
            .await
            .or_page(&user)?;
    let refused = services::batches::not_started_last_day(&state)
        .await
        .or_page(&user)?;
    let request = PageRequest {
        size: PageSize::at_most(RUNS_PER_PAGE),
        after: Some(q.after.clone()).filter(|a| !a.is_empty()),
    };
    let runs = services::batches::runs(&state, &user.actor, batch, Some(env), &request)
        .await
        .or_page(&user)?;
    let link = |after: &str| {
        format!(
            "/batches/{}/{}{}#runs",
            percent_encode(&environment),
            percent_encode(&name),
            query_string(&[("after", after)])
        )
    };
    let older = runs.next.as_deref().map(link);
    let newest = (!q.after.is_empty()).then(|| link(""));
    Ok(render(
        StatusCode::OK,
        &BatchPage {
            frame: Frame::new(&name, Some(&user), Section::Batches),
            servers: timelines
                .into_iter()
                .map(|t| section(t, &refused))
                .collect(),
            runs: runs.items.iter().map(|(b, r)| run_row(b, r)).collect(),
            older,
            newest,
            name,
            environment,
        },
    ))
}
