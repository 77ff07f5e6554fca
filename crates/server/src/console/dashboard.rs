//! The dashboard: what each environment really holds of each project (after rollbacks, as parity
//! computes it), how long it has, what is on its way, and what waits to enter, as a picture
//! (`charts::status_grid`) and as a table with the same facts in words.
//!
//! It reads `services::dashboard` and decides nothing.

use std::fmt::Write as _;

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
struct CellView<'a> {
    environment: &'a str,
    /// The release held: (its deployment, its version, since when).
    held: Option<(i64, &'a str, When)>,
    /// The newest deployment when it is not the one held: (id, what it was, its state).
    latest: Option<(i64, String, Badge)>,
    /// A promotion waiting to enter: (id, what it waits for, in words).
    waiting: Option<(i64, String)>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage<'a> {
    frame: Frame,
    environments: Vec<String>,
    rows: Vec<(&'a str, Vec<CellView<'a>>)>,
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

/// What the table and the picture both say of a cell, worded once (2 000 cells at issue 16's
/// size: each time and sentence made once, not once per place it shows).
struct Words {
    held_since: Option<When>,
    /// The latest deployment: what it was, and how long ago it ended or started.
    latest: Option<(String, String)>,
    waiting: Option<String>,
}

impl Words {
    fn of(c: &Cell, now: jiff::Timestamp) -> Words {
        Words {
            held_since: c.held.as_ref().map(|d| when(since(d), now)),
            latest: c
                .latest
                .as_ref()
                .map(|d| (what(d), when(since(d), now).relative)),
            waiting: c.waiting.as_ref().map(waiting_words),
        }
    }
}

fn cell_view<'a>(environment: &'a str, c: &'a Cell, words: Words) -> CellView<'a> {
    CellView {
        environment,
        held: c
            .held
            .as_ref()
            .zip(words.held_since)
            .map(|(d, since)| (d.id, d.release_version.as_str(), since)),
        latest: c
            .latest
            .as_ref()
            .zip(words.latest)
            .map(|(d, (what, _))| (d.id, what, deployment_badge(d.state))),
        waiting: c
            .waiting
            .as_ref()
            .zip(words.waiting)
            .map(|(w, line)| (w.promotion.id, line)),
    }
}

/// The picture's cell: the release held with the tone of what happens there now.
fn grid_cell(project: &str, environment: &str, c: &Cell, words: &Words) -> GridCell {
    let label = c
        .held
        .as_ref()
        .map_or_else(|| "nothing".to_string(), |d| d.release_version.clone());
    let held_ago = words.held_since.as_ref().map(|w| w.relative.as_str());
    let mut tooltip = match (&c.held, held_ago) {
        (Some(d), Some(ago)) => format!(
            "{environment} holds {project} {} since {ago}",
            d.release_version
        ),
        _ => format!("{environment} holds no release of {project}"),
    };
    let latest = c
        .latest
        .as_ref()
        .zip(words.latest.as_ref())
        .map(|(d, (what, ago))| {
            let tone = match d.state {
                DeploymentState::Pending
                | DeploymentState::Running
                | DeploymentState::RollingBack => Tone::Info,
                DeploymentState::AwaitingDecision | DeploymentState::WaitingForIntervention => {
                    Tone::Warn
                }
                DeploymentState::Failed | DeploymentState::RolledBack => Tone::Bad,
                DeploymentState::Succeeded | DeploymentState::Cancelled => Tone::Idle,
            };
            let words = format!("{what} {}", deployment_badge(d.state).label);
            (tone, words, d.id, ago.as_str())
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
            held_ago.unwrap_or_default().to_string(),
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
    if let Some((_, words, _, ago)) = &latest {
        let _ = write!(tooltip, "; latest: {words} {ago}");
    }
    if let Some(line) = &words.waiting {
        let _ = write!(tooltip, "; {line}");
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
    // One pass over the cells makes both the picture's and the table's.
    let mut grid_rows = Vec::with_capacity(d.projects.len());
    let mut rows = Vec::with_capacity(d.projects.len());
    for (project, cells) in &d.projects {
        let mut grid_cells = Vec::with_capacity(cells.len());
        let mut views = Vec::with_capacity(cells.len());
        for (c, env) in cells.iter().zip(&d.environments) {
            let env = env.name.as_str();
            let words = Words::of(c, now);
            grid_cells.push(Some(grid_cell(project, env, c, &words)));
            views.push(cell_view(env, c, words));
        }
        grid_rows.push(GridRow {
            label: project.clone(),
            href: Some(format!("/projects/{project}")),
            cells: grid_cells,
        });
        rows.push((project.as_str(), views));
    }
    let picture = charts::status_grid(&StatusGrid {
        caption: Caption {
            title: "What each environment holds",
            description: "One row per project, one column per environment in chain order; each cell names the release the environment holds after rollbacks, marked ✓ when settled, ▶ while a deployment runs, ! when something waits, ✕ when the latest deployment failed.",
        },
        columns: environments.clone(),
        rows: grid_rows,
    });
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
