//! The dashboard: what each environment really holds of each project (after rollbacks, as parity
//! computes it), how long it has, what is on its way, and what waits to enter, as a picture
//! (`charts::status_grid`) and as a table with the same facts in words.
//!
//! It reads `services::dashboard` and decides nothing.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use slipway_core::deploy::state::{DeploymentKind, DeploymentState};
use slipway_store::DeploymentHeadline;

use super::charts::{self, Caption, GridCell, GridRow, StatusGrid, Tone};
use super::criteria::waiting_sentence;
use super::deployments::{deployment_badge, Badge};
use super::page::{render, see_other, when, Frame, OrProblemPage, PageResult, Section, When};
use super::user::ConsoleUser;
use crate::services;
use crate::services::dashboard::{Cell, Waiting};

/// One project in one environment, as the table shows it.
struct CellView {
    environment: String,
    /// The release held: (its deployment, its version, since when).
    held: Option<(i64, String, When)>,
    /// The newest deployment when it is not the one held: (id, what it was, its state).
    latest: Option<(i64, String, Badge)>,
    /// A promotion waiting to enter: (id, what it waits for, in words).
    waiting: Option<(i64, String)>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    frame: Frame,
    environments: Vec<String>,
    rows: Vec<(String, Vec<CellView>)>,
    /// The same facts as a picture (an SVG string built by `charts`, which escapes every text).
    picture: String,
}

fn waiting_words(w: &Waiting) -> String {
    waiting_sentence(&w.promotion.release_version, &w.waiting_for)
}

/// "1.1.0" or "rollback of 1.0.0": what a deployment was.
fn what(d: &DeploymentHeadline) -> String {
    match d.kind {
        DeploymentKind::Rollback => format!("rollback of {}", d.release_version),
        _ => d.release_version.clone(),
    }
}

fn since(d: &DeploymentHeadline) -> jiff::Timestamp {
    d.finished_at.unwrap_or(d.created_at)
}

fn cell_view(environment: &str, c: &Cell, now: jiff::Timestamp) -> CellView {
    CellView {
        environment: environment.to_string(),
        held: c
            .held
            .as_ref()
            .map(|d| (d.id, d.release_version.clone(), when(since(d), now))),
        latest: c
            .latest
            .as_ref()
            .map(|d| (d.id, what(d), deployment_badge(d.state))),
        waiting: c
            .waiting
            .as_ref()
            .map(|w| (w.promotion.id, waiting_words(w))),
    }
}

/// The picture's cell: the release held with the tone of what happens there now.
fn grid_cell(project: &str, environment: &str, c: &Cell, now: jiff::Timestamp) -> GridCell {
    let label = c
        .held
        .as_ref()
        .map_or_else(|| "nothing".to_string(), |d| d.release_version.clone());
    let held_words = match &c.held {
        Some(d) => format!(
            "{environment} holds {project} {} since {}",
            d.release_version,
            when(since(d), now).relative
        ),
        None => format!("{environment} holds no release of {project}"),
    };
    let latest = c.latest.as_ref().map(|d| {
        let tone = match d.state {
            DeploymentState::Pending | DeploymentState::Running | DeploymentState::RollingBack => {
                Tone::Info
            }
            DeploymentState::AwaitingDecision | DeploymentState::WaitingForIntervention => {
                Tone::Warn
            }
            DeploymentState::Failed | DeploymentState::RolledBack => Tone::Bad,
            DeploymentState::Succeeded | DeploymentState::Cancelled => Tone::Idle,
        };
        let words = format!("{} {}", what(d), deployment_badge(d.state).label);
        (tone, words, d.id, when(since(d), now).relative)
    });
    let (tone, detail, href) = match (&latest, &c.waiting, &c.held) {
        // Something unfinished or failed matters more than what is held.
        (Some((tone, words, id, _)), _, _) if *tone != Tone::Idle => {
            (*tone, words.clone(), format!("/deployments/{id}"))
        }
        (_, Some(w), _) => (
            Tone::Warn,
            format!("{} waiting", w.promotion.release_version),
            format!("/promotions/{}", w.promotion.id),
        ),
        (_, None, Some(d)) => (
            Tone::Good,
            when(since(d), now).relative,
            format!("/deployments/{}", d.id),
        ),
        // Only a finished deployment that is not held is left (a rollback, as a rule): say
        // what it took out, and when.
        (Some((_, words, id, ago)), None, None) => (
            Tone::Idle,
            match c.latest.as_ref() {
                Some(d) if d.kind == DeploymentKind::Rollback => {
                    format!("{} rolled back {ago}", d.release_version)
                }
                _ => format!("{words} {ago}"),
            },
            format!("/deployments/{id}"),
        ),
        (None, None, None) => (Tone::Idle, "never deployed".to_string(), String::new()),
    };
    let mut tooltip = held_words;
    if let Some((_, words, _, ago)) = &latest {
        tooltip.push_str(&format!("; latest: {words} {ago}"));
    }
    if let Some(w) = &c.waiting {
        tooltip.push_str(&format!("; {}", waiting_words(w)));
    }
    GridCell {
        tone,
        label,
        detail,
        tooltip,
        href: Some(href).filter(|h| !h.is_empty()),
    }
}

/// `/`: the dashboard for whoever is signed in, else the sign-in page.
pub(super) async fn home(
    State(state): State<crate::AppState>,
    user: Option<ConsoleUser>,
) -> PageResult {
    match user {
        Some(user) => dashboard(state, user).await,
        None => Ok(see_other("/login")),
    }
}

/// Projects × environments, what each holds and what waits to enter.
async fn dashboard(state: crate::AppState, user: ConsoleUser) -> PageResult {
    let d = services::dashboard::dashboard(&state, &user.actor)
        .await
        .or_page(&user)?;
    let now = jiff::Timestamp::now();
    let environments: Vec<String> = d.environments.iter().map(|e| e.name.to_string()).collect();
    let picture = charts::status_grid(&StatusGrid {
        caption: Caption {
            title: "What each environment holds",
            description: "One row per project, one column per environment in chain order; each cell names the release the environment holds after rollbacks, marked ✓ when settled, ▶ while a deployment runs, ! when something waits, ✕ when the latest deployment failed.",
        },
        columns: environments.clone(),
        rows: d
            .projects
            .iter()
            .map(|(project, cells)| GridRow {
                label: project.clone(),
                href: Some(format!("/projects/{project}")),
                cells: cells
                    .iter()
                    .zip(&environments)
                    .map(|(c, env)| Some(grid_cell(project, env, c, now)))
                    .collect(),
            })
            .collect(),
    });
    let rows = d
        .projects
        .iter()
        .map(|(p, cells)| {
            (
                p.clone(),
                cells
                    .iter()
                    .zip(&environments)
                    .map(|(c, env)| cell_view(env, c, now))
                    .collect(),
            )
        })
        .collect();
    Ok(render(
        StatusCode::OK,
        &DashboardPage {
            frame: Frame::new("Dashboard", Some(&user), Section::Dashboard),
            environments,
            rows,
            picture,
        },
    ))
}
